r"""Mode ``"events"`` of :func:`~flowstats.unweighting.job.unweight`: whole events.

``flowstats unweight IN -w WEIGHT -n N -o OUT.root`` without ``--features`` learns the complete
final state of every event (:class:`~.event_model.WholeEventModel`) and writes

* ROOT: the branches ``flowstats convert`` writes (the final-state particles ``part_*``, the
  derived observables ``m_ll, pT_ll, ...``, the whole Les Houches record ``nup, lhe_*``, the
  event's ``scale``, ``aqed``, ``aqcd``, ``process_id`` and ``attr_*``), recomputed from the
  generated four-vectors, every event with weight ``sigma / N`` (``sigma``: the sum of the input
  weights), and the input's LHE header and ``<init>`` block next to the tree;
* with ``lhe``: a Les Houches file with the input's header and ``<init>`` block and every
  event's particle records (status, mothers and colour lines from its template). Its weights
  keep the input file's normalisation convention: where the input's mean weight is its
  cross-section (MadGraph's ``event_norm = average``, the usual case with IDWTUP = +-3, +-4),
  every event gets the weight ``sigma / N_input`` (the cross-section, so that a shower program
  reads the same cross-section); where the sum of the weights is (``event_norm = sum``),
  ``sigma / N``.

Its input is an LHE file or a ROOT file written by ``flowstats convert`` (which keeps the whole
record). Events with a final-state particle of energy <= 0 (a few in MC@NLO samples) cannot be
parametrised: they are left out of the training and counted in the notes; the cross-section
stays the sum of all weights.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from ..exceptions import BadInputError, BranchNotFoundError, NonFiniteError, WeightSumError
from ..settings.unweight import UnweightSettings
from . import stages
from .event_model import FLOAT_FIELDS, INT_FIELDS, Records, WholeEventModel
from .observables import comparable, observables

log = logging.getLogger(__name__)

__all__ = ["checks", "columns", "fit", "lhe_records", "read", "read_records", "root_extras",
           "sample", "sqrt_s_of", "write_lhe"]

_EVENT = ("scale", "process_id", "aqed", "aqcd")


def sqrt_s_of(init: str) -> float:
    r"""The collision energy :math:`2\sqrt{E_1 E_2}` of an LHE ``<init>`` block (beam energies
    EBMUP1, EBMUP2 of its first line).

    Arguments:
        init: The ``<init>`` block's text.
    """
    lines = [ln.split() for ln in init.splitlines() if ln.strip() and not
             ln.strip().startswith(("<", "#"))]
    try:
        e1, e2 = float(lines[0][2]), float(lines[0][3])
    except (IndexError, ValueError):
        raise BadInputError("cannot read the beam energies from the LHE <init> block; give "
                            "sqrt_s (--sqrt-s)") from None
    return 2.0 * float(np.sqrt(e1 * e2))


def read_records(paths: Sequence[str | Path], tree: str, weight: str, cut: str | None = None
                 ) -> tuple[Records, np.ndarray, dict[str, Any] | None]:
    r"""Whole events of LHE files or ROOT files written by ``flowstats convert``.

    Arguments:
        paths: The files (LHE ones are converted to a temporary ROOT file first).
        tree: The TTree name.
        weight: The event-weight branch.
        cut: Optional selection (uproot expression).

    Returns:
        The records, the weights and the LHE blocks of the first file (header, init, version;
        None when the file has none).
    """
    import tempfile

    from ..io import expand_paths, is_lhe
    from ..io.lhe import convert_lhe
    from ..io.lhe_writing import read_lhe_blocks

    files = expand_paths(paths)
    events, particles, blocks = [], [], None
    with tempfile.TemporaryDirectory(prefix="flowstats-events-") as tmp:
        for i, path in enumerate(files):
            root = path
            if is_lhe(path):
                root = Path(tmp) / f"input_{i}.root"
                convert_lhe(path, root, tree=tree)
            if blocks is None:
                try:
                    blocks = read_lhe_blocks(root)
                except BadInputError:
                    blocks = None
            ev, parts = _read_root(root, tree, weight, cut, display=str(path))
            events.append(ev)
            particles.append(parts)
    import awkward as ak

    event = {k: np.concatenate([e[k] for e in events]) for k in events[0]}
    parts = {f: ak.concatenate([p[f] for p in particles]) for f in particles[0]}
    w = event.pop("weight")
    records = Records.from_jagged(event, parts)
    if not np.all(np.isfinite(w)):
        raise NonFiniteError(f"the weight branch {weight!r} holds {int((~np.isfinite(w)).sum())}"
                             " non-finite values")
    if len(w) == 0:
        raise BadInputError("no events" + (f" pass the cut {cut!r}" if cut else ""))
    if w.sum() <= 0:
        raise WeightSumError(f"the weights {weight!r} sum to {w.sum():.6g} <= 0")
    return records, w, blocks


def _read_root(path: Path, tree: str, weight: str, cut: str | None, display: str
               ) -> tuple[dict[str, np.ndarray], dict[str, Any]]:
    from ..io import get_tree, open_root

    f = open_root(path, display)
    with f:
        t = get_tree(f, tree, display)
        names = set(t.keys())
        record = [f"lhe_{p}" for p in (*INT_FIELDS, *FLOAT_FIELDS)]
        missing = [b for b in [weight, "nup", *record, "scale", "process_id"] if b not in names]
        if weight not in names:
            raise BranchNotFoundError(weight, f"tree {tree!r} of {display!r}", sorted(names))
        if missing:
            raise BadInputError(
                f"tree {tree!r} of {display!r} lacks {missing[:3]}"
                f"{' ...' if len(missing) > 3 else ''}, needed for whole events: the input must "
                "be an LHE file or a ROOT file written by 'flowstats convert' (which keeps the "
                "whole LHE record); or give --features to unweight flat branches")
        attrs = sorted(n for n in names if re.fullmatch(r"attr_\w+", n))
        flat = [weight, *[e for e in _EVENT if e in names], *attrs]
        arrays = t.arrays([*flat, *record], cut=cut, library="ak")
    event = {("weight" if k == weight else k): np.asarray(arrays[k]) for k in flat}
    parts = {p: arrays[f"lhe_{p}"] for p in (*INT_FIELDS, *FLOAT_FIELDS)}
    return event, parts


# ---------------------------------------------------------------------------- the mode

def read(settings: UnweightSettings) -> stages.Inputs:
    r"""Reads whole events; the report compares their observables (:mod:`.observables`).

    Arguments:
        settings: The run's settings.
    """
    records, w, blocks = read_records(settings.input, settings.tree, settings.weight,
                                      settings.cut)
    sqrt_s = settings.sqrt_s
    if sqrt_s is None:
        if blocks is None:
            raise BadInputError("the collision energy is unknown (the input has no LHE <init> "
                                "block): give sqrt_s (--sqrt-s)")
        sqrt_s = sqrt_s_of(blocks["init"])
    obs = observables(records, sqrt_s)
    names = comparable(obs)
    x = np.column_stack([obs[n] for n in names])
    n_eff = float(w.sum() ** 2 / np.dot(w, w))
    inputs = stages.Inputs(list(settings.input), names, x, w, n_eff, discrete=["n_partons"])
    physical = records.physical()
    if not physical.all():
        bad = ~physical
        inputs.notes.append(
            f"{int(bad.sum())} events have a final-state particle with energy <= 0 (weights "
            f"summing to {w[bad].sum() / w.sum():.2%} of the cross-section): they are left out "
            "of the training; the cross-section is the sum of all weights")
    inputs.data = {"records": records, "sqrt_s": float(sqrt_s), "blocks": blocks,
                   "physical": physical}
    if np.all(w > 0):
        inputs.notes.append("all input weights are positive: there are no negative weights to "
                            "remove; the flows still unweight")
    return inputs


def fit(inputs: stages.Inputs, parts: stages.Split, settings: UnweightSettings, device: str
        ) -> stages.Fitted:
    r"""Trains a :class:`~.event_model.WholeEventModel` on the (physical) training events, or loads
    ``settings.model``.

    Arguments:
        inputs: From :func:`read`.
        parts: The split.
        settings: The run's settings.
        device: The resolved torch device.
    """
    data = inputs.data
    if settings.model is not None:
        model = WholeEventModel.load(settings.model, device=device)
        fitted = stages.Fitted(model, {}, {"loaded_from": str(settings.model)}, [
            "model loaded from --model: the test events are held out only if the model was "
            "trained by flowstats unweight on the same input and seed"])
    else:
        rows = parts.train[data["physical"][parts.train]]
        s = settings
        flows = stages.flow_options(s)
        model = WholeEventModel.fit(data["records"].select(rows), inputs.w[rows],
                                    sqrt_s=data["sqrt_s"], members=s.members,
                                    marginal_maps=s.marginal_maps, flow_options=flows,
                                    fit_options=stages.fit_options(s, device), seed=s.seed)
        fitted = stages.Fitted(model, model.histories,
                               {**flows, "hidden": list(s.hidden), "members": s.members,
                                "marginal_maps": s.marginal_maps})
    desc = model.describe()
    fitted.config.update({"mode": "events", "sqrt_s": model.sqrt_s,
                          "categories": desc["categories"],
                          "dropped_categories": desc["dropped_categories"]})
    for d in model.dropped:
        fitted.notes.append(f"category {d['category']} dropped ({d['n_train']} training events, "
                            f"weighted fraction {d['fraction']:.4f}): too few events or a "
                            "non-positive cross-section; the other categories are scaled up")
    dropped = [d for c in model.categories for d in c.dropped_templates]
    flavours = [d for d in dropped if d["what"] == "flavour content"]
    if dropped:
        fitted.notes.append(
            f"{len(flavours)} flavour contents and {len(dropped) - len(flavours)} colour "
            "layouts have a non-positive sum of weights: they are never generated (their "
            "categories' cross-sections are kept; negative_regions lists them)")
    return fitted


def sample(fitted: stages.Fitted, inputs: stages.Inputs, settings: UnweightSettings
           ) -> stages.Generated:
    r"""Draws ``n`` whole events (seed ``seed + 1``), each of weight ``sigma / n``.

    Arguments:
        fitted: The model.
        inputs: From :func:`read`.
        settings: The run's settings.
    """
    records = fitted.model.sample(settings.n, seed=settings.seed + 1)
    return _generated(records, fitted.model.sqrt_s, inputs, settings)


def _generated(records: Records, sqrt_s: float, inputs: stages.Inputs,
               settings: UnweightSettings, refinement: dict[str, Any] | None = None
               ) -> stages.Generated:
    """The generated records with the input's observables, each of weight sigma / n."""
    obs = observables(records, sqrt_s)
    x = np.column_stack([obs[n] for n in inputs.names])
    return stages.Generated(x, np.full(settings.n, inputs.sigma / settings.n), data=records,
                            refinement=refinement)


