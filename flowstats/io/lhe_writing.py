r"""Writing Les Houches event files (``.lhe``, ``.lhe.gz``) from columns of events.

:class:`LHEWriter` (streaming, batch by batch) and :func:`write_lhe` write the columns that
:func:`flowstats.io.lhe.convert_lhe` stores in a ROOT file back as a Les Houches file, so that
"convert -> read the tree (and select, reweight or unweight) -> write LHE" keeps every field
that a shower program reads. A batch is a mapping (or an awkward record array) with

* event-level columns ``weight`` (XWGTUP), ``process_id`` (IDPRUP), ``scale`` (SCALUP),
  ``aqed`` (AQEDUP), ``aqcd`` (AQCDUP); optional ``attr_<name>`` columns (integers) written as
  attributes of the ``<event>`` tag (an event whose value is :data:`ATTR_MISSING` gets none);
  optional weights written in a ``<rwgt>`` block (see ``weight_ids``);
* jagged particle columns ``lhe_pid`` (IDUP), ``lhe_status`` (ISTUP), ``lhe_mother1``,
  ``lhe_mother2`` (MOTHUP), ``lhe_color1``, ``lhe_color2`` (ICOLUP), ``lhe_px``, ``lhe_py``,
  ``lhe_pz``, ``lhe_e``, ``lhe_m`` (PUP, GeV), and optionally ``lhe_lifetime`` (VTIMUP, 0 when
  absent) and ``lhe_spin`` (SPINUP, 9 = unknown when absent); a counter ``nup`` is checked
  when given. A record column ``lhe`` with these fields (as :func:`~flowstats.io.lhe.lhe_batches`
  yields it) does as well.

:func:`read_lhe_blocks` gives back the verbatim ``<header>`` and ``<init>`` texts, the LHE
version and the weight ids that :func:`~flowstats.io.lhe.convert_lhe` stores next to the tree.

Real numbers are written with 12 significant digits (``% .11E``), more than common generators
print (MadGraph5_aMC@NLO's Fortran writer: 8), so that every value of an input printed with at
most 12 digits is read back as the same double (a converted file written back has the values
of the original); integers go in the fixed-width columns MadGraph5_aMC@NLO uses. Event attributes are written as MadGraph writes
them (``npNLO=' 1 '``).

References:
    E. Boos et al., "Generic user process interface for event generators",
    arXiv:hep-ph/0109068 (the Les Houches accord: the meaning of every field);
    J. Alwall et al., "A standard format for Les Houches Event Files",
    Comput. Phys. Commun. 176 (2007) 300, arXiv:hep-ph/0609017;
    J. R. Andersen et al., "Les Houches 2013: Physics at TeV colliders: Standard Model
    working group report" (LHE 3.0 ``<rwgt>`` weights), arXiv:1405.1067.
"""

from __future__ import annotations

import contextlib
import gzip
import io
import json
import logging
import math
import os
import re
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any, TextIO

import numpy as np

from .._utils import atomic_path, check_output
from ..exceptions import (
    BadInputError,
    DamagedFileError,
    FlowstatsError,
    InputFileNotFoundError,
)

log = logging.getLogger(__name__)

__all__ = ["ATTR_MISSING", "ATTR_PREFIX", "COUNTER", "EVENT_FIELDS", "LHE_KEYS",
           "PARTICLE_FIELDS", "LHEWriter", "build_init", "read_lhe_blocks", "write_lhe"]

#: fields of a particle line (HEPEUP's IDUP ISTUP MOTHUP(2) ICOLUP(2) PUP(5) VTIMUP SPINUP),
#: stored as the jagged branches ``lhe_<field>``
PARTICLE_FIELDS = ("pid", "status", "mother1", "mother2", "color1", "color2",
                   "px", "py", "pz", "e", "m", "lifetime", "spin")
