r"""Binned Poisson likelihood fits of smooth background functions with iminuit.

The fits minimise iminuit's :class:`~iminuit.cost.ExtendedBinnedNLL` (the Poisson deviance
with the saturated model as reference, asymptotically chi2 distributed) with bin-integrated
models (Gauss-Legendre quadrature of the functions of :mod:`flowstats.stats.functions`) and
analytic gradients. Three uses:

* :func:`fit_background` - the background on the sidebands only (the signal-region bins masked)
  or on the full range, optionally with a Gaussian signal component of free yield;
* :func:`select_function` - the number of parameters by an F-test (or the likelihood-ratio /
  Wald chi2 test) between nested functions;
* :func:`spurious_signal` - signal+background fits to a background-only spectrum; the fitted
  signal sizes a background-shape uncertainty.

Fits that do not converge raise :class:`~flowstats.exceptions.FitError` with minuit's status;
their numbers are never returned.

References:
    H. Dembinski et al., iminuit, https://scikit-hep.org/iminuit;
    S. Baker, R. D. Cousins, Nucl. Instrum. Meth. 221 (1984) 437 (Poisson deviance);
    ATLAS Collaboration, arXiv:1703.09127 (dijet fit, F-test, spurious signal).
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from scipy import special, stats

from ..exceptions import BadInputError, FitError
from .functions import SQRT_S, BinIntegrator, get_function
from .hist import check_data, to_arrays

log = logging.getLogger(__name__)

__all__ = [
    "BackgroundFit",
    "SpuriousSignal",
    "choose_function",
    "fit_background",
    "gaussian_fractions",
    "select_function",
    "spurious_signal",
    "window_mask",
]


def gaussian_fractions(edges: np.ndarray, mass: float, width: float) -> np.ndarray:
    r"""Fraction of a unit Gaussian (mean ``mass``, sigma ``width``) in each bin.

    Arguments:
        edges: The bin edges.
        mass: The mean.
        width: The standard deviation (> 0).
    """
    if not width > 0:
        raise BadInputError(f"signal width must be positive, got {width}")
    return np.diff(special.ndtr((np.asarray(edges, float) - mass) / width))


def window_mask(edges: np.ndarray, window: tuple[float, float] | None) -> np.ndarray:
    r"""Boolean mask of the bins whose centres lie in ``[lo, hi)``.

    Arguments:
        edges: The bin edges.
        window: ``(lo, hi)``, or None for no bin.
    """
    edges = np.asarray(edges, float)
    centres = 0.5 * (edges[1:] + edges[:-1])
    if window is None:
        return np.zeros(len(centres), bool)
    lo, hi = map(float, window)
    if not hi > lo:
        raise BadInputError(f"window [{lo:g}, {hi:g}) is empty")
    mask = (centres >= lo) & (centres < hi)
    if not mask.any():
        raise BadInputError(f"window [{lo:g}, {hi:g}) contains no bin centre of the histogram "
                            f"[{edges[0]:g}, {edges[-1]:g}]")
    return mask


@dataclass
class BackgroundFit:
    r"""The result of a converged background (+ signal) fit.

    Attributes:
        function: The background function's name.
        params: Best-fit background parameters.
        covariance: Their covariance matrix (HESSE), background parameters only.
        edges, counts: The fitted histogram.
        fitted: Mask of the bins used in the fit (False in a masked signal region).
        chi2: The Poisson deviance (Baker-Cousins chi2) of the fitted bins; ``ndof``; ``pvalue``.
        signal: ``None`` or a dict ``mass, width, nsig, nsig_error``.
        minuit: Status numbers: ``edm``, ``nfcn``, ``valid``.
    """

    function: str
    params: np.ndarray
    covariance: np.ndarray
    edges: np.ndarray
    counts: np.ndarray
    fitted: np.ndarray
    chi2: float
    ndof: int
    pvalue: float
    sqrt_s: float = SQRT_S
    domain: tuple[float, float] | None = None
    signal: dict[str, float] | None = None
    minuit: dict[str, Any] = field(default_factory=dict)

    def _integrator(self, edges: np.ndarray | None = None) -> BinIntegrator:
        return BinIntegrator(get_function(self.function),
                             self.edges if edges is None else np.asarray(edges, float),
                             sqrt_s=self.sqrt_s, domain=self.domain)

    def expected(self, edges: np.ndarray | None = None) -> np.ndarray:
        r"""The fitted background per bin (of the fitted histogram, or of other ``edges``)."""
        return self._integrator(edges).integrals(self.params)

    def expected_error(self, edges: np.ndarray | None = None) -> np.ndarray:
        r"""The background's uncertainty per bin from the parameter covariance."""
        jac = self._integrator(edges).jacobian(self.params)
        return np.sqrt(np.einsum("kb,kl,lb->b", jac, self.covariance, jac))

    def predict(self, window: tuple[float, float]) -> tuple[float, float]:
        r"""Background in the bins of ``window`` and its uncertainty (correlations included).

        Arguments:
            window: ``(lo, hi)``; bins whose centres lie inside are summed.
        """
        mask = window_mask(self.edges, window)
        integ = self._integrator()
        b = float(integ.integrals(self.params)[mask].sum())
        g = integ.jacobian(self.params)[:, mask].sum(axis=1)
        return b, float(np.sqrt(g @ self.covariance @ g))

    def to_dict(self) -> dict[str, Any]:
        r"""A JSON-ready summary."""
        return {
            "function": self.function, "params": self.params.tolist(),
            "errors": np.sqrt(np.diag(self.covariance)).tolist(),
            "chi2": self.chi2, "ndof": self.ndof, "pvalue": self.pvalue,
            "n_fitted_bins": int(self.fitted.sum()), "signal": self.signal, "minuit": self.minuit,
        }


