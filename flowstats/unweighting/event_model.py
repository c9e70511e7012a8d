r"""Whole events: flows on the complete final state, per category of particle content.

The input is the full Les Houches record of every event (:class:`Records`: the event-level
numbers and every particle's PDG id, status, mothers, colour lines, momentum, mass, lifetime and
spin, as ``flowstats convert`` stores them). :class:`WholeEventModel`

1. splits the events into **templates**: identical records up to momenta (process id, event
   attributes such as FxFx's ``npNLO``, every particle's id, status, mothers, colours, spin;
   drawn in two steps, the flavour content with its weighted fraction, then its colour and
   mother layout with its weighted fraction within the flavour content),
   and the templates into **categories** of final-state content (the non-parton particles'
   PDG ids, lepton generations merged, and the number of partons,
   :func:`~.phasespace.category_key`): e+e- and mu+mu- events share a category and its flows,
   their flavours are templates with their exact weighted fractions;
2. trains, per category, an :class:`~.flow_model.UnweightModel` on the weighted events' phase-space
   coordinates (:class:`~.phasespace.Topology`: on-shell masses, zero total transverse momentum
   and azimuthal symmetry built in) plus the event's ``scale`` (SCALUP) and couplings (AQEDUP,
   AQCDUP; constant ones are kept fixed);
3. samples each category with its exact weighted fraction, draws each event's template within
   its category with the template's weighted fraction (clipped at zero), rebuilds the
   final-state four-vectors with the template's masses and a uniform azimuth, the incoming
   partons from the final state (:func:`~.phasespace.incoming`), and every intermediate
   resonance (status 2) as the sum of its daughters. Points outside the physical phase space
   (a momentum fraction above 1) are redrawn, and so are points outside the category's
   training range of the momentum fractions :math:`x_1, x_2` (the flows' coordinates are
   kept within their training ranges by the marginal maps, but their combinations can
   reach beyond: at the PDFs' steep large-x fall-off a flow trained on a few thousand
   events overpopulates that corner, e.g. 0.2 % of the events of the FxFx sample beyond the
   largest x of the training events); both are counted.

What it does not model: the template (flavours, colour flow) is drawn independently of the
kinematics within a category, so flavour-kinematics correlations inside a category (e.g. which
beam the valence quark comes from) are averaged; observables of the final-state momenta do not
depend on that choice. Categories and templates with a non-positive weighted sum cannot be
modelled by a density: they are dropped and their cross-section is reported.

References:
    | B. Stienen and R. Verheyen, "Phase space sampling and inference from weighted events with
    | autoregressive flows", SciPost Phys. 10 (2021) 038, arXiv:2011.13445.
    | J. Alwall et al., "A standard format for Les Houches Event Files", Comput. Phys. Commun.
    | 176 (2007) 300, arXiv:hep-ph/0609017.
"""

from __future__ import annotations

import json
import logging
import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from ..exceptions import BadInputError, WeightSumError
from .phasespace import PARTONS, Topology, category_key, incoming, particle_class

log = logging.getLogger(__name__)

__all__ = ["INT_FIELDS", "FLOAT_FIELDS", "Records", "Template", "WholeEventModel"]

#: integer fields of a particle record (LHE: IDUP ISTUP MOTHUP(2) ICOLUP(2))
INT_FIELDS = ("pid", "status", "mother1", "mother2", "color1", "color2")
#: floating-point fields of a particle record (PUP(1-5), VTIMUP, SPINUP)
FLOAT_FIELDS = ("px", "py", "pz", "e", "m", "lifetime", "spin")
#: event-level numbers learnt with the kinematics (kept fixed where constant)
EXTRAS = ("scale", "aqed", "aqcd")
_MODEL_FILE = "whole_event_model.json"


