r"""A second analytic LHC-Olympics-like dijet sample, built to differ from :mod:`.dijet`.

It has the same columns as :mod:`flowstats.datasets.dijet` plus a fifth, uninformative feature
``eta_j1``, and the same background :math:`m_{jj}` spectrum (so the same signal region applies),
but every other shape and correlation is built differently, so that a default tuned on one
sample can be checked on the other. The formulas and parameter values are in
``docs/guide/datasets.md``.

Background, with :math:`r = m_{jj} / 3500\,\mathrm{GeV}`:

* :math:`m_{jj}`: the dijet function of :mod:`.dijet` (shared);
* the two jet masses :math:`m_a, m_b \mid m_{jj}`: a symmetric bivariate log-normal (correlation
  0.35 of the logs) whose median grows as :math:`r^{0.6}` and whose log-width grows as
  :math:`r^{0.35}`; ``mj1`` is the lighter, ``mj2`` the heavier one;
* :math:`\tau_{21}` of each jet: a beta distribution whose mean falls with that jet's mass and
  rises with :math:`m_{jj}`; the two :math:`\tau_{21}` are joined by a Gaussian copula;
* ``eta_j1``: a Gaussian of width 1.2, independent of everything (the same for the signal).

Signal :math:`W' \to X Y` (both two-pronged): :math:`m_{jj}` as in :mod:`.dijet`, the jet masses
log-normal around :math:`m_X` and :math:`m_Y` (log-width 0.10), :math:`\tau_{21}` of both
jets beta distributed with mean 0.30 and concentration 8.

References:
    G. Kasieczka et al., "The LHC Olympics 2020", Rep. Prog. Phys. 84 (2021) 124201,
    arXiv:2101.08320.
    R. B. Nelsen, "An Introduction to Copulas", 2nd ed., Springer (2006) (Gaussian copula).
"""

from __future__ import annotations

import logging
import math
import sys
from collections.abc import Mapping

import numpy as np
from scipy import special

from ._columns import split_columns
from .dijet import (
    M_MAX,
    M_MIN,
    M_REF,
    MASS,
    SQRT_S,
    _beta_ab,
    _beta_logpdf,
    _check_count,
    _check_masses,
    _rng,
    _sample_mjj_background,
    assemble,
    columns,
    log_prob_mjj_background,
    log_prob_mjj_signal,
    sample_two_prong,
    two_prong_log_prob,
)

log = logging.getLogger(__name__)

#: the sample's name in log messages and outputs
NAME = "dijet-variant"

