r"""Plots of a bump hunt (matplotlib with the mplhep style).

Each plot has a ``*_figure`` function that returns the matplotlib figure (used by
:class:`flowstats.bumphunt.hunt_result.BumpHuntResult`) and a function that writes it as a PNG
(used by :func:`draw_all` when a run ends).
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np

from .._utils import atomic_path

log = logging.getLogger(__name__)

__all__ = ["closure_figure", "draw_all", "figure_style", "pvalues_figure", "roc_sic_figure",
           "significance_figure", "spectrum_figure"]


def _save(fig: Any, path: Path) -> None:
    import matplotlib.pyplot as plt

    with atomic_path(path, force=True) as tmp:
        fig.savefig(tmp, format="png", dpi=110, bbox_inches="tight")
    plt.close(fig)


def _style() -> None:
    import matplotlib

    matplotlib.use("Agg", force=False)
    try:
        import mplhep

        mplhep.style.use("CMS")
    except Exception:  # pragma: no cover - the style is cosmetic
        pass


@contextlib.contextmanager
def figure_style() -> Iterator[None]:
    r"""The style of the run's plots (mplhep CMS), applied only inside the ``with`` block:
    unlike :func:`draw_all` it changes neither the backend nor the global style."""
    import matplotlib.pyplot as plt

    try:
        import mplhep

        style: Any = mplhep.style.CMS
    except Exception:  # pragma: no cover - the style is cosmetic
        style = {}
    with plt.style.context(style):
        yield


def _same(a: float, b: float) -> bool:
    from .windows import same_value

    return same_value(a, b)


def spectrum_figure(extra: dict[str, Any], window: tuple[float, float], eff: float,
                    row: dict[str, Any], mass: str = "m") -> Any:
    r"""Selected m spectrum with the sideband fit, the signal region and a pull panel.

    Arguments:
        extra: ``edges`` and ``counts`` of the selected spectrum, the fit's ``prediction``
            per bin (or None).
        window: The signal region.
        eff: The efficiency (for the title).
        row: The summary row (``z_local`` for the title).
        mass: Name of the resonant feature (x label).

    Returns:
        The matplotlib figure (the spectrum and the pull panel).
    """
    import matplotlib.pyplot as plt

    edges = np.asarray(extra["edges"], float)
    counts = np.asarray(extra["counts"], float)
    pred = extra.get("prediction")
    centres = 0.5 * (edges[1:] + edges[:-1])
    fig, (ax, axp) = plt.subplots(2, 1, figsize=(8, 7), sharex=True,
                                  gridspec_kw={"height_ratios": [3, 1], "hspace": 0.05})
    ax.errorbar(centres, counts, yerr=np.sqrt(np.maximum(counts, 1)), fmt="o", ms=3, color="k",
                label="selected events")
    if pred is not None:
        pred = np.asarray(pred, float)
        ax.stairs(pred, edges, color="tab:blue", label="background fit (sidebands)")
        pull = (counts - pred) / np.sqrt(np.maximum(pred, 1e-9))
        axp.bar(centres, pull, width=np.diff(edges), color="tab:gray")
    ax.axvspan(*window, color="tab:orange", alpha=0.2, label="signal region")
    axp.axvspan(*window, color="tab:orange", alpha=0.2)
    ax.set_yscale("log")
    ax.set_ylabel("events / bin")
    ax.set_title(f"efficiency {eff:g}: Z_local = {row['z_local']:.2f}", fontsize=12)
    ax.legend(fontsize=10)
    axp.axhline(0, color="k", lw=0.8)
    axp.set_ylabel("pull")
    axp.set_xlabel(f"{mass} [GeV]")
    return fig


def spectrum(extra: dict[str, Any], window: tuple[float, float], eff: float, row: dict[str, Any],
             path: Path, mass: str = "m") -> None:
    r"""Writes :func:`spectrum_figure` to ``path``."""
    _save(spectrum_figure(extra, window, eff, row, mass=mass), path)


def pvalues_figure(rows: list[dict[str, Any]], efficiencies: list[float]) -> Any:
    r"""Local p-value against the window centre, one line per efficiency.

    Arguments:
        rows: The summary rows.
        efficiencies: The efficiencies, one line each.
    """
    import matplotlib.pyplot as plt
    from scipy import stats

    fig, ax = plt.subplots(figsize=(8, 6))
    for eff in efficiencies:
        sel = [r for r in rows if _same(r["efficiency"], eff)]
        centre = [0.5 * (r["sr"][0] + r["sr"][1]) for r in sel]
        p = [max(r.get("p_local", stats.norm.sf(r["z_local"])), 1e-300) for r in sel]
        ax.plot(centre, p, "o-", label=f"efficiency {eff:g}")
    for z in (1, 2, 3, 4, 5):
        ax.axhline(stats.norm.sf(z), color="gray", ls=":", lw=0.8)
    ax.set_yscale("log")
    ax.set_xlabel("signal-region centre [GeV]")
    ax.set_ylabel("local p-value")
    ax.legend(fontsize=10)
    return fig


def pvalues(rows: list[dict[str, Any]], efficiencies: list[float], path: Path) -> None:
    r"""Writes :func:`pvalues_figure` to ``path``."""
    _save(pvalues_figure(rows, efficiencies), path)


def significance_figure(rows: list[dict[str, Any]], efficiencies: list[float],
                        mass: str = "m") -> Any:
    r"""Local significance against the window centre, one line per efficiency.

    Arguments:
        rows: The summary rows (a window without a result leaves a gap).
        efficiencies: The efficiencies, one line each.
        mass: Name of the resonant feature (x label).
    """
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(8, 6))
    for eff in efficiencies:
        sel = sorted((r for r in rows if _same(r["efficiency"], eff)), key=lambda r: r["sr"][0])
        centre = [0.5 * (r["sr"][0] + r["sr"][1]) for r in sel]
        z = [r.get("z_local", np.nan) for r in sel]
        ax.plot(centre, z, "o-", label=f"efficiency {eff:g}")
    for level in (3, 5):
        ax.axhline(level, color="gray", ls=":", lw=0.8)
    ax.set_xlabel(f"signal-region centre in {mass} [GeV]")
    ax.set_ylabel("local significance Z")
    ax.set_ylim(bottom=0)
    ax.legend(fontsize=10)
    return fig


def roc_sic_figure(results: dict[int, dict[str, Any]], windows: list[tuple[float, float]],
                   label: np.ndarray) -> Any:
    r"""ROC (background rejection) and SIC curves of the score in each window's SR.

    Arguments:
        results: Per window index: ``score`` and ``region`` of every event.
        windows: The windows.
        label: Truth label of every event (1 = signal).
    """
    import matplotlib.pyplot as plt

    from ..anomaly import metrics

    fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(13, 5.5))
    for i, window in enumerate(windows):
        res = results[i]
        sr = res["region"] == 1
        if not sr.any() or label[sr].min() == label[sr].max():  # skipped window, one class
            continue
        r = metrics.roc(res["score"][sr], label[sr])
        s = metrics.sic(res["score"][sr], label[sr])
        ax1.plot(r["eps_s"], 1 / np.maximum(r["eps_b"], 1e-12), label=f"SR {window[0]:g}-{window[1]:g}")
        ax2.plot(s["eps_s"], s["sic"], label=f"SR {window[0]:g}-{window[1]:g}")
    ax1.set_yscale("log")
    ax1.set_xlabel("signal efficiency")
    ax1.set_ylabel("background rejection")
    ax2.set_xlabel("signal efficiency")
    ax2.set_ylabel("SIC")
    ax1.legend(fontsize=8)
    return fig


def roc_sic(results: dict[int, dict[str, Any]], windows: list[tuple[float, float]],
            label: np.ndarray, path: Path) -> None:
    r"""Writes :func:`roc_sic_figure` to ``path``."""
    _save(roc_sic_figure(results, windows, label), path)


def closure_figure(rows: list[dict[str, Any]], window: tuple[float, float], mass: str = "m",
                   ax: Any = None) -> Any:
    r"""Closure check of one window: selection efficiency / its mean against m, per efficiency.

    Arguments:
        rows: The closure rows of the window (``summary["closure"]["rows"]``).
        window: The signal region.
        mass: Name of the resonant feature (x label).
        ax: Draw into these axes (default: a new figure).

    Returns:
        The figure.
    """
    import matplotlib.pyplot as plt

    if ax is None:
        fig, ax = plt.subplots(figsize=(8, 6))
    else:
        fig = ax.figure
    for r in rows:
        edges = np.asarray(r["edges"], float)
        centres = 0.5 * (edges[1:] + edges[:-1])[: len(r["bin_efficiency"])]
        ratio = np.asarray(r["bin_efficiency"]) / r["selected_fraction"]
        err = np.asarray(r["bin_error"]) / r["selected_fraction"]
        ax.errorbar(centres, ratio, yerr=err, fmt="o", ms=4, capsize=2,
                    label=f"efficiency {r['efficiency']:g}: p = {r['p_value']:.2g}"
                          + (" SCULPTS" if r["sculpts"] else ""))
    ax.axhline(1.0, color="k", lw=0.8)
    ax.axvspan(*window, color="tab:orange", alpha=0.2, label="signal region")
    ax.set_xlabel(f"{mass} [GeV]")
    ax.set_ylabel("selected fraction / overall fraction")
    ax.set_title("closure: background-like pseudo-data", fontsize=12)
    ax.legend(fontsize=9)
    return fig


def closure(rows: list[dict[str, Any]], window: tuple[float, float], path: Path,
            mass: str = "m") -> None:
    r"""Writes :func:`closure_figure` to ``path``."""
    _save(closure_figure(rows, window, mass=mass), path)


def draw_all(directory: Path, summary: dict[str, Any], results: dict[int, dict[str, Any]],
             fits: dict[tuple[int, float], dict[str, Any]], windows: list[tuple[float, float]],
             efficiencies: list[float], *, label: np.ndarray | None,
             config: dict[str, Any]) -> None:
    r"""Draws every plot of a bump hunt into ``directory``."""
    _style()
    directory.mkdir(parents=True, exist_ok=True)
    rows = {(tuple(r["sr"]), r["efficiency"]): r for r in summary["windows"]}
    for (i, eff), extra in fits.items():
        row = rows[(tuple(windows[i]), eff)]
        name = f"spectrum_w{i:02d}_eff{eff:g}.png".replace("0.", "0p")
        spectrum(extra, windows[i], eff, row, directory / name, mass=config["mass"])
    if len(windows) > 1:
        pvalues(summary["windows"], efficiencies, directory / "local_pvalue.png")
    if label is not None:
        roc_sic(results, windows, np.asarray(label), directory / "roc_sic.png")
    for i, window in enumerate(windows):
        mine = [r for r in (summary.get("closure") or {}).get("rows", [])
                if tuple(r["sr"]) == tuple(window)]
        if mine:
            closure(mine, window, directory / f"closure_w{i:02d}.png", mass=config["mass"])
