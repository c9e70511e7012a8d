"""Seeded toys (serial and dask-distributed), toy vs asymptotic results, CLs coverage (issue 6)."""

from __future__ import annotations

import numpy as np
import pytest

from flowstats.exceptions import BadInputError
from flowstats.stats import infer, toys
from flowstats.stats import workspace as M


@pytest.fixture(scope="module")
def spec():
    return M.build_workspace([62, 60], [50.0, 52.0], [12.0, 11.0], bkg_stat=[3.0, 7.0])


def test_sampler_uses_only_its_generator(spec):
    infer.set_backend("numpy")
    _, model, _ = M.load_model(spec)
    pars = model.config.suggested_init()
    np.random.seed(1)
    a = toys.sample_data(model, pars, 4000, np.random.default_rng(5))
    np.random.seed(2)
    b = toys.sample_data(model, pars, 4000, np.random.default_rng(5))
    np.testing.assert_array_equal(a, b)  # the global RNG plays no part
    # main data: Poisson means 62 and 63 (nominal s + b); auxdata: Gaussian around 1 with the
    # staterror widths (relative to the background carrying them: 3/50 and 7/52); 4000 draws
    # -> errors of the means sqrt(62/4000) = 0.12, of the widths sigma/sqrt(2*4000); 4 sigma
    assert a[:, 0].mean() == pytest.approx(62.0, abs=4 * np.sqrt(62 / 4000))
    assert a[:, 1].mean() == pytest.approx(63.0, abs=4 * np.sqrt(63 / 4000))
    assert a[:, 2].std() == pytest.approx(3 / 50, rel=4 / np.sqrt(2 * 4000))
    assert a[:, 3].std() == pytest.approx(7 / 52, rel=4 / np.sqrt(2 * 4000))


def test_chunk_seeds():
    chunks = toys.chunk_seeds(7, 120, 50)
    assert [n for _, n in chunks] == [50, 50, 20]
    with pytest.raises(BadInputError):
        toys.chunk_seeds(7, 0, 50)


def test_serial_equals_distributed_and_seeds(spec):
    from distributed import Client, LocalCluster

    serial = toys.toy_discovery(spec, n_toys=60, seed=3, chunk_size=20, scheduler="serial")
    again = toys.toy_discovery(spec, n_toys=60, seed=3, chunk_size=20, scheduler="serial")
    other = toys.toy_discovery(spec, n_toys=60, seed=4, chunk_size=20, scheduler="serial")
    np.testing.assert_array_equal(serial["q0"], again["q0"])
    assert not np.array_equal(serial["q0"], other["q0"])
    with LocalCluster(n_workers=2, threads_per_worker=1, processes=True,
                      dashboard_address=None) as cluster, Client(cluster) as client:
        dist = toys.toy_discovery(spec, n_toys=60, seed=3, chunk_size=20, scheduler=client)
        dist_cls = toys.toy_hypotest(spec, 1.0, n_toys=40, seed=3, chunk_size=20,
                                     scheduler=cluster.scheduler_address)
    np.testing.assert_array_equal(serial["q0"], dist["q0"])
    assert serial["p0"] == dist["p0"]
    ser_cls = toys.toy_hypotest(spec, 1.0, n_toys=40, seed=3, chunk_size=20, scheduler="serial")
    np.testing.assert_array_equal(ser_cls["q_b"], dist_cls["q_b"])
    assert ser_cls["cls_obs"] == dist_cls["cls_obs"]
    assert len(ser_cls["cls_exp"]) == 5


@pytest.mark.slow
def test_toy_and_asymptotic_discovery_agree_at_large_counts():
    # b = 1000 +- 10 (shapesys), n = 1050: large counts, Z ~ 1.5. The toy p-value from N
    # background-only toys has a binomial error sqrt(p(1-p)/N); compare within 3 of them.
    spec = M.counting_workspace(50.0, 1000.0, 1050.0, sigma_b=10.0)
    infer.set_backend("numpy")
    _, model, data = M.load_model(spec)
    asym = infer.discovery(model, data)
    n = 1000
    toy = toys.toy_discovery(spec, n_toys=n, seed=2, chunk_size=100, scheduler="serial")
    assert toy["n_failed"] == 0
    assert toy["q0_obs"] == pytest.approx(asym["q0"], rel=1e-6)
    sigma = np.sqrt(asym["p0"] * (1 - asym["p0"]) / n)
    print(f"p0 asymptotic {asym['p0']:.4f}, toys {toy['p0']:.4f} +- {sigma:.4f}; "
          f"Z0 {asym['z0']:.3f} vs {toy['z0']:.3f}")
    assert abs(toy["p0"] - asym["p0"]) < 3 * sigma


@pytest.mark.slow
def test_cls_upper_limit_coverage():
    # one bin, s = 10, b = 50, true mu = 1, no nuisance parameter: the asymptotic 95 % CLs
    # upper limit must cover mu = 1 in >= 95 % of the toys (CLs over-covers), within the
    # binomial spread of 500 toys: 3 * sqrt(0.95 * 0.05 / 500) = 0.029
    infer.set_backend("numpy")
    s, b, n_toys = 10.0, 50.0, 500
    _, model, _ = M.load_model(M.build_workspace([60], [b], [s], poi_bounds=(0.0, 20.0)))
    counts = np.random.default_rng(42).poisson(s + b, n_toys)
    limits = {}
    for n in np.unique(counts):  # the limit depends on the count only: compute once per count
        ul = infer.upper_limit(model, np.array([float(n)]), expected=False)
        limits[n] = ul.obs
    covered = np.mean([limits[n] >= 1.0 for n in counts])
    print(f"coverage of the 95 % CLs upper limit: {covered:.3f} ({n_toys} toys)")
    assert covered >= 0.95 - 3 * np.sqrt(0.95 * 0.05 / n_toys)
    # and it is a limit, not a trivially large number: the median limit is near the expected
    median_exp = infer.upper_limit(model, np.array([b]), observed=False).exp[2]
    assert np.median([limits[n] for n in counts]) < 2 * median_exp + 1
