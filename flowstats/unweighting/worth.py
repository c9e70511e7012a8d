r"""Statistical worth of a generated sample: its equivalent number of true events.

How many true, unweighted events is a sample of :math:`M` generated events worth, and beyond
which :math:`M` does generating more add nothing?

**Definition.** Split the observable space into bins :math:`b` (quantile bins of one feature,
or cells of a pair of features; under- and overflow included). Let :math:`p_b` be the true bin
probabilities and :math:`q_b` the generator's. The fractions of :math:`N` true unweighted
events estimate :math:`p_b` with the summed mean squared error (multinomial variance)

.. math::
    \mathrm{MSE}_\mathrm{true}(N) = \sum_b \frac{p_b (1 - p_b)}{N} = \frac{S_p}{N},

and the fractions of :math:`M` generated events with

.. math::
    \mathrm{MSE}_\mathrm{gen}(M) = \beta + \frac{S_q}{M}, \qquad
    \beta = \sum_b (q_b - p_b)^2, \quad S_q = \sum_b q_b (1 - q_b).

The **equivalent number of events** is the :math:`N` of equal error,

.. math::
    N_\mathrm{eq}(M) = \frac{S_p}{\beta + S_q / M}, \qquad
    N_\mathrm{eq}(\infty) = \frac{S_p}{\beta}.

:math:`N_\mathrm{eq}(M) / N_\mathrm{eq}(\infty) = 1 / (1 + M_0 / M)` with
:math:`M_0 = S_q / \beta` (where the statistical term equals the bias term, and
:math:`N_\mathrm{eq}` is half its limit). The **saturation size** is
:math:`M^* = M_0\, f / (1 - f)` for the fraction ``saturation`` :math:`f` (default 0.9,
:math:`M^* = 9 M_0`): beyond :math:`M^*` the generated sample is worth at least
:math:`f\,N_\mathrm{eq}(\infty)`, and generating more adds at most :math:`1 - f` of that.
Since :math:`S_q \approx S_p`, :math:`M_0 \approx N_\mathrm{eq}(\infty)`: a generator is
exhausted at about ten times the number of events it is worth.

This is the quantile-MSE of Butter et al. (bins at quantiles; their "amplification factor"
is :math:`N_\mathrm{eq}` over the training size), with the true-sample curve :math:`S_p/N`
written out instead of sampled, and the split of the generated sample's error into a
statistical part and a model (mis-specification) part of Bahl et al. Combined figures over
several binned observables (all features, all pairs) sum :math:`S_p` and :math:`\beta` over
them: the :math:`N` whose summed error over all those bins equals the generator's.

**Estimating** :math:`\beta` **without bias.** The reference is a weighted sample (held-out
events, weights of either sign, or a large truth sample of unit weights) with fractions
:math:`r_b = W_b / W`; the generated fractions are :math:`g_b = n_b / M`. With
:math:`d = g - r`, :math:`E[\sum_b d_b^2] = \beta + \mathrm{tr}\,C_g + \mathrm{tr}\,C_r`, where
the covariances of the normalised fractions are (delta method, the bin contents correlated
through the total; as in :mod:`.compare`)

.. math::
    C_{bc} = \frac{n}{n - 1}\,\frac{V_{bc} - r_b v_c - v_b r_c + r_b r_c V}{W^2}, \qquad
    V_{bc} = \sum_i w_i^2 [i \in b][i \in c], \; v_b = V_{bb}, \; V = \sum_i w_i^2,

for a sample of :math:`n` events (two bins of one observable share no event; bins of two
observables share those in both, which correlates the observables of a combined figure). For
unit weights :math:`\mathrm{tr}\,C` is exactly the unbiased estimate
:math:`\sum_b g_b (1 - g_b) / (M - 1)` of :math:`\sum_b q_b (1 - q_b) / M`. So

.. math::
    \hat\beta = \sum_b d_b^2 - \mathrm{tr}(C_g + C_r), \qquad
    \mathrm{var}\,\hat\beta = 2\,\mathrm{tr}(C^2) + 4\,\delta^T C \delta, \quad C = C_g + C_r,

the variance of a Gaussian quadratic form (the full :math:`C`, singular because fractions sum
to one, is used as it is; nothing is inverted). :math:`\delta^T C \delta = \kappa\beta` with
:math:`\kappa` the Rayleigh quotient of :math:`\delta` in :math:`C`, estimated by that of
:math:`d`, :math:`\hat\kappa = d^T C d / d^T d` (which tends to :math:`\mathrm{tr}\,C^2 /
\mathrm{tr}\,C` when :math:`\beta \to 0`; the plug-in :math:`d^T C d - \mathrm{tr}\,C^2` is
positive-part biased when :math:`\beta` is small). :math:`S_p` and :math:`S_q` are estimated
without bias by :math:`1 - \sum r_b^2 + \mathrm{tr}\,C_r` (and likewise from :math:`g`). With
exact truth probabilities (``truth_cdf``), :math:`r = p` and :math:`C_r = 0`.

The error is the estimation error of *this* generator's :math:`\beta` (finite reference and
generated samples), not the spread between generators trained on other samples. With
:math:`\sigma^2(\beta) = 2\,\mathrm{tr}\,C^2 + 4\hat\kappa\beta`: ``bias2_error`` is
:math:`\sigma(\max(\hat\beta, 0))`; the significance of a bias is :math:`\hat\beta / \sigma(0)`
(the null variance), and an estimate is *resolved* when that exceeds 2 (otherwise
:math:`\beta` is consistent with zero, ``n_eq_inf`` is None and only lower limits are
quoted). Intervals are inverted tests, :math:`\{\beta \ge 0 : |\hat\beta - \beta| \le
z\,\sigma(\beta)\}` (a quadratic in :math:`\beta`; :math:`\max(\hat\beta, 0)` in place of a
negative :math:`\hat\beta`), mapped onto :math:`N_\mathrm{eq}` (open above when the lower end
of :math:`\beta` is 0): ``*_interval`` with :math:`z = 1`, the one-sided ``*_lower_limit``
with :math:`z` the normal quantile of ``confidence``. :math:`N_\mathrm{eq}` is a ratio, so its
point value (with :math:`\max(\hat\beta, 0)`) is biased upwards when :math:`\beta` is not well
resolved; :math:`\hat\beta` is the unbiased figure to average or compare.

**The training sample.** The weighted training events' own fractions have the summed variance
:math:`\mathrm{tr}\,C_\mathrm{train}`; :math:`N_\mathrm{eq,train} = S_p /
\mathrm{tr}\,C_\mathrm{train}` is the number of unweighted events as precise as them at that
binning (the Kish :math:`N_\mathrm{eff} = (\sum w)^2 / \sum w^2` when the weights do not vary
from bin to bin; not so when the fraction of negative weights does), and
:math:`N_\mathrm{eq} / N_\mathrm{eq,train}` is the amplification. A generator that only
reproduces a histogram of its training events has amplification about 1 at every binning; a
model that interpolates can exceed it (Butter et al.).

**The recommendation** (:func:`recommendation`). With training events, the amplification
:math:`A = N_\mathrm{eq}(\infty) / N_\mathrm{eq,train}` says whether unweighting pays: by the
model above, :math:`1/N_\mathrm{eq}(M) = 1/N_\mathrm{eq}(\infty) + (S_q/S_p)/M`, the generated
sample is as precise as the weighted training events at :math:`M_\mathrm{match} = M_0 / (A - 1)`
events, :math:`N / M_\mathrm{match}` times fewer than their :math:`N`, and never when
:math:`A \le 1`; the lower limit of :math:`N_\mathrm{eq}(\infty)` bounds both.

**Binnings.** The figures depend on the binning, so several are given. Statistical noise of a
model spreads over all bins and gives about the same :math:`N_\mathrm{eq}` at every binning;
a smooth mis-modelling (a shifted or tilted distribution) puts its :math:`\beta` into few
coarse bins, roughly :math:`\beta \propto 1/B` for :math:`B` bins, so coarse binnings see it
best and fine ones catch local defects. The ``summary`` is the most conservative figure.

**What held-out events resolve.** With :math:`n_\mathrm{eff}` effective test events,
:math:`\sigma(0) \approx \sqrt{2k}/(B\,n_\mathrm{eff})` for :math:`k` degrees of freedom
(bins less observables) and :math:`S_p \approx k/B`, so :math:`\beta` is resolved for
:math:`N_\mathrm{eq} \lesssim n_\mathrm{eff} \sqrt{k/8}`; a better generator gets a lower
limit only. A large truth sample (``x_ref`` with unit weights) or exact probabilities
(``truth_cdf``) measure it precisely.

Bins are quantiles of the positions of ``x_edges`` (:func:`~.compare.binning`; integer
features one bin per value); take them from a sample independent of the compared ones (e.g.
the training events), or they default to the reference sample.

References:
    | A. Butter, S. Diefenbacher, G. Kasieczka, B. Nachman and T. Plehn, "GANplifying event
    | samples", SciPost Phys. 10 (2021) 139, arXiv:2008.06545.
    | H. Bahl, S. Diefenbacher, N. Elmer, T. Plehn and J. Spinner, "Forecasting generative
    | amplification", arXiv:2509.08048.
"""

