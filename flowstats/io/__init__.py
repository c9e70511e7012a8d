r"""Events in and out: ROOT TTrees and RNTuples (and Les Houches files), one module per job.

* :mod:`.events` - the :class:`Events` container (features, weights, entry numbers);
* :mod:`.reading` - :func:`read_events`, :func:`iter_events`, :func:`list_trees`,
  :func:`list_branches` (TTree and RNTuple alike, chunked, with one-line errors), and the
  building blocks other layers use: :func:`expand_paths` (paths and glob patterns to files),
  :func:`open_root` (a ROOT file, with the package's errors), :func:`get_tree`,
  :func:`is_lhe`;
* :mod:`.writing` - :func:`write_events`, :class:`EventWriter` (TTree by default, RNTuple on
  request; atomic), :class:`RootWriter` (several trees, histograms and texts in one file) and
  :func:`write_histograms` (TH1Ds): every ROOT file flowstats writes goes through them;
* :mod:`.lhe` - :func:`~flowstats.io.lhe.convert_lhe`, Les Houches events to ROOT (with the
  whole event record, header and init block); :func:`lhe_columns`, the ROOT columns of a
  batch of events;
* :mod:`.lhe_writing` - :func:`~flowstats.io.lhe_writing.write_lhe`,
  :class:`~flowstats.io.lhe_writing.LHEWriter`: those columns back to a Les Houches file;
  :func:`~flowstats.io.lhe_writing.read_lhe_blocks` (also importable from ``.lhe``).

The layers import downwards only: ``lhe`` uses ``lhe_writing`` and ``writing``; ``reading``
uses ``events`` and, for LHE inputs, ``lhe``.
"""

from __future__ import annotations

from .events import Events
from .lhe import lhe_columns
from .reading import (
    READ_STEP_SIZE,
    STEP_SIZE,
    PathLike,
    expand_paths,
    get_tree,
    is_lhe,
    iter_events,
    list_branches,
    list_trees,
    open_root,
    read_events,
)
from .writing import (
    BASKET_ENTRIES,
    FORMATS,
    PROVENANCE_KEY,
    EventWriter,
    RootWriter,
    write_events,
    write_histograms,
)

__all__ = [
    "BASKET_ENTRIES",
    "FORMATS",
    "PROVENANCE_KEY",
    "READ_STEP_SIZE",
    "STEP_SIZE",
    "EventWriter",
    "Events",
    "PathLike",
    "RootWriter",
    "expand_paths",
    "get_tree",
    "is_lhe",
    "iter_events",
    "lhe_columns",
    "list_branches",
    "list_trees",
    "open_root",
    "read_events",
    "write_events",
    "write_histograms",
]
