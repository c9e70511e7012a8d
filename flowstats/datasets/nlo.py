r"""A negatively weighted toy sample built the way NLO subtraction schemes build one.

Observables: the boson transverse momentum ``pt`` (GeV), rapidity ``y``, mass ``m`` (GeV) and
the jet multiplicity ``njet`` (0..3). Two fixed densities are defined in closed form:

* the **truth** :math:`t(x)`, the physical distribution the weighted sample converges to;
* the **counter-event** density :math:`f_-(x)`, concentrated at low ``pt``, central ``y`` and
  low ``njet``, where a real subtraction's counter-terms sit.

For a negative fraction :math:`\nu` (``negative_fraction``) let :math:`a = \nu / (1 - 2\nu)`.
Positive events are drawn from :math:`f_+ = (t + a f_-) / (1 + a)` with weight :math:`+w` and
negative ones from :math:`f_-` with weight :math:`-w`, with probabilities :math:`1 - \nu` and
:math:`\nu`. The expected weighted density is then :math:`(1 - 2\nu) w N t`, i.e.
:math:`t = (1 + a) f_+ - a f_-` is non-negative by construction for every :math:`\nu < 1/2`, and
:math:`w = \sigma / (N (1 - 2\nu))` makes the sum of weights an unbiased estimate of
:data:`SIGMA`. Dropping the negative events leaves :math:`f_+`, visibly biased towards low pt.

Each density (``t`` and ``f_-``) factorises as

.. math::
    p(p_T) \, \mathcal{N}(y; 0, \sigma_y(p_T)) \, \mathrm{BW}(m) \, P(n_\mathrm{jet} \mid p_T)

with a gamma pt spectrum, a rapidity width falling with pt, a Breit-Wigner mass on
[60, 120] GeV and a truncated-Poisson jet multiplicity whose mean grows with pt. Formulas and
parameter values are in ``docs/guide/datasets.md``.

References:
    S. Frixione and B. R. Webber, "Matching NLO QCD computations and parton shower
    simulations", JHEP 06 (2002) 029, arXiv:hep-ph/0204244 (negative weights from subtraction).
"""

from __future__ import annotations

import logging
import math
from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np
from scipy import special

from ..exceptions import BadInputError
from ._columns import split_columns

log = logging.getLogger(__name__)

__all__ = [
    "DISCRETE",
    "FEATURES",
    "MAX_NEGATIVE_FRACTION",
    "SIGMA",
    "generate",
    "log_prob_negative",
    "log_prob_positive",
    "truth",
    "truth_log_prob",
    "truth_njet_probabilities",
]

#: continuous observables, in the column order of the ``x`` arrays
FEATURES: list[str] = ["pt", "y", "m"]
#: integer observables (jet multiplicity 0..NJET_MAX)
DISCRETE: list[str] = ["njet"]
#: total cross-section (pb) the weights sum to in expectation
SIGMA = 1000.0
#: negative fractions must be below this (at 1/2 the weights cancel exactly)
MAX_NEGATIVE_FRACTION = 0.5

MZ, GAMMA_Z = 91.1876, 2.4952  #: Breit-Wigner mass and width (GeV)
M_LOW, M_HIGH = 60.0, 120.0  #: mass window (GeV)
NJET_MAX = 3


_LOG_SQRT_2PI = 0.5 * math.log(2 * math.pi)


def _gamma_logpdf(v: np.ndarray, shape: float, scale: float) -> np.ndarray:
    with np.errstate(divide="ignore", invalid="ignore"):
        out = special.xlogy(shape - 1.0, v) - v / scale - shape * math.log(scale) \
            - special.gammaln(shape)
    return np.where(v > 0, out, -np.inf)


class _TruncatedBreitWigner:
    r"""Cauchy(MZ, GAMMA_Z / 2) truncated to [M_LOW, M_HIGH]; closed-form CDF and inverse."""

    def __init__(self) -> None:
        self.half = GAMMA_Z / 2
        self.lo = math.atan((M_LOW - MZ) / self.half)
        self.hi = math.atan((M_HIGH - MZ) / self.half)

    def logpdf(self, m: np.ndarray) -> np.ndarray:
        m = np.asarray(m, dtype=np.float64)
        out = -np.log1p(((m - MZ) / self.half) ** 2) - math.log(self.half * (self.hi - self.lo))
        return np.where((m >= M_LOW) & (m <= M_HIGH), out, -np.inf)

    def ppf(self, u: np.ndarray) -> np.ndarray:
        return MZ + self.half * np.tan(self.lo + np.asarray(u) * (self.hi - self.lo))


#: the mass density shared by t and ``f_-``
MASS_BW = _TruncatedBreitWigner()


