r"""The enhanced bump hunt: scan windows, score, select, fit, test; resumable and distributable.

For every signal-region window (one, or a scan):

1. score every event with an anomaly-detection method trained for that window
   (:func:`flowstats.anomaly.score`: the background model learns on the window's sidebands);
2. at each efficiency (and without a cut, efficiency 1.0) keep the events whose score is among
   the top fraction of the signal region (the same threshold applied everywhere);
3. histogram m of the selected events, fit the smooth background on the sidebands, and compute
   the local significance and the CLs upper limit of a Gaussian signal at the window's centre
   (:func:`flowstats.stats.window_significance`);

and, over the scan, the global significance (look-elsewhere effect).

Windows are independent tasks (serial, a dask LocalCluster or an existing scheduler); each has
its own seed derived from the run's seed, so the result is the same wherever it ran. Finished
windows are stored in ``OUTDIR/state/`` and an interrupted run resumes from them.
"""

from __future__ import annotations

import hashlib
import json
import logging
import shutil
import time
from pathlib import Path
from typing import Any

import numpy as np

from .._utils import progress, provenance, write_json
from ..distributed import get_client, map_tasks, spawn_seeds
from ..exceptions import BadInputError, ConfigError, OutputExistsError
from ..registry import METHODS, DerivedMapping
from .scoring import load_window, resolve_threads, save_window, score_window, select_top
from .windows import make_windows

log = logging.getLogger(__name__)

__all__ = ["run_bumphunt"]

#: configuration keys that do not change the result (excluded from the resume fingerprint)
_NEUTRAL = {"output", "scheduler", "workers"}


def _fingerprint(config: dict[str, Any]) -> str:
    relevant = {k: v for k, v in sorted(config.items()) if k not in _NEUTRAL}
    return hashlib.sha256(json.dumps(relevant, sort_keys=True, default=str).encode()).hexdigest()


def _prepare_output(out: Path, config: dict[str, Any], force: bool) -> Path:
    r"""Creates OUTDIR or checks that an interrupted run with the same configuration is there."""
    state = out / "state"
    fingerprint = _fingerprint(config)
    if out.exists():
        marker = state / "fingerprint.txt"
        finished = (out / "summary.json").exists()
        if force:
            shutil.rmtree(out)
        elif finished:
            raise OutputExistsError(str(out))
        elif marker.exists() and marker.read_text().strip() == fingerprint:
            log.info("resuming the interrupted run in %s", out)
        elif any(out.iterdir()):
            raise OutputExistsError(str(out))
    state.mkdir(parents=True, exist_ok=True)
    (state / "fingerprint.txt").write_text(fingerprint + "\n")
    return state


def _read(config: dict[str, Any]
          ) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray | None, np.ndarray | None]:
    from ..io import read_events

    names = [config["mass"], *config["features"]]
    if config.get("label"):
        names.append(config["label"])
    branches = names + ([config["weight"]] if config.get("weight") else [])
    if len(set(branches)) != len(branches):
        raise ConfigError("the mass, features, label and weight branches must be different: "
                          + ", ".join(branches))
    events = read_events(config["input"], config["tree"], names, weight=config.get("weight"),
                         cut=config.get("cut"))
    m = events.column(config["mass"])
    x = np.column_stack([events.column(f) for f in config["features"]])
    label = events.column(config["label"]) if config.get("label") else None
    weights = events.weights if config.get("weight") else None
    return x, m, events.entries, label, weights


#: methods refused by default, name -> why: their selection sculpts the background m spectrum
#: when the features depend on m (benchmarks/bench_sculpting.py, docs/guide/sculpting.md);
#: the registered methods with ``sculpts`` (:class:`flowstats.registry.Method`)
SCULPTING_METHODS = DerivedMapping(
    lambda: {e.name: e.sculpting_reason for e in METHODS if e.sculpts}, METHODS)


def _score_settings(config: dict[str, Any]) -> Any:
    r"""The configuration's score options, resolved
    (:class:`~flowstats.settings.analysis.ScoreSettings`)."""
    from ..settings.analysis import ScoreSettings

    return ScoreSettings.parse(config.get("score_options"), "score_options")


