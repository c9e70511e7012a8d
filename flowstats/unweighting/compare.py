r"""Histogram comparison of a weighted and an unweighted (or another weighted) sample.

The weighted sample (the held-out test events, weights of either sign) and the generated sample
(N events of weight sigma/N each) are filled into the same bins, under- and overflow included,
with a :class:`boost_histogram.storage.Weight` storage, so each bin carries its sum of weights
:math:`W_i` and its variance :math:`V_i = \sum w^2` (for the generated sample
:math:`V_i = n_i (\sigma/N)^2`). Both are normalised to the same cross-section (unit area) and
compared bin by bin with the full covariance of the normalised contents.

For one histogram with :math:`W = \sum_i W_i`, :math:`V = \sum_i V_i` and :math:`p_i = W_i/W`
the delta method (bins independent, the compound-Poisson model of weighted MC) gives

.. math::
    \mathrm{cov}(p_i, p_j) = \frac{\delta_{ij} V_i - p_j V_i - p_i V_j + p_i p_j V}{W^2}.

The shape statistic is :math:`\chi^2 = d^T (C_1 + C_2)^{-1} d` with :math:`d = p_1 - p_2`, one bin
dropped (the covariance is singular because both sides sum to one; the result does not depend on
which bin), and ndf = (non-empty bins) - 1. For two unweighted samples it reduces to Pearson's
two-sample statistic; for a weighted one it stays :math:`\chi^2_{\rm ndf}` distributed when the
fraction of negative weights changes from bin to bin, where the diagonal approximation
:math:`V_i/W^2` would not.

References:
    N. D. Gagunashvili, "Chi-square tests for comparing weighted histograms",
    Nucl. Instrum. Meth. A 614 (2010) 287, arXiv:0905.4221.
"""

from __future__ import annotations

import logging
from dataclasses import asdict, dataclass

import boost_histogram as bh
import numpy as np
from scipy import stats

log = logging.getLogger(__name__)

__all__ = [
    "Chi2Result",
    "binning",
    "chi2_histograms",
    "chi2_samples",
    "histogram",
    "negative_bins",
]


@dataclass
class Chi2Result:
    r"""A chi2 comparison: statistic, degrees of freedom and p-value."""

    chi2: float
    ndf: int
    p_value: float

    @property
    def chi2_ndf(self) -> float:
        r"""chi2 / ndf (NaN when ndf is 0)."""
        return self.chi2 / self.ndf if self.ndf > 0 else float("nan")

    def as_dict(self) -> dict[str, float]:
        r"""A JSON-friendly dict including chi2/ndf."""
        return {**asdict(self), "chi2_ndf": self.chi2_ndf}


def binning(x: np.ndarray, bins: int = 30, *, discrete: bool = False,
            max_discrete: int = 100) -> np.ndarray:
    r"""Bin edges with about equal numbers of events of ``x`` per bin.

    The edges are quantiles of ``x`` (event positions, not weighted: with negative weights the
    weighted CDF need not be monotonic); take ``x`` from a sample independent of those compared
    (e.g. the training events). A value holding more than one quantile bin (a point mass)
    gets a bin of its own. Integer observables get one bin per value, edges at half-integers.

    Arguments:
        x: 1-D reference values.
        bins: Number of bins for a continuous observable.
        discrete: Whether ``x`` is integer valued.
        max_discrete: Above this many distinct integer values, quantile bins are used instead.
    """
    x = np.asarray(x, dtype=np.float64)
    if discrete:
        lo, hi = np.floor(x.min()), np.ceil(x.max())
        if hi - lo + 1 <= max_discrete:
            return np.arange(lo - 0.5, hi + 1.0, 1.0)
    quantiles = np.quantile(x, np.linspace(0.0, 1.0, bins + 1), method="inverted_cdf")
    edges = np.unique(quantiles)
    # a point mass (e.g. pT = 0 exactly) spans several quantiles: give it a bin of its own,
    # [v, nextafter(v)), so that it is compared on its own
    values, counts = np.unique(quantiles, return_counts=True)
    atoms = values[counts > 1]
    if len(atoms):
        edges = np.unique(np.concatenate([edges, np.nextafter(atoms, np.inf)]))
    if len(edges) < 2:
        edges = np.array([x.min() - 0.5, x.max() + 0.5])
    return edges


def histogram(x: np.ndarray, weights: np.ndarray | None, edges: np.ndarray
              ) -> tuple[np.ndarray, np.ndarray]:
    r"""Sum of weights and sum of squared weights per bin, under- and overflow included.

    Arguments:
        x: 1-D values.
        weights: Event weights (any sign); None for unit weights.
        edges: Bin edges (the first and last entries of the result are the flow bins).
    """
    h = bh.Histogram(bh.axis.Variable(np.asarray(edges, dtype=np.float64)),
                     storage=bh.storage.Weight())
    h.fill(np.asarray(x, dtype=np.float64),
           weight=None if weights is None else np.asarray(weights, dtype=np.float64))
    view = h.view(flow=True)
    return np.array(view.value), np.array(view.variance)


