r"""An analytic LHC-Olympics-2020-like dijet resonance search sample.

Every density is known in closed form, so the exact (Neyman-Pearson optimal) likelihood ratio
of each event is available and anomaly-detection methods (ANODE, CATHODE, CWoLa, ...) can be
compared with the optimum. The formulas and parameter values are in ``docs/guide/datasets.md``.

Background (QCD-like), with :math:`r = m_{jj} / 3500\,\mathrm{GeV}`:

* :math:`m_{jj}`: the 3-parameter dijet function
  :math:`f(x) = (1-x)^{p_1} / x^{p_2}`, :math:`x = m_{jj}/\sqrt{s}`, :math:`\sqrt{s} = 13` TeV,
  on :math:`[2500, 6000]` GeV;
* :math:`m_{j1} \mid m_{jj}`: log-normal whose median grows as :math:`r^{0.8}`;
* :math:`\Delta m_j = m_{j2} - m_{j1} \mid m_{j1}, m_{jj}`: gamma whose scale grows with both;
* :math:`\tau_{21}^{j1} \mid m_{j1}, m_{jj}` and :math:`\tau_{21}^{j2} \mid m_{j2}, m_{jj},
  \tau_{21}^{j1}`: beta distributions whose means fall with the jet mass, rise slowly with
  :math:`m_{jj}` and (for the second jet) follow the first jet's value.

Signal :math:`W' \to X Y` (both two-pronged): :math:`m_{jj}` a truncated Gaussian around
:math:`m_{W'}`, the two jet masses log-normal around :math:`m_X` and :math:`m_Y` (the lighter
one is ``mj1``), :math:`\tau_{21}` of both jets beta distributed with mean 0.34.

References:
    G. Kasieczka et al., "The LHC Olympics 2020", Rep. Prog. Phys. 84 (2021) 124201,
    arXiv:2101.08320.
    CMS Collaboration, dijet function, Phys. Rev. D 87 (2013) 114015, arXiv:1302.4794.
"""

from __future__ import annotations

import functools
import logging
import math
import sys
from collections.abc import Mapping
from typing import Any

import numpy as np
from scipy import integrate, special, stats

from ..exceptions import BadInputError
from ._columns import split_columns

log = logging.getLogger(__name__)

#: the sample's name in log messages and outputs
NAME = "dijet"

__all__ = [
    "assemble",
    "columns",
    "sample_two_prong",
    "two_prong_log_prob",
    "FEATURES",
    "MASS",
    "M_MAX",
    "M_MIN",
    "SQRT_S",
    "generate",
    "log_prob_background",
    "log_prob_mjj_background",
    "log_prob_mjj_signal",
    "log_prob_signal",
    "sample_background",
    "sample_signal",
]

#: auxiliary features, in the column order of the ``x`` arrays
FEATURES: list[str] = ["mj1", "delta_mj", "tau21_j1", "tau21_j2"]
#: the resonance (conditioning) variable
MASS: str = "mjj"
#: every column written by :func:`generate`
COLUMNS: list[str] = ["mjj", "mj1", "mj2", "delta_mj", "tau21_j1", "tau21_j2", "label", "llr",
                      "llr_full"]

SQRT_S = 13000.0  #: collider energy (GeV)
M_MIN = 2500.0  #: lower end of the m_jj range (GeV)
M_MAX = 6000.0  #: upper end of the m_jj range (GeV)
M_REF = 3500.0  #: reference m_jj of the feature parametrisations (GeV)

