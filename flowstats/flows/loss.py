r"""Weighted negative log-likelihood with negative weights, and the effective sample size.

The weighted maximum-likelihood estimate minimises the cross-entropy between the (signed)
weighted event density :math:`p(x) \propto \sum_i w_i \delta(x - x_i)` and the model :math:`q`,

.. math:: L = -\frac{\sum_i w_i \log q(x_i)}{\sum_i w_i},

which stays a consistent estimator of the density with negative weights as long as the
*expected* weighted density is non-negative (Stienen & Verheyen).

Mini-batches: normalising each batch by its **own** weight sum is a ratio estimator: it is
biased, and with negative weights the denominator of a small batch can be near zero or
negative, which multiplies the gradient by a huge or sign-flipped factor (gradient *ascent*).
Instead every batch is normalised by a constant, the mean weight of the whole training set
times the batch size, :math:`\bar w B`. The batch loss is then an unbiased estimate of
:math:`L` (its expectation over random batches is exactly :math:`L`, because the denominator
no longer fluctuates), the sign of the gradient is never flipped, and the sum over one epoch of
:math:`B_b/N` times the batch losses equals :math:`L` on the training set exactly.

References:
    | Phase space sampling and inference from weighted events with autoregressive flows
    | (Stienen & Verheyen, 2021) https://arxiv.org/abs/2011.13445
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any, Protocol, runtime_checkable

import numpy as np
import torch
from torch import Tensor

__all__ = ["Objective", "n_eff", "weighted_nll"]


def weighted_nll(log_q: Tensor, weights: Tensor, norm: float | Tensor) -> Tensor:
    r"""Returns :math:`-\sum_b w_b \log q(x_b) / \mathrm{norm}`.

    Arguments:
        log_q: The model's log-density of the batch's events, shape ``(B,)``.
        weights: The events' weights, shape ``(B,)`` (negative allowed).
        norm: The normaliser: the global mean weight times ``B`` for training batches
            (see the module docstring), the weight sum for a whole validation set.
    """
    return -torch.dot(weights, log_q) / norm


def n_eff(weights: np.ndarray | Tensor | None, n: int | None = None) -> float:
    r"""Returns the effective sample size :math:`(\sum w)^2 / \sum w^2` (``n`` if unweighted).

    Arguments:
        weights: The event weights, or ``None`` for unit weights.
        n: The number of events when ``weights`` is ``None``.
    """
    if weights is None:
        return float(n or 0)
    w = np.asarray(weights.detach().cpu() if isinstance(weights, Tensor) else weights,
                   dtype=np.float64)
    s2 = float(np.sum(w * w))
    return float(np.sum(w)) ** 2 / s2 if s2 > 0 else 0.0


@runtime_checkable
class Objective(Protocol):
    r"""A training objective built on the flow's density: ``Flow.fit(..., objective=...)``.

    Without one, a flow maximises the weighted likelihood of its own density :math:`q`. An
    objective replaces every event's :math:`\log q` by a per-event log-likelihood built from
    it (for example that of a mixture of :math:`q` with a fixed density, as R-ANODE's
    :class:`flowstats.anomaly.ranode.SignalMixture`); the loss stays the weighted mean of
    ``-log_likelihood`` (:func:`weighted_nll`), in training and in validation.

    Attributes:
        columns: Per-event numbers ``{name: (n,) array}`` the objective needs with the events
            (e.g. a fixed log-density); they are split, shuffled and batched with them (float32
            in training batches, float64 in validation and in :meth:`end_epoch`).

    The state (:meth:`state_dict`, plain numbers) is checkpointed with the model, kept with the
    best epoch and restored with it (after training and on a non-finite loss).
    """

    columns: Mapping[str, np.ndarray]

    def log_likelihood(self, log_q: Tensor, columns: Mapping[str, Tensor]) -> Tensor:
        r"""The per-event log-likelihood (differentiable in ``log_q``) of a batch whose flow
        log-density is ``log_q`` ``(B,)`` and per-event ``columns``."""

    def end_epoch(self, log_q: Callable[[], Tensor], columns: Mapping[str, Tensor],
                  weights: Tensor) -> dict[str, float]:
        r"""Called after every training epoch, before validation, with the training events:
        ``log_q()`` computes their flow log-density (float64, no gradient; call it only if
        needed), ``columns`` and ``weights`` are float64. Updates the state; returns the
        values to append to the history (one list per key)."""

    def state_dict(self) -> dict[str, Any]:
        r"""The objective's state (plain Python numbers)."""

    def load_state_dict(self, state: Mapping[str, Any]) -> None:
        r"""Restores a state of :meth:`state_dict`."""

    def results(self) -> dict[str, Any]:
        r"""Entries added to the history after training (the best epoch's state restored)."""

    def key(self) -> tuple[float, ...]:
        r"""Numbers identifying the objective's settings (checkpoint fingerprint)."""
