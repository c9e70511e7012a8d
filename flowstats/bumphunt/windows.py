r"""Signal-region windows of a bump hunt: one window, or a scan of sliding windows."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from ..exceptions import BadInputError

__all__ = ["make_windows", "parse_range"]

#: LHCO-style scan default: 0.4 TeV wide windows stepped by 0.1 TeV
DEFAULT_WIDTH = 400.0
DEFAULT_STEP = 100.0


def parse_range(text: str | Sequence[float], what: str = "range") -> tuple[float, float]:
    r"""Parses ``"lo:hi"`` (or a pair) into floats with ``lo < hi``.

    Arguments:
        text: ``"3300:3700"`` or ``(3300, 3700)``.
        what: The option's name, for the message.
    """
    if isinstance(text, str):
        parts = text.replace(",", ":").split(":")
        if len(parts) != 2:
            raise BadInputError(f"{what} {text!r}: expected LO:HI, e.g. 3300:3700")
        try:
            lo, hi = float(parts[0]), float(parts[1])
        except ValueError:
            raise BadInputError(f"{what} {text!r}: LO and HI must be numbers") from None
    else:
        if len(text) != 2:
            raise BadInputError(f"{what} {list(text)!r}: expected two numbers [lo, hi]")
        lo, hi = float(text[0]), float(text[1])
    if not (np.isfinite(lo) and np.isfinite(hi)) or lo >= hi:
        raise BadInputError(f"{what} {lo:g}:{hi:g}: need finite LO < HI")
    return lo, hi


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
