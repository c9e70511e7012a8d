r"""Classifier two-sample test between a weighted and a generated sample.

A gradient-boosted classifier (scikit-learn ``HistGradientBoostingClassifier``) learns to tell
generated events from the weighted reference events, with the event weights as sample weights
(each class normalised to the same total). With k-fold cross-validation every event is scored
by a classifier that did not see it; the weighted AUC of each fold measures how distinguishable
the samples are (0.5: indistinguishable). Its uncertainty is the standard deviation of the fold
AUCs divided by sqrt(k).

The weighted AUC is the Mann-Whitney probability
:math:`\sum_{i \in 1, j \in 0} w_i w_j [s_i > s_j] / (W_1 W_0)` (ties count 1/2). Computed from
sorted scores it stays defined with negative weights, where the ROC curve of scikit-learn's
``roc_auc_score`` is not monotonic and is refused.

References:
    D. Lopez-Paz and M. Oquab, "Revisiting classifier two-sample tests", ICLR 2017,
    arXiv:1610.06545.
"""

from __future__ import annotations

import logging
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np

from .._binning import apply_bins, weighted_bin_edges

log = logging.getLogger(__name__)

__all__ = ["TwoSampleResult", "classifier_two_sample_test", "weighted_auc"]


@dataclass
class TwoSampleResult:
    r"""Weighted AUC of a k-fold classifier two-sample test."""

    auc: float
    auc_error: float
    auc_std: float
    fold_aucs: list[float] = field(default_factory=list)
    n_reference: int = 0
    n_generated: int = 0
    seed: int = 0

    def as_dict(self) -> dict:
        r"""A JSON-friendly dict."""
        return asdict(self)


def weighted_auc(scores: np.ndarray, labels: np.ndarray, weights: np.ndarray | None = None
                 ) -> float:
    r"""Weighted area under the ROC curve, valid for negative weights.

    Arguments:
        scores: Classifier outputs (higher: more like class 1).
        labels: 0/1 class labels.
        weights: Event weights (any sign); None for unit weights.
    """
    scores = np.asarray(scores, dtype=np.float64)
    labels = np.asarray(labels).astype(bool)
    weights = np.ones_like(scores) if weights is None else np.asarray(weights, np.float64)
    s0, w0 = scores[~labels], weights[~labels]
    s1, w1 = scores[labels], weights[labels]
    order = np.argsort(s0, kind="stable")
    s0, w0 = s0[order], w0[order]
    cum = np.concatenate([[0.0], np.cumsum(w0)])
    below = cum[np.searchsorted(s0, s1, side="left")]
    below_or_equal = cum[np.searchsorted(s0, s1, side="right")]
    total = w1.sum() * w0.sum()
    return float(np.sum(w1 * 0.5 * (below + below_or_equal)) / total)


#: events a fold's classifier learns from at most (a seeded random subset of its training
#: folds; every held-out event is still scored). scikit-learn bins a larger training set from a
#: subset drawn with the weights as probabilities, which negative weights make impossible, and
#: the fits stay bounded at production sizes
MAX_TRAIN = 200_000


@dataclass(frozen=True)
class Booster:
    r"""The boosted classifier of :func:`classifier_two_sample_test`.

    Arguments:
        max_iter: Boosting iterations.
        learning_rate: Boosting learning rate.
        max_leaf_nodes: Leaves per tree.
        min_samples_leaf: Minimum events per leaf (large values keep leaf sums of mixed-sign
            weights positive).
    """

    max_iter: int = 200
    learning_rate: float = 0.1
    max_leaf_nodes: int = 15
    min_samples_leaf: int = 50


def classifier_two_sample_test(x_reference: np.ndarray, w_reference: np.ndarray | None,
                               x_generated: np.ndarray, w_generated: np.ndarray | None = None,
                               *, folds: int = 5, seed: int = 0, threads: int | None = 1,
                               **booster: Any) -> TwoSampleResult:
    r"""k-fold classifier test: can a boosted classifier tell the samples apart?

    Arguments:
        x_reference: (n0, d) reference events (the weighted held-out test events), label 0.
        w_reference: Their weights (any sign); None for unit weights.
        x_generated: (n1, d) generated events, label 1.
        w_generated: Their weights; None for unit weights.
        folds: Number of folds k (stratified, shuffled with ``seed``); each fold's classifier
            learns from at most :data:`MAX_TRAIN` of the other folds' events.
        seed: Seed of the fold split, of those subsets and of the classifier.
        threads: OpenMP threads of the classifier (None: scikit-learn's default, all cores).
            One by default: these fits are small, and OpenMP threads spin-waiting on a busy
            machine slow them down many times over.
        booster: The fields of :class:`Booster` (``max_iter``, ``learning_rate``,
            ``max_leaf_nodes``, ``min_samples_leaf``).

    References:
        D. Lopez-Paz and M. Oquab, ICLR 2017, arXiv:1610.06545.
    """
    from sklearn.ensemble import HistGradientBoostingClassifier
    from sklearn.model_selection import StratifiedKFold
    from threadpoolctl import threadpool_limits

    clf_options = Booster(**booster)
    x0 = np.asarray(x_reference, dtype=np.float64)
    x1 = np.asarray(x_generated, dtype=np.float64)
    w0 = np.ones(len(x0)) if w_reference is None else np.asarray(w_reference, np.float64)
    w1 = np.ones(len(x1)) if w_generated is None else np.asarray(w_generated, np.float64)
    # both classes carry the same total weight, the mean |weight| of the whole set is 1
    w0 = w0 / w0.sum()
    w1 = w1 / w1.sum()
    x = np.concatenate([x0, x1])
    y = np.concatenate([np.zeros(len(x0), int), np.ones(len(x1), int)])
    w = np.concatenate([w0, w1])
    w = w / np.abs(w).mean()
    # binned once for every fold (flowstats._binning: scikit-learn's weighted binning is slow)
    x = apply_bins(weighted_bin_edges(x, w, seed=seed), x)
    splitter = StratifiedKFold(n_splits=folds, shuffle=True, random_state=seed)
    aucs = []
    with threadpool_limits(limits=threads, user_api="openmp"):
        for k, (train, test) in enumerate(splitter.split(x, y)):
            if len(train) > MAX_TRAIN:
                pick = np.random.default_rng([seed, 41, k]).choice(len(train), MAX_TRAIN,
                                                                    replace=False)
                train = np.sort(train[pick])
            clf = HistGradientBoostingClassifier(
                **asdict(clf_options), l2_regularization=1.0,
                early_stopping=False, random_state=seed + k)
            clf.fit(x[train], y[train], sample_weight=w[train])
            scores = clf.predict_proba(x[test])[:, 1]
            aucs.append(weighted_auc(scores, y[test], w[test]))
    aucs_arr = np.asarray(aucs)
    std = float(aucs_arr.std(ddof=1)) if folds > 1 else float("nan")
    result = TwoSampleResult(auc=float(aucs_arr.mean()), auc_error=float(std / np.sqrt(folds)),
                             auc_std=std, fold_aucs=[float(a) for a in aucs],
                             n_reference=len(x0), n_generated=len(x1), seed=seed)
    log.info("classifier two-sample test: AUC = %.4f +- %.4f (%d folds)", result.auc,
             result.auc_error, folds)
    return result
