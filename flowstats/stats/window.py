r"""Signal-window statistics for resonant bump hunts (one call per mass window).

:func:`window_significance` does, for a selected m_jj histogram and a signal region
``window = (lo, hi)``:

1. fits the background function to the sidebands only (the window's bins masked,
   :func:`~flowstats.stats.background_fit.fit_background`);
2. predicts the background in the window, :math:`b`, with its uncertainty
   :math:`\sigma_b` from the fit-parameter covariance (correlations propagated), plus optional
   extra terms in quadrature (a spurious-signal / shape uncertainty, a template statistical
   uncertainty);
3. builds a **single-bin counting** workspace (observed :math:`n` in the window,
   :math:`\mu\, s + \gamma b`, :math:`\sigma_b` as a Poisson-constrained ``shapesys``, i.e. an
   on/off measurement - the same model whose Asimov significance is Cowan's formula);
   the signal :math:`s` is the fraction of a Gaussian (mean ``mass``, sigma ``resolution``)
   inside the window's bins times ``signal_yield``, so :math:`\mu` counts signal events in units
   of ``signal_yield`` (with the default 1: the limits are on the total number of signal events);
4. returns the local discovery significance (:math:`q_0`, asymptotic) and CLs upper limits on
   :math:`\mu` (observed and expected band), fitted with minuit: pyhf's default scipy
   optimizer stalls at the initial :math:`\mu = 1` when the window holds ~1e5 background
   events (the row without a cut of a 1M-event scan: :math:`Z = 0.09` instead of 2.25).

A single bin keeps each call at a few fits (~0.1-0.3 s), fast enough for ~25 windows x 4
selection efficiencies; combine the windows' ``q0`` with :mod:`flowstats.stats.lee`.

References:
    ATLAS Collaboration, Phys. Rev. Lett. 125 (2020) 131801, arXiv:2005.02983 (weakly
    supervised dijet bump hunt); G. Cowan et al., arXiv:1007.1727.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field, fields
from typing import Any

import numpy as np

from ..exceptions import BadInputError, FitError
from .background_fit import BackgroundFit, choose_function, fit_background, window_mask
from .functions import SQRT_S
from .hist import check_data, to_arrays
from .infer import AsymptoticCLs, discovery, set_backend, upper_limit, use_optimizer
from .workspace import counting_workspace, gaussian_template, load_model

log = logging.getLogger(__name__)

__all__ = ["SignalShape", "WindowResult", "counting_significance", "window_significance"]


@dataclass
class WindowResult:
    r"""Statistics of one signal window (see :func:`window_significance`)."""

    window: tuple[float, float]
    mass: float
    n_obs: float
    b: float
    sigma_b: float
    sigma_b_fit: float
    s: float
    z_local: float
    p_local: float
    q0: float
    z_exp: float
    mu_upper_obs: float | None
    mu_upper_exp: list[float]
    fit: BackgroundFit
    workspace: dict[str, Any] = field(repr=False)
    function_choice: dict[str, Any] | None = None
    weight_scale: float = 1.0

    def to_dict(self) -> dict[str, Any]:
        r"""A JSON-ready summary (without the workspace)."""
        return {"window": list(self.window), "mass": self.mass, "n_obs": self.n_obs,
                "b": self.b, "sigma_b": self.sigma_b, "sigma_b_fit": self.sigma_b_fit,
                "s": self.s, "z_local": self.z_local, "p_local": self.p_local, "q0": self.q0,
                "z_exp": self.z_exp, "mu_upper_obs": self.mu_upper_obs,
                "mu_upper_exp": self.mu_upper_exp, "fit": self.fit.to_dict()}


def counting_significance(n: float, b: float, sigma_b: float, s: float, *, where: str,
                          cl: float = 0.95, limits: bool = True, backend: str = "numpy",
                          optimizer: str = "minuit"
                          ) -> tuple[dict[str, Any], dict[str, Any], float | None, list[float]]:
    r"""Discovery significance and CLs limits of a single-bin counting experiment.

    ``n`` observed for ``mu * s + gamma * b``, ``sigma_b`` as a Poisson-constrained
    ``shapesys`` (none when 0), fitted with ``optimizer``.

    Returns:
        ``(workspace, discovery, mu_upper_obs, mu_upper_exp)``; the limits are None / [] when
        ``limits`` is False.
    """
    if not all(np.isfinite(v) for v in (n, b, sigma_b, s)) or b <= 0 or s <= 0:
        raise FitError(f"{where}: cannot build the counting model from n = {n:g}, b = {b:g} "
                       f"+- {sigma_b:g}, s = {s:g}")
    # POI range wide enough for any limit: n + 10 sigma of the total spread, in units of s
    mu_max = max(1.0, (abs(n - b) + 10.0 * np.sqrt(n + b + sigma_b**2) + 10.0) / s)
    spec = counting_workspace(s, b, n, sigma_b=sigma_b if sigma_b > 0 else None,
                              poi_bounds=(0.0, mu_max), validate=False)  # load_model validates
    set_backend(backend)
    _, model, data = load_model(spec, where=where)
    up_obs, up_exp = None, []
    with use_optimizer(optimizer):
        calc = AsymptoticCLs(model, data)
        disc = discovery(model, data, calculator=calc)
        if limits:
            try:
                ul = upper_limit(model, data, cl=cl, calculator=calc)
                up_obs, up_exp = ul.obs, ul.exp
            except FitError as err:
                raise FitError(f"{where}: {err}") from None
    return spec, disc, up_obs, up_exp


@dataclass(frozen=True)
class SignalShape:
    r"""The Gaussian signal hypothesis of :func:`window_significance`.

    Attributes:
        mass: The signal mass hypothesis (None: the window's centre).
        resolution: The Gaussian signal width (absolute); ``rel_resolution * mass`` if None.
        rel_resolution: The relative width used when ``resolution`` is None.
        signal_yield: The total signal yield for mu = 1 (1: mu counts events).
    """

    mass: float | None = None
    resolution: float | None = None
    rel_resolution: float = 0.1
    signal_yield: float = 1.0

    def mass_and_width(self, lo: float, hi: float) -> tuple[float, float]:
        r"""The mass hypothesis and the signal width for a window of bins ``[lo, hi)``."""
        mass = 0.5 * (lo + hi) if self.mass is None else float(self.mass)
        width = self.rel_resolution * mass if self.resolution is None else float(self.resolution)
        return mass, width


def window_significance(h: Any, window: tuple[float, float], *, function: str = "dijet4",
                        bkg_syst: float = 0.0, bkg_stat: float = 0.0, cl: float = 0.95,
                        limits: bool = True, sqrt_s: float = SQRT_S,
                        backend: str = "numpy", optimizer: str = "minuit",
                        **signal: Any) -> WindowResult:
    r"""Local significance and CLs limits of a signal window, background from the sidebands.

    Arguments:
        h: The selected spectrum (:class:`hist.Hist` or ``(counts, edges)``).
        window: ``(lo, hi)`` of the signal region (bins whose centres lie inside).
        function: The background function fitted to the sidebands, or ``"auto"``: chosen
            among families by :func:`~flowstats.stats.background_fit.choose_function` on the sidebands
            (recorded in ``function_choice``).
        signal: The signal hypothesis, by the names of :class:`SignalShape`: ``mass`` (the
            window's centre by default), ``resolution`` (the Gaussian width; absolute),
            ``rel_resolution`` (the relative width when ``resolution`` is None, 0.1) and
            ``signal_yield`` (the total signal yield for mu = 1; 1: mu counts events).
        bkg_syst: An extra absolute background uncertainty in the window (e.g. the spurious
            signal), added in quadrature.
        bkg_stat: An extra absolute statistical uncertainty of a background template.
        cl: The confidence level of the limits.
        limits: Compute the CLs limits (the slower part); else they are None / [].
        sqrt_s: Centre-of-mass energy in GeV (dijet functions).
        backend: pyhf back end.
        optimizer: pyhf optimizer of the counting-model fits, ``minuit`` (default: robust to
            the large yields of loose selections) or ``scipy``.

    Weighted histograms (variances not equal to the counts): the sideband fit uses the
    variances (Bohm-Zech scaled Poisson likelihood), and the counting model is that of the
    window's effective counts: n, b, sigma_b and s scaled by k = sum w / sum w^2 of the window
    (``weight_scale``; the workspace holds the scaled yields, mu is unchanged).

    Returns:
        A :class:`WindowResult` (``workspace`` is the counting workspace, JSON-ready).
    """
    unknown = sorted(set(signal) - {f.name for f in fields(SignalShape)})
    if unknown:
        raise TypeError(f"window_significance() got an unexpected keyword argument "
                        f"{unknown[0]!r}")
    shape = SignalShape(**signal)
    counts, variances, edges = to_arrays(h, what="window histogram")
    counts = check_data(counts, edges, what="window histogram")
    mask = window_mask(edges, window)
    if mask.all():
        raise BadInputError(f"window {tuple(window)} covers the whole histogram: no sidebands")
    lo_w, hi_w = float(edges[:-1][mask][0]), float(edges[1:][mask][-1])
    mass, width = shape.mass_and_width(lo_w, hi_w)
    what = f"sideband fit for window [{window[0]:g}, {window[1]:g})"
    choice = None
    if function == "auto":
        fit, choice = choose_function(h, sr=window, sqrt_s=sqrt_s, what=what)
    else:
        fit = fit_background(h, sr=window, function=function, sqrt_s=sqrt_s, what=what)
    b, sigma_fit = fit.predict(window)
    if not (np.isfinite(b) and np.isfinite(sigma_fit)):
        # e.g. a covariance that is not positive definite (a fit at a boundary): no model can
        # be built on it (pyhf would fail deep inside its fit)
        raise FitError(f"{what}: the background prediction in the window ({b:g} +- "
                       f"{sigma_fit:g}) is not finite; the fit's covariance is not positive "
                       "definite")
    n = float(counts[mask].sum())
    s = float(gaussian_template(np.array([lo_w, hi_w]), mass, width, shape.signal_yield)[0])
    if not s > 0:
        raise BadInputError(f"the signal at {mass:g} has no yield in window {tuple(window)}")
    sigma_b = float(np.sqrt(sigma_fit**2 + bkg_syst**2 + bkg_stat**2))
    # weighted events: the window's sum of weights n has variance sum w^2; the counting model
    # is Poisson in n * k with k = sum w / sum w^2 (Bohm-Zech scaled Poisson, as the fit), so
    # every yield is scaled by k there and mu keeps its meaning (signal in weighted events)
    var_w = float(variances[mask].sum())
    scale = n / var_w if var_w > 0 and not np.isclose(var_w, n, rtol=1e-9) else 1.0
    if scale != 1.0:
        n, b, s, sigma_b = n * scale, b * scale, s * scale, sigma_b * scale
    spec, disc, up_obs, up_exp = counting_significance(
        n, b, sigma_b, s, where=f"window [{window[0]:g}, {window[1]:g})", cl=cl,
        limits=limits, backend=backend, optimizer=optimizer)
    if scale != 1.0:  # report yields in weighted events again
        n, b, s, sigma_b = n / scale, b / scale, s / scale, sigma_b / scale
    return WindowResult(window=(float(window[0]), float(window[1])), mass=mass, n_obs=n, b=b,
                        sigma_b=sigma_b, sigma_b_fit=sigma_fit, s=s, z_local=disc["z0"],
                        p_local=disc["p0"], q0=disc["q0"], z_exp=disc["z0_exp"],
                        mu_upper_obs=up_obs, mu_upper_exp=up_exp, fit=fit, workspace=spec,
                        function_choice=choice, weight_scale=scale)