# background m_jj: dijet function (1 - x)^P1 / x^(P2 + P3 ln x)
P1, P2, P3 = 10.0, 3.5, 0.0
# background mj1 | mjj: log-normal, median MJ1_SCALE * r^MJ1_SLOPE, log-width MJ1_SIGMA
MJ1_SCALE, MJ1_SLOPE, MJ1_SIGMA = 60.0, 0.8, 0.65
# background delta_mj | mj1, mjj: gamma, shape DM_SHAPE,
# scale DM_SCALE * r^DM_SLOPE * (mj1 / MJ1_SCALE)^DM_CORR
DM_SHAPE, DM_SCALE, DM_SLOPE, DM_CORR = 1.1, 90.0, 0.7, 0.5
# background tau21: beta with concentration TAU_CONC and mean sigmoid(eta),
# eta = TAU_LOGIT0 - TAU_MASS ln(mj / MJ1_SCALE) + TAU_MJJ ln r (+ TAU_CORR (logit tau_j1 - TAU_LOGIT0))
TAU_LOGIT0, TAU_MASS, TAU_MJJ, TAU_CORR, TAU_CONC = 0.62, 0.25, 0.3, 0.3, 6.0
# signal
SIG_MJJ_RES = 0.05  #: relative m_jj resolution of the signal (Gaussian width / m_W')
SIG_MJ_RES = 0.12  #: log-width of the signal jet masses
SIG_TAU_MEAN, SIG_TAU_CONC = 0.34, 6.0  #: beta mean and concentration of signal tau21

_LOG_EPS = 1e-300


# ---------------------------------------------------------------- input handling


def _check_count(value: int, what: str) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)):
        raise BadInputError(f"{what} must be a whole number, got {value!r}")
    if value < 0:
        raise BadInputError(f"{what} must be >= 0, got {value}")
    return int(value)


def _check_masses(m_wprime: float | None = None, m_x: float | None = None,
                  m_y: float | None = None) -> None:
    for name, value in (("m_wprime", m_wprime), ("m_x", m_x), ("m_y", m_y)):
        if value is None:
            continue
        try:
            ok = math.isfinite(float(value)) and float(value) > 0
        except (TypeError, ValueError):
            ok = False
        if not ok:
            raise BadInputError(f"{name} must be a positive number of GeV, got {value!r}")
    if m_wprime is not None and not M_MIN <= m_wprime <= M_MAX:
        raise BadInputError(f"m_wprime = {m_wprime:g} GeV is outside the m_jj range "
                            f"[{M_MIN:g}, {M_MAX:g}] GeV of the dijet dataset")
    if None not in (m_wprime, m_x, m_y) and m_x + m_y >= m_wprime:
        raise BadInputError(f"m_x + m_y = {m_x + m_y:g} GeV must be below m_wprime = "
                            f"{m_wprime:g} GeV")


def _rng(seed: int | np.random.Generator | np.random.SeedSequence) -> np.random.Generator:
    if isinstance(seed, np.random.Generator):
        return seed
    if isinstance(seed, (int, np.integer)) and not isinstance(seed, bool) and seed < 0:
        raise BadInputError(f"seed must be >= 0, got {seed}")
    return np.random.default_rng(seed)


def _features(x: np.ndarray | Mapping[str, np.ndarray]) -> tuple[np.ndarray, ...]:
    """Splits ``x`` ((n, d) array in FEATURES order, or a mapping of columns) into columns."""
    return split_columns(x, FEATURES, "dijet features")


# ---------------------------------------------------------------- background m_jj


def _log_dijet(m: np.ndarray) -> np.ndarray:
    """Unnormalised log of the dijet function."""
    x = np.asarray(m, dtype=np.float64) / SQRT_S
    lx = np.log(x)
    return P1 * np.log1p(-x) - (P2 + P3 * lx) * lx


@functools.lru_cache(maxsize=1)
def _log_norm_mjj() -> float:
    value, _ = integrate.quad(lambda m: math.exp(_log_dijet(m)), M_MIN, M_MAX,
                              epsabs=0.0, epsrel=1e-12, limit=200)
    return math.log(value)


@functools.lru_cache(maxsize=1)
def _mjj_grid() -> tuple[np.ndarray, np.ndarray]:
    """A fine grid of m_jj and the CDF of the dijet function on it (trapezoid rule)."""
    grid = np.linspace(M_MIN, M_MAX, 2**16 + 1)
    pdf = np.exp(_log_dijet(grid) - _log_norm_mjj())
    cdf = np.concatenate([[0.0], np.cumsum(0.5 * (pdf[1:] + pdf[:-1]) * np.diff(grid))])
    cdf /= cdf[-1]
    return grid, cdf


