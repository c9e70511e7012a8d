r"""``flowstats evaluate``: a trained flow's log-density of every event of ROOT files.

Reads the flow that ``flowstats train`` wrote (its features and context branches are recorded
in the model) and writes a TTree ``density`` with one row per input entry: ``entry`` (the input
entry number), ``log_prob`` (:math:`\log p(x \mid c)` in the input's own units; ``-inf`` outside
the flow's domain) and ``score`` (:math:`-\log p`, higher = less like the training events).
With a flow trained on simulated Standard-Model events this is the out-of-distribution search of
the Dark Machines challenge (Aarrestad et al., arXiv:2105.14027): with ``--label``, the JSON on
stdout gives the signal efficiency and :math:`\epsilon_S / \sqrt{\epsilon_B}` at
:math:`\epsilon_B = 10^{-2}, 10^{-3}, 10^{-4}` and the AUC. The provenance is written next to
the output as ``<output stem>.provenance.json``.
"""

from __future__ import annotations

import logging
from pathlib import Path

import click
import numpy as np

from . import echo_json, format_option

log = logging.getLogger(__name__)

__all__ = ["evaluate"]


@click.command("evaluate")
@click.argument("model", type=click.Path(file_okay=False))
@click.argument("inputs", nargs=-1, required=True, type=click.Path(dir_okay=False))
@click.option("--tree", default="events", show_default=True, help="Input TTree.")
@click.option("--cut", default=None, help="Selection expression (uproot syntax).")
@click.option("--label", default=None,
              help="Truth-label branch (1 signal, 0 background): adds the figures of merit.")
@click.option("-o", "--output", required=True, type=click.Path(dir_okay=False),
              help="Output ROOT file (tree 'density').")
@click.option("--batch-size", type=int, default=65536, show_default=True,
              help="Events per evaluation batch (bounds the memory).")
@format_option
@click.option("--force", is_flag=True, help="Overwrite an existing output.")
def evaluate(model: str, inputs: tuple[str, ...], tree: str, cut: str | None, label: str | None,
             output: str, batch_size: int, fmt: str, force: bool) -> None:
    r"""Evaluate the flow MODEL (from `flowstats train`) on every event of INPUTS."""
    from .. import _utils
    from ..exceptions import BadInputError, InputFileNotFoundError
    from ..flows import Flow
    from ..io import read_events, write_events

    out = Path(output)
    prov_path = out.with_name(out.stem + ".provenance.json")
    _utils.check_output(out, force)
    _utils.check_output(prov_path, force)
    if not Path(model).exists():
        raise InputFileNotFoundError(str(model))
    if not (Path(model) / "config.json").is_file():
        raise BadInputError(f"{model} holds no flow (no config.json): give the directory that "
                            "`flowstats train -o` wrote")
    if batch_size < 1:
        raise BadInputError(f"--batch-size {batch_size} must be at least 1")
    flow = Flow.load(model)
    names = [*flow.features, *flow.context]
    if label is not None and label in names:
        raise BadInputError(f"--label {label!r} is one of the flow's inputs")
    events = read_events(list(inputs), tree, names + ([label] if label else []), cut=cut)
    if not len(events):
        raise BadInputError(f"no event of {list(inputs)} passes the selection")
    d = len(flow.features)
    x, c = events.x[:, :d], events.x[:, d:len(names)]
    log_prob = flow.log_prob(x, c if flow.context else None, batch_size=batch_size)
    config = {"model": str(model), "inputs": list(inputs), "tree": tree, "cut": cut,
              "label": label, "features": flow.features, "context": flow.context,
              "output": str(out)}
    prov = _utils.provenance(None, config)
    write_events(out, "density", {"entry": events.entries.astype(np.int64),
                                  "log_prob": log_prob.astype(np.float64),
                                  "score": (-log_prob).astype(np.float64)},
                 force=force, metadata=prov, format=fmt)
    _utils.write_json(prov_path, prov, force=force)
    finite = np.isfinite(log_prob)
    summary = {"output": str(out), "tree": "density", "n_events": len(log_prob),
               "n_outside_domain": int((~finite).sum()),
               "mean_log_prob": float(log_prob[finite].mean()) if finite.any() else None}
    if label is not None:
        from ..anomaly.metrics import evaluate as figures
        from ..anomaly.metrics import sic_at_background

        truth = events.x[:, -1]
        if not np.isin(truth, (0, 1)).all():
            raise BadInputError(f"--label {label!r} holds values other than 0 and 1")
        truth = truth.astype(bool)
        if truth.all() or not truth.any():
            raise BadInputError(f"--label {label!r} needs both signal (1) and background (0) "
                                "events")
        score = np.where(finite, -log_prob, np.inf)
        summary["auc"] = figures(score, truth)["auc"]
        summary["at_eps_b"] = sic_at_background(score, truth)
    echo_json(summary)