from __future__ import annotations

import itertools
import logging
import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
from scipy import stats

from .._utils import check_finite
from ..exceptions import BadInputError, WeightSumError, closest
from .baselines import effective_sample_size
from .compare import binning

log = logging.getLogger(__name__)

__all__ = ["DEFAULT_BINS", "bias2_error", "bias2_pull", "equivalent_events", "recommendation",
           "statistical_worth"]

#: bins per feature of the default binnings
DEFAULT_BINS: tuple[int, ...] = (5, 10, 20, 40)
#: an estimate of beta counts as resolved above this many null standard errors
RESOLVED_Z = 2.0
#: default limit on the stacked bins of a combined figure (its covariance is bins x bins)
MAX_COMBINED_BINS = 2000


@dataclass
class _Observable:
    r"""One binned observable: a feature or a pair of features, and its bin index function."""

    name: str
    columns: tuple[int, ...]
    edges: tuple[np.ndarray, ...]

    @property
    def size(self) -> int:
        return int(np.prod([len(e) + 1 for e in self.edges]))

    def index(self, x: np.ndarray) -> np.ndarray:
        # searchsorted(side="right") is boost-histogram's Variable axis with flow bins:
        # 0 = underflow, k = [e[k-1], e[k]), len(e) = overflow
        out = np.zeros(len(x), dtype=np.int64)
        for col, edges in zip(self.columns, self.edges):
            out = out * (len(edges) + 1) + np.searchsorted(edges, x[:, col], side="right")
        return out


@dataclass
class _Fractions:
    r"""Stacked normalised fractions of a sample over several observables, and their covariance."""

    r: np.ndarray
    cov: np.ndarray


def _fractions(x: np.ndarray, w: np.ndarray | None, observables: Sequence[_Observable]
               ) -> _Fractions:
    n = len(x)
    sizes = [o.size for o in observables]
    offsets = np.concatenate([[0], np.cumsum(sizes)]).astype(int)
    index = [o.index(x) for o in observables]
    w = np.ones(n) if w is None else w
    w2 = w**2
    total, total_var = float(w.sum()), float(w2.sum())
    r = np.concatenate([np.bincount(i, w, minlength=k) for i, k in zip(index, sizes)]) / total
    # V_bc = sum of w^2 over the events in bin b and in bin c (blocks of pairs of observables)
    vmat = np.zeros((offsets[-1], offsets[-1]))
    for a, b in itertools.combinations_with_replacement(range(len(observables)), 2):
        block = np.bincount(index[a] * sizes[b] + index[b], w2, minlength=sizes[a] * sizes[b])
        block = block.reshape(sizes[a], sizes[b])
        vmat[offsets[a]:offsets[a + 1], offsets[b]:offsets[b + 1]] = block
        vmat[offsets[b]:offsets[b + 1], offsets[a]:offsets[a + 1]] = block.T
    v = np.diag(vmat).copy()
    cov = (vmat - np.outer(r, v) - np.outer(v, r) + np.outer(r, r) * total_var) / total**2
    return _Fractions(r=r, cov=cov * n / (n - 1))