@dataclass(frozen=True)
class _Component:
    r"""One factorised density: gamma pt, Gaussian y | pt, Breit-Wigner m, Poisson njet | pt."""

    pt_shape: float  # gamma shape
    pt_scale: float  # gamma scale (GeV)
    y_sigma_low: float  # rapidity width at pt -> 0
    y_sigma_high: float  # rapidity width at pt -> infinity
    y_pt: float  # pt scale of the transition (GeV)
    nj_lambda0: float  # Poisson mean at pt = 0
    nj_pt: float  # pt (GeV) per unit of Poisson mean

    def y_sigma(self, pt: np.ndarray) -> np.ndarray:
        return self.y_sigma_high + (self.y_sigma_low - self.y_sigma_high) * np.exp(-pt / self.y_pt)

    def njet_log_pmf(self, pt: np.ndarray) -> np.ndarray:
        """(n, NJET_MAX + 1) log probabilities of njet = 0..NJET_MAX given pt."""
        lam = self.nj_lambda0 + np.asarray(pt)[:, None] / self.nj_pt
        k = np.arange(NJET_MAX + 1)
        logw = k * np.log(lam) - special.gammaln(k + 1)
        return logw - special.logsumexp(logw, axis=1, keepdims=True)

    def log_prob(self, pt: np.ndarray, y: np.ndarray, m: np.ndarray,
                 njet: np.ndarray | None = None) -> np.ndarray:
        with np.errstate(divide="ignore", invalid="ignore"):
            out = _gamma_logpdf(pt, self.pt_shape, self.pt_scale)
            sigma = self.y_sigma(np.where(pt > 0, pt, 0.0))
            out = out - 0.5 * (y / sigma) ** 2 - np.log(sigma) - _LOG_SQRT_2PI
            out = out + MASS_BW.logpdf(m)
            if njet is not None:
                njet = np.asarray(njet)
                ok = (njet == np.round(njet)) & (njet >= 0) & (njet <= NJET_MAX)
                k = np.where(ok, njet, 0).astype(np.int64)
                lp = np.take_along_axis(self.njet_log_pmf(np.where(pt > 0, pt, 1.0)),
                                        k[:, None], axis=1)[:, 0]
                out = out + np.where(ok, lp, -np.inf)
        return np.where(np.isnan(out), -np.inf, out)

    def sample(self, n: int, rng: np.random.Generator) -> dict[str, np.ndarray]:
        pt = rng.gamma(self.pt_shape, self.pt_scale, n)
        y = self.y_sigma(pt) * rng.standard_normal(n)
        m = MASS_BW.ppf(rng.random(n))
        cdf = np.cumsum(np.exp(self.njet_log_pmf(pt)), axis=1)
        njet = (rng.random(n)[:, None] > cdf[:, :-1]).sum(axis=1).astype(np.int32)
        return {"pt": pt, "y": y, "m": m, "njet": njet}


#: the truth density t
TRUTH = _Component(pt_shape=1.6, pt_scale=11.0, y_sigma_low=1.8, y_sigma_high=1.2, y_pt=30.0,
                   nj_lambda0=0.15, nj_pt=20.0)
#: the counter-event density ``f_-``
COUNTER = _Component(pt_shape=1.2, pt_scale=5.0, y_sigma_low=1.0, y_sigma_high=0.8, y_pt=30.0,
                     nj_lambda0=0.05, nj_pt=40.0)


# ---------------------------------------------------------------- input handling


def _check_count(value: int, what: str, minimum: int = 1) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)):
        raise BadInputError(f"{what} must be a whole number, got {value!r}")
    if value < minimum:
        raise BadInputError(f"{what} must be >= {minimum}, got {value}")
    return int(value)


def _check_fraction(negative_fraction: float) -> float:
    try:
        nu = float(negative_fraction)
    except (TypeError, ValueError):
        raise BadInputError(
            f"negative_fraction must be a number, got {negative_fraction!r}") from None
    if not math.isfinite(nu) or nu < 0:
        raise BadInputError(f"negative_fraction must be >= 0, got {negative_fraction!r}")
    if nu >= MAX_NEGATIVE_FRACTION:
        raise BadInputError(
            f"negative_fraction {nu:g} is too large: the maximum allowed is < "
            f"{MAX_NEGATIVE_FRACTION:g} (at {MAX_NEGATIVE_FRACTION:g} positive and negative "
            "weights cancel and no positive truth density remains)")
    return nu


def _columns(x: np.ndarray | Mapping[str, np.ndarray]) -> tuple[np.ndarray, ...]:
    """Splits ``x`` ((n, d) array in FEATURES order, or a mapping of columns) into columns."""
    return split_columns(x, FEATURES, "nlo observables")


# ---------------------------------------------------------------- densities


def truth_log_prob(x: np.ndarray | Mapping[str, np.ndarray], *,
                   njet: np.ndarray | None = None) -> np.ndarray:
    r"""Normalised log truth density :math:`\log t(p_T, y, m)`.

    With ``njet`` the joint log density (density times probability)
    :math:`\log t(p_T, y, m) + \log P_t(n_\mathrm{jet} \mid p_T)` is returned instead.

    Arguments:
        x: An (n, 3) array with columns :data:`FEATURES`, or a mapping of columns.
        njet: Jet multiplicities (integers 0..3), shape (n,).
    """
    return TRUTH.log_prob(*_columns(x), njet)