#: the integer particle fields (int32 branches); the others are float64
INT_FIELDS = PARTICLE_FIELDS[:6]
#: event-level columns of the event line ``NUP IDPRUP XWGTUP SCALUP AQEDUP AQCDUP`` (NUP is the
#: particle count)
EVENT_FIELDS = ("process_id", "weight", "scale", "aqed", "aqcd")
#: name of the particle record column (branches ``lhe_<field>``) and of its counter branch
RECORD = "lhe"
COUNTER = "nup"
#: prefix of the event-attribute branches (``<event npNLO=' 1 '>`` -> ``attr_npNLO``)
ATTR_PREFIX = "attr_"
#: value of an ``attr_*`` branch in an event without that attribute (or with a non-integer
#: value); :class:`LHEWriter` leaves such an attribute out
ATTR_MISSING = int(np.iinfo(np.int32).min)
#: names of the TObjStrings stored next to the tree by ``convert_lhe``
LHE_KEYS = {"header": "lhe_header", "init": "lhe_init", "version": "lhe_version",
            "weight_ids": "lhe_weight_ids"}

_DEFAULTS = {"lifetime": 0.0, "spin": 9.0}  # VTIMUP 0, SPINUP 9 (= no spin information)
_REAL = "% .11E"
_EVENT_LINE = f"%3d %6d {_REAL} {_REAL} {_REAL} {_REAL}\n"
_PARTICLE_LINE = ("%9d %2d %4d %4d %4d %4d " + " ".join([_REAL] * 7) + "\n")
_CHUNK = 20_000  # events formatted at a time (bounds the memory of the text)
_INIT_KEYS = ("beams", "energies", "pdf_groups", "pdf_sets", "idwtup", "processes")
_PROCESS_KEYS = ("xsecup", "xerrup", "xmaxup", "lprup")


# --------------------------------------------------------------------------------------------
# the <init> and <header> blocks
# --------------------------------------------------------------------------------------------


def _pair(init: Mapping[str, Any], key: str, kind: type, default: Any = None) -> tuple:
    value = init.get(key, default)
    try:
        a, b = value
        return kind(a), kind(b)
    except (TypeError, ValueError):
        raise BadInputError(f"init[{key!r}] must be a pair of {kind.__name__}s (one per beam), "
                            f"not {value!r}") from None


def build_init(init: Mapping[str, Any]) -> str:
    r"""The ``<init>`` block of a Les Houches file from a small dictionary.

    Arguments:
        init: ``beams`` (IDBMUP: the PDG ids of the two beams), ``energies`` (EBMUP, GeV),
            ``pdf_groups`` (PDFGUP, default ``(0, 0)``), ``pdf_sets`` (PDFSUP, e.g. LHAPDF ids,
            default ``(0, 0)``), ``idwtup`` (the weighting strategy IDWTUP, e.g. 3 for
            unweighted events of weight +-XWGTUP, -4 for weighted events with signs) and
            ``processes``: a list of mappings with ``xsecup``, ``xerrup`` (pb), ``xmaxup``
            and ``lprup`` (the process id used as ``process_id`` of the events).

    References:
        E. Boos et al., arXiv:hep-ph/0109068, section 2 (HEPRUP).
    """
    if not isinstance(init, Mapping):
        raise BadInputError(f"init must be the <init> block's text or a mapping, not "
                            f"{type(init).__name__}")
    unknown = sorted(set(init) - set(_INIT_KEYS))
    missing = [k for k in ("beams", "energies", "idwtup", "processes") if k not in init]
    if unknown or missing:
        raise BadInputError(f"init mapping: missing {missing}, unknown {unknown}; its keys are "
                            f"{list(_INIT_KEYS)}")
    beams = _pair(init, "beams", int)
    energies = _pair(init, "energies", float)
    groups = _pair(init, "pdf_groups", int, (0, 0))
    sets = _pair(init, "pdf_sets", int, (0, 0))
    try:
        idwtup = int(init["idwtup"])
    except (TypeError, ValueError):
        raise BadInputError(f"init['idwtup'] must be an integer, not {init['idwtup']!r}") \
            from None
    processes = init["processes"]
    if isinstance(processes, Mapping) or not isinstance(processes, Iterable):
        raise BadInputError("init['processes'] must be a list of mappings with "
                            f"{list(_PROCESS_KEYS)}")
    processes = list(processes)
    if not processes:
        raise BadInputError("init['processes'] is empty: give at least one process")
    lines = [f"{beams[0]:7d} {beams[1]:7d} {energies[0]: .11E} {energies[1]: .11E} "
             f"{groups[0]:3d} {groups[1]:3d} {sets[0]:7d} {sets[1]:7d} {idwtup:3d} "
             f"{len(processes):4d}"]
    for i, proc in enumerate(processes):
        if not isinstance(proc, Mapping) or any(k not in proc for k in _PROCESS_KEYS):
            raise BadInputError(f"init['processes'][{i}] must be a mapping with "
                                f"{list(_PROCESS_KEYS)}, not {proc!r}")
        try:
            values = [float(proc[k]) for k in _PROCESS_KEYS[:3]] + [int(proc["lprup"])]
        except (TypeError, ValueError):
            raise BadInputError(f"init['processes'][{i}] has a non-numeric value: {proc!r}") \
                from None
        lines.append(" ".join(f"{v: .11E}" for v in values[:3]) + f" {values[3]:6d}")
    return "<init>\n" + "\n".join(lines) + "\n</init>"


