"""Building blocks of the unweighting model: point masses and marginal CDF maps (no training)."""

from __future__ import annotations

import numpy as np
import pytest

from flowstats.unweighting.flow_model import MarginalMap, detect_atoms
from flowstats.unweighting.job import detect_discrete, split_indices


def test_detect_atoms_finds_point_mass_only():
    rng = np.random.default_rng(0)
    pt = np.where(rng.random(5000) < 0.4, 0.0, rng.exponential(10, 5000))
    x = np.column_stack([pt, rng.normal(size=5000), rng.integers(0, 3, 5000)])
    # integer features are dequantised instead, never split
    assert detect_atoms(x, ["pt", "y", "n"], exclude=["n"]) == {"pt": 0.0}
    assert detect_atoms(x[:, 1:2], ["y"]) == {}


def test_detect_discrete():
    x = np.column_stack([np.arange(100) % 4, np.linspace(0, 1, 100), np.arange(100)])
    # at most 50 distinct integers count as discrete
    assert detect_discrete(x, ["njet", "u", "index"]) == ["njet"]


@pytest.mark.parametrize("log", [False, True])
def test_marginal_map_is_a_bijection_within_the_training_range(log):
    x = np.random.default_rng(1).lognormal(size=3000)
    m = MarginalMap.fit(x, log=log)
    u = m.forward(x)
    # the training values land strictly inside (0, 1), ends at 1/2n
    assert u.min() == pytest.approx(0.5 / 3000) and u.max() == pytest.approx(1 - 0.5 / 3000)
    np.testing.assert_allclose(m.inverse(u), x, rtol=1e-10)
    grid = np.linspace(0, 1, 1001)
    assert np.all(np.diff(m.inverse(grid)) > 0)  # monotone
    # u is the empirical CDF: uniform within the knot spacing (30 knots -> |F - u| < 1/29)
    assert np.abs(np.sort(u) - (np.arange(3000) + 0.5) / 3000).max() < 1 / 29
    # the end of the range is extrapolated by 1/2n of probability only
    assert m.inverse(np.array([0.0]))[0] > x.min() - (x.max() - x.min()) * 0.01
    again = MarginalMap.from_dict(m.to_dict())
    np.testing.assert_array_equal(again.inverse(grid), m.inverse(grid))


def test_split_is_seeded_and_disjoint():
    tr, te = split_indices(1000, 0.25, seed=3)
    assert len(te) == 250 and len(np.intersect1d(tr, te)) == 0 and len(tr) + len(te) == 1000
    tr2, te2 = split_indices(1000, 0.25, seed=3)
    assert np.array_equal(te, te2)
    assert not np.array_equal(te, split_indices(1000, 0.25, seed=4)[1])


def test_split_on_categories_have_exact_weighted_fractions(tmp_path):
    import torch

    from flowstats.unweighting.flow_model import UnweightModel

    torch.set_num_threads(1)
    rng = np.random.default_rng(4)
    n = 3000
    njet = rng.integers(0, 3, n).astype(float)
    a = rng.normal(size=n) + njet
    w = np.where(rng.random(n) < 0.2 * (njet == 0) + 0.1, -1.0, 1.0)
    x = np.column_stack([a, njet])
    model = UnweightModel.fit(x, w, ["a", "njet"], split_on=["njet"], members=2,
                              flow_options={"transforms": 1, "hidden": (8,), "bins": 4},
                              fit_options={"epochs": 1, "batch_size": 1024, "device": "cpu"})
    assert [c.label for c in model.categories] == ["njet=0", "njet=1", "njet=2"]
    assert len(model.categories[0].flow.members) == 2  # an ensemble of two seeds
    expected = [w[njet == k].sum() / w.sum() for k in range(3)]
    np.testing.assert_allclose([c.fraction for c in model.categories], expected, rtol=1e-12)
    gen = model.sample(20_000, seed=1)
    assert set(np.unique(gen[:, 1])) == {0.0, 1.0, 2.0}
    # multinomial counts: std sqrt(p (1 - p) / N) <= 0.0036 for N = 20000; 5 sigma
    observed = [np.mean(gen[:, 1] == k) for k in range(3)]
    np.testing.assert_allclose(observed, expected, atol=5 * 0.0036)
    # save / load round trip: the same draws for the same seed
    model.save(tmp_path / "m")
    again = UnweightModel.load(tmp_path / "m", features=["a", "njet"])
    np.testing.assert_array_equal(again.sample(500, seed=3), model.sample(500, seed=3))
