r"""Plots of a bump hunt (matplotlib with the mplhep style)."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import numpy as np

from .._utils import atomic_path

log = logging.getLogger(__name__)

__all__ = ["draw_all"]


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


def spectrum(extra: dict[str, Any], window: tuple[float, float], eff: float, row: dict[str, Any],
             path: Path, mass: str = "m") -> None:
    r"""Selected m spectrum with the sideband fit, the signal region and a pull panel."""
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
    _save(fig, path)


def pvalues(rows: list[dict[str, Any]], efficiencies: list[float], path: Path) -> None:
    r"""Local p-value against the window centre, one line per efficiency."""
    import matplotlib.pyplot as plt
    from scipy import stats

    fig, ax = plt.subplots(figsize=(8, 6))
    for eff in efficiencies:
        sel = [r for r in rows if r["efficiency"] == eff]
        centre = [0.5 * (r["sr"][0] + r["sr"][1]) for r in sel]
        p = [max(r.get("p_local", stats.norm.sf(r["z_local"])), 1e-300) for r in sel]
        ax.plot(centre, p, "o-", label=f"efficiency {eff:g}")
    for z in (1, 2, 3, 4, 5):
        ax.axhline(stats.norm.sf(z), color="gray", ls=":", lw=0.8)
    ax.set_yscale("log")
    ax.set_xlabel("signal-region centre [GeV]")
    ax.set_ylabel("local p-value")
    ax.legend(fontsize=10)
    _save(fig, path)


def roc_sic(results: dict[int, dict[str, Any]], windows: list[tuple[float, float]],
            label: np.ndarray, path: Path) -> None:
    r"""ROC (background rejection) and SIC curves of the score in each window's SR."""
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
    _save(fig, path)


def closure(rows: list[dict[str, Any]], window: tuple[float, float], path: Path,
            mass: str = "m") -> None:
    r"""Closure check of one window: selection efficiency / its mean against m, per efficiency."""
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(8, 6))
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
    _save(fig, path)


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