#: whole events drawn at once by the refinement, for its classifier's pool and for the accepted
#: events (about 0.6 kB each while drawn)
REFINE_BATCH = 200_000


def refined_sample(fitted: stages.Fitted, inputs: stages.Inputs, parts: stages.Split,
                   settings: UnweightSettings) -> stages.Generated:
    r"""Draws ``n`` whole events reweighted to the training events by a classifier and
    unweighted again (:func:`.refine.refine_batches`; seeds ``seed + 2`` onwards), each of
    weight ``sigma / n``.

    The classifier compares the observables the flows learn as coordinates
    (:data:`.observables.TRAINED` among the input's observables) of the physical training
    events; the never-trained observables stay an independent check of the report.

    Arguments:
        fitted: The model.
        inputs: From :func:`read`.
        parts: The split; the classifier sees training events only.
        settings: The run's settings.
    """
    from .event_model import _concat
    from .observables import TRAINED
    from .refine import refine_batches

    model: WholeEventModel = fitted.model
    names = inputs.names
    cols = [names.index(n) for n in names if n in TRAINED]
    rows = parts.train[inputs.data["physical"][parts.train]]

    def features(records: Records) -> np.ndarray:
        obs = observables(records, model.sqrt_s)
        return np.column_stack([obs[names[k]] for k in cols])

    def draw(k: int, seed: int) -> Records:
        return model.sample(k, seed=seed)

    records, info = refine_batches(draw, settings.n, inputs.x[rows][:, cols], inputs.w[rows],
                                   features=features, join=_concat, seed=settings.seed,
                                   max_batch=REFINE_BATCH)
    info["features"] = [names[k] for k in cols]
    return _generated(records, model.sqrt_s, inputs, settings, info)


