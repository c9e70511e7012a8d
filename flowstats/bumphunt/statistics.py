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

from ..exceptions import FitError, FlowstatsError
from ..registry import METHODS, DerivedNames
from .windows import same_value

log = logging.getLogger(__name__)

__all__ = ["TEMPLATE_METHODS", "bumphunter_global", "gross_vitells_global", "histogram_edges",
           "skipped_row", "template_statistics", "window_grid", "window_statistics"]

#: Gross-Vitells reference level of q0
U0 = 0.5
_LN10 = math.log(10.0)


def histogram_edges(m_all_range: tuple[float, float], bin_width: float) -> np.ndarray:
    r"""Bin edges of width ``bin_width`` aligned to multiples of it, covering the range."""
    lo = math.floor(m_all_range[0] / bin_width) * bin_width
    hi = math.ceil(m_all_range[1] / bin_width) * bin_width
    if hi <= lo:
        hi = lo + bin_width
    return np.arange(lo, hi + 0.5 * bin_width, bin_width)


def _nan_row(row: dict[str, Any], reason: str) -> dict[str, Any]:
    row.update({"background": math.nan, "background_unc": math.nan, "z_local": math.nan,
                "p_local": math.nan, "log10_p_local": math.nan, "mu_hat": math.nan,
                "mu_upper_obs": math.nan,
                "mu_upper_exp": [math.nan] * 5, "status": reason})
    return row


def skipped_row(window: tuple[float, float], efficiency: float, reason: str) -> dict[str, Any]:
    r"""The summary row of a window that could not be scored (NaN numbers, the reason)."""
    return _nan_row({"sr": [float(window[0]), float(window[1])],
                     "efficiency": float(efficiency), "n_selected": 0},
                    f"skipped: {reason}")


#: default fit range: the window and FIT_MARGIN window widths on each side (clipped to the data)
FIT_MARGIN = 2.0
#: default bin width: the window width over BINS_PER_WINDOW (in the units of m)
BINS_PER_WINDOW = 8


def fit_range_of(window: tuple[float, float], config: dict[str, Any],
                 m_range: tuple[float, float]) -> tuple[float, float]:
    r"""The m range of a window's background fit: ``fit_range`` if configured, else the window
    and ``fit_margin`` (default 2) window widths on each side, within the data's range."""
    if config.get("fit_range"):
        return float(config["fit_range"][0]), float(config["fit_range"][1])
    margin = float(config.get("fit_margin") or FIT_MARGIN) * (window[1] - window[0])
    return max(m_range[0], window[0] - margin), min(m_range[1], window[1] + margin)


def _edges(window: tuple[float, float], fit_range: tuple[float, float],
           bin_width: float) -> np.ndarray:
    r"""Bin edges over the fit range that fall on the window's edges when the window is a whole
    number of bins (the first and last bins lie inside the range); else aligned to multiples
    of the bin width."""
    nwin = (window[1] - window[0]) / bin_width
    if abs(nwin - round(nwin)) > 1e-6 or round(nwin) < 1:
        return histogram_edges(fit_range, bin_width)
    below = max(0, math.floor((window[0] - fit_range[0]) / bin_width + 1e-9))
    above = max(0, math.floor((fit_range[1] - window[1]) / bin_width + 1e-9))
    k = np.arange(-below, round(nwin) + above + 1)
    return window[0] + bin_width * k