__all__ = [
    "COLUMNS",
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
FEATURES: list[str] = ["mj1", "delta_mj", "tau21_j1", "tau21_j2", "eta_j1"]
#: every column written by :func:`generate`
COLUMNS: list[str] = ["mjj", "mj1", "mj2", "delta_mj", "tau21_j1", "tau21_j2", "eta_j1",
                      "label", "llr", "llr_full"]

# background jet masses: (ln m_a, ln m_b) bivariate normal, mean ln MJ_SCALE + MJ_SLOPE ln r,
# width MJ_SIGMA * r^MJ_SIGMA_SLOPE, correlation MJ_RHO
MJ_SCALE, MJ_SLOPE, MJ_SIGMA, MJ_SIGMA_SLOPE, MJ_RHO = 60.0, 0.5, 0.65, 0.35, 0.35
# background tau21 of a jet of mass mj: beta, concentration TAU_CONC, mean sigmoid(eta),
# eta = TAU_LOGIT0 - TAU_MASS ln(mj / MJ_SCALE) + TAU_MJJ ln r; Gaussian copula TAU_RHO
TAU_LOGIT0, TAU_MASS, TAU_MJJ, TAU_CONC, TAU_RHO = 0.6, 0.5, 0.6, 8.0, 0.45
ETA_SIGMA = 1.2  #: width of the uninformative Gaussian feature eta_j1 (signal and background)
# signal
SIG_MJ_RES = 0.10  #: log-width of the signal jet masses
SIG_TAU_MEAN, SIG_TAU_CONC = 0.38, 7.0  #: beta mean and concentration of signal tau21
M_WPRIME, M_X, M_Y = 3500.0, 250.0, 90.0  #: default signal mass point (GeV)

_LOG_2PI = math.log(2.0 * math.pi)


def _features(x: np.ndarray | Mapping[str, np.ndarray]) -> tuple[np.ndarray, ...]:
    """Splits ``x`` ((n, 5) array in FEATURES order, or a mapping of columns) into columns."""
    return split_columns(x, FEATURES, "dijet-variant features")


def _mass_params(mjj: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """ln r, the mean and the width of the log jet masses of the background at ``mjj``."""
    lr = np.log(mjj / M_REF)
    return lr, math.log(MJ_SCALE) + MJ_SLOPE * lr, MJ_SIGMA * np.exp(MJ_SIGMA_SLOPE * lr)


def _tau_ab(mj: np.ndarray, lr: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    mean = special.expit(TAU_LOGIT0 - TAU_MASS * np.log(mj / MJ_SCALE) + TAU_MJJ * lr)
    return _beta_ab(mean, TAU_CONC)


def _beta_to_normal(t: np.ndarray, a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Phi^-1(I_t(a, b)), with the upper tail from I_{1-t}(b, a) so that it stays finite."""
    lower = special.betainc(a, b, t)
    upper = special.betainc(b, a, 1.0 - t)
    return np.where(lower < 0.5, special.ndtri(lower), -special.ndtri(upper))


def _normal_to_beta(z: np.ndarray, a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """The inverse of :func:`_beta_to_normal`."""
    return np.where(z < 0, special.betaincinv(a, b, special.ndtr(z)),
                    1.0 - special.betaincinv(b, a, special.ndtr(-z)))


def _log_gauss_copula(z1: np.ndarray, z2: np.ndarray, rho: float) -> np.ndarray:
    q = 1.0 - rho * rho
    return -0.5 * math.log(q) - (rho * rho * (z1 * z1 + z2 * z2) - 2 * rho * z1 * z2) / (2 * q)


def _log_eta(eta: np.ndarray) -> np.ndarray:
    return -0.5 * (eta / ETA_SIGMA) ** 2 - math.log(ETA_SIGMA) - 0.5 * _LOG_2PI


def log_prob_background(x: np.ndarray | Mapping[str, np.ndarray], m: np.ndarray) -> np.ndarray:
    r"""Exact log density :math:`\log p_\mathrm{bkg}(x \mid m_{jj})` of the background features.

    With :math:`u = \ln m_{j1}`, :math:`v = \ln m_{j2}` (:math:`m_{j2} = m_{j1} + \Delta`), the
    jet masses contribute :math:`\ln 2 + \ln \phi_2(u, v) - u - v` (the two orderings of a
    symmetric bivariate normal :math:`\phi_2`), the :math:`\tau_{21}` the two beta densities
    and the Gaussian copula :math:`c_\rho(z_1, z_2)`, :math:`z_i = \Phi^{-1}(F_i(\tau_i))`.

    Arguments:
        x: Features, an (n, 5) array with columns :data:`FEATURES` or a mapping of them.
        m: The events' :math:`m_{jj}` (GeV), shape (n,).

    References:
        R. B. Nelsen, "An Introduction to Copulas", 2nd ed., Springer (2006).
    """
    mj1, dm, t1, t2, eta = _features(x)
    mjj = np.asarray(m, dtype=np.float64)
    with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
        lr, mu, sigma = _mass_params(mjj)
        mj2 = mj1 + dm
        u, v = (np.log(mj1) - mu) / sigma, (np.log(mj2) - mu) / sigma
        q = 1.0 - MJ_RHO * MJ_RHO
        masses = (math.log(2.0) - _LOG_2PI - 2 * np.log(sigma) - 0.5 * math.log(q)
                  - (u * u + v * v - 2 * MJ_RHO * u * v) / (2 * q)
                  - np.log(mj1) - np.log(mj2))
        masses = np.where((mj1 > 0) & (dm > 0), masses, -np.inf)
        a1, b1 = _tau_ab(mj1, lr)
        a2, b2 = _tau_ab(mj2, lr)
        taus = _beta_logpdf(t1, a1, b1) + _beta_logpdf(t2, a2, b2)
        inside = (t1 > 0) & (t1 < 1) & (t2 > 0) & (t2 < 1)
        z1 = _beta_to_normal(np.where(inside, t1, 0.5), a1, b1)
        z2 = _beta_to_normal(np.where(inside, t2, 0.5), a2, b2)
        out = masses + taus + _log_gauss_copula(z1, z2, TAU_RHO) + _log_eta(eta)
    return np.where(np.isnan(out), -np.inf, out)


def _sample_features_background(mjj: np.ndarray, rng: np.random.Generator) -> dict:
    n = len(mjj)
    lr, mu, sigma = _mass_params(mjj)
    g1, g2 = rng.standard_normal(n), rng.standard_normal(n)
    ma = np.exp(mu + sigma * g1)
    mb = np.exp(mu + sigma * (MJ_RHO * g1 + math.sqrt(1 - MJ_RHO**2) * g2))
    mj1, mj2 = np.minimum(ma, mb), np.maximum(ma, mb)
    z1 = rng.standard_normal(n)
    z2 = TAU_RHO * z1 + math.sqrt(1 - TAU_RHO**2) * rng.standard_normal(n)
    t1 = _normal_to_beta(z1, *_tau_ab(mj1, lr))
    t2 = _normal_to_beta(z2, *_tau_ab(mj2, lr))
    eta = ETA_SIGMA * rng.standard_normal(n)
    return {"mj1": mj1, "delta_mj": mj2 - mj1, "tau21_j1": t1, "tau21_j2": t2, "eta_j1": eta}


def sample_background(n: int, *, seed: int | np.random.Generator = 0) -> dict[str, np.ndarray]:
    r"""Samples ``n`` background events (columns mjj, mj1, mj2, delta_mj, tau21_j1, tau21_j2,
    eta_j1).

    Arguments:
        n: Number of events.
        seed: Seed (or numpy Generator) of the random numbers.
    """
    n = _check_count(n, "the number of background events")
    rng = _rng(seed)
    mjj = _sample_mjj_background(n, rng)
    return columns(mjj, _sample_features_background(mjj, rng))


# ---------------------------------------------------------------- signal


def log_prob_signal(x: np.ndarray | Mapping[str, np.ndarray], m: np.ndarray | None = None, *,
                    m_x: float = M_X, m_y: float = M_Y) -> np.ndarray:
    r"""Exact log density :math:`\log p_\mathrm{sig}(x \mid m_{jj})` of the signal features.

    The jet masses are log-normal around ``m_x`` and ``m_y`` (log-width 0.10) and ``mj1`` is
    the lighter one: :math:`p(m_{j1}, \Delta) = g_X(m_{j1} + \Delta) g_Y(m_{j1}) +
    g_X(m_{j1}) g_Y(m_{j1} + \Delta)`; the :math:`\tau_{21}` are independent betas and
    ``eta_j1`` has the background's density. Nothing depends on :math:`m_{jj}`.

    Arguments:
        x: Features, an (n, 5) array with columns :data:`FEATURES` or a mapping of them.
        m: The events' :math:`m_{jj}` (unused).
        m_x: Mass of the daughter X (GeV).
        m_y: Mass of the daughter Y (GeV).

    References:
        G. Kasieczka et al., Rep. Prog. Phys. 84 (2021) 124201, arXiv:2101.08320.
    """
    _check_masses(m_x=m_x, m_y=m_y)
    mj1, dm, t1, t2, eta = _features(x)
    with np.errstate(divide="ignore", invalid="ignore"):
        masses = two_prong_log_prob(mj1, dm, m_x, m_y, SIG_MJ_RES)
        a, b = _beta_ab(SIG_TAU_MEAN, SIG_TAU_CONC)
        out = masses + _beta_logpdf(t1, a, b) + _beta_logpdf(t2, a, b) + _log_eta(eta)
    return np.where(np.isnan(out), -np.inf, out)


def sample_signal(n: int, *, m_wprime: float = M_WPRIME, m_x: float = M_X, m_y: float = M_Y,
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
    rng = _rng(seed)
    mjj, features = sample_two_prong(n, rng, m_wprime, m_x, m_y, SIG_MJ_RES, SIG_TAU_MEAN,
                                     SIG_TAU_CONC)
    features["eta_j1"] = ETA_SIGMA * rng.standard_normal(n)
    return columns(mjj, features)


# ---------------------------------------------------------------- the full sample


def generate(n_background: int = 1_000_000, n_signal: int = 1000, *,
             m_wprime: float = M_WPRIME, m_x: float = M_X, m_y: float = M_Y,
             seed: int = 0) -> dict[str, np.ndarray]:
    r"""Generates a shuffled sample of background and signal events with truth information.

    The background and the signal use independent random streams spawned from
    ``numpy.random.SeedSequence(seed)``, so the background does not change with ``n_signal``.

    Arguments:
        n_background: Number of background events.
        n_signal: Number of signal events.
        m_wprime: Resonance mass (GeV).
        m_x: Mass of the daughter X (GeV).
        m_y: Mass of the daughter Y (GeV).
        seed: Non-negative integer seed.

    Returns:
        Columns ``mjj, mj1, mj2, delta_mj, tau21_j1, tau21_j2, eta_j1`` (float64, GeV),
        ``label`` (int8, 1 for signal), ``llr``
        (:math:`\log p_\mathrm{sig}(x|m) - \log p_\mathrm{bkg}(x|m)`, x = :data:`FEATURES`)
        and ``llr_full`` (:math:`\log p_\mathrm{sig}(m, x) - \log p_\mathrm{bkg}(m, x)`).

    References:
        G. Kasieczka et al., Rep. Prog. Phys. 84 (2021) 124201, arXiv:2101.08320.
    """
    return assemble(sys.modules[__name__], n_background, n_signal, m_wprime=m_wprime, m_x=m_x,
                    m_y=m_y, seed=seed)