def _check_method(config: dict[str, Any]) -> None:
    r"""Refuses a sculpting method (or space) unless ``allow_sculpting`` is set."""
    entry = METHODS.get(config["method"])
    why = entry.sculpting_reason if entry.sculpts else None
    space = _score_settings(config).space
    if why is None and space == "data":
        why = ("data-space scores carry the m dependence of the features into the selection "
               "(LaCATHODE, arXiv:2210.14924); the default latent space does not")
    if why is None:
        return
    what = (f"method {config['method']!r}" if entry.sculpts
            else f"method {config['method']!r} with space 'data'")
    if not config.get("allow_sculpting"):
        raise ConfigError(f"{what} is refused by default: {why}; pass --allow-sculpting "
                          "(allow_sculpting: true) to run it anyway, ideally with --closure")
    log.warning("%s sculpts the background spectrum when the features depend on m: %s; "
                "check it with --closure", what, why)


def _check_template(config: dict[str, Any]) -> None:
    r"""``background: template`` needs a method with a template, counts and a fitted reference
    for nothing else."""
    from .statistics import TEMPLATE_METHODS

    if config.get("background", "fit") != "template":
        return
    space = _score_settings(config).space
    entry = METHODS.get(config["method"])
    if not entry.has_template or (entry.template_latent_only and space != "latent"):
        why = ("its template fails the background-only closure" if config["method"] == "anode"
               else "it has none")
        latent_only = [e.name for e in METHODS if e.has_template and e.template_latent_only]
        raise ConfigError(f"background 'template' needs a method with a background template "
                          f"that closes ({', '.join(TEMPLATE_METHODS)}"
                          + "".join(f"; {n} in latent space" for n in latent_only)
                          + f"): method {config['method']!r} cannot be used, {why}")
    if config.get("weight"):
        raise ConfigError("background 'template' estimates event counts: it cannot be used "
                          "with weight")
    if config.get("global_method") == "bumphunter":
        raise ConfigError("global_method 'bumphunter' needs a background spectrum in m; "
                          "background 'template' gives only the SR count")


def _windows_within_data(config: dict[str, Any], m: np.ndarray
                         ) -> tuple[list[tuple[float, float]], list[float] | None]:
    r"""The windows, with a scan range that reaches beyond the data clipped to the data.

    Returns the windows and the clipped scan range (None when nothing was clipped).
    """
    scan = config.get("scan")
    if scan is None:
        return make_windows(config.get("sr"), None), None
    lo, hi = (float(v) for v in scan["range"])
    m_lo, m_hi = float(m.min()), float(m.max())
    new_lo, new_hi = max(lo, m_lo), min(hi, m_hi)
    if (new_lo, new_hi) == (lo, hi):
        return make_windows(None, scan), None
    if new_hi <= new_lo:
        raise BadInputError(f"the scan range {lo:g}:{hi:g} lies outside the data: "
                            f"{config['mass']} spans {m_lo:g}-{m_hi:g}")
    log.warning("the scan range %g:%g reaches beyond the data (%s spans %g-%g): clipped to "
                "%g:%g", lo, hi, config["mass"], m_lo, m_hi, new_lo, new_hi)
    try:
        windows = make_windows(None, {**scan, "range": [new_lo, new_hi]})
    except BadInputError as err:
        raise BadInputError(f"the scan range {lo:g}:{hi:g} clipped to the data "
                            f"({new_lo:g}:{new_hi:g}): {err}") from None
    return windows, [new_lo, new_hi]


#: SR size above which a selection with a ReLU sideband flow has been measured to keep more
#: background inside the SR than outside (docs/guide/sculpting.md); the default smooth (SiLU)
#: flows pass there
LARGE_SR = 20_000