def window_statistics(m_selected: np.ndarray, window: tuple[float, float], efficiency: float,
                      config: dict[str, Any], m_range: tuple[float, float],
                      w_selected: np.ndarray | None = None
                      ) -> tuple[dict[str, Any], dict[str, Any]]:
    r"""Fit, significance and limits of one window at one efficiency.

    A thin layer over :func:`flowstats.stats.window_significance` that histograms the selected
    events and turns a failed fit into a row of NaN with its ``status`` (never its numbers), so
    that one empty selection does not stop a scan.

    Arguments:
        m_selected: Mass of the selected events (all regions).
        window: The signal region ``(lo, hi)``.
        efficiency: The selection efficiency (for the row).
        config: The resolved configuration (``fit_range``, ``fit_margin``, ``bin_width``,
            ``function``, ``sqrt_s``, ``resolution``, ``cl``).
        m_range: The mass range of all events (bounds the default fit range).
        w_selected: Event weights of the selected events (None: unweighted); the histogram
            then holds sums of weights with sum-of-w^2 variances.

    Returns:
        ``(row, extra)``: the summary row, and the histogram, fit prediction and workspace.
    """
    from ..stats import window_significance
    from ..stats.lee import log_p_from_z

    fit_range = fit_range_of(window, config, m_range)
    bin_width = config.get("bin_width") or (window[1] - window[0]) / BINS_PER_WINDOW
    edges = _edges(window, fit_range, float(bin_width))
    if w_selected is None:
        counts = np.histogram(m_selected, bins=edges)[0].astype(float)
        h: Any = (counts, edges)
    else:  # sums of weights with sum-of-w^2 variances
        import hist

        h = hist.Hist(hist.axis.Variable(edges), storage=hist.storage.Weight())
        h.fill(m_selected, weight=w_selected)
        counts = np.asarray(h.values(), float)
    row: dict[str, Any] = {"sr": [float(window[0]), float(window[1])],
                           "efficiency": float(efficiency), "n_selected": int(len(m_selected)),
                           "fit_range": [float(edges[0]), float(edges[-1])]}
    extra: dict[str, Any] = {"edges": edges, "counts": counts, "prediction": None,
                             "workspace": None}
    try:
        res = window_significance(h, window, function=config["function"],
                                  rel_resolution=float(config["resolution"]),
                                  cl=float(config["cl"]), sqrt_s=float(config["sqrt_s"]))
    except FitError as err:
        log.warning("window %s efficiency %g: %s", window, efficiency, err)
        return _nan_row(row, f"fit failed: {err}"), extra
    except FlowstatsError as err:  # e.g. too few selected events to fit
        log.warning("window %s efficiency %g: %s", window, efficiency, err)
        return _nan_row(row, f"no result: {err}"), extra
    extra["prediction"] = res.fit.expected()
    extra["workspace"] = res.workspace
    row.update({"n_sr": int(res.n_obs), "background": res.b, "background_unc": res.sigma_b,
                "signal_per_event_in_sr": res.s, "z_local": max(float(res.z_local), 0.0),
                "p_local": float(res.p_local), "q0": float(res.q0),
                "log10_p_local": float(log_p_from_z(max(float(res.z_local), 0.0))) / _LN10,
                "z_expected": res.z_exp,
                "mu_upper_obs": res.mu_upper_obs, "mu_upper_exp": list(res.mu_upper_exp),
                "fit_chi2": res.fit.chi2, "fit_ndf": res.fit.ndof, "fit_pvalue": res.fit.pvalue,
                "fit_function": res.fit.function, "status": "ok"})
    if w_selected is not None:
        row["sum_weights_selected"] = float(np.sum(w_selected))
        row["weight_scale"] = res.weight_scale
    if res.function_choice is not None:
        row["function_choice"] = {k: (v.get("function"), v.get("pvalue")) if "error" not in v
                                  else ("failed", None)
                                  for k, v in res.function_choice["families"].items()}
    p_min = float(config.get("fit_pvalue_min", 0.01))
    if not res.fit.pvalue >= p_min:
        # the sideband template does not describe the sidebands: its SR prediction (and so
        # this row's significance) is not trustworthy; kept and flagged (gross_vitells_global
        # leaves it out only with exclude_poor_fits)
        row["status"] = (f"poor fit: chi2/ndf = {res.fit.chi2:.1f}/{res.fit.ndof}, "
                         f"p = {res.fit.pvalue:.2g} < {p_min:g}")
        log.warning("window %g-%g efficiency %g: %s", window[0], window[1], efficiency,
                    row["status"])
    return row, extra


