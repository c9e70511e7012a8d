r"""Classifier refinement: generated events reweighted to the training events, unweighted again.

A flow trained by weighted maximum likelihood has a density :math:`q` that differs from the
weighted training events' :math:`p` by more than their statistical noise: on the nlo toy its
mis-modelling, not the training statistics, decided what a 1e6-event sample was worth (an
amplification :math:`N_\mathrm{eq}(\infty)/N_\mathrm{eq,train}` of 0.3-0.45; issue 29). A
classifier that tells generated events (label 0) from the training events (label 1, with their
weights) estimates :math:`r(x) = p(x)/q(x) = D/(1 - D)`; generated events accepted with
probability :math:`\min(r/r_\mathrm{max}, 1)` follow :math:`q\,r = p` up to the truncation
above :math:`r_\mathrm{max}` (the ``quantile`` of :math:`r` over the generated events; the
share of the cross-section lost there is reported as ``truncated_fraction``).

**Negative weights.** The classifier sees the training events with the local mean of their
weights, :math:`\bar w(x) = |w|\,(1 - 2\,P(w < 0 \mid x))`, the positive resampler of Nachman
and Thaler, with :math:`P(w < 0 \mid x)` from a boosted-tree classifier cross-fitted over two
halves (each event's probability from the half that did not see it). The weighted sum in any
region is unchanged in expectation, and as precise as the signed weights (their "preserved
uncertainties"): measured against the nlo toy's truth, 49.8k (1D bins) and 62.7k (pairs)
equivalent events against 54.2k and 54.6k with the signed weights (3 seeds).

**What it can and cannot do.** Refinement removes most of the flow's mis-modelling; what
remains is the training events' own noise, which the classifier learns as it learns
:math:`p`. On the nlo toy (``benchmarks/bench_amplify.py``, 3 seeds) the amplification rises
from 0.62 / 0.48 (10 quantile bins per feature / 5x5 pairs) to 0.94 / 0.82 at 200k events and
from 0.68 / 0.65 to 1.09 / 1.09 at 50k: about that of a copy of the training events' weighted
histogram (0.89 / 1.11 and 0.98 / 0.88), with its seed-to-seed scatter. Beyond 1 only a model
that knows more than the events can go: with the exact :math:`P(w < 0 \mid x)` of the toy the
sign noise would drop and the training events would be worth 2.2 times more; learnt estimates
of it gain nothing at these binnings.

References:
    | B. Nachman and J. Thaler, "Neural resampler for Monte Carlo reweighting with preserved
    | uncertainties", Phys. Rev. D 102 (2020) 076004, arXiv:2007.11586.
    | A. Andreassen and B. Nachman, "Neural networks for full phase-space reweighting and
    | parameter tuning", Phys. Rev. D 101 (2020) 091901, arXiv:1907.08209.
    | B. Nachman and D. Noll, "Generative unfolding and refinement with partial unweighting",
    | arXiv:2505.03724.
"""

from __future__ import annotations

import logging
import math
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from .._binning import apply_bins, weighted_bin_edges

log = logging.getLogger(__name__)

__all__ = ["QUANTILE", "Refiner", "fit_refiner", "refine", "refine_batches",
           "smoothed_weights"]

#: quantile of the density ratio over the generated events taken as its maximum
QUANTILE = 0.999
#: generated events per training event that the ratio classifier sees (at most MAX_POOL)
POOL_FACTOR = 3
MAX_POOL = 3_000_000
#: seed offset between the pool's draws when it is drawn in parts (``max_batch``)
POOL_SEED_STRIDE = 1_000_000


def _booster(seed: int, **options: Any) -> Any:
    from sklearn.ensemble import HistGradientBoostingClassifier

    settings = {"max_iter": 300, "learning_rate": 0.05, "max_leaf_nodes": 31,
                "early_stopping": True, "validation_fraction": 0.2, "n_iter_no_change": 10,
                "random_state": seed, **options}
    return HistGradientBoostingClassifier(**settings)