def _status(m: Any) -> str:
    fmin = m.fmin
    return (f"valid={fmin.is_valid}, edm={fmin.edm:.3g} (goal {fmin.edm_goal:.3g}), "
            f"calls={fmin.nfcn}, call limit reached={fmin.has_reached_call_limit}, "
            f"above max edm={fmin.is_above_max_edm}, covariance accurate="
            f"{fmin.has_accurate_covar}")


@dataclass(frozen=True)
class _Spectrum:
    r"""A checked histogram to fit: counts, variances and edges, and the bins fitted."""

    counts: np.ndarray
    variances: np.ndarray
    edges: np.ndarray
    fitted: np.ndarray


def _fit(spectrum: _Spectrum, function: str, *, sqrt_s: float,
         domain: tuple[float, float] | None, signal: tuple[float, float] | None,
         start: Sequence[float] | None, max_calls: int | None, what: str) -> BackgroundFit:
    from iminuit import Minuit
    from iminuit.cost import ExtendedBinnedNLL

    counts, variances, edges, fitted = (spectrum.counts, spectrum.variances, spectrum.edges,
                                        spectrum.fitted)
    fn = get_function(function)
    integ = BinIntegrator(fn, edges, sqrt_s=sqrt_s, domain=domain)
    n_fit = int(fitted.sum())
    npar = fn.npar + (signal is not None)
    if n_fit <= npar:
        raise BadInputError(f"{what}: {n_fit} fitted bins are too few for {npar} parameters "
                            f"({function}{' + signal' if signal else ''})")
    p0 = np.asarray(start, float) if start is not None else integ.start(counts, fitted)
    # Minuit works on decorrelated parameters q = R p, where B_w = Q R is the QR decomposition
    # of the basis at the bin centres weighted by sqrt(n): the Fisher information of a
    # log-linear Poisson model is ~ B^T diag(n) B = R^T R, so q has a ~unit, diagonal Hessian.
    mid = integ.basis.shape[1] // 2
    wts = np.sqrt(np.maximum(counts, 1.0))[fitted]
    _, r_mat = np.linalg.qr(integ.basis[fitted, mid, :] * wts[:, None])
    t_mat = np.linalg.inv(r_mat)
    p0 = r_mat @ p0[: fn.npar]
    names = [f"q{i}" for i in range(fn.npar)]
    frac = None
    if signal is not None:
        mass, width = map(float, signal)
        frac = gaussian_fractions(edges, mass, width)
        names = [*names, "nsig"]
        p0 = np.append(p0[: fn.npar], 0.0)
    k = fn.npar

    def bins(par: np.ndarray) -> np.ndarray:
        mu = integ.integrals(t_mat @ par[:k])
        if frac is not None:
            mu = mu + par[k] * frac
        return mu

    def cdf(xe: np.ndarray, *par: float) -> np.ndarray:
        return np.concatenate([[0.0], np.cumsum(bins(np.asarray(par)))])

    def grad(xe: np.ndarray, *par: float) -> np.ndarray:
        par = np.asarray(par)
        jac = t_mat.T @ integ.jacobian(t_mat @ par[:k])
        if frac is not None:
            jac = np.vstack([jac, frac[None, :]])
        return np.hstack([np.zeros((len(par), 1)), np.cumsum(jac, axis=1)])

    weighted = not np.allclose(variances, counts)
    n = np.stack([counts, variances], axis=-1) if weighted else counts
    cost = ExtendedBinnedNLL(n, edges, cdf, grad=grad, name=names)
    if not fitted.all():
        cost.mask = fitted
    m = Minuit(cost, *p0)
    m.strategy = 1
    if frac is not None:
        # keep the expectation positive where the signal sits
        bkg0 = integ.integrals(t_mat @ p0[:k])
        m.limits["nsig"] = (-0.9 * float(np.min(bkg0[frac > 1e-3] / frac[frac > 1e-3])), None)
    ncall = max_calls
    m.migrad(ncall=ncall)
    if not m.valid:
        m.migrad(ncall=ncall)
    if m.valid:
        m.hesse()
    if not m.valid or not m.fmin.has_covariance:
        raise FitError(f"{what}: the {function}{' + signal' if signal else ''} fit did not "
                       f"converge; minuit status: {_status(m)}")
    # back to the function's parameters p = T q (the signal yield is unchanged)
    full_t = np.eye(npar)
    full_t[:k, :k] = t_mat
    params = full_t @ np.asarray(m.values, float)
    cov = full_t @ np.asarray(m.covariance, float) @ full_t.T
    chi2 = float(m.fval)
    ndof = n_fit - npar
    sig = None
    if signal is not None:
        sig = {"mass": float(signal[0]), "width": float(signal[1]),
               "nsig": float(params[k]), "nsig_error": float(np.sqrt(cov[k, k]))}
    return BackgroundFit(
        function=fn.name, params=params[:k], covariance=cov[:k, :k], edges=edges, counts=counts,
        fitted=fitted, chi2=chi2, ndof=ndof, pvalue=float(stats.chi2.sf(chi2, ndof)),
        sqrt_s=sqrt_s, domain=integ.domain, signal=sig,
        minuit={"edm": float(m.fmin.edm), "nfcn": int(m.fmin.nfcn), "valid": bool(m.valid)})