def gross_vitells_global(rows: list[dict[str, Any]], windows: list[tuple[float, float]],
                         efficiencies: list[float], config: dict[str, Any]) -> dict[str, Any]:
    r"""Global significance of the most significant window over the scan: Gross-Vitells
    up-crossings per efficiency, Bonferroni over the efficiencies (the generic scan version is
    :func:`flowstats.stats.lee.global_significance`; BumpHunter's: :func:`bumphunter_global`).

    Every row with a result enters it, also those whose sideband fit is poor (``status``
    "poor fit ...": a fit p-value below ``fit_pvalue_min``) unless ``exclude_poor_fits``; each
    row gets ``in_global``, and ``n_poor_fits_in_global`` counts the poor fits it used.

    Arguments:
        rows: The per-window, per-efficiency rows.
        windows: The windows.
        efficiencies: The efficiencies tried.
        config: The resolved configuration.
    """
    from ..stats import lee

    exclude_poor = bool(config.get("exclude_poor_fits", False))
    for r in rows:
        # rows that enter the global significance: every row with a result; rows whose
        # sideband fit is poor too unless exclude_poor_fits (a real resonance, such as the Z,
        # spills its tails into the sidebands and spoils the fit that finds it)
        status = str(r.get("status", ""))
        r["in_global"] = bool(np.isfinite(r.get("q0", np.nan)) and (
            status == "ok" or (status.startswith("poor fit") and not exclude_poor)))
    ok = [r for r in rows if r["in_global"]]
    if not ok:
        return {"z_global": math.nan, "p_global": math.nan, "global_method": "none"}
    # in log space throughout: finite significances up to Z = 100 and beyond, where the
    # p-values underflow double precision (lee.z_from_log_p)
    best = max(ok, key=lambda r: r["q0"])
    per_eff: dict[str, Any] = {}
    log_p_scan = {}
    for eff in efficiencies:
        sel = sorted((r for r in rows if same_value(r["efficiency"], eff)),
                     key=lambda r: r["sr"][0])
        q = np.array([r["q0"] if r["in_global"] else np.nan for r in sel], float)
        if not np.isfinite(q).any():
            continue
        q = np.where(np.isfinite(q), np.clip(q, 0, None), 0.0)
        if len(windows) > 1:
            # up-crossings counted on the observed scan, at least one: conservative with the
            # few, overlapping windows of a bump-hunt scan
            n_up = max(float(lee.upcrossings(q, U0)), 1.0)
            log_p = float(lee.log_gross_vitells(q.max(), n_up, U0))
        else:
            n_up = None
            log_p = float(lee.log_p_from_z(np.sqrt(q.max())))
        log_p_scan[eff] = log_p
        per_eff[f"{eff:g}"] = {"z_max_local": float(np.sqrt(q.max())),
                               "p_global": float(np.exp(log_p)),
                               "log10_p_global": log_p / _LN10,
                               "z_global": float(max(lee.z_from_log_p(log_p), 0.0)),
                               "n_upcrossings": n_up}
    n_eff = len(log_p_scan)
    log_p_global = min(0.0, math.log(n_eff) + min(log_p_scan.values()))
    log_p_local = float(lee.log_p_from_z(max(float(best["z_local"]), 0.0)))
    return {
        "z_global": float(max(lee.z_from_log_p(log_p_global), 0.0)),
        "p_global": float(np.exp(log_p_global)),
        "log10_p_global": log_p_global / _LN10,
        "n_poor_fits_in_global": sum(1 for r in ok if str(r.get("status")).startswith("poor")),
        "z_max_local": float(best["z_local"]),
        "best_window": best["sr"],
        "best_efficiency": best["efficiency"],
        "p_local_min": float(np.exp(log_p_local)),
        "log10_p_local_min": log_p_local / _LN10,
        "global_by_efficiency": per_eff,
        "global_method": ("Gross-Vitells up-crossings over the scan, Bonferroni over "
                          f"{n_eff} efficiencies" if len(windows) > 1 else
                          f"Bonferroni over {n_eff} efficiencies (one window)"),
    }


def window_grid(windows: list[tuple[float, float]], bin_width: float) -> tuple[np.ndarray, list]:
    r"""Common bin edges of the scan and each window's ``(start, stop)`` bins on them."""
    lo = min(w[0] for w in windows)
    hi = max(w[1] for w in windows)
    n_bins = int(round((hi - lo) / bin_width))
    ranges = []
    for w in windows:
        a, b = (w[0] - lo) / bin_width, (w[1] - lo) / bin_width
        if abs(a - round(a)) > 1e-6 or abs(b - round(b)) > 1e-6:
            from ..exceptions import ConfigError

            raise ConfigError(f"global_method 'bumphunter' needs windows made of whole bins of "
                              f"one grid: window {w[0]:g}-{w[1]:g} does not fall on the bin "
                              f"edges {lo:g} + k * {bin_width:g} (set bin_width to a common "
                              "divisor of the window width and the scan step)")
        ranges.append((int(round(a)), int(round(b))))
    return lo + bin_width * np.arange(n_bins + 1), ranges


