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

import numpy as np
import torch
from torch import Tensor

__all__ = ["n_eff", "weighted_nll"]


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
