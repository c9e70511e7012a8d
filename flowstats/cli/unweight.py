r"""``flowstats unweight``: negatively weighted events in, N unit-weight events out.

The options are the fields of :class:`~flowstats.settings.unweight.UnweightSettings` (their
types, defaults and help from it); every option may come from a YAML file (``--config``), and
options given on the command line override it.
"""

from __future__ import annotations

import logging
from typing import Any

import click

from ..settings.options import collect, options
from ..settings.unweight import UnweightSettings

__all__ = ["unweight"]

#: the model's fields given as options, in the order of ``--help``
OPTIONS = ["mode", "tree", "features", "weight", "n", "output", "lhe", "sqrt_s", "cut", "model",
           "model_out", "report", "epochs", "batch_size", "lr", "patience", "kind", "base", "nu",
           "transforms", "hidden", "bins", "positive", "discrete", "atom_fraction", "split_on",
           "members", "marginal_maps", "refine", "test_fraction", "val_fraction", "report_bins", "folds",
           "plots", "seed", "device", "force"]
#: options with a short name (or none but a short one)
NAMES = {"tree": ("--tree", "-t"), "features": ("--features", "-f"),
         "weight": ("--weight", "-w"), "n": "-n", "output": ("--output", "-o")}


@click.command("unweight")
@click.argument("inputs", nargs=-1, type=click.Path())
@click.option("--config", "config_file", type=click.Path(),
              help="YAML file with any of these options (INPUTS, -f, -w, -n, -o included); "
                   "options given here override it.")
@options(UnweightSettings, OPTIONS, names=NAMES)
def unweight(inputs: tuple[str, ...], config_file: str | None, **values: Any) -> None:
    r"""Unweight INPUTS (ROOT or LHE[.gz]) with a normalizing flow.

    Writes N events to OUTPUT with the input's branch names, each with weight sigma/N
    (sigma = sum of the input weights), saves the flow (--model-out) and, with --report,
    compares the result with held-out test events (chi2, classifier AUC, baselines) and
    prints on stderr, in one line, whether unweighting pays and how many events to ask for.

    Example: flowstats unweight zjets.lhe.gz -f m_ll,pT_ll,y_ll,lep1_pt -w weight
    -n 100000 -o unweighted.root --report report/

    or, with the options in a file: flowstats unweight --config unweight.yaml -n 1000
    """
    from ..unweighting.job import run_unweight
    from . import echo_json

    overrides = {**collect(values), "input": list(inputs) or None}
    if config_file is not None:
        settings = UnweightSettings.from_yaml(config_file, overrides)
    else:
        settings = UnweightSettings.from_mapping({}, "command line", overrides)
    result = run_unweight(settings)
    s = result.summary
    out = {"output": str(result.output), "n": result.n, "weight_per_event": result.weight,
           "sum_weights": result.sigma, "model": None if result.model is None
           else str(result.model), "report": None if result.report is None
           else str(result.report), "input": s["input"], "notes": s["notes"]}
    if "lhe" in s["output"]:
        out["lhe"] = s["output"]["lhe"]
    if "observables" in s:  # whole events: chi2 with the training statistics
        out["observables"] = {k: {"chi2_ndf": v["chi2_ndf"], "p_value": v["p_value"],
                                  "trained": v["trained"]} for k, v in s["observables"].items()}
        out["never_trained_min_p_value"] = s["never_trained_min_p_value"]
        if "worth" in s:
            out["worth"] = s["worth"].get("summary", s["worth"])
    elif "features" in s:
        out["features"] = {k: {"chi2_ndf": v["chi2_ndf"], "p_value": v["p_value"]}
                           for k, v in s["features"].items()}
    if "classifier" in s:
        out["classifier_auc"] = (s["classifier"] or {}).get("auc")
    advice = (s.get("worth") or {}).get("recommendation")
    if advice is not None:
        out["recommendation"] = advice
        if logging.getLogger("flowstats").isEnabledFor(logging.WARNING):  # not with -q
            click.echo(f"flowstats: recommendation: {advice['text']}", err=True)
    echo_json(out)
