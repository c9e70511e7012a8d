r"""Signal-region windows of a bump hunt: one window, or a scan of sliding windows."""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np

from .._utils import parse_range
from ..exceptions import BadInputError

__all__ = ["make_windows", "parse_range", "same_value"]

#: LHCO-style scan default: 0.4 TeV wide windows stepped by 0.1 TeV
DEFAULT_WIDTH = 400.0
DEFAULT_STEP = 100.0

#: relative tolerance of :func:`same_value`: window edges and efficiencies that differ by less
#: are the same (they are written with 6 decimals at most, and read back from JSON or typed)
REL_TOLERANCE = 1e-6


def same_value(a: float, b: float) -> bool:
    r"""Whether two window edges or efficiencies are the same, within :data:`REL_TOLERANCE`
    (never by float equality: 0.2 typed and 0.2000000001 computed are one efficiency).

    Arguments:
        a, b: The values.
    """
    return math.isclose(float(a), float(b), rel_tol=REL_TOLERANCE, abs_tol=1e-12)


def make_windows(sr: Sequence[float] | None = None, scan: dict | None = None) -> list[tuple[float, float]]:
    r"""Returns the list of signal-region windows ``[(lo, hi), ...]``.

    Arguments:
        sr: One window ``(lo, hi)``.
        scan: ``{"range": (lo, hi), "windows": N | None, "width": W | None, "step": S | None}``.
            Without ``windows``, windows of ``width`` (default 400) are stepped by ``step``
            (default 100) from ``lo`` until they reach ``hi``. With ``windows`` = N, N windows of
            ``width`` (default: ``(hi - lo) / N``, i.e. adjacent) are spread evenly so that the
            first starts at ``lo`` and the last ends at ``hi``.
    """
    if sr is not None:
        return [parse_range(sr, "signal region")]
    if scan is None:
        raise BadInputError("give a signal region (--sr LO:HI) or a scan (--scan LO:HI)")
    lo, hi = parse_range(scan["range"], "scan range")
    n = scan.get("windows")
    width = scan.get("width")
    step = scan.get("step")
    if n is not None:
        n = int(n)
        if n < 1:
            raise BadInputError(f"--windows {n}: need at least one window")
        width = float(width) if width else (hi - lo) / n
        if width > hi - lo:
            raise BadInputError(f"window width {width:g} is larger than the scan range {lo:g}:{hi:g}")
        starts = np.linspace(lo, hi - width, n) if n > 1 else np.array([lo])
    else:
        width = float(width) if width else DEFAULT_WIDTH
        step = float(step) if step else DEFAULT_STEP
        if width > hi - lo:
            raise BadInputError(f"window width {width:g} is larger than the scan range {lo:g}:{hi:g}")
        count = int(np.floor((hi - lo - width) / step + 1e-9)) + 1
        starts = lo + step * np.arange(count)
    return [(round(float(s), 6), round(float(s + width), 6)) for s in starts]
