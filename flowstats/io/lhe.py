r"""Les Houches event files (``.lhe``, ``.lhe.gz``) to ROOT TTrees, with pylhe.

:func:`convert_lhe` streams the events in batches (parsed by ``pylhe.LHEFile.fromfile``)
and writes one TTree with

* ``weight``: the event weight XWGTUP; ``rwgt_<id>``: every ``<rwgt>`` (or ``<weights>``)
  weight as its own branch, the id sanitised to ``[A-Za-z0-9_]``; ``scale`` (SCALUP) and
  ``process_id`` (IDPRUP);
* the final-state (status 1) particles as jagged branches sharing the counter ``npart``:
  ``part_pid, part_px, part_py, part_pz, part_e, part_pt, part_eta, part_phi`` (GeV);
* observables for the common case of a lepton pair plus jets. Leptons are the charged
  leptons (``|pid|`` = 11, 13, 15) of the final state, ordered by pT; partons are the final-state
  quarks (``|pid|`` 1-6) and gluons:

  - ``m_ll, pT_ll, y_ll, phi_ll``: mass, transverse momentum, rapidity and azimuth of the two
    leading leptons (NaN when an event has fewer than two; ``n_leptons`` says how many);
  - ``lep1_pt, lep1_eta, lep2_pt, lep2_eta`` (NaN when missing);
  - ``jet1_pt``: the leading parton's pT, 0 for events without a parton;
  - ``n_partons``, ``n_leptons``;
  - ``HT``: the scalar sum of the partons' pT (the leptons are not included; 0 without
    partons), as in MadGraph's ``ihtmin``/``ihtmax`` cuts.

* the whole event record, so that the file can be written back as LHE
  (:func:`~flowstats.io.lhe_writing.write_lhe`) and showered as complete events:

  - ``aqed``, ``aqcd``: AQEDUP and AQCDUP of the event line;
  - ``attr_<name>``: the attributes of the ``<event>`` tag whose values are integers in every
    event of the first batch (int32; FxFx files: ``attr_npLO``, ``attr_npNLO``, which Pythia's
    FxFx merging reads). An event without the attribute, or with a non-integer value, gets
    :data:`ATTR_MISSING` (-2147483648), which the LHE writer leaves out. Attributes that are not
    integers, or first appear after the first batch, are not written (with a log warning);
  - every particle (incoming, intermediate, final) as jagged branches sharing the counter
    ``nup`` (NUP): ``lhe_pid, lhe_status, lhe_mother1, lhe_mother2, lhe_color1, lhe_color2``
    (int32: IDUP, ISTUP, MOTHUP, ICOLUP) and ``lhe_px, lhe_py, lhe_pz, lhe_e, lhe_m,
    lhe_lifetime, lhe_spin`` (float64: PUP, VTIMUP, SPINUP).

Stored next to the tree as TObjStrings: the provenance (flowstats and package versions, input,
options) as ``flowstats_provenance``; and, verbatim, the text between ``<LesHouchesEvents>`` and
``<init>`` (the ``<header>`` element and any comments; whitespace around it removed) as
``lhe_header``, the ``<init>`` block (tags included) as ``lhe_init``, the ``version`` of
``<LesHouchesEvents>`` as ``lhe_version``, and the ``<rwgt>`` weight ids of the ``rwgt_*``
branches (JSON, branch -> id) as ``lhe_weight_ids``; see
:func:`~flowstats.io.lhe_writing.read_lhe_blocks`. The original ``<event>`` text other than
the above (``<scales>``, ``#`` comment lines, ``<mgrwt>``) is not kept.
"""

from __future__ import annotations

import gzip
import itertools
import json
import logging
import operator
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
from .lhe_writing import (
    ATTR_MISSING,
    ATTR_PREFIX,
    COUNTER,
    INT_FIELDS,
    LHE_KEYS,
    PARTICLE_FIELDS,
    RECORD,
    LHEWriter,
    build_init,
    read_lhe_blocks,
    write_lhe,
)
from .writing import EventWriter

