r"""Loading and plotting the benchmarks' JSON results (``docs/benchmarks/results/*.json``).

Shared by the benchmarks page and the "choosing a method" tutorial, which import it through
``FLOWSTATS_ROOT`` (set by ``docs/conf.py``; the notebooks execute in a temporary directory).
Every figure and number shown comes from a result file written by a benchmark's ``--json``
(the envelope of ``benchmarks/_report.py``).
"""

from __future__ import annotations

import json
import math
import os
import shlex
from pathlib import Path
from typing import Any

import matplotlib.pyplot as plt
import matplotlib.ticker as mticker
import numpy as np
import pandas as pd

ROOT = Path(os.environ.get("FLOWSTATS_ROOT", Path(__file__).resolve().parents[2]))
RESULTS = ROOT / "docs" / "benchmarks" / "results"

#: the anomaly methods in the order of the tutorial, with a fixed colour each
METHOD_COLOURS = {"cathode": "#1f77b4", "anode": "#ff7f0e", "ranode": "#2ca02c",
                  "bootstrap": "#d62728", "density": "#9467bd", "cwola": "#8c564b"}
KIND_MARKERS = {"nsf": "o", "maf": "s", "realnvp": "^", "cnf": "D"}


def style() -> None:
    r"""The plots' style: mplhep's CMS style where installed, slightly smaller."""
    try:
        import mplhep

        plt.style.use(mplhep.style.CMS)
    except ImportError:  # pragma: no cover - mplhep is a docs dependency
        pass
    plt.rcParams.update({"figure.figsize": (8, 5.5), "font.size": 14, "legend.fontsize": 11,
                         "axes.labelsize": 15, "savefig.bbox": "tight"})


def load(name: str) -> dict[str, Any]:
    r"""The result file ``results/<name>.json``."""
    return json.loads((RESULTS / f"{name}.json").read_text())


def available() -> list[str]:
    r"""The names of every result file."""
    return sorted(p.stem for p in RESULTS.glob("*.json"))


def command(result: dict[str, Any]) -> str:
    r"""The command that wrote ``result``, as typed in the repository root."""
    return "python " + shlex.join(result["command"])


def provenance(result: dict[str, Any]) -> str:
    r"""Markdown: the command, date, machine and versions that produced ``result``."""
    m, v = result["machine"], result["versions"]
    return (f"Produced by `{command(result)}` on {result['date'][:10]}: {m['cpu']}, "
            f"{m['cores']} cores, {m['torch_threads']} torch thread(s), ATen CPU capability "
            f"{m['cpu_capability']}; flowstats {v['flowstats']}, torch {v['torch']}, "
            f"zuko {v['zuko']}, numpy {v['numpy']}, Python {v['python']}"
            + (f", commit {v['git']}" if v.get("git") else "") + ". Regenerate it with "
            "that command (add or change `--json docs/benchmarks/results/"
            f"{result['benchmark']}.json`).")


# --- methods (bench_methods.py) ------------------------------------------------------------

def methods_frame(result: dict[str, Any]) -> pd.DataFrame:
    r"""One row per (n_signal, kind, method, seed): sensitivity and seconds per window.

    ``window_s`` is what one window costs with that method: the sideband flow (``flow_s``,
    trained once by ``density``) plus the method's own time on top of it.
    """
    rows = []
    for r in result["rows"]:
        res, opt = r["result"], r["optimum"]
        own = 0.0 if r["method"] == "density" else r["wall_s"]
        rows.append({"n_signal": r["n_signal"], "kind": r["kind"], "method": r["method"],
                     "seed": r["seed"], "auc": res["auc"], "max_sic": res["max_sic"],
                     "exact_lr_max_sic": opt["max_sic"], "ratio_max_sic": r["ratio_max_sic"],
                     "ratio_sic_0.2": r["ratio_sic_0.2"], "bpd": r["bpd"],
                     "flow_s": r["flow_s"], "method_s": own, "window_s": r["flow_s"] + own})
    return pd.DataFrame(rows)


