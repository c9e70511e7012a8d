r"""Inference on pyhf models: MLE fits, discovery significance, CLs and upper limits.

Like :mod:`pyhf.infer`, in small functions:

* :func:`set_backend` - pyhf's numpy back end (always) or jax (optional, imported lazily);
  hypotests use pyhf's default scipy optimizer (it reproduces the published references) unless
  :func:`use_optimizer` selects minuit: scipy's SLSQP stalls on badly scaled models such as a
  counting bin with ~1e5 background events and a POI in units of one signal event (it stops at
  the initial mu = 1: q0 = 0.008 where the profile likelihood gives 5.06, measured);
* :func:`mle` - maximum-likelihood fit with minuit: :math:`\hat\mu` with its HESSE and MINOS
  uncertainties;
* :func:`discovery` - the discovery test statistic :math:`q_0` (asymptotic): observed and
  expected (mu = 1) p-values and significances. (pyhf's ``hypotest(0, test_stat="q0")`` returns
  the p-value :math:`p_0`, not a CLs value; this function turns it into :math:`Z_0`.)
* :class:`AsymptoticCLs` / :func:`hypotest` - CLs at a signal strength, observed and expected
  (-2..+2 sigma), with exactly pyhf's asymptotic formulae (arXiv:1007.1727) but caching the fits
  that do not depend on mu (the unconditional fits and the Asimov data set): after the first
  point, each new mu costs two conditional fits instead of five;
* :func:`upper_limit` - CLs upper limits (observed and the expected band) at a chosen CL by a
  bracketing + Brent root finder (scipy's brentq) on plain floats, inside the POI bounds,
  returning the points it evaluated (expected limits solve the equivalent, near-linear
  :math:`\sqrt{q_{\mu,A}}(\mu) = c_n`; the observed one :math:`\ln CL_s = \ln\alpha`).

References:
    G. Cowan, K. Cranmer, E. Gross, O. Vitells, Eur. Phys. J. C 71 (2011) 1554,
    arXiv:1007.1727; A. L. Read, J. Phys. G 28 (2002) 2693 (CLs);
    R. P. Brent, Algorithms for Minimization without Derivatives (1973), ch. 4.
"""

from __future__ import annotations

import contextlib
import importlib.util
import logging
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from scipy import optimize, stats

from ..exceptions import BadInputError, FitError

log = logging.getLogger(__name__)

__all__ = [
    "NSIGMA",
    "AsymptoticCLs",
    "UpperLimit",
    "discovery",
    "hypotest",
    "mle",
    "set_backend",
    "upper_limit",
    "use_optimizer",
]

#: the pyhf optimizers :func:`use_optimizer` accepts
OPTIMIZERS = ("scipy", "minuit")

#: the expected band, in the order of the returned lists (-2, -1, 0, +1, +2 sigma)
NSIGMA = (-2, -1, 0, 1, 2)
# pyhf's ordering of the b-only test-statistic quantiles giving that band
_TQUANT = (2.0, 1.0, 0.0, -1.0, -2.0)


def set_backend(backend: str = "numpy") -> None:
    r"""Selects pyhf's tensor back end (with the scipy optimizer): ``numpy`` or ``jax``.

    jax is optional and imported only here, when asked for; pyhf's pytorch and tensorflow back
    ends are not used by flowstats.

    Arguments:
        backend: ``"numpy"`` or ``"jax"``.
    """
    import pyhf

    name = str(backend).lower()
    if name in ("numpy", "np"):
        pyhf.set_backend("numpy")
    elif name == "jax":
        if importlib.util.find_spec("jax") is None:
            raise BadInputError("backend 'jax' asked for, but jax is not installed; "
                                "pip install 'flowstats[jax]' or use --backend numpy")
        pyhf.set_backend("jax")
    else:
        raise BadInputError(f"unknown backend {backend!r}; use 'numpy' or 'jax'")


