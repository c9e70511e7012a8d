r"""Statistics of one bump-hunt window and of the whole scan.

Per window and efficiency: the selected m spectrum is fitted with the smooth background function
on the sidebands only (signal-region bins masked); the fit's prediction in the SR and its
uncertainty (the fit-parameter covariance, i.e. the statistical uncertainty of the sideband
template) enter a single-bin HistFactory counting model, the uncertainty as a Poisson-constrained
``shapesys`` (an on/off measurement). The signal is a Gaussian at the window centre with the
configured relative resolution; its yield is the parameter of interest ``mu`` in units of
**selected signal events** (the template is normalised to one event, so ``mu_upper_obs`` is an
upper limit on the number of selected signal events at that mass). The local significance is
the asymptotic :math:`q_0` significance, the limits asymptotic CLs.

Over the scan, the global significance of the smallest local p-value follows from the
Gross-Vitells up-crossing bound when more than one window is scanned, with a Bonferroni factor
for the number of efficiencies tried (conservative: the selections are nested and correlated).
"""

from __future__ import annotations

import logging
import math
from typing import Any

import numpy as np
from scipy import stats as sps

from ..exceptions import FitError, FlowstatsError

log = logging.getLogger(__name__)

__all__ = ["global_significance", "histogram_edges", "window_statistics"]


def histogram_edges(m_all_range: tuple[float, float], bin_width: float) -> np.ndarray:
    r"""Bin edges of width ``bin_width`` aligned to multiples of it, covering the range."""
    lo = math.floor(m_all_range[0] / bin_width) * bin_width
    hi = math.ceil(m_all_range[1] / bin_width) * bin_width
    if hi <= lo:
        hi = lo + bin_width
    return np.arange(lo, hi + 0.5 * bin_width, bin_width)


def _nan_row(row: dict[str, Any], reason: str) -> dict[str, Any]:
    row.update({"background": math.nan, "background_unc": math.nan, "z_local": math.nan,
                "p_local": math.nan, "mu_hat": math.nan, "mu_upper_obs": math.nan,
                "mu_upper_exp": [math.nan] * 5, "status": reason})
    return row


def window_statistics(m_selected: np.ndarray, window: tuple[float, float], efficiency: float,
                      config: dict[str, Any], m_range: tuple[float, float]
                      ) -> tuple[dict[str, Any], dict[str, Any]]:
    r"""Fit, significance and limits of one window at one efficiency.

    Arguments:
        m_selected: Mass of the selected events (all regions).
        window: The signal region ``(lo, hi)``.
        efficiency: The selection efficiency (for the row).
        config: The resolved configuration (``fit_range``, ``bin_width``, ``function``,
            ``sqrt_s``, ``resolution``, ``cl``).
        m_range: The mass range of all events (the default fit range).

    Returns:
        ``(row, extra)``: the summary row, and the histogram, fit prediction and workspace.
        A fit that does not converge gives a row of NaN with its ``status`` (never its numbers).
    """
    from ..stats import infer
    from ..stats.fit import fit_background, window_mask
    from ..stats.model import build_workspace, load_model

    fit_range = config.get("fit_range") or m_range
    edges = histogram_edges(tuple(fit_range), float(config["bin_width"]))
    counts, _ = np.histogram(m_selected, bins=edges)
    counts = counts.astype(float)
    mask = window_mask(edges, window)
    n_sr = float(counts[mask].sum())
    row: dict[str, Any] = {"sr": [float(window[0]), float(window[1])],
                           "efficiency": float(efficiency), "n_selected": int(len(m_selected)),
                           "n_sr": int(n_sr)}
    extra: dict[str, Any] = {"edges": edges, "counts": counts, "prediction": None,
                             "workspace": None}
    try:
        fit = fit_background((counts, edges), sr=window, function=config["function"],
                             sqrt_s=float(config["sqrt_s"]),
                             what=f"m spectrum of SR {window[0]:g}-{window[1]:g}, "
                                  f"efficiency {efficiency:g}")
    except FitError as err:
        log.warning("window %s efficiency %g: %s", window, efficiency, err)
        return _nan_row(row, f"background fit failed: {err}"), extra
    except FlowstatsError as err:  # e.g. too few events to fit
        return _nan_row(row, f"no fit: {err}"), extra
    b, db = fit.predict(window)
    extra["prediction"] = fit.expected()
    row.update({"background": b, "background_unc": db, "fit_chi2": fit.chi2,
                "fit_ndf": fit.ndof, "fit_pvalue": fit.pvalue, "fit_function": fit.function})
    centre = 0.5 * (window[0] + window[1])
    width = float(config["resolution"]) * centre
    s_frac = float(np.diff(sps.norm.cdf([window[0], window[1]], loc=centre, scale=width))[0])
    scale = n_sr + 5.0 * math.sqrt(b + db**2) + 10.0
    spec = build_workspace([n_sr], [max(b, 1e-6)], [s_frac],
                           bkg_shapesys=[db] if db > 0 else None,
                           poi_bounds=(0.0, 10.0 * scale / s_frac))
    extra["workspace"] = spec
    try:
        _, model, data = load_model(spec, where=f"window {window}")
        disc = infer.discovery(model, data)
        limit = infer.upper_limit(model, data, cl=float(config["cl"]))
        fitres = infer.mle(model, data, minos=False)
    except FitError as err:
        log.warning("window %s efficiency %g: %s", window, efficiency, err)
        row["status"] = f"hypothesis test failed: {err}"
        row.update({"z_local": math.nan, "p_local": math.nan, "mu_upper_obs": math.nan,
                    "mu_upper_exp": [math.nan] * 5, "mu_hat": math.nan})
        return row, extra
    row.update({"z_local": max(float(disc["z0"]), 0.0), "p_local": float(disc["p0"]),
                "mu_hat": float(fitres.get("mu_hat", math.nan)),
                "mu_upper_obs": limit.obs, "mu_upper_exp": list(limit.exp),
                "signal_fraction_in_sr": s_frac, "status": "ok"})
    return row, extra


