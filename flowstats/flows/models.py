r"""Builds the zuko flows: autoregressive neural spline flows (default) or affine MAFs.

The spline flow is zuko's :class:`~zuko.flows.MAF` with monotonic rational-quadratic spline
univariate transforms, exactly what :class:`zuko.flows.NSF` builds, except that the spline
domain :math:`[-B, B]` is a parameter: zuko's splines are the identity outside
:math:`[-5, 5]`, and :class:`~flowstats.flows.Flow` widens :math:`B` when standardised training
data reach beyond it, so that real data are never in the untransformed region.

References:
    | Neural Spline Flows (Durkan et al., 2019)
    | https://arxiv.org/abs/1906.04032
    | Masked Autoregressive Flow for Density Estimation (Papamakarios et al., 2017)
    | https://arxiv.org/abs/1705.07057
"""

from __future__ import annotations

from collections.abc import Sequence
from functools import partial

import torch
import zuko

from ..exceptions import BadInputError

__all__ = ["KINDS", "build_flow"]

KINDS = ("nsf", "maf")


def build_flow(
    kind: str,
    features: int,
    context: int = 0,
    *,
    transforms: int = 4,
    hidden: Sequence[int] = (64, 64),
    bins: int = 8,
    bound: float = 5.0,
    seed: int = 0,
) -> zuko.flows.Flow:
    r"""Returns a freshly initialised zuko flow.

    Arguments:
        kind: ``"nsf"`` (autoregressive rational-quadratic splines) or ``"maf"`` (affine).
        features: The number of features.
        context: The number of context features.
        transforms: The number of autoregressive transforms.
        hidden: The hidden layer sizes of each transform's MADE network.
        bins: The number of spline bins (``"nsf"`` only).
        bound: The spline domain half-width :math:`B` (``"nsf"`` only).
        seed: Seeds the weight initialisation (the global torch RNG is left untouched).
    """
    kind = str(kind).lower()
    if kind not in KINDS:
        raise BadInputError(f"unknown flow kind {kind!r}; use one of {list(KINDS)}")
    if features < 1:
        raise BadInputError("a flow needs at least one feature")
    if transforms < 1 or bins < 2 or any(int(h) < 1 for h in hidden):
        raise BadInputError(f"bad architecture: transforms={transforms} (>= 1), bins={bins} "
                            f"(>= 2), hidden={list(hidden)} (all >= 1)")
    hidden = tuple(int(h) for h in hidden)
    options = {"transforms": int(transforms), "hidden_features": hidden}
    if kind == "nsf":
        univariate = partial(zuko.transforms.MonotonicRQSTransform, bound=float(bound),
                             slope=1e-3)
        options.update(univariate=univariate, shapes=[(bins,), (bins,), (bins - 1,)])
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(int(seed))
        flow = zuko.flows.MAF(int(features), int(context), **options)
    return flow