log = logging.getLogger(__name__)

__all__ = ["ATTR_MISSING", "LEPTONS", "PARTONS", "LHEWriter", "build_init", "convert_lhe",
           "lhe_batches", "lhe_columns", "read_lhe_blocks", "write_lhe"]

#: ``|PDG id|`` of the charged leptons used for the pair observables
LEPTONS = (11, 13, 15)
#: ``|PDG id|`` of the partons (quarks and gluons) used for the jet observables
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


_GET_PARTICLE = operator.attrgetter("id", "status", "mother1", "mother2", "color1", "color2",
                                    "px", "py", "pz", "e", "m", "lifetime", "spin")


def _collect(events: Iterator[Any]) -> dict[str, Any]:
    """Plain arrays of a batch of pylhe events (all particles flattened).

    Reading the parsed ``pylhe.LHEEvent`` objects directly is ten times faster than
    ``pylhe.to_awkward`` (whose ArrayBuilder fills every field of every particle).
    """
    info: list[tuple[float, float, int, float, float]] = []
    particles: list[list[Any]] = []
    counts: list[int] = []
    weights: list[dict[str, float]] = []
    attributes: list[dict[str, str]] = []
    for ev in events:
        ei = ev.eventinfo
        info.append((ei.weight, ei.scale, ei.pid, ei.aqed, ei.aqcd))
        weights.append(ev.weights)
        attributes.append(ev.attributes)
        particles.append(ev.particles)
        counts.append(len(ev.particles))
    info_arr = np.array(info, dtype=np.float64).reshape(-1, 5)
    nf = len(PARTICLE_FIELDS)
    values = itertools.chain.from_iterable(map(_GET_PARTICLE,
                                               itertools.chain.from_iterable(particles)))
    flat_arr = np.fromiter(values, np.float64, sum(counts) * nf).reshape(-1, nf)
    record = {f: (flat_arr[:, j].astype(np.int32) if f in INT_FIELDS else flat_arr[:, j])
              for j, f in enumerate(PARTICLE_FIELDS)}
    counts_arr = np.array(counts, dtype=np.int64)
    final = record["status"] == 1
    event_of = np.repeat(np.arange(len(counts_arr)), counts_arr)
    return {"weight": info_arr[:, 0], "scale": info_arr[:, 1],
            "process_id": info_arr[:, 2].astype(np.int32),
            "aqed": info_arr[:, 3], "aqcd": info_arr[:, 4],
            "pid": record["pid"][final], "px": record["px"][final],
            "py": record["py"][final], "pz": record["pz"][final], "e": record["e"][final],
            "counts": np.bincount(event_of[final], minlength=len(counts_arr)).astype(np.int64),
            "record": record, "record_counts": counts_arr,
            "weights": weights, "attributes": attributes}


def lhe_columns(raw: dict[str, Any], weight_ids: dict[str, str],
                attrs: dict[str, np.ndarray] | None = None) -> dict[str, Any]:
    r"""The ROOT columns :func:`convert_lhe` writes for one batch of events.

    Arguments:
        raw: The batch as ``_collect`` gathers it from pylhe events: per-event ``weight``,
            ``scale``, ``process_id``, ``aqed``, ``aqcd``, ``weights`` (``[{id: value}]``),
            the final-state particles' flat ``pid``, ``px``, ``py``, ``pz``, ``e`` with their
            ``counts`` per event, and the whole record ``record`` (``{field: flat array}``)
            with ``record_counts``.
        weight_ids: ``{LHE weight id: branch name}`` of the reweighting weights.
        attrs: The ``attr_*`` columns (event attributes), if any.
    """
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
    cols["aqed"] = raw["aqed"]
    cols["aqcd"] = raw["aqcd"]
    cols.update(attrs or {})
    record_counts = raw["record_counts"]
    cols[RECORD] = ak.zip({f: ak.unflatten(raw["record"][f], record_counts)
                           for f in PARTICLE_FIELDS})
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