def _raw(records: Records, weight: np.ndarray) -> dict[str, Any]:
    """The batch format of :func:`flowstats.io.lhe_columns` for generated records."""
    p = records.particles
    valid = np.arange(p["pid"].shape[1])[None, :] < records.nup[:, None]
    final = valid & (p["status"] == 1)
    record = {f: p[f][valid].astype(np.int32 if f in INT_FIELDS else np.float64)
              for f in (*INT_FIELDS, *FLOAT_FIELDS)}
    n = len(records)
    ev = records.event
    return {"weight": np.asarray(weight, dtype=np.float64), "scale": ev["scale"],
            "process_id": ev["process_id"].astype(np.int32),
            "aqed": ev.get("aqed", np.zeros(n)), "aqcd": ev.get("aqcd", np.zeros(n)),
            "pid": p["pid"][final].astype(np.int32), "px": p["px"][final],
            "py": p["py"][final], "pz": p["pz"][final], "e": p["e"][final],
            "counts": final.sum(axis=1).astype(np.int64), "record": record,
            "record_counts": records.nup.astype(np.int64), "weights": [{}] * n}


def columns(generated: stages.Generated, inputs: stages.Inputs, settings: UnweightSettings
            ) -> dict[str, Any]:
    r"""The branches ``flowstats convert`` writes, of the generated events, with the weight
    under the input's weight branch name.

    Arguments:
        generated: The sampled events.
        inputs: From :func:`read`.
        settings: The run's settings.
    """
    from ..io import lhe_columns

    records = generated.data
    attrs = {k: v.astype(np.int32) for k, v in records.event.items() if k.startswith("attr_")}
    cols = lhe_columns(_raw(records, generated.w), {}, attrs)
    w = cols.pop("weight")
    return {settings.weight: w, **cols}