def log_prob_mjj_background(m: np.ndarray) -> np.ndarray:
    r"""Log density of the background :math:`m_{jj}` (normalised on [M_MIN, M_MAX], in 1/GeV).

    Arguments:
        m: Dijet invariant masses (GeV); outside the range the density is 0 (log -inf).
    """
    m = np.asarray(m, dtype=np.float64)
    inside = (m >= M_MIN) & (m <= M_MAX)
    out = np.full(m.shape, -np.inf)
    out[inside] = _log_dijet(m[inside]) - _log_norm_mjj()
    return out


def _sample_mjj_background(n: int, rng: np.random.Generator) -> np.ndarray:
    # inverse CDF on a grid of 65537 points: the sampled density is the cell average of the
    # exact one (relative difference < 1e-8 for this smooth spectrum)
    grid, cdf = _mjj_grid()
    return np.interp(rng.random(n), cdf, grid)


# ---------------------------------------------------------------- signal m_jj


def _mjj_signal_dist(m_wprime: float) -> stats.rv_continuous:
    scale = SIG_MJJ_RES * m_wprime
    return stats.truncnorm((M_MIN - m_wprime) / scale, (M_MAX - m_wprime) / scale,
                           loc=m_wprime, scale=scale)


def log_prob_mjj_signal(m: np.ndarray, *, m_wprime: float = 3500.0) -> np.ndarray:
    r"""Log density of the signal :math:`m_{jj}`: a Gaussian of width 5 % of ``m_wprime``
    truncated to [M_MIN, M_MAX] (normalised there, in 1/GeV).

    Arguments:
        m: Dijet invariant masses (GeV).
        m_wprime: The resonance mass (GeV).
    """
    _check_masses(m_wprime=m_wprime)
    return _mjj_signal_dist(m_wprime).logpdf(np.asarray(m, dtype=np.float64))


# ---------------------------------------------------------------- background features


def _bkg_params(mjj: np.ndarray, mj1: np.ndarray | None = None):
    lr = np.log(mjj / M_REF)
    mu1 = math.log(MJ1_SCALE) + MJ1_SLOPE * lr
    if mj1 is None:
        return lr, mu1
    dm_scale = DM_SCALE * np.exp(DM_SLOPE * lr) * (mj1 / MJ1_SCALE) ** DM_CORR
    return lr, mu1, dm_scale


def _tau_eta(mj: np.ndarray, lr: np.ndarray, tau_j1: np.ndarray | None = None) -> np.ndarray:
    eta = TAU_LOGIT0 - TAU_MASS * np.log(mj / MJ1_SCALE) + TAU_MJJ * lr
    if tau_j1 is not None:
        eta = eta + TAU_CORR * (special.logit(tau_j1) - TAU_LOGIT0)
    return eta


def _beta_ab(mean: np.ndarray | float, conc: float) -> tuple[np.ndarray, np.ndarray]:
    return mean * conc, (1.0 - mean) * conc


def _beta_logpdf(t: np.ndarray, a: np.ndarray, b: np.ndarray) -> np.ndarray:
    with np.errstate(divide="ignore", invalid="ignore"):
        out = special.xlogy(a - 1.0, t) + special.xlog1py(b - 1.0, -t) - special.betaln(a, b)
    return np.where((t > 0) & (t < 1), out, -np.inf)


def _lognormal_logpdf(v: np.ndarray, mu: np.ndarray | float, sigma: float) -> np.ndarray:
    with np.errstate(divide="ignore", invalid="ignore"):
        lv = np.log(v)
        out = -0.5 * ((lv - mu) / sigma) ** 2 - lv - math.log(sigma * math.sqrt(2 * math.pi))
    return np.where(v > 0, out, -np.inf)


def _gamma_logpdf(v: np.ndarray, shape: float, scale: np.ndarray) -> np.ndarray:
    with np.errstate(divide="ignore", invalid="ignore"):
        out = (special.xlogy(shape - 1.0, v) - v / scale - shape * np.log(scale)
               - special.gammaln(shape))
    return np.where(v > 0, out, -np.inf)