def _exact(observables: Sequence[_Observable], names: Sequence[str],
           truth_cdf: Mapping[str, Callable[[np.ndarray], np.ndarray]]) -> _Fractions:
    parts = []
    for o in observables:
        (edges,) = o.edges
        cdf = np.asarray(truth_cdf[names[o.columns[0]]](np.asarray(edges)), dtype=np.float64)
        p = np.diff(np.concatenate([[0.0], cdf, [1.0]]))
        if np.any(~np.isfinite(p)) or np.any(p < -1e-12):
            raise BadInputError(f"truth_cdf[{names[o.columns[0]]!r}] is not a non-decreasing "
                                "CDF with values in [0, 1] at the bin edges")
        parts.append(np.clip(p, 0.0, None))
    r = np.concatenate(parts)
    return _Fractions(r=r, cov=np.zeros((len(r), len(r))))


def _none_if_unbounded(value: float) -> float | None:
    return float(value) if math.isfinite(value) else None


def _ratio(numerator: float, denominator: float) -> float:
    return numerator / denominator if denominator > 0 else math.inf


def _beta_bound(bias2: float, kappa: float, t2: float, z: float, sign: float) -> float:
    r"""End of {beta >= 0 : |bias2 - beta| <= z sigma(beta)}, sigma^2 = 2 t2 + 4 kappa beta."""
    b = max(bias2, 0.0)
    root = math.sqrt(max(4.0 * b * kappa + 4.0 * z * z * kappa * kappa + 2.0 * t2, 0.0))
    return max(b + 2.0 * z * z * kappa + sign * z * root, 0.0)


def _figures(gen: _Fractions, ref: _Fractions, train: _Fractions | None, sel: np.ndarray,
             n_blocks: int, m: int, z: float, saturation: float) -> dict[str, Any]:
    r"""The estimate over the stacked bins ``sel`` (one or several observables)."""
    d = gen.r[sel] - ref.r[sel]
    cg, cr = gen.cov[np.ix_(sel, sel)], ref.cov[np.ix_(sel, sel)]
    c = cg + cr
    t2 = float(np.sum(c * c))  # tr(C^2) of a symmetric matrix
    dd = float(d @ d)
    bias2 = dd - float(np.trace(c))
    # delta^T C delta = kappa beta, kappa the Rayleigh quotient of delta in C, estimated by
    # that of d (without the bias of a positive part; under beta = 0 it is tr C^2 / tr C)
    kappa = float(d @ c @ d) / dd if dd > 0 else t2 / max(float(np.trace(c)), 1e-300)
    error_null = math.sqrt(2.0 * t2)
    error = math.sqrt(2.0 * t2 + 4.0 * kappa * max(bias2, 0.0))
    s_ref = float(n_blocks - ref.r[sel] @ ref.r[sel] + np.trace(cr))
    s_gen = float(n_blocks - gen.r[sel] @ gen.r[sel] + np.trace(cg))
    stat_gen = float(np.trace(cg))  # estimates S_q / M
    significance = bias2 / error_null if error_null > 0 else math.inf * np.sign(bias2)
    resolved = bool(significance > RESOLVED_Z)
    low, high = (_beta_bound(bias2, kappa, t2, 1.0, s) for s in (-1.0, 1.0))
    upper = _beta_bound(bias2, kappa, t2, z, 1.0)  # one-sided upper limit on beta
    k = saturation / (1.0 - saturation)
    # MSE of the generated fractions at their size M (beta >= 0: a negative estimate counts
    # as 0, as in the intervals, so that N_eq(M) stays within them, at most about M)
    mse = max(bias2, 0.0) + stat_gen

    def n_eq(beta: float) -> float | None:
        return _none_if_unbounded(_ratio(s_ref, beta))

    out: dict[str, Any] = {
        "bins": int(sel.size), "bias2": bias2, "bias2_error": error,
        "bias2_error_null": error_null, "bias2_kappa": kappa,
        "bias2_significance": _none_if_unbounded(significance), "resolved": resolved,
        "bias2_interval": [low, high], "bias2_upper_limit": upper,
        "s_ref": s_ref, "s_gen": s_gen, "stat_gen": stat_gen, "stat_ref": float(np.trace(cr)),
        "n_generated": int(m),
        "n_eq": n_eq(mse),
        "n_eq_error": float(s_ref * error / mse**2) if mse > 0 else None,
        "n_eq_interval": [n_eq(high + stat_gen), n_eq(low + stat_gen)],
        "n_eq_lower_limit": n_eq(upper + stat_gen),
        "n_eq_inf": n_eq(bias2) if resolved else None,
        "n_eq_inf_error": float(s_ref * error / bias2**2) if resolved else None,
        "n_eq_inf_interval": [n_eq(high), n_eq(low)],
        "n_eq_inf_lower_limit": n_eq(upper),
        "m_half": float(s_gen / bias2) if resolved else None,
        "m_star": float(k * s_gen / bias2) if resolved else None,
        "m_star_lower_limit": _none_if_unbounded(k * _ratio(s_gen, upper)),
    }
    if train is not None:
        n_train = _ratio(s_ref, float(np.trace(train.cov[np.ix_(sel, sel)])))
        out["n_eq_train"] = _none_if_unbounded(n_train)
        amp = [None if v is None or not math.isfinite(n_train) else v / n_train
               for v in (out["n_eq"], out["n_eq_lower_limit"], out["n_eq_inf"],
                         out["n_eq_inf_lower_limit"])]
        (out["amplification"], out["amplification_lower_limit"], out["amplification_inf"],
         out["amplification_inf_lower_limit"]) = amp
    return out


