"""Phase-space coordinates of whole events (flowstats.unweighting.phasespace)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from flowstats.exceptions import BadInputError
from flowstats.unweighting.phasespace import (
    Topology,
    boost,
    category_key,
    cos_theta_cs,
    incoming,
    invariant_mass,
    rapidity,
)

FXFX = Path(__file__).resolve().parents[1].parent / "shared" / "data" / \
    "zjets_fxfx_mg5amcnlo_7tev.lhe.gz"


def _random_coords(topo: Topology, n: int, rng: np.random.Generator) -> np.ndarray:
    cols = []
    for name in topo.names:
        if name == "m":
            cols.append(rng.uniform(60, 120, n))
        elif name.startswith("pt"):
            cols.append(rng.exponential(30, n) + 1)
        elif name.startswith("y"):
            cols.append(rng.normal(0, 1.5, n))
        elif name == "cos_theta":
            cols.append(rng.uniform(-1, 1, n))
        else:
            cols.append(rng.uniform(-np.pi, np.pi, n))
    return np.column_stack(cols)


@pytest.mark.parametrize("others,partons", [((-11, 11), 0), ((-11, 11), 1), ((-11, 11), 2),
                                            ((22,), 2), ((), 3), ((-11, 12, 22), 1)])
def test_exact_round_trip_and_physics(others, partons):
    rng = np.random.default_rng(1)
    topo = Topology(others, partons)
    assert len(topo.names) == 3 * topo.n - 3  # 3n - 2 degrees of freedom, one azimuth
    masses = np.array([0.000511 if abs(p) == 11 else 0.0 for p in others] + [0.33] * partons)
    x = _random_coords(topo, 2000, rng)
    phi0 = rng.uniform(-np.pi, np.pi, len(x))
    p4 = topo.decode(x, masses, phi0)
    # on-shell, zero total transverse momentum
    m2 = p4[..., 3] ** 2 - np.sum(p4[..., :3] ** 2, axis=-1)
    # exact up to the rounding of E^2 - p^2 in float64
    assert np.all(np.abs(m2 - masses**2) <= 1e-13 * p4[..., 3] ** 2 + 1e-12)
    np.testing.assert_allclose(p4[..., :2].sum(axis=1), 0.0, atol=1e-9)
    # canonical order (partons by pT), coordinates, and back to the same four-vectors
    pids = np.broadcast_to(np.array(list(others) + [21] * partons), p4.shape[:2])
    order = topo.canonical(pids, p4)
    q = np.take_along_axis(p4, order[:, :, None], axis=1)
    mq = np.take_along_axis(np.broadcast_to(masses, pids.shape), order, axis=1)
    back = topo.encode(q)
    ref = len(others) if partons else 0
    q2 = topo.decode(back, mq, np.arctan2(q[:, ref, 1], q[:, ref, 0]))
    np.testing.assert_allclose(q2, q, rtol=1e-9, atol=1e-9 * np.abs(q).max())
    # where the generated order was already canonical, the coordinates come back
    same = np.all(order == np.arange(topo.n), axis=1)
    assert same.any()
    np.testing.assert_allclose(back[same], x[same], rtol=1e-8, atol=1e-8)
    if topo.kind == "pair":
        np.testing.assert_allclose(invariant_mass(p4[:, 0] + p4[:, 1]), x[:, 0], rtol=1e-9)


def test_incoming_partons_conserve_momentum():
    rng = np.random.default_rng(2)
    topo = Topology((-11, 11), 1)
    p4 = topo.decode(_random_coords(topo, 500, rng), [0.000511, 0.000511, 0.0])
    inc = incoming(p4, [0.33, 0.0])
    np.testing.assert_allclose(inc.sum(axis=1), p4.sum(axis=1), atol=1e-8)
    assert np.all(inc[:, 0, 2] > 0) and np.all(inc[:, 1, 2] < 0)
    np.testing.assert_allclose(invariant_mass(inc[:, 0]), 0.33, rtol=1e-6)
    np.testing.assert_allclose(inc[:, :, :2], 0.0)


def test_physical_flags_momentum_fraction_above_one():
    topo = Topology((-11, 11), 0)
    x = np.array([[91.0, 0.0, 0.1], [91.0, 9.0, 0.1], [50.0, np.nan, 0.0], [0.0005, 0.0, 0.0]])
    ok = topo.physical(x, [0.000511, 0.000511], 7000.0)
    assert ok.tolist() == [True, False, False, False]


def test_boost_and_cs_angle():
    rng = np.random.default_rng(3)
    p = np.column_stack([rng.normal(0, 5, (100, 3)), np.full(100, 20.0)])
    beta = rng.uniform(-0.5, 0.5, (100, 3)) / np.sqrt(3)
    np.testing.assert_allclose(boost(boost(p, beta), -beta), p, atol=1e-9)
    np.testing.assert_allclose(invariant_mass(boost(p, beta)), invariant_mass(p), rtol=1e-9)
    # a pair at rest transversely: CS angle = polar angle of the negative lepton in the pair
    # rest frame, signed by the pair direction
    topo = Topology((-11, 11), 0)
    x = np.array([[91.0, 0.7, 0.3], [91.0, -0.7, 0.3]])
    p4 = topo.decode(x, [0.0, 0.0])  # first particle: the positron (-11)
    c = cos_theta_cs(p4[:, 1], p4[:, 0])
    np.testing.assert_allclose(c, [-0.3, 0.3], atol=1e-9)


def test_category_key_and_errors():
    assert category_key([11, -11, 21, 2]) == ((-11, 11), 2)
    assert category_key([13, -13, 22]) == ((-11, 11, 22), 0)
    assert category_key([-14, 13]) == ((-12, 11), 0)
    with pytest.raises(BadInputError):
        Topology((22,), 0)
    topo = Topology((-11, 11), 0)
    with pytest.raises(BadInputError, match="other particles"):
        topo.canonical(np.array([[22, 22]]), np.ones((1, 2, 4)))


def test_real_fxfx_events_round_trip():
    pylhe = pytest.importorskip("pylhe")
    f = pylhe.LHEFile.fromfile(FXFX)
    groups: dict = {}
    n_unphysical = 0
    for i, ev in enumerate(f.events):
        if i == 3000:
            break
        fs = [p for p in ev.particles if p.status == 1]
        if any(p.e <= 0 for p in fs):
            n_unphysical += 1
            continue
        inc = [p for p in ev.particles if p.status == -1]
        groups.setdefault(category_key([p.id for p in fs]), []).append(
            ([p.id for p in fs], [[p.px, p.py, p.pz, p.e] for p in fs], [p.m for p in fs],
             [[p.px, p.py, p.pz, p.e] for p in inc], [p.m for p in inc]))
    assert len(groups) == 3  # e+e- and mu+mu- share categories: 0, 1, 2 partons
    for key, evs in groups.items():
        topo = Topology(*key)
        pids = np.array([e[0] for e in evs])
        p4 = np.array([e[1] for e in evs])
        m = np.array([e[2] for e in evs])
        order = topo.canonical(pids, p4)
        p4 = np.take_along_axis(p4, order[:, :, None], axis=1)
        m = np.take_along_axis(m, order, axis=1)
        x = topo.encode(p4)
        ref = len(topo.others) if topo.partons else 0
        back = topo.decode(x, m, np.arctan2(p4[:, ref, 1], p4[:, ref, 0]))
        # the LHE file prints 8 digits: transverse momenta agree to that precision (the
        # rapidity of a soft, very forward lepton does not: E - |pz| has few digits left)
        pt, pt_back = np.hypot(p4[..., 0], p4[..., 1]), np.hypot(back[..., 0], back[..., 1])
        assert np.max(np.abs(pt_back - pt) / pt) < 1e-3
        np.testing.assert_allclose(topo.encode(back), x, rtol=1e-8, atol=1e-8)
        np.testing.assert_allclose(rapidity(back[:, :2].sum(axis=1)),
                                   rapidity(p4[:, :2].sum(axis=1)), atol=1e-6)
        inc = incoming(p4, np.array([e[4] for e in evs]))
        np.testing.assert_allclose(inc, np.array([e[3] for e in evs]), rtol=1e-4, atol=1e-3)
