r"""Writing ROOT files: written to a temporary file renamed when complete.

``write_events`` / :class:`EventWriter` write events (flat numpy or jagged awkward columns);
:class:`RootWriter` writes several objects into one file (whole TTrees or RNTuples of flat
columns, histograms as TH1D, TObjStrings); ``write_histograms`` writes a file of histograms.
An interrupted write never leaves a partial file at the output path. Every ROOT file flowstats
writes goes through this module.
"""

from __future__ import annotations

import contextlib
import json
import logging
import math
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np

from .._utils import atomic_path, check_output
from ..exceptions import BadInputError, FlowstatsError
from ..registry import WRITERS, DerivedNames, Writer

log = logging.getLogger(__name__)

__all__ = ["BASKET_ENTRIES", "FORMATS", "PROVENANCE_KEY", "EventWriter", "RootWriter",
           "check_format", "write_events", "write_histograms"]

PathLike = str | os.PathLike

#: entries per TBasket written by :class:`EventWriter` (a reader streams basket by basket)
BASKET_ENTRIES = 100_000
#: name of the TObjString holding the provenance JSON in files written with ``metadata``
PROVENANCE_KEY = "flowstats_provenance"


# --------------------------------------------------------------------------------------------
# writing
# --------------------------------------------------------------------------------------------


def _check_columns(columns: Mapping[str, Any]) -> tuple[dict[str, Any], int]:
    import awkward as ak

    if not isinstance(columns, Mapping) or not columns:
        raise BadInputError("no columns to write (give a mapping of branch name -> array)")
    out: dict[str, Any] = {}
    length = None
    for name, col in columns.items():
        if not isinstance(name, str) or not name or "/" in name or ";" in name:
            raise BadInputError(f"bad branch name {name!r} (a non-empty string without / or ;)")
        if isinstance(col, ak.Array):
            n = len(col)
        else:
            col = np.asarray(col)
            if col.ndim == 0:
                raise BadInputError(f"column {name!r} is a scalar, not an array of events")
            if col.dtype.kind not in "biuf" or col.dtype.itemsize > 8 or col.dtype == np.float16:
                raise BadInputError(f"column {name!r} has dtype {col.dtype}; a TTree branch "
                                    "holds bool, (u)int8-64, float32 or float64")
            col = np.ascontiguousarray(col)  # e.g. a column view x[:, j]
            n = len(col)
        if length is None:
            length = n
        elif n != length:
            raise BadInputError(f"column {name!r} has {n} entries but the columns before it "
                                f"have {length}")
        out[name] = col
    return out, int(length or 0)


def _create_ttree(file: Any, name: str, branches: Mapping[str, Any], *, capacity: int,
                  counter_name: Any = None) -> Any:
    r"""A TTree ``name`` in ``file`` (the :class:`~flowstats.registry.Writer` ``ttree``).

    Arguments:
        file: The open ``uproot`` file.
        name: The tree name.
        branches: Branch name -> dtype, or the first chunk of data (written).
        capacity: The initial basket capacity.
        counter_name: The namer of jagged counters (None: uproot's ``"n" + name``).
    """
    extra = {} if counter_name is None else {"counter_name": counter_name}
    return file.mktree(name, branches, initial_basket_capacity=capacity, **extra)


def _create_rntuple(file: Any, name: str, branches: Mapping[str, Any], **unused: Any) -> Any:
    r"""An RNTuple ``name`` in ``file`` (the :class:`~flowstats.registry.Writer` ``rntuple``).

    Arguments:
        file: The open ``uproot`` file.
        name: The RNTuple name.
        branches: Field name -> dtype, or the first chunk of data (written).
    """
    return file.mkrntuple(name, branches)


WRITERS.register(Writer("ttree", _create_ttree,
                        "a TTree, read by every ROOT version (the default)"))
WRITERS.register(Writer("rntuple", _create_rntuple,
                        "an RNTuple, ROOT's successor format (uproot >= 5.7 writes it)"))

#: output formats of the event writers (the names of :data:`flowstats.registry.WRITERS`): a
#: TTree (the default: every ROOT version reads it) or an RNTuple (ROOT's successor format;
#: uproot >= 5.7 writes it)
FORMATS = DerivedNames(WRITERS.names, WRITERS)


def check_format(format: str) -> str:
    r"""Returns ``format`` if it is one of :data:`FORMATS`, else a one-line error."""
    WRITERS.get(format)
    return format


