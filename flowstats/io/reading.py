r"""Reading events: ROOT TTrees or RNTuples (and LHE files) in, :class:`Events` out.

``read_events`` turns one or several ROOT files (or LHE files, converted on the fly) into an
(n, d) float64 feature matrix with per-event weights and the entry numbers of the events in
the input. Reading is chunked (each tree's ``iterate``), so :func:`iter_events` streams a file
larger than memory; ``read_events`` fills one preallocated matrix (no per-chunk copies when no
cut is given). Files ending in ``.lhe``/``.lhe.gz`` are converted with
:func:`flowstats.io.lhe.convert_lhe` into a temporary ROOT file first. RNTuples are read like
TTrees; their cuts are evaluated here (uproot's RNTuple reader ignores ``cut=``).

Every problem with the input raises a :mod:`flowstats.exceptions` class with a one-line message:
a missing, empty, truncated, corrupted or non-ROOT file, a missing tree (the trees that exist
are listed, each with its kind), a missing branch (the closest names are suggested), a jagged
branch where a flat one is needed, NaN/inf values (counted per branch), no events (also after
the cut) and a sum of weights <= 0.
"""

from __future__ import annotations

import contextlib
import glob
import logging
import os
import tempfile
import time
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from .._utils import progress
from ..exceptions import (
    BadInputError,
    BranchNotFoundError,
    DamagedFileError,
    FlowstatsError,
    InputFileNotFoundError,
    JaggedBranchError,
    NonFiniteError,
    TreeNotFoundError,
    WeightSumError,
)
from .events import Events

log = logging.getLogger(__name__)

__all__ = ["READ_STEP_SIZE", "STEP_SIZE", "expand_paths", "get_tree", "is_lhe", "iter_events",
           "list_branches", "list_trees", "open_root", "read_events"]

PathLike = str | os.PathLike

#: default chunk size (uncompressed array bytes per chunk, or a number of entries). A chunked
#: pass peaks at about 8x this (compressed and decompressed baskets, the arrays, the float64
#: matrix of the chunk and of the one before); 20 MB reads as fast as uproot's 100 MB default
STEP_SIZE = "20 MB"
#: default chunk size of :func:`read_events`, which holds all events anyway: fewer, larger
#: chunks (the transient memory, ~8x this, stays small next to a large result)
READ_STEP_SIZE = "50 MB"

_TREE_CLASSES = ("TTree", "TNtuple", "TNtupleD")
_RNTUPLE_CLASSES = ("ROOT::RNTuple",)
_LHE_SUFFIXES = (".lhe", ".lhe.gz", ".lhe.gzip")
_GLOB_CHARS = frozenset("*?[")


# --------------------------------------------------------------------------------------------
# opening inputs
# --------------------------------------------------------------------------------------------


def expand_paths(paths: PathLike | Iterable[PathLike]) -> list[Path]:
    r"""Paths, a path, or glob patterns -> an ordered list of existing files.

    A pattern (with ``*``, ``?`` or ``[``) that is not itself an existing path expands to its
    matches, sorted; raises :class:`~flowstats.exceptions.InputFileNotFoundError` for a
    missing file, a directory or a pattern without matches, and
    :class:`~flowstats.exceptions.BadInputError` when no path is given.
    """
    if isinstance(paths, (str, os.PathLike)):
        paths = [paths]
    out: list[Path] = []
    for p in paths:
        text = os.fspath(p)
        if not os.path.exists(text) and _GLOB_CHARS & set(text):
            hits = sorted(glob.glob(text))
            if not hits:
                raise InputFileNotFoundError(text, "no file matches this pattern")
            out.extend(Path(h) for h in hits)
        else:
            out.append(Path(text))
    if not out:
        raise BadInputError("no input files given")
    for path in out:
        if not path.exists():
            raise InputFileNotFoundError(str(path))
        if path.is_dir():
            raise InputFileNotFoundError(str(path), "it is a directory, not a file")
    return out


def is_lhe(path: Path) -> bool:
    r"""Whether ``path`` names a Les Houches file (``.lhe``, ``.lhe.gz``, ``.lhe.gzip``)."""
    return path.name.lower().endswith(_LHE_SUFFIXES)


