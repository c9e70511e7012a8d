r"""Invertible element-wise maps between the user's observables and the flow's space.

Each feature goes through (in this order)

1. dequantisation (integer observables only, training time): :math:`x \to x + u`,
   :math:`u \sim \mathcal{U}[0, 1)`;
2. one of: the identity; :math:`\log x` (``positive`` observables); or, for a bounded
   observable :math:`x \in (a, b)`, :math:`\operatorname{logit}(\epsilon + (1 - 2\epsilon)
   \frac{x - a}{b - a})` (the :math:`\epsilon` keeps the image finite at the bounds);
3. standardisation :math:`(y - \mu) / \sigma`.

The map :math:`x \to z` is a bijection with an analytic Jacobian, so a density :math:`q_Z` learnt
in :math:`z` space is turned into a density of the original observables by
:math:`\log p_X(x) = \log q_Z(z(x)) + \log |\det \partial z / \partial x|` (:meth:`Preprocessing.forward`
returns both). Maps are evaluated in float64 (the logit near the bounds loses ~6 % in float32).

Standardisation uses the **absolute** weights :math:`|w|`: any location and scale give a valid
density (the map is just a fixed affine bijection), what matters is that every event the loss
sees, negatively weighted ones included, lands at :math:`O(1)` inside the spline domain. The
:math:`|w|`-weighted variance is always positive, whereas the signed-weight variance can be
small or even negative when negative weights sit in the tails, which would stretch the data far
outside zuko's spline domain.

Integer observables (``discrete``): the flow learns the density of the dequantised variable
:math:`x + u`. Its integral over :math:`[k, k + 1)` is the probability of the integer
:math:`k`, so ``log_prob`` evaluated at :math:`k + 1/2` is the midpoint estimate of
:math:`\log P(k)` (the bin width is 1); sampling returns :math:`\lfloor x \rfloor`.

References:
    | Density estimation using Real NVP (Dinh et al., 2016), dequantisation and logit maps
    | https://arxiv.org/abs/1605.08803
"""

from __future__ import annotations

import logging
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch
from torch import Tensor

from ..exceptions import BadInputError, closest

log = logging.getLogger(__name__)

__all__ = ["Preprocessing", "check_names"]

IDENTITY, LOG, LOGIT = "identity", "log", "logit"


def check_names(names: Sequence[str], known: Sequence[str], what: str) -> list[str]:
    r"""Raises :class:`BadInputError` for names not in ``known`` (suggesting close ones).

    Arguments:
        names: The names asked for.
        known: The names that exist.
        what: What the names are for (used in the message).
    """
    names = [str(n) for n in names]
    for name in names:
        if name not in known:
            hint = closest(name, known)
            msg = f"{what}: unknown feature {name!r}"
            msg += f"; did you mean {hint[0]!r}?" if hint else f"; features are {list(known)}"
            raise BadInputError(msg)
    return names