def fit_background(h: Any, *, sr: tuple[float, float] | None = None, function: str = "dijet4",
                   signal: tuple[float, float] | None = None, sqrt_s: float = SQRT_S,
                   start: Sequence[float] | None = None, max_calls: int | None = None,
                   what: str = "data histogram") -> BackgroundFit:
    r"""Fits a background function (+ an optional Gaussian signal) to a binned spectrum.

    Arguments:
        h: The histogram (:class:`hist.Hist`, boost-histogram, uproot TH1 or
            ``(counts, edges)``); weighted histograms use iminuit's Bohm-Zech scaling.
        sr: ``(lo, hi)`` of a signal region whose bins (centres inside) are left out: a
            sideband fit. ``None`` fits the full range.
        function: ``dijet3``, ``dijet4``, ``dijet5``, ``expo1`` ... ``expo6`` or
            ``power2`` ... ``power4``.
        signal: ``(mass, width)`` of a Gaussian signal whose yield ``nsig`` is fitted too
            (result in ``.signal``).
        sqrt_s: Centre-of-mass energy in GeV for x = m/sqrt(s).
        start: Starting values (default: linear least squares on ln n).
        max_calls: Minuit's call limit per migrad run (default: minuit's).
        what: What the histogram is, for messages.

    Returns:
        A :class:`BackgroundFit`; raises :class:`~flowstats.exceptions.FitError` when minuit
        does not converge.

    References:
        ATLAS Collaboration, Phys. Rev. D 96 (2017) 052004, arXiv:1703.09127.
    """
    counts, variances, edges = to_arrays(h, what=what)
    counts = check_data(counts, edges, what=what)
    fitted = ~window_mask(edges, sr) if sr is not None else np.ones(len(counts), bool)
    if fitted.sum() and counts[fitted].sum() <= 0:
        raise BadInputError(f"{what}: no entries outside the signal region {sr}")
    return _fit(_Spectrum(counts, variances, edges, fitted), function, sqrt_s=sqrt_s,
                domain=None, signal=signal, start=start, max_calls=max_calls, what=what)