@contextlib.contextmanager
def use_optimizer(name: str, **kwargs: Any) -> Iterator[None]:
    r"""Runs the enclosed pyhf fits with the ``scipy`` or ``minuit`` optimizer, then restores.

    Arguments:
        name: ``"scipy"`` (pyhf's default, SLSQP) or ``"minuit"`` (iminuit's MIGRAD).
        kwargs: Passed to the pyhf optimizer.
    """
    import pyhf

    if name not in OPTIMIZERS:
        raise BadInputError(f"unknown optimizer {name!r}; use one of {', '.join(OPTIMIZERS)}")
    tensorlib, previous = pyhf.get_backend()
    new = getattr(pyhf.optimize, f"{name}_optimizer")(**kwargs)
    pyhf.set_backend(tensorlib, new)
    try:
        yield
    finally:
        pyhf.set_backend(tensorlib, previous)


def _float(x: Any) -> float:
    return float(np.asarray(x))


def _fit_error(err: Exception, what: str) -> FitError:
    result = getattr(err, "result", None)
    status = getattr(result, "message", None) or str(err)
    extra = ""
    if result is not None and getattr(result, "minuit", None) is not None:
        fmin = result.minuit.fmin
        extra = (f" (valid={fmin.is_valid}, edm={fmin.edm:.3g}, calls={fmin.nfcn}, "
                 f"call limit reached={fmin.has_reached_call_limit})")
    return FitError(f"{what} did not converge: {status}{extra}")


def mle(model: Any, data: Any, *, minos: bool = True) -> dict[str, Any]:
    r"""Maximum-likelihood fit with minuit: :math:`\hat\mu`, HESSE and MINOS uncertainties.

    Arguments:
        model: The :class:`pyhf.pdf.Model`.
        data: Observed data with auxdata.
        minos: Also run MINOS on the POI.

    Returns:
        dict with ``mu_hat``, ``mu_hat_error`` (HESSE), ``mu_hat_minos`` ``[lo, hi]`` (signed
        errors, None where MINOS fails, e.g. at a bound), ``twice_nll``, ``bestfit`` and
        ``uncertainties`` of all parameters, ``par_names``.
    """
    import pyhf

    poi = model.config.poi_index
    with use_optimizer("minuit"):
        try:
            pars, twice_nll, result = pyhf.infer.mle.fit(
                data, model, return_uncertainties=True, return_fitted_val=True,
                return_result_obj=True)
        except pyhf.exceptions.FailedMinimization as err:
            raise _fit_error(err, "maximum-likelihood fit (minuit)") from None
    pars = np.asarray(pars)
    out: dict[str, Any] = {
        "mu_hat": float(pars[poi, 0]), "mu_hat_error": float(pars[poi, 1]),
        "mu_hat_minos": None, "twice_nll": _float(twice_nll),
        "bestfit": pars[:, 0].tolist(), "uncertainties": pars[:, 1].tolist(),
        "par_names": list(model.config.par_names),
    }
    if minos:
        m = result.minuit
        name = m.parameters[poi]
        try:
            m.minos(name)
            me = m.merrors[name]
            out["mu_hat_minos"] = [float(me.lower) if me.lower_valid else None,
                                   float(me.upper) if me.upper_valid else None]
        except RuntimeError as err:  # minos needs a valid minimum; reported, not fatal
            log.warning("MINOS on %s failed: %s", name, err)
    return out


def discovery(model: Any, data: Any, *, calculator: AsymptoticCLs | None = None,
              ) -> dict[str, float]:
    r"""Discovery significance with the :math:`q_0` test statistic (asymptotic).

    Same numbers as ``pyhf.infer.hypotest(0.0, data, model, test_stat="q0",
    return_expected=True)`` (whose first value is :math:`p_0`, not a CLs), turned into
    significances; with a ``calculator`` its cached fits are shared (two extra fits only).

    Arguments:
        model: The model (its POI range must include 0).
        data: Observed data with auxdata.
        calculator: An :class:`AsymptoticCLs` of the same model and data, to share fits.

    Returns:
        dict with ``q0``, ``p0``, ``z0`` (observed) and ``q0_exp``, ``p0_exp``, ``z0_exp``
        (median expected for mu = 1, from the Asimov data set of the mu = 1 fit).

    References:
        G. Cowan et al., arXiv:1007.1727, sec. 3.5 and eqs. (52), (97).
    """
    calc = calculator or AsymptoticCLs(model, data)
    lo, _ = calc.bounds
    if lo > 0:
        raise BadInputError(f"discovery: the POI bounds must include 0, the lower bound is {lo}")
    q0 = calc.q0("obs")
    q0_a = calc.q0("asimov1")
    z0, z0_a = float(np.sqrt(q0)), float(np.sqrt(q0_a))
    return {"q0": q0, "p0": float(stats.norm.sf(z0)), "z0": z0,
            "q0_exp": q0_a, "p0_exp": float(stats.norm.sf(z0_a)), "z0_exp": z0_a}