def log_prob_background(x: np.ndarray | Mapping[str, np.ndarray], m: np.ndarray) -> np.ndarray:
    r"""Exact log density :math:`\log p_\mathrm{bkg}(x \mid m_{jj})` of the background features.

    Arguments:
        x: Features, an (n, 4) array with columns :data:`FEATURES` or a mapping of them.
        m: The events' :math:`m_{jj}` (GeV), shape (n,).
    """
    mj1, dm, t1, t2 = _features(x)
    mjj = np.asarray(m, dtype=np.float64)
    with np.errstate(divide="ignore", invalid="ignore"):
        lr, mu1, dm_scale = _bkg_params(mjj, mj1)
        out = _lognormal_logpdf(mj1, mu1, MJ1_SIGMA)
        out = out + _gamma_logpdf(dm, DM_SHAPE, dm_scale)
        a, b = _beta_ab(special.expit(_tau_eta(mj1, lr)), TAU_CONC)
        out = out + _beta_logpdf(t1, a, b)
        a, b = _beta_ab(special.expit(_tau_eta(mj1 + dm, lr, t1)), TAU_CONC)
        out = out + _beta_logpdf(t2, a, b)
    return np.where(np.isnan(out), -np.inf, out)


def _sample_features_background(mjj: np.ndarray, rng: np.random.Generator) -> dict:
    n = len(mjj)
    lr, mu1 = _bkg_params(mjj)
    mj1 = np.exp(mu1 + MJ1_SIGMA * rng.standard_normal(n))
    _, _, dm_scale = _bkg_params(mjj, mj1)
    dm = rng.gamma(DM_SHAPE, dm_scale)
    a, b = _beta_ab(special.expit(_tau_eta(mj1, lr)), TAU_CONC)
    t1 = rng.beta(a, b)
    a, b = _beta_ab(special.expit(_tau_eta(mj1 + dm, lr, t1)), TAU_CONC)
    t2 = rng.beta(a, b)
    return {"mj1": mj1, "delta_mj": dm, "tau21_j1": t1, "tau21_j2": t2}


def sample_background(n: int, *, seed: int | np.random.Generator = 0) -> dict[str, np.ndarray]:
    r"""Samples ``n`` background events (columns mjj, mj1, mj2, delta_mj, tau21_j1, tau21_j2).

    Arguments:
        n: Number of events.
        seed: Seed (or numpy Generator) of the random numbers.
    """
    n = _check_count(n, "the number of background events")
    rng = _rng(seed)
    mjj = _sample_mjj_background(n, rng)
    return columns(mjj, _sample_features_background(mjj, rng))


# ---------------------------------------------------------------- signal features


def log_prob_signal(x: np.ndarray | Mapping[str, np.ndarray], m: np.ndarray | None = None, *,
                    m_x: float = 500.0, m_y: float = 100.0) -> np.ndarray:
    r"""Exact log density :math:`\log p_\mathrm{sig}(x \mid m_{jj})` of the signal features.

    The two jets' masses are log-normal around ``m_x`` and ``m_y`` (log-width 0.12) and
    ``mj1`` is the lighter one, so the density of (mj1, delta_mj) is
    :math:`g_X(m_{j1} + \Delta) g_Y(m_{j1}) + g_X(m_{j1}) g_Y(m_{j1} + \Delta)`. The features do
    not depend on :math:`m_{jj}` (``m`` is accepted for symmetry with the background).

    Arguments:
        x: Features, an (n, 4) array with columns :data:`FEATURES` or a mapping of them.
        m: The events' :math:`m_{jj}` (unused).
        m_x: Mass of the heavier daughter X (GeV).
        m_y: Mass of the lighter daughter Y (GeV).
    """
    _check_masses(m_x=m_x, m_y=m_y)
    mj1, dm, t1, t2 = _features(x)
    with np.errstate(divide="ignore", invalid="ignore"):
        masses = two_prong_log_prob(mj1, dm, m_x, m_y, SIG_MJ_RES)
        a, b = _beta_ab(SIG_TAU_MEAN, SIG_TAU_CONC)
        out = masses + _beta_logpdf(t1, a, b) + _beta_logpdf(t2, a, b)
    return np.where(np.isnan(out), -np.inf, out)