def bias2_error(figures: Mapping[str, Any], bias2: float) -> float:
    r"""Standard error of an estimate of :math:`\beta` were the true value ``bias2``.

    :math:`\sigma^2(\beta) = 2\,\mathrm{tr}\,C^2 + 4\hat\kappa\beta` (module docstring), from
    the ``bias2_error_null`` and ``bias2_kappa`` of a figures dict of
    :func:`equivalent_events`.

    Arguments:
        figures: One entry of :func:`equivalent_events` (a feature, pair or ``combined``).
        bias2: The value of :math:`\beta` (negative values count as 0).
    """
    return math.sqrt(figures["bias2_error_null"] ** 2
                     + 4.0 * figures["bias2_kappa"] * max(float(bias2), 0.0))


def bias2_pull(a: Mapping[str, Any], b: Mapping[str, Any]) -> float:
    r"""Pull between two independent estimates of the same :math:`\beta` (e.g. held-out and truth).

    :math:`(\hat\beta_a - \hat\beta_b) / \sqrt{\sigma_a^2(\bar\beta) + \sigma_b^2(\bar\beta)}`,
    both errors taken at the common value :math:`\bar\beta`, the estimates' mean weighted by
    their plug-in variances: an estimate that fluctuated to zero would otherwise carry only its
    null error. When both share the generated sample, its part of the error is counted twice
    (the pull is then conservative).

    Arguments:
        a: Figures of one estimate (an entry of :func:`equivalent_events`).
        b: Figures of the other, in the same bins.
    """
    va, vb = a["bias2_error"] ** 2, b["bias2_error"] ** 2
    common = (a["bias2"] * vb + b["bias2"] * va) / (va + vb) if va + vb > 0 else a["bias2"]
    error = math.hypot(bias2_error(a, common), bias2_error(b, common))
    diff = a["bias2"] - b["bias2"]
    return float(diff / error) if error > 0 else (0.0 if diff == 0 else math.copysign(math.inf,
                                                                                       diff))


# ---------------------------------------------------------------- input checks


def _as_2d(x: Any, what: str) -> np.ndarray:
    try:
        arr = np.asarray(x, dtype=np.float64)
    except (TypeError, ValueError):
        raise BadInputError(f"the {what} must be a numeric array, got {type(x).__name__}"
                            ) from None
    if arr.ndim == 1:
        arr = arr[:, None]
    if arr.ndim != 2:
        raise BadInputError(f"the {what} must be an (n, d) array, got shape {arr.shape}")
    if len(arr) < 2:
        raise BadInputError(f"{len(arr)} {what} given; at least 2 are needed")
    return arr


def _check_sample(x: Any, w: Any, what: str, d: int, names: Sequence[str]
                  ) -> tuple[np.ndarray, np.ndarray | None]:
    x = _as_2d(x, f"{what} events")
    if x.shape[1] != d:
        raise BadInputError(f"the {what} events have {x.shape[1]} features, the generated "
                            f"ones {d} ({', '.join(names)})")
    check_finite(x, f"{what} features", list(names))
    if w is None:
        return x, None
    w = np.asarray(w, dtype=np.float64)
    if w.shape != (len(x),):
        raise BadInputError(f"the {what} weights have shape {w.shape}, the {what} events "
                            f"({len(x)},)")
    check_finite(w, f"{what} weights")
    if w.sum() <= 0:
        raise WeightSumError(f"the {what} weights sum to {w.sum():.6g} <= 0: no fractions "
                             "can be formed")
    return x, w


def _check_bins(bins: int | Sequence[int], what: str) -> list[int]:
    values = [bins] if isinstance(bins, (int, np.integer)) else list(bins)
    if not values:
        raise BadInputError(f"{what} is empty; give at least one number of bins")
    for b in values:
        if isinstance(b, bool) or not isinstance(b, (int, np.integer)) or b < 2:
            raise BadInputError(f"{what} must be whole numbers >= 2, got {b!r}")
    return [int(b) for b in values]


def _check_fraction(value: float, what: str) -> float:
    if not isinstance(value, (int, float, np.floating)) or not 0.0 < float(value) < 1.0:
        raise BadInputError(f"{what} must be a number strictly between 0 and 1, got {value!r}")
    return float(value)


def _check_names(names: Sequence[str], subset: Sequence[str], what: str) -> list[str]:
    for name in subset:
        if name not in names:
            hint = closest(name, names)
            raise BadInputError(f"{what} {name!r} is not a feature ({', '.join(names)})"
                                + (f"; did you mean {hint[0]!r}?" if hint else ""))
    return list(subset)


# ---------------------------------------------------------------- public functions