class AsymptoticCLs:
    r"""Asymptotic CLs (``qtilde`` or ``q``) with the mu-independent fits cached.

    Same numbers as ``pyhf.infer.hypotest(mu, data, model, test_stat=...,
    return_expected_set=True)`` (the same fits, in the same order, on the same back end), but the
    unconditional fits to the data and to the Asimov data set, and the Asimov data set itself,
    are computed once; each mu then costs one conditional fit to the data (observed CLs) and
    one to the Asimov data (both). ``evaluations`` records every mu evaluated.

    Arguments:
        model: The :class:`pyhf.pdf.Model`.
        data: Observed data with auxdata.
        test_stat: ``"qtilde"`` (default, POI bounded at 0) or ``"q"``.
        init_pars, par_bounds, fixed_params: As in pyhf (the model's suggestions by default).

    References:
        G. Cowan et al., arXiv:1007.1727, eqs. (16), (65), (66); pyhf.infer.calculators.
    """

    def __init__(self, model: Any, data: Any, *, test_stat: str = "qtilde",
                 init_pars: Sequence[float] | None = None,
                 par_bounds: Sequence[Sequence[float]] | None = None,
                 fixed_params: Sequence[bool] | None = None):
        import pyhf

        if test_stat not in ("qtilde", "q"):
            raise BadInputError(f"test statistic must be 'qtilde' or 'q', got {test_stat!r}")
        self.model, self.data, self.test_stat = model, data, test_stat
        self.init_pars = init_pars or model.config.suggested_init()
        self.par_bounds = par_bounds or model.config.suggested_bounds()
        self.fixed_params = fixed_params or model.config.suggested_fixed()
        self.poi = model.config.poi_index
        self.bounds = tuple(map(float, self.par_bounds[self.poi]))
        if test_stat == "qtilde" and self.bounds[0] != 0:
            raise BadInputError(f"qtilde needs the POI bounded below at 0, got {self.bounds}")
        self._pyhf = pyhf
        self._free: dict[str, tuple[float, float]] = {}
        self._fixed: dict[tuple[str, float], tuple[Any, float]] = {}
        self._datasets: dict[str, Any] = {"obs": data}
        self.evaluations: list[float] = []
        self.n_fits = 0

    def _run(self, fn: Any, *args: Any) -> tuple[Any, float]:
        self.n_fits += 1
        try:
            pars, val = fn(*args, self.init_pars, self.par_bounds, self.fixed_params,
                           return_fitted_val=True)
        except self._pyhf.exceptions.FailedMinimization as err:
            raise _fit_error(err, f"hypotest fit ({fn.__name__})") from None
        return pars, _float(val)

    def _fixed_fit(self, mu: float, which: str) -> tuple[Any, float]:
        key = (which, mu)
        if key not in self._fixed:
            self._fixed[key] = self._run(self._pyhf.infer.mle.fixed_poi_fit, mu,
                                         self._data(which), self.model)
        return self._fixed[key]

    def _free_fit(self, which: str) -> tuple[float, float]:
        if which not in self._free:
            pars, val = self._run(self._pyhf.infer.mle.fit, self._data(which), self.model)
            self._free[which] = (float(np.asarray(pars)[self.poi]), val)
        return self._free[which]

    def _data(self, which: str) -> Any:
        # "asimov0"/"asimov1": pyhf's generate_asimov_data(0 or 1, data, ...): the expected
        # data of the conditional fit to the observed data at mu = 0 or 1
        if which not in self._datasets:
            mu = {"asimov0": 0.0, "asimov1": 1.0}[which]
            pars, _ = self._fixed_fit(mu, "obs")
            self._datasets[which] = self.model.expected_data(pars)
        return self._datasets[which]

    def _q(self, mu: float, which: str) -> float:
        # pyhf.infer.test_statistics._qmu_like with cached fits
        _, fixed = self._fixed_fit(mu, which)
        muhat, free = self._free_fit(which)
        q = max(fixed - free, 0.0)
        return 0.0 if muhat > mu else q

    def q0(self, which: str = "obs") -> float:
        r""":math:`q_0` on the observed (``"obs"``) or mu = 1 Asimov (``"asimov1"``) data."""
        # pyhf.infer.test_statistics.q0 with cached fits
        _, fixed = self._fixed_fit(0.0, which)
        muhat, free = self._free_fit(which)
        return 0.0 if muhat < 0 else max(fixed - free, 0.0)

    def sqrt_qmu_asimov(self, mu: float) -> float:
        r""":math:`\sqrt{q_{\mu,A}}` on the background-only Asimov data."""
        return float(np.sqrt(self._q(float(mu), "asimov0")))

    def guess_exp(self, target: float, default: float) -> float:
        r"""Where :math:`\sqrt{q_{\mu,A}}` reaches ``target``, interpolated from the points
        evaluated so far (``default`` with fewer than two)."""
        pts = sorted((mu, np.sqrt(max(self._q(mu, "asimov0"), 0.0)))
                     for (which, mu) in self._fixed if which == "asimov0" and mu > 0)
        if len(pts) < 2:
            return default
        mus, sq = map(np.asarray, zip(*pts))
        j = int(np.clip(np.searchsorted(sq, target), 1, len(sq) - 1))
        (m0, m1), (s0, s1) = mus[j - 1:j + 1], sq[j - 1:j + 1]
        if s1 <= s0:
            return default
        return float(m0 + (target - s0) * (m1 - m0) / (s1 - s0))

    def guess_obs(self, alpha: float, default: float) -> float:
        r"""The observed limit in the Wald approximation with :math:`\sigma \approx \sigma_A`
        (from the median expected limit ``default``) and the cached :math:`\hat\mu`."""
        sq_a = self.sqrt_qmu_asimov(default)
        if not sq_a > 0:
            return default
        sigma = default / sq_a
        muhat, _ = self._free_fit("obs")

        def g(mu: float) -> float:
            sq = max(mu - muhat, 0.0) / sigma
            t = sq - mu / sigma if sq <= mu / sigma else (sq**2 - (mu / sigma) ** 2) / (
                2 * mu / sigma)
            return float(stats.norm.logcdf(-(t + mu / sigma)) - stats.norm.logcdf(-t)
                         - np.log(alpha))

        lo, hi = 1e-6 * default, self.bounds[1]
        if g(lo) > 0 > g(hi):
            return float(optimize.brentq(g, lo, hi, xtol=1e-3 * default))
        return default

    def _check(self, mu: float) -> float:
        mu = float(mu)
        lo, hi = self.bounds
        if not lo <= mu <= hi:
            raise BadInputError(f"POI value {mu:g} outside its bounds [{lo:g}, {hi:g}]")
        if mu not in self.evaluations:
            self.evaluations.append(mu)
        return mu

    def cls_exp(self, mu: float) -> list[float]:
        r"""Expected CLs at ``mu`` for the -2..+2 sigma band (Asimov fits only)."""
        mu = self._check(mu)
        sq_a = self.sqrt_qmu_asimov(mu)
        return [float(stats.norm.cdf(-(t + sq_a)) / stats.norm.cdf(-t)) for t in _TQUANT]

    def cls_obs(self, mu: float) -> float:
        r"""Observed CLs at ``mu``."""
        return self.pvalues(mu)[2]

    def pvalues(self, mu: float) -> tuple[float, float, float]:
        r"""Observed ``(CLsb, CLb, CLs)`` at ``mu``."""
        mu = self._check(mu)
        sq = float(np.sqrt(self._q(mu, "obs")))
        sq_a = self.sqrt_qmu_asimov(mu)
        if not sq_a > 0:
            # mu = 0, or a signal below the Asimov fit's resolution: s + b is b, CLs = 1
            p = float(stats.norm.sf(sq))
            return p, p, 1.0
        if self.test_stat == "q" or sq <= sq_a:
            t = sq - sq_a
        else:
            t = (sq**2 - sq_a**2) / (2 * sq_a)
        # in logs: for t > 38 (e.g. a deficit of tens of sigma) CLb underflows to 0 in a cdf
        log_clsb = float(stats.norm.logcdf(-(t + sq_a)))
        log_clb = float(stats.norm.logcdf(-t))
        return float(np.exp(log_clsb)), float(np.exp(log_clb)), float(np.exp(log_clsb - log_clb))

    def cls(self, mu: float) -> tuple[float, list[float]]:
        r"""``(observed CLs, [expected CLs at -2..+2 sigma])`` at ``mu``."""
        return self.cls_obs(mu), self.cls_exp(mu)


