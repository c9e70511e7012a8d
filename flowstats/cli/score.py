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
from typing import Any

import click
import numpy as np

from ..settings.analysis import BumpHuntSettings, ScoreSettings
from ..settings.options import collect, field_of, help_text, options
from . import RegistryChoice, echo_json, format_option, method_names, split_names

log = logging.getLogger(__name__)

__all__ = ["score"]



#: options generated from :class:`~flowstats.settings.analysis.ScoreSettings`
SCORE_OPTIONS = ["classifier", "fit.epochs", "k", "oversample", "min_sr", "space", "whiten",
                 "flow.kind", "flow.base", "flow.nu"]
#: options generated from :class:`~flowstats.settings.analysis.BumpHuntSettings`
RUN_OPTIONS = ["tree", "mass", "sideband_width", "seed", "device"]


def _default(model: Any, path: str) -> Any:
    from ..settings.options import field_of

    return field_of(model, path)[0].get_default(call_default_factory=True)


@click.command("score")
@click.argument("inputs", nargs=-1, required=True, type=click.Path(dir_okay=False))
@options(BumpHuntSettings, RUN_OPTIONS)
@click.option("--features", multiple=True, required=True,
              help="Feature branches (comma-separated or repeated).")
@click.option("--method", default=_default(BumpHuntSettings, "method"), show_default=True,
              type=RegistryChoice(method_names),
              help="Anomaly-detection method.")
@click.option("--sr", required=True, help="Signal region LO:HI in the mass branch's units.")
@click.option("-o", "--output", required=True, type=click.Path(dir_okay=False),
              help="Output ROOT file (tree 'scores').")
@click.option("--model-dir", type=click.Path(file_okay=False), default=None,
              help="Directory for the trained models (reused when compatible).")
@options(ScoreSettings, SCORE_OPTIONS, names={"k": "--folds", "fit.epochs": "--epochs"},
         helps={"min_sr": "Fewest SR (and sideband) events accepted"})
@click.option("--fresh-template/--fixed-template", default=None,
              help=help_text(field_of(ScoreSettings, "fresh_template")[0], None))
@format_option
@click.option("--force", is_flag=True, help="Overwrite an existing output.")
def score(inputs: tuple[str, ...], features: tuple[str, ...], method: str, sr: str,
          output: str, model_dir: str | None, fmt: str, force: bool, **values: Any) -> None:
    r"""Score every event of INPUTS with a resonant anomaly-detection method."""
    from .. import _utils
    from ..anomaly import parse_window
    from ..anomaly import score as run_score
    from ..exceptions import BadInputError
    from ..io import read_events, write_events

    run = {k: values.pop(k) for k in RUN_OPTIONS}
    run = {k: _default(BumpHuntSettings, k) if v is None else v for k, v in run.items()}
    tree, mass, seed = run["tree"], run["mass"], run["seed"]
    out = Path(output)
    prov_path = out.with_name(out.stem + ".provenance.json")
    _utils.check_output(out, force)
    _utils.check_output(prov_path, force)
    names = split_names(features)
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
    given = collect(values)
    if "min_sr" in given:
        given["min_sideband"] = given["min_sr"]
    result = run_score(x, m, method=method, sr=window, sideband_width=run["sideband_width"],
                       names=names, seed=seed, device=run["device"], model_dir=model_dir,
                       **given)
    config = {"inputs": list(inputs), "tree": tree, "mass": mass, "features": names,
              "method": method, "sr": list(window), "sideband_width": run["sideband_width"],
              "model_dir": model_dir, "device": run["device"], "output": str(out),
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