def smoothed_weights(x: np.ndarray, w: np.ndarray, *, seed: int = 0) -> np.ndarray:
    r"""The weights' local mean :math:`|w|\,(1 - 2\,P(w<0 \mid x))`, cross-fitted, non-negative.

    Arguments:
        x: (n, d) events.
        w: (n,) their weights, of either sign.
        seed: Seeds the halves and the classifiers.

    Returns ``w`` itself when no weight is negative.
    """
    w = np.asarray(w, dtype=np.float64)
    negative = w < 0
    if not negative.any():
        return w
    half = np.random.default_rng([seed, 31]).permutation(len(w)) % 2
    p = np.empty(len(w))
    for k in (0, 1):
        clf = _booster(seed + k, max_iter=200, learning_rate=0.1, max_leaf_nodes=15)
        clf.fit(x[half != k], negative[half != k])
        p[half == k] = clf.predict_proba(x[half == k])[:, 1]
    return np.maximum(np.abs(w) * (1.0 - 2.0 * p), 0.0)


@dataclass
class Refiner:
    r"""The density ratio :math:`r = p/q` of the training events over the generated ones.

    Arguments:
        classifier: The fitted boosted trees (label 1: training events).
        edges: Their bin edges per feature (``flowstats._binning.weighted_bin_edges``).
        norm: Divides :math:`D/(1-D)` so that the ratio averages 1 over generated events.
        r_max: The ratio's ``quantile`` over generated events.
        info: What the summary reports.
    """

    classifier: Any
    edges: list[np.ndarray]
    norm: float
    r_max: float
    info: dict[str, Any] = field(default_factory=dict)

    def ratio(self, x: np.ndarray) -> np.ndarray:
        r"""The ratio at the events ``x`` (n, d)."""
        return _odds(self.classifier, self.edges, x) / self.norm


def _odds(classifier: Any, edges: list[np.ndarray], x: np.ndarray) -> np.ndarray:
    r""":math:`D/(1-D)` of the classifier at the events ``x``."""
    d = np.clip(classifier.predict_proba(apply_bins(edges, x))[:, 1], 1e-12, 1 - 1e-12)
    return d / (1 - d)


def fit_refiner(x_gen: np.ndarray, x_train: np.ndarray, w_train: np.ndarray, *, seed: int = 0,
                quantile: float = QUANTILE) -> Refiner:
    r"""Trains the ratio classifier: generated events against the training events.

    Arguments:
        x_gen: (m, d) generated events (a few times as many as training events).
        x_train: (n, d) training events.
        w_train: Their weights (any sign; :func:`smoothed_weights` makes them non-negative).
        seed: Seeds the classifiers.
        quantile: The ratio's quantile over generated events taken as its maximum.
    """
    t0 = time.perf_counter()
    w_bar = smoothed_weights(x_train, w_train, seed=seed)
    x = np.concatenate([x_gen, x_train])
    y = np.concatenate([np.zeros(len(x_gen), int), np.ones(len(x_train), int)])
    # both classes carry the same total weight, mean weight 1
    sw = np.concatenate([np.full(len(x_gen), 1.0 / len(x_gen)), w_bar / w_bar.sum()]) * len(x) / 2
    edges = weighted_bin_edges(x, sw, seed=seed)
    clf = _booster(seed + 2).fit(apply_bins(edges, x), y, sample_weight=sw)
    odds = _odds(clf, edges, x_gen)
    norm = float(odds.mean())
    r = odds / norm
    r_max = float(np.quantile(r, quantile))
    refiner = Refiner(clf, edges, norm, r_max, {
        "classifier": "HistGradientBoostingClassifier", "iterations": int(clf.n_iter_),
        "n_generated": len(x_gen), "n_train": len(x_train), "quantile": quantile,
        "r_max": r_max,
        "ratio_quantiles": {str(q): float(v) for q, v in
                            zip((0.001, 0.01, 0.5, 0.99), np.quantile(r, [0.001, 0.01, 0.5, 0.99]))},
        "efficiency": float(np.minimum(r / r_max, 1).mean()),
        "truncated_fraction": float(np.maximum(r - r_max, 0).mean()),
        "fit_s": time.perf_counter() - t0,
    })
    log.info("refinement: ratio classifier after %d iterations, acceptance %.3f, %.2g of the "
             "cross-section above r_max = %.3g", clf.n_iter_, refiner.info["efficiency"],
             refiner.info["truncated_fraction"], refiner.r_max)
    return refiner