def hypotest(model: Any, data: Any, poi_test: float = 1.0, *,
             test_stat: str = "qtilde") -> dict[str, Any]:
    r"""Asymptotic CLs at ``poi_test``: observed, expected band, CLs+b and CLb.

    Arguments:
        model: The model.
        data: Observed data with auxdata.
        poi_test: The signal strength tested.
        test_stat: ``"qtilde"`` or ``"q"``.
    """
    calc = AsymptoticCLs(model, data, test_stat=test_stat)
    clsb, clb, cls = calc.pvalues(poi_test)
    return {"poi_test": float(poi_test), "cls_obs": cls, "clsb_obs": clsb, "clb_obs": clb,
            "cls_exp": calc.cls_exp(poi_test), "n_fits": calc.n_fits}


@dataclass
class UpperLimit:
    r"""CLs upper limits on the POI.

    Attributes:
        obs: The observed limit.
        exp: The expected limits at -2, -1, 0, +1, +2 sigma.
        cl: The confidence level.
        points: Every ``(mu, cls_obs or None, [cls_exp] or None)`` evaluated.
        n_fits: The number of likelihood fits run.
    """

    obs: float | None
    exp: list[float]
    cl: float
    points: list[dict[str, Any]] = field(default_factory=list)
    n_fits: int = 0

    def to_dict(self) -> dict[str, Any]:
        return {"mu_upper_obs": self.obs, "mu_upper_exp": self.exp, "cl": self.cl,
                "points": self.points, "n_fits": self.n_fits}