def _header_problem(path: Path) -> str | None:
    r"""What is wrong with a local file as a ROOT file, from its size and header; None if fine.

    A ROOT file starts with ``root``, its format version (4 bytes, big-endian), the offset of
    its first record (4 bytes) and its end ``fEND`` (4 bytes, 8 from version 1000000 on): a
    file shorter than ``fEND`` was cut off (an interrupted copy or write).
    """
    try:
        size = path.stat().st_size
        with open(path, "rb") as fh:
            head = fh.read(20)
    except OSError:
        return None  # not a local file (or unreadable): uproot says why
    if size == 0:
        return "the file is empty (0 bytes)"
    if head[:4] != b"root":
        return (f"not a ROOT file (a ROOT file starts with 'root'; this one with "
                f"{head[:4]!r}, {size} bytes)")
    if len(head) < 20:
        return f"truncated: {size} bytes, shorter than a ROOT file header"
    version = int.from_bytes(head[4:8], "big")
    end = int.from_bytes(head[12:20] if version >= 1_000_000 else head[12:16], "big")
    if size < end:
        return (f"truncated: its header says it ends at byte {end} but it has {size} bytes "
                "(an interrupted copy or write?)")
    return None


def _read_errors() -> tuple[type[BaseException], ...]:
    """What uproot raises on damaged content (beyond OSError and ValueError)."""
    import zlib

    import uproot

    return (OSError, ValueError, zlib.error, uproot.deserialization.DeserializationError)


def open_root(path: PathLike, display: str | None = None) -> Any:
    r"""Opens a ROOT file with uproot (use it as a context manager), with the package's
    one-line errors: :class:`~flowstats.exceptions.InputFileNotFoundError` for a missing file,
    :class:`~flowstats.exceptions.DamagedFileError` for an empty, truncated or foreign one.

    Arguments:
        path: The ROOT file.
        display: How the file is named in error messages (default: ``path``).
    """
    import uproot

    display = display or str(path)
    problem = _header_problem(Path(path))
    if problem:
        raise DamagedFileError(display, problem)
    try:
        return uproot.open(path)
    except FileNotFoundError:
        raise InputFileNotFoundError(display) from None
    except _read_errors() as err:
        raise DamagedFileError(display, str(err) or type(err).__name__) from None


def _tree_names(file: Any) -> list[str]:
    return [k.rsplit(";", 1)[0] for k, c in file.classnames().items()
            if c in _TREE_CLASSES + _RNTUPLE_CLASSES]


def _tree_kinds(file: Any) -> dict[str, str]:
    r"""``{name: "TTree" | "RNTuple"}`` of the event tables in a ROOT file."""
    return {k.rsplit(";", 1)[0]: "RNTuple" if c in _RNTUPLE_CLASSES else "TTree"
            for k, c in file.classnames().items() if c in _TREE_CLASSES + _RNTUPLE_CLASSES}


def _is_rntuple(t: Any) -> bool:
    import uproot

    return isinstance(t, uproot.behaviors.RNTuple.RNTuple)


def get_tree(file: Any, tree: str, display: str) -> Any:
    r"""The TTree or RNTuple ``tree`` of an open ROOT file (:func:`open_root`);
    :class:`~flowstats.exceptions.TreeNotFoundError` (listing the file's trees) if it has none
    of that name.

    Arguments:
        file: The open file.
        tree: The TTree (RNTuple) name.
        display: How the file is named in error messages.
    """
    import uproot

    try:
        obj = file[tree]
    except uproot.KeyInFileError:
        raise TreeNotFoundError(tree, display, _tree_names(file), _tree_kinds(file)) from None
    if not isinstance(obj, (uproot.behaviors.TTree.TTree, uproot.behaviors.RNTuple.RNTuple)):
        raise TreeNotFoundError(tree, display, _tree_names(file), _tree_kinds(file))
    return obj


def list_trees(path: PathLike) -> list[str]:
    r"""Returns the names of the TTrees and RNTuples in a ROOT file.

    Arguments:
        path: The ROOT file.
    """
    (path,) = expand_paths(path)
    with open_root(path) as file:
        return _tree_names(file)