def equivalent_events(
    x_gen: np.ndarray,
    x_ref: np.ndarray | None = None,
    w_ref: np.ndarray | None = None,
    *,
    names: Sequence[str] | None = None,
    x_edges: np.ndarray | None = None,
    truth_cdf: Mapping[str, Callable[[np.ndarray], np.ndarray]] | None = None,
    x_train: np.ndarray | None = None,
    w_train: np.ndarray | None = None,
    **options: Any,
) -> dict[str, Any]:
    r"""Equivalent number of true events of a generated sample, per binning and feature.

    See the module docstring for the definitions and the estimator. The result is a
    JSON-ready dict (unbounded values are None)::

        {"method": ..., "n_generated": M, "reference": {...}, "confidence": ...,
         "binnings": {"5": {"features": {name: figures, ...}, "combined": figures}, ...},
         "pairs": {"5x5": {"pairs": {"a:b": figures, ...}, "combined": figures}},  # optional
         "summary": {...}}

    where ``figures`` holds ``bias2`` (:math:`\hat\beta`), ``bias2_error``
    (:math:`\sigma(\max(\hat\beta, 0))`), ``bias2_error_null`` (:math:`\sigma(0)`),
    ``bias2_kappa`` (:math:`\hat\kappa`, for :func:`bias2_error` at another :math:`\beta`),
    ``bias2_significance``, ``resolved``, ``bias2_interval`` (68 %), ``bias2_upper_limit``
    (at ``confidence``), ``s_ref`` and ``s_gen`` (:math:`S_p`, :math:`S_q`), ``stat_gen`` and
    ``stat_ref`` (:math:`\mathrm{tr}\,C_g`, :math:`\mathrm{tr}\,C_r`), ``n_eq``
    (:math:`N_\mathrm{eq}(M)`) with ``n_eq_error`` (delta method), ``n_eq_interval`` (68 %)
    and ``n_eq_lower_limit`` (at ``confidence``), the same for ``n_eq_inf``
    (:math:`N_\mathrm{eq}(\infty)`, None unless resolved), ``m_half`` (:math:`M_0`),
    ``m_star`` (:math:`M^*`) and ``m_star_lower_limit``, and with training events
    ``n_eq_train`` and the ``amplification`` ratios :math:`N_\mathrm{eq} /
    N_\mathrm{eq,train}` (``amplification``, ``amplification_lower_limit``,
    ``amplification_inf``, ``amplification_inf_lower_limit``). ``summary`` is the combined
    figure of the binning (or pair grid) with the smallest lower limit on
    :math:`N_\mathrm{eq}(\infty)` (the most conservative; the single features' figures when
    no combined one was made), labelled ``binning``, plus the Kish :math:`N_\mathrm{eff}` of
    the training events (``n_eff_train``).

    Arguments:
        x_gen: (M, d) generated unit-weight events (1-D: one feature).
        x_ref: (n, d) reference events: held-out weighted events, or a large truth sample.
            Not with ``truth_cdf``.
        w_ref: Their weights (any sign, positive sum); None for unit weights.
        names: Feature names (default ``x0, x1, ...``).
        x_edges: Events whose quantiles (positions, unweighted) define the bins; default
            ``x_ref``. Required with ``truth_cdf``.
        truth_cdf: ``{name: cdf}`` with the exact truth CDF of each feature (a vectorised
            callable): the validation mode, reference fractions without error. No pairs.
        x_train: (m, d) events the generator was trained on, for ``n_eq_train`` and the
            amplification (optional).
        w_train: Their weights (None: unit weights).
        options: The fields of :class:`WorthOptions` (bins, discrete, pair_bins, confidence,
            saturation, max_combined_bins).

    Raises:
        BadInputError: empty or mis-shaped inputs, bad options.
        NonFiniteError: NaN or infinite features or weights.
        WeightSumError: weights that sum to zero or less.

    References:
        | A. Butter et al., SciPost Phys. 10 (2021) 139, arXiv:2008.06545.
        | H. Bahl et al., "Forecasting generative amplification", arXiv:2509.08048.
    """
    x_gen = _as_2d(x_gen, "generated events")
    names = _check_feature_names(names, x_gen.shape[1])
    check_finite(x_gen, "generated features", names)
    opts = _checked_options(WorthOptions(**options), names)
    reference = _check_reference(x_ref, w_ref, truth_cdf, x_edges, opts, names)
    d = len(names)
    if truth_cdf is None:
        x_ref, w_ref = _check_sample(x_ref, w_ref, "reference", d, names)
        reference = {"kind": "weighted" if w_ref is not None else "unweighted",
                     "n": len(x_ref),
                     "sum_weights": float(w_ref.sum()) if w_ref is not None else len(x_ref),
                     "n_eff": _size(x_ref, w_ref)["n_eff"]}
    x_edges, _ = _check_sample(x_ref if x_edges is None else x_edges, None, "edge", d, names)
    if x_train is not None:
        x_train, w_train = _check_sample(x_train, w_train, "training", d, names)
    elif w_train is not None:
        raise BadInputError("w_train given without x_train")

    m = len(x_gen)
    result: dict[str, Any] = {
        "method": "quantile-binned fraction MSE (Butter et al. arXiv:2008.06545); "
                  "N_eq(M) = S_p / (bias2 + S_q / M)",
        "n_generated": m, "reference": reference, "confidence": float(opts.confidence),
        "saturation": opts.saturation, "discrete": opts.discrete, "binnings": {},
    }
    if x_train is not None:
        result["training"] = _size(x_train, w_train)
    data = _Samples(x_gen, x_ref, w_ref, x_train, w_train, names, truth_cdf)
    _binnings(result, data, x_edges, opts)
    return _summarise(result, m, opts.confidence)


@dataclass(frozen=True)
class WorthOptions:
    r"""How :func:`equivalent_events` bins the events and quotes its limits.

    Arguments:
        bins: Bins per continuous feature, one binning per entry.
        discrete: Integer features: one bin per value, the same in every binning.
        pair_bins: Bins per axis of the 2-D cells of every pair of features (None: no pairs).
        confidence: Confidence level of the one-sided lower limits.
        saturation: The fraction :math:`f` of :math:`N_\mathrm{eq}(\infty)` that defines
            :math:`M^*`.
        max_combined_bins: A combined figure needs the covariance of all its bins (bins x
            bins, and a joint histogram per pair of observables); above this many bins
            (e.g. 5x5 cells of every pair of 17 features: 6664) each observable is estimated
            alone, ``combined`` is None and ``note`` says why.
    """

    bins: int | Sequence[int] = DEFAULT_BINS
    discrete: Sequence[str] = ()
    pair_bins: int | None = None
    confidence: float = 0.95
    saturation: float = 0.9
    max_combined_bins: int = MAX_COMBINED_BINS


@dataclass(frozen=True)
class _Samples:
    r"""The samples :func:`equivalent_events` compares (checked)."""

    x_gen: np.ndarray
    x_ref: np.ndarray | None
    w_ref: np.ndarray | None
    x_train: np.ndarray | None
    w_train: np.ndarray | None
    names: list[str]
    truth_cdf: Mapping[str, Callable[[np.ndarray], np.ndarray]] | None

    def fractions(self, obs: list[_Observable]) -> tuple[_Fractions, _Fractions,
                                                         _Fractions | None]:
        r"""The bin fractions of the generated, reference and training events."""
        return (_fractions(self.x_gen, None, obs),
                _exact(obs, self.names, self.truth_cdf) if self.truth_cdf is not None
                else _fractions(self.x_ref, self.w_ref, obs),
                None if self.x_train is None else _fractions(self.x_train, self.w_train, obs))


