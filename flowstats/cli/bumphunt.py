r"""``flowstats bumphunt``: the enhanced bump hunt over one window or a scan."""

from __future__ import annotations

from typing import Any

import click

from ..settings.analysis import BumpHuntSettings
from ..settings.options import collect, options
from . import RegistryChoice, echo_json, method_names


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


def _merge(base: dict[str, Any], extra: dict[str, Any]) -> dict[str, Any]:
    r"""``base`` with the values of ``extra`` (nested mappings merged key by key)."""
    out = dict(base)
    for key, value in extra.items():
        if isinstance(value, dict) and isinstance(out.get(key), dict):
            value = _merge(out[key], value)
        out[key] = value
    return out


def _described(path: str, text: str | None = None) -> str:
    r"""The help of a hand-written option: its field's description (or ``text``) and default."""
    from ..settings.analysis import BumpHuntSettings
    from ..settings.options import field_of, help_text

    return help_text(field_of(BumpHuntSettings, path)[0], text)


#: the options generated from :class:`~flowstats.settings.analysis.BumpHuntSettings`
GENERATED = ["tree", "mass", "label", "cut", "sideband_width", "bin_width", "weight",
             "scheduler", "workers", "seed", "device", "score_options.fit.epochs",
             "score_options.classifier", "score_options.flow.kind", "score_options.flow.base",
             "score_options.flow.nu", "closure", "allow_sculpting", "background",
             "global_method"]


@click.command()
@click.argument("inputs", nargs=-1, type=click.Path())
@click.option("--features", help=_described("features", "Comma-separated auxiliary features x"))
@click.option("--method", type=RegistryChoice(method_names), help=_described(
    "method", "A registered anomaly method (built-in or a plugin's)"))
@click.option("--sr", help="One signal region LO:HI, e.g. 3300:3700.")
@click.option("--scan", help="Scan range LO:HI, e.g. 2800:5200.")
@click.option("--windows", type=int, help=_described("scan.windows"))
@click.option("--window-width", type=float, help=_described("scan.width"))
@click.option("--window-step", type=float, help=_described("scan.step"))
@click.option("--efficiency", help=_described("efficiency", "Comma-separated selection "
                                                            "efficiencies"))
@click.option("--fit-range", help=_described("fit_range", "Mass range of the background fit "
                                                          "LO:HI (default: the window and "
                                                          "fit_margin window widths on each "
                                                          "side)"))
@click.option("--function", type=RegistryChoice(function_names), metavar="NAME",
              help=_described("function", "Background function (dijet3-5, expo1-6, power2-4 "
                                          "or a plugin's), or auto (chosen among the dijet, "
                                          "exponential-polynomial and power-law families)"))
@click.option("-o", "--output", type=click.Path(), help=_described("output"))
@click.option("--config", "config_file", type=click.Path(), help="YAML analysis configuration.")
@options(BumpHuntSettings, GENERATED, names={
    "score_options.fit.epochs": "--epochs", "score_options.classifier": "--classifier"},
    helps={"score_options.fit.epochs": "Flow training epochs (score option)",
           "score_options.classifier": "Classifier of cathode/bootstrap (mlp) and cwola (hgb) "
                                       "(score option)"})
@click.option("--no-plots", is_flag=True, help="Skip the PNG plots.")
@click.option("--force", is_flag=True, help="Replace an existing output directory.")
def bumphunt(inputs: tuple[str, ...], config_file: str | None, scan: str | None,
             sr: str | None, features: str | None, efficiency: str | None,
             fit_range: str | None, no_plots: bool, force: bool, **values: Any) -> None:
    r"""Enhanced bump hunt: anomaly score, selection, sideband fit, significances and limits.

    Interrupted runs resume from the windows already finished (same options, same OUTPUT);
    prints the summary (global significance, best window) as JSON.
    """
    from ..bumphunt import run_bumphunt
    from ..config import load_config, resolve_config

    file_config = load_config(config_file) if config_file else {}
    scan_keys = {"windows": values.pop("windows"), "width": values.pop("window_width"),
                 "step": values.pop("window_step")}
    scan_cfg = None
    if scan is not None:
        scan_cfg = {"range": _pair(scan, "--scan"), **scan_keys}
    elif any(v is not None for v in scan_keys.values()):
        from ..exceptions import BadInputError

        raise BadInputError("--windows/--window-width/--window-step need --scan LO:HI")
    given = collect(values)
    score_options = _merge(dict(file_config.get("score_options") or {}),
                           given.pop("score_options", {}))
    overrides = {
        **given, "input": list(inputs) or None,
        "features": [f.strip() for f in features.split(",") if f.strip()] if features else None,
        "sr": _pair(sr, "--sr"), "scan": scan_cfg, "efficiency": _floats(efficiency),
        "fit_range": _pair(fit_range, "--fit-range"), "score_options": score_options or None,
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