_INIT_OPEN = re.compile(r"<init\b[^>]*>")
_EVENT_OPEN = re.compile(r"<event[\s>]")


def _check_init_text(text: str) -> str:
    r"""The ``<init>`` block (tags added when missing), checked for a valid HEPRUP."""
    text = text.strip()
    if not _INIT_OPEN.match(text):
        text = "<init>\n" + text + "\n</init>"
    if not text.endswith("</init>"):
        raise BadInputError("the init text opens <init> but does not end with </init>")
    body = _INIT_OPEN.sub("", text, count=1)[: -len("</init>")]
    lines = [ln.split() for ln in body.splitlines()]
    lines = [ln for ln in lines if ln and not ln[0].startswith(("#", "<"))]
    problem = None
    if not lines or len(lines[0]) < 10:
        problem = "its first line must hold the 10 numbers IDBMUP(2) EBMUP(2) PDFGUP(2) " \
                  "PDFSUP(2) IDWTUP NPRUP"
    else:
        try:
            nprup = int(lines[0][9])
            [float(v) for v in lines[0][:10]]
            if nprup < 1 or len(lines) < 1 + nprup:
                problem = f"NPRUP = {nprup} but {len(lines) - 1} process lines follow"
            elif any(len(ln) < 4 for ln in lines[1:1 + nprup]):
                problem = "a process line has fewer than 4 numbers (XSECUP XERRUP XMAXUP LPRUP)"
            else:
                [float(v) for ln in lines[1:1 + nprup] for v in ln[:4]]
        except ValueError as err:
            problem = f"a non-numeric value ({err})"
    if problem:
        raise BadInputError(f"bad <init> block: {problem}")
    return text


def _header_text(header: str | None) -> str:
    if header is None:
        return ""
    if not isinstance(header, str):
        raise BadInputError(f"header must be a str, not {type(header).__name__}")
    text = header.strip()
    if text and not text.startswith("<"):  # plain text: put it in a <header> element
        text = "<header>\n" + text + "\n</header>"
    if "</LesHouchesEvents" in text or _INIT_OPEN.search(text) or _EVENT_OPEN.search(text):
        raise BadInputError("the header text contains <init>, <event> or </LesHouchesEvents>; "
                            "give only what comes before <init>")
    return text


# --------------------------------------------------------------------------------------------
# one batch of events
# --------------------------------------------------------------------------------------------


def _names(batch: Any) -> list[str]:
    import awkward as ak

    if isinstance(batch, ak.Array):
        return list(batch.fields)
    if isinstance(batch, Mapping):
        return [str(k) for k in batch]
    raise BadInputError(f"a batch of events must be a mapping of columns (or an awkward record "
                        f"array), not {type(batch).__name__}")


def _flat(name: str, col: Any) -> np.ndarray:
    import awkward as ak

    if isinstance(col, ak.Array):
        if col.ndim != 1:
            raise BadInputError(f"column {name!r} is jagged; an event-level column has one "
                                "value per event")
        col = ak.to_numpy(col)
    arr = np.asarray(col)
    if arr.ndim != 1 or arr.dtype.kind not in "biuf":
        raise BadInputError(f"column {name!r} must be a 1-d numeric array, one value per event "
                            f"(got shape {arr.shape}, dtype {arr.dtype})")
    return arr