def log_prob_negative(x: np.ndarray | Mapping[str, np.ndarray], *,
                      njet: np.ndarray | None = None) -> np.ndarray:
    r"""Normalised log density :math:`\log f_-` of the negative (counter) events.

    Arguments:
        x: An (n, 3) array with columns :data:`FEATURES`, or a mapping of columns.
        njet: Jet multiplicities, to get the joint density (see :func:`truth_log_prob`).
    """
    return COUNTER.log_prob(*_columns(x), njet)


def log_prob_positive(x: np.ndarray | Mapping[str, np.ndarray], *,
                      njet: np.ndarray | None = None,
                      negative_fraction: float = 0.2) -> np.ndarray:
    r"""Normalised log density :math:`\log f_+ = \log[(t + a f_-) / (1 + a)]` of the positive
    events, :math:`a = \nu / (1 - 2\nu)`.

    Arguments:
        x: An (n, 3) array with columns :data:`FEATURES`, or a mapping of columns.
        njet: Jet multiplicities, to get the joint density (see :func:`truth_log_prob`).
        negative_fraction: The fraction :math:`\nu` of negatively weighted events.
    """
    nu = _check_fraction(negative_fraction)
    a = nu / (1 - 2 * nu)
    lt, lm = truth_log_prob(x, njet=njet), log_prob_negative(x, njet=njet)
    if a == 0:
        return lt
    return np.logaddexp(lt, math.log(a) + lm) - math.log1p(a)


def truth_njet_probabilities() -> np.ndarray:
    r"""Marginal truth probabilities of njet = 0..3, :math:`\int p_t(p_T) P_t(k \mid p_T)\,dp_T`.

    Computed by 400-point Gauss-Legendre quadrature in :math:`\sqrt{p_T}` on [0, 1000] GeV
    (accurate to ~1e-12).
    """
    nodes, weights = special.roots_legendre(400)
    half = 0.5 * math.sqrt(1000.0)
    s = half * (nodes + 1.0)
    pt = s**2
    density = np.exp(_gamma_logpdf(pt, TRUTH.pt_shape, TRUTH.pt_scale)) * 2 * s * half * weights
    return density @ np.exp(TRUTH.njet_log_pmf(pt))


# ---------------------------------------------------------------- sampling


def _rng(seed: int | np.random.Generator) -> np.random.Generator:
    if isinstance(seed, np.random.Generator):
        return seed
    return np.random.default_rng(_check_count(seed, "seed", minimum=0))


def truth(n: int, *, seed: int | np.random.Generator = 0) -> dict[str, np.ndarray]:
    r"""Samples ``n`` unweighted events of the truth density exactly.

    Arguments:
        n: Number of events.
        seed: Non-negative integer seed (or numpy Generator).

    Returns:
        Columns ``pt, y, m`` (float64) and ``njet`` (int32).
    """
    n = _check_count(n, "the number of truth events")
    return TRUTH.sample(n, _rng(seed))


def generate(n: int = 200_000, *, negative_fraction: float = 0.2,
             seed: int = 0) -> dict[str, np.ndarray]:
    r"""Generates ``n`` weighted events: positive ones from :math:`f_+`, negative from :math:`f_-`.

    The number of negative events is binomial(n, negative_fraction); every weight is
    :math:`\pm w` with :math:`w = \sigma / (n (1 - 2\nu))`, so that the expected sum of weights
    is :data:`SIGMA` and the expected weighted density :math:`\sigma\, t(x)`.

    Arguments:
        n: Number of events.
        negative_fraction: Expected fraction :math:`\nu` of negatively weighted events,
            0 <= nu < 0.5.
        seed: Non-negative integer seed.

    Returns:
        Columns ``pt, y, m, weight`` (float64) and ``njet`` (int32), shuffled.
    """
    n = _check_count(n, "the number of events n")
    nu = _check_fraction(negative_fraction)
    seed = _check_count(seed, "seed", minimum=0)
    ss_split, ss_truth, ss_counter, ss_shuffle = np.random.SeedSequence(seed).spawn(4)
    # f_+ = (1 - 2 nu)/(1 - nu) t + nu/(1 - nu) f_-: per event, t with probability 1 - 2 nu,
    # f_- with positive weight with probability nu, f_- with negative weight with probability nu
    n_t, n_cpos, n_neg = np.random.default_rng(ss_split).multinomial(n, [1 - 2 * nu, nu, nu])
    w = SIGMA / (n * (1 - 2 * nu))
    from_t = TRUTH.sample(int(n_t), np.random.default_rng(ss_truth))
    from_c = COUNTER.sample(int(n_cpos + n_neg), np.random.default_rng(ss_counter))
    sign = np.concatenate([np.ones(n_t + n_cpos), -np.ones(n_neg)])
    order = np.random.default_rng(ss_shuffle).permutation(n)
    out = {k: np.concatenate([from_t[k], from_c[k]])[order] for k in from_t}
    out["weight"] = (w * sign)[order]
    log.info("nlo: %d events, %d negative (requested fraction %g), w = %g", n, n_neg, nu, w)
    return out
