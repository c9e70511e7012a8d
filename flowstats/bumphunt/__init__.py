r"""The enhanced bump hunt: anomaly scores, selections, sideband fits, significances, limits.

See :func:`run_bumphunt`, :class:`BumpHunt` (settings in, a :class:`BumpHuntResult` out) and the
``flowstats bumphunt`` command.
"""

from __future__ import annotations

from .hunt_result import BumpHunt, BumpHuntResult
from .scan import run_bumphunt
from .windows import make_windows, parse_range

__all__ = ["BumpHunt", "BumpHuntResult", "make_windows", "parse_range", "run_bumphunt"]
