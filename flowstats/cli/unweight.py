r"""``flowstats unweight``: negatively weighted events in, N unit-weight events out.

Every option may come from a YAML file (``--config``, validated against
``flowstats/schema/unweight.schema.json``); options given on the command line override it.
"""

from __future__ import annotations

from typing import Any

import click

from . import flow_options

__all__ = ["unweight"]


def _default(name: str) -> str:
    r"""``[default: ...]`` of an option, from the schema (options default to None here, so
    that a ``--config`` file is only overridden by what is given)."""
    from ..config import schema

    value = schema("unweight")["properties"][name]["default"]
    if isinstance(value, list):
        value = ",".join(map(str, value)) or "none"
    elif isinstance(value, bool):
        value = str(value).lower()
    return f"[default: {value}]"


def _hidden(text: str | None) -> list[int] | None:
    if text is None:
        return None
    from ..exceptions import BadInputError

    try:
        return [int(h) for h in text.split(",") if h.strip()]
    except ValueError:
        raise BadInputError(f"--hidden must be comma-separated integers, got {text!r}"
                            ) from None


@click.command("unweight")
@click.argument("inputs", nargs=-1, type=click.Path())
@click.option("--config", "config_file", type=click.Path(),
              help="YAML file with any of these options (INPUTS, -f, -w, -n, -o included); "
                   "options given here override it.")
@click.option("--mode", type=click.Choice(["auto", "features", "events"]),
              help="Learn flat features or whole events (auto: whole events when no "
                   "--features are given) " + _default("mode"))
@click.option("--tree", "-t",
              help="TTree name (for LHE input: the name of the converted tree) "
                   + _default("tree"))
@click.option("--features", "-f",
              help="Comma-separated feature branches; without them, whole events are learnt "
                   "(the input: an LHE file or a ROOT file from 'flowstats convert').")
@click.option("--weight", "-w", help="Event-weight branch (required).")
@click.option("-n", "n", type=int, help="Number of unweighted events to write (required).")
@click.option("-o", "--output", type=click.Path(), help="Output ROOT file (required).")
@click.option("--lhe", type=click.Path(),
              help="Whole events: also write them as this Les Houches file (.lhe or .lhe.gz).")
@click.option("--sqrt-s", "sqrt_s", type=float,
              help="Whole events: collision energy in GeV [default: from the LHE init block].")
@click.option("--cut", help="Selection applied first (uproot expression).")
@click.option("--model", type=click.Path(), help="Use this saved flow instead of training one.")
@click.option("--model-out", type=click.Path(),
              help="Where to save the trained flow [default: <OUT stem>_model next to OUT].")
@click.option("--report", type=click.Path(),
              help="Directory for summary.json and plots (held-out test events only).")
@click.option("--epochs", type=int,
              help="Epochs of the cosine learning-rate schedule (the best validation epoch "
                   "is kept) " + _default("epochs"))
@click.option("--batch-size", type=int, help=_default("batch_size"))
@click.option("--lr", type=float, help=_default("lr"))
@click.option("--patience", type=int,
              help="Stop after this many epochs without a better validation loss "
                   + _default("patience"))
@flow_options(None)
@click.option("--transforms", type=int, help=_default("transforms"))
@click.option("--hidden", help="Hidden layer sizes, comma-separated " + _default("hidden"))
@click.option("--bins", type=int, help="Spline bins " + _default("bins"))
@click.option("--positive",
              help="Log-mapped features (comma-separated, 'auto': min > 0, '' none) "
                   + _default("positive"))
@click.option("--discrete",
              help="Integer features to dequantise ('auto': integer columns, '' none) "
                   + _default("discrete"))
@click.option("--atom-fraction", type=float,
              help="A value held by this fraction of events (e.g. pT = 0) gets its own "
                   "category and flow; 0 disables " + _default("atom_fraction"))
@click.option("--split-on",
              help="Integer features (comma-separated) whose every value gets its own flow "
                   "and exact weighted fraction, instead of dequantisation (e.g. njet).")
@click.option("--members", type=int,
              help="Flows per category (different seeds), sampled as an equal mixture "
                   + _default("members"))
@click.option("--marginal-maps/--no-marginal-maps", default=None,
              help="Map continuous features onto their empirical CDF before the flow "
                   + _default("marginal_maps"))
@click.option("--test-fraction", type=float, help=_default("test_fraction"))
@click.option("--val-fraction", type=float, help=_default("val_fraction"))
@click.option("--report-bins", type=int, help=_default("report_bins"))
@click.option("--folds", type=int,
              help="Folds of the classifier two-sample test " + _default("folds"))
@click.option("--plots/--no-plots", default=None,
              help="Report with PNG plots " + _default("plots"))
@click.option("--seed", type=int, help=_default("seed"))
@click.option("--device", help="auto, cpu or cuda " + _default("device"))
@click.option("--force", is_flag=True, default=None, help="Overwrite existing outputs.")
def unweight(inputs: tuple[str, ...], config_file: str | None, hidden: str | None,
             **options: Any) -> None:
    r"""Unweight INPUTS (ROOT or LHE[.gz]) with a normalizing flow.

    Writes N events to OUTPUT with the input's branch names, each with weight sigma/N
    (sigma = sum of the input weights), saves the flow (--model-out) and, with --report,
    compares the result with held-out test events (chi2, classifier AUC, baselines).

    Example: flowstats unweight zjets.lhe.gz -f m_ll,pT_ll,y_ll,lep1_pt -w weight
    -n 100000 -o unweighted.root --report report/

    or, with the options in a file: flowstats unweight --config unweight.yaml -n 1000
    """
    from ..unweighting.core import run_unweight
    from ..unweighting.settings import UnweightSettings
    from . import echo_json

    overrides = {**options, "input": list(inputs) or None, "hidden": _hidden(hidden)}
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
    echo_json(out)