def list_branches(path: PathLike, tree: str) -> dict[str, str]:
    r"""Returns the branches of a TTree (fields of an RNTuple) as ``{name: C++ type name}``
    (``float[]`` or ``std::vector<float>`` is jagged).

    Arguments:
        path: The ROOT file.
        tree: The TTree name.
    """
    (path,) = expand_paths(path)
    with open_root(path) as file:
        t = get_tree(file, tree, str(path))
        return {k: t[k].typename for k in t.keys(recursive=True)}


def _check_flat_field(field: Any, name: str, where: str, role: str) -> np.dtype:
    """The numpy dtype of a flat numeric RNTuple field, else a one-line error."""
    import awkward as ak

    form = field.to_akform()
    form = form[0] if isinstance(form, tuple) else form
    if isinstance(form, ak.forms.RecordForm) and len(form.contents) == 1:
        form = form.contents[0]
    if isinstance(form, (ak.forms.ListOffsetForm, ak.forms.ListForm)):
        raise JaggedBranchError(
            f"{role} field {name!r} in {where} is jagged ({field.typename}: a variable number "
            "of values per event); a flat field with one number per event is needed "
            "(derive one, e.g. the leading value, and write it as its own field)")
    if isinstance(form, ak.forms.NumpyForm) and not form.inner_shape:
        dtype = np.dtype(ak.types.numpytype.primitive_to_dtype(form.primitive))
        if dtype.kind in "biuf":
            return dtype
    raise BadInputError(f"{role} field {name!r} in {where} is not a number per event "
                        f"({field.typename}); a numeric field is needed")


def _check_flat(branch: Any, name: str, where: str, role: str) -> np.dtype:
    """The numpy dtype of a flat numeric branch (or RNTuple field), else a one-line error."""
    import uproot

    if isinstance(branch, uproot.behaviors.RNTuple.HasFields) and not isinstance(
            branch, uproot.behaviors.TBranch.TBranch):
        return _check_flat_field(branch, name, where, role)
    interp = branch.interpretation
    if isinstance(interp, uproot.AsJagged):
        raise JaggedBranchError(
            f"{role} branch {name!r} in {where} is jagged ({branch.typename}: a variable number "
            "of values per event); a flat branch with one number per event is needed "
            "(derive one, e.g. the leading value, and write it as its own branch)")
    if isinstance(interp, uproot.AsDtype):
        dtype = interp.to_dtype
        if dtype.shape != ():
            raise BadInputError(f"{role} branch {name!r} in {where} holds a fixed-size array "
                                f"({branch.typename}); a branch with one number per event "
                                "is needed")
        if dtype.kind in "biuf":
            return dtype
    raise BadInputError(f"{role} branch {name!r} in {where} is not numeric "
                        f"({branch.typename}); a numeric branch is needed")


@dataclass
class _Source:
    path: Path          # the ROOT file read (a temporary one for LHE input)
    display: str        # the name shown in messages (the file the user gave)
    num_entries: int
    tree: Any = None    # the TTree, while its file is held open (the first few files)
    cut_branches: tuple[str, ...] = ()  # the branches the cut reads


#: the first files stay open between checking and reading (saves reopening them)
_KEEP_OPEN = 16


def _cut_symbols(t: Any, cut: str, where: str) -> list[str]:
    import uproot

    language = uproot.language.python.PythonLanguage()
    keys = t.keys(recursive=True)
    try:
        return list(language.free_symbols(cut, keys, {}, "", ""))
    except uproot.KeyInFileError as err:
        raise BranchNotFoundError(str(err.key), f"{where} (used in the cut {cut!r})",
                                  keys) from None
    except SyntaxError as err:
        raise BadInputError(f"the cut {cut!r} is not a valid expression: {err.msg}") from None


def _where(tree: str, display: str) -> str:
    return f"tree {tree!r} of {display!r}"