def _jagged(name: str, col: Any) -> tuple[np.ndarray, np.ndarray]:
    r"""(counts, flat values) of a jagged column (awkward, or a numpy array of arrays)."""
    import awkward as ak

    if isinstance(col, np.ndarray) and col.dtype == object:
        counts = np.fromiter((len(x) for x in col), np.int64, len(col))
        flat = np.concatenate([np.asarray(x) for x in col]) if len(col) else np.zeros(0)
        return counts, flat
    try:
        arr = col if isinstance(col, ak.Array) else ak.Array(col)
        if arr.ndim != 2:
            raise ValueError(f"{arr.ndim} dimensions")
        return (ak.to_numpy(ak.num(arr, axis=1)).astype(np.int64),
                np.asarray(ak.to_numpy(ak.flatten(arr, axis=1))))
    except (ValueError, TypeError) as err:
        raise BadInputError(f"column {name!r} must be jagged, a list of values per event "
                            f"({str(err).splitlines()[0]})") from None


def _as_int(name: str, values: np.ndarray) -> np.ndarray:
    if values.dtype.kind in "biu":
        return values.astype(np.int64)
    if values.dtype.kind != "f" or not np.all(np.isfinite(values)) or \
            np.any(values != np.rint(values)):
        raise BadInputError(f"column {name!r} must hold integers")
    return values.astype(np.int64)


def _as_real(name: str, values: np.ndarray) -> np.ndarray:
    if values.dtype.kind not in "biuf":
        raise BadInputError(f"column {name!r} must be numeric, not {values.dtype}")
    values = values.astype(np.float64)
    bad = np.count_nonzero(~np.isfinite(values))
    if bad:
        raise BadInputError(f"column {name!r} has {bad} NaN or infinite values; an LHE file "
                            "cannot hold them")
    return values


def _particle_column(batch: Any, names: list[str], field: str) -> Any:
    if f"lhe_{field}" in names:
        return batch[f"lhe_{field}"]
    if RECORD in names:  # the record column of lhe_batches
        record = batch[RECORD]
        if field in getattr(record, "fields", ()):
            return record[field]
    return None


def _check_length(name: str, values: Any, n: int) -> None:
    if len(values) != n:
        raise BadInputError(f"column {name!r} has {len(values)} events but 'weight' has {n}")


def _event_arrays(batch: Any, n: int) -> dict[str, np.ndarray]:
    columns = {f: _flat(f, batch[f]) for f in EVENT_FIELDS}
    for f, values in columns.items():
        _check_length(f, values, n)
    return {f: _as_int(f, v) if f == "process_id" else _as_real(f, v)
            for f, v in columns.items()}


def _particle_arrays(batch: Any, names: list[str], parts: Mapping[str, Any], n: int
                     ) -> tuple[np.ndarray, dict[str, np.ndarray]]:
    r"""(particles per event, flat arrays of every particle field) of a batch."""
    counts: np.ndarray | None = None
    first = ""
    flat: dict[str, np.ndarray] = {}
    for f, col in parts.items():
        if col is None:
            continue
        c, values = _jagged(f"lhe_{f}", col)
        _check_length(f"lhe_{f}", c, n)
        if counts is None:
            counts, first = c, f
        elif not np.array_equal(c, counts):
            i = int(np.flatnonzero(c != counts)[0])
            raise BadInputError(f"columns 'lhe_{first}' and 'lhe_{f}' have different numbers "
                                f"of particles in event {i} of the batch ({counts[i]} and "
                                f"{c[i]})")
        flat[f] = (_as_int if f in INT_FIELDS else _as_real)(f"lhe_{f}", values)
    assert counts is not None
    if COUNTER in names:
        nup = _as_int(COUNTER, _flat(COUNTER, batch[COUNTER]))
        if len(nup) != n or not np.array_equal(nup, counts):
            raise BadInputError(f"column {COUNTER!r} does not match the numbers of particles "
                                f"of the lhe_* columns")
    if np.any(counts < 1):
        raise BadInputError(f"event {int(np.flatnonzero(counts < 1)[0])} of the batch has no "
                            "particles")
    for f, default in _DEFAULTS.items():
        if f not in flat:
            flat[f] = np.full(int(counts.sum()), default)
    return counts, flat