@dataclass
class Records:
    r"""Whole events: event-level columns and the particle records, padded.

    Arguments:
        event: ``weight``, ``scale``, ``process_id``, ``aqed``, ``aqcd`` and integer event
            attributes ``attr_<name>``, each ``(n,)``.
        particles: The fields of :data:`INT_FIELDS` and :data:`FLOAT_FIELDS`, each ``(n, P)``
            (padded with zeros beyond ``nup``).
        nup: ``(n,)`` number of particles of each event.
    """

    event: dict[str, np.ndarray]
    particles: dict[str, np.ndarray]
    nup: np.ndarray

    def __len__(self) -> int:
        return len(self.nup)

    @classmethod
    def from_jagged(cls, event: Mapping[str, Any], particles: Mapping[str, Any]) -> Records:
        r"""Builds records from jagged (awkward) particle fields.

        Arguments:
            event: Event-level columns (see the class docstring).
            particles: Jagged fields named as :data:`INT_FIELDS` + :data:`FLOAT_FIELDS`.
        """
        import awkward as ak

        missing = [f for f in (*INT_FIELDS, *FLOAT_FIELDS) if f not in particles]
        if missing:
            raise BadInputError(f"particle record fields {missing} are missing")
        nup = ak.to_numpy(ak.num(particles["pid"], axis=1)).astype(np.int64)
        width = int(nup.max()) if len(nup) else 0
        padded = {}
        for f in (*INT_FIELDS, *FLOAT_FIELDS):
            arr = ak.fill_none(ak.pad_none(particles[f], width, axis=1, clip=True), 0)
            padded[f] = ak.to_numpy(arr).astype(np.int64 if f in INT_FIELDS else np.float64)
        return cls({k: np.asarray(v) for k, v in event.items()}, padded, nup)

    def to_jagged(self) -> dict[str, Any]:
        r"""The particle fields as jagged awkward arrays (``nup`` entries per event)."""
        import awkward as ak

        mask = np.arange(self.particles["pid"].shape[1])[None, :] < self.nup[:, None]
        return {f: ak.unflatten(v[mask], self.nup) for f, v in self.particles.items()}

    def select(self, rows: np.ndarray) -> Records:
        r"""The records of ``rows`` (a boolean mask or indices)."""
        return Records({k: v[rows] for k, v in self.event.items()},
                       {k: v[rows] for k, v in self.particles.items()}, self.nup[rows])

    @property
    def attributes(self) -> list[str]:
        r"""Names of the integer event attributes (``attr_*`` columns)."""
        return sorted(k for k in self.event if k.startswith("attr_"))

    def final_state(self) -> np.ndarray:
        r"""``(n, P)`` mask of the final-state (status 1) particles."""
        valid = np.arange(self.particles["pid"].shape[1])[None, :] < self.nup[:, None]
        return valid & (self.particles["status"] == 1)

    def physical(self) -> np.ndarray:
        r"""Events whose final-state particles all have a positive, finite energy and finite
        momenta (MC@NLO samples can hold a few with E < 0)."""
        fs = self.final_state()
        p = np.stack([self.particles[f] for f in ("px", "py", "pz", "e")], axis=-1)
        ok = np.all(np.isfinite(p), axis=-1) & (self.particles["e"] > 0)
        return np.all(ok | ~fs, axis=1)