def root_extras(inputs: stages.Inputs) -> dict[str, Any]:
    r"""Keyword arguments of :func:`~.stages.write` for whole events: the record's counter
    ``nup`` and the input's LHE blocks next to the tree (so that the output converts back to
    LHE like a file of ``flowstats convert``).

    Arguments:
        inputs: From :func:`read`.
    """
    import json

    from ..io.lhe_writing import COUNTER, LHE_KEYS, RECORD

    blocks = inputs.data["blocks"]
    strings = None
    if blocks is not None:
        strings = {LHE_KEYS["header"]: blocks["header"], LHE_KEYS["init"]: blocks["init"],
                   LHE_KEYS["version"]: blocks["version"], LHE_KEYS["weight_ids"]: json.dumps({})}
    return {"strings": strings, "counters": {RECORD: COUNTER}}


def lhe_records(records: Records, weight: np.ndarray) -> dict[str, Any]:
    r"""A batch of :func:`flowstats.io.lhe_writing.write_lhe` of records and weights.

    Arguments:
        records: Whole events.
        weight: Their XWGTUP.
    """
    jag = records.to_jagged()
    n = len(records)
    batch: dict[str, Any] = {"weight": np.asarray(weight, dtype=np.float64),
                             "process_id": records.event["process_id"].astype(np.int32),
                             "scale": records.event["scale"],
                             "aqed": records.event.get("aqed", np.zeros(n)),
                             "aqcd": records.event.get("aqcd", np.zeros(n))}
    batch.update({k: v.astype(np.int32) for k, v in records.event.items()
                  if k.startswith("attr_")})
    batch.update({f"lhe_{f}": v for f, v in jag.items()})
    return batch


def write_lhe(generated: stages.Generated, inputs: stages.Inputs, settings: UnweightSettings
              ) -> dict[str, Any]:
    r"""Writes the generated events as a Les Houches file (``settings.lhe``), with the input's
    header and ``<init>`` block and its weight normalisation (module docstring).

    Arguments:
        generated: The sampled events.
        inputs: From :func:`read`.
        settings: The run's settings.

    Returns:
        ``output``, ``n_events``, ``sum_weights``, ``weight_per_event`` and ``convention``
        (``"average"`` or ``"sum"``).
    """
    from ..io.lhe_writing import write_lhe as _write

    blocks = inputs.data["blocks"]
    if blocks is None:
        raise BadInputError("the input has no LHE header and <init> block (it is not an LHE "
                            "file or a ROOT file written by 'flowstats convert'): cannot write "
                            "a Les Houches file")
    xsec = _xsecup(blocks["init"])
    n_in = len(inputs.w)
    mean = inputs.sigma / n_in
    average = xsec is not None and abs(mean - xsec) < abs(inputs.sigma - xsec)
    unit = mean if average else inputs.sigma / settings.n
    out = _write(settings.lhe, lhe_records(generated.data, np.full(settings.n, unit)),
                 init=blocks["init"], header=blocks["header"], version=blocks["version"],
                 force=settings.force)
    return {**out, "weight_per_event": unit, "convention": "average" if average else "sum",
            "xsecup_sum": xsec}


