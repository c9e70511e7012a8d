r"""Weighted density estimation with zuko normalizing flows.

:class:`Flow` learns :math:`p(x \mid c)` from events with arbitrary (also negative) weights:
bijective preprocessing (:mod:`.preprocessing`), zuko spline or affine autoregressive flows
(:mod:`.models`), the weighted likelihood (:mod:`.loss`), a resumable training loop
(:mod:`.training`), ensembles (:mod:`.ensemble`) and directories on disk (:mod:`.io`).
"""

from __future__ import annotations

from .ensemble import Ensemble
from .flow import Flow
from .io import load
from .loss import n_eff, weighted_nll
from .preprocessing import Preprocessing

__all__ = ["Ensemble", "Flow", "Preprocessing", "load", "n_eff", "weighted_nll"]
