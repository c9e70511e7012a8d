r"""Les Houches event files (``.lhe``, ``.lhe.gz``) to ROOT TTrees, with pylhe.

:func:`convert_lhe` streams the events in batches (parsed by ``pylhe.LHEFile.fromfile``)
and writes one TTree with

* ``weight``: the event weight XWGTUP; ``rwgt_<id>``: every ``<rwgt>`` (or ``<weights>``)
  weight as its own branch, the id sanitised to ``[A-Za-z0-9_]``; ``scale`` (SCALUP) and
  ``process_id`` (IDPRUP);
* the final-state (status 1) particles as jagged branches sharing the counter ``npart``:
  ``part_pid, part_px, part_py, part_pz, part_e, part_pt, part_eta, part_phi`` (GeV);
* observables for the common case of a lepton pair plus jets. Leptons are the charged
  leptons (|pid| = 11, 13, 15) of the final state, ordered by pT; partons are the final-state
  quarks (|pid| 1-6) and gluons:

  - ``m_ll, pT_ll, y_ll, phi_ll``: mass, transverse momentum, rapidity and azimuth of the two
    leading leptons (NaN when an event has fewer than two; ``n_leptons`` says how many);
  - ``lep1_pt, lep1_eta, lep2_pt, lep2_eta`` (NaN when missing);
  - ``jet1_pt``: the leading parton's pT, 0 for events without a parton;
  - ``n_partons``, ``n_leptons``;
  - ``HT``: the scalar sum of the partons' pT (the leptons are not included; 0 without
    partons), as in MadGraph's ``ihtmin``/``ihtmax`` cuts.

The provenance (flowstats and package versions, input, options) is stored next to the tree as
the TObjString ``flowstats_provenance``.
"""

from __future__ import annotations

import itertools
import logging
import os
import re
import warnings
import zlib
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np

from .._utils import check_output, progress, provenance
from ..exceptions import BadInputError, InputFileNotFoundError
from .writing import EventWriter

log = logging.getLogger(__name__)

__all__ = ["LEPTONS", "PARTONS", "convert_lhe", "lhe_batches"]

#: |PDG id| of the charged leptons used for the pair observables
LEPTONS = (11, 13, 15)
#: |PDG id| of the partons (quarks and gluons) used for the jet observables
PARTONS = (1, 2, 3, 4, 5, 6, 21)

_BATCH = 50_000
_PART_FIELDS = ("pid", "px", "py", "pz", "e", "pt", "eta", "phi")
_MAX_DISTINCT = 10  # weight values listed in the summary when there are at most this many


def _sanitise(weight_id: str, taken: set[str]) -> str:
    name = "rwgt_" + re.sub(r"[^0-9A-Za-z_]", "_", str(weight_id).strip())
    base, i = name, 1
    while name in taken:
        i += 1
        name = f"{base}_{i}"
    taken.add(name)
    return name


def _pair_observables(px: np.ndarray, py: np.ndarray, pz: np.ndarray, e: np.ndarray
                      ) -> dict[str, np.ndarray]:
    """Mass, pT, rapidity and phi of four-vectors (NaN where undefined)."""
    with np.errstate(invalid="ignore", divide="ignore"):
        m2 = e * e - px * px - py * py - pz * pz
        return {
            "m_ll": np.sqrt(np.clip(m2, 0.0, None)),  # NaN stays NaN
            "pT_ll": np.hypot(px, py),
            "y_ll": 0.5 * np.log((e + pz) / (e - pz)),
            "phi_ll": np.arctan2(py, px),
        }


def _collect(events: Iterator[Any]) -> dict[str, Any]:
    """Plain arrays of a batch of pylhe events (the final-state particles flattened).

    Reading the parsed ``pylhe.LHEEvent`` objects directly is ten times faster than
    ``pylhe.to_awkward`` (whose ArrayBuilder fills every field of every particle).
    """
    info: list[tuple[float, float, int]] = []
    flat: list[tuple[float, float, float, float, float]] = []
    counts: list[int] = []
    weights: list[dict[str, float]] = []
    for ev in events:
        ei = ev.eventinfo
        info.append((ei.weight, ei.scale, ei.pid))
        weights.append(ev.weights)
        k = 0
        for p in ev.particles:
            if p.status == 1:
                flat.append((p.id, p.px, p.py, p.pz, p.e))
                k += 1
        counts.append(k)
    info_arr = np.array(info, dtype=np.float64).reshape(-1, 3)
    flat_arr = np.array(flat, dtype=np.float64).reshape(-1, 5)
    return {"weight": info_arr[:, 0], "scale": info_arr[:, 1],
            "process_id": info_arr[:, 2].astype(np.int32),
            "pid": flat_arr[:, 0].astype(np.int32), "px": flat_arr[:, 1], "py": flat_arr[:, 2],
            "pz": flat_arr[:, 3], "e": flat_arr[:, 4],
            "counts": np.array(counts, dtype=np.int64), "weights": weights}