@contextlib.contextmanager
def _prepared(paths: PathLike | Iterable[PathLike], tree: str, features: list[str],
              weight: str | None, cut: str | None) -> Iterator[list[_Source]]:
    """Opens and checks every input once; LHE files are converted to temporary ROOT files."""
    if isinstance(features, str):
        features = [features]
    if not features:
        raise BadInputError("no features asked for")
    if len(set(features)) != len(features):
        raise BadInputError(f"features repeat: {features}")
    files = expand_paths(paths)
    with contextlib.ExitStack() as stack:
        sources = []
        tmpdir: Path | None = None
        for path in files:
            display = str(path)
            if is_lhe(path):
                from .lhe import convert_lhe

                if tmpdir is None:
                    tmpdir = Path(stack.enter_context(
                        tempfile.TemporaryDirectory(prefix="flowstats-lhe-")))
                root = tmpdir / f"{len(sources)}.root"
                convert_lhe(path, root, tree=tree)
                path = root
            keep = len(sources) < _KEEP_OPEN
            file = open_root(path, display)
            if keep:
                stack.enter_context(file)
            with contextlib.nullcontext() if keep else file:
                t = get_tree(file, tree, display)
                where = _where(tree, display)
                keys = t.keys(recursive=True)
                for name, role in [(f, "feature") for f in features] + [(weight, "weight")]:
                    if name is None:
                        continue
                    if name not in keys:
                        raise BranchNotFoundError(name, where, keys)
                    _check_flat(t[name], name, where, role)
                cut_branches = _cut_symbols(t, cut, where) if cut is not None else []
                for name in cut_branches:
                    _check_flat(t[name], name, where, "cut")
                sources.append(_Source(path, display, int(t.num_entries), t if keep else None,
                                       tuple(cut_branches)))
        yield sources


def _describe(sources: list[_Source], tree: str) -> str:
    if len(sources) == 1:
        return _where(tree, sources[0].display)
    return f"tree {tree!r} of {sources[0].display!r} and {len(sources) - 1} more file(s)"


# --------------------------------------------------------------------------------------------
# reading
# --------------------------------------------------------------------------------------------

_CUT_ALIAS = "_flowstats_cut_"
_BLOCK_BYTES = 1 << 20  # row blocks of this size are filled at a time (see _fill)


def _chunks(sources: list[_Source], tree: str, features: list[str], weight: str | None,
            cut: str | None, step_size: int | str,
            ) -> Iterator[tuple[int, dict[str, np.ndarray], np.ndarray | None, _Source]]:
    """Yields (global entry start, arrays, cut mask or None, source) per chunk.

    Each file is read with its TTree's ``iterate`` (what :func:`uproot.iterate` does per
    file), reusing the file opened by :func:`_prepared` when it is still open.
    """
    expressions = list(features)
    if weight is not None and weight not in expressions:
        expressions.append(weight)
    aliases = None
    if cut is not None:
        expressions.append(_CUT_ALIAS)
        aliases = {_CUT_ALIAS: cut}
    offset = 0
    for src in sources:
        if src.num_entries == 0:
            continue
        with contextlib.ExitStack() as stack:
            t = src.tree
            if t is None:
                t = get_tree(stack.enter_context(open_root(src.path, src.display)), tree,
                              src.display)
            yield from _tree_chunks(t, src, offset, expressions, aliases, cut, tree,
                                    step_size)
        offset += src.num_entries


def _aligned_step(t: Any, branches: list[str], step_size: int | str) -> int | str:
    """A size step (``"20 MB"``) as a whole number of baskets, when the baskets are uniform.

    A chunk ending inside a basket makes uproot copy that basket's part of both chunks;
    ending chunks on basket boundaries avoids that work. Integer steps are kept as given.
    """
    import uproot

    if isinstance(step_size, (int, np.integer)):
        return int(step_size)
    if _is_rntuple(t):
        return step_size
    try:
        target = uproot._util.memory_size(step_size)
    except (TypeError, ValueError):
        raise BadInputError(f"step_size must be a number of entries or a size like '20 MB', "
                            f"not {step_size!r}") from None
    bytes_per_entry = sum(t[b].interpretation.to_dtype.itemsize for b in branches)
    entries = max(1, round(target / max(bytes_per_entry, 1)))
    offsets = np.asarray(t.common_entry_offsets(filter_name=branches))
    sizes = np.diff(offsets)
    if len(sizes) > 1 and np.all(sizes[:-1] == sizes[0]) and sizes[-1] <= sizes[0]:
        return int(sizes[0]) * max(1, round(entries / int(sizes[0])))
    return entries