def refine(sample: Callable[[int, int], np.ndarray], n: int, x_train: np.ndarray,
           w_train: np.ndarray, *, seed: int = 0, quantile: float = QUANTILE
           ) -> tuple[np.ndarray, dict[str, Any]]:
    r"""``n`` generated events reweighted to the training events and unweighted (accepted with
    probability :math:`\min(r/r_\mathrm{max}, 1)`), and what the summary reports.

    Arguments:
        sample: ``(k, seed) -> (k, d)`` draws k events from the model.
        n: Events to return.
        x_train, w_train: The training events and their weights.
        seed: Seeds the generated pool of the classifier (``seed + 2``), the classifiers and
            the acceptance; the batches after it take ``seed + 3, seed + 4, ...``.
        quantile: See :func:`fit_refiner`.
    """
    return refine_batches(sample, n, x_train, w_train, features=_identity,
                          join=np.concatenate, seed=seed, quantile=quantile)


def _identity(x: np.ndarray) -> np.ndarray:
    return x


def refine_batches(sample: Callable[[int, int], Any], n: int, x_train: np.ndarray,
                   w_train: np.ndarray, *, features: Callable[[Any], np.ndarray],
                   join: Callable[[list[Any]], Any], seed: int = 0,
                   quantile: float = QUANTILE, max_batch: int | None = None
                   ) -> tuple[Any, dict[str, Any]]:
    r""":func:`refine` for events that are more than their features (e.g. whole events,
    :class:`~.event_model.Records`): the classifier sees ``features(batch)``, and the accepted
    rows of each batch are kept whole (``batch[mask]`` or ``batch.select(mask)``).

    Arguments:
        sample: ``(k, seed) -> batch`` draws k events from the model.
        n: Events to return.
        x_train, w_train: The training events' features and their weights.
        features: ``batch -> (k, d)``, the features the classifier compares (those of
            ``x_train``, in its column order).
        join: Joins a list of batches into one.
        seed, quantile: As :func:`refine` (the same seeds, so that for plain arrays the two
            give the same events).
        max_batch: At most this many events drawn at once, for the classifier's pool and for
            the accepted events (None: the pool at once, then all that are still needed divided
            by the acceptance), so that large whole events stay within memory.
    """
    pool = int(min(max(POOL_FACTOR * len(x_train), 10_000), MAX_POOL))
    step = pool if max_batch is None else int(max_batch)
    # the pool in draws of at most max_batch events (only their features are kept); the first
    # takes seed + 2 as before, the others seeds far beyond those of the batches below
    x_pool = np.concatenate([features(sample(min(step, pool - start),
                                             seed + 2 + POOL_SEED_STRIDE * i))
                             for i, start in enumerate(range(0, pool, step))])
    refiner = fit_refiner(x_pool, x_train, w_train, seed=seed, quantile=quantile)
    rng = np.random.default_rng([seed, 37])
    kept: list[Any] = []
    n_kept = n_drawn = 0
    batch_seed = seed + 3
    while n_kept < n:
        k = int(math.ceil((n - n_kept) / max(refiner.info["efficiency"], 0.01) * 1.05)) + 100
        if max_batch is not None:
            k = min(k, int(max_batch))
        batch = sample(k, batch_seed)
        accept = rng.random(k) < refiner.ratio(features(batch)) / refiner.r_max
        kept.append(_take(batch, accept))
        n_kept += int(accept.sum())
        n_drawn += k
        batch_seed += 1
    info = {**refiner.info, "n_drawn": n_drawn, "batches": batch_seed - seed - 3}
    return _take(join(kept), np.arange(n)), info


def _take(batch: Any, rows: np.ndarray) -> Any:
    r"""The ``rows`` (a mask or indices) of a batch: an array, or an object with ``select``."""
    return batch.select(rows) if hasattr(batch, "select") else batch[rows]