@dataclass
class Preprocessing:
    r"""Element-wise bijection ``x -> z``: dequantisation, log/logit, standardisation.

    Build it with :meth:`fit`; the parameters round-trip through :meth:`to_dict`.

    Arguments:
        names: The feature names.
        kinds: Per feature: ``"identity"``, ``"log"`` or ``"logit"``.
        lower: Lower bounds (used by ``"logit"`` features, NaN elsewhere).
        upper: Upper bounds (used by ``"logit"`` features, NaN elsewhere).
        mean: Location of the standardisation (after log/logit).
        std: Scale of the standardisation.
        discrete: Per feature, whether it is an integer observable.
        eps: The logit's epsilon.
    """

    names: list[str]
    kinds: list[str]
    lower: np.ndarray
    upper: np.ndarray
    mean: np.ndarray
    std: np.ndarray
    discrete: np.ndarray
    eps: float = 1e-6
    _cache: dict = field(default_factory=dict, repr=False, compare=False)

    @property
    def dim(self) -> int:
        return len(self.names)

    @classmethod
    def fit(
        cls,
        x: np.ndarray,
        weights: np.ndarray | None,
        names: Sequence[str],
        *,
        bounds: Mapping[str, Sequence[float]] | None = None,
        positive: Sequence[str] = (),
        discrete: Sequence[str] = (),
        eps: float = 1e-6,
    ) -> Preprocessing:
        r"""Chooses the maps and fits the standardisation on ``x`` (weighted by ``|w|``).

        Arguments:
            x: The events, shape ``(n, d)`` (original observables).
            weights: The event weights (``None``: unit weights).
            names: The ``d`` feature names.
            bounds: ``{name: (lower, upper)}`` of bounded observables (logit map).
            positive: Names of strictly positive observables (log map).
            discrete: Names of integer observables (dequantised).
            eps: The logit's epsilon.
        """
        names = [str(n) for n in names]
        bounds = dict(bounds or {})
        check_names(list(bounds), names, "bounds")
        positive = check_names(positive, names, "positive")
        discrete = check_names(discrete, names, "discrete")
        both = sorted(set(bounds) & set(positive))
        if both:
            raise BadInputError(f"features {both} are given both bounds and positive; "
                                "choose one map per feature")
        d = len(names)
        kinds = [IDENTITY] * d
        lower = np.full(d, np.nan)
        upper = np.full(d, np.nan)
        for i, name in enumerate(names):
            if name in bounds:
                lo, hi = (float(v) for v in bounds[name])
                if not (np.isfinite(lo) and np.isfinite(hi) and lo < hi):
                    raise BadInputError(f"bounds of {name!r} must be finite with lower < upper, "
                                        f"got ({lo}, {hi})")
                kinds[i], lower[i], upper[i] = LOGIT, lo, hi
            elif name in positive:
                kinds[i] = LOG
        is_discrete = np.array([n in discrete for n in names], dtype=bool)
        pre = cls(names, kinds, lower, upper, np.zeros(d), np.ones(d), is_discrete, eps)
        x = np.asarray(x, dtype=np.float64)
        pre.check_domain(x)
        # fit the standardisation on the images of the dequantised midpoints x + 1/2
        xm = x + 0.5 * is_discrete
        y = pre._maps(torch.from_numpy(xm))[0].numpy()
        aw = np.ones(len(x)) if weights is None else np.abs(np.asarray(weights, np.float64))
        if aw.sum() <= 0:
            aw = np.ones(len(x))
        mean = np.average(y, axis=0, weights=aw)
        var = np.average((y - mean) ** 2, axis=0, weights=aw)
        std = np.sqrt(var)
        std = np.where(std > 0, std, 1.0)  # constant column: keep it, unit scale
        pre.mean, pre.std = mean, std
        pre._cache.clear()  # parameters changed: drop their tensor copies
        return pre

    # ------------------------------------------------------------------ checks

    def check_domain(self, x: np.ndarray, what: str = "features") -> None:
        r"""Raises :class:`BadInputError` when training data lie outside a map's domain."""
        for i, (name, kind) in enumerate(zip(self.names, self.kinds)):
            xi, disc = x[:, i], bool(self.discrete[i])
            # dequantised integers x + u, u in (0, 1), reach up to x + 1
            if kind == LOG:
                bad = (xi < 0) if disc else (xi <= 0)
                if bad.any():
                    raise BadInputError(f"{what}: {int(bad.sum())} events have {name} "
                                        f"{'< 0' if disc else '<= 0'} but {name!r} is "
                                        "declared positive (log map)")
            if kind == LOGIT:
                lo, hi = self.lower[i], self.upper[i]
                bad = ((xi < lo) | (xi + 1 > hi)) if disc else ((xi <= lo) | (xi >= hi))
                if bad.any():
                    top = xi.max() + (1 if disc else 0)
                    raise BadInputError(
                        f"{what}: {int(bad.sum())} events have {name} outside its bounds "
                        f"({lo:g}, {hi:g}); observed range [{xi.min():g}, {top:g}]"
                        + (" (dequantised: x + 1)" if disc else ""))

    # ------------------------------------------------------------------ maps

    def _params(self, ref: Tensor) -> tuple[Tensor, ...]:
        key = (ref.device, ref.dtype)
        if key not in self._cache:
            def as_t(a: np.ndarray) -> Tensor:
                return torch.as_tensor(np.asarray(a, np.float64), dtype=ref.dtype,
                                       device=ref.device)
            self._cache[key] = (as_t(self.lower), as_t(self.upper), as_t(self.mean),
                                as_t(self.std))
        return self._cache[key]

    def _index(self, kind: str) -> list[int]:
        return [i for i, k in enumerate(self.kinds) if k == kind]

    def _maps(self, x: Tensor) -> tuple[Tensor, Tensor]:
        r"""log/logit part: returns ``y`` and the per-event ``log|dy/dx|`` (-inf off-domain)."""
        lo, hi, _, _ = self._params(x)
        y = x.clone()
        ladj = torch.zeros(x.shape[:-1], dtype=x.dtype, device=x.device)
        li = self._index(LOG)
        if li:
            xl = x[..., li]
            ok = xl > 0
            xs = torch.where(ok, xl, torch.ones_like(xl))
            y[..., li] = torch.log(xs)
            ladj = ladj - torch.where(ok, torch.log(xs), torch.full_like(xs, -math.inf)).sum(-1)
        gi = self._index(LOGIT)
        if gi:
            a, b, eps = lo[gi], hi[gi], self.eps
            u = (x[..., gi] - a) / (b - a)
            ok = (u > 0) & (u < 1)
            u = eps + (1 - 2 * eps) * torch.where(ok, u, torch.full_like(u, 0.5))
            y[..., gi] = torch.log(u) - torch.log1p(-u)
            term = math.log(1 - 2 * eps) - torch.log(b - a) - torch.log(u) - torch.log1p(-u)
            term = torch.where(ok, term, torch.full_like(term, -math.inf))
            ladj = ladj + term.sum(-1)
        return y, ladj

    def forward(self, x: Tensor) -> tuple[Tensor, Tensor]:
        r"""Maps original observables to flow space.

        Arguments:
            x: The (dequantised) events, shape ``(..., d)``.

        Returns:
            ``z`` and the per-event ``log|det dz/dx|`` (``-inf`` outside a map's domain).
        """
        _, _, mean, std = self._params(x)
        y, ladj = self._maps(x)
        return (y - mean) / std, ladj - torch.log(std).sum()

    def inverse(self, z: Tensor) -> Tensor:
        r"""Maps flow-space points back to the original observables (no flooring).

        Logit features are clipped to their bounds: only the flow's probability of
        :math:`|z|` beyond :math:`\operatorname{logit}(\epsilon)` maps outside them.

        Arguments:
            z: Flow-space points, shape ``(..., d)``.
        """
        lo, hi, mean, std = self._params(z)
        y = z * std + mean
        x = y.clone()
        li = self._index(LOG)
        if li:
            x[..., li] = torch.exp(y[..., li])
        gi = self._index(LOGIT)
        if gi:
            a, b, eps = lo[gi], hi[gi], self.eps
            u = (torch.sigmoid(y[..., gi]) - eps) / (1 - 2 * eps)
            x[..., gi] = torch.minimum(torch.maximum(a + (b - a) * u, a), b)
        return x

    # ------------------------------------------------------------------ io

    def to_dict(self) -> dict[str, Any]:
        r"""The parameters as JSON-friendly lists (NaN bounds written as ``None``)."""
        def fl(a: np.ndarray) -> list[float | None]:
            return [None if not np.isfinite(v) else float(v) for v in np.asarray(a, float)]

        return {"names": list(self.names), "kinds": list(self.kinds), "lower": fl(self.lower),
                "upper": fl(self.upper), "mean": fl(self.mean), "std": fl(self.std),
                "discrete": [bool(v) for v in self.discrete], "eps": float(self.eps)}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Preprocessing:
        r"""Rebuilds a :class:`Preprocessing` written by :meth:`to_dict`."""
        def arr(v: Sequence[float | None]) -> np.ndarray:
            return np.array([np.nan if e is None else e for e in v], dtype=np.float64)

        return cls(list(data["names"]), list(data["kinds"]), arr(data["lower"]),
                   arr(data["upper"]), arr(data["mean"]), arr(data["std"]),
                   np.array(data["discrete"], dtype=bool), float(data["eps"]))