def _columns(raw: dict[str, Any], weight_ids: dict[str, str]) -> dict[str, Any]:
    """The output columns of one batch of events (see :func:`_collect`)."""
    import awkward as ak

    counts = raw["counts"]
    with np.errstate(invalid="ignore", divide="ignore"):
        pt = np.hypot(raw["px"], raw["py"])
        eta = np.arcsinh(raw["pz"] / pt)
        phi = np.arctan2(raw["py"], raw["px"])

    def jag(values: np.ndarray) -> Any:
        return ak.unflatten(values, counts)

    values = {"pid": raw["pid"], "px": raw["px"], "py": raw["py"], "pz": raw["pz"],
              "e": raw["e"], "pt": pt, "eta": eta, "phi": phi}
    part = ak.zip({f: jag(values[f]) for f in _PART_FIELDS})

    apid = np.abs(raw["pid"])
    lep = jag(np.isin(apid, LEPTONS))
    parton = jag(np.isin(apid, PARTONS))

    leps = part[lep]
    leps = leps[ak.argsort(leps.pt, axis=1, ascending=False)]
    lead = ak.pad_none(leps, 2, axis=1, clip=True)

    def two(field: str) -> np.ndarray:
        return ak.to_numpy(ak.fill_none(lead[field], np.nan)).astype(np.float64)

    lpx, lpy, lpz, le = two("px"), two("py"), two("pz"), two("e")
    lpt, leta = two("pt"), two("eta")
    pair = _pair_observables(lpx.sum(axis=1), lpy.sum(axis=1), lpz.sum(axis=1), le.sum(axis=1))

    parton_pt = part.pt[parton]
    n = len(counts)
    cols: dict[str, Any] = {"weight": raw["weight"]}
    for wid, name in weight_ids.items():
        cols[name] = np.fromiter((row.get(wid, np.nan) for row in raw["weights"]), np.float64,
                                 n)
    cols["scale"] = raw["scale"]
    cols["process_id"] = raw["process_id"]
    cols["part"] = part
    cols.update(pair)
    cols.update({
        "lep1_pt": lpt[:, 0], "lep1_eta": leta[:, 0],
        "lep2_pt": lpt[:, 1], "lep2_eta": leta[:, 1],
        "jet1_pt": ak.to_numpy(ak.fill_none(ak.max(parton_pt, axis=1), 0.0)).astype(np.float64),
        "n_partons": ak.to_numpy(ak.num(parton_pt, axis=1)).astype(np.int32),
        "n_leptons": ak.to_numpy(ak.num(leps, axis=1)).astype(np.int32),
        "HT": ak.to_numpy(ak.sum(parton_pt, axis=1)).astype(np.float64),
    })
    return cols


def _open_lhe(path: Path) -> Any:
    import pylhe

    try:
        with warnings.catch_warnings():
            warnings.filterwarnings("error", message="Parse Error", category=RuntimeWarning)
            return pylhe.LHEFile.fromfile(path)
    except FileNotFoundError:
        raise InputFileNotFoundError(str(path)) from None
    except (ValueError, RuntimeWarning, EOFError, OSError, zlib.error) as err:
        raise BadInputError(f"{str(path)!r} is not a readable LHE file: "
                            f"{_first_line(err)}") from None


def _first_line(err: BaseException) -> str:
    text = str(err).strip().splitlines()
    return text[0] if text else type(err).__name__


def lhe_batches(lhe_path: str | os.PathLike, *, batch_size: int = _BATCH
                ) -> Iterator[dict[str, Any]]:
    r"""Yields the output columns of :func:`convert_lhe` for batches of ``batch_size`` events.

    Arguments:
        lhe_path: The ``.lhe`` or ``.lhe.gz`` file.
        batch_size: Events per batch (memory grows with it).
    """
    path = _check_input(lhe_path)
    yield from _batches(_open_lhe(path), path, batch_size)


def _check_input(lhe_path: str | os.PathLike) -> Path:
    path = Path(lhe_path)
    if not path.exists():
        raise InputFileNotFoundError(str(path))
    if path.is_dir():
        raise InputFileNotFoundError(str(path), "it is a directory, not a file")
    return path