def plot_methods(result: dict[str, Any], ax=None, methods: list[str] | None = None):
    r"""Max SIC / exact LR against seconds per window, every method (colour) and kind (marker)."""
    df = methods_frame(result)
    if methods:
        df = df[df.method.isin(methods)]
    if ax is None:
        _, ax = plt.subplots()
    for (method, kind), g in df.groupby(["method", "kind"], sort=False):
        ax.scatter(g.window_s, g.ratio_max_sic, s=80, color=METHOD_COLOURS.get(method, "k"),
                   marker=KIND_MARKERS.get(kind, "x"), edgecolor="k", linewidth=0.5)
    ax.set_xscale("log")
    ax.xaxis.set_major_formatter(mticker.ScalarFormatter())
    ax.xaxis.set_minor_formatter(mticker.NullFormatter())
    ax.set_xticks(_round_ticks(df.window_s.min(), df.window_s.max()))
    ax.set_xlabel("seconds per window (sideband flow + method, 1 thread)")
    ax.set_ylabel("max SIC / exact likelihood ratio")
    ax.axhline(1.0, color="grey", ls=":", lw=1)
    handles = [plt.Line2D([], [], ls="", marker="o", color=METHOD_COLOURS.get(m, "k"),
                          label=m, markersize=9) for m in df.method.unique()]
    handles += [plt.Line2D([], [], ls="", marker=KIND_MARKERS.get(k, "x"), color="k",
                           mfc="none", label=f"flow {k}", markersize=9)
                for k in df.kind.unique()]
    ax.legend(handles=handles, ncols=2, loc="best")
    n = sorted(df.n_signal.unique())
    ax.set_title(f"dijet, {n_background(result)} background + {', '.join(map(str, n))} signal",
                 fontsize=13)
    return ax


def classifier_frame(*results: dict[str, Any]) -> pd.DataFrame:
    r"""The rows of several bench_methods results, with their ``classifier`` as a column."""
    frames = [methods_frame(r).assign(classifier=r["classifier"]) for r in results]
    return pd.concat(frames, ignore_index=True)


def plot_classifiers(*results: dict[str, Any], kind: str = "nsf",
                     methods: tuple[str, ...] = ("cathode", "bootstrap"), ax=None):
    r"""Max SIC / exact LR against seconds per window of the classifier-based methods, one
    point per classifier (filled: mlp, open: hgb), on the ``kind`` flows of ``results``."""
    df = classifier_frame(*results)
    df = df[(df.kind == kind) & df.method.isin(methods)]
    if ax is None:
        _, ax = plt.subplots()
    for row in df.itertuples():
        colour = METHOD_COLOURS.get(row.method, "k")
        ax.scatter(row.window_s, row.ratio_max_sic, s=110, color=colour,
                   facecolor=colour if row.classifier == "mlp" else "none", linewidth=2)
        ax.annotate(f"{row.method}, {row.classifier}", (row.window_s, row.ratio_max_sic),
                    xytext=(8, 6), textcoords="offset points", fontsize=12)
    ax.set_xlabel(f"seconds per window ({kind} sideband flow + method, 1 thread)")
    ax.set_ylabel("max SIC / exact likelihood ratio")
    low, high = df.window_s.min(), df.window_s.max()
    ax.set_xlim(0.8 * low, 1.35 * high)
    low, high = df.ratio_max_sic.min(), df.ratio_max_sic.max()
    ax.set_ylim(max(0.0, low - 0.1), min(1.05, high + 0.1) if high < 1 else high + 0.1)
    return ax


def _round_ticks(low: float, high: float) -> list[float]:
    r"""1-2-5 ticks between ``low`` and ``high`` (seconds)."""
    ticks = [m * 10**e for e in range(0, 6) for m in (1, 2, 5)]
    inside = [t for t in ticks if 0.8 * low <= t <= 1.25 * high]
    return inside or [low, high]


def n_background(result: dict[str, Any]) -> str:
    r"""The ``--n-background`` of a bench_methods result, from its command."""
    argv = result["command"]
    if "--n-background" in argv:
        return f"{int(argv[argv.index('--n-background') + 1]):,}"
    return "1,000,000"


