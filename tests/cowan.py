"""Cowan's closed-form discovery significance of a counting experiment, for the tests."""

from __future__ import annotations

import numpy as np


def cowan_z(s, b, sigma=None):
    r"""Z of ``n = s + b`` observed over ``b``, with an on/off background uncertainty ``sigma``.

    References:
        G. Cowan et al., arXiv:1007.1727, eq. (97); G. Cowan, "Discovery sensitivity for a
        counting experiment with background uncertainty" (2012).
    """
    if sigma is None:
        return np.sqrt(2 * ((s + b) * np.log(1 + s / b) - s))
    v = sigma**2
    return np.sqrt(2 * ((s + b) * np.log((s + b) * (b + v) / (b**2 + (s + b) * v))
                        - b**2 / v * np.log(1 + v * s / (b * (b + v)))))