def bumphunter_global(rows: list[dict[str, Any]], fits: dict[tuple[int, float], dict[str, Any]],
                      windows: list[tuple[float, float]], efficiencies: list[float],
                      config: dict[str, Any]) -> dict[str, Any]:
    r"""Global significance from the BumpHunter statistic over the scan, per efficiency.

    Per efficiency, each window's local p-value is BumpHunter's Poisson p-value of its selected
    SR count against its sideband-fit background
    (:func:`flowstats.stats.bumphunter_statistic.window_pvalues`; the fit's uncertainty is not included,
    as in BumpHunter), and
    ``t = -ln min p`` over the windows. Pseudo-experiments draw Poisson counts in the bins of
    one grid (the bin width) from a reference spectrum, in every bin the mean of the SR
    predictions of the windows that contain it, and scan them with the same windows (so
    overlapping windows stay correlated). The global p-value is the fraction of pseudo-
    experiments with ``t`` at least the observed one; over the efficiencies tried, a
    Bonferroni factor, as for Gross-Vitells.

    Arguments:
        rows: The per-window, per-efficiency rows (with ``in_global``).
        fits: ``(window index, efficiency) -> {"edges", "prediction", ...}``.
        windows: The windows.
        efficiencies: The efficiencies tried.
        config: The resolved configuration (``bin_width``, ``bumphunter_toys``, ``seed``).
    """
    from ..stats import bumphunter_statistic as bh
    from ..stats.lee import z_from_log_p

    width = windows[0][1] - windows[0][0]
    bin_width = float(config.get("bin_width") or width / BINS_PER_WINDOW)
    edges, ranges = window_grid(windows, bin_width)
    n_toys = int(config.get("bumphunter_toys") or 10_000)
    seeds = np.random.SeedSequence([int(config.get("seed", 0)), 2011]).generate_state(
        len(efficiencies))
    per_eff: dict[str, Any] = {}
    for j, eff in enumerate(efficiencies):
        by_window = {tuple(r["sr"]): r for r in rows if same_value(r["efficiency"], eff)}
        use = [i for i, w in enumerate(windows)
               if by_window.get((float(w[0]), float(w[1])), {}).get("in_global")
               and fits.get((i, eff), {}).get("prediction") is not None]
        if not use:
            continue
        ref_sum = np.zeros(len(edges) - 1)
        ref_n = np.zeros(len(edges) - 1)
        n_obs, b_obs = [], []
        for i in use:
            w, extra = windows[i], fits[(i, eff)]
            centres = 0.5 * (extra["edges"][1:] + extra["edges"][:-1])
            inside = (centres >= w[0]) & (centres < w[1])
            k = np.floor((centres[inside] - edges[0]) / bin_width).astype(int)
            ref_sum[k] += np.asarray(extra["prediction"], float)[inside]
            ref_n[k] += 1
            row = by_window[(float(w[0]), float(w[1]))]
            n_obs.append(float(row["n_sr"]))
            b_obs.append(float(row["background"]))
        reference = np.where(ref_n > 0, ref_sum / np.maximum(ref_n, 1), 0.0)
        p_obs = bh.window_pvalues(np.array(n_obs), np.array(b_obs))
        t_obs = float(bh.statistic(p_obs))
        t_toys = bh.pseudo_statistics(reference, [ranges[i] for i in use], n_toys=n_toys,
                                      seed=int(seeds[j]), scheduler="serial")
        best = use[int(np.argmin(p_obs))]
        per_eff[f"{eff:g}"] = {"t": t_obs, "p_local_min": float(p_obs.min()),
                               "best_window": [float(v) for v in windows[best]],
                               **bh.global_pvalue(t_obs, t_toys)}
    if not per_eff:
        return {"z_global": math.nan, "p_global": math.nan, "global_method": "none"}
    n_eff = len(per_eff)
    best_eff = min(per_eff, key=lambda e: per_eff[e]["p_global"])
    p_best = per_eff[best_eff]["p_global"]
    log_p = min(0.0, math.log(n_eff * p_best))
    lower_bound = bool(per_eff[best_eff]["z_global_is_lower_bound"])
    return {
        "z_global": float(max(z_from_log_p(log_p), 0.0)),
        "p_global": float(math.exp(log_p)),
        "log10_p_global": log_p / _LN10,
        "z_global_is_lower_bound": lower_bound,
        "bumphunter": {"by_efficiency": per_eff, "n_toys": n_toys,
                       "best_efficiency": float(best_eff)},
        "global_method": (f"BumpHunter statistic, {n_toys} pseudo-experiments per efficiency, "
                          f"Bonferroni over {n_eff} efficiencies"
                          + ("; no pseudo-experiment reached the observed t: p_global is an "
                             "upper bound, z_global a lower bound" if lower_bound else "")),
    }


#: methods whose background template the bump hunt uses with ``background: template`` (ranode in
#: latent space: standard-normal draws; cathode and density in either space): the registered
#: methods with ``has_template`` (:class:`flowstats.registry.Method`), sorted by name. anode has
#: a template too, but it fails the background-only closure (tests/test_anomaly.py: pulls chi2
#: 34 for 6 ndf on 3 x 40k events): its SR densities learn where the SR latent points differ
#: from N(0, 1), so its cut keeps more SR events than template events
TEMPLATE_METHODS = DerivedNames(lambda: sorted(e.name for e in METHODS if e.has_template),
                                METHODS)


