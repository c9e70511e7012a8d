"""The BumpHunter statistic (issue 16): against pyBumpHunter, its null distribution, serial == dask,
and global_method 'bumphunter' in the bump hunt."""

from __future__ import annotations

import json

import numpy as np
import pyBumpHunter
import pytest
from scipy import stats

from flowstats.cli import main
from flowstats.exceptions import BadInputError
from flowstats.stats import bumphunter_statistic as bh

N_BINS, WIDTH, STEP = 48, 8, 2
WINDOWS = [(s, s + WIDTH) for s in range(0, N_BINS - WIDTH + 1, STEP)]
#: a falling reference spectrum, 40 000 events
REFERENCE = 40_000 * np.diff(-np.exp(-np.linspace(0, 3, N_BINS + 1))) / (1 - np.exp(-3))


def _pybumphunter(counts, reference, npe, seed):
    hunter = pyBumpHunter.BumpHunter1D(rang=[0, N_BINS], width_min=WIDTH, width_max=WIDTH,
                                      scan_step=STEP, npe=npe, bins=np.arange(N_BINS + 1),
                                      nworker=1, seed=seed)
    hunter.bump_scan(counts, reference, is_hist=True)
    return hunter


def _data(seed, bump=0.0):
    counts = np.random.default_rng(seed).poisson(REFERENCE).astype(float)
    counts[20:26] += bump * np.sqrt(REFERENCE[20:26])
    return np.round(counts)


def test_local_pvalues_are_the_poisson_tail():
    # P(N >= n | b) for integer n; 1 where there is no excess
    p = bh.window_pvalues([12, 5, 3], [5.0, 5.0, 0.0])
    assert p[0] == pytest.approx(stats.poisson.sf(11, 5.0), rel=1e-12)
    assert p[1] == 1.0 and p[2] == 1.0


@pytest.mark.parametrize("bump", [0.0, 1.5, 4.0])
def test_statistic_and_global_p_agree_with_pybumphunter(bump, capsys):
    counts = _data(7, bump)
    ours = bh.bumphunter(counts, REFERENCE, WINDOWS, n_toys=4000, seed=3)
    theirs = _pybumphunter(counts, REFERENCE, npe=4000, seed=5)
    # the same statistic on the same histograms
    assert ours["t"] == pytest.approx(theirs.t_ar[0], rel=1e-10)
    assert ours["best_window"][0] == theirs.min_loc_ar[0]
    # global p-values from independent pseudo-experiments: within 4 combined binomial errors
    p_theirs = theirs.global_Pval
    err = np.hypot(ours["p_global_error"], np.sqrt(max(p_theirs * (1 - p_theirs), 1 / 4000) / 4000))
    assert abs(ours["p_global"] - p_theirs) < 4 * err
    if bump == 4.0:
        assert ours["z_global_is_lower_bound"] and ours["n_toys_above"] == 0


def test_global_p_is_uniform_without_signal():
    t_toys = bh.pseudo_statistics(REFERENCE, WINDOWS, n_toys=5000, seed=1)
    p = np.array([bh.global_pvalue(float(bh.statistic(bh.scan_pvalues(_data(100 + i), REFERENCE,
                                                                       WINDOWS))),
                                   t_toys)["p_global"] for i in range(300)])
    # 300 background-only data sets: the global p-values are uniform
    assert stats.kstest(p, "uniform").pvalue > 0.001
    assert abs(np.mean(p < 0.1) - 0.1) < 4 * np.sqrt(0.1 * 0.9 / 300)


def test_pseudo_experiments_serial_equal_dask():
    serial = bh.pseudo_statistics(REFERENCE, WINDOWS, n_toys=3000, seed=9, scheduler="serial")
    dask = bh.pseudo_statistics(REFERENCE, WINDOWS, n_toys=3000, seed=9, scheduler=None)
    assert np.array_equal(serial, dask)
    assert not np.array_equal(serial, bh.pseudo_statistics(REFERENCE, WINDOWS, n_toys=3000,
                                                           seed=10))


def test_bad_windows_and_references():
    with pytest.raises(BadInputError, match="window of bins 40:50"):
        bh.scan_pvalues(REFERENCE, REFERENCE, [(40, 50)])
    with pytest.raises(BadInputError, match="non-negative"):
        bh.scan_pvalues(REFERENCE, -REFERENCE, WINDOWS)


def test_bumphunt_global_method_bumphunter(tmp_path, capsys):
    from flowstats.datasets import dijet, write

    path = tmp_path / "dijet.root"
    write(path, dijet.generate(n_background=30_000, n_signal=0, seed=4), tree="events")
    args = ["bumphunt", str(path), "--features", ",".join(dijet.FEATURES), "--method", "density",
            "--scan", "3000:4000", "--windows", "3", "--window-width", "400", "--window-step",
            "300", "--bin-width", "50", "--efficiency", "0.2", "--epochs", "2",
            "--global-method", "bumphunter", "--no-plots", "--seed", "2"]
    assert main([*args, "-o", str(tmp_path / "out")]) == 0
    summary = json.loads((tmp_path / "out" / "summary.json").read_text())
    assert summary["global_method"].startswith("BumpHunter")
    by_eff = summary["bumphunter"]["by_efficiency"]
    assert set(by_eff) == {"1", "0.2"}
    for row in by_eff.values():
        assert 0 < row["p_global"] <= 1 and row["n_toys"] == 10_000 and row["t"] >= 0
    # background only: nothing global to see; the Gross-Vitells figures are kept beside it
    assert summary["z_global"] < 3 and "z_global" in summary["gross_vitells"]
    # windows that do not fall on one bin grid: one line, exit 2, before any training
    capsys.readouterr()
    assert main([*args[:-1], "1", "--bin-width", "80", "-o", str(tmp_path / "bad")]) == 2
    err = capsys.readouterr().err
    assert "bumphunter" in err and "Traceback" not in err and len(err.strip().splitlines()) == 1
