r"""Held-out evaluation of an unweighted sample against the weighted test events.

Collects every number of the report: per-feature and per-pair chi2 (shape, correct variances of
both samples), bins where the weighted test density is significantly negative, the classifier
two-sample AUC, and the same checks for the baselines (a) drop negatives and (b) hit-or-miss
with signed unit weights, all against the same test events.
"""

from __future__ import annotations

import itertools
import logging
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import boost_histogram as bh
import numpy as np

from .baselines import drop_negatives, effective_sample_size, hit_or_miss
from .compare import binning, chi2_histograms, chi2_samples, histogram, negative_bins
from .twosample import classifier_two_sample_test

log = logging.getLogger(__name__)

__all__ = ["Evaluation", "evaluate", "sample_summary"]


@dataclass
class Evaluation:
    r"""Numbers and binned inputs of the report (``summary`` is JSON-ready)."""

    summary: dict[str, Any]
    edges: dict[str, np.ndarray] = field(default_factory=dict)
    samples: dict[str, tuple[np.ndarray, np.ndarray]] = field(default_factory=dict)


def sample_summary(weights: np.ndarray) -> dict[str, float]:
    r"""Size, sum of weights, negative fraction and effective sample size of a sample.

    Arguments:
        weights: Event weights.
    """
    weights = np.asarray(weights, dtype=np.float64)
    n = len(weights)
    return {"n": n, "sum_weights": float(weights.sum()),
            "negative_fraction": float(np.mean(weights < 0)) if n else 0.0,
            "n_eff": effective_sample_size(weights)}


def _chi2_2d(xa: np.ndarray, wa: np.ndarray | None, xb: np.ndarray, wb: np.ndarray | None,
             edges_i: np.ndarray, edges_j: np.ndarray) -> dict[str, float]:
    def fill(x: np.ndarray, w: np.ndarray | None) -> tuple[np.ndarray, np.ndarray]:
        h = bh.Histogram(bh.axis.Variable(edges_i), bh.axis.Variable(edges_j),
                         storage=bh.storage.Weight())
        h.fill(x[:, 0], x[:, 1], weight=w)
        view = h.view(flow=True)
        return np.ravel(view.value), np.ravel(view.variance)

    return chi2_histograms(*fill(xa, wa), *fill(xb, wb)).as_dict()


def _coarse(edges: np.ndarray, bins: int) -> np.ndarray:
    if len(edges) - 1 <= bins:
        return edges
    idx = np.unique(np.linspace(0, len(edges) - 1, bins + 1).round().astype(int))
    return edges[idx]


@dataclass(frozen=True)
class EvaluateOptions:
    r"""How :func:`evaluate` compares the samples.

    Arguments:
        discrete: Integer-valued features (one bin per value).
        bins: Bins per feature for the 1-D chi2.
        bins_2d: Bins per axis for the 2-D (correlation) chi2.
        folds: Folds of the classifier two-sample test.
        classifier_events: At most this many generated / baseline events enter the classifier
            test (a random subset, seeded).
        negative_z: Significance below zero for a bin to count as a negative density.
        seed: Seed of the baseline (b) hit-or-miss step, of the subsets and of the classifier.
    """

    discrete: Sequence[str] = ()
    bins: int = 30
    bins_2d: int = 8
    folds: int = 5
    classifier_events: int = 50_000
    negative_z: float = 3.0
    seed: int = 0


def evaluate(names: Sequence[str], x_test: np.ndarray, w_test: np.ndarray,
             x_generated: np.ndarray, w_generated: np.ndarray, x_train: np.ndarray,
             w_train: np.ndarray, **options: Any) -> Evaluation:
    r"""Compares generated events (and the baselines) with the weighted test events.

    Bin edges are quantiles of the training events (independent of both compared samples).

    Arguments:
        names: Feature names (columns of the arrays).
        x_test: (n, d) held-out weighted test events.
        w_test: Their weights.
        x_generated: (N, d) generated events.
        w_generated: Their weights (sigma/N each).
        x_train: (m, d) events the flow was trained on (baselines are built from them).
        w_train: Their weights.
        options: The fields of :class:`EvaluateOptions`.
    """
    opts = EvaluateOptions(**options)
    discrete, bins, bins_2d, negative_z, seed = (opts.discrete, opts.bins, opts.bins_2d,
                                                 opts.negative_z, opts.seed)
    names = list(names)
    rng = np.random.default_rng(seed)
    samples = {"flow": (np.asarray(x_generated), np.asarray(w_generated, dtype=np.float64))}
    samples["drop_negatives"] = drop_negatives(x_train, w_train)
    samples["hit_or_miss"] = hit_or_miss(x_train, w_train, seed=seed)

    edges = {name: binning(x_train[:, k], bins, discrete=name in discrete)
             for k, name in enumerate(names)}
    result: dict[str, Any] = {"test": sample_summary(w_test), "negative_density_bins": {},
                              "bins": bins, "negative_z": negative_z}
    for name, k in zip(names, range(len(names))):
        found = negative_bins(*histogram(x_test[:, k], w_test, edges[name]), edges[name],
                              z=negative_z)
        if found:
            result["negative_density_bins"][name] = found
            log.warning("feature %r: %d bins of the weighted test events are significantly "
                        "negative (z < -%.1f): a flow cannot reproduce a negative density",
                        name, len(found), negative_z)

    for label, (xs, ws) in samples.items():
        entry: dict[str, Any] = {**sample_summary(ws), "features": {}, "pairs": {}}
        for k, name in enumerate(names):
            res = chi2_samples(x_test[:, k], w_test, xs[:, k], ws, edges[name])
            entry["features"][name] = res.as_dict()
        for i, j in itertools.combinations(range(len(names)), 2):
            ei, ej = _coarse(edges[names[i]], bins_2d), _coarse(edges[names[j]], bins_2d)
            entry["pairs"][f"{names[i]}:{names[j]}"] = _chi2_2d(
                x_test[:, [i, j]], w_test, xs[:, [i, j]], ws, ei, ej)
        chi2 = sum(v["chi2"] for v in entry["features"].values())
        ndf = sum(v["ndf"] for v in entry["features"].values())
        entry["chi2_sum"], entry["ndf_sum"] = float(chi2), int(ndf)
        entry["min_p_value"] = float(min(v["p_value"] for v in entry["features"].values()))
        if len(xs):
            take = rng.permutation(len(xs))[:opts.classifier_events]
            entry["classifier"] = classifier_two_sample_test(
                x_test, w_test, xs[take], ws[take], folds=opts.folds, seed=seed).as_dict()
        result[label] = entry
        log.info("%s: sum chi2/ndf = %.1f/%d, AUC = %.3f", label, chi2, ndf,
                 entry.get("classifier", {}).get("auc", float("nan")))
    return Evaluation(summary=result, edges=edges, samples=samples)