def _solve(f: Any, guess: float, bounds: tuple[float, float], rtol: float, what: str,
           step: float = 1.05) -> float:
    r"""Root of a decreasing ``f`` inside ``bounds``: a bracket grown geometrically from
    ``guess`` (factor ``step``, squared at each failure), then Brent's method
    (:func:`scipy.optimize.brentq`) to ``rtol`` relative. ``f`` is expected to cache."""
    lo_b, hi_b = bounds
    tiny = max(lo_b, 1e-9 * hi_b, 1e-12)
    x = min(max(guess, tiny), hi_b)
    fx = f(x)
    if fx == 0:
        return x
    if fx > 0:  # root above x
        a = x
        while True:
            if a >= hi_b:
                raise FitError(f"{what} lies above the POI upper bound {hi_b:g} (CLs > 1 - CL "
                               "there); widen the POI bounds")
            b = min(a * step, hi_b)
            if f(b) <= 0:
                break
            a, step = b, step**2
    else:
        b = x
        while True:
            if b <= tiny:
                raise FitError(f"{what} lies below {tiny:g}, the lower end of the POI range")
            a = max(b / step, tiny)
            if f(a) > 0:
                break
            b, step = a, step**2
    if f(b) == 0:
        return b
    return float(optimize.brentq(f, a, b, xtol=rtol * a, rtol=4 * np.finfo(float).eps))