# --- sculpting (bench_sculpting.py) --------------------------------------------------------

def sculpting_frame(result: dict[str, Any]) -> pd.DataFrame:
    r"""The printed table: per sample, method and efficiency the mean chi2/ndf and verdict."""
    df = pd.DataFrame(result["rows"])
    df["verdict"] = np.where(df["pass"], "pass", "FAIL")
    return df[["sample", "method", "fraction", "mean_chi2_ndf", "error", "ks_p", "min_p", "ndf",
               "n", "seconds_per_pe", "verdict"]]


def plot_sculpting(result: dict[str, Any], log: bool = True):
    r"""Mean chi2/ndf with its error per method and efficiency; one panel per sample."""
    df = sculpting_frame(result)
    samples = list(dict.fromkeys(df["sample"]))
    fig, axes = plt.subplots(1, len(samples), figsize=(7 * len(samples), 5.5), sharey=True,
                             squeeze=False)
    fractions = sorted(df.fraction.unique(), reverse=True)
    methods = list(dict.fromkeys(df.method))
    width = 0.8 / max(len(methods), 1)
    for ax, sample in zip(axes[0], samples):
        for j, method in enumerate(methods):
            g = df[(df["sample"] == sample) & (df.method == method)].set_index("fraction")
            g = g.reindex(fractions)
            x = np.arange(len(fractions)) - 0.4 + width * (j + 0.5)
            ax.errorbar(x, g.mean_chi2_ndf, yerr=g.error, fmt="o", ms=7, capsize=3,
                        color=METHOD_COLOURS.get(method, "k"), label=method)
        ax.axhline(1.0, color="k", lw=1)
        ax.set_xticks(range(len(fractions)), [f"top {100 * f:g} %" for f in fractions])
        ax.set_title(f"{sample} sample", fontsize=14)
        ax.set_xlabel("selection (efficiency)")
        if log:
            ax.set_yscale("log")
    if log:
        top = np.nanmax(df.mean_chi2_ndf + df.error.fillna(0))
        bottom = np.nanmin(df.mean_chi2_ndf - df.error.fillna(0))
        ax = axes[0][0]
        ax.set_ylim(max(0.8 * bottom, 0.05) if bottom < 0.8 else 0.5, max(1.5 * top, 2.0))
        ax.yaxis.set_major_formatter(mticker.FuncFormatter(lambda v, _: f"{v:g}"))
        ax.yaxis.set_minor_formatter(mticker.NullFormatter())
        lo, hi = ax.get_ylim()
        ax.set_yticks([t for t in (0.1, 0.2, 0.5, 1, 2, 5, 10, 20, 50, 100, 200, 500, 1000)
                       if lo <= t <= hi])
    axes[0][0].set_ylabel(r"mean $\chi^2$/ndf (flat efficiency in $m$)")
    axes[0][-1].legend(loc="upper left", bbox_to_anchor=(1.02, 1.0))
    return fig


# --- worth (bench_worth.py) ----------------------------------------------------------------

def worth_frame(result: dict[str, Any]) -> pd.DataFrame:
    r"""N_eq of the first M generated events (against the truth), one row per M."""
    rows = []
    for r in result.get("curve", []):
        low, high = r["n_eq_interval"]
        rows.append({"M": r["m"], "binning": r["binning"], "N_eq": r["n_eq"],
                     "N_eq_low": low, "N_eq_high": high,
                     "N_eq_lower_limit_95": r["n_eq_lower_limit"],
                     "N_eq_train": r.get("n_eq_train"), "N_eq_inf": r["n_eq_inf"],
                     "N_eq_inf_lower_limit_95": r["n_eq_inf_lower_limit"]})
    df = pd.DataFrame(rows)
    for column in df.columns.drop(["binning"], errors="ignore"):
        df[column] = pd.to_numeric(df[column])  # None (unbounded) -> NaN
    return df