class EventWriter:
    r"""Writes a TTree (or RNTuple) chunk by chunk; the file appears at ``path`` only when
    complete.

    Use it as a context manager; each :meth:`write` appends events (flat numpy or jagged
    awkward columns; the same columns every time). An awkward record array given as one
    column ``"part"`` becomes branches ``part_<field>`` sharing a counter branch ``npart``
    (``counters`` renames such a counter). If the block raises (or the process dies), nothing
    is left at ``path``.

    Arguments:
        path: The output ROOT file.
        tree: The TTree name.
        force: Whether an existing ``path`` may be replaced.
        metadata: JSON-serialisable data stored as a TObjString ``flowstats_provenance``
            next to the tree (e.g. ``flowstats._utils.provenance()``).
        strings: More texts stored as TObjStrings next to the tree, name -> text (e.g. the
            header of a converted LHE file).
        counters: Record column -> name of its counter branch (default ``"n" + column``).
        basket_entries: Entries per TBasket (chunked readers stream basket by basket).
        compression: An uproot compression (default ``uproot.ZLIB(1)``).
        format: ``"ttree"`` (default) or ``"rntuple"``.
    """

    def __init__(self, path: PathLike, tree: str = "events", *, force: bool = False,
                 metadata: Mapping[str, Any] | None = None,
                 strings: Mapping[str, str] | None = None,
                 counters: Mapping[str, str] | None = None,
                 basket_entries: int = BASKET_ENTRIES, compression: Any = None,
                 format: str = "ttree") -> None:
        if not isinstance(tree, str) or not tree or ";" in tree:
            raise BadInputError(f"bad tree name {tree!r}")
        self.format = check_format(format)
        if int(basket_entries) < 1:
            raise BadInputError(f"basket_entries must be >= 1, not {basket_entries}")
        self.path = Path(path)
        self.tree = tree
        self.force = force
        self.metadata = metadata
        self.strings = dict(strings or {})
        for key, text in self.strings.items():
            if (not isinstance(key, str) or not key or "/" in key or ";" in key
                    or key in (tree, PROVENANCE_KEY)):
                raise BadInputError(f"bad name {key!r} for a TObjString next to tree {tree!r}")
            if not isinstance(text, str):
                raise BadInputError(f"the TObjString {key!r} must be a str, not "
                                    f"{type(text).__name__}")
        self.counters = dict(counters or {})
        self.basket_entries = int(basket_entries)
        self.compression = compression
        self.num_entries = 0
        self._stack: contextlib.ExitStack | None = None
        self._file: Any = None
        self._tree: Any = None
        self._names: list[str] | None = None
        check_output(self.path, force)

    def __enter__(self) -> EventWriter:
        import uproot

        stack = contextlib.ExitStack()
        try:
            tmp = stack.enter_context(atomic_path(self.path, force=self.force))
            options = {} if self.compression is None else {"compression": self.compression}
            self._file = stack.enter_context(uproot.recreate(tmp, **options))
            if self.metadata is not None:
                from .._utils import _json_default

                self._file[PROVENANCE_KEY] = json.dumps(self.metadata, default=_json_default)
            for key, text in self.strings.items():
                self._file[key] = text
        except BaseException:
            stack.close()
            raise
        self._stack = stack
        return self

    def write(self, columns: Mapping[str, Any], *, expected_entries: int | None = None) -> None:
        r"""Appends events.

        Arguments:
            columns: Branch name -> numpy array (flat) or awkward array (jagged / records).
            expected_entries: The total number of entries still to come, when known: sizes the
                TTree's basket table once instead of growing it.
        """
        if self._file is None:
            raise BadInputError("EventWriter.write called outside its with-block")
        cols, n = _check_columns(columns)
        if self._names is None:
            self._names = list(cols)
        elif list(cols) != self._names:
            raise BadInputError(f"columns {list(cols)} differ from the first write's "
                                f"{self._names}")
        if n == 0 and self._tree is not None:
            return
        step = self.basket_entries
        for start in range(0, max(n, 1), step):
            chunk = {k: v[start:start + step] for k, v in cols.items()}
            try:
                if self._tree is None:  # creating the tree writes the first chunk
                    expected = max(n, expected_entries or 0)
                    capacity = max(10, math.ceil(expected / step) + 2)
                    self._tree = WRITERS.get(self.format).create(
                        self._file, self.tree, chunk, capacity=capacity,
                        counter_name=self._counter_name)
                else:
                    self._tree.extend(chunk)
            except FlowstatsError:
                raise
            except (ValueError, TypeError) as err:
                raise BadInputError(f"cannot write the columns to tree {self.tree!r}: "
                                    f"{str(err).splitlines()[0]}") from None
        self.num_entries += n

    def _counter_name(self, counted: str) -> str:
        return self.counters.get(counted, "n" + counted)

    def __exit__(self, *exc: Any) -> bool | None:
        stack, self._stack = self._stack, None
        tree, self._file, self._tree = self._tree, None, None
        if stack is None:
            return None
        if exc[0] is None and tree is None:  # nothing written: leave no file behind
            err = BadInputError(f"nothing was written to {str(self.path)!r}")
            stack.__exit__(BadInputError, err, None)
            raise err
        return stack.__exit__(*exc)


