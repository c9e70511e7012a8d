r"""``flowstats score``: resonant anomaly scores (CATHODE, ANODE, CWoLa, ...) of every event.

Writes a TTree ``scores`` with one row per input entry: ``entry`` (the input entry number),
``score`` (higher = more signal-like), ``fold`` (the cross-scoring fold whose model scored the
event, -1 for ``density``) and ``region`` (1 signal region, 0 sideband, -1 outside). The
trained models go to ``--model-dir`` (reused when they were trained on the same events with the
same settings); the provenance (seed, versions, resolved options) is written next to the output
as ``<output stem>.provenance.json``.
"""

from __future__ import annotations

import logging
from pathlib import Path

import click
import numpy as np

from . import RegistryChoice, chosen_flow, echo_json, flow_options, format_option, method_names

log = logging.getLogger(__name__)

__all__ = ["score"]


def _split(values: tuple[str, ...]) -> list[str]:
    return [v.strip() for item in values for v in item.split(",") if v.strip()]


@click.command("score")
@click.argument("inputs", nargs=-1, required=True, type=click.Path(dir_okay=False))
@click.option("--tree", default="events", show_default=True, help="Input TTree.")
@click.option("--mass", default="mjj", show_default=True, help="Resonant-mass branch.")
@click.option("--features", multiple=True, required=True,
              help="Feature branches (comma-separated or repeated).")
@click.option("--method", default="cathode", show_default=True,
              type=RegistryChoice(method_names),
              help="Anomaly-detection method.")
@click.option("--sr", required=True, help="Signal region LO:HI in the mass branch's units.")
@click.option("--sideband-width", type=float, default=None,
              help="Width of each adjacent sideband (default: everything outside the SR).")
@click.option("-o", "--output", required=True, type=click.Path(dir_okay=False),
              help="Output ROOT file (tree 'scores').")
@click.option("--model-dir", type=click.Path(file_okay=False), default=None,
              help="Directory for the trained models (reused when compatible).")
@click.option("--seed", type=int, default=0, show_default=True, help="Seed of every random step.")
@click.option("--device", default="auto", show_default=True, help="auto, cpu or cuda.")
@click.option("--classifier", type=click.Choice(["hgb", "mlp"]), default=None,
              help="Classifier of cathode/bootstrap (default mlp) and cwola (default hgb).")
@click.option("--epochs", type=int, default=None, help="Flow training epochs (default 12).")
@click.option("--folds", type=int, default=5, show_default=True, help="Cross-scoring folds.")
@click.option("--oversample", type=float, default=4.0, show_default=True,
              help="Background samples per SR event (cathode, bootstrap).")
@click.option("--min-sr", type=int, default=100, show_default=True,
              help="Fewest SR (and sideband) events accepted.")
@click.option("--space", type=click.Choice(["latent", "data"]), default="latent",
              show_default=True,
              help="Where the flow methods score: the sideband flow's latent space at each "
                   "event's m (no sculpting of m; LaCATHODE) or the features themselves.")
@click.option("--whiten/--no-whiten", default=True, show_default=True,
              help="In latent space, shift and rotate the SR events' latent points to zero "
                   "mean and unit covariance (removes the sideband flow's interpolation misfit "
                   "of the first two moments, which sculpts large samples).")
@click.option("--fresh-template/--fixed-template", default=True, show_default=True,
              help="cathode in latent space with the MLP: train every epoch against new "
                   "N(0, 1) background draws (15 epochs) instead of one fixed template "
                   "(30 epochs).")
@flow_options(default_kind=None)
@format_option
@click.option("--force", is_flag=True, help="Overwrite an existing output.")
def score(inputs: tuple[str, ...], tree: str, mass: str, features: tuple[str, ...], method: str,
          sr: str, sideband_width: float | None, output: str, model_dir: str | None, seed: int,
          device: str, classifier: str | None, epochs: int | None, folds: int,
          oversample: float, min_sr: int, space: str, whiten: bool, fresh_template: bool,
          kind: str | None,
          base: str | None, nu: float | None, fmt: str, force: bool) -> None:
    r"""Score every event of INPUTS with a resonant anomaly-detection method."""
    from .. import _utils
    from ..anomaly import parse_window
    from ..anomaly import score as run_score
    from ..exceptions import BadInputError
    from ..io import read_events, write_events
    from ..registry import METHODS

    out = Path(output)
    prov_path = out.with_name(out.stem + ".provenance.json")
    _utils.check_output(out, force)
    _utils.check_output(prov_path, force)
    names = _split(features)
    if not names:
        raise BadInputError("--features names no branch")
    if mass in names:
        raise BadInputError(f"the mass branch {mass!r} must not be one of --features")
    dup = sorted({n for n in names if names.count(n) > 1})
    if dup:
        raise BadInputError(f"--features lists {dup} more than once")
    window = parse_window(sr)
    events = read_events(list(inputs), tree, [*names, mass])
    x = events.x[:, :-1]
    m = events.x[:, -1]
    entry = METHODS.get(method)
    options: dict = {"k": folds, "oversample": oversample}
    if entry.space_options:
        options["space"] = space
        options["whiten"] = whiten
    if "fresh_template" in entry.options:
        options["fresh_template"] = fresh_template
    if classifier is not None:
        options["classifier"] = classifier
    if epochs is not None:
        if epochs < 1:
            raise BadInputError(f"--epochs {epochs} must be at least 1")
        options["fit"] = {"epochs": epochs}
    arch = chosen_flow(kind, base, nu)
    if arch:
        options["flow"] = arch
    result = run_score(x, m, method=method, sr=window, sideband_width=sideband_width,
                       names=names, seed=seed, device=device, model_dir=model_dir,
                       min_sr=min_sr, min_sideband=min_sr, **options)
    config = {"inputs": list(inputs), "tree": tree, "mass": mass, "features": names,
              "method": method, "sr": list(window), "sideband_width": sideband_width,
              "model_dir": model_dir, "device": device, "output": str(out),
              **result.info["config"]}
    prov = _utils.provenance(seed, config)
    write_events(out, "scores", {"entry": events.entries.astype(np.int64),
                                 "score": result.score.astype(np.float64),
                                 "fold": result.fold.astype(np.int32),
                                 "region": result.region.astype(np.int8)},
                 force=force, metadata=prov, format=fmt)
    _utils.write_json(prov_path, {**prov, "info": result.info}, force=force)
    echo_json({"output": str(out), "tree": "scores", "method": method, "n_events": len(m),
               "n_sr": int((result.region == 1).sum()),
               "n_sideband": int((result.region == 0).sum()),
               "seconds": result.info["seconds"], "provenance": str(prov_path)})
