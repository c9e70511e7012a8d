r"""R-ANODE's mixture likelihood: a signal density learnt against a fixed background.

Das, Kasieczka, Shih, "Residual ANODE" (arXiv:2312.11629): the signal-region data density is
the mixture

.. math:: p(x) = f\, q(x) + (1 - f)\, p_b(x)

of a signal density :math:`q` (the flow being trained) and a background density :math:`p_b`
fixed beforehand (the sideband flow evaluated in the SR, or the standard normal in latent
space). Only :math:`q` (and, with ``learn=True``, the fraction :math:`f`) is learnt, by
maximum weighted likelihood of the mixture. :class:`SignalMixture` is that training objective
for :meth:`flowstats.flows.Flow.fit` (a :class:`flowstats.flows.loss.Objective`); the scoring
method around it is :func:`flowstats.anomaly.methods.ranode`.

The fraction is either fixed or re-estimated after every epoch by EM at the current :math:`q`
(:func:`em_fraction`); the history then holds it per epoch (``signal_fraction``) and at the
best epoch (``best_signal_fraction``).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from typing import Any

import numpy as np
import torch
from torch import Tensor

from ..exceptions import BadInputError

__all__ = ["FRACTION_RANGE", "SignalMixture", "em_fraction", "mixture"]

#: bounds of the mixture's signal fraction
FRACTION_RANGE = (1e-6, 1 - 1e-6)

#: the name of the background column of :class:`SignalMixture`
BACKGROUND = "background_log_prob"


def mixture(log_q: Tensor, log_b: Tensor, fraction: float) -> Tensor:
    r"""``log(f q + (1 - f) p_b)`` of the R-ANODE mixture, per event."""
    return torch.logaddexp(log_q + math.log(fraction), log_b + math.log1p(-fraction))


@torch.no_grad()
def em_fraction(log_q: Tensor, log_b: Tensor, w: Tensor, fraction: float,
                iterations: int = 50) -> float:
    r"""The signal fraction of the mixture that maximises the weighted likelihood of events
    with log-densities ``log_q`` (signal) and ``log_b`` (background) and weights ``w``, at
    fixed densities: EM fixed-point iterations of ``f <- sum w r / sum w`` from ``fraction``,
    ``r`` the posterior signal probability of each event (Dempster, Laird, Rubin 1977)."""
    f = fraction
    for _ in range(iterations):
        r = torch.sigmoid(log_q + math.log(f) - log_b - math.log1p(-f))
        new = float(torch.dot(w, r) / w.sum())
        new = min(max(new, FRACTION_RANGE[0]), FRACTION_RANGE[1])
        if abs(new - f) < 1e-7:
            f = new
            break
        f = new
    return f


class SignalMixture:
    r"""Trains a flow as the signal density ``q`` of ``f q + (1 - f) p_b`` (R-ANODE).

    Pass it as ``Flow.fit(x, objective=SignalMixture(log_b))``.

    Arguments:
        background_log_prob: The fixed background log-density :math:`\log p_b(x)` of every
            training event ``(n,)``, in the units of the flow's density (no NaN or +inf).
        fraction: The (initial) signal fraction, in (0, 1).
        learn: Re-estimate the fraction by EM after every epoch.
    """

    def __init__(self, background_log_prob: np.ndarray, fraction: float = 0.01,
                 learn: bool = True) -> None:
        log_b = np.asarray(background_log_prob, dtype=np.float64).reshape(-1)
        if np.isnan(log_b).any() or np.isposinf(log_b).any():
            raise BadInputError("background_log_prob holds NaN or +inf")
        if not 0 < fraction < 1:
            raise BadInputError(f"signal_fraction must lie in (0, 1), got {fraction}")
        self.columns = {BACKGROUND: log_b}
        self.initial = float(fraction)
        self.fraction = float(fraction)
        self.learn = bool(learn)

    def __repr__(self) -> str:
        return (f"SignalMixture(fraction={self.fraction:g}, learn={self.learn}, "
                f"n={len(self.columns[BACKGROUND])})")

    def log_likelihood(self, log_q: Tensor, columns: Mapping[str, Tensor]) -> Tensor:
        r"""The mixture's per-event log-density at the current fraction."""
        return mixture(log_q, columns[BACKGROUND], self.fraction)

    def end_epoch(self, log_q: Callable[[], Tensor], columns: Mapping[str, Tensor],
                  weights: Tensor) -> dict[str, float]:
        r"""Re-estimates the fraction by EM (with ``learn``); returns ``signal_fraction``."""
        if self.learn:
            self.fraction = em_fraction(log_q(), columns[BACKGROUND], weights, self.fraction)
        return {"signal_fraction": self.fraction}

    def state_dict(self) -> dict[str, Any]:
        return {"fraction": self.fraction}

    def load_state_dict(self, state: Mapping[str, Any]) -> None:
        self.fraction = float(state["fraction"])

    def results(self) -> dict[str, Any]:
        r"""``best_signal_fraction`` (the fraction of the best epoch, restored)."""
        return {"best_signal_fraction": self.fraction}

    def key(self) -> tuple[float, ...]:
        return (self.initial, self.learn)