def _attribute_arrays(batch: Any, names: list[str], n: int) -> dict[str, np.ndarray]:
    out = {}
    for name in names:
        if not name.startswith(ATTR_PREFIX):
            continue
        attribute = name[len(ATTR_PREFIX):]
        if not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_.-]*", attribute):
            raise BadInputError(f"column {name!r}: {attribute!r} is not a valid XML attribute "
                                "name")
        out[attribute] = _as_int(name, _flat(name, batch[name]))
        _check_length(name, out[attribute], n)
    return out


def _rwgt_arrays(batch: Any, names: list[str], n: int, weight_ids: Mapping[str, str]
                 ) -> dict[str, np.ndarray]:
    out = {}
    for branch, wid in weight_ids.items():
        if branch in names:
            out[wid] = _flat(branch, batch[branch]).astype(np.float64)
            _check_length(branch, out[wid], n)
    return out


def _prepare(batch: Any, weight_ids: Mapping[str, str]) -> dict[str, Any]:
    r"""Checked numpy arrays of one batch (see the module docstring for the columns)."""
    names = _names(batch)
    parts = {f: _particle_column(batch, names, f) for f in PARTICLE_FIELDS}
    missing = [f for f in EVENT_FIELDS if f not in names]
    missing += [f"lhe_{f}" for f, c in parts.items() if c is None and f not in _DEFAULTS]
    if missing:
        have = [n for n in names if n.startswith("lhe_") or n in EVENT_FIELDS]
        raise BadInputError(f"the events lack the columns {missing} needed to write an LHE file "
                            f"(a ROOT file written by 'flowstats convert' of an LHE file has "
                            f"them; present: {have or 'none of them'})")
    n = len(_flat("weight", batch["weight"]))
    out: dict[str, Any] = _event_arrays(batch, n)
    out["n"] = n
    out["counts"], out["particles"] = _particle_arrays(batch, names, parts, n)
    out["attrs"] = _attribute_arrays(batch, names, n)
    out["rwgt"] = _rwgt_arrays(batch, names, n, weight_ids)
    return out


def _event_tags(attrs: Mapping[str, np.ndarray], start: int, stop: int) -> list[str]:
    if not attrs:
        return ["<event>\n"] * (stop - start)
    parts = [[f" {name}=' {v} '" if v != ATTR_MISSING else "" for v in values[start:stop].tolist()]
             for name, values in attrs.items()]
    return ["<event" + "".join(p) + ">\n" for p in zip(*parts)]


def _rwgt_blocks(rwgt: Mapping[str, np.ndarray], start: int, stop: int) -> list[str]:
    if not rwgt:
        return [""] * (stop - start)
    ids = [_xml_attr(wid) for wid in rwgt]
    columns = [values[start:stop].tolist() for values in rwgt.values()]
    blocks = []
    for row in zip(*columns):
        lines = [f"<wgt id='{wid}'> {v: .11E} </wgt>\n" for wid, v in zip(ids, row)
                 if not math.isnan(v)]
        blocks.append("<rwgt>\n" + "".join(lines) + "</rwgt>\n" if lines else "")
    return blocks


def _xml_attr(value: str) -> str:
    return (value.replace("&", "&amp;").replace("'", "&apos;").replace("<", "&lt;")
            .replace(">", "&gt;"))


def _format(batch: Mapping[str, Any], start: int, stop: int) -> str:
    r"""The text of the events ``start:stop`` of a prepared batch."""
    counts = batch["counts"]
    offsets = np.concatenate([[0], np.cumsum(counts)])
    lo, hi = int(offsets[start]), int(offsets[stop])
    p = batch["particles"]
    rows = zip(*(p[f][lo:hi].tolist() for f in PARTICLE_FIELDS))
    lines = [_PARTICLE_LINE % row for row in rows]
    heads = [_EVENT_LINE % row for row in zip(
        counts[start:stop].tolist(), batch["process_id"][start:stop].tolist(),
        *(batch[f][start:stop].tolist() for f in ("weight", "scale", "aqed", "aqcd")))]
    tags = _event_tags(batch["attrs"], start, stop)
    rwgt = _rwgt_blocks(batch["rwgt"], start, stop)
    out: list[str] = []
    bounds = (offsets[start:stop + 1] - lo).tolist()
    for i in range(stop - start):
        out.append(tags[i])
        out.append(heads[i])
        out.extend(lines[bounds[i]:bounds[i + 1]])
        out.append(rwgt[i])
        out.append("</event>\n")
    return "".join(out)


