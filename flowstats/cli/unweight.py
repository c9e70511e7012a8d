r"""``flowstats unweight``: negatively weighted events in, N unit-weight events out."""

from __future__ import annotations

import click

from . import base_options, flow_options

__all__ = ["unweight"]


def _csv(text: str | None) -> list[str] | None:
    if text is None:
        return None
    return [t.strip() for t in text.split(",") if t.strip()]


@click.command("unweight")
@click.argument("inputs", nargs=-1, required=True, type=click.Path())
@click.option("--tree", "-t", default="events", show_default=True,
              help="TTree name (for LHE input: the name of the converted tree).")
@click.option("--features", "-f", required=True, help="Comma-separated feature branches.")
@click.option("--weight", "-w", required=True, help="Event-weight branch.")
@click.option("-n", "n", required=True, type=int, help="Number of unweighted events to write.")
@click.option("-o", "--output", required=True, type=click.Path(), help="Output ROOT file.")
@click.option("--cut", default=None, help="Selection applied first (uproot expression).")
@click.option("--model", type=click.Path(), default=None,
              help="Use this saved flow instead of training one.")
@click.option("--model-out", type=click.Path(), default=None,
              help="Where to save the trained flow [default: <OUT stem>_model next to OUT].")
@click.option("--report", type=click.Path(), default=None,
              help="Directory for summary.json and plots (held-out test events only).")
@click.option("--epochs", default=40, show_default=True, type=int,
              help="Epochs of the cosine learning-rate schedule (the best validation epoch "
                   "is kept).")
@click.option("--batch-size", default=2048, show_default=True, type=int)
@click.option("--lr", default=2e-3, show_default=True, type=float)
@click.option("--patience", default=40, show_default=True, type=int,
              help="Stop after this many epochs without a better validation loss.")
@flow_options()
@click.option("--transforms", default=4, show_default=True, type=int)
@click.option("--hidden", default="64,64", show_default=True,
              help="Hidden layer sizes, comma-separated.")
@click.option("--bins", default=8, show_default=True, type=int, help="Spline bins.")
@click.option("--positive", default="auto", show_default=True,
              help="Log-mapped features (comma-separated, 'auto': min > 0, '' none).")
@click.option("--discrete", default="auto", show_default=True,
              help="Integer features to dequantise ('auto': integer columns, '' none).")
@click.option("--atom-fraction", default=0.02, show_default=True, type=float,
              help="A value held by this fraction of events (e.g. pT = 0) gets its own "
                   "category and flow; 0 disables.")
@click.option("--split-on", default="",
              help="Integer features (comma-separated) whose every value gets its own flow "
                   "and exact weighted fraction, instead of dequantisation (e.g. njet).")
@click.option("--members", default=1, show_default=True, type=int,
              help="Flows per category (different seeds), sampled as an equal mixture.")
@click.option("--no-marginal-maps", is_flag=True,
              help="Do not map continuous features onto their empirical CDF before the flow.")
@click.option("--test-fraction", default=0.25, show_default=True, type=float)
@click.option("--val-fraction", default=0.2, show_default=True, type=float)
@click.option("--report-bins", default=30, show_default=True, type=int)
@click.option("--no-plots", is_flag=True, help="Report without PNG plots.")
@click.option("--seed", default=0, show_default=True, type=int)
@click.option("--device", default="auto", show_default=True, help="auto, cpu or cuda.")
@click.option("--force", is_flag=True, help="Overwrite existing outputs.")
def unweight(inputs: tuple[str, ...], tree: str, features: str, weight: str, n: int,
             output: str, cut: str | None, model: str | None, model_out: str | None,
             report: str | None, epochs: int, batch_size: int, lr: float, patience: int,
             kind: str, base: str | None, nu: float | None, transforms: int, hidden: str,
             bins: int, positive: str,
             discrete: str, atom_fraction: float, split_on: str, members: int,
             no_marginal_maps: bool,
             test_fraction: float, val_fraction: float, report_bins: int,
             no_plots: bool, seed: int, device: str, force: bool) -> None:
    r"""Unweight INPUTS (ROOT or LHE[.gz]) with a normalizing flow.

    Writes N events to OUTPUT with the input's branch names, each with weight sigma/N
    (sigma = sum of the input weights), saves the flow (--model-out) and, with --report,
    compares the result with held-out test events (chi2, classifier AUC, baselines).

    Example: flowstats unweight zjets.lhe.gz -f m_ll,pT_ll,y_ll,lep1_pt -w weight
    -n 100000 -o unweighted.root --report report/
    """
    from ..exceptions import BadInputError
    from ..unweighting.core import unweight as run_unweight
    from . import echo_json

    try:
        hidden_sizes = [int(h) for h in _csv(hidden) or []]
    except ValueError:
        raise BadInputError(f"--hidden must be comma-separated integers, got {hidden!r}"
                            ) from None
    result = run_unweight(
        list(inputs), features=_csv(features) or [], weight=weight, n=n, output=output,
        tree=tree, cut=cut, model=model, model_out=model_out, report=report, kind=kind,
        **base_options(base, nu),
        transforms=transforms, hidden=hidden_sizes, bins=bins,
        positive="auto" if positive == "auto" else _csv(positive),
        discrete="auto" if discrete == "auto" else _csv(discrete), epochs=epochs,
        batch_size=batch_size, lr=lr, patience=patience, atom_fraction=atom_fraction,
        marginal_maps=not no_marginal_maps, split_on=_csv(split_on) or [], members=members,
        test_fraction=test_fraction,
        val_fraction=val_fraction, seed=seed, device=device, report_bins=report_bins,
        plots=not no_plots, force=force)
    s = result.summary
    out = {"output": str(result.output), "n": result.n, "weight_per_event": result.weight,
           "sum_weights": result.sigma, "model": None if result.model is None
           else str(result.model), "report": None if result.report is None
           else str(result.report), "input": s["input"], "notes": s["notes"]}
    if "features" in s:
        out["features"] = {k: {"chi2_ndf": v["chi2_ndf"], "p_value": v["p_value"]}
                           for k, v in s["features"].items()}
        out["classifier_auc"] = (s["classifier"] or {}).get("auc")
    echo_json(out)