def _warn_large_sr(config: dict[str, Any], windows: list[tuple[float, float]],
                   m: np.ndarray) -> None:
    from ..flows.models import network_activation

    flow = _score_settings(config).flow
    piecewise = network_activation(flow.kind, flow.activation) == "relu"
    n_sr = max(int(((m >= lo) & (m < hi)).sum()) for lo, hi in windows)
    if n_sr > LARGE_SR and config["method"] != "density" and piecewise:
        log.warning("a signal region holds %d events: at this size the %s selection with a "
                    "ReLU sideband flow has been measured to keep more background inside the "
                    "SR than outside (a fake excess, docs/guide/sculpting.md); the default "
                    "activation 'silu' interpolates smoothly%s", n_sr, config["method"],
                    "" if config.get("closure") else "; run with --closure")


def _check(config: dict[str, Any]) -> None:
    r"""The checks of a configuration that need no events (they fail before any reading)."""
    if not config.get("output"):
        raise BadInputError("no output directory given (-o OUTDIR)")
    _check_method(config)
    if config.get("global_method") == "bumphunter" and config.get("weight"):
        raise ConfigError("global_method 'bumphunter' needs event counts (its local p-values and "
                          "pseudo-experiments are Poisson): it cannot be used with weight")
    _check_template(config)
    make_windows(config.get("sr"), config.get("scan"))  # bad window options fail before reading


def _check_windows(config: dict[str, Any], windows: list[tuple[float, float]],
                   m: np.ndarray) -> None:
    r"""The checks of the windows against the events."""
    if config.get("global_method") == "bumphunter":  # the windows must share one bin grid
        from .statistics import BINS_PER_WINDOW, window_grid

        window_grid(windows, float(config.get("bin_width")
                                   or (windows[0][1] - windows[0][0]) / BINS_PER_WINDOW))
    lo = min(w[0] for w in windows)
    hi = max(w[1] for w in windows)
    if not ((m >= lo) & (m < hi)).any():
        raise BadInputError(f"no events with {config['mass']} in the windows {lo:g}-{hi:g}; "
                            f"{config['mass']} spans {m.min():g}-{m.max():g}")
    _warn_large_sr(config, windows, m)


def _score_windows(config: dict[str, Any], windows: list[tuple[float, float]], seeds: list,
                   state: Path, x: np.ndarray, m: np.ndarray,
                   client: Any) -> dict[int, dict[str, Any]]:
    r"""Every window's scores: read from ``state`` where a previous run finished it, else
    scored (serially or on dask) and stored there."""
    results: dict[int, dict[str, Any]] = {}
    todo = []
    for i, (window, seed) in enumerate(zip(windows, seeds)):
        path = state / f"window_{i:03d}.npz"
        if path.exists():
            results[i] = load_window(path, i)
        else:
            todo.append({"index": i, "window": window, "seed": seed,
                         "model_dir": str(state / f"models_{i:03d}")})
    if results:
        log.info("%d of %d windows already done", len(results), len(windows))
    scheduler = client if client is not None else config.get("scheduler")
    with get_client(scheduler, config.get("workers"),
                    threads_per_task=config["torch_threads"]) as dask_client:
        bar = progress(total=len(todo), desc="windows")
        for i, result in map_tasks(score_window, todo, dask_client, x=x, m=m,
                                   names=list(config["features"]), config=config):
            index = todo[i]["index"]
            if "error" in result:
                # not stored: a resumed run tries it again (it fails fast)
                log.warning("window %g-%g skipped: %s", *result["window"], result["error"])
                result = {**result, "score": np.full(len(m), np.nan),
                          "fold": np.full(len(m), -1, np.int64),
                          "region": np.full(len(m), -1, np.int64)}
            else:
                save_window(state / f"window_{index:03d}.npz", result)
            results[index] = result
            bar.update(1)
        bar.close()
    return results