def select_function(h: Any, *, sr: tuple[float, float] | None = None,
                    candidates: Sequence[str] = ("dijet3", "dijet4", "dijet5"),
                    test: str = "f", alpha: float = 0.05, sqrt_s: float = SQRT_S,
                    what: str = "data histogram") -> tuple[BackgroundFit, list[dict[str, Any]]]:
    r"""Chooses the number of parameters of nested functions by an F-test or a chi2 test.

    Candidates are fitted in order (fewest parameters first); the first function whose next
    larger one does not improve the fit significantly (p-value > ``alpha``) is chosen.

    ``test="f"``: :math:`F = \frac{(\chi^2_1 - \chi^2_2)/(k_2-k_1)}{\chi^2_2/(n-k_2)}`
    against the F distribution; ``test="lr"`` (Wald/Wilks): :math:`\chi^2_1 - \chi^2_2`
    against a chi2 with :math:`k_2 - k_1` degrees of freedom.

    Arguments:
        h: The histogram.
        sr: An optional masked signal region.
        candidates: Nested function names, fewest parameters first.
        test: ``"f"`` or ``"lr"``.
        alpha: The significance level of the test.
        sqrt_s: Centre-of-mass energy in GeV.
        what: What the histogram is, for messages.

    Returns:
        ``(chosen fit, table)`` where the table lists each comparison.

    References:
        ATLAS Collaboration, arXiv:1703.09127, sec. 6; CMS Collaboration, arXiv:1911.03947.
    """
    if test not in ("f", "lr"):
        raise BadInputError(f"select_function: test must be 'f' or 'lr', got {test!r}")
    if not candidates:
        raise BadInputError("select_function: no candidate functions")
    fits = []
    table: list[dict[str, Any]] = []
    for name in candidates:
        try:
            fits.append(fit_background(h, sr=sr, function=name, sqrt_s=sqrt_s, what=what))
        except FitError as err:
            if not fits:
                raise
            log.warning("%s; keeping %s", err, fits[-1].function)
            break
    chosen = fits[-1]
    for a, b in zip(fits[:-1], fits[1:]):
        dk = get_function(b.function).npar - get_function(a.function).npar
        dchi2 = max(a.chi2 - b.chi2, 0.0)
        if test == "f":
            stat = (dchi2 / dk) / (b.chi2 / b.ndof) if b.chi2 > 0 else np.inf
            p = float(stats.f.sf(stat, dk, b.ndof))
        else:
            stat = dchi2
            p = float(stats.chi2.sf(stat, dk))
        table.append({"null": a.function, "alternative": b.function, "statistic": float(stat),
                      "pvalue": p, "chi2_null": a.chi2, "chi2_alt": b.chi2})
        if p > alpha:
            chosen = a
            break
    log.info("select_function: chose %s (%s)", chosen.function, table)
    return chosen, table