def _rntuple_cut(cut: str, arrays: Mapping[str, np.ndarray], where: str) -> np.ndarray:
    r"""Evaluates a cut on the arrays of an RNTuple chunk, as uproot does on a TTree.

    uproot's RNTuple reader ignores ``cut=`` (it returned every event of a 1M-event RNTuple for
    ``mjj > 3000``): flowstats evaluates the same expression, with the functions of uproot's
    Python expression language (``sqrt``, ``abs``, ``log``, ``where``, ...), on the chunk.
    """
    import uproot

    functions = dict(uproot.language.python.PythonLanguage().functions)
    try:
        code = compile(cut, "<cut>", "eval")
        return np.asarray(eval(code, {"__builtins__": {}, **functions}, dict(arrays)))
    except Exception as err:  # a bad expression is the user's input
        raise BadInputError(f"cannot evaluate the cut {cut!r} in {where}: "
                            f"{type(err).__name__}: {err}") from None


def _tree_chunks(t: Any, src: _Source, offset: int, expressions: list[str],
                 aliases: dict[str, str] | None, cut: str | None, tree: str,
                 step_size: int | str,
                 ) -> Iterator[tuple[int, dict[str, np.ndarray], np.ndarray | None, _Source]]:
    branches = [e for e in expressions if e != _CUT_ALIAS] + list(src.cut_branches)
    step = _aligned_step(t, list(dict.fromkeys(branches)), step_size)
    rntuple = _is_rntuple(t)
    if rntuple:  # plain field names only; the cut is evaluated here (see _rntuple_cut)
        it = t.iterate(list(dict.fromkeys(branches)), step_size=step, library="np",
                       report=True)
    else:
        it = t.iterate(expressions, aliases=aliases, step_size=step, library="np",
                       report=True)
    read_only = set(branches) - set(expressions)  # cut branches that are not features
    while True:
        try:
            arrays, report = next(it)
        except StopIteration:
            return
        except FlowstatsError:
            raise
        except _read_errors() as err:
            raise DamagedFileError(src.display, f"reading {_where(tree, src.display)} failed: "
                                   f"{err or type(err).__name__}") from None
        mask = None
        if cut is not None:
            if rntuple:
                mask = _rntuple_cut(cut, arrays, _where(tree, src.display))
                for name in read_only:
                    arrays.pop(name, None)
            else:
                mask = arrays.pop(_CUT_ALIAS)
            if mask.dtype != np.bool_ or mask.ndim != 1:
                raise BadInputError(f"the cut {cut!r} does not give one True/False per event "
                                    f"in {_where(tree, src.display)} (compare with <, >, ==; "
                                    "combine with &, |, ~)")
        yield offset + int(report.tree_entry_start), arrays, mask, src
        arrays.clear()  # uproot keeps its dict until the next chunk: free the arrays now


def _nonfinite_rows(arrays: Mapping[str, np.ndarray], names: list[str],
                    counts: dict[str, int], mask: np.ndarray | None) -> np.ndarray | None:
    """Bool mask of rows (inside ``mask``) with NaN/inf in any of ``names``, None if none.

    Adds the number of bad values per branch to ``counts``.
    """
    bad = None
    for name in names:
        col = arrays[name]
        if col.dtype.kind != "f":
            continue
        finite = np.isfinite(col)
        if finite.all():
            continue
        b = ~finite
        if mask is not None:
            b &= mask
        nb = int(np.count_nonzero(b))
        if nb:
            counts[name] = counts.get(name, 0) + nb
            bad = b if bad is None else (bad | b)
    return bad