# --------------------------------------------------------------------------------------------
# the writer
# --------------------------------------------------------------------------------------------


class LHEWriter:
    r"""Writes a Les Houches event file batch by batch; the file appears at ``path`` only when
    complete.

    Use it as a context manager; each :meth:`write` appends a batch of events (the columns of
    the module docstring). The file is gzip-compressed when ``path`` ends in ``.gz``. If the
    block raises, or nothing was written, nothing is left at ``path``.

    Arguments:
        path: The ``.lhe`` or ``.lhe.gz`` file to write.
        init: The ``<init>`` block: its text (verbatim, e.g. from :func:`read_lhe_blocks`;
            the tags are added when missing) or a mapping (see :func:`build_init`).
        header: Text written between ``<LesHouchesEvents>`` and ``<init>`` (verbatim when it
            starts with ``<``, e.g. a ``<header>`` element, else put in a ``<header>``).
        force: Whether an existing ``path`` may be replaced.
        version: The ``version`` attribute of ``<LesHouchesEvents>``.
        weight_ids: Column -> weight id: these columns are written as ``<wgt id='...'>`` in a
            ``<rwgt>`` block of every event (NaN values are left out); the header should
            declare the ids (an ``<initrwgt>`` block).
        compresslevel: The gzip level of ``.gz`` outputs (1 fastest - 9 smallest).

    References:
        J. Alwall et al., "A standard format for Les Houches Event Files", arXiv:hep-ph/0609017.
    """

    def __init__(self, path: str | os.PathLike, *, init: str | Mapping[str, Any],
                 header: str | None = None, force: bool = False, version: str = "3.0",
                 weight_ids: Mapping[str, str] | None = None, compresslevel: int = 6) -> None:
        self.path = Path(path)
        self.force = force
        if isinstance(init, str):
            self.init = _check_init_text(init)
        else:
            self.init = build_init(init)
        self.header = _header_text(header)
        if not re.fullmatch(r"[0-9A-Za-z._-]+", str(version)):
            raise BadInputError(f"bad LHE version {version!r} (e.g. '3.0' or '1.0')")
        self.version = str(version)
        self.weight_ids = {str(k): str(v) for k, v in (weight_ids or {}).items()}
        self.compresslevel = int(compresslevel)
        self.num_events = 0
        self.sum_weights = 0.0
        self._stack: contextlib.ExitStack | None = None
        self._fh: TextIO | None = None
        check_output(self.path, force)

    def __enter__(self) -> LHEWriter:
        stack = contextlib.ExitStack()
        try:
            tmp = stack.enter_context(atomic_path(self.path, force=self.force))
            raw = stack.enter_context(open(tmp, "wb"))
            binary: Any = raw
            if self.path.name.lower().endswith((".gz", ".gzip")):
                binary = stack.enter_context(gzip.GzipFile(
                    filename=self.path.name, mode="wb", fileobj=raw,
                    compresslevel=self.compresslevel))
            self._fh = stack.enter_context(io.TextIOWrapper(binary, encoding="utf-8",
                                                            newline="\n"))
            self._fh.write(f'<LesHouchesEvents version="{self.version}">\n')
            if self.header:
                self._fh.write(self.header + "\n")
            self._fh.write(self.init + "\n")
        except BaseException:
            stack.close()
            raise
        self._stack = stack
        return self

    def write(self, batch: Mapping[str, Any] | Any) -> int:
        r"""Appends a batch of events; returns how many.

        Arguments:
            batch: Column name -> array (see the module docstring), or an awkward record
                array with these fields (e.g. a chunk of ``uproot``'s ``TTree.iterate``).
        """
        if self._fh is None:
            raise BadInputError("LHEWriter.write called outside its with-block")
        prepared = _prepare(batch, self.weight_ids)
        n = prepared["n"]
        for start in range(0, n, _CHUNK):
            self._fh.write(_format(prepared, start, min(n, start + _CHUNK)))
        self.num_events += n
        self.sum_weights += float(prepared["weight"].sum())
        return n

    def __exit__(self, *exc: Any) -> bool | None:
        stack, self._stack = self._stack, None
        fh, self._fh = self._fh, None
        if stack is None:
            return None
        if exc[0] is None and self.num_events == 0:  # leave no file without events behind
            err = BadInputError(f"no events were written to {str(self.path)!r}")
            stack.__exit__(BadInputError, err, None)
            raise err
        if exc[0] is None:
            assert fh is not None
            fh.write("</LesHouchesEvents>\n")
        return stack.__exit__(*exc)


