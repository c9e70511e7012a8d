r"""Smooth background functions for binned spectrum fits.

Every function here is *log-linear* in its parameters: the density (events per unit of the
observable) is

.. math:: f(m; p) = \exp\Big(\sum_k p_k B_k(m)\Big),

with a fixed basis :math:`B_k`. This covers

* the dijet functions of the ATLAS/CMS dijet searches, in :math:`x = m/\sqrt{s}`
  (:math:`\sqrt{s}` = 13 TeV unless given):

  - ``dijet3``: :math:`p_0 (1-x)^{p_1} x^{p_2}`,
  - ``dijet4``: :math:`p_0 (1-x)^{p_1} x^{p_2 + p_3 \ln x}`,
  - ``dijet5``: :math:`p_0 (1-x)^{p_1} x^{p_2 + p_3 \ln x + p_4 \ln^2 x}`,

  (parameter ``p0`` is stored as :math:`\ln p_0`, so the basis is
  :math:`1, \ln(1-x), \ln x, \ln^2 x, \ln^3 x`);
* the exponential-of-a-polynomial family ``expo1`` ... ``expo6``:
  :math:`\exp(p_0 + p_1 t + \dots + p_{n-1} t^{n-1})` with :math:`t = (m - m_{lo}) /
  (m_{hi} - m_{lo})` over the histogram range (``expo2`` is a plain exponential);
* the power-law family ``power2`` ... ``power4``: :math:`\exp(p_0 + p_1 u + p_2 u^2 + \dots)`
  with :math:`u = \ln(m / m_{lo}) / \ln(m_{hi} / m_{lo})` (``power2`` is a plain power law
  :math:`m^{-a}`), for spectra in any units (no :math:`\sqrt{s}`).

Being log-linear, every function has good starting values from a weighted linear least-squares
fit of :math:`\ln(n_i / w_i)` on the bin centres, and analytic parameter derivatives
(:math:`\partial f / \partial p_k = B_k f`), which the binned fits of :mod:`flowstats.stats.background_fit`
use. Bin contents are integrals of :math:`f` over each bin by Gauss-Legendre quadrature.

References:
    ATLAS Collaboration, Phys. Rev. D 96 (2017) 052004, arXiv:1703.09127 (dijet functions);
    CMS Collaboration, JHEP 05 (2020) 033, arXiv:1911.03947.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np

from ..exceptions import BadInputError, ConfigError, closest
from ..registry import FIT_FAMILIES, DerivedMapping, FitFamily

log = logging.getLogger(__name__)

__all__ = ["FAMILIES", "FUNCTIONS", "SQRT_S", "BackgroundFunction", "get_function"]

#: default centre-of-mass energy in GeV, for x = m / sqrt(s)
SQRT_S = 13000.0


@dataclass(frozen=True)
class BackgroundFunction:
    r"""A log-linear background density :math:`\exp(\sum_k p_k B_k(m))`.

    Arguments:
        name: The registry name (``dijet4``, ``expo3``, ...).
        kind: The name of its :class:`~flowstats.registry.FitFamily`: ``"dijet"`` (basis in
            x = m/sqrt(s)), ``"expo"`` (polynomial in t), ``"power"`` (polynomial in a
            log-scaled u) or a plugin's family.
        npar: The number of parameters.
    """

    name: str
    kind: str
    npar: int

    @property
    def param_names(self) -> list[str]:
        return [f"p{k}" for k in range(self.npar)]

    def basis(self, m: np.ndarray, *, sqrt_s: float = SQRT_S,
              domain: tuple[float, float] | None = None) -> np.ndarray:
        r"""The basis functions at ``m``, shape ``m.shape + (npar,)`` (those of its family,
        :class:`~flowstats.registry.FitFamily` ``kind`` of
        :data:`~flowstats.registry.FIT_FAMILIES`).

        Arguments:
            m: Values of the observable (GeV for the dijet functions).
            sqrt_s: The centre-of-mass energy (dijet functions only).
            domain: ``(m_lo, m_hi)`` mapped to t in [0, 1] (expo and power families).
        """
        m = np.asarray(m, dtype=float)
        return FIT_FAMILIES.get(self.kind).basis(self, m, sqrt_s=sqrt_s, domain=domain)

    def __call__(self, m: np.ndarray, params: np.ndarray, *, sqrt_s: float = SQRT_S,
                 domain: tuple[float, float] | None = None) -> np.ndarray:
        r"""The density at ``m`` (events per unit of m)."""
        return np.exp(self.basis(m, sqrt_s=sqrt_s, domain=domain) @ np.asarray(params, float))


def _dijet_basis(function: BackgroundFunction, m: np.ndarray, *, sqrt_s: float = SQRT_S,
                 domain: tuple[float, float] | None = None) -> np.ndarray:
    r"""Basis of the dijet family: 1, ln(1 - x), ln x, ln^2 x, ... with x = m / sqrt(s).

    Arguments:
        function: The function (its ``name`` and ``npar``).
        m: Values of the observable.
        sqrt_s: The centre-of-mass energy.
        domain: Unused (the dijet functions are defined in x).
    """
    x = m / float(sqrt_s)
    if np.any(x <= 0) or np.any(x >= 1):
        raise BadInputError(
            f"{function.name}: x = m/sqrt(s) must lie in (0, 1), got m in "
            f"[{m.min():g}, {m.max():g}] with sqrt(s) = {sqrt_s:g}")
    lx = np.log(x)
    cols = [np.ones_like(x), np.log1p(-x), lx]
    for k in range(function.npar - 3):
        cols.append(lx ** (k + 2))
    return np.stack(cols, axis=-1)


def _domain(m: np.ndarray, domain: tuple[float, float] | None) -> tuple[float, float]:
    return (float(np.min(m)), float(np.max(m))) if domain is None else domain


def _expo_basis(function: BackgroundFunction, m: np.ndarray, *, sqrt_s: float = SQRT_S,
                domain: tuple[float, float] | None = None) -> np.ndarray:
    r"""Basis of the exponential-polynomial family: t^k with t = (m - lo) / (hi - lo).

    Arguments:
        function: The function (its ``npar``).
        m: Values of the observable.
        sqrt_s: Unused.
        domain: ``(lo, hi)``; the range of ``m`` if None.
    """
    lo, hi = _domain(m, domain)
    t = (m - lo) / (hi - lo)
    return np.stack([t**k for k in range(function.npar)], axis=-1)


def _power_basis(function: BackgroundFunction, m: np.ndarray, *, sqrt_s: float = SQRT_S,
                 domain: tuple[float, float] | None = None) -> np.ndarray:
    r"""Basis of the power-law family: u^k with u = ln(m / lo) / ln(hi / lo).

    Arguments:
        function: The function (its ``name`` and ``npar``).
        m: Values of the observable (> 0).
        sqrt_s: Unused.
        domain: ``(lo, hi)``; the range of ``m`` if None.
    """
    lo, hi = _domain(m, domain)
    if lo <= 0 or np.any(m <= 0):
        raise BadInputError(f"{function.name}: a power law needs m > 0, got m in "
                            f"[{min(lo, float(np.min(m))):g}, {hi:g}]")
    t = np.log(m / lo) / np.log(hi / lo)
    return np.stack([t**k for k in range(function.npar)], axis=-1)


FIT_FAMILIES.register(FitFamily(
    "dijet", _dijet_basis, orders=(3, 4, 5), auto=(3, 4, 5),
    description="p0 (1-x)^p1 x^(p2 + p3 ln x + p4 ln^2 x), x = m/sqrt(s) (ATLAS/CMS dijet)"))
FIT_FAMILIES.register(FitFamily(
    "expo", _expo_basis, orders=(1, 2, 3, 4, 5, 6), auto=(2, 3, 4),
    description="exp(p0 + p1 t + ... ), t = (m - lo) / (hi - lo)"))
FIT_FAMILIES.register(FitFamily(
    "power", _power_basis, orders=(2, 3, 4), auto=(2, 3, 4),
    description="exp(p0 + p1 u + ... ), u = ln(m / lo) / ln(hi / lo) (power2: m^-a)"))


def _functions() -> dict[str, BackgroundFunction]:
    return {name: BackgroundFunction(name, family.name, n)
            for family in FIT_FAMILIES for name, n in zip(family.functions, family.orders)}


#: the families ``function: auto`` chooses among, each a nested sequence (fewest parameters
#: first) whose order is chosen by an F-test on the sidebands (derived from the ``auto``
#: orders of :data:`~flowstats.registry.FIT_FAMILIES`)
FAMILIES: Mapping[str, tuple[str, ...]] = DerivedMapping(
    lambda: {f.name: tuple(f"{f.name}{n}" for n in f.auto) for f in FIT_FAMILIES if f.auto},
    FIT_FAMILIES)


#: name -> function (every order of every family of :data:`~flowstats.registry.FIT_FAMILIES`)
FUNCTIONS: Mapping[str, BackgroundFunction] = DerivedMapping(_functions, FIT_FAMILIES)


def get_function(name: str | BackgroundFunction) -> BackgroundFunction:
    r"""Looks a background function up by name (``dijet3/4/5``, ``expo1`` ... ``expo6``).

    Arguments:
        name: The name, or a :class:`BackgroundFunction` (returned as is).
    """
    if isinstance(name, BackgroundFunction):
        return name
    try:
        return FUNCTIONS[str(name)]
    except KeyError:
        hint = closest(str(name), FUNCTIONS)
        raise ConfigError(
            f"unknown background function {name!r}; known: {', '.join(FUNCTIONS)}"
            + (f" (did you mean {hint[0]!r}?)" if hint else "")) from None


class BinIntegrator:
    r"""Bin integrals of a log-linear function by Gauss-Legendre quadrature.

    The basis is evaluated once at the quadrature nodes, so each evaluation is one matrix
    product: fast enough for minuit's many calls.

    Arguments:
        function: The background function.
        edges: The bin edges.
        sqrt_s: The centre-of-mass energy (dijet functions).
        domain: The range mapped to t in [0, 1] (expo functions); the edges' range by default.
        nodes: Gauss-Legendre nodes per bin.
    """

    def __init__(self, function: BackgroundFunction, edges: np.ndarray, *,
                 sqrt_s: float = SQRT_S, domain: tuple[float, float] | None = None,
                 nodes: int = 5):
        self.function = function
        self.edges = np.asarray(edges, dtype=float)
        self.domain = domain or (float(self.edges[0]), float(self.edges[-1]))
        u, w = np.polynomial.legendre.leggauss(nodes)
        lo, hi = self.edges[:-1, None], self.edges[1:, None]
        half = 0.5 * (hi - lo)
        m = 0.5 * (hi + lo) + half * u[None, :]           # (nbins, nodes)
        self.weights = half * w[None, :]                  # (nbins, nodes)
        self.basis = function.basis(m, sqrt_s=sqrt_s, domain=self.domain)  # (nbins, nodes, k)

    def integrals(self, params: np.ndarray) -> np.ndarray:
        r"""Expected counts per bin."""
        return np.sum(self.weights * np.exp(self.basis @ np.asarray(params, float)), axis=1)

    def jacobian(self, params: np.ndarray) -> np.ndarray:
        r"""Derivatives of the bin integrals, shape ``(npar, nbins)``."""
        f = self.weights * np.exp(self.basis @ np.asarray(params, float))
        return np.einsum("bn,bnk->kb", f, self.basis)

    def start(self, counts: np.ndarray, mask: np.ndarray | None = None) -> np.ndarray:
        r"""Starting values from a weighted linear least-squares fit of ln(n/width).

        Arguments:
            counts: The bin contents.
            mask: Bins to use (default: all with positive counts).
        """
        counts = np.asarray(counts, float)
        use = counts > 0
        if mask is not None:
            use &= mask
        if use.sum() < self.function.npar:
            raise BadInputError(
                f"{self.function.name}: only {int(use.sum())} fitted bins with entries for "
                f"{self.function.npar} parameters")
        nodes = self.basis.shape[1]
        b = self.basis[:, nodes // 2, :] if nodes % 2 else self.basis.mean(axis=1)
        width = np.diff(self.edges)
        y = np.log(counts[use] / width[use])
        sw = np.sqrt(counts[use])  # var(ln n) ~ 1/n
        a = b[use] * sw[:, None]
        p, *_ = np.linalg.lstsq(a, y * sw, rcond=None)
        # fix the normalisation exactly on the fitted bins
        pred = self.integrals(p)
        total = counts[use].sum()
        pred_total = pred[use].sum()
        if np.isfinite(pred_total) and pred_total > 0:
            p[0] += np.log(total / pred_total)
        return p