def write_events(path: PathLike, tree: str, columns: Mapping[str, Any], *,
                 force: bool = False, metadata: Mapping[str, Any] | None = None,
                 basket_entries: int = BASKET_ENTRIES, format: str = "ttree") -> Path:
    r"""Writes columns as a TTree (or RNTuple) to a temporary file, renamed to ``path`` when
    complete.

    Arguments:
        path: The output ROOT file.
        tree: The TTree name.
        columns: Branch name -> numpy array (flat, bool/int/float) or awkward array (jagged
            or records; a record column ``"part"`` gives branches ``part_<field>`` and a
            counter ``npart``). All of the same length.
        force: Whether an existing ``path`` may be replaced.
        metadata: JSON-serialisable provenance stored next to the tree (TObjString
            ``flowstats_provenance``).
        basket_entries: Entries per TBasket.
        format: ``"ttree"`` (default: every ROOT version reads it) or ``"rntuple"``.
    """
    cols, n = _check_columns(columns)
    with EventWriter(path, tree, force=force, metadata=metadata,
                     basket_entries=basket_entries, format=format) as writer:
        writer.write(cols)
    log.info("wrote %d events (%d branches) to %s", n, len(cols), path)
    return Path(path)


class RootWriter:
    r"""A new ROOT file of several objects, atomically: whole TTrees (or RNTuples) of flat
    columns, histograms (TH1D) and texts (TObjString).

    Use it as a context manager and add the objects in the with-block; the file appears at
    ``path`` only when the block completes (if it raises, nothing is left at ``path``).

    Arguments:
        path: The output ROOT file.
        force: Whether an existing ``path`` may be replaced.

    Example:
        >>> with RootWriter("out.root", force=True) as f:
        ...     f.tree("scores", {"score": s, "entry": entry})
        ...     f.histogram("h_mass", (counts, edges))
    """

    def __init__(self, path: PathLike, *, force: bool = False) -> None:
        self.path = check_output(Path(path), force)
        self.force = force
        self._stack: contextlib.ExitStack | None = None
        self._file: Any = None

    def __enter__(self) -> RootWriter:
        import uproot

        stack = contextlib.ExitStack()
        try:
            tmp = stack.enter_context(atomic_path(self.path, force=self.force))
            self._file = stack.enter_context(uproot.recreate(tmp))
        except BaseException:
            stack.close()
            raise
        self._stack = stack
        return self

    def __exit__(self, *exc: Any) -> bool | None:
        stack, self._stack, self._file = self._stack, None, None
        return None if stack is None else stack.__exit__(*exc)

    def _open(self) -> Any:
        if self._file is None:
            raise BadInputError("RootWriter used outside its with-block")
        return self._file

    def tree(self, name: str, columns: Mapping[str, Any], *, step_size: int = BASKET_ENTRIES,
             format: str = "ttree", progress: bool | None = False) -> int:
        r"""Writes a whole TTree (or RNTuple) of flat numpy columns; returns its entries.

        Arguments:
            name: The tree name.
            columns: Branch name -> 1-D numpy array (all of the same length; their dtypes are
                the branches' types).
            step_size: Entries per basket (written in chunks of this many).
            format: ``"ttree"`` (default) or ``"rntuple"``.
            progress: Show a progress bar (None: when stderr is a terminal).
        """
        from .._utils import progress as progress_bar

        file = self._open()
        cols = {str(k): np.asarray(v) for k, v in columns.items()}
        if not cols:
            raise BadInputError(f"no columns given for tree {name!r}")
        if int(step_size) < 1:
            raise BadInputError(f"step_size must be >= 1, got {step_size}")
        step, n = int(step_size), len(next(iter(cols.values())))
        out = WRITERS.get(check_format(format)).create(
            file, name, {k: v.dtype for k, v in cols.items()}, capacity=max(10, n // step + 2))
        for start in progress_bar(range(0, n, step), total=-(-n // step),
                                  desc=f"writing {name}", enabled=progress):
            out.extend({k: v[start:start + step] for k, v in cols.items()})
        return n

    def histogram(self, name: str, hist: Any) -> None:
        r"""Writes a histogram as a TH1D: a :class:`hist.Hist` (Weight storage keeps the sum of
        squared weights in ``fSumw2``), a ``(counts, edges)`` pair or an uproot TH1."""
        try:
            self._open()[name] = hist
        except (TypeError, ValueError) as err:
            raise BadInputError(f"cannot write {name!r} as a histogram: "
                                f"{str(err).splitlines()[0] if str(err) else type(err).__name__}"
                                ) from None

    def string(self, name: str, text: str) -> None:
        r"""Writes a text as a TObjString."""
        if not isinstance(text, str):
            raise BadInputError(f"the TObjString {name!r} must be a str, not "
                                f"{type(text).__name__}")
        self._open()[name] = text


def write_histograms(path: PathLike, hists: Mapping[str, Any], *, force: bool = False) -> Path:
    r"""Writes histograms as TH1D objects into a new ROOT file (atomically).

    Arguments:
        path: The output ROOT file.
        hists: Object name -> histogram: a :class:`hist.Hist` (Weight storage keeps the sum of
            squared weights in ``fSumw2``), a ``(counts, edges)`` pair or an uproot TH1.
        force: Whether an existing ``path`` may be replaced.

    Returns:
        The path written.
    """
    with RootWriter(path, force=force) as f:
        for name, h in hists.items():
            f.histogram(name, h)
    log.info("wrote %d histograms to %s", len(hists), path)
    return Path(path)