def _window_rows(config: dict[str, Any], results: dict[int, dict[str, Any]],
                 windows: list[tuple[float, float]], efficiencies: list[float], m: np.ndarray,
                 weights: np.ndarray | None) -> tuple[list[dict[str, Any]], dict]:
    r"""The rows (one per window and efficiency) and the fits of the selected spectra."""
    from .statistics import skipped_row, template_statistics, window_statistics

    rows = []
    fits = {}
    m_range = (float(m.min()), float(m.max()))
    for i, window in enumerate(windows):
        res = results[i]
        if "error" in res:
            rows.extend(skipped_row(window, eff, res["error"]) for eff in efficiencies)
            continue
        for eff in efficiencies:
            selected = select_top(res["score"], res["region"], eff)
            if config.get("background") == "template":
                row, extra = template_statistics(res, selected, window, eff, config, m, m_range)
            else:
                row, extra = window_statistics(m[selected], window, eff, config, m_range,
                                               None if weights is None else weights[selected])
            row["n_sr_total"] = int((res["region"] == 1).sum())
            rows.append(row)
            fits[(i, eff)] = extra
    return rows, fits


def _global(config: dict[str, Any], rows: list[dict[str, Any]], fits: dict,
            windows: list[tuple[float, float]], efficiencies: list[float]) -> dict[str, Any]:
    r"""The global significance over the scan (and the Gross-Vitells one beside BumpHunter's)."""
    from .statistics import bumphunter_global, gross_vitells_global

    glob = gross_vitells_global(rows, windows, efficiencies, config)
    if config.get("global_method") == "bumphunter":
        gv = {k: glob[k] for k in ("z_global", "p_global", "log10_p_global", "global_method")
              if k in glob}
        glob = {**glob, **bumphunter_global(rows, fits, windows, efficiencies, config),
                "gross_vitells": gv}
    return glob


def run_bumphunt(config: dict[str, Any], *, force: bool = False, client: Any = None,
                 plots: bool = True) -> dict[str, Any]:
    r"""Runs the bump hunt described by a resolved configuration; returns the summary.

    Arguments:
        config: The resolved configuration (:func:`flowstats.config.resolve_config`).
        force: Replace an existing (finished or foreign) output directory.
        client: A dask client to use instead of ``config["scheduler"]``.
        plots: Whether to draw the PNG plots.
    """
    from .closure import closure_summary
    from .outputs import EventColumns, write_outputs

    _check(config)
    # one number of torch threads for every window task of the run, recorded with the config
    config = {**config, "torch_threads": resolve_threads(config.get("torch_threads"))}
    out = Path(config["output"])
    efficiencies = sorted({1.0, *map(float, config["efficiency"])}, reverse=True)
    x, m, entries, label, weights = _read(config)
    windows, clipped = _windows_within_data(config, m)
    _check_windows(config, windows, m)
    state = _prepare_output(out, config, force)
    start = time.perf_counter()
    seeds = spawn_seeds(config["seed"], len(windows))
    results = _score_windows(config, windows, seeds, state, x, m, client)
    scoring_seconds = time.perf_counter() - start

    failed = [results[i] for i in range(len(windows)) if "error" in results[i]]
    if len(failed) == len(windows):
        raise BadInputError(f"no window could be analysed ({len(windows)} tried); window "
                            f"{failed[0]['window'][0]:g}-{failed[0]['window'][1]:g}: "
                            f"{failed[0]['error']}")
    rows, fits = _window_rows(config, results, windows, efficiencies, m, weights)
    glob = _global(config, rows, fits, windows, efficiencies)
    closure = closure_summary(results, windows, efficiencies, m,
                              float(config.get("closure_alpha", 0.01))) \
        if config.get("closure") else None
    summary = {
        "windows": rows,
        **glob,
        **({"closure": closure} if closure is not None else {}),
        "efficiencies": efficiencies,
        "n_events": len(m),
        "n_windows_skipped": len(failed),
        **({"scan_clipped_to": clipped} if clipped else {}),
        "timing": {"scoring_seconds": scoring_seconds,
                   "total_seconds": time.perf_counter() - start,
                   "per_window_seconds": [results[i]["seconds"] for i in range(len(windows))]},
        "provenance": provenance(config["seed"], config),
        "seeds": {"run": config["seed"], "windows": seeds},
    }
    write_outputs(out, summary, results, fits, windows, efficiencies,
                  events=EventColumns(m, entries, label), config=config, plots=plots)
    write_json(out / "summary.json", summary, force=True)
    return summary