def _check_feature_names(names: Sequence[str] | None, d: int) -> list[str]:
    names = [f"x{k}" for k in range(d)] if names is None else [str(n) for n in names]
    if len(names) != d:
        raise BadInputError(f"{len(names)} names given for {d} features")
    if len(set(names)) != d:
        raise BadInputError(f"feature names are not unique: {names}")
    return names


def _checked_options(opts: WorthOptions, names: list[str]) -> WorthOptions:
    r"""``opts`` checked: ``bins`` a list, ``discrete`` known names, fractions in (0, 1)."""
    discrete = _check_names(names, opts.discrete, "discrete feature")
    bin_list = _check_bins(opts.bins, "bins")
    pair_bins = opts.pair_bins
    if pair_bins is not None:
        if not isinstance(pair_bins, (int, np.integer)):
            raise BadInputError(f"pair_bins must be a whole number >= 2, got {pair_bins!r}")
        (pair_bins,) = _check_bins(pair_bins, "pair_bins")
    max_bins = opts.max_combined_bins
    if (isinstance(max_bins, bool) or not isinstance(max_bins, (int, np.integer))
            or max_bins < 1):
        raise BadInputError(f"max_combined_bins must be a whole number >= 1, got "
                            f"{max_bins!r}")
    _check_fraction(opts.confidence, "confidence")
    saturation = _check_fraction(opts.saturation, "saturation")
    return WorthOptions(bins=bin_list, discrete=discrete, pair_bins=pair_bins,
                        confidence=opts.confidence, saturation=saturation,
                        max_combined_bins=max_bins)


def _size(x: np.ndarray, w: np.ndarray | None) -> dict[str, Any]:
    r"""``n`` events and their Kish ``n_eff``."""
    return {"n": len(x), "n_eff": effective_sample_size(w) if w is not None
            else float(len(x))}


def _binnings(result: dict[str, Any], data: _Samples, x_edges: np.ndarray,
              opts: WorthOptions) -> None:
    r"""The figures of each binning of the features and of the pair grid, into ``result``."""
    names = data.names
    for b in opts.bins:
        edges = [binning(x_edges[:, k], b, discrete=name in opts.discrete)
                 for k, name in enumerate(names)]
        observables = [_Observable(name, (k,), (edges[k],)) for k, name in enumerate(names)]
        result["binnings"][str(b)] = _estimate(data, observables, "features", opts)
    if opts.pair_bins is not None and len(names) >= 2:
        pb = opts.pair_bins
        edges = [binning(x_edges[:, k], pb, discrete=name in opts.discrete)
                 for k, name in enumerate(names)]
        observables = [_Observable(f"{names[i]}:{names[j]}", (i, j), (edges[i], edges[j]))
                       for i, j in itertools.combinations(range(len(names)), 2)]
        result["pairs"] = {f"{pb}x{pb}": _estimate(data, observables, "pairs", opts)}


def _check_reference(x_ref: Any, w_ref: Any, truth_cdf: Mapping[str, Any] | None,
                     x_edges: Any, opts: WorthOptions, names: list[str]
                     ) -> dict[str, Any] | None:
    r"""Checks that there is one reference; ``{"kind": "exact"}`` for a truth CDF."""
    if truth_cdf is None:
        if x_ref is None:
            raise BadInputError("no reference: give x_ref (held-out or truth events) or "
                                "truth_cdf")
        return None
    if x_ref is not None or w_ref is not None:
        raise BadInputError("give either a reference sample (x_ref, w_ref) or truth_cdf, "
                            "not both")
    if x_edges is None:
        raise BadInputError("truth_cdf needs x_edges, the events whose quantiles define "
                            "the bins")
    if opts.pair_bins is not None:
        raise BadInputError("truth_cdf gives marginal probabilities only: pair_bins "
                            "needs a reference sample")
    missing = [n for n in names if n not in truth_cdf]
    if missing:
        raise BadInputError(f"truth_cdf has no CDF for {missing}; it has "
                            f"{sorted(truth_cdf)}")
    return {"kind": "exact"}


def _estimate(data: _Samples, observables: list[_Observable], label: str,
              opts: WorthOptions) -> dict[str, Any]:
    r"""The figures of each observable and, if not too many bins, of all of them combined."""
    m = len(data.x_gen)
    z = float(stats.norm.ppf(opts.confidence))
    entry: dict[str, Any] = {label: {}}
    total = sum(o.size for o in observables)
    if total > opts.max_combined_bins:  # each observable alone: no combined figure
        for o in observables:
            entry[label][o.name] = _figures(*data.fractions([o]), np.arange(o.size), 1, m, z,
                                            opts.saturation)
        entry["combined"] = None
        entry["note"] = (f"no combined figure: {total} bins in all, more than "
                         f"max_combined_bins={opts.max_combined_bins}")
        log.info("%s: %s", label, entry["note"])
        return entry
    gen, ref, train = data.fractions(observables)
    start = 0
    for o in observables:
        sel = np.arange(start, start + o.size)
        entry[label][o.name] = _figures(gen, ref, train, sel, 1, m, z, opts.saturation)
        start += o.size
    entry["combined"] = _figures(gen, ref, train, np.arange(start), len(observables), m,
                                 z, opts.saturation)
    return entry


