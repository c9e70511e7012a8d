r"""Outputs of a bump hunt: CSV, pyhf workspaces, a ROOT file with scores and histograms, plots.

``summary.json`` itself is written last by :func:`flowstats.bumphunt.scan.run_bumphunt`, so its
presence marks a finished run.
"""

from __future__ import annotations

import csv
import io
import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from .._utils import atomic_path, write_json

log = logging.getLogger(__name__)

__all__ = ["EventColumns", "write_outputs"]

CSV_COLUMNS = ["sr_lo", "sr_hi", "efficiency", "n_selected", "n_sr", "background",
               "background_unc", "z_local", "p_local", "mu_hat", "mu_upper_obs",
               "mu_upper_exp_median", "fit_chi2", "fit_ndf", "fit_pvalue"]


def _tag(window: tuple[float, float], eff: float) -> str:
    return f"sr_{window[0]:g}_{window[1]:g}_eff_{eff:g}".replace(".", "p")


def _csv(rows: list[dict[str, Any]]) -> str:
    buf = io.StringIO()
    writer = csv.writer(buf)
    writer.writerow(CSV_COLUMNS)
    for r in rows:
        exp = r.get("mu_upper_exp") or [np.nan] * 5
        writer.writerow([r["sr"][0], r["sr"][1], r["efficiency"], r["n_selected"], r.get("n_sr"),
                         r["background"], r.get("background_unc"), r["z_local"],
                         r.get("p_local"), r.get("mu_hat"), r.get("mu_upper_obs"), exp[2],
                         r.get("fit_chi2"), r.get("fit_ndf"), r.get("fit_pvalue")])
    return buf.getvalue()


@dataclass(frozen=True)
class EventColumns:
    r"""The per-event columns of the ``scores`` tree besides the scores.

    Attributes:
        m: Resonant mass of every event.
        entries: Input entry numbers.
        label: Truth labels or None.
    """

    m: np.ndarray
    entries: np.ndarray
    label: np.ndarray | None = None


def write_outputs(out: Path, summary: dict[str, Any], results: dict[int, dict[str, Any]],
                  fits: dict[tuple[int, float], dict[str, Any]],
                  windows: list[tuple[float, float]], efficiencies: list[float], *,
                  events: EventColumns, config: dict[str, Any], plots: bool = True) -> None:
    r"""Writes everything but ``summary.json`` into ``out``.

    Arguments:
        out: The output directory.
        summary: The summary (rows per window and efficiency).
        results: Per-window scores.
        fits: Per (window index, efficiency): histogram, fit and workspace.
        windows: The windows.
        efficiencies: The efficiencies (1.0 first).
        events: The mass, entry number and truth label (or None) of every event.
        config: The resolved configuration.
        plots: Whether to draw PNGs.
    """
    from ..io import RootWriter

    m, entries, label = events.m, events.entries, events.label
    out.mkdir(parents=True, exist_ok=True)
    with atomic_path(out / "summary.csv", force=True) as tmp:
        tmp.write_text(_csv(summary["windows"]))
    ws_dir = out / "workspaces"
    ws_dir.mkdir(exist_ok=True)
    for (i, eff), extra in fits.items():
        if extra.get("workspace") is not None:
            write_json(ws_dir / f"{_tag(windows[i], eff)}.json", extra["workspace"], force=True)

    columns: dict[str, np.ndarray] = {"entry": np.asarray(entries, np.int64),
                                      config["mass"]: np.asarray(m, np.float64)}
    if label is not None:
        columns["label"] = np.asarray(label)
    for i in range(len(windows)):
        columns[f"score_w{i}"] = np.asarray(results[i]["score"], np.float64)
        columns[f"region_w{i}"] = np.asarray(results[i]["region"], np.int8)
        columns[f"fold_w{i}"] = np.asarray(results[i]["fold"], np.int16)
    with RootWriter(out / "scores.root", force=True) as f:
        f.tree("scores", columns)
        f.tree("windows", {"index": np.arange(len(windows), dtype=np.int32),
                           "sr_lo": np.array([w[0] for w in windows]),
                           "sr_hi": np.array([w[1] for w in windows])})
        for (i, eff), extra in fits.items():
            f.histogram(f"h_{_tag(windows[i], eff)}", (np.asarray(extra["counts"], float),
                                                       np.asarray(extra["edges"], float)))
            if extra.get("prediction") is not None:
                f.histogram(f"fit_{_tag(windows[i], eff)}",
                            (np.asarray(extra["prediction"], float),
                             np.asarray(extra["edges"], float)))
    if plots:
        from .plots import draw_all

        try:
            draw_all(out / "plots", summary, results, fits, windows, efficiencies,
                     label=label, config=config)
        except Exception as err:  # plots must never lose the numbers
            log.warning("plots failed: %s: %s", type(err).__name__, err)
