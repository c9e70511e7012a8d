r"""Look-elsewhere effect: global significance over a scan of mass hypotheses.

* :func:`scan_q0` - a fast local discovery test statistic for many toys x many hypotheses:
  Poisson bins with a known background and a Gaussian (or any) signal template whose yield
  :math:`\nu \ge 0` is fitted by vectorised Newton steps;
  :math:`q_0 = 2\sum_i [n_i \ln(1 + \hat\nu s_i / b_i) - \hat\nu s_i]`.
* :func:`upcrossings` - the number of up-crossings of a level by a scan of :math:`q_0`.
* :func:`gross_vitells` - the global p-value bound of Gross and Vitells,
  :math:`p_{global} \le P(\chi^2 > u) + \langle N(u_0)\rangle e^{-(u-u_0)/2}
  (u/u_0)^{(s-1)/2}` (with :math:`P(q_0>u) = \frac12 P(\chi^2_1>u)` for the one-sided
  :math:`q_0`), the mean number of up-crossings :math:`\langle N(u_0)\rangle` at a low level
  being estimated from a few background-only toys (or the data).
* :func:`toys_pvalue` - the brute-force global p-value: the fraction of background-only toys
  whose largest :math:`q_0` over the scan exceeds the observed one.
* :func:`global_significance` - both, from a scan of local :math:`q_0` values.

p-values are computed as logarithms (:func:`log_p_from_z`, :func:`log_gross_vitells`,
:func:`z_from_log_p`): significances stay finite and exact up to Z = 100 and beyond, where the
p-values themselves underflow double precision (below 1e-308, Z > 37.5).

References:
    E. Gross, O. Vitells, Eur. Phys. J. C 70 (2010) 525, arXiv:1005.1891;
    R. B. Davies, Biometrika 74 (1987) 33.
"""

from __future__ import annotations

import logging
from typing import Any

import numpy as np
from scipy import stats

from ..exceptions import BadInputError

log = logging.getLogger(__name__)

__all__ = ["global_significance", "gross_vitells", "log_gross_vitells", "log_p_from_z",
           "scan_q0", "toys_pvalue", "upcrossings", "z_from_log_p"]

_LN10 = float(np.log(10.0))


def log_p_from_z(z: float | np.ndarray) -> np.ndarray:
    r"""Natural log of the one-sided p-value of a significance ``z``, :math:`\ln \Phi(-z)`.

    Finite for any finite ``z`` (Z = 100 gives -5005.5), where :math:`\Phi(-z)` itself
    underflows to 0 beyond Z = 38.
    """
    return stats.norm.logsf(np.asarray(z, float))


def z_from_log_p(log_p: float | np.ndarray) -> np.ndarray:
    r"""The significance of a p-value given by its natural log: :math:`-\Phi^{-1}(e^{\ln p})`.

    Computed without forming ``p`` (``scipy.special.ndtri_exp``), so it stays finite and
    exact far beyond the double-precision range of ``p`` (ln p = -5005.5 gives Z = 100).
    """
    from scipy import special

    return -special.ndtri_exp(np.minimum(np.asarray(log_p, float), 0.0))


def _log_chi2_sf(u: np.ndarray, dof: int) -> np.ndarray:
    r"""ln P(chi2_dof > u), finite where scipy's ``chi2.logsf`` underflows to -inf."""
    from scipy import special

    u = np.asarray(u, float)
    if dof == 1:  # P(chi2_1 > z^2) = 2 Phi(-z)
        return np.log(2.0) + stats.norm.logsf(np.sqrt(np.maximum(u, 0.0)))
    direct = stats.chi2.logsf(u, dof)
    a = 0.5 * dof  # leading term of the upper incomplete gamma function
    with np.errstate(divide="ignore"):
        asymptotic = (a - 1) * np.log(u / 2) - u / 2 - special.gammaln(a)
    return np.where(np.isfinite(direct), direct, asymptotic)


def scan_q0(counts: np.ndarray, background: np.ndarray, templates: np.ndarray, *,
            iterations: int = 50) -> tuple[np.ndarray, np.ndarray]:
    r"""Local :math:`q_0` of every signal template for every data set (known background).

    Arguments:
        counts: Observed counts, shape ``(..., nbins)`` (e.g. ``(ntoys, nbins)``).
        background: The expected background per bin, ``(nbins,)`` (positive).
        templates: Signal templates for unit yield, ``(nhyp, nbins)``.
        iterations: Newton steps.

    Returns:
        ``(q0, nu_hat)``, each of shape ``(..., nhyp)``; :math:`\hat\nu \ge 0` (one-sided).
    """
    n = np.asarray(counts, float)[..., None, :]               # (..., 1, nbins)
    b = np.asarray(background, float)
    s = np.atleast_2d(np.asarray(templates, float))           # (nhyp, nbins)
    if np.any(b <= 0):
        raise BadInputError("scan_q0: the background must be positive in every bin")
    if s.shape[-1] != b.shape[-1] or n.shape[-1] != b.shape[-1]:
        raise BadInputError(f"scan_q0: bins differ: counts {n.shape[-1]}, background "
                            f"{b.shape[-1]}, templates {s.shape[-1]}")
    stot = s.sum(-1)
    # start from the linearised (Gaussian) estimate, then Newton on d lnL / d nu = 0
    nu = np.maximum(((n - b) * s / b).sum(-1) / (s * s / b).sum(-1), 0.0)
    for _ in range(iterations):
        lam = b + nu[..., None] * s
        g = (n * s / lam).sum(-1) - stot
        h = -(n * s * s / lam**2).sum(-1)
        step = np.where(h < 0, -g / np.where(h < 0, h, -1.0), 0.0)
        new = nu + step
        # keep lam > 0 and nu >= 0
        new = np.where(new < 0, 0.5 * nu, new)
        new = np.where((g <= 0) & (nu == 0), 0.0, new)
        done = np.all(np.abs(new - nu) <= 1e-10 * (1.0 + np.abs(nu)))
        nu = new
        if done:
            break
    lam = b + nu[..., None] * s
    q0 = 2.0 * (n * np.log(lam / b) - nu[..., None] * s).sum(-1)
    return np.where(nu > 0, np.maximum(q0, 0.0), 0.0), nu


