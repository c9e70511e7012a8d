r"""``flowstats train``: fit a weighted normalizing flow to events of ROOT files."""

from __future__ import annotations

import logging
import shutil
import time
from pathlib import Path
from typing import Any

import click

from ..settings.analysis import FitSettings, FlowSettings
from ..settings.options import options
from . import echo_json

log = logging.getLogger(__name__)

__all__ = ["train"]


def _split(text: str | None) -> list[str]:
    return [t.strip() for t in (text or "").split(",") if t.strip()]


def _bounds(items: tuple[str, ...]) -> dict[str, tuple[float, float]]:
    from ..exceptions import BadInputError

    out = {}
    for item in items:
        try:
            name, rng = item.split("=", 1)
            lo, hi = (float(v) for v in rng.split(":"))
        except ValueError:
            raise BadInputError(f"--bounds {item!r}: expected NAME=LOWER:UPPER, e.g. "
                                "y=-5:5") from None
        out[name.strip()] = (lo, hi)
    return out


#: options generated from :class:`~flowstats.settings.analysis.FlowSettings`
FLOW = ["kind", "base", "nu", "transforms", "hidden", "bins"]
#: options generated from :class:`~flowstats.settings.analysis.FitSettings`
FIT = ["epochs", "batch_size", "lr", "val_fraction", "patience"]


def _given(values: dict[str, Any], paths: list[str]) -> dict[str, Any]:
    r"""The options of ``paths`` given on the command line."""
    return {k: values[k] for k in paths if values[k] is not None}


@click.command("train")
@click.argument("inputs", nargs=-1, required=True, metavar="IN.root...")
@click.option("--tree", default="events", show_default=True, help="TTree name.")
@click.option("--features", required=True, help="Comma-separated feature branches.")
@click.option("--weight", default=None, help="Weight branch (default: unit weights).")
@click.option("--context", default=None, help="Comma-separated context branches.")
@click.option("--cut", default=None, help="Selection expression (uproot syntax).")
@options(FlowSettings, FLOW)
@click.option("--bounds", "bounds", multiple=True, metavar="NAME=LO:HI",
              help="Bounded feature (logit map); repeatable.")
@click.option("--positive", default=None, help="Comma-separated positive features (log map).")
@click.option("--discrete", default=None, help="Comma-separated integer features.")
@options(FitSettings, FIT)
@click.option("--seed", default=0, show_default=True, type=int)
@click.option("--device", default="auto", show_default=True, help="auto, cpu or cuda.")
@click.option("-o", "--output", required=True, type=click.Path(), help="Model directory.")
@click.option("--force", is_flag=True, help="Replace an existing model (and checkpoint).")
@click.option("--resume", is_flag=True, help="Continue from OUTPUT.checkpoint/.")
def train(inputs: tuple[str, ...], features: str, context: str | None, output: str,
          force: bool, resume: bool, **values: Any) -> None:
    r"""Train a flow on IN.root and write it to OUTPUT (a directory).

    A checkpoint is written to OUTPUT.checkpoint/ after every epoch; --resume continues an
    interrupted run from it (same result as an uninterrupted run). Prints a JSON summary.
    """
    from .._utils import check_output, resolve_device
    from ..exceptions import BadInputError, OutputExistsError
    from ..flows import Flow
    from ..io import read_events

    t0 = time.perf_counter()
    out = check_output(output, force)
    feats, ctx = _split(features), _split(context)
    if not feats:
        raise BadInputError("--features is empty; give comma-separated branch names")
    arch = FlowSettings.parse(_given(values, FLOW), "flow options").to_dict()
    fit = FitSettings.parse(_given(values, FIT), "training options").to_dict()
    tree, weight, cut, seed, device = (values[k] for k in ("tree", "weight", "cut", "seed",
                                                           "device"))
    ckpt = Path(str(out) + ".checkpoint")
    if ckpt.exists() and not resume:
        if not force:
            raise OutputExistsError(str(ckpt))
        shutil.rmtree(ckpt)
    resolve_device(device)  # fail early on a bad device
    flow = Flow(feats, ctx, bounds=_bounds(values["bounds"]), positive=_split(values["positive"]),
                discrete=_split(values["discrete"]), seed=seed, **arch)
    events = read_events(list(inputs), tree, feats + ctx, weight=weight, cut=cut)
    x, c = events.x[:, :len(feats)], (events.x[:, len(feats):] if ctx else None)
    history = flow.fit(x, events.weights if weight else None, c, device=device,
                       checkpoint_dir=ckpt, resume=resume, **fit)
    flow.save(out, force=force)
    shutil.rmtree(ckpt, ignore_errors=True)
    echo_json({
        "output": str(out), "features": feats, "context": ctx, "kind": arch["kind"],
        "events": len(x), "sum_weights": history["sum_weights"],
        "negative_fraction": history["negative_fraction"], "n_eff": history["n_eff"],
        "epochs_run": history["epochs_run"], "best_epoch": history["best_epoch"],
        "best_val_loss": history["best_val_loss"], "stopped_early": history["stopped_early"],
        "nan_restores": history["nan_restores"], "device": history["device"],
        "seed": seed, "seconds": round(time.perf_counter() - t0, 3)})