def _int_attribute(value: str) -> int | None:
    """The value of an event attribute as an int32; None when it is no integer (or out of
    the int32 range, or the sentinel :data:`ATTR_MISSING`)."""
    try:
        v = int(value)
    except (TypeError, ValueError):
        return None
    return v if ATTR_MISSING < v <= np.iinfo(np.int32).max else None


class _Attributes:
    """The ``attr_*`` columns: the integer attributes of the first batch's event tags."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.names: list[str] | None = None
        self.reported: set[str] = set()
        self.cache: dict[str, int | None] = {}

    def _value(self, text: str) -> int | None:
        try:
            return self.cache[text]
        except KeyError:
            v = self.cache[text] = _int_attribute(text)
            if len(self.cache) > 100_000:
                self.cache.clear()
            return v

    def _warn(self, names: set[str], why: str) -> None:
        names = names - self.reported
        if names:
            self.reported |= names
            log.warning("%s: event attributes %s %s; they are not written", self.path,
                        sorted(names), why)

    def columns(self, rows: list[dict[str, str]]) -> dict[str, np.ndarray]:
        index: dict[tuple[tuple[str, str], ...], int] = {}
        distinct: list[dict[str, str]] = []  # few: each is parsed once
        which = np.empty(len(rows), dtype=np.int64)
        for i, r in enumerate(rows):
            key = tuple(r.items())
            k = index.get(key)
            if k is None:
                k = index[key] = len(distinct)
                distinct.append(r)
            which[i] = k
        seen = {k for r in distinct for k in r}
        if self.names is None:
            bad = {k for r in distinct for k, v in r.items() if self._value(v) is None}
            self._warn(bad, "are not integers in every event of the first batch")
            self.names = [k for k in dict.fromkeys(k for r in distinct for k in r)
                          if k not in bad and re.fullmatch(r"[A-Za-z_][A-Za-z0-9_.-]*", k)]
            self._warn(seen - bad - set(self.names), "have names unfit for a branch")
        else:
            self._warn(seen - set(self.names), "first appear after the first batch of events")
        table = np.full((len(distinct), len(self.names)), ATTR_MISSING, dtype=np.int32)
        invalid = np.zeros(table.shape, dtype=bool)
        for i, r in enumerate(distinct):
            for j, name in enumerate(self.names):
                if name in r:
                    v = self._value(r[name])
                    invalid[i, j] = v is None
                    table[i, j] = ATTR_MISSING if v is None else v
        out = {}
        for j, name in enumerate(self.names):
            n_bad = int(invalid[which, j].sum())
            if n_bad:
                log.warning("%s: event attribute %r is not an integer in %d events; they "
                            "get %d", self.path, name, n_bad, ATTR_MISSING)
            out[ATTR_PREFIX + name] = table[which, j]
        return out


def _batches(lhef: Any, path: Path, batch_size: int, info: dict[str, Any] | None = None
             ) -> Iterator[dict[str, Any]]:
    if int(batch_size) < 1:
        raise BadInputError(f"batch_size must be >= 1, not {batch_size}")
    header_ids = lhef.header.initrwgt.list_weights_ids() if lhef.header is not None else []
    weight_ids: dict[str, str] | None = None
    unknown: set[str] = set()
    attributes = _Attributes(path)
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
                if info is not None:
                    info["weight_ids"] = dict(weight_ids)
            new = {k for r in rows for k in r} - set(weight_ids) - unknown
            if new:
                unknown |= new
                log.warning("%s: weights %s first appear after the first batch of events; "
                            "they are not written", path, sorted(new))
            yield lhe_columns(raw, weight_ids, attributes.columns(raw["attributes"]))
    finally:
        if hasattr(events, "close"):
            events.close()  # closes pylhe's file when stopped early


_LHE_OPEN = re.compile(r"<LesHouchesEvents\b[^>]*>")
_VERSION = re.compile(r"""\bversion\s*=\s*["']([^"']*)["']""")
_INIT_OPEN = re.compile(r"<init\b[^>]*>")
_RAW_LIMIT = 256 * 2**20  # bytes of header read at most


def _raw_blocks(path: Path) -> dict[str, str]:
    r"""The LHE version, the text before ``<init>`` (the ``<header>``) and the ``<init>``
    block of an LHE file, verbatim (without the whitespace around them)."""
    with open(path, "rb") as fh:
        gz = fh.read(2) == b"\x1f\x8b"
    opener: Any = gzip.open if gz else open
    buf = bytearray()
    found = None
    try:
        with opener(path, "rb") as fh:
            while found is None and len(buf) < _RAW_LIMIT:
                chunk = fh.read(1 << 16)
                if not chunk:
                    break
                buf += chunk
                if b"</init>" in buf[-(len(chunk) + 7):]:
                    found = _find_blocks(buf.decode("utf-8", errors="replace"))
    except (OSError, EOFError, zlib.error) as err:
        raise BadInputError(f"{str(path)!r} is not a readable LHE file: "
                            f"{_first_line(err)}") from None
    if found is None:
        raise BadInputError(f"no <init> block found in the first {len(buf)} bytes of "
                            f"{str(path)!r}")
    return found


def _find_blocks(text: str) -> dict[str, str] | None:
    opening = _LHE_OPEN.search(text)
    start = opening.end() if opening else 0
    version = _VERSION.search(opening.group(0)) if opening else None
    hdr = text.find("<header", start)
    init = None
    if hdr >= 0:
        end = text.find("</header>", hdr)
        if end < 0:
            return None
        init = _INIT_OPEN.search(text, end)
    if init is None:
        init = _INIT_OPEN.search(text, start)
    if init is None:
        return None
    close = text.find("</init>", init.end())
    if close < 0:
        return None
    return {"version": version.group(1) if version else "",
            "header": text[start:init.start()].strip(),
            "init": text[init.start():close + len("</init>")]}


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
        A summary with ``input``, ``output``, ``tree``, ``n_events``, ``n_negative``,
        ``negative_fraction``, ``sum_weights``, ``sum_weights_squared``, ``n_eff``,
        ``weights`` (the weight branches), ``weight_values`` (the distinct values of
        ``weight`` when there are at most 10, else None), ``n_without_lepton_pair``,
        ``branches``, ``xsecup_pb`` (the sum of XSECUP of the ``<init>`` block),
        ``attributes`` (the ``attr_*`` branches), ``lhe_version``.

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
    blocks = _raw_blocks(lhe_path)
    xsec = float(sum(p.xSection for p in lhef.init.procInfo))
    config = {"input": str(lhe_path), "output": str(root_path), "tree": tree,
              "batch_size": int(batch_size)}
    n = n_neg = n_nopair = 0
    sum_w = sum_w2 = 0.0
    distinct: set[float] = set()
    names: list[str] = []
    info: dict[str, Any] = {}
    batches = _batches(lhef, lhe_path, batch_size, info)
    first = next(batches, None)
    if first is None:
        raise BadInputError(f"no events in the LHE file {str(lhe_path)!r}")
    strings = {LHE_KEYS["header"]: blocks["header"], LHE_KEYS["init"]: blocks["init"],
               LHE_KEYS["version"]: blocks["version"],
               LHE_KEYS["weight_ids"]: json.dumps({name: wid for wid, name
                                                   in info["weight_ids"].items()})}
    bar = progress(desc="converting LHE events", unit="ev")
    with bar, EventWriter(root_path, tree, force=force, format=format,
                          metadata=provenance(None, config), strings=strings,
                          counters={RECORD: COUNTER}) as out:
        for cols in itertools.chain([first], batches):
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
    records = {"part": ["npart"] + [f"part_{f}" for f in _PART_FIELDS],
               RECORD: [COUNTER] + [f"{RECORD}_{f}" for f in PARTICLE_FIELDS]}
    branches = [b for name in names for b in records.get(name, [name])]
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
        "attributes": [b for b in names if b.startswith(ATTR_PREFIX)],
        "lhe_version": blocks["version"],
    }
    log.info("converted %d events (%d negative) from %s to %s", n, n_neg, lhe_path, root_path)
    return summary
