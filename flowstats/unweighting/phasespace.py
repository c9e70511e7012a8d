r"""Phase-space coordinates of whole events: four-vectors <-> flow coordinates, exactly.

A category of events (fixed particle content, see :func:`category_key`; lepton generations
merged, :func:`particle_class`) has ``a`` non-parton final-state particles (leptons, photons,
neutrinos, ...; canonical order by class) and ``k`` partons (quarks and gluons, ordered by pT). Its events are mapped onto coordinates that build
in what physics requires, so that *every* point a flow generates is a physical event:

* **on-shell masses**: particles are built from (pT or a pair's rest-frame momentum, rapidity,
  azimuth) and their mass, never from four free momentum components;
* **momentum conservation**: the final state's total transverse momentum is zero by
  construction (the incoming partons move along the beams); the incoming partons' momenta
  (and so the momentum fractions :math:`x_{1,2} = (E \pm p_z)/\sqrt{s}`) follow from the
  final state (:func:`incoming`);
* **azimuthal symmetry**: every event is rotated so that a reference particle has
  :math:`\phi = 0` (the leading parton, or the first particle without partons); the sampled
  events get a uniform random rotation back, so the generated sample is exactly symmetric.

Two parametrisations:

``pair`` (exactly two non-parton particles, e.g. the l+ l- of Drell-Yan + jets)
    the pair's mass ``m`` and rapidity ``y``; the decay angles ``cos_theta``, ``phi`` of the
    first particle in the pair rest frame (reached by the rotation-free boost from the lab,
    angles w.r.t. the lab axes); per parton ``pt_j<i>``, ``y_j<i>`` and for the second and later
    partons the azimuth ``phi_j<i>`` (relative to parton 1). The pair's transverse momentum is
    minus the partons' sum. Without partons the pair is at rest transversely and ``phi`` is the
    rotation reference, so it is not a coordinate: (m, y, cos_theta), i.e. the 2 -> 2 phase
    space.

``generic`` (any other content)
    per particle ``pt_<i>``, ``y_<i>``, ``phi_<i>``; the reference particle's azimuth is 0 (not a
    coordinate) and the last non-parton particle (the last parton when there is none) balances
    the transverse momentum, so only its rapidity is a coordinate.

Both give :math:`3n - 2` coordinates for ``n`` final-state particles (one of the :math:`3n - 1`
degrees of freedom, the overall azimuth, is sampled uniformly).

References:
    | J. C. Collins and D. E. Soper, "Angular distribution of dileptons in high-energy hadron
    | collisions", Phys. Rev. D 16 (1977) 2219 (the Collins-Soper frame of :func:`cos_theta_cs`).
    | B. Stienen and R. Verheyen, "Phase space sampling and inference from weighted events with
    | autoregressive flows", SciPost Phys. 10 (2021) 038, arXiv:2011.13445.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from ..exceptions import BadInputError

__all__ = ["CHARGED_LEPTONS", "NEUTRINOS", "PARTONS", "Topology", "boost", "category_key",
           "cos_theta_cs", "incoming", "invariant_mass", "particle_class", "rapidity"]

#: ``|PDG id|`` of partons (quarks and gluons): interchangeable "jets" within a category
PARTONS = (1, 2, 3, 4, 5, 6, 21)
#: ``|PDG id|`` of the charged leptons and of the neutrinos (one class each, see
#: :func:`particle_class`)
CHARGED_LEPTONS = (11, 13, 15)
NEUTRINOS = (12, 14, 16)


def particle_class(pids: np.ndarray | Sequence[int] | int) -> np.ndarray:
    r"""PDG ids with the lepton generations merged (lepton universality): every charged lepton
    becomes :math:`\pm 11`, every neutrino :math:`\pm 12`, keeping the sign; other ids stay.

    Events that differ only in their lepton flavours share a category (and its flows); the
    flavours are part of each event's record template, with its exact weighted fraction.

    Arguments:
        pids: PDG ids.
    """
    pids = np.asarray(pids, dtype=np.int64)
    a, sign = np.abs(pids), np.sign(pids)
    return np.where(np.isin(a, CHARGED_LEPTONS), 11 * sign,
                    np.where(np.isin(a, NEUTRINOS), 12 * sign, pids))


def category_key(pids: Sequence[int]) -> tuple[tuple[int, ...], int]:
    r"""The particle content of a final state: (sorted classes of the non-parton particles,
    :func:`particle_class`, and the number of partons).

    Arguments:
        pids: PDG ids of the final-state particles of one event.
    """
    pids = [int(p) for p in pids]
    others = tuple(sorted(int(c) for p, c in zip(pids, particle_class(pids))
                          if abs(p) not in PARTONS))
    return others, sum(1 for p in pids if abs(p) in PARTONS)


def rapidity(p4: np.ndarray) -> np.ndarray:
    r"""Rapidity :math:`\frac12 \ln\frac{E + p_z}{E - p_z}` of ``(..., 4)`` four-vectors
    ``(px, py, pz, E)``."""
    e, pz = p4[..., 3], p4[..., 2]
    with np.errstate(divide="ignore", invalid="ignore"):
        return 0.5 * np.log((e + pz) / (e - pz))


def invariant_mass(p4: np.ndarray) -> np.ndarray:
    r"""Invariant mass of ``(..., 4)`` four-vectors (0 where slightly space-like by rounding)."""
    m2 = p4[..., 3] ** 2 - p4[..., 0] ** 2 - p4[..., 1] ** 2 - p4[..., 2] ** 2
    return np.sqrt(np.clip(m2, 0.0, None))


def boost(p4: np.ndarray, beta: np.ndarray) -> np.ndarray:
    r"""Lorentz boost of ``(n, 4)`` four-vectors by the velocities ``(n, 3)``.

    Arguments:
        p4: Four-vectors ``(px, py, pz, E)``.
        beta: Boost velocity of each (a particle at rest ends up moving with ``beta``).
    """
    b2 = np.sum(beta * beta, axis=-1)
    gamma = 1.0 / np.sqrt(1.0 - b2)
    bp = np.sum(beta * p4[:, :3], axis=-1)
    with np.errstate(divide="ignore", invalid="ignore"):
        g2 = np.where(b2 > 0, (gamma - 1.0) / b2, 0.0)
    p = p4[:, :3] + (g2 * bp + gamma * p4[:, 3])[:, None] * beta
    return np.column_stack([p, gamma * (p4[:, 3] + bp)])


def _kallen_momentum(m: np.ndarray, m1: np.ndarray, m2: np.ndarray) -> np.ndarray:
    """Momentum of each daughter in a two-body decay of mass m (0 below threshold)."""
    lam = (m * m - (m1 + m2) ** 2) * (m * m - (m1 - m2) ** 2)
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(m > 0, np.sqrt(np.clip(lam, 0.0, None)) / (2.0 * m), 0.0)


def _from_pt_y_phi(pt: np.ndarray, y: np.ndarray, phi: np.ndarray, m: np.ndarray
                   ) -> np.ndarray:
    mt = np.sqrt(pt * pt + m * m)
    return np.column_stack([pt * np.cos(phi), pt * np.sin(phi), mt * np.sinh(y),
                            mt * np.cosh(y)])


def _rotate_z(p4: np.ndarray, angle: np.ndarray) -> np.ndarray:
    """Rotates ``(n, k, 4)`` four-vectors by ``angle`` (n,) about the beam axis."""
    c, s = np.cos(angle)[:, None], np.sin(angle)[:, None]
    out = p4.copy()
    out[..., 0] = c * p4[..., 0] - s * p4[..., 1]
    out[..., 1] = s * p4[..., 0] + c * p4[..., 1]
    return out


def _wrap(phi: np.ndarray) -> np.ndarray:
    return (phi + np.pi) % (2.0 * np.pi) - np.pi


def incoming(final: np.ndarray, masses: np.ndarray | Sequence[float] = (0.0, 0.0)
             ) -> np.ndarray:
    r"""The two incoming partons of final states with zero total transverse momentum.

    The final state's total four-momentum ``(0, 0, P_z, E)`` is shared by two on-shell partons
    moving along +z (first) and -z (second): back-to-back in the rest frame of the final state
    (two-body kinematics with their masses), boosted along z.

    Arguments:
        final: ``(n, k, 4)`` final-state four-vectors ``(px, py, pz, E)``.
        masses: ``(2,)`` or ``(n, 2)`` masses of the incoming partons.

    Returns:
        ``(n, 2, 4)`` four-vectors of the incoming partons.
    """
    total = final.sum(axis=1)
    e, pz = total[:, 3], total[:, 2]
    m = np.sqrt(np.clip(e * e - pz * pz, 0.0, None))
    masses = np.broadcast_to(np.asarray(masses, dtype=np.float64), (len(final), 2))
    q = _kallen_momentum(m, masses[:, 0], masses[:, 1])
    beta = np.column_stack([np.zeros_like(e), np.zeros_like(e), pz / e])
    out = np.empty((len(final), 2, 4))
    for i, sign in ((0, 1.0), (1, -1.0)):
        rest = np.column_stack([np.zeros_like(q), np.zeros_like(q), sign * q,
                                np.sqrt(q * q + masses[:, i] ** 2)])
        out[:, i] = boost(rest, beta)
    return out


def cos_theta_cs(p_minus: np.ndarray, p_plus: np.ndarray) -> np.ndarray:
    r"""Collins-Soper :math:`\cos\theta` of a pair (``p_minus``: the negatively charged lepton),
    signed by the pair's longitudinal direction.

    Arguments:
        p_minus: ``(n, 4)`` four-vectors of the negative lepton.
        p_plus: ``(n, 4)`` four-vectors of the positive lepton.
    """
    pair = p_minus + p_plus
    m = invariant_mass(pair)
    pt2 = pair[:, 0] ** 2 + pair[:, 1] ** 2

    def lc(p: np.ndarray, sign: float) -> np.ndarray:
        return (p[:, 3] + sign * p[:, 2]) / np.sqrt(2.0)

    num = 2.0 * (lc(p_minus, 1) * lc(p_plus, -1) - lc(p_minus, -1) * lc(p_plus, 1))
    with np.errstate(divide="ignore", invalid="ignore"):
        c = num / (m * np.sqrt(m * m + pt2))
    return np.sign(pair[:, 2]) * c


@dataclass(frozen=True)
class Topology:
    r"""The coordinates of one category's final states (see the module docstring).

    Arguments:
        others: Classes (:func:`particle_class`) of the non-parton final-state particles,
            sorted (canonical order).
        partons: Number of partons.
    """

    others: tuple[int, ...]
    partons: int

    def __post_init__(self) -> None:
        if len(self.others) + self.partons < 2:
            raise BadInputError(f"a final state needs at least two particles, got "
                                f"{self.others} and {self.partons} partons")

    @property
    def n(self) -> int:
        r"""Number of final-state particles."""
        return len(self.others) + self.partons

    @property
    def kind(self) -> str:
        r"""``"pair"`` or ``"generic"``."""
        return "pair" if len(self.others) == 2 else "generic"

    @property
    def label(self) -> str:
        r"""A readable name, e.g. ``-11 11 + 1j``."""
        return " ".join(str(p) for p in self.others) + f" + {self.partons}j"

    @property
    def names(self) -> list[str]:
        r"""Coordinate names, in column order."""
        k = self.partons
        if self.kind == "pair":
            names = ["m", "y", "cos_theta"] + (["phi"] if k else [])
            for j in range(1, k + 1):
                names += [f"pt_j{j}", f"y_j{j}"] + ([f"phi_j{j}"] if j > 1 else [])
            return names
        labels = [f"{i + 1}" for i in range(len(self.others))] + \
                 [f"j{j + 1}" for j in range(k)]
        ref, bal = self._reference(), self._balancing()
        names = []
        for i, lab in enumerate(labels):
            if i == bal:
                names.append(f"y_{lab}")
                continue
            names += [f"pt_{lab}", f"y_{lab}"] + ([] if i == ref else [f"phi_{lab}"])
        return names

    @property
    def bounds(self) -> dict[str, tuple[float, float]]:
        r"""Coordinates with a bounded range (angles, cosines)."""
        out = {}
        for name in self.names:
            if name == "cos_theta":
                out[name] = (-1.0, 1.0)
            elif name.startswith("phi"):
                out[name] = (-np.pi, np.pi)
        return out

    @property
    def positive(self) -> list[str]:
        r"""Strictly positive coordinates (masses and transverse momenta)."""
        return [n for n in self.names if n == "m" or n.startswith("pt_")]

    def _reference(self) -> int:
        return len(self.others) if self.partons else 0

    def _balancing(self) -> int:
        return len(self.others) - 1 if self.others else self.n - 1

    # ------------------------------------------------------------------ order

    def canonical(self, pids: np.ndarray, p4: np.ndarray) -> np.ndarray:
        r"""Indices putting each event's particles in canonical order (non-partons by PDG id
        as in ``others``, then partons by decreasing pT).

        Arguments:
            pids: ``(n, k)`` PDG ids of the final-state particles.
            p4: ``(n, k, 4)`` their four-vectors.
        """
        is_parton = np.isin(np.abs(pids), PARTONS)
        pt = np.hypot(p4[..., 0], p4[..., 1])
        classes = particle_class(pids)
        # non-partons first, by class; then partons by decreasing pT
        key = np.where(is_parton, 1e9 - pt, classes.astype(np.float64) - 1e9)
        order = np.argsort(key, axis=1, kind="stable")
        got = np.take_along_axis(classes, order, axis=1)[:, :len(self.others)]
        if len(self.others) and not np.all(got == np.array(self.others)):
            raise BadInputError(f"events of category {self.label} hold other particles")
        return order

    # ------------------------------------------------------------------ coordinates

    def encode(self, p4: np.ndarray) -> np.ndarray:
        r"""Coordinates ``(n, d)`` of final states in canonical order.

        Arguments:
            p4: ``(n, k, 4)`` four-vectors ``(px, py, pz, E)`` in canonical order.
        """
        p4 = np.asarray(p4, dtype=np.float64)
        ref = self._reference()
        angle = -np.arctan2(p4[:, ref, 1], p4[:, ref, 0])
        p4 = _rotate_z(p4, angle)
        a, k = len(self.others), self.partons
        cols: list[np.ndarray] = []
        if self.kind == "pair":
            pair = p4[:, 0] + p4[:, 1]
            cols += [invariant_mass(pair), rapidity(pair)]
            rest = boost(p4[:, 0], -pair[:, :3] / pair[:, 3:4])
            cols.append(rest[:, 2] / np.linalg.norm(rest[:, :3], axis=1))
            if k:
                cols.append(np.arctan2(rest[:, 1], rest[:, 0]))
            for j in range(k):
                p = p4[:, a + j]
                cols += [np.hypot(p[:, 0], p[:, 1]), rapidity(p)]
                if j:
                    cols.append(np.arctan2(p[:, 1], p[:, 0]))
        else:
            bal = self._balancing()
            for i in range(self.n):
                p = p4[:, i]
                if i == bal:
                    cols.append(rapidity(p))
                    continue
                cols += [np.hypot(p[:, 0], p[:, 1]), rapidity(p)]
                if i != ref:
                    cols.append(np.arctan2(p[:, 1], p[:, 0]))
        return np.column_stack(cols)

    def decode(self, coords: np.ndarray, masses: np.ndarray, phi0: np.ndarray | None = None
               ) -> np.ndarray:
        r"""Final-state four-vectors ``(n, k, 4)`` (canonical order) of coordinates.

        Arguments:
            coords: ``(n, d)`` coordinates (columns as :attr:`names`).
            masses: ``(k,)`` or ``(n, k)`` masses of the particles, canonical order.
            phi0: ``(n,)`` azimuth of the reference particle (None: 0); draw it uniformly in
                :math:`[-\pi, \pi)` for a generated sample.
        """
        coords = np.asarray(coords, dtype=np.float64)
        n = len(coords)
        masses = np.broadcast_to(np.asarray(masses, dtype=np.float64), (n, self.n))
        col = {name: coords[:, i] for i, name in enumerate(self.names)}
        a, k = len(self.others), self.partons
        out = np.zeros((n, self.n, 4))
        if self.kind == "pair":
            zero = np.zeros(n)
            for j in range(k):
                phi = col.get(f"phi_j{j + 1}", zero)
                out[:, a + j] = _from_pt_y_phi(col[f"pt_j{j + 1}"], col[f"y_j{j + 1}"], phi,
                                               masses[:, a + j])
            ptx = -out[:, a:, 0].sum(axis=1) if k else zero
            pty = -out[:, a:, 1].sum(axis=1) if k else zero
            m, y = col["m"], col["y"]
            mt = np.sqrt(m * m + ptx * ptx + pty * pty)
            pair = np.column_stack([ptx, pty, mt * np.sinh(y), mt * np.cosh(y)])
            q = _kallen_momentum(m, masses[:, 0], masses[:, 1])
            c = np.clip(col["cos_theta"], -1.0, 1.0)
            s = np.sqrt(1.0 - c * c)
            phi = col.get("phi", zero)
            d = np.column_stack([q * s * np.cos(phi), q * s * np.sin(phi), q * c])
            beta = pair[:, :3] / pair[:, 3:4]
            for i, sign in ((0, 1.0), (1, -1.0)):
                rest = np.column_stack([sign * d, np.sqrt(q * q + masses[:, i] ** 2)])
                out[:, i] = boost(rest, beta)
        else:
            ref, bal = self._reference(), self._balancing()
            labels = [f"{i + 1}" for i in range(a)] + [f"j{j + 1}" for j in range(k)]
            for i, lab in enumerate(labels):
                if i == bal:
                    continue
                phi = np.zeros(n) if i == ref else col[f"phi_{lab}"]
                out[:, i] = _from_pt_y_phi(col[f"pt_{lab}"], col[f"y_{lab}"], phi, masses[:, i])
            px, py = -out[:, :, 0].sum(axis=1), -out[:, :, 1].sum(axis=1)
            out[:, bal] = _from_pt_y_phi(np.hypot(px, py), col[f"y_{labels[bal]}"],
                                         np.arctan2(py, px), masses[:, bal])
        if phi0 is not None:
            out = _rotate_z(out, np.asarray(phi0, dtype=np.float64))
        return out

    def momentum_fractions(self, coords: np.ndarray, masses: np.ndarray, sqrt_s: float
                           ) -> tuple[np.ndarray, np.ndarray]:
        r"""The incoming momentum fractions :math:`x_{1,2} = (E \pm p_z)/\sqrt{s}` of the
        final states of ``coords`` (NaN where a coordinate row is not finite or below the
        pair's threshold).

        Arguments:
            coords: ``(n, d)`` coordinates.
            masses: ``(k,)`` or ``(n, k)`` final-state masses, canonical order.
            sqrt_s: Collision energy (GeV).
        """
        coords = np.asarray(coords, dtype=np.float64)
        ok = np.all(np.isfinite(coords), axis=1)
        masses = np.broadcast_to(np.asarray(masses, dtype=np.float64), (len(coords), self.n))
        if self.kind == "pair":
            ok &= coords[:, 0] >= masses[:, 0] + masses[:, 1]
        safe = np.where(ok[:, None], coords, 0.0)
        if self.kind == "pair":
            safe[~ok, 0] = masses[~ok, 0] + masses[~ok, 1] + 1.0
        total = self.decode(safe, masses).sum(axis=1)
        x1 = np.where(ok, (total[:, 3] + total[:, 2]) / sqrt_s, np.nan)
        x2 = np.where(ok, (total[:, 3] - total[:, 2]) / sqrt_s, np.nan)
        return x1, x2

    def physical(self, coords: np.ndarray, masses: np.ndarray, sqrt_s: float) -> np.ndarray:
        r"""Which coordinate rows are physical events: finite, above the pair's threshold,
        with momentum fractions :math:`x_{1,2} \le 1` at the collision energy ``sqrt_s``.

        Arguments:
            coords: ``(n, d)`` coordinates.
            masses: ``(k,)`` or ``(n, k)`` final-state masses, canonical order.
            sqrt_s: Collision energy (GeV).
        """
        x1, x2 = self.momentum_fractions(coords, masses, sqrt_s)
        with np.errstate(invalid="ignore"):
            return np.isfinite(x1) & np.isfinite(x2) & (x1 <= 1.0) & (x2 <= 1.0)
