r"""Signal region (SR) and sidebands in the resonant feature m.

The split by mass is the only use the weakly supervised methods make of the (truth-free) data:
the SR is a window ``[lo, hi)`` in m, the sidebands are either two adjacent bands of a given
width, ``[lo - w, lo)`` and ``[hi, hi + w)``, or everything outside the SR (``width=None``).
Events are labelled by a region code: ``1`` SR, ``0`` sideband, ``-1`` outside both.

References:
    B. Nachman, D. Shih, "Anomaly detection with density estimation" (ANODE), arXiv:2001.04990.
    A. Hallin et al., "Classifying anomalies through outer density estimation" (CATHODE),
    arXiv:2109.00546.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

import numpy as np

from .._utils import parse_range
from ..exceptions import BadInputError

log = logging.getLogger(__name__)

__all__ = ["OUTSIDE", "SIDEBAND", "SIGNAL_REGION", "Regions", "parse_window"]

SIGNAL_REGION = 1
SIDEBAND = 0
OUTSIDE = -1


def parse_window(text: str | tuple[float, float] | list[float]) -> tuple[float, float]:
    r"""Turns ``"3300:3700"`` (or a pair) into ``(3300.0, 3700.0)``.

    Arguments:
        text: ``"LO:HI"`` or a pair of numbers with ``LO < HI``.
    """
    return parse_range(text, "signal region")


@dataclass(frozen=True)
class Regions:
    r"""A signal-region window and its sidebands.

    Arguments:
        sr: ``(lo, hi)`` of the signal region, ``lo <= m < hi``.
        sideband_width: Width of each of the two sidebands adjacent to the SR; ``None`` makes
            everything outside the SR a sideband.
    """

    sr: tuple[float, float]
    sideband_width: float | None = None

    def __post_init__(self) -> None:
        object.__setattr__(self, "sr", parse_window(self.sr))
        if self.sideband_width is not None:
            w = float(self.sideband_width)
            if not np.isfinite(w) or w <= 0:
                raise BadInputError(f"sideband width {self.sideband_width!r} must be positive")
            object.__setattr__(self, "sideband_width", w)

    @property
    def sidebands(self) -> tuple[tuple[float, float], tuple[float, float]]:
        r"""The lower and upper sideband intervals (infinite when everything outside counts)."""
        lo, hi = self.sr
        w = np.inf if self.sideband_width is None else self.sideband_width
        return (lo - w, lo), (hi, hi + w)

    def codes(self, m: np.ndarray) -> np.ndarray:
        r"""Region code of every event: 1 SR, 0 sideband, -1 outside (int8 array)."""
        m = np.asarray(m, dtype=np.float64)
        lo, hi = self.sr
        (slo, _), (_, shi) = self.sidebands
        out = np.full(m.shape, OUTSIDE, dtype=np.int8)
        out[(m >= slo) & (m < shi)] = SIDEBAND
        out[(m >= lo) & (m < hi)] = SIGNAL_REGION
        return out

    def check(self, m: np.ndarray, *, min_sr: int = 100, min_sideband: int = 100,
              where: str = "the input") -> np.ndarray:
        r"""Returns :meth:`codes` after checking that both regions hold enough events.

        Arguments:
            m: The resonant feature of every event.
            min_sr: Minimum number of SR events.
            min_sideband: Minimum number of sideband events.
            where: Where the events come from, for the messages.
        """
        m = np.asarray(m, dtype=np.float64)
        codes = self.codes(m)
        lo, hi = self.sr
        n_sr = int((codes == SIGNAL_REGION).sum())
        n_sb = int((codes == SIDEBAND).sum())
        if len(m) and (m.max() < lo or m.min() >= hi):
            raise BadInputError(
                f"signal region [{lo:g}, {hi:g}) lies outside the mass range of {where} "
                f"([{m.min():g}, {m.max():g}]); check --sr and --mass")
        if n_sr < min_sr:
            raise BadInputError(
                f"signal region [{lo:g}, {hi:g}) holds {n_sr} events in {where}; at least "
                f"{min_sr} are needed (widen --sr)")
        if n_sb < min_sideband:
            (a, b), (c, d) = self.sidebands
            raise BadInputError(
                f"sidebands [{a:g}, {b:g}) and [{c:g}, {d:g}) hold {n_sb} events in {where}; at "
                f"least {min_sideband} are needed (widen --sideband-width or move --sr)")
        log.info("SR [%g, %g): %d events; sidebands: %d events", lo, hi, n_sr, n_sb)
        return codes