def _summarise(result: dict[str, Any], m: int, confidence: float) -> dict[str, Any]:
    r"""Adds the ``summary``: the most conservative combined figure (see
    :func:`equivalent_events`)."""
    candidates = [(f"binning {b}", e["combined"]) for b, e in result["binnings"].items()]
    candidates += [(f"pairs {g}", e["combined"]) for g, e in result.get("pairs", {}).items()]
    candidates = [c for c in candidates if c[1] is not None]
    if not candidates:  # too many bins for a combined figure: the single observables
        candidates = [(f"binning {b} {name}", f) for b, e in result["binnings"].items()
                      for name, f in e["features"].items()]

    def conservative(item: tuple[str, dict[str, Any]]) -> float:
        value = item[1]["n_eq_inf_lower_limit"]
        return math.inf if value is None else value

    label, best = min(candidates, key=conservative)
    result["summary"] = {"binning": label, **best}
    if "training" in result:
        result["summary"]["n_eff_train"] = result["training"]["n_eff"]
        result["recommendation"] = recommendation(
            result["training"]["n"], best.get("n_eq_train"), best["n_eq_inf"],
            best["n_eq_inf_lower_limit"], n_eq_inf_error=best["n_eq_inf_error"],
            stat_ratio=best["s_gen"] / best["s_ref"] if best["s_ref"] > 0 else 1.0,
            m_star=best["m_star"], confidence=confidence, saturation=result["saturation"])
        log.info("recommendation: %s", result["recommendation"]["text"])
    log.info("generated sample of %d events worth N_eq = %s (lower limit %s at %g CL), "
             "saturating at N_eq(inf) >= %s, M* >= %s (%s)", m, best["n_eq"],
             best["n_eq_lower_limit"], confidence, best["n_eq_inf_lower_limit"],
             best["m_star_lower_limit"], label)
    return result


def statistical_worth(names: Sequence[str], x_gen: np.ndarray, x_test: np.ndarray,
                      w_test: np.ndarray, x_train: np.ndarray, w_train: np.ndarray,
                      **options: Any) -> dict[str, Any]:
    r"""The report's entry: worth of the generated events, measured on held-out test events.

    :func:`equivalent_events` with the weighted test events as reference, bins at quantiles of
    the training events (independent of both compared samples, as in :mod:`.evaluate`) and the
    training events as the comparison for the amplification. Its ``summary`` is the figure to
    quote: the generated sample is worth ``n_eq`` true events (at least ``n_eq_lower_limit``),
    at most ``n_eq_inf`` however many are generated, reached to 90 % at ``m_star`` events.

    Arguments:
        names: Feature names (columns of the arrays).
        x_gen: (M, d) generated events (unit weights, or all of weight sigma/M).
        x_test: (n, d) held-out weighted test events.
        w_test: Their weights.
        x_train: (m, d) events the generator was trained on.
        w_train: Their weights.
        options: The fields of :class:`WorthOptions` (discrete: one bin per value, others get
            quantile bins, a value held by several quantiles a bin of its own); here
            ``pair_bins`` defaults to 5.

    References:
        A. Butter et al., SciPost Phys. 10 (2021) 139, arXiv:2008.06545.
    """
    return equivalent_events(x_gen, x_test, w_test, names=names, x_edges=x_train,
                             x_train=x_train, w_train=w_train, **{"pair_bins": 5, **options})


# ---------------------------------------------------------------- the recommendation