def upper_limit(model: Any, data: Any, *, cl: float = 0.95, test_stat: str = "qtilde",
                expected: bool = True, observed: bool = True, rtol: float = 1e-4,
                calculator: AsymptoticCLs | None = None) -> UpperLimit:
    r"""Asymptotic CLs upper limits on the POI (observed and the expected band).

    Each limit solves :math:`\mathrm{CL}_s(\mu) = 1 - \mathrm{CL}` inside the POI bounds:
    first a bracket from an Asimov-based guess (:math:`\sqrt{q_{\mu,A}} \approx \mu/\sigma_A`
    is evaluated once and inverted), then Brent's method on plain floats to a relative tolerance
    ``rtol``. All CLs evaluations are cached (see :class:`AsymptoticCLs`).

    Arguments:
        model: The model.
        data: Observed data with auxdata.
        cl: The confidence level (0.95 for a 95 % CL limit).
        test_stat: ``"qtilde"`` or ``"q"``.
        expected: Compute the expected band.
        observed: Compute the observed limit.
        rtol: Relative tolerance on each limit.
        calculator: A calculator to reuse (its cache is kept).

    References:
        G. Cowan et al., arXiv:1007.1727; A. L. Read, J. Phys. G 28 (2002) 2693.
    """
    if not 0 < cl < 1:
        raise BadInputError(f"confidence level must be in (0, 1), got {cl}")
    alpha = 1.0 - cl
    calc = calculator or AsymptoticCLs(model, data, test_stat=test_stat)
    lo_b, hi_b = calc.bounds
    seen: dict[float, dict[str, Any]] = {}

    def exp_at(mu: float) -> list[float]:
        v = calc.cls_exp(mu)
        seen.setdefault(mu, {"mu": mu, "cls_obs": None})["cls_exp"] = v
        return v

    def obs_at(mu: float) -> float:
        v = calc.cls_obs(mu)
        seen.setdefault(mu, {"mu": mu, "cls_exp": None})["cls_obs"] = v
        return v

    # sigma_A from one Asimov point; the asymptotic expected limit for band n is where
    # sqrt(q_mu,A) = isf(alpha * Phi(-t_n)) - t_n
    mu1 = min(max(1.0, lo_b), hi_b) if hi_b >= 1.0 else 0.5 * hi_b
    sq1 = calc.sqrt_qmu_asimov(mu1)
    exp_at(mu1)
    sigma_a = mu1 / sq1 if sq1 > 0 else hi_b
    targets = [float(stats.norm.isf(alpha * stats.norm.cdf(-t)) - t) for t in _TQUANT]
    guesses = [min(max(s * sigma_a, 1e-6 * hi_b), hi_b) for s in targets]
    # the expected CLs is a monotone function of sqrt(q_mu,A) alone, so each expected limit
    # solves the near-linear sqrt(q_mu,A)(mu) = target; the observed one log CLs = log alpha
    exp = []
    if expected:
        for i, n in enumerate(NSIGMA):
            def f_exp(m: float, i: int = i) -> float:
                exp_at(m)
                return targets[i] - calc.sqrt_qmu_asimov(m)

            exp.append(_solve(f_exp, calc.guess_exp(targets[i], guesses[i]), (lo_b, hi_b), rtol,
                              f"the expected upper limit ({n:+d} sigma)", step=1.02))
    obs = None
    if observed:
        def f_obs(m: float) -> float:
            return float(np.log(max(obs_at(m), 1e-300)) - np.log(alpha))

        obs = _solve(f_obs, calc.guess_obs(alpha, exp[2] if exp else guesses[2]), (lo_b, hi_b),
                     rtol, "the observed upper limit", step=1.05)
    points = [seen[m] for m in sorted(seen)]
    return UpperLimit(obs=obs, exp=exp, cl=cl, points=points, n_fits=calc.n_fits)