@dataclass
class Template:
    r"""One record layout: everything of an event but its momenta.

    Arguments:
        nup: Number of particles.
        process_id: IDPRUP.
        attributes: Integer event attributes (``attr_<name>`` -> value).
        ints: ``(nup, 6)`` :data:`INT_FIELDS` of each particle.
        spin: ``(nup,)`` SPINUP.
        lifetime: ``(nup,)`` VTIMUP.
        masses: ``(nup,)`` masses (mean over the template's events; resonances get their
            event's invariant mass).
        fraction: Weighted fraction within its category (clipped at zero).
        sum_weights: Weighted sum of the template's training events.
        n: Number of its training events.
    """

    nup: int
    process_id: int
    attributes: dict[str, int]
    ints: np.ndarray
    spin: np.ndarray
    lifetime: np.ndarray
    masses: np.ndarray
    fraction: float = 0.0
    sum_weights: float = 0.0
    n: int = 0

    @property
    def final(self) -> np.ndarray:
        r"""Record indices of the final-state particles, in the category's canonical order
        (non-partons by class, :func:`~.phasespace.particle_class`, then the partons in record
        order)."""
        pid, status = self.ints[:, 0], self.ints[:, 1]
        idx = np.flatnonzero(status == 1)
        parton = np.isin(np.abs(pid[idx]), PARTONS)
        classes = particle_class(pid[idx][~parton])
        others = idx[~parton][np.argsort(classes, kind="stable")]
        return np.concatenate([others, idx[parton]])

    @property
    def category(self) -> tuple[tuple[int, ...], int]:
        r"""The category key of the template's final state."""
        return category_key(self.ints[self.ints[:, 1] == 1, 0])

    def to_dict(self) -> dict[str, Any]:
        return {"nup": self.nup, "process_id": self.process_id, "attributes": self.attributes,
                "ints": self.ints.tolist(), "spin": self.spin.tolist(),
                "lifetime": self.lifetime.tolist(), "masses": self.masses.tolist(),
                "fraction": self.fraction, "sum_weights": self.sum_weights, "n": self.n}

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> Template:
        return cls(int(d["nup"]), int(d["process_id"]), {k: int(v) for k, v in
                                                          d["attributes"].items()},
                   np.asarray(d["ints"], dtype=np.int64), np.asarray(d["spin"], dtype=float),
                   np.asarray(d["lifetime"], dtype=float), np.asarray(d["masses"], dtype=float),
                   float(d["fraction"]), float(d["sum_weights"]), int(d["n"]))


def _templates(records: Records) -> tuple[list[Template], np.ndarray]:
    """The distinct record layouts and each event's layout index."""
    p = records.particles
    attrs = records.attributes
    key = np.column_stack([records.nup, records.event["process_id"].astype(np.int64),
                           *[records.event[a].astype(np.int64) for a in attrs],
                           *[p[f] for f in INT_FIELDS],
                           np.round(p["spin"] * 2).astype(np.int64),
                           np.round(p["lifetime"] * 1e6).astype(np.int64)])
    keys, first, inverse = np.unique(key, axis=0, return_index=True, return_inverse=True)
    inverse = np.asarray(inverse).reshape(-1)
    out = []
    for t, row in enumerate(first):
        k = int(records.nup[row])
        sel = inverse == t
        out.append(Template(
            nup=k, process_id=int(records.event["process_id"][row]),
            attributes={a: int(records.event[a][row]) for a in attrs},
            ints=np.column_stack([p[f][row, :k] for f in INT_FIELDS]).astype(np.int64),
            spin=p["spin"][row, :k].copy(), lifetime=p["lifetime"][row, :k].copy(),
            masses=p["m"][sel, :k].mean(axis=0), n=int(sel.sum())))
    return out, inverse


def _template_fractions(templates: Sequence[Template], category_sum: float
                        ) -> tuple[list[Template], list[dict[str, Any]]]:
    """Sets each template's probability within its category, in two steps: the flavour
    content (particle ids, process id, attributes) by its weighted fraction, then the colour
    and mother layout within it by its weighted fraction, each clipped at zero. Returns the
    templates that can be drawn and the dropped ones: whole flavour contents with a
    non-positive sum of weights (their cross-section goes to the others), and layouts with a
    non-positive sum within a positive flavour content (its cross-section stays with the
    flavour's other layouts)."""
    groups: dict[tuple, list[Template]] = {}
    for tpl in templates:
        key = (tuple(tpl.ints[:, 0]), tpl.process_id, tuple(sorted(tpl.attributes.items())))
        groups.setdefault(key, []).append(tpl)
    sums = {key: sum(t.sum_weights for t in group) for key, group in groups.items()}
    norm = sum(v for v in sums.values() if v > 0)
    kept, dropped = [], []
    for key, group in groups.items():
        if sums[key] <= 0:
            dropped.append({"process_id": key[1], "pids": list(map(int, key[0])),
                            "n": sum(t.n for t in group), "layouts": len(group),
                            "sum_weights": sums[key], "what": "flavour content",
                            "fraction_of_category": sums[key] / category_sum})
            continue
        positive = sum(t.sum_weights for t in group if t.sum_weights > 0)
        for tpl in group:
            if tpl.sum_weights > 0:
                tpl.fraction = sums[key] / norm * tpl.sum_weights / positive
                kept.append(tpl)
            else:
                dropped.append({"process_id": key[1], "pids": list(map(int, key[0])),
                                "n": tpl.n, "layouts": 1, "sum_weights": tpl.sum_weights,
                                "what": "colour layout",
                                "fraction_of_category": tpl.sum_weights / category_sum})
    return kept, dropped


