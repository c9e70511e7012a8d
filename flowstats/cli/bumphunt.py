r"""``flowstats bumphunt``: the enhanced bump hunt over one window or a scan."""

from __future__ import annotations

import click

from . import RegistryChoice, chosen_flow, echo_json, flow_options, method_names


def function_names() -> tuple[str, ...]:
    r"""The ``--function`` choices: ``auto`` and the registered background functions."""
    from ..stats.functions import FUNCTIONS

    return ("auto", *FUNCTIONS)


def _floats(text: str | None) -> list[float] | None:
    if text is None:
        return None
    from ..exceptions import BadInputError

    try:
        return [float(v) for v in text.split(",") if v.strip()]
    except ValueError:
        raise BadInputError(f"--efficiency {text!r}: expected numbers like 0.1,0.01") from None


def _pair(text: str | None, what: str) -> list[float] | None:
    if text is None:
        return None
    from ..bumphunt.windows import parse_range

    return list(parse_range(text, what))


@click.command()
@click.argument("inputs", nargs=-1, type=click.Path())
@click.option("--tree", help="TTree name [events].")
@click.option("--mass", help="Resonant feature branch [mjj].")
@click.option("--features", help="Comma-separated auxiliary features x.")
@click.option("--label", help="Truth-label branch (1 = signal), for ROC/SIC plots only.")
@click.option("--cut", help="Preselection expression.")
@click.option("--method", type=RegistryChoice(method_names), help="Anomaly score [cathode].")
@click.option("--sr", help="One signal region LO:HI, e.g. 3300:3700.")
@click.option("--scan", help="Scan range LO:HI, e.g. 2800:5200.")
@click.option("--windows", type=int, help="Number of scan windows (default: 0.4 TeV wide, 0.1 TeV steps).")
@click.option("--window-width", type=float, help="Scan window width in GeV [400].")
@click.option("--window-step", type=float, help="Scan window step in GeV [100].")
@click.option("--efficiency", help="Comma-separated selection efficiencies [0.1,0.01,0.001].")
@click.option("--sideband-width", type=float, help="Width of each sideband (default: all outside).")
@click.option("--bin-width", type=float, help="Mass histogram bin width in GeV [100].")
@click.option("--fit-range", help="Mass range of the background fit LO:HI.")
@click.option("--function", type=RegistryChoice(function_names), metavar="NAME",
              help="Background function (dijet3-5, expo1-6, power2-4 or a plugin's), or auto "
                   "(chosen among the dijet, exponential-polynomial and power-law families) "
                   "[auto].")
@click.option("--weight", help="Event-weight branch (weighted histograms, fits and models).")
@click.option("-o", "--output", type=click.Path(), help="Output directory.")
@click.option("--config", "config_file", type=click.Path(), help="YAML analysis configuration.")
@click.option("--scheduler", help="'local' (dask LocalCluster) or a scheduler address tcp://host:port.")
@click.option("--workers", type=int, help="LocalCluster workers [available cores / torch_threads].")
@click.option("--seed", type=int, help="Seed of every random step [0].")
@click.option("--device", type=click.Choice(["auto", "cpu", "cuda"]), help="Torch device [auto].")
@click.option("--epochs", type=int, help="Flow training epochs (score option).")
@click.option("--classifier", type=click.Choice(["hgb", "mlp"]),
              help="Classifier of cathode/bootstrap [mlp] (score option).")
@flow_options(default_kind=None)
@click.option("--closure", is_flag=True, default=None,
              help="Also run the closure check: the same analysis on background-like "
                   "pseudo-data (features redrawn from the sideband flow at each event's m); "
                   "reports whether the selection sculpts m (summary.json 'closure').")
@click.option("--allow-sculpting", is_flag=True, default=None,
              help="Run a method that is refused by default because it sculpts the "
                   "background spectrum (cwola, a plugin method declared as sculpting, or "
                   "space 'data'), with a warning.")
@click.option("--background", type=click.Choice(["fit", "template"]),
              help="SR background after the cut: sideband fit in m [default] or the method's "
                   "background template (cut and count).")
@click.option("--global-method", type=click.Choice(["gross-vitells", "bumphunter"]),
              help="Global significance: Gross-Vitells bound [default] or the BumpHunter "
                   "statistic with seeded pseudo-experiments.")
@click.option("--no-plots", is_flag=True, help="Skip the PNG plots.")
@click.option("--force", is_flag=True, help="Replace an existing output directory.")
def bumphunt(inputs: tuple[str, ...], tree, mass, features, label, cut, method, sr, scan, windows,
             window_width, window_step, efficiency, sideband_width, bin_width, fit_range,
             function, weight, output, config_file, scheduler, workers, seed, device, epochs, closure,
             allow_sculpting, background, global_method, no_plots, force, classifier=None,
             kind=None, base=None, nu=None) -> None:
    r"""Enhanced bump hunt: anomaly score, selection, sideband fit, significances and limits.

    Interrupted runs resume from the windows already finished (same options, same OUTPUT);
    prints the summary (global significance, best window) as JSON.
    """
    from ..bumphunt import run_bumphunt
    from ..config import load_config, resolve_config

    file_config = load_config(config_file) if config_file else {}
    scan_cfg = None
    if scan is not None:
        scan_cfg = {"range": _pair(scan, "--scan"), "windows": windows, "width": window_width,
                    "step": window_step}
    elif windows is not None or window_width is not None or window_step is not None:
        from ..exceptions import BadInputError

        raise BadInputError("--windows/--window-width/--window-step need --scan LO:HI")
    score_options = dict(file_config.get("score_options") or {})
    if epochs is not None:
        score_options["fit"] = {**(score_options.get("fit") or {}), "epochs": epochs}
    if classifier is not None:
        score_options["classifier"] = classifier
    arch = chosen_flow(kind, base, nu)
    if arch:
        score_options["flow"] = {**(score_options.get("flow") or {}), **arch}
    overrides = {
        "input": list(inputs) or None, "tree": tree, "mass": mass,
        "features": [f.strip() for f in features.split(",") if f.strip()] if features else None,
        "label": label, "cut": cut, "method": method, "sr": _pair(sr, "--sr"), "scan": scan_cfg,
        "efficiency": _floats(efficiency), "sideband_width": sideband_width,
        "bin_width": bin_width, "fit_range": _pair(fit_range, "--fit-range"),
        "function": function, "weight": weight, "output": output, "scheduler": scheduler, "workers": workers,
        "seed": seed, "device": device, "score_options": score_options or None,
        "closure": closure, "allow_sculpting": allow_sculpting,
        "global_method": global_method, "background": background,
    }
    if sr is not None:
        file_config = {k: v for k, v in file_config.items() if k != "scan"}
    if scan is not None:
        file_config = {k: v for k, v in file_config.items() if k != "sr"}
    config = resolve_config(file_config, overrides)
    summary = run_bumphunt(config, force=force, plots=not no_plots)
    best = max(summary["windows"], key=lambda r: r["z_local"])
    shown = {"output": config["output"], "z_global": summary["z_global"],
             "best": best, "n_windows": len({tuple(r["sr"]) for r in summary["windows"]})}
    if "closure" in summary:
        shown["closure"] = {k: summary["closure"][k] for k in ("verdict", "min_p_value",
                                                               "threshold")}
    echo_json(shown)