def upcrossings(q: np.ndarray, level: float) -> np.ndarray:
    r"""Number of up-crossings of ``level`` along the last axis of a scan ``q``.

    An up-crossing is a pair of neighbouring hypotheses with ``q[i-1] < level <= q[i]``.
    """
    q = np.asarray(q, float)
    return np.sum((q[..., :-1] < level) & (q[..., 1:] >= level), axis=-1)


def gross_vitells(u: float | np.ndarray, n_up: float, u0: float, *, dof: int = 1,
                  one_sided: bool = True) -> np.ndarray:
    r"""Gross-Vitells upper bound on the global p-value of a maximum :math:`q_0 = u`.

    Arguments:
        u: The largest local test statistic over the scan (:math:`Z_{local}^2`).
        n_up: The mean number of up-crossings of the reference level ``u0`` (from toys).
        u0: The low reference level (e.g. 0.5-1).
        dof: Degrees of freedom of the test statistic (1 for a signal yield).
        one_sided: :math:`q_0` is one-sided (half a chi2 at 0).

    References:
        E. Gross, O. Vitells, arXiv:1005.1891, eq. (4).
    """
    return np.exp(log_gross_vitells(u, n_up, u0, dof=dof, one_sided=one_sided))


def log_gross_vitells(u: float | np.ndarray, n_up: float, u0: float, *, dof: int = 1,
                      one_sided: bool = True) -> np.ndarray:
    r"""Natural log of :func:`gross_vitells`, finite for any finite ``u`` (Z up to 100 and far
    beyond, where the bound itself underflows).

    Arguments:
        u, n_up, u0, dof, one_sided: as :func:`gross_vitells`.
    """
    u = np.asarray(u, float)
    if u0 <= 0:
        raise BadInputError(f"gross_vitells: the reference level must be positive, got {u0}")
    tail = _log_chi2_sf(u, dof) + (np.log(0.5) if one_sided else 0.0)
    if n_up > 0:
        with np.errstate(divide="ignore"):
            crossings = (np.log(n_up) - (u - u0) / 2
                         + (dof - 1) / 2 * np.log(np.maximum(u, 1e-300) / u0))
        tail = np.logaddexp(tail, crossings)
    return np.minimum(tail, 0.0)


def toys_pvalue(q_max_obs: float, q_max_toys: np.ndarray) -> tuple[float, float]:
    r"""Brute-force global p-value and its binomial uncertainty.

    Arguments:
        q_max_obs: The observed largest local :math:`q_0`.
        q_max_toys: The largest :math:`q_0` of each background-only toy scan.
    """
    q = np.asarray(q_max_toys, float)
    if q.size == 0:
        raise BadInputError("toys_pvalue: no toys")
    p = float(np.mean(q >= q_max_obs))
    return p, float(np.sqrt(max(p * (1 - p), 1.0 / q.size) / q.size))


def global_significance(q_scan: np.ndarray, *, q_toys: np.ndarray | None = None,
                        u0: float = 0.5, n_up: float | None = None) -> dict[str, Any]:
    r"""Local and global significance of the largest excess of a scan.

    Arguments:
        q_scan: The observed local :math:`q_0` per hypothesis (ordered in mass).
        q_toys: Background-only toy scans ``(ntoys, nhyp)``: give the mean number of
            up-crossings of ``u0`` and the brute-force p-value.
        u0: The Gross-Vitells reference level.
        n_up: The mean number of up-crossings, if known (else from ``q_toys``, else from the
            observed scan itself, as is common with few toys).

    Returns:
        dict with ``q_max``, ``index``, ``z_local``, ``p_local``, ``n_up``, ``p_global_gv``,
        ``z_global_gv``, and with toys ``p_global_toys``, ``p_global_toys_error``,
        ``z_global_toys``; ``trials_factor`` = p_global_gv / p_local.
    """
    q_scan = np.asarray(q_scan, float)
    if q_scan.ndim != 1 or q_scan.size == 0:
        raise BadInputError("global_significance: q_scan must be a non-empty 1-D scan")
    i = int(np.argmax(q_scan))
    q_max = float(max(q_scan[i], 0.0))
    if n_up is None:
        n_up = (float(np.mean(upcrossings(q_toys, u0))) if q_toys is not None
                else float(upcrossings(q_scan, u0)))
    log_p_local = float(log_p_from_z(np.sqrt(q_max)))
    log_p_gv = float(log_gross_vitells(q_max, n_up, u0))
    out: dict[str, Any] = {
        "q_max": q_max, "index": i, "z_local": float(np.sqrt(q_max)),
        "p_local": float(np.exp(log_p_local)), "log10_p_local": log_p_local / _LN10,
        "u0": u0, "n_up": n_up, "p_global_gv": float(np.exp(log_p_gv)),
        "log10_p_global_gv": log_p_gv / _LN10, "z_global_gv": float(z_from_log_p(log_p_gv)),
        "trials_factor": float(np.exp(log_p_gv - log_p_local)),
    }
    if q_toys is not None:
        p, err = toys_pvalue(q_max, np.max(np.asarray(q_toys, float), axis=-1))
        out.update(p_global_toys=p, p_global_toys_error=err,
                   z_global_toys=float(stats.norm.isf(p)) if p > 0 else float("inf"))
    return out