def write_lhe(path: str | os.PathLike, events: Mapping[str, Any] | Iterable[Any], *,
              init: str | Mapping[str, Any], header: str | None = None, force: bool = False,
              version: str = "3.0", weight_ids: Mapping[str, str] | None = None
              ) -> dict[str, Any]:
    r"""Writes events as a Les Houches file (``.lhe``, or ``.lhe.gz`` by suffix), through a
    temporary file renamed when complete.

    Example (a converted file written back, e.g. after a selection)::

        blocks = read_lhe_blocks("zjets.root")
        with uproot.open("zjets.root") as f:
            write_lhe("zjets.lhe.gz", f["events"].iterate(step_size=100_000),
                      init=blocks["init"], header=blocks["header"],
                      version=blocks["version"], weight_ids=blocks["weight_ids"])

    Arguments:
        path: The output file.
        events: One batch (a mapping of columns or an awkward record array, see the module
            docstring) or an iterable of batches.
        init: The ``<init>`` block's text or a mapping (see :class:`LHEWriter`).
        header: The text before ``<init>`` (see :class:`LHEWriter`).
        force: Whether an existing ``path`` may be replaced.
        version: The ``version`` attribute of ``<LesHouchesEvents>``.
        weight_ids: Column -> ``<rwgt>`` weight id (see :class:`LHEWriter`).

    Returns:
        ``output``, ``n_events``, ``sum_weights``.
    """
    import awkward as ak

    batches = [events] if isinstance(events, (Mapping, ak.Array)) else events
    with LHEWriter(path, init=init, header=header, force=force, version=version,
                   weight_ids=weight_ids) as out:
        for batch in batches:
            out.write(batch)
    log.info("wrote %d events to %s", out.num_events, path)
    return {"output": str(path), "n_events": out.num_events, "sum_weights": out.sum_weights}


# --------------------------------------------------------------------------------------------
# the blocks stored in converted ROOT files
# --------------------------------------------------------------------------------------------


def read_lhe_blocks(root_path: str | os.PathLike) -> dict[str, Any]:
    r"""The LHE ``header``, ``init`` (verbatim texts), ``version`` and ``weight_ids`` (column
    -> ``<rwgt>`` weight id) that :func:`~flowstats.io.lhe.convert_lhe` stores next to the
    tree, ready for :func:`write_lhe`.

    Arguments:
        root_path: A ROOT file written by ``convert_lhe`` (``flowstats convert``).
    """
    import zlib

    import uproot

    path = Path(root_path)
    if not path.exists():
        raise InputFileNotFoundError(str(path))
    try:
        with uproot.open(path) as f:
            keys = {k.rsplit(";", 1)[0] for k in f.keys(recursive=False)}
            missing = [key for key in LHE_KEYS.values() if key not in keys]
            if missing:
                raise BadInputError(
                    f"{str(path)!r} has no {', '.join(missing)}: it was not converted from an "
                    "LHE file by a flowstats version that stores the LHE header and init "
                    "block; convert the LHE file again with 'flowstats convert'")
            texts = {name: str(f[key]) for name, key in LHE_KEYS.items()}
    except FlowstatsError:
        raise
    except (OSError, ValueError, zlib.error, uproot.deserialization.DeserializationError) \
            as err:
        raise DamagedFileError(str(path), str(err) or type(err).__name__) from None
    try:
        ids = json.loads(texts["weight_ids"])
    except ValueError:
        raise DamagedFileError(str(path), "its lhe_weight_ids is not JSON") from None
    return {"header": texts["header"], "init": texts["init"], "version": texts["version"],
            "weight_ids": dict(ids)}