def _fill(out: np.ndarray, arrays: Mapping[str, np.ndarray], names: list[str],
          idx: np.ndarray | None = None, *, check: bool = False) -> bool:
    """``out[i, j] = arrays[names[j]][idx[i]]`` (``[i]`` without idx), in row blocks.

    Writing a strided column of a large C-ordered matrix touches every cache line of the
    matrix once per column; writing blocks of rows that fit in the L2 cache is about twice as
    fast. With ``check``, returns whether every value written is finite (tested per block
    while it is in cache).
    """
    n, d = out.shape
    step = max(4096, _BLOCK_BYTES // (8 * max(d, 1)))
    finite = True
    for s in range(0, n, step):
        e = min(s + step, n)
        block = out[s:e]
        sel = slice(s, e) if idx is None else idx[s:e]
        for j, name in enumerate(names):
            block[:, j] = arrays[name][sel]
        if check and finite:
            finite = bool(np.isfinite(block).all())
    return finite


def _nonfinite_message(nrows: int, counts: Mapping[str, int], where: str) -> str:
    detail = ", ".join(f"{k}: {v}" for k, v in counts.items())
    return f"{nrows} events have NaN or infinite values in {where} ({detail})"


def _check_nonfinite_option(nonfinite: str) -> None:
    if nonfinite not in ("raise", "drop"):
        raise BadInputError(f"nonfinite must be 'raise' or 'drop', not {nonfinite!r}")


def read_events(paths: PathLike | Iterable[PathLike], tree: str, features: list[str],
                weight: str | None = None, cut: str | None = None, *,
                nonfinite: str = "raise", step_size: int | str = READ_STEP_SIZE,
                check_weights: bool = True) -> Events:
    r"""Reads flat branches of one or several ROOT (or LHE) files into an :class:`Events`.

    The files are read chunk by chunk (uproot's ``TTree.iterate``, the engine of
    :func:`uproot.iterate`), filling one preallocated float64 matrix in cache-sized blocks;
    with a cut, the selected rows of each chunk are gathered and joined once at the end.
    All inputs are checked (files, tree, branches, cut) before anything is read.

    Arguments:
        paths: A file, a glob pattern, or a list of them (read in the order given; files
            ending in ``.lhe``/``.lhe.gz`` are converted with :func:`flowstats.io.lhe.convert_lhe`).
        tree: The TTree name.
        features: The flat branches forming the columns of ``x``.
        weight: The flat weight branch, or None for unit weights.
        cut: A selection in uproot's expression language over the tree's branches, e.g.
            ``"(NMuon >= 2) & (MET_px > 0)"``, or None.
        nonfinite: ``"raise"`` (default) to refuse NaN/inf in features or weights, ``"drop"``
            to drop those events with a logged warning.
        step_size: Chunk size: a number of entries or an uncompressed size like ``"50 MB"``
            (the default, :data:`READ_STEP_SIZE`; rounded to whole baskets).
        check_weights: Whether a sum of weights <= 0 raises :class:`WeightSumError`.
    """
    _check_nonfinite_option(nonfinite)
    features = [features] if isinstance(features, str) else list(features)
    t0 = time.perf_counter()
    with _prepared(paths, tree, features, weight, cut) as sources:
        total = sum(s.num_entries for s in sources)
        where = _describe(sources, tree)
        if total == 0:
            raise BadInputError(f"no events in {where}")
        rows = _Rows(total, features, weight, nonfinite, prealloc=cut is None)
        bar = progress(total=total, desc="reading events", unit="ev")
        try:
            for start, arrays, mask, _src in _chunks(sources, tree, features, weight, cut,
                                                     step_size):
                bar.update(len(arrays[features[0]]))
                rows.add(start, arrays, mask)
        finally:
            bar.close()
        n_bad, counts = rows.n_bad, rows.counts
        if n_bad and nonfinite == "raise":
            raise NonFiniteError(_nonfinite_message(n_bad, counts, where)
                                 + "; select them away with a cut (--cut), or drop them "
                                   "(nonfinite='drop' in Python, --nonfinite drop in convert)")
        if n_bad:
            log.warning("dropped %d events with NaN or infinite values in %s (%s)", n_bad, where,
                        ", ".join(f"{k}: {v}" for k, v in counts.items()))
        x, w, entries = rows.finish()
        if rows.pos == 0:
            if cut is not None and n_bad == 0:
                raise BadInputError(f"no events pass the cut {cut!r} (0 of {total} in {where})")
            raise BadInputError(f"no events left in {where} after dropping {n_bad} with "
                                "NaN or infinite values" + (f" and the cut {cut!r}" if cut
                                                            else ""))
        events = Events(x, features, w if w is not None else np.ones(rows.pos), entries)
        if check_weights and weight is not None:
            _check_weight_sum(events.sum_weights, weight, where)
    log.info("read %d of %d events (%d features) from %s in %.2f s", len(events), total,
             len(features), where, time.perf_counter() - t0)
    return events


class _Rows:
    r"""The rows :func:`read_events` keeps, chunk by chunk.

    Without a cut (``prealloc``) the number of rows is known: they are written in place into
    preallocated arrays, compacted in place once a row is dropped. With a cut the selected rows
    of each chunk are gathered and joined once at the end.
    """

    def __init__(self, total: int, features: list[str], weight: str | None, nonfinite: str,
                 *, prealloc: bool) -> None:
        self.total, self.features, self.weight, self.nonfinite = total, features, weight, nonfinite
        self.checked = features + ([weight] if weight is not None and weight not in features
                                   else [])
        self.d = len(features)
        self.counts: dict[str, int] = {}
        self.n_bad = 0
        self.prealloc = prealloc
        self.pos = 0
        self.compacting = False  # becomes true once a row is dropped (prealloc mode)
        if prealloc:  # upper bound known: fill in place, compact only if rows are dropped
            self.x = np.empty((total, self.d))
            self.w = np.empty(total) if weight is not None else None
            self.kept_entries: list[np.ndarray] = []  # filled once rows are dropped
        else:
            self.xs: list[np.ndarray] = []
            self.ws: list[np.ndarray] = []
            self.es: list[np.ndarray] = []

    def _in_place(self, arrays: Mapping[str, np.ndarray], size: int) -> np.ndarray | None:
        r"""The fast path: every row of the chunk, written in place; finiteness is checked on
        the blocks while they are in cache, counted only if needed. Returns the mask of the
        rows to keep when some are dropped (from then on the rows are compacted), else None."""
        pos = self.pos
        finite = _fill(self.x[pos:pos + size], arrays, self.features, check=True)
        if self.w is not None:
            wcol = arrays[self.weight]
            self.w[pos:pos + size] = wcol
            finite = finite and bool(np.isfinite(wcol).all())
        if finite:
            self.pos += size
            return None
        bad = _nonfinite_rows(arrays, self.checked, self.counts, None)
        self.n_bad += int(np.count_nonzero(bad))
        if self.nonfinite == "raise":
            self.pos += size
            return None
        self.compacting = True
        self.kept_entries.append(np.arange(pos, dtype=np.int64))
        return ~bad

    def add(self, start: int, arrays: Mapping[str, np.ndarray], mask: np.ndarray | None
            ) -> None:
        r"""Keeps the rows of one chunk (``mask``: the cut's selection, None for all)."""
        size = len(arrays[self.features[0]])
        if self.prealloc and not self.compacting:
            mask = self._in_place(arrays, size)
            if mask is None:
                return
        else:
            bad = _nonfinite_rows(arrays, self.checked, self.counts, mask)
            if bad is not None:
                self.n_bad += int(np.count_nonzero(bad))
                if self.nonfinite == "drop":
                    mask = ~bad if mask is None else (mask & ~bad)
        idx = np.flatnonzero(mask) if mask is not None else np.arange(size)
        k, pos, weight = len(idx), self.pos, self.weight
        if self.prealloc:  # rows were dropped: compact in place from here on
            _fill(self.x[pos:pos + k], arrays, self.features, idx)
            if self.w is not None:
                self.w[pos:pos + k] = arrays[weight][idx]
            self.kept_entries.append(start + idx)
        elif k:
            block = np.empty((k, self.d))
            _fill(block, arrays, self.features, idx)
            self.xs.append(block)
            if weight is not None:
                self.ws.append(np.asarray(arrays[weight][idx], dtype=np.float64))
            self.es.append(start + idx)
        self.pos += k

    def finish(self) -> tuple[np.ndarray, np.ndarray | None, np.ndarray]:
        r"""The features, the weights (None without a weight branch) and the entry numbers."""
        d, pos = self.d, self.pos
        if not self.prealloc:
            x = np.concatenate(self.xs) if self.xs else np.empty((0, d))
            w = np.concatenate(self.ws) if (self.weight is not None and self.ws) else None
            entries = np.concatenate(self.es) if self.es else np.empty(0, dtype=np.int64)
            return x, w, entries
        x, w = self.x, self.w
        if not self.kept_entries:
            return x, w, np.arange(self.total, dtype=np.int64)
        x.resize((pos, d), refcheck=False)  # rows were dropped
        if w is not None:
            w.resize((pos,), refcheck=False)
        return x, w, np.concatenate(self.kept_entries)


def _check_weight_sum(sum_w: float, weight: str, where: str) -> None:
    if not sum_w > 0:
        raise WeightSumError(f"the sum of the weights {weight!r} in {where} is {sum_w:.6g} "
                             "(it must be > 0 to describe a density)")


def iter_events(paths: PathLike | Iterable[PathLike], tree: str, features: list[str],
                weight: str | None = None, cut: str | None = None, *,
                step_size: int | str = STEP_SIZE, nonfinite: str = "raise") -> Iterator[Events]:
    r"""Yields the events chunk by chunk (one :class:`Events` per chunk read), for streaming.

    Memory stays bounded by the chunk size, whatever the size of the input. Chunks left empty
    by the cut are skipped. Entries are global across the files, as in :func:`read_events`.
    With ``nonfinite="raise"`` the first chunk holding NaN/inf raises (with its counts).
    The sum of the weights is not checked (a single chunk may legitimately sum to <= 0).

    Arguments:
        paths: A file, a glob pattern, or a list of them.
        tree: The TTree name.
        features: The flat branches forming the columns of ``x``.
        weight: The flat weight branch, or None for unit weights.
        cut: A selection expression (see :func:`read_events`), or None.
        step_size: Chunk size: a number of entries or an uncompressed size like ``"20 MB"``
            (the default, :data:`STEP_SIZE`; rounded to whole baskets; a pass peaks at about
            8 times this in memory).
        nonfinite: ``"raise"`` or ``"drop"`` (see :func:`read_events`).
    """
    _check_nonfinite_option(nonfinite)
    features = [features] if isinstance(features, str) else list(features)
    with _prepared(paths, tree, features, weight, cut) as sources:
        where = _describe(sources, tree)
        total = sum(s.num_entries for s in sources)
        if total == 0:
            raise BadInputError(f"no events in {where}")
        checked = features + ([weight] if weight is not None and weight not in features else [])
        n_out = 0
        n_dropped = 0
        for start, arrays, mask, src in _chunks(sources, tree, features, weight, cut,
                                                step_size):
            counts: dict[str, int] = {}
            bad = _nonfinite_rows(arrays, checked, counts, mask)
            if bad is not None:
                nb = int(np.count_nonzero(bad))
                if nonfinite == "raise":
                    size = len(arrays[features[0]])
                    raise NonFiniteError(
                        _nonfinite_message(nb, counts, _where(tree, src.display))
                        + f" (entries {start}-{start + size - 1}); select them away with a cut "
                        "(--cut), or drop them (nonfinite='drop' in Python, --nonfinite drop in "
                        "convert)")
                n_dropped += nb
                mask = ~bad if mask is None else (mask & ~bad)
            if mask is None:
                x = np.empty((len(arrays[features[0]]), len(features)))
                _fill(x, arrays, features)
                w = arrays[weight] if weight is not None else None
                entries = np.arange(start, start + len(x), dtype=np.int64)
            else:
                idx = np.flatnonzero(mask)
                if len(idx) == 0:
                    continue
                x = np.empty((len(idx), len(features)))
                _fill(x, arrays, features, idx)
                w = arrays[weight][idx] if weight is not None else None
                entries = start + idx
            n_out += len(x)
            yield Events(x, list(features), w, entries)
        if n_dropped:
            log.warning("dropped %d events with NaN or infinite values in %s", n_dropped, where)
        if n_out == 0:
            if cut is not None:
                raise BadInputError(f"no events pass the cut {cut!r} (0 of {total} in {where})")
            raise BadInputError(f"no events left in {where} after dropping {n_dropped} with "
                                "NaN or infinite values")