def two_prong_log_prob(mj1: np.ndarray, dm: np.ndarray, m_x: float, m_y: float,
                       width: float) -> np.ndarray:
    r"""Log density of the signal's jet masses ``(mj1, delta_mj)``: the two jets log-normal
    around ``m_x`` and ``m_y`` (log-width ``width``), ``mj1`` the lighter one,
    :math:`g_X(m_{j1} + \Delta) g_Y(m_{j1}) + g_X(m_{j1}) g_Y(m_{j1} + \Delta)`; ``-inf`` for
    ``delta_mj < 0``. Shared with :mod:`flowstats.datasets.dijet_variant`.

    Arguments:
        mj1, dm: The lighter jet's mass and the mass difference (GeV).
        m_x, m_y: The daughters' masses (GeV).
        width: The log-normal width of each jet mass.
    """
    mj2 = mj1 + dm
    lx, ly = math.log(m_x), math.log(m_y)
    masses = np.logaddexp(
        _lognormal_logpdf(mj2, lx, width) + _lognormal_logpdf(mj1, ly, width),
        _lognormal_logpdf(mj1, lx, width) + _lognormal_logpdf(mj2, ly, width))
    return np.where(dm >= 0, masses, -np.inf)


def sample_two_prong(n: int, rng: np.random.Generator, m_wprime: float, m_x: float,
                     m_y: float, width: float, tau_mean: float, tau_conc: float
                     ) -> tuple[np.ndarray, dict[str, np.ndarray]]:
    r"""The signal's ``mjj`` and features ``mj1``, ``delta_mj``, ``tau21_j1``, ``tau21_j2``
    (drawn in this order from ``rng``): the resonance's truncated Gaussian, the two log-normal
    jet masses of :func:`two_prong_log_prob` and two independent beta tau21s. Shared with
    :mod:`flowstats.datasets.dijet_variant`.

    Arguments:
        n: Number of events.
        rng: The random generator.
        m_wprime, m_x, m_y: The masses (GeV).
        width: The log-normal width of each jet mass.
        tau_mean, tau_conc: The beta mean and concentration of each tau21.
    """
    mjj = _mjj_signal_dist(m_wprime).ppf(rng.random(n))
    ja = m_x * np.exp(width * rng.standard_normal(n))
    jb = m_y * np.exp(width * rng.standard_normal(n))
    mj1, mj2 = np.minimum(ja, jb), np.maximum(ja, jb)
    a, b = _beta_ab(tau_mean, tau_conc)
    return mjj, {"mj1": mj1, "delta_mj": mj2 - mj1, "tau21_j1": rng.beta(a, b, n),
                 "tau21_j2": rng.beta(a, b, n)}


def sample_signal(n: int, *, m_wprime: float = 3500.0, m_x: float = 500.0, m_y: float = 100.0,
                  seed: int | np.random.Generator = 0) -> dict[str, np.ndarray]:
    r"""Samples ``n`` signal events W' -> X Y (columns as :func:`sample_background`).

    Arguments:
        n: Number of events.
        m_wprime: Resonance mass (GeV).
        m_x: Mass of X (GeV).
        m_y: Mass of Y (GeV).
        seed: Seed (or numpy Generator) of the random numbers.
    """
    n = _check_count(n, "the number of signal events")
    _check_masses(m_wprime, m_x, m_y)
    return columns(*sample_two_prong(n, _rng(seed), m_wprime, m_x, m_y, SIG_MJ_RES,
                                     SIG_TAU_MEAN, SIG_TAU_CONC))