def template_statistics(result: dict[str, Any], selected: np.ndarray,
                        window: tuple[float, float], efficiency: float, config: dict[str, Any],
                        m: np.ndarray, m_range: tuple[float, float]
                        ) -> tuple[dict[str, Any], dict[str, Any]]:
    r"""Significance and limits of one window at one efficiency, background from the template.

    Direct background estimation (Das, Finke, Hein, Kasieczka, Kraemer, Mueck, Shih,
    arXiv:2411.00085): the background template that trained the score (the method's SR
    background draws, each scored by a model that never saw it) also estimates the SR
    background after the cut. With ``N`` SR events and a fraction ``e`` of the ``n_t`` template
    scores above the cut's threshold, ``b = N e``; its uncertainty adds in quadrature the
    template's binomial statistics, ``N sqrt(e (1 - e) / n_t)``, and the Poisson error of the
    normalisation, ``e sqrt(N)`` (a signal in the SR raises ``N``: conservative). The observed
    count is the number of selected SR events; the counting model is the fit mode's (a
    Poisson-constrained background, the Gaussian signal's fraction inside the window). No
    m fit: nothing in m to sculpt, and no sideband statistics needed at high rejection.

    Arguments:
        result: The window's scores (``score``, ``region``, ``template``).
        selected: The selection of :func:`~flowstats.bumphunt.scoring.select_top`.
        window: The signal region.
        efficiency: The selection efficiency (for the row).
        config: The resolved configuration (``resolution``, ``cl``).
        m: Mass of every event (for the selected spectrum's histogram).
        m_range: The mass range of all events.

    Returns:
        ``(row, extra)`` as :func:`window_statistics` (``extra["prediction"]`` is None).
    """
    from ..stats.lee import log_p_from_z
    from ..stats.window import counting_significance
    from ..stats.workspace import gaussian_template

    region, score, template = result["region"], result["score"], result["template"]
    sr = region == 1
    n_sr = int(sr.sum())
    threshold = float(score[selected & sr].min()) if (selected & sr).any() else np.inf
    n_t = len(template)
    # no cut: every template event passes (the template predicts the SR count itself)
    k_t = n_t if efficiency >= 1.0 else int(np.sum(template >= threshold))
    fit_range = fit_range_of(window, config, m_range)
    bin_width = config.get("bin_width") or (window[1] - window[0]) / BINS_PER_WINDOW
    edges = _edges(window, fit_range, float(bin_width))
    counts = np.histogram(m[selected], bins=edges)[0].astype(float)
    row: dict[str, Any] = {"sr": [float(window[0]), float(window[1])],
                           "efficiency": float(efficiency), "n_selected": int(selected.sum()),
                           "background_method": "template", "n_template": n_t,
                           "n_template_selected": k_t}
    extra: dict[str, Any] = {"edges": edges, "counts": counts, "prediction": None,
                             "workspace": None}
    if k_t == 0:
        return _nan_row(row, f"no result: none of the {n_t} template events passes the cut; "
                             "raise oversample"), extra
    eps = k_t / n_t
    n_obs = float(np.sum(selected & sr))
    b = n_sr * eps
    sigma_b = float(np.hypot(n_sr * np.sqrt(eps * (1 - eps) / n_t), eps * np.sqrt(n_sr)))
    mass = 0.5 * (window[0] + window[1])
    s = float(gaussian_template(np.array(window, float), mass,
                                float(config["resolution"]) * mass, 1.0)[0])
    spec, disc, up_obs, up_exp = counting_significance(
        n_obs, b, sigma_b, s, where=f"window [{window[0]:g}, {window[1]:g})",
        cl=float(config["cl"]))
    z = max(float(disc["z0"]), 0.0)
    extra["workspace"] = spec
    row.update({"n_sr": n_obs, "background": b, "background_unc": sigma_b,
                "template_efficiency": eps, "signal_per_event_in_sr": s, "z_local": z,
                "p_local": float(disc["p0"]), "q0": float(disc["q0"]),
                "log10_p_local": float(log_p_from_z(z)) / _LN10,
                "z_expected": disc["z0_exp"], "mu_upper_obs": up_obs,
                "mu_upper_exp": list(up_exp), "status": "ok"})
    return row, extra