def recommendation(n_weighted: int, n_eq_train: float | None, n_eq_inf: float | None,
                   n_eq_inf_lower_limit: float | None, *, n_eq_inf_error: float | None = None,
                   stat_ratio: float = 1.0, m_star: float | None = None,
                   confidence: float = 0.95, saturation: float = 0.9) -> dict[str, Any]:
    r"""Whether to unweight, and how many events to generate: the answer to the user's question.

    The weighted sample is the ``n_weighted`` events the flow learnt from; its precision is
    ``n_eq_train`` equivalent events, :math:`N_\mathrm{eq,train} = S_p /
    \mathrm{tr}\,C_\mathrm{train}` of the same binning as ``n_eq_inf`` (the ``summary``'s;
    not the Kish :math:`N_\mathrm{eff}`, which ignores how the negative fraction varies over
    the bins; about :math:`N (1 - 2r)^2` for a negative fraction :math:`r` that does not).
    With the amplification :math:`A = N_\mathrm{eq}(\infty) / N_\mathrm{eq,train}` and the
    model of :func:`equivalent_events`, :math:`1 / N_\mathrm{eq}(M) = 1 / N_\mathrm{eq}(\infty)
    + c / M` with :math:`c = S_q / S_p` (``stat_ratio``, about 1), the generated sample is as
    precise as the weighted one, :math:`N_\mathrm{eq}(M) = N_\mathrm{eq,train}`, at

    .. math::
        M_\mathrm{match} = c\,N_\mathrm{eq,train} \frac{A}{A - 1} = \frac{M_0}{A - 1}
        \quad (A > 1),

    and never for :math:`A \le 1`: the generated sample then never reaches the weighted
    sample's precision, and the user is better off simulating the weighted events. The
    **saving** is the factor fewer events than the weighted sample, :math:`N / M_\mathrm{match}
    = (N / N_\mathrm{eq,train}) (1 - 1/A) / c` (0 when not reachable: :math:`M = \infty`).

    Uncertainties: ``amplification_error`` is ``n_eq_inf_error`` over ``n_eq_train``; the
    one-sided lower limit of :math:`N_\mathrm{eq}(\infty)` at ``confidence`` gives the lower
    limit of :math:`A`, and, :math:`M_\mathrm{match}` falling with :math:`A`, the upper limit
    of :math:`M_\mathrm{match}` and the lower limit of the saving at the same confidence
    (``n_eq_train`` is taken as known). An unresolved bias (``n_eq_inf`` None) is an
    unbounded :math:`A`: :math:`M_\mathrm{match} = c\,N_\mathrm{eq,train}` (statistics
    alone), with the limits from the lower limit.

    **The M to ask for** (``m_recommended``): the upper limit of :math:`M_\mathrm{match}` when
    it is reachable at ``confidence``, so that the generated sample matches the weighted one's
    precision at that confidence, not just at the central value (half the time), and the
    central :math:`N_\mathrm{eq}(\infty)` is biased upwards when the bias is barely resolved;
    the central :math:`M_\mathrm{match}` when only that is reachable (the text says it is not
    at ``confidence``); when not reachable, :math:`M^*` (``m_star``), for a user who needs
    unit weights anyway: beyond it generating more adds less than :math:`1 - f` of what the
    generator is worth.

    Returns ``{"n_weighted", "amplification", "amplification_error",
    "amplification_lower_limit", "reachable", "reachable_at_cl", "m_match",
    "m_match_upper_limit", "saving", "saving_lower_limit", "m_recommended", "text"}``
    (unbounded values None; ``m_match`` None when not reachable, ``m_match_upper_limit`` None
    when not reachable at ``confidence``), ``text`` the one-line recommendation.

    Arguments:
        n_weighted: Weighted events of the sample compared (the training events).
        n_eq_train: Their equivalent number of events (None or 0: no recommendation).
        n_eq_inf: :math:`N_\mathrm{eq}(\infty)` (None: unbounded, the bias is not resolved).
        n_eq_inf_lower_limit: Its lower limit at ``confidence`` (None: unbounded).
        n_eq_inf_error: Its standard error.
        stat_ratio: :math:`c = S_q / S_p` (``s_gen / s_ref`` of the figures).
        m_star: :math:`M^*`, for the unreachable case.
        confidence: Confidence level of the limits.
        saturation: The fraction :math:`f` that defines :math:`M^*`.

    References:
        A. Butter et al., SciPost Phys. 10 (2021) 139, arXiv:2008.06545.
    """
    keys = ("amplification", "amplification_error", "amplification_lower_limit", "reachable",
            "reachable_at_cl", "m_match", "m_match_upper_limit", "saving", "saving_lower_limit",
            "m_recommended")
    out: dict[str, Any] = {"n_weighted": int(n_weighted), **dict.fromkeys(keys)}
    if n_eq_train is None or not n_eq_train > 0:
        out["text"] = ("no recommendation: the weighted events' equivalent number is unbounded "
                       "at this binning")
        return out
    amp = math.inf if n_eq_inf is None else n_eq_inf / n_eq_train
    amp_low = math.inf if n_eq_inf_lower_limit is None else n_eq_inf_lower_limit / n_eq_train

    def match(a: float) -> float:  # generated events of N_eq(M) = n_eq_train; inf if none
        return math.inf if a <= 1 else stat_ratio * n_eq_train * (1.0 if a == math.inf
                                                                  else a / (a - 1.0))

    m_match, m_upper = match(amp), match(amp_low)
    out.update({
        "amplification": _none_if_unbounded(amp),
        "amplification_error": (None if n_eq_inf is None or n_eq_inf_error is None
                                else n_eq_inf_error / n_eq_train),
        "amplification_lower_limit": _none_if_unbounded(amp_low),
        "reachable": amp > 1, "reachable_at_cl": amp_low > 1,
        "m_match": _none_if_unbounded(m_match), "m_match_upper_limit": _none_if_unbounded(m_upper),
        "saving": n_weighted / m_match, "saving_lower_limit": n_weighted / m_upper,
    })
    if out["reachable_at_cl"]:
        out["m_recommended"] = math.ceil(m_upper)
    elif out["reachable"]:
        out["m_recommended"] = math.ceil(m_match)
    elif m_star is not None:
        out["m_recommended"] = math.ceil(m_star)
    out["text"] = _recommendation_text(out, n_eq_train, confidence, saturation)
    return out


def _times(value: float) -> str:
    r"""A factor in words: two significant digits (whole numbers from 100)."""
    return f"{value:,.0f}" if value >= 100 else f"{value:.2g}"


def _factor(value: float) -> str:
    r"""An amplification or its error: two decimals (two significant digits from 10)."""
    return _times(value) if value >= 10 else f"{value:.2f}"


def _fewer(saving: float, bound: bool) -> str:
    r"""``saving`` (a lower limit if ``bound``) as fewer or more events than the weighted ones."""
    if saving >= 1:
        return f"{'at least ' if bound else ''}{_times(saving)}x fewer events"
    return f"{'at most ' if bound else ''}{_times(1 / saving)}x more events"


def _recommendation_text(rec: Mapping[str, Any], n_eq_train: float, confidence: float,
                         saturation: float) -> str:
    r"""The one line of :func:`recommendation`."""
    cl = f"{100 * confidence:g} % CL"
    weighted = f"the {rec['n_weighted']:,} weighted training events"
    amp, error, low = (rec["amplification"], rec["amplification_error"],
                       rec["amplification_lower_limit"])
    low_text = "unbounded" if low is None else f">= {_factor(low)} at {cl}"
    amp_text = (f"amplification {low_text}, bias not resolved" if amp is None else
                f"amplification {_factor(amp)}"
                + (f" +- {_factor(error)}" if error is not None else "") + f", {low_text}")
    if rec["reachable_at_cl"]:
        return (f"ask for {rec['m_recommended']:,} events: at {cl} they match the precision of "
                f"{weighted} with {_fewer(rec['saving_lower_limit'], True)} "
                f"({_fewer(rec['saving'], False)} at the central estimate, "
                f"{rec['m_match']:,.0f} events; {amp_text})")
    if rec["reachable"]:
        return (f"ask for {rec['m_recommended']:,} events: at the central estimate they match "
                f"the precision of {weighted} with {_fewer(rec['saving'], False)}, but not at "
                f"{cl} ({amp_text})")
    tail = "" if rec["m_recommended"] is None else (
        f" (if unit weights are needed anyway, ask for {rec['m_recommended']:,} events, beyond "
        f"which more add less than {100 * (1 - saturation):g} %)")
    return (f"unweighting is not worth it here: however many events are generated, they are "
            f"worth at most {_factor(amp)}"
            + (f" +- {_factor(error)}" if error is not None else "")
            + f" times the {n_eq_train:,.0f} equivalent events of {weighted}; simulate the "
            "weighted events instead" + tail)
