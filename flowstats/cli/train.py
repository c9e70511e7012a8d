r"""``flowstats train``: fit a weighted normalizing flow to events of ROOT files."""

from __future__ import annotations

import logging
import shutil
import time
from pathlib import Path

import click

from . import base_options, echo_json, flow_options

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


@click.command("train")
@click.argument("inputs", nargs=-1, required=True, metavar="IN.root...")
@click.option("--tree", default="events", show_default=True, help="TTree name.")
@click.option("--features", required=True, help="Comma-separated feature branches.")
@click.option("--weight", default=None, help="Weight branch (default: unit weights).")
@click.option("--context", default=None, help="Comma-separated context branches.")
@click.option("--cut", default=None, help="Selection expression (uproot syntax).")
@flow_options()
@click.option("--transforms", default=4, show_default=True, type=int)
@click.option("--hidden", default="64,64", show_default=True, help="Hidden layer sizes.")
@click.option("--bins", default=8, show_default=True, type=int, help="Spline bins.")
@click.option("--bounds", "bounds", multiple=True, metavar="NAME=LO:HI",
              help="Bounded feature (logit map); repeatable.")
@click.option("--positive", default=None, help="Comma-separated positive features (log map).")
@click.option("--discrete", default=None, help="Comma-separated integer features.")
@click.option("--epochs", default=100, show_default=True, type=int)
@click.option("--batch-size", default=4096, show_default=True, type=int)
@click.option("--lr", default=1e-3, show_default=True, type=float)
@click.option("--val-fraction", default=0.2, show_default=True, type=float)
@click.option("--patience", default=10, show_default=True, type=int)
@click.option("--seed", default=0, show_default=True, type=int)
@click.option("--device", default="auto", show_default=True, help="auto, cpu or cuda.")
@click.option("-o", "--output", required=True, type=click.Path(), help="Model directory.")
@click.option("--force", is_flag=True, help="Replace an existing model (and checkpoint).")
@click.option("--resume", is_flag=True, help="Continue from OUTPUT.checkpoint/.")
def train(inputs: tuple[str, ...], tree: str, features: str, weight: str | None,
          context: str | None, cut: str | None, kind: str, base: str | None, nu: float | None,
          transforms: int, hidden: str,
          bins: int, bounds: tuple[str, ...], positive: str | None, discrete: str | None,
          epochs: int, batch_size: int, lr: float, val_fraction: float, patience: int,
          seed: int, device: str, output: str, force: bool, resume: bool) -> None:
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
    try:
        hidden_sizes = [int(h) for h in _split(hidden)]
    except ValueError:
        raise BadInputError(f"--hidden {hidden!r}: expected comma-separated integers") from None
    ckpt = Path(str(out) + ".checkpoint")
    if ckpt.exists() and not resume:
        if not force:
            raise OutputExistsError(str(ckpt))
        shutil.rmtree(ckpt)
    resolve_device(device)  # fail early on a bad device
    flow = Flow(feats, ctx, kind=kind, transforms=transforms, hidden=hidden_sizes, bins=bins,
                bounds=_bounds(bounds), positive=_split(positive), discrete=_split(discrete),
                seed=seed, **base_options(base, nu))
    events = read_events(list(inputs), tree, feats + ctx, weight=weight, cut=cut)
    x, c = events.x[:, :len(feats)], (events.x[:, len(feats):] if ctx else None)
    history = flow.fit(x, events.weights if weight else None, c, epochs=epochs,
                       batch_size=batch_size, lr=lr, val_fraction=val_fraction,
                       patience=patience, device=device, checkpoint_dir=ckpt, resume=resume)
    flow.save(out, force=force)
    shutil.rmtree(ckpt, ignore_errors=True)
    echo_json({
        "output": str(out), "features": feats, "context": ctx, "kind": kind,
        "events": len(x), "sum_weights": history["sum_weights"],
        "negative_fraction": history["negative_fraction"], "n_eff": history["n_eff"],
        "epochs_run": history["epochs_run"], "best_epoch": history["best_epoch"],
        "best_val_loss": history["best_val_loss"], "stopped_early": history["stopped_early"],
        "nan_restores": history["nan_restores"], "device": history["device"],
        "seed": seed, "seconds": round(time.perf_counter() - t0, 3)})
