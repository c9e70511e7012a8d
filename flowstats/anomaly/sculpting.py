r"""Does a selection sculpt the resonant spectrum? A flat-efficiency test in m.

Without signal, a selection that does not sculpt keeps the same fraction of events at every m:
the selected m spectrum is the inclusive one scaled by the efficiency. :func:`flatness` bins m
in equal-population bins of the inclusive events and compares the selected counts n_i with
N_i * eps (eps the overall efficiency) by Pearson's chi2 of the 2 x k table of selected and
rejected events,

.. math:: \chi^2 = \sum_i \frac{(n_i - N_i \epsilon)^2}{N_i \epsilon (1 - \epsilon)},

which follows chi2(k - 1) when the efficiency is flat. The number of bins is chosen so that
every bin expects at least ``min_expected`` selected events (the chi2 approximation holds), at
most ``max_bins``.

:func:`sculpting_test` selects the top ``fraction`` of the events by score first.

References:
    A. Hallin et al., "Classifying anomalies through outer density estimation" (CATHODE),
    arXiv:2109.00546; A. Hallin et al., "Resonant anomaly detection without background
    sculpting" (LaCATHODE), arXiv:2210.14924, PRD 107 114012 (chi2/ndf of the background-only
    m_jj spectrum after the selection against the spectrum before it).
"""

from __future__ import annotations

from typing import Any

import numpy as np
from scipy import stats

from ..exceptions import BadInputError

__all__ = ["flatness", "sculpting_test", "top_fraction"]


def top_fraction(score: np.ndarray, fraction: float) -> np.ndarray:
    r"""Mask of the ``round(fraction * n)`` (at least one) events of highest score.

    Ties are broken by position (stable sort), so exactly that many events are kept.
    """
    score = np.asarray(score, dtype=np.float64)
    if not 0 < fraction <= 1:
        raise BadInputError(f"fraction={fraction!r} must lie in (0, 1]")
    k = max(1, int(round(fraction * len(score))))
    order = np.argsort(-np.nan_to_num(score, nan=-np.inf), kind="stable")
    keep = np.zeros(len(score), bool)
    keep[order[:k]] = True
    return keep


def flatness(m: np.ndarray, selected: np.ndarray, *, min_expected: float = 5.0,
             max_bins: int = 20, edges: np.ndarray | None = None) -> dict[str, Any]:
    r"""Tests that the selection ``selected`` keeps the same fraction of events at every m.

    Arguments:
        m: Resonant mass of every (inclusive) event.
        selected: Boolean mask of the selected events.
        min_expected: Fewest selected events expected per bin (sets the number of bins).
        max_bins: Most bins.
        edges: Bin edges in m to use instead of equal-population bins.

    Returns:
        ``{"chi2", "ndf", "chi2_ndf", "p_value", "efficiency", "edges", "n_selected",
        "n_total", "bin_efficiency", "bin_error"}``; ``p_value`` is NaN when fewer than two
        bins can be formed.
    """
    m = np.asarray(m, dtype=np.float64)
    selected = np.asarray(selected, dtype=bool)
    if len(m) != len(selected):
        raise BadInputError(f"{len(m)} mass values but {len(selected)} selection flags")
    n, k_sel = len(m), int(selected.sum())
    if n == 0:
        raise BadInputError("no events to test for sculpting")
    eps = k_sel / n
    if edges is None:
        n_bins = int(np.clip(np.floor(k_sel / min_expected), 1, max_bins))
        edges = np.unique(np.quantile(m, np.linspace(0, 1, n_bins + 1)))
        edges[-1] = np.nextafter(edges[-1], np.inf)
    edges = np.asarray(edges, dtype=np.float64)
    total, _ = np.histogram(m, edges)
    sel, _ = np.histogram(m[selected], edges)
    use = total > 0
    total, sel = total[use], sel[use]
    out: dict[str, Any] = {"efficiency": eps, "edges": edges.tolist(), "n_selected": k_sel,
                           "n_total": n, "bin_efficiency": (sel / np.maximum(total, 1)).tolist(),
                           "bin_error": np.sqrt(eps * (1 - eps) / np.maximum(total, 1)).tolist()}
    ndf = len(total) - 1
    if ndf < 1 or eps in (0.0, 1.0):
        return {**out, "chi2": float("nan"), "ndf": max(ndf, 0), "chi2_ndf": float("nan"),
                "p_value": float("nan")}
    chi2 = float(np.sum((sel - total * eps) ** 2 / (total * eps * (1 - eps))))
    return {**out, "chi2": chi2, "ndf": ndf, "chi2_ndf": chi2 / ndf,
            "p_value": float(stats.chi2.sf(chi2, ndf))}


def sculpting_test(m: np.ndarray, score: np.ndarray, fraction: float, **options: Any
                   ) -> dict[str, Any]:
    r""":func:`flatness` of the selection of the top ``fraction`` of the events by score.

    Arguments:
        m: Resonant mass of every event.
        score: Score of every event (higher = kept first).
        fraction: Fraction of the events kept.
        options: Passed to :func:`flatness`.
    """
    return flatness(m, top_fraction(score, fraction), **options)