def _shape_covariance(values: np.ndarray, variances: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    total, total_var = values.sum(), variances.sum()
    p = values / total
    cov = (np.diag(variances) - np.outer(variances, p) - np.outer(p, variances)
           + np.outer(p, p) * total_var) / total**2
    return p, cov


def chi2_histograms(values1: np.ndarray, variances1: np.ndarray, values2: np.ndarray,
                    variances2: np.ndarray, *, shape: bool = True,
                    source: tuple[np.ndarray, np.ndarray, float] | None = None) -> Chi2Result:
    r"""chi2 between two histograms, each with its own per-bin variance.

    Arguments:
        values1: Sum of weights per bin of the first histogram (e.g. the weighted test events).
        variances1: Its variance per bin, :math:`\sum w^2`.
        values2: Sum of weights per bin of the second (e.g. generated: :math:`n_i \sigma/N`).
        variances2: Its variance per bin (generated: :math:`n_i (\sigma/N)^2`).
        shape: Normalise both to the same cross-section (unit area) and use the full
            covariance (ndf = bins - 1, see the module docstring); False compares absolute
            contents with ndf = bins.
        source: ``(values, variances, scale)`` of the weighted sample the second histogram was
            learnt from (a flow's training events, same bins), for a shape comparison of a
            flow's output with an exact truth sample. A model fitted to those events inherits
            their statistical fluctuations; ``scale`` times the normalised-shape covariance of
            that histogram is added to the second one's, i.e. the model is taken to be as
            uncertain as a histogram of its training events (``scale`` > 1 when the histogram
            holds more events than the model was fitted on, e.g. 1 / (1 - validation
            fraction)). Without it, such a comparison holds the model to a precision its
            training sample never had.

    References:
        N. D. Gagunashvili, Nucl. Instrum. Meth. A 614 (2010) 287, arXiv:0905.4221.
    """
    v1, s1, v2, s2 = (np.asarray(a, dtype=np.float64) for a in
                      (values1, variances1, values2, variances2))
    used = (s1 + s2) > 0
    if source is not None:
        if not shape:
            raise ValueError("a source sample's covariance is only defined for shape=True")
        # bins empty in both compared histograms carry no difference: not a degree of freedom
        v3, s3 = (np.asarray(a, dtype=np.float64)[used] for a in source[:2])
    v1, s1, v2, s2 = v1[used], s1[used], v2[used], s2[used]
    if not shape:
        chi2 = float(np.sum((v1 - v2) ** 2 / (s1 + s2)))
        ndf = int(used.sum())
    else:
        if v1.sum() <= 0 or v2.sum() <= 0 or len(v1) < 2:
            return Chi2Result(float("nan"), 0, float("nan"))
        p1, c1 = _shape_covariance(v1, s1)
        p2, c2 = _shape_covariance(v2, s2)
        if source is not None:
            c2 = c2 + float(source[2]) * _shape_covariance(v3, s3)[1]
        d = (p1 - p2)[:-1]
        cov = (c1 + c2)[:-1, :-1]
        try:
            chi2 = float(d @ np.linalg.solve(cov, d))
        except np.linalg.LinAlgError:
            chi2 = float(d @ np.linalg.pinv(cov) @ d)
        ndf = len(v1) - 1
    p_value = float(stats.chi2.sf(chi2, ndf)) if ndf > 0 else float("nan")
    return Chi2Result(chi2, ndf, p_value)


def chi2_samples(x1: np.ndarray, w1: np.ndarray | None, x2: np.ndarray, w2: np.ndarray | None,
                 edges: np.ndarray, *, shape: bool = True,
                 source: tuple[np.ndarray, np.ndarray | None, float] | None = None
                 ) -> Chi2Result:
    r"""Fills two samples into ``edges`` and returns :func:`chi2_histograms` of them.

    Arguments:
        x1: Values of the first sample (e.g. weighted test events).
        w1: Its weights (None: unit weights).
        x2: Values of the second sample (e.g. generated events).
        w2: Its weights (None: unit weights).
        edges: Common bin edges.
        shape: See :func:`chi2_histograms`.
        source: ``(x, weights, scale)`` of the sample the second one was learnt from; see
            ``source`` of :func:`chi2_histograms`.
    """
    hist_source = None if source is None else (*histogram(source[0], source[1], edges),
                                               source[2])
    return chi2_histograms(*histogram(x1, w1, edges), *histogram(x2, w2, edges), shape=shape,
                           source=hist_source)


def negative_bins(values: np.ndarray, variances: np.ndarray, edges: np.ndarray, *,
                  z: float = 3.0) -> list[dict[str, float]]:
    r"""Bins whose sum of weights is significantly below zero: a negative weighted density.

    A flow (a positive density) cannot reproduce such bins; they mean the MC@NLO sample itself
    has a negative cross-section there (or too few events for that region).

    Arguments:
        values: Sum of weights per bin, flow bins included (as from :func:`histogram`).
        variances: Sum of squared weights per bin.
        edges: The bin edges (flow bins extend to -inf / +inf).
        z: Significance threshold: a bin is listed when ``value / sqrt(variance) < -z``.
    """
    values, variances = np.asarray(values), np.asarray(variances)
    lows = np.concatenate([[-np.inf], edges])
    highs = np.concatenate([edges, [np.inf]])
    out = []
    with np.errstate(divide="ignore", invalid="ignore"):
        signif = np.where(variances > 0, values / np.sqrt(variances), 0.0)
    for i in np.flatnonzero(signif < -z):
        out.append({"low": float(lows[i]), "high": float(highs[i]), "sum_w": float(values[i]),
                    "error": float(np.sqrt(variances[i])), "significance": float(signif[i])})
    return out
