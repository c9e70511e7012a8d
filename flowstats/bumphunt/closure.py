r"""The bump hunt's closure check: does the selection sculpt background-like pseudo-data?

Per window, the scores of the closure pseudo-data (:mod:`flowstats.anomaly.pseudodata`: every
event's features redrawn from the sideband flow at its own m, scored by the same analysis) are
cut at each efficiency exactly as the data are (:func:`~flowstats.bumphunt.scoring.select_top`),
and the kept fraction is tested for flatness in m over the signal region and sidebands
(:func:`flowstats.anomaly.sculpting.flatness`). With ``n`` tests (windows x efficiencies) a
test flags sculpting when its p-value is below ``alpha / n`` (Bonferroni), so that a
non-sculpting analysis passes with probability at least ``1 - alpha``.
"""

from __future__ import annotations

import logging
from typing import Any

import numpy as np

from .scoring import select_top

log = logging.getLogger(__name__)

__all__ = ["closure_summary"]


def closure_summary(results: dict[int, dict[str, Any]], windows: list[tuple[float, float]],
                    efficiencies: list[float], m: np.ndarray, alpha: float = 0.01
                    ) -> dict[str, Any] | None:
    r"""The closure block of ``summary.json``; None when no window has closure scores.

    Arguments:
        results: Per-window results with ``closure_score`` and ``region``.
        windows: The windows.
        efficiencies: The efficiencies (1.0 is skipped: it keeps everything).
        m: Resonant mass of every event.
        alpha: Significance level over all tests.

    Returns:
        ``{"verdict", "alpha", "threshold", "min_p_value", "rows"}``; each row has ``sr``,
        ``efficiency`` (of the SR, as the data's cut), ``selected_fraction`` (of the SR and
        sideband events), ``chi2``, ``ndf``, ``p_value``, ``sculpts``, and the per-bin
        efficiencies (``edges``, ``bin_efficiency``, ``bin_error``) that the plot shows.
    """
    from ..anomaly.sculpting import flatness

    rows = []
    for i, window in enumerate(windows):
        res = results.get(i, {})
        if "closure_score" not in res:
            continue
        use = res["region"] >= 0
        for eff in efficiencies:
            if eff >= 1.0:
                continue
            selected = select_top(res["closure_score"], res["region"], eff)
            t = flatness(m[use], selected[use])
            rows.append({"sr": [float(window[0]), float(window[1])], "efficiency": float(eff),
                         "chi2": t["chi2"], "ndf": t["ndf"], "chi2_ndf": t["chi2_ndf"],
                         "p_value": t["p_value"], "n_selected": t["n_selected"],
                         "selected_fraction": t["efficiency"],
                         "edges": t["edges"], "bin_efficiency": t["bin_efficiency"],
                         "bin_error": t["bin_error"]})
    if not rows:
        return None
    tested = [r for r in rows if np.isfinite(r["p_value"])]
    threshold = alpha / max(1, len(tested))
    for r in rows:
        r["sculpts"] = bool(np.isfinite(r["p_value"]) and r["p_value"] < threshold)
        if r["sculpts"]:
            log.warning("closure check: the selection at efficiency %g of window %g-%g "
                        "sculpts the background-like m spectrum (p = %.2g < %.2g)",
                        r["efficiency"], r["sr"][0], r["sr"][1], r["p_value"], threshold)
    min_p = min((r["p_value"] for r in tested), default=float("nan"))
    verdict = ("sculpts" if any(r["sculpts"] for r in rows)
               else "pass" if tested else "untested")
    return {"verdict": verdict, "alpha": float(alpha), "threshold": threshold,
            "min_p_value": min_p, "n_tests": len(tested), "rows": rows}
