r"""Per-window anomaly scoring and score-based selections of a bump hunt.

Each signal-region window is an independent task (its own background model, classifiers and
seed), run serially or on a dask cluster through :func:`flowstats.distributed.map_tasks`.
"""

from __future__ import annotations

import logging
import math
from pathlib import Path
from typing import Any

import numpy as np

log = logging.getLogger(__name__)

__all__ = ["resolve_threads", "score_window", "select_top"]

#: torch threads of a window task unless the configuration sets ``torch_threads``: a laptop's two
#: cores (a 1M-event window: 81 s with two threads, 127 s with one)
DEFAULT_THREADS = 2


def resolve_threads(requested: int | None) -> int:
    r"""The torch threads of every window task of a run, fixed before the tasks are sent out.

    Arguments:
        requested: The configuration's ``torch_threads``; ``None`` means
            :data:`DEFAULT_THREADS`, or fewer when this process runs torch on fewer threads
            (``torch.set_num_threads``, ``OMP_NUM_THREADS``), e.g. in a test worker.
    """
    if requested is not None:
        return int(requested)
    import torch

    return max(1, min(DEFAULT_THREADS, torch.get_num_threads()))


def score_window(task: dict[str, Any], *, x: np.ndarray, m: np.ndarray, names: list[str],
                 config: dict[str, Any]) -> dict[str, Any]:
    r"""Scores every event for one window (a task function: picklable, no shared state).

    Arguments:
        task: ``{"index": i, "window": (lo, hi), "seed": s, "model_dir": path | None}``.
        x: Features (n, d).
        m: Resonant mass (n,).
        names: Feature names.
        config: The resolved analysis configuration.

    Returns:
        ``{"index", "window", "score", "fold", "region", "seconds"}``, ``"template"`` (the
        scores of the method's SR background template, when it has one) and
        ``"closure_score"`` (the scores of the closure pseudo-data, see
        :mod:`flowstats.anomaly.pseudodata`) when ``config["closure"]`` is set; ``{"index", "window", "error", "seconds"}`` when the
        window cannot be scored (too few events in the SR or sidebands).
    """
    import torch
    from threadpoolctl import threadpool_limits

    from ..anomaly import score
    from ..anomaly.pseudodata import pseudo_background
    from ..exceptions import BadInputError

    # the run's fixed number of threads per task (torch, BLAS, OpenMP of the boosted trees): the
    # same numbers whether the task runs serially here or on a dask worker
    threads = resolve_threads(config.get("torch_threads"))
    previous = torch.get_num_threads()
    torch.set_num_threads(threads)
    common = {"sr": tuple(task["window"]), "sideband_width": config.get("sideband_width"),
              "names": names, "seed": int(task["seed"]), "device": config.get("device", "auto"),
              **dict(config.get("score_options") or {})}
    model_dir = task.get("model_dir")
    closure = None
    try:
        with threadpool_limits(limits=threads):
            try:
                result = score(x, m, method=config["method"], model_dir=model_dir, **common)
            except BadInputError as err:
                # e.g. too few SR or sideband events: this window gets a row with the reason
                return {"index": task["index"], "window": tuple(task["window"]),
                        "error": str(err), "seconds": math.nan}
            if config.get("closure"):
                x_pseudo = pseudo_background(x, m, model_dir=model_dir, **common)
                closure = score(x_pseudo, m, method=config["method"],
                                model_dir=None if model_dir is None
                                else Path(model_dir) / "closure", **common)
    finally:
        torch.set_num_threads(previous)
    out = {
        "index": task["index"],
        "window": tuple(task["window"]),
        "score": result.score,
        "fold": result.fold,
        "region": result.region,
        "seconds": float(result.info.get("seconds", math.nan)),
    }
    if closure is not None:
        out["closure_score"] = closure.score
    if result.template is not None:
        out["template"] = result.template
    return out


def select_top(score: np.ndarray, region: np.ndarray, efficiency: float) -> np.ndarray:
    r"""Selects the events whose score is among the top ``efficiency`` of the signal region.

    The threshold is the score of the ``ceil(efficiency * n_SR)``-th best signal-region event;
    the same threshold is applied to every event (sidebands too), so that the selected
    sideband spectrum shows how the cut acts on the background.

    Arguments:
        score: Scores of all events.
        region: Region codes (1 = SR).
        efficiency: Fraction of SR events to keep, in (0, 1]; 1 keeps every event.
    """
    if efficiency >= 1.0:
        return np.ones(len(score), bool)
    sr_scores = np.sort(score[region == 1])[::-1]
    k = max(1, math.ceil(efficiency * len(sr_scores)))
    threshold = sr_scores[k - 1]
    return score >= threshold


def save_window(path: Path, result: dict[str, Any]) -> None:
    r"""Stores a finished window's scores (atomically) so an interrupted scan can resume."""
    from .._utils import atomic_path

    with atomic_path(path, force=True) as tmp:
        with open(tmp, "wb") as fh:
            extra = {k: result[k] for k in ("closure_score", "template") if k in result}
            np.savez(fh, score=result["score"], fold=result["fold"], region=result["region"],
                     window=np.asarray(result["window"], float),
                     seconds=np.asarray(result["seconds"], float), **extra)


def load_window(path: Path, index: int) -> dict[str, Any]:
    r"""Reads a window stored by :func:`save_window`."""
    with np.load(path) as data:
        out = {"index": index, "window": tuple(float(v) for v in data["window"]),
               "score": data["score"], "fold": data["fold"], "region": data["region"],
               "seconds": float(data["seconds"])}
        for key in ("closure_score", "template"):
            if key in data:
                out[key] = data[key]
        return out
