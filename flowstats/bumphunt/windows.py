r"""Signal-region windows of a bump hunt: one window, or a scan of sliding windows."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from .._utils import parse_range
from ..exceptions import BadInputError

__all__ = ["make_windows", "parse_range"]

#: LHCO-style scan default: 0.4 TeV wide windows stepped by 0.1 TeV
DEFAULT_WIDTH = 400.0
DEFAULT_STEP = 100.0


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
