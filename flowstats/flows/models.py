r"""Builds the zuko flows: spline (default) or affine autoregressive flows, RealNVP coupling
flows, or continuous flows, on a standard-normal or Student-t base.

Kinds (``kind``):

* ``"nsf"``: autoregressive rational-quadratic splines (the default);
* ``"maf"``: autoregressive affine transforms;
* ``"realnvp"``: affine coupling layers with alternating masks (zuko's :class:`~zuko.flows.RealNVP`;
  at least two features);
* ``"cnf"``: a continuous normalizing flow (FFJORD, zuko's :class:`~zuko.flows.CNF`): one neural
  ODE whose log-determinant is the exact trace of its Jacobian (``trace="exact"``) or
  Hutchinson's unbiased estimate (``trace="hutchinson"``, cheaper in many dimensions, noisy);
  ``transforms`` and ``bins`` do not apply. The ODE is integrated to the absolute and relative
  tolerances :data:`CNF_ATOL` and :data:`CNF_RTOL` (zuko's defaults are 1e-6 and 1e-5): on the
  4-feature dijet flow the looser ones train three times faster (about 3,300 against 1,100
  events/s on one core) to the same held-out log-density within 1e-4.

Activations (``activation``) of the transforms' networks: ``"relu"``, ``"elu"``, ``"silu"``,
``"gelu"`` or ``"tanh"``; None is zuko's choice (ReLU, ELU for the cnf). A conditional flow
evaluated at contexts it never saw (the sideband flow of a bump hunt, in the signal region)
interpolates across the gap with its networks: a ReLU network is piecewise linear in the
context, with kinks wherever training put them, a smooth one is smooth (see
:mod:`flowstats.anomaly.background`).

Bases (``base``): ``"normal"``, or ``"studentt"`` with ``nu`` degrees of freedom, as J. Tan
(ICML INNF 2020) uses for the discrete flows (nu = 1) so that events far in the tails do not have
a near-zero base density that blows up the gradients.

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
    | Density estimation using Real NVP (Dinh et al., 2016) https://arxiv.org/abs/1605.08803
    | FFJORD (Grathwohl et al., 2018) https://arxiv.org/abs/1810.01367
    | J. Tan, ICML INNF workshop 2020 (Student-t base, nu = 1)
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, fields, replace
from functools import partial
from typing import Any

import torch
import zuko

from ..exceptions import BadInputError

__all__ = ["ACTIVATIONS", "BASES", "CNF_ATOL", "CNF_RTOL", "KINDS", "TRACES", "Architecture",
           "build_flow", "check_architecture", "network_activation"]

#: flow kinds: autoregressive splines, autoregressive affine, affine coupling, continuous (FFJORD)
KINDS = ("nsf", "maf", "realnvp", "cnf")
#: base distributions: standard normal or Student-t
BASES = ("normal", "studentt")
#: divergence of the cnf in training: exact or Hutchinson's estimate
TRACES = ("exact", "hutchinson")
#: network activations by name
ACTIVATIONS = {"relu": torch.nn.ReLU, "elu": torch.nn.ELU, "silu": torch.nn.SiLU,
               "gelu": torch.nn.GELU, "tanh": torch.nn.Tanh}
#: absolute tolerance of the cnf's ODE solver
CNF_ATOL = 1e-4
#: relative tolerance of the cnf's ODE solver
CNF_RTOL = 1e-3


def _studentt(nu: torch.Tensor, loc: torch.Tensor, scale: torch.Tensor
              ) -> torch.distributions.Distribution:
    return torch.distributions.Independent(torch.distributions.StudentT(nu, loc, scale), 1)


def network_activation(kind: str, activation: str | None) -> str:
    r"""The activation a flow of ``kind`` is built with: ``activation``, or for None zuko's own
    (ReLU, ELU for the cnf)."""
    if activation is not None:
        return activation
    return "elu" if str(kind).lower() == "cnf" else "relu"


def check_architecture(kind: str, features: int, *, base: str = "normal", nu: float = 1.0,
                       trace: str = "exact", activation: str | None = None) -> str:
    r"""Checks the kind, base, trace and activation options; returns the kind in lower
    case."""
    kind = str(kind).lower()
    if kind not in KINDS:
        raise BadInputError(f"unknown flow kind {kind!r}; use one of {list(KINDS)}")
    if base not in BASES:
        raise BadInputError(f"unknown flow base {base!r}; use one of {list(BASES)}")
    if not float(nu) > 0:
        raise BadInputError(f"the Student-t base needs nu > 0, got nu={nu!r}")
    if trace not in TRACES:
        raise BadInputError(f"unknown trace {trace!r} of the cnf; use one of {list(TRACES)}")
    if activation is not None and activation not in ACTIVATIONS:
        raise BadInputError(f"unknown activation {activation!r}; use one of "
                            f"{list(ACTIVATIONS)} (or none: zuko's)")
    if kind == "realnvp" and features < 2:
        raise BadInputError("a realnvp (coupling) flow needs at least two features; use nsf or "
                            "maf for one")
    return kind


@dataclass(frozen=True)
class Architecture:
    r"""The architecture of a flow's zuko model (what :func:`build_flow` builds).

    Arguments:
        kind: ``"nsf"``, ``"maf"``, ``"realnvp"`` or ``"cnf"`` (see the module).
        transforms: The number of autoregressive or coupling transforms (not ``"cnf"``).
        hidden: The hidden layer sizes of each transform's network (the ODE's for ``"cnf"``).
        bins: The number of spline bins (``"nsf"`` only).
        base: ``"normal"`` or ``"studentt"``.
        nu: Degrees of freedom of the Student-t base.
        trace: ``"exact"`` or ``"hutchinson"`` log-determinant of the ``"cnf"``.
        activation: The networks' activation (a key of :data:`ACTIVATIONS`; None: zuko's).
    """

    kind: str = "nsf"
    transforms: int = 4
    hidden: Sequence[int] = (64, 64)
    bins: int = 8
    base: str = "normal"
    nu: float = 1.0
    trace: str = "exact"
    activation: str | None = None

    @classmethod
    def of(cls, architecture: Architecture | str | None = None, **overrides: Any
           ) -> Architecture:
        r"""``architecture`` (an :class:`Architecture`, a kind, or None: the defaults) with the
        keyword ``overrides`` of its fields; an unknown keyword is a :class:`TypeError`."""
        if architecture is None or isinstance(architecture, str):
            base = cls() if architecture is None else cls(kind=architecture)
        else:
            base = architecture
        unknown = sorted(set(overrides) - {f.name for f in fields(cls)})
        if unknown:
            raise TypeError(f"unexpected architecture keyword argument {unknown[0]!r}")
        return replace(base, **overrides)


def build_flow(
    architecture: Architecture | str,
    features: int,
    context: int = 0,
    *,
    bound: float = 5.0,
    seed: int = 0,
    **overrides: Any,
) -> zuko.flows.Flow:
    r"""Returns a freshly initialised zuko flow.

    Arguments:
        architecture: An :class:`Architecture`, or just its ``kind`` (``"nsf"``, ``"maf"``,
            ``"realnvp"`` or ``"cnf"``; see the module).
        features: The number of features.
        context: The number of context features.
        bound: The spline domain half-width :math:`B` (``"nsf"`` only).
        seed: Seeds the weight initialisation (the global torch RNG is left untouched).
        overrides: :class:`Architecture` fields (``transforms``, ``hidden``, ``bins``,
            ``base``, ``nu``, ``trace``, ``activation``) replacing those of ``architecture``.
    """
    a = Architecture.of(architecture, **overrides)
    kind, transforms, hidden, bins = a.kind, a.transforms, a.hidden, a.bins
    base, nu, trace, activation = a.base, a.nu, a.trace, a.activation
    kind = check_architecture(kind, features, base=base, nu=nu, trace=trace,
                              activation=activation)
    if features < 1:
        raise BadInputError("a flow needs at least one feature")
    if transforms < 1 or bins < 2 or any(int(h) < 1 for h in hidden):
        raise BadInputError(f"bad architecture: transforms={transforms} (>= 1), bins={bins} "
                            f"(>= 2), hidden={list(hidden)} (all >= 1)")
    hidden = tuple(int(h) for h in hidden)
    options = {"transforms": int(transforms), "hidden_features": hidden}
    act = {} if activation is None else {"activation": ACTIVATIONS[activation]}
    options.update(act)
    if kind == "nsf":
        univariate = partial(zuko.transforms.MonotonicRQSTransform, bound=float(bound),
                             slope=1e-3)
        options.update(univariate=univariate, shapes=[(bins,), (bins,), (bins - 1,)])
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(int(seed))
        if kind == "realnvp":
            flow = zuko.flows.RealNVP(int(features), int(context), **options)
        elif kind == "cnf":
            flow = zuko.flows.CNF(int(features), int(context), hidden_features=hidden,
                                  exact=trace == "exact", atol=CNF_ATOL, rtol=CNF_RTOL, **act)
        else:
            flow = zuko.flows.MAF(int(features), int(context), **options)
    if base == "studentt":
        flow.base = zuko.flows.UnconditionalDistribution(
            _studentt, torch.full((int(features),), float(nu)), torch.zeros(int(features)),
            torch.ones(int(features)), buffer=True)
    return flow