def _xsecup(init: str) -> float | None:
    lines = [ln.split() for ln in init.splitlines() if ln.strip() and not
             ln.strip().startswith(("<", "#"))]
    try:
        nproc = int(lines[0][9])
        return float(sum(float(lines[1 + i][0]) for i in range(nproc)))
    except (IndexError, ValueError):
        return None


def checks(summary: dict[str, Any], inputs: stages.Inputs, parts: stages.Split,
           fitted: stages.Fitted, generated: stages.Generated, settings: UnweightSettings
           ) -> None:
    r"""The whole-event checks of the report (:mod:`.checks`), added to ``summary``:
    ``observables`` (chi2 with the training statistics, trained and never-trained
    observables), ``categories`` (weighted fractions) and ``negative_regions``.

    Arguments:
        summary: The run's summary (updated).
        inputs, parts, fitted, generated: What the stages returned.
        settings: The run's settings.
    """
    from .checks import compare_categories, compare_observables, negative_regions

    model: WholeEventModel = fitted.model
    names = inputs.names
    test = {n: parts.x_test[:, k] for k, n in enumerate(names)}
    train = {n: parts.x_train[:, k] for k, n in enumerate(names)}
    gen = {n: generated.x[:, k] for k, n in enumerate(names)}
    obs = compare_observables(names, test, parts.w_test, gen, generated.w, train,
                              parts.w_train, bins=settings.report_bins,
                              val_fraction=settings.val_fraction)
    never = {k: v for k, v in obs.items() if not v["trained"]}
    summary["observables"] = obs
    summary["never_trained_min_p_value"] = (float(min(v["p_value"] for v in never.values()))
                                            if never else None)
    labels = [c.label for c in model.categories]
    records: Records = inputs.data["records"]
    index = _category_index(records, labels)
    gen_index = _category_index(generated.data, labels)
    summary["categories"] = compare_categories(
        labels, index[parts.test], parts.w_test, gen_index, generated.w, index[parts.train],
        parts.w_train, val_fraction=settings.val_fraction)
    summary["generated"] = {"redrawn": dict(model.rejected)}
    coords = _coordinates(records.select(parts.train), inputs.w[parts.train], model)
    summary["negative_regions"] = negative_regions(
        model, coords, bins=settings.report_bins, unit=1.0)


def _category_index(records: Records, labels: Sequence[str]) -> np.ndarray:
    from .phasespace import Topology, category_key

    fs = records.final_state()
    pid = records.particles["pid"]
    keys = [category_key(pid[i][fs[i]]) for i in range(len(records))]
    lookup = {lab: i for i, lab in enumerate(labels)}
    return np.array([lookup.get(Topology(*k).label if len(k[0]) + k[1] >= 2 else "", -1)
                     for k in keys], dtype=np.float64)


def _coordinates(records: Records, w: np.ndarray, model: WholeEventModel
                 ) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """Each modelled category's training coordinates (physical events) and weights."""
    from .event_model import _final_momenta, _templates

    ok = records.physical()
    records, w = records.select(ok), w[ok]
    templates, which = _templates(records)
    out: dict[str, tuple[np.ndarray, np.ndarray]] = {}
    for cat in model.categories:
        xs, ws = [], []
        for t, tpl in enumerate(templates):
            if tpl.category != (cat.topology.others, cat.topology.partons):
                continue
            rows = np.flatnonzero(which == t)
            p4 = _final_momenta(records, tpl, rows)
            order = cat.topology.canonical(records.particles["pid"][rows][:, tpl.final], p4)
            coords = cat.topology.encode(np.take_along_axis(p4, order[:, :, None], axis=1))
            extras = [records.event[e][rows].astype(np.float64)[:, None] for e in model.extras]
            xs.append(np.column_stack([coords, *extras]))
            ws.append(w[rows])
        if xs:
            out[cat.label] = (np.concatenate(xs), np.concatenate(ws))
    return out
