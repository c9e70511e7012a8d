r"""Weighted density estimation with zuko normalizing flows.

:class:`Flow` learns :math:`p(x \mid c)` from events with arbitrary (also negative) weights:
bijective preprocessing (:mod:`.preprocessing`), zuko spline or affine autoregressive flows
(:mod:`.models`, :class:`Architecture`), the weighted likelihood (:mod:`.loss`; another
training objective through :class:`Objective`), a resumable training loop (:mod:`.training`,
settings :class:`FitOptions`), ensembles (:mod:`.ensemble`) and directories on disk (:mod:`.storage`).
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path

from . import storage
from .ensemble import Ensemble
from .flow import Flow
from .loss import Objective, n_eff, weighted_nll
from .models import Architecture
from .preprocessing import Preprocessing
from .training import FitOptions

__all__ = ["Architecture", "Ensemble", "FitOptions", "Flow", "Objective", "Preprocessing", "load",
           "n_eff", "weighted_nll"]


def load(directory: str | os.PathLike, *, features: Sequence[str] | None = None,
         context: Sequence[str] | None = None, device: str = "cpu") -> Flow | Ensemble:
    r"""Loads a :class:`Flow` or an :class:`Ensemble` directory (whichever it holds).

    Arguments:
        directory: The model directory.
        features: If given, the features the caller expects (a mismatch is an error).
        context: If given, the context features the caller expects.
        device: Where to put the model(s).
    """
    directory = Path(directory)
    kind = Flow if storage.read_config(directory)["type"] == "Flow" else Ensemble
    return kind.load(directory, features=features, context=context, device=device)
