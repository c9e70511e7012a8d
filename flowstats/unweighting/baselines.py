r"""Simple alternatives to flow unweighting, shown next to it in the report.

(a) :func:`drop_negatives`: keep only the positively weighted events (biased: the negative
    events cancel real over-counting of the positive ones).
(b) :func:`hit_or_miss`: keep each event with probability :math:`|w|/\max|w|` and give it the
    signed unit weight :math:`\mathrm{sign}(w) \max|w|` (unbiased, but the negative events stay
    and the effective sample size :math:`(n_+ - n_-)^2/(n_+ + n_-)` is low).
"""

from __future__ import annotations

import logging

import numpy as np

log = logging.getLogger(__name__)

__all__ = ["drop_negatives", "effective_sample_size", "hit_or_miss"]


def effective_sample_size(weights: np.ndarray) -> float:
    r"""Kish effective sample size :math:`(\sum w)^2 / \sum w^2` (0 for an empty sample).

    Arguments:
        weights: Event weights (any sign).
    """
    weights = np.asarray(weights, dtype=np.float64)
    sum_w2 = float(np.sum(weights**2))
    return float(np.sum(weights) ** 2 / sum_w2) if sum_w2 > 0 else 0.0


def drop_negatives(x: np.ndarray, weights: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    r"""Baseline (a): the events with positive weight, weights unchanged.

    Arguments:
        x: (n, d) events.
        weights: (n,) weights.
    """
    keep = np.asarray(weights) > 0
    return np.asarray(x)[keep], np.asarray(weights, dtype=np.float64)[keep]


def hit_or_miss(x: np.ndarray, weights: np.ndarray, *, seed: int = 0
                ) -> tuple[np.ndarray, np.ndarray]:
    r"""Baseline (b): :math:`|w|` hit-or-miss unweighting with signed unit weights.

    Each event is kept with probability :math:`|w_i|/\max|w|` and gets the weight
    :math:`\mathrm{sign}(w_i)\max|w|`; the expected sum of weights (and every expected histogram)
    is unchanged.

    Arguments:
        x: (n, d) events.
        weights: (n,) weights (any sign, not all zero).
        seed: Seed of the accept/reject step.
    """
    weights = np.asarray(weights, dtype=np.float64)
    scale = float(np.abs(weights).max())
    rng = np.random.default_rng(seed)
    keep = rng.random(len(weights)) * scale < np.abs(weights)
    log.debug("hit-or-miss kept %d of %d events", keep.sum(), len(weights))
    return np.asarray(x)[keep], np.sign(weights[keep]) * scale
