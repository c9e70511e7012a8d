r"""Events in and out: ROOT TTrees and RNTuples (and Les Houches files), one module per job.

* :mod:`.events` - the :class:`Events` container (features, weights, entry numbers);
* :mod:`.reading` - :func:`read_events`, :func:`iter_events`, :func:`list_trees`,
  :func:`list_branches` (TTree and RNTuple alike, chunked, with one-line errors);
* :mod:`.writing` - :func:`write_events`, :class:`EventWriter` (TTree by default, RNTuple on
  request; atomic);
* :mod:`.lhe` - :func:`~flowstats.io.lhe.convert_lhe`, Les Houches events to ROOT (with the
  whole event record, header and init block);
* :mod:`.lhe_writing` - :func:`~flowstats.io.lhe_writing.write_lhe`,
  :class:`~flowstats.io.lhe_writing.LHEWriter`: those columns back to a Les Houches file;
  :func:`~flowstats.io.lhe_writing.read_lhe_blocks` (also importable from ``.lhe``).

The layers import downwards only: ``lhe`` uses ``lhe_writing`` and ``writing``; ``reading``
uses ``events`` and, for LHE inputs, ``lhe``.
"""

from __future__ import annotations

from .events import Events
from .reading import (
    READ_STEP_SIZE,
    STEP_SIZE,
    PathLike,
    iter_events,
    list_branches,
    list_trees,
    read_events,
)
from .writing import BASKET_ENTRIES, FORMATS, PROVENANCE_KEY, EventWriter, write_events

__all__ = [
    "BASKET_ENTRIES",
    "FORMATS",
    "PROVENANCE_KEY",
    "READ_STEP_SIZE",
    "STEP_SIZE",
    "EventWriter",
    "Events",
    "PathLike",
    "iter_events",
    "list_branches",
    "list_trees",
    "read_events",
    "write_events",
]