def plot_worth(result: dict[str, Any], ax=None):
    r"""Equivalent true events N_eq against the number M of generated events."""
    df = worth_frame(result)
    if ax is None:
        _, ax = plt.subplots()
    low = df.N_eq - df.N_eq_low.fillna(df.N_eq)
    high = df.N_eq_high.fillna(np.inf) - df.N_eq
    high = high.where(np.isfinite(high), df.N_eq)  # unbounded above: drawn to 2 x N_eq
    ax.errorbar(df.M, df.N_eq, yerr=[low, high], fmt="o", ms=7, capsize=3, color="C0",
                label=r"$N_\mathrm{eq}(M)$ (68 % interval), against the truth")
    ax.plot(df.M, df.M, color="grey", ls=":", lw=1, label=r"$N_\mathrm{eq} = M$")
    truth = result["summary"]["truth"]
    if truth.get("n_eq_train"):
        ax.axhline(truth["n_eq_train"], color="C2", ls="--",
                   label=r"training events' own $N_\mathrm{eq,train}$")
    if truth.get("n_eq_inf") is not None:
        ax.axhline(truth["n_eq_inf"], color="C3", ls="-.",
                   label=r"$N_\mathrm{eq}(\infty)$ at the full $M$")
    elif truth.get("n_eq_inf_lower_limit") is not None:
        ax.axhline(truth["n_eq_inf_lower_limit"], color="C3", ls="-.",
                   label=r"$N_\mathrm{eq}(\infty)$, 95 % CL lower limit")
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_xlabel("generated events M")
    ax.set_ylabel(r"equivalent true events $N_\mathrm{eq}$")
    ax.set_title(f"nlo toy, {result['n_input']:,} weighted input events "
                 f"({100 * result['negative_fraction']:.0f} % negative); {df.binning.iloc[0]}",
                 fontsize=13)
    ax.legend(loc="upper left")
    return ax


def worth_table(result: dict[str, Any]) -> pd.DataFrame:
    r"""The printed per-binning table: bias2 (1e-6) of both estimates, pull, N_eq, M*."""
    rows = []
    for r in result["rows"]:
        a, b = r["test"], r["truth"]
        rows.append({"binning": r["binning"], "observable": r["observable"],
                     "bias2 test (1e-6)": 1e6 * a["bias2"],
                     "bias2 truth (1e-6)": 1e6 * b["bias2"], "pull": r["pull"],
                     "N_eq(M) test": a["n_eq"], "N_eq(M) truth": b["n_eq"],
                     "N_eq(inf) truth": b["n_eq_inf"], "N_eq,train": b.get("n_eq_train"),
                     "M* truth": b["m_star"]})
    return pd.DataFrame(rows)


def fmt(value: float | None, digits: int = 2) -> str:
    r"""A number for the text (``inf`` for None or infinite values)."""
    if value is None or (isinstance(value, float) and math.isinf(value)):
        return "inf"
    return f"{value:.{digits}f}"


def amplify_frame(result: dict[str, Any]) -> pd.DataFrame:
    r"""``bench_amplify``: one row per training size, seed and sample (flow alone, refined)."""
    rows = []
    for r in result["rows"]:
        rows.append({"training events": r["size"], "seed": r["seed"], "sample": r["sample"],
                     "A (1D)": r["1D"]["amplification"],
                     "A (1D) 95 % CL >": r["1D"]["amplification_lower_limit"],
                     "A (pairs)": r["pairs"]["amplification"],
                     "A (pairs) 95 % CL >": r["pairs"]["amplification_lower_limit"],
                     "copy A (1D)": r.get("copy", {}).get("1D"),
                     "copy A (pairs)": r.get("copy", {}).get("pairs"),
                     "truth check min p": r["truth_min_p"], "s": r["seconds"],
                     "peak MB": r["peak_rss_mb"]})
    return pd.DataFrame(rows)


def threads_frame(result: dict[str, Any]) -> pd.DataFrame:
    r"""``bench_threads``: one row per setting, alone and paired."""
    return pd.DataFrame([{"setting": r["setting"], "alone s": r["alone_s"],
                          "paired s (slower)": max(r["paired_s"]), "slowdown": r["slowdown"]}
                         for r in result["rows"]])
