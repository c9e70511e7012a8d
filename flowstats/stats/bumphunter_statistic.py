r"""The BumpHunter test statistic and its global p-value from seeded pseudo-experiments.

BumpHunter (G. Choudalakis, arXiv:1101.0390; pyBumpHunter, scikit-hep) scans windows of
contiguous bins of a histogram ``n`` against a reference background ``b``. The local p-value of
a window with ``N = sum n`` observed and ``B = sum b`` expected events is the Poisson
probability of at least ``N`` events, continued to non-integer ``N`` by the regularised lower
incomplete gamma function,

.. math:: p = P(N, B) = \frac{\gamma(N, B)}{\Gamma(N)} \quad (N > B),
   \qquad p = 1 \quad (N \le B \text{ or } B = 0),

("excess" mode) and the test statistic is :math:`t = -\ln \min_{windows} p`. Its distribution
without signal comes from pseudo-experiments: Poisson draws of the reference in every bin,
scanned with the same windows (so overlapping windows stay correlated as in data); the global
p-value is the fraction of pseudo-experiments with :math:`t \ge t_{obs}`.

Pseudo-experiments run through :func:`flowstats.stats.toys.map_chunks`: fixed-size chunks with
child seeds of one :class:`numpy.random.SeedSequence`, so the same seed gives the same numbers
serially and on any dask cluster.

:func:`scan_pvalues` and :func:`statistic` reproduce pyBumpHunter 0.5's ``BumpHunter1D`` scan
(mode "excess", no sideband normalisation) on the same histograms
(tests/test_stats_bumphunter.py),
except that a scan here is given as explicit ``(start, stop)`` bin ranges.

References:
    G. Choudalakis, "On hypothesis testing, trials factor, hypertests and the BumpHunter",
    arXiv:1101.0390; L. Vaslin et al., pyBumpHunter, https://github.com/scikit-hep/pyBumpHunter.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import Any

import numpy as np

from ..exceptions import BadInputError

log = logging.getLogger(__name__)

__all__ = ["bumphunter", "global_pvalue", "pseudo_statistics", "scan_pvalues", "statistic",
           "window_pvalues"]

#: the largest t: -ln of the smallest positive double (p-values below it are clipped)
T_MAX = float(-np.log(np.finfo(float).tiny))


def window_pvalues(n: np.ndarray, b: np.ndarray) -> np.ndarray:
    r"""BumpHunter's local p-value of ``n`` observed on ``b`` expected events (excess mode).

    ``P(n, b)`` (the Poisson probability of at least ``n`` events, for non-integer ``n`` too)
    where ``n > b > 0``, else 1. Broadcasts.
    """
    from scipy.special import gammainc

    n = np.asarray(n, float)
    b = np.asarray(b, float)
    n, b = np.broadcast_arrays(n, b)
    p = np.ones(n.shape)
    up = (n > b) & (b > 0)
    p[up] = gammainc(n[up], b[up])
    return p


def _check_windows(windows: Sequence[tuple[int, int]], n_bins: int) -> np.ndarray:
    w = np.asarray(windows, dtype=np.int64).reshape(-1, 2)
    if len(w) == 0:
        raise BadInputError("BumpHunter: no windows to scan")
    if (w[:, 0] < 0).any() or (w[:, 1] > n_bins).any() or (w[:, 1] <= w[:, 0]).any():
        bad = w[(w[:, 0] < 0) | (w[:, 1] > n_bins) | (w[:, 1] <= w[:, 0])][0]
        raise BadInputError(f"BumpHunter: window of bins {bad[0]}:{bad[1]} is not a non-empty "
                            f"range within the {n_bins} bins")
    return w


def _window_sums(h: np.ndarray, w: np.ndarray) -> np.ndarray:
    cum = np.concatenate([np.zeros(h.shape[:-1] + (1,)), np.cumsum(h, axis=-1)], axis=-1)
    return cum[..., w[:, 1]] - cum[..., w[:, 0]]


def scan_pvalues(counts: np.ndarray, reference: np.ndarray,
                 windows: Sequence[tuple[int, int]]) -> np.ndarray:
    r"""Local p-value of every window: ``(..., n_windows)`` for counts ``(..., n_bins)``.

    Arguments:
        counts: Observed (or pseudo-) counts per bin; leading axes are data sets.
        reference: The expected background per bin, ``(n_bins,)``.
        windows: ``(start, stop)`` bin ranges (stop exclusive).
    """
    counts = np.asarray(counts, float)
    reference = np.asarray(reference, float)
    if reference.ndim != 1 or counts.shape[-1] != reference.shape[0]:
        raise BadInputError(f"BumpHunter: counts have {counts.shape[-1]} bins but the reference "
                            f"{reference.shape}")
    if not (np.isfinite(reference).all() and (reference >= 0).all()):
        raise BadInputError("BumpHunter: the reference must be finite and non-negative")
    w = _check_windows(windows, len(reference))
    return window_pvalues(_window_sums(counts, w), _window_sums(reference, w))


def statistic(pvalues: np.ndarray) -> np.ndarray:
    r"""The BumpHunter test statistic ``t = -ln min p`` over the last axis (at most
    :data:`T_MAX`)."""
    p = np.min(np.asarray(pvalues, float), axis=-1)
    return -np.log(np.maximum(p, np.finfo(float).tiny))


def _pseudo_chunk(ss: Any, n: int, reference: np.ndarray, window_refs: np.ndarray,
                  windows: np.ndarray) -> np.ndarray:
    rng = np.random.default_rng(ss)
    counts = rng.poisson(reference, size=(n, len(reference)))
    return statistic(window_pvalues(_window_sums(counts.astype(float), windows), window_refs))


def pseudo_statistics(reference: np.ndarray, windows: Sequence[tuple[int, int]], *,
                      n_toys: int = 10_000, seed: int = 0, chunk_size: int = 1000,
                      scheduler: Any = "serial",
                      window_references: np.ndarray | None = None) -> np.ndarray:
    r"""``t`` of ``n_toys`` background-only pseudo-experiments (Poisson draws of the reference).

    Arguments:
        reference: Expected background per bin, ``(n_bins,)``.
        windows: ``(start, stop)`` bin ranges.
        n_toys: Number of pseudo-experiments.
        seed: Master seed (chunks get child seeds: the same numbers wherever they run).
        chunk_size: Pseudo-experiments per chunk.
        scheduler: ``"serial"`` (default), ``None`` (a dask LocalCluster), a scheduler address
            or a :class:`distributed.Client`.
        window_references: The background each window's p-value is computed against (default:
            the reference summed over the window).
    """
    from .toys import map_chunks

    reference = np.asarray(reference, float)
    w = _check_windows(windows, len(reference))
    refs = (_window_sums(reference, w) if window_references is None
            else np.asarray(window_references, float))
    if refs.shape != (len(w),):
        raise BadInputError(f"BumpHunter: {refs.shape} window references for {len(w)} windows")
    parts = map_chunks(_pseudo_chunk, n_toys, seed=seed, chunk_size=chunk_size,
                       args=(reference, refs, w), scheduler=scheduler)
    return np.concatenate(parts)


def global_pvalue(t_obs: float, t_toys: np.ndarray) -> dict[str, Any]:
    r"""Global p-value of ``t_obs`` among the pseudo-experiments' ``t_toys``.

    Returns ``{"p_global", "p_global_error", "z_global", "z_global_is_lower_bound"}``; when no
    pseudo-experiment reaches ``t_obs`` the p-value is reported as ``1 / n_toys`` and the
    significance as a lower bound (as pyBumpHunter does).
    """
    from scipy import stats

    t = np.asarray(t_toys, float)
    if t.size == 0:
        raise BadInputError("BumpHunter: no pseudo-experiments")
    k = int(np.sum(t >= t_obs))
    bound = k == 0
    p = (1.0 if bound else k) / t.size
    err = float(np.sqrt(max(p * (1 - p), 1.0 / t.size) / t.size))
    return {"p_global": p, "p_global_error": err,
            "z_global": float(max(stats.norm.isf(p), 0.0)), "z_global_is_lower_bound": bound,
            "n_toys": int(t.size), "n_toys_above": k}


def bumphunter(counts: np.ndarray, reference: np.ndarray, windows: Sequence[tuple[int, int]],
               *, n_toys: int = 10_000, seed: int = 0, scheduler: Any = "serial",
               chunk_size: int = 1000) -> dict[str, Any]:
    r"""The BumpHunter test of one histogram against its reference.

    Arguments:
        counts: Observed counts per bin, ``(n_bins,)``.
        reference: Expected background per bin.
        windows: ``(start, stop)`` bin ranges scanned.
        n_toys, seed, scheduler, chunk_size: As :func:`pseudo_statistics`.

    Returns:
        ``{"t", "best_window", "p_local_min", "p_global", "p_global_error", "z_global",
        "z_global_is_lower_bound", "n_toys", "n_toys_above", "t_toys"}``.
    """
    p = scan_pvalues(counts, reference, windows)
    t_obs = float(statistic(p))
    t_toys = pseudo_statistics(reference, windows, n_toys=n_toys, seed=seed,
                               scheduler=scheduler, chunk_size=chunk_size)
    i = int(np.argmin(p))
    return {"t": t_obs, "best_window": [int(v) for v in np.asarray(windows)[i]],
            "p_local_min": float(p[i]), **global_pvalue(t_obs, t_toys), "t_toys": t_toys}