def columns(mjj: np.ndarray, features: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    r"""The sample's columns: ``mjj``, ``mj1``, ``mj2`` (= ``mj1 + delta_mj``), then the
    other features in their order. Shared with :mod:`flowstats.datasets.dijet_variant`.

    Arguments:
        mjj: The dijet masses.
        features: ``mj1``, ``delta_mj`` and the other features, in the columns' order.
    """
    rest = {k: v for k, v in features.items() if k != "mj1"}
    return {"mjj": mjj, "mj1": features["mj1"], "mj2": features["mj1"] + features["delta_mj"],
            **rest}


# ---------------------------------------------------------------- the full sample


def generate(n_background: int = 1_000_000, n_signal: int = 1000, *, m_wprime: float = 3500.0,
             m_x: float = 500.0, m_y: float = 100.0, seed: int = 0) -> dict[str, np.ndarray]:
    r"""Generates a shuffled sample of background and signal events with truth information.

    The background and the signal use independent random streams spawned from
    ``numpy.random.SeedSequence(seed)``, so the background does not change with ``n_signal``.

    Arguments:
        n_background: Number of background events.
        n_signal: Number of signal events.
        m_wprime: Resonance mass (GeV).
        m_x: Mass of the heavier daughter (GeV).
        m_y: Mass of the lighter daughter (GeV).
        seed: Non-negative integer seed.

    Returns:
        Columns ``mjj, mj1, mj2, delta_mj, tau21_j1, tau21_j2`` (float64, GeV), ``label``
        (int8, 1 for signal), ``llr`` (:math:`\log p_\mathrm{sig}(x|m) - \log p_\mathrm{bkg}(x|m)`)
        and ``llr_full`` (:math:`\log p_\mathrm{sig}(m, x) - \log p_\mathrm{bkg}(m, x)`).
    """
    return assemble(sys.modules[__name__], n_background, n_signal, m_wprime=m_wprime, m_x=m_x,
                    m_y=m_y, seed=seed)


def assemble(sample: Any, n_background: int, n_signal: int, *, m_wprime: float, m_x: float,
             m_y: float, seed: int) -> dict[str, np.ndarray]:
    r"""A shuffled sample of a dijet-like model's background and signal with the truth columns.

    Shared by :func:`generate` and :func:`flowstats.datasets.dijet_variant.generate`: the
    counts and masses are checked, background, signal and the shuffle get their own streams of
    ``numpy.random.SeedSequence(seed)``, and ``llr``/``llr_full`` come from the model's exact
    densities.

    Arguments:
        sample: The model: a module with ``NAME``, ``FEATURES``, ``sample_background``,
            ``sample_signal``, ``log_prob_background``, ``log_prob_signal``,
            ``log_prob_mjj_background`` and ``log_prob_mjj_signal``.
        n_background, n_signal: Numbers of events.
        m_wprime, m_x, m_y: The signal's masses (GeV).
        seed: Non-negative integer seed.
    """
    n_background = _check_count(n_background, "n_background")
    n_signal = _check_count(n_signal, "n_signal")
    if n_background + n_signal == 0:
        raise BadInputError("n_background + n_signal must be > 0 (nothing to generate)")
    _check_masses(m_wprime, m_x, m_y)
    seed = _check_count(seed, "seed")
    ss_bkg, ss_sig, ss_shuffle = np.random.SeedSequence(seed).spawn(3)
    bkg = sample.sample_background(n_background, seed=np.random.default_rng(ss_bkg))
    sig = sample.sample_signal(n_signal, m_wprime=m_wprime, m_x=m_x, m_y=m_y,
                               seed=np.random.default_rng(ss_sig))
    order = np.random.default_rng(ss_shuffle).permutation(n_background + n_signal)
    out = {k: np.concatenate([bkg[k], sig[k]])[order] for k in bkg}
    out["label"] = np.concatenate([np.zeros(n_background, np.int8),
                                   np.ones(n_signal, np.int8)])[order]
    x = {k: out[k] for k in sample.FEATURES}
    with np.errstate(invalid="ignore"):
        out["llr"] = (sample.log_prob_signal(x, out["mjj"], m_x=m_x, m_y=m_y)
                      - sample.log_prob_background(x, out["mjj"]))
        out["llr_full"] = out["llr"] + (
            sample.log_prob_mjj_signal(out["mjj"], m_wprime=m_wprime)
            - sample.log_prob_mjj_background(out["mjj"]))
    log.info("%s: %d background + %d signal events (seed %d)", sample.NAME, n_background,
             n_signal, seed)
    return out