def _final_momenta(records: Records, template: Template, rows: np.ndarray) -> np.ndarray:
    """(n, k, 4) final-state four-vectors of ``rows`` (all of ``template``), canonical order."""
    idx = template.final
    p = records.particles
    return np.stack([p[f][rows][:, idx] for f in ("px", "py", "pz", "e")], axis=-1)


@dataclass
class WholeEventCategory:
    r"""One category: its topology, templates, flows and weighted fraction."""

    topology: Topology
    templates: list[Template]
    names: list[str]
    fraction: float
    sum_weights: float
    n_train: int
    model: Any = None
    dropped_templates: list[dict[str, Any]] = field(default_factory=list)
    support: list[float] | None = None

    @property
    def label(self) -> str:
        return self.topology.label


class WholeEventModel:
    r"""Flows per category of particle content, generating complete Les Houches records.

    Arguments:
        categories: The modelled categories.
        sqrt_s: Collision energy (GeV), for the momentum fractions of the incoming partons.
        extras: Event-level numbers learnt with the kinematics (``scale``, ``aqed``, ``aqcd``
            where the input has them).
    """

    def __init__(self, categories: Sequence[WholeEventCategory], sqrt_s: float,
                 extras: Sequence[str] = EXTRAS) -> None:
        self.categories = list(categories)
        self.sqrt_s = float(sqrt_s)
        self.extras = list(extras)
        self.histories: dict[str, dict[str, Any]] = {}
        self.dropped: list[dict[str, Any]] = []
        self.rejected: dict[str, dict[str, int]] = {}

    # ------------------------------------------------------------------ training

    @classmethod
    def fit(cls, records: Records, weights: np.ndarray, *, sqrt_s: float,
            min_category_events: int = 50, members: int = 1, marginal_maps: bool = True,
            flow_options: Mapping[str, Any] | None = None,
            fit_options: Mapping[str, Any] | None = None, seed: int = 0) -> WholeEventModel:
        r"""Finds the templates and categories and trains one model per category.

        Arguments:
            records: Training events (physical ones: see :meth:`Records.physical`).
            weights: Their weights (any sign; positive sum).
            sqrt_s: Collision energy (GeV).
            min_category_events: Categories with fewer events are dropped (reported).
            members: Flows per category, sampled as an equal mixture.
            marginal_maps: See :class:`~.flow_model.UnweightModel`.
            flow_options: Keyword arguments of :class:`~flowstats.flows.Flow`.
            fit_options: Keyword arguments of :meth:`~flowstats.flows.Flow.fit`.
            seed: Seed of category ``c`` is ``seed + 1000 c``.
        """
        from .flow_model import UnweightModel

        w = np.asarray(weights, dtype=np.float64)
        if len(w) != len(records):
            raise BadInputError(f"{len(w)} weights for {len(records)} events")
        total = float(w.sum())
        if total <= 0:
            raise WeightSumError(f"the training weights sum to {total:.6g} <= 0")
        if not np.all(records.physical()):
            raise BadInputError("unphysical events (a final-state particle with E <= 0) must "
                                "be removed before training")
        extras = [e for e in EXTRAS if e in records.event]
        templates, which = _templates(records)
        for t, tpl in enumerate(templates):
            tpl.sum_weights = float(w[which == t].sum())
        keys = sorted({tpl.category for tpl in templates})
        model = cls([], sqrt_s, extras)
        for c, key in enumerate(keys):
            topo = Topology(*key)
            members_t = [t for t, tpl in enumerate(templates) if tpl.category == key]
            rows_all = np.flatnonzero(np.isin(which, members_t))
            sw = float(w[rows_all].sum())
            frac = sw / total
            if len(rows_all) < min_category_events or sw <= 0:
                log.warning("category %s dropped: %d events, weighted fraction %.4f",
                            topo.label, len(rows_all), frac)
                model.dropped.append({"category": topo.label, "n_train": int(len(rows_all)),
                                      "fraction": frac, "sum_weights": sw})
                continue
            xs, ws = [], []
            fractions: tuple[list[np.ndarray], list[np.ndarray]] = ([], [])
            for t in members_t:
                rows = np.flatnonzero(which == t)
                p4 = _final_momenta(records, templates[t], rows)
                order = topo.canonical(records.particles["pid"][rows][:, templates[t].final],
                                       p4)
                p4 = np.take_along_axis(p4, order[:, :, None], axis=1)
                coords = topo.encode(p4)
                p_sum = p4.sum(axis=1)
                fractions[0].append((p_sum[:, 3] + p_sum[:, 2]) / sqrt_s)
                fractions[1].append((p_sum[:, 3] - p_sum[:, 2]) / sqrt_s)
                ev = [records.event[e][rows].astype(np.float64)[:, None] for e in extras]
                xs.append(np.column_stack([coords, *ev]))
                ws.append(w[rows])
            x, wc = np.concatenate(xs), np.concatenate(ws)
            names = topo.names + extras
            x1, x2 = np.concatenate(fractions[0]), np.concatenate(fractions[1])
            support = [float(x1.min()), float(x1.max()), float(x2.min()), float(x2.max())]
            cat_templates, dropped_t = _template_fractions([templates[t] for t in members_t],
                                                           sw)
            positive = topo.positive + [e for e in extras
                                        if np.all(x[:, names.index(e)] > 0)]
            log.info("category %s: %d events, fraction %.4f, %d templates, coordinates %s",
                     topo.label, len(x), frac, len(cat_templates), names)
            um = UnweightModel.fit(x, wc, names, positive=positive, bounds=topo.bounds,
                                   atom_fraction=0.0, marginal_maps=marginal_maps,
                                   members=members, min_category_events=1,
                                   flow_options=flow_options, fit_options=fit_options,
                                   seed=seed + 1000 * c)
            for name, h in um.histories.items():
                model.histories[topo.label + ("" if name == "all" else f" {name}")] = h
            model.categories.append(WholeEventCategory(
                topo, cat_templates, names, frac, sw, len(x), um, dropped_t, support))
        if not model.categories:
            raise BadInputError("no category of events has enough events and a positive sum "
                                "of weights to be modelled")
        norm = sum(cat.fraction for cat in model.categories)
        for cat in model.categories:
            cat.fraction /= norm
        return model

    # ------------------------------------------------------------------ sampling

    def sample(self, n: int, *, seed: int = 0, batch_size: int = 8192) -> Records:
        r"""Draws ``n`` whole events (unweighted; the ``weight`` column is left to the caller).

        Arguments:
            n: Number of events.
            seed: Seeds the category counts, the flows, the templates and the azimuths.
            batch_size: Events generated at once per flow.
        """
        rng = np.random.default_rng([int(seed), 13])
        fractions = np.array([c.fraction for c in self.categories])
        counts = rng.multinomial(int(n), fractions / fractions.sum())
        parts = []
        for cat, k in zip(self.categories, counts):
            if k:
                parts.append(self._sample_category(cat, int(k), int(rng.integers(2**31)),
                                                   batch_size))
        out = _concat(parts)
        perm = rng.permutation(len(out))
        return out.select(perm)

    def _sample_category(self, cat: WholeEventCategory, n: int, seed: int, batch_size: int
                         ) -> Records:
        rng = np.random.default_rng([seed, 17])
        topo = cat.topology
        probs = np.array([t.fraction for t in cat.templates])
        d = len(topo.names)
        got: list[np.ndarray] = []
        have, rejected, outside, rounds = 0, 0, 0, 0
        while have < n:
            need = n - have
            draw = int(need * 1.05) + 16 if rounds else need
            x = cat.model.sample(draw, seed=seed + rounds, batch_size=batch_size)
            which = rng.choice(len(probs), size=draw, p=probs / probs.sum())
            final_masses = np.stack([t.masses[t.final] for t in cat.templates])
            masses = final_masses[which]
            x1, x2 = topo.momentum_fractions(x[:, :d], masses, self.sqrt_s)
            with np.errstate(invalid="ignore"):
                ok = np.isfinite(x1) & np.isfinite(x2) & (x1 <= 1.0) & (x2 <= 1.0)
                rejected += int((~ok).sum())
                if cat.support is not None:
                    lo1, hi1, lo2, hi2 = cat.support
                    inside = (x1 >= lo1) & (x1 <= hi1) & (x2 >= lo2) & (x2 <= hi2)
                    outside += int((ok & ~inside).sum())
                    ok &= inside
            x, which = x[ok][:need], which[ok][:need]
            got.append(np.column_stack([x, which]))
            have += len(x)
            rounds += 1
            if rounds > 50:
                raise BadInputError(f"category {topo.label}: the flow generates too few "
                                    "physical events (momentum fractions above 1)")
        if rejected or outside:
            log.info("category %s: %d unphysical points and %d outside the training range of "
                     "x1, x2 redrawn", topo.label, rejected, outside)
        entry = self.rejected.setdefault(topo.label, {"unphysical": 0, "outside_support": 0,
                                                      "drawn": 0})
        entry["unphysical"] += rejected
        entry["outside_support"] += outside
        entry["drawn"] += n + rejected + outside
        xw = np.concatenate(got)
        x, which = xw[:, :-1], xw[:, -1].astype(np.int64)
        phi0 = rng.uniform(-np.pi, np.pi, size=len(x))
        parts = []
        for t in np.unique(which):
            sel = which == t
            parts.append(self._build(cat, cat.templates[t], x[sel], phi0[sel]))
        return _concat(parts)

    def _build(self, cat: WholeEventCategory, tpl: Template, x: np.ndarray,
               phi0: np.ndarray) -> Records:
        """Records of one template from sampled coordinates and azimuths."""
        topo = cat.topology
        d = len(topo.names)
        n, k = len(x), tpl.nup
        final = topo.decode(x[:, :d], tpl.masses[tpl.final], phi0)
        p4 = np.zeros((n, k, 4))
        p4[:, tpl.final] = final
        status = tpl.ints[:, 1]
        inc = np.flatnonzero(status == -1)
        if len(inc) == 2:
            p4[:, inc] = incoming(final, tpl.masses[inc])
        # resonances (status 2): the sum of their daughters, innermost first
        mothers = tpl.ints[:, 2]
        for r in sorted(np.flatnonzero(status == 2), reverse=True):
            daughters = np.flatnonzero(mothers == r + 1)
            p4[:, r] = p4[:, daughters].sum(axis=1)
        m = np.broadcast_to(tpl.masses, (n, k)).copy()
        res = status == 2
        if res.any():
            m2 = p4[:, res, 3] ** 2 - np.sum(p4[:, res, :3] ** 2, axis=-1)
            m[:, res] = np.sqrt(np.clip(m2, 0.0, None))
        particles: dict[str, np.ndarray] = {}
        for j, f in enumerate(INT_FIELDS):
            particles[f] = np.broadcast_to(tpl.ints[:, j], (n, k)).copy()
        for j, f in enumerate(("px", "py", "pz", "e")):
            particles[f] = p4[..., j]
        particles["m"] = m
        particles["lifetime"] = np.broadcast_to(tpl.lifetime, (n, k)).copy()
        particles["spin"] = np.broadcast_to(tpl.spin, (n, k)).copy()
        event: dict[str, np.ndarray] = {
            "process_id": np.full(n, tpl.process_id, dtype=np.int32)}
        for e in self.extras:
            event[e] = x[:, cat.names.index(e)]
        for a, v in tpl.attributes.items():
            event[a] = np.full(n, v, dtype=np.int32)
        return Records(event, particles, np.full(n, k, dtype=np.int64))

    # ------------------------------------------------------------------ description, I/O

    def describe(self) -> dict[str, Any]:
        r"""JSON-ready description: categories, fractions, coordinates, templates, drops."""
        return {
            "sqrt_s": self.sqrt_s, "extras": self.extras,
            "categories": [{
                "category": c.label, "fraction": c.fraction, "sum_weights": c.sum_weights,
                "n_train": c.n_train, "coordinates": c.names, "parametrisation": c.topology.kind,
                "n_templates": len(c.templates),
                "n_dropped_templates": len(c.dropped_templates),
            } for c in self.categories],
            "dropped_categories": self.dropped,
        }

    def save(self, directory: str | os.PathLike, force: bool = False) -> Path:
        r"""Saves the model (JSON description, templates and one sub-directory per category).

        Arguments:
            directory: Target directory (replaced only with ``force``).
            force: Replace an existing directory.
        """
        import shutil
        import tempfile

        from .._utils import check_output

        directory = Path(directory)
        check_output(directory, force)
        tmp = Path(tempfile.mkdtemp(prefix=".tmp_", dir=directory.parent or "."))
        try:
            cats = []
            for i, c in enumerate(self.categories):
                c.model.save(tmp / f"category_{i}")
                cats.append({"others": list(c.topology.others), "partons": c.topology.partons,
                             "names": c.names, "fraction": c.fraction,
                             "sum_weights": c.sum_weights, "n_train": c.n_train,
                             "templates": [t.to_dict() for t in c.templates],
                             "support": c.support,
                             "dropped_templates": c.dropped_templates})
            (tmp / _MODEL_FILE).write_text(json.dumps(
                {"format": 1, "sqrt_s": self.sqrt_s, "extras": self.extras,
                 "categories": cats, "dropped": self.dropped}, indent=1))
            if directory.exists():
                shutil.rmtree(directory)
            tmp.rename(directory)
        except BaseException:
            shutil.rmtree(tmp, ignore_errors=True)
            raise
        return directory

    @classmethod
    def load(cls, directory: str | os.PathLike, *, device: str = "cpu") -> WholeEventModel:
        r"""Loads a model saved with :meth:`save`.

        Arguments:
            directory: The model directory.
            device: Torch device of the flows.
        """
        from .flow_model import UnweightModel

        directory = Path(directory)
        path = directory / _MODEL_FILE
        if not path.is_file():
            raise BadInputError(f"{str(directory)!r} is not a whole-event model directory "
                                f"(no {_MODEL_FILE})")
        data = json.loads(path.read_text())
        cats = []
        for i, c in enumerate(data["categories"]):
            um = UnweightModel.load(directory / f"category_{i}", device=device)
            cats.append(WholeEventCategory(
                Topology(tuple(c["others"]), int(c["partons"])),
                [Template.from_dict(t) for t in c["templates"]], list(c["names"]),
                float(c["fraction"]), float(c["sum_weights"]), int(c["n_train"]), um,
                list(c.get("dropped_templates", [])), c.get("support")))
        model = cls(cats, data["sqrt_s"], data["extras"])
        model.dropped = list(data.get("dropped", []))
        return model


def _concat(parts: Sequence[Records]) -> Records:
    """Concatenates records, padding the particle arrays to the widest."""
    parts = [p for p in parts if len(p)]
    if not parts:
        raise BadInputError("no events to concatenate")
    width = max(p.particles["pid"].shape[1] for p in parts)
    keys = sorted(set().union(*[p.event for p in parts]))
    event = {}
    for k in keys:
        cols = []
        for p in parts:
            if k in p.event:
                cols.append(p.event[k])
            else:  # an attribute absent from some templates
                cols.append(np.full(len(p), -1, dtype=np.int32))
        event[k] = np.concatenate(cols)
    particles = {}
    for f in parts[0].particles:
        particles[f] = np.concatenate([np.pad(p.particles[f], ((0, 0), (0, width -
                                      p.particles[f].shape[1]))) for p in parts])
    return Records(event, particles, np.concatenate([p.nup for p in parts]))