def choose_function(h: Any, *, sr: tuple[float, float] | None = None,
                    families: dict[str, Sequence[str]] | None = None, test: str = "f",
                    alpha: float = 0.05, sqrt_s: float = SQRT_S,
                    what: str = "data histogram") -> tuple[BackgroundFit, dict[str, Any]]:
    r"""Chooses the background function among families: ``function: auto``.

    In each family (nested functions, fewest parameters first) the order is chosen by
    :func:`select_function` (an F-test, or a likelihood-ratio test, on the fitted bins); the
    families' choices, which are not nested, are then compared by their goodness of fit, and
    the one with the largest chi2 p-value is kept (the fewer parameters on a tie). A family
    that cannot describe the range at all (e.g. the dijet functions when m exceeds sqrt(s):
    other units) or whose fit fails is recorded and skipped.

    Arguments:
        h: The histogram.
        sr: An optional masked signal region (a sideband fit).
        families: ``{family: candidates}``; :data:`~flowstats.stats.functions.FAMILIES` by
            default (dijet 3/4/5, exponential-polynomials 2/3/4, power laws 2/3/4).
        test, alpha: The test of :func:`select_function` and its significance level.
        sqrt_s: Centre-of-mass energy for the dijet functions, in the units of m.
        what: What the histogram is, for messages.

    Returns:
        ``(chosen fit, record)``: the record has ``chosen`` and, per family, its choice with
        ``chi2``, ``ndf``, ``pvalue`` and the nested tests (or ``error``).
    """
    from .functions import FAMILIES

    families = dict(FAMILIES if families is None else families)
    fits: dict[str, BackgroundFit] = {}
    record: dict[str, Any] = {}
    for family, candidates in families.items():
        try:
            fit, table = select_function(h, sr=sr, candidates=tuple(candidates), test=test,
                                         alpha=alpha, sqrt_s=sqrt_s, what=what)
        except (FitError, BadInputError) as err:
            record[family] = {"error": str(err)}
            continue
        fits[family] = fit
        record[family] = {"function": fit.function, "chi2": fit.chi2, "ndf": fit.ndof,
                          "pvalue": fit.pvalue, "tests": table}
    if not fits:
        raise FitError(f"{what}: no background function family could be fitted: "
                       + "; ".join(f"{k}: {v['error']}" for k, v in record.items()))
    best = max(fits.values(), key=lambda f: (f.pvalue, -get_function(f.function).npar))
    log.info("%s: chose %s (chi2/ndf %.1f/%d) among %s", what, best.function, best.chi2,
             best.ndof, {k: v.get("function", "failed") for k, v in record.items()})
    return best, {"chosen": best.function, "families": record}


@dataclass
class SpuriousSignal:
    r"""Fitted signal yields on a background-only spectrum.

    Attributes:
        masses, widths: The signal hypotheses.
        nsig, nsig_error: Fitted yield and its HESSE uncertainty per mass.
        max_abs: :math:`\max |n_{sig}|`, the usual size of the shape uncertainty.
        max_ratio: :math:`\max |n_{sig}| / \sigma_{n_{sig}}`.
    """

    function: str
    masses: np.ndarray
    widths: np.ndarray
    nsig: np.ndarray
    nsig_error: np.ndarray

    @property
    def max_abs(self) -> float:
        return float(np.max(np.abs(self.nsig)))

    @property
    def max_ratio(self) -> float:
        return float(np.max(np.abs(self.nsig) / self.nsig_error))

    def to_dict(self) -> dict[str, Any]:
        return {"function": self.function, "masses": self.masses.tolist(),
                "nsig": self.nsig.tolist(), "nsig_error": self.nsig_error.tolist(),
                "max_abs": self.max_abs, "max_ratio": self.max_ratio}


def spurious_signal(h: Any, masses: Sequence[float], *, width: float | Callable | None = None,
                    rel_width: float = 0.1, function: str = "dijet4", sqrt_s: float = SQRT_S,
                    what: str = "background-only histogram") -> SpuriousSignal:
    r"""Spurious-signal test: signal+background fits to a background-only spectrum.

    Arguments:
        h: A background-only histogram (typically a high-statistics simulation template).
        masses: Signal mass hypotheses.
        width: The Gaussian width (absolute, or a callable of the mass); ``rel_width * mass``
            when omitted.
        rel_width: The relative width used when ``width`` is None.
        function: The background function.
        sqrt_s: Centre-of-mass energy in GeV.
        what: What the histogram is, for messages.

    References:
        ATLAS Collaboration, Phys. Rev. D 90 (2014) 112015, arXiv:1408.7084 (spurious signal).
    """
    masses = np.atleast_1d(np.asarray(masses, float))
    if width is None:
        widths = rel_width * masses
    elif callable(width):
        widths = np.array([float(width(m)) for m in masses])
    else:
        widths = np.full(len(masses), float(width))
    ns, es = [], []
    for m, w in zip(masses, widths):
        r = fit_background(h, function=function, signal=(m, w), sqrt_s=sqrt_s,
                           what=f"{what} (signal at {m:g})")
        ns.append(r.signal["nsig"])
        es.append(r.signal["nsig_error"])
    return SpuriousSignal(function=get_function(function).name, masses=masses, widths=widths,
                          nsig=np.array(ns), nsig_error=np.array(es))