def _batches(lhef: Any, path: Path, batch_size: int) -> Iterator[dict[str, Any]]:
    if int(batch_size) < 1:
        raise BadInputError(f"batch_size must be >= 1, not {batch_size}")
    header_ids = lhef.header.initrwgt.list_weights_ids() if lhef.header is not None else []
    weight_ids: dict[str, str] | None = None
    unknown: set[str] = set()
    events = lhef.events
    parsed = [0]  # events parsed so far (for the message of a malformed file)

    def counted(it: Iterator[Any]) -> Iterator[Any]:
        for ev in it:
            parsed[0] += 1
            yield ev

    try:
        while True:
            try:
                with warnings.catch_warnings():
                    warnings.filterwarnings("error", message="Parse Error",
                                            category=RuntimeWarning)
                    raw = _collect(counted(itertools.islice(events, int(batch_size))))
            except (ValueError, IndexError, KeyError, RuntimeWarning, EOFError, OSError,
                    zlib.error) as err:
                reason = _first_line(err)
                if isinstance(err, (IndexError, ValueError)):
                    reason = (f"event {parsed[0] + 1} has a line with too few or non-numeric "
                              f"values ({reason})")
                raise BadInputError(f"malformed LHE file {str(path)!r} after {parsed[0]} "
                                    f"events: {reason}") from None
            rows = raw["weights"]
            n = len(rows)
            if n == 0:
                return
            if weight_ids is None:  # the weight branches: the header's and the first batch's
                ordered = list(dict.fromkeys(header_ids + [k for r in rows for k in r]))
                taken: set[str] = set()
                weight_ids = {wid: _sanitise(wid, taken) for wid in ordered}
            new = {k for r in rows for k in r} - set(weight_ids) - unknown
            if new:
                unknown |= new
                log.warning("%s: weights %s first appear after the first batch of events; "
                            "they are not written", path, sorted(new))
            yield _columns(raw, weight_ids)
    finally:
        if hasattr(events, "close"):
            events.close()  # closes pylhe's file when stopped early


def convert_lhe(lhe_path: str | os.PathLike, root_path: str | os.PathLike, *,
                tree: str = "events", force: bool = False,
                batch_size: int = _BATCH, format: str = "ttree") -> dict[str, Any]:
    r"""Converts an LHE file to a ROOT TTree (see the module docstring for the branches).

    The events are read in batches and appended to the tree, so memory does not grow with
    the file; the output appears at ``root_path`` only when complete.

    Arguments:
        lhe_path: The ``.lhe`` or ``.lhe.gz`` file.
        root_path: The ROOT file to write.
        tree: The TTree name.
        force: Whether an existing ``root_path`` may be replaced.
        batch_size: Events converted at a time.

    Returns:
        A summary: ``input``, ``output``, ``tree``, ``n_events``, ``n_negative``,
        ``negative_fraction``, ``sum_weights``, ``sum_weights_squared``, ``n_eff``,
        ``weights`` (the weight branches), ``weight_values`` (the distinct values of
        ``weight`` when there are at most 10, else None), ``n_without_lepton_pair``,
        ``branches``, ``xsecup_pb`` (the sum of XSECUP of the ``<init>`` block).

    References:
        J. Alwall et al., "A standard format for Les Houches Event Files",
        Comput. Phys. Commun. 176 (2007) 300, arXiv:hep-ph/0609017;
        J. R. Andersen et al., "Les Houches 2013: Physics at TeV colliders: Standard Model
        working group report" (LHE 3.0 weights), arXiv:1405.1067.
    """
    root_path = Path(root_path)
    check_output(root_path, force)
    lhe_path = _check_input(lhe_path)
    lhef = _open_lhe(lhe_path)
    xsec = float(sum(p.xSection for p in lhef.init.procInfo))
    config = {"input": str(lhe_path), "output": str(root_path), "tree": tree,
              "batch_size": int(batch_size)}
    n = n_neg = n_nopair = 0
    sum_w = sum_w2 = 0.0
    distinct: set[float] = set()
    names: list[str] = []
    bar = progress(desc="converting LHE events", unit="ev")
    with bar, EventWriter(root_path, tree, force=force, format=format,
                          metadata=provenance(None, config)) as out:
        for cols in _batches(lhef, lhe_path, batch_size):
            w = cols["weight"]
            n += len(w)
            n_neg += int(np.count_nonzero(w < 0))
            sum_w += float(w.sum())
            sum_w2 += float(np.dot(w, w))
            n_nopair += int(np.count_nonzero(cols["n_leptons"] < 2))
            if len(distinct) <= _MAX_DISTINCT:
                distinct.update(np.unique(w).tolist())
            if not names:
                names = list(cols)
            out.write(cols)
            bar.update(len(w))
        if n == 0:
            raise BadInputError(f"no events in the LHE file {str(lhe_path)!r}")
    branches = [b for name in names for b in
                (["npart"] + [f"part_{f}" for f in _PART_FIELDS] if name == "part" else [name])]
    summary = {
        "input": str(lhe_path),
        "output": str(root_path),
        "tree": tree,
        "n_events": n,
        "n_negative": n_neg,
        "negative_fraction": n_neg / n,
        "sum_weights": sum_w,
        "sum_weights_squared": sum_w2,
        "n_eff": sum_w ** 2 / sum_w2 if sum_w2 > 0 else 0.0,
        "weights": [b for b in names if b == "weight" or b.startswith("rwgt_")],
        "weight_values": sorted(distinct) if len(distinct) <= _MAX_DISTINCT else None,
        "n_without_lepton_pair": n_nopair,
        "xsecup_pb": xsec,
        "branches": branches,
    }
    log.info("converted %d events (%d negative) from %s to %s", n, n_neg, lhe_path, root_path)
    return summary