def global_significance(rows: list[dict[str, Any]], windows: list[tuple[float, float]],
                        efficiencies: list[float], config: dict[str, Any]) -> dict[str, Any]:
    r"""Global significance of the most significant window over the scan.

    Arguments:
        rows: The per-window, per-efficiency rows.
        windows: The windows.
        efficiencies: The efficiencies tried.
        config: The resolved configuration.
    """
    ok = [r for r in rows if np.isfinite(r.get("p_local", np.nan))]
    if not ok:
        return {"z_global": math.nan, "p_global": math.nan, "global_method": "none"}
    best = min(ok, key=lambda r: r["p_local"])
    p_local = best["p_local"]
    per_eff: dict[str, Any] = {}
    p_scan = {}
    for eff in efficiencies:
        sel = [r for r in ok if r["efficiency"] == eff]
        if not sel:
            continue
        z = np.array([r["z_local"] for r in sel])
        p_min = float(min(r["p_local"] for r in sel))
        if len(windows) > 1:
            p_glob = _gross_vitells(z, p_min)
        else:
            p_glob = p_min
        p_scan[eff] = p_glob
        per_eff[f"{eff:g}"] = {"z_max_local": float(z.max()), "p_global": p_glob,
                               "z_global": float(max(sps.norm.isf(p_glob), 0.0))}
    n_eff = len(p_scan)
    p_global = min(1.0, n_eff * min(p_scan.values()))
    return {
        "z_global": float(max(sps.norm.isf(p_global), 0.0)),
        "p_global": p_global,
        "z_max_local": float(best["z_local"]),
        "best_window": best["sr"],
        "best_efficiency": best["efficiency"],
        "p_local_min": p_local,
        "global_by_efficiency": per_eff,
        "global_method": ("Gross-Vitells up-crossings over the scan, Bonferroni over "
                          f"{n_eff} efficiencies" if len(windows) > 1 else
                          f"Bonferroni over {n_eff} efficiencies (one window)"),
    }


def _gross_vitells(z: np.ndarray, p_min: float) -> float:
    r"""Gross-Vitells bound :math:`p_{glob} \le p_{loc} + N_u(c_0) e^{-(c - c_0)/2}`.

    The up-crossings :math:`N_u` of the local q0 = z^2 curve at a low reference level
    :math:`c_0` are counted on the scan itself (one-sided chi2 with one degree of freedom).

    References:
        E. Gross, O. Vitells, Eur. Phys. J. C 70 (2010) 525, arXiv:1005.1891.
    """
    from ..stats import lee

    q = np.clip(z, 0, None) ** 2
    c = float(sps.norm.isf(p_min)) ** 2 if p_min < 0.5 else 0.0
    return float(lee.gross_vitells(q, c))
