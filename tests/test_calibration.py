"""Per-mass calibration of data-space scores (flowstats.anomaly.calibration)."""

from __future__ import annotations

import numpy as np
from scipy import stats

from flowstats.anomaly.calibration import calibrate, tail_probability

SR = (3300.0, 3700.0)


def _background(n: int, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    # a score whose background distribution moves and widens with m, as a data-space
    # classifier's does when the features scale with m
    m = 2500.0 + rng.exponential(600.0, n)
    t = (m - 3500.0) / 500.0
    return (1 + 0.2 * t) * rng.standard_normal(n) + 0.8 * t, m


def test_tail_probability_is_the_binomial_fraction():
    rng = np.random.default_rng(1)
    ref_h, ref_m = rng.uniform(0, 1, 200_000), rng.uniform(0, 10, 200_000)
    h, m = np.array([0.5, 0.9, 0.99, 2.0]), np.array([1.0, 5.0, 9.5, 5.0])
    above, total = tail_probability(h, m, ref_h, ref_m)
    p = above / total
    # each estimate rests on the kernel's effective number of points (>= 2 bins' worth)
    for got, want in zip(p, [0.5, 0.1, 0.01, 0.0]):
        assert abs(got - want) <= 5 * np.sqrt(want * (1 - want) / 20_000) + 1e-12, (got, want)
    # one bin when the reference is small
    above, total = tail_probability(h, m, ref_h[:500], ref_m[:500])
    assert np.all(total == 500)


def test_calibrated_selection_is_flat_in_m_and_keeps_the_ranking_at_fixed_m():
    rng = np.random.default_rng(7)
    h, m = _background(400_000, rng)
    sr = (m >= SR[0]) & (m < SR[1])
    # the template: 4 x the SR's background at SR masses; the outside reference: one sample
    # per event outside the SR
    t_h, t_m = _background(2_000_000, rng)
    keep = (t_m >= SR[0]) & (t_m < SR[1])
    t_h, t_m = t_h[keep][: 4 * sr.sum()], t_m[keep][: 4 * sr.sum()]
    o_h, o_m = _background(400_000, rng)
    out = (o_m < SR[0]) | (o_m >= SR[1])
    cal, cal_t = calibrate(h, m, SR, t_h, t_m, o_h[out], o_m[out])
    edges = np.quantile(m, np.linspace(0, 1, 21))
    idx = np.clip(np.searchsorted(edges, m) - 1, 0, 19)
    n_bin = np.bincount(idx, minlength=20)
    for eff in (0.1, 0.01):
        for s, flat in ((h, False), (cal, True)):
            sel = np.bincount(idx, weights=s > np.quantile(s, 1 - eff), minlength=20)
            chi2 = np.sum((sel - eff * n_bin) ** 2 / (eff * n_bin * (1 - eff)))
            p = stats.chi2.sf(chi2, 19)
            # the calibration's own reference is finite: its scatter adds to the selection's,
            # at most as much again (one reference point per event): chi2 / 2 is still chi2(19)
            assert (stats.chi2.sf(chi2 / 2, 19) > 1e-3) if flat else (p < 1e-10), (eff, chi2)
    # the template is calibrated like the SR background: the same fraction above a cut
    for eff in (0.1, 0.01):
        cut = -np.log(eff)
        n_t = len(cal_t)
        assert abs(np.mean(cal_t > cut) - eff) < 5 * np.sqrt(eff / n_t), eff
        assert abs(np.mean(cal[sr] > cut) - eff) < 5 * np.sqrt(eff / sr.sum() + eff / n_t), eff
    # at one mass the calibrated score is a non-decreasing function of h (the ranking of the
    # classifier is kept; only the threshold moves with m)
    h1 = np.linspace(-4, 6, 1000)
    c1, _ = calibrate(h1, np.full(1000, 3500.0), SR, t_h, t_m, o_h[out], o_m[out])
    assert np.all(np.diff(c1) >= 0)


def test_a_signal_keeps_its_lead():
    # a localised excess in h at SR masses stays on top after the calibration
    rng = np.random.default_rng(3)
    h, m = _background(200_000, rng)
    s_m = rng.normal(3500, 100, 300).clip(3310, 3690)
    s_h = rng.normal(4.0, 0.3, 300)
    t_h, t_m = _background(2_000_000, rng)
    keep = (t_m >= SR[0]) & (t_m < SR[1])
    o_h, o_m = _background(200_000, rng)
    out = (o_m < SR[0]) | (o_m >= SR[1])
    cal, _ = calibrate(np.r_[h, s_h], np.r_[m, s_m], SR, t_h[keep], t_m[keep], o_h[out],
                       o_m[out])
    label = np.r_[np.zeros(len(h)), np.ones(300)].astype(bool)
    # against the exact background tail probability of the toy (the ideal calibration)
    hh, mm = np.r_[h, s_h], np.r_[m, s_m]
    t = (mm - 3500.0) / 500.0
    exact = stats.norm.logsf((hh - 0.8 * t) / (1 + 0.2 * t))
    for n_top in (300, 1000):
        ours = label[np.argsort(cal)[::-1][:n_top]].sum()
        ideal = label[np.argsort(exact)[:n_top]].sum()
        # both count the signal among the same top n; the calibration's reference scatter
        # moves a few events across the cut (binomial spread of the ideal count)
        assert ours >= ideal - 3 * np.sqrt(ideal * (1 - ideal / n_top)) - 3, (n_top, ours, ideal)


def test_the_outside_reference_has_oversample_samples_per_event():
    from flowstats.anomaly.methods import _outside_masses

    m = np.array([1000.0, 2000.0, 3400.0, 3500.0, 4000.0, 5000.0])
    got = _outside_masses(m, SR, 4.0, seed=0)
    assert sorted(got) == sorted(np.repeat([1000.0, 2000.0, 4000.0, 5000.0], 4))
    many = np.linspace(1000.0, 3000.0, 100_000)
    got = _outside_masses(many, SR, 2.5, seed=0)
    # every mass twice, and each once more with probability 1/2 (binomial spread 158)
    assert abs(len(got) - 250_000) < 5 * np.sqrt(100_000 * 0.25)
    assert np.all(np.isin(many, got))
    assert np.array_equal(got, _outside_masses(many, SR, 2.5, seed=0))


def test_a_small_reference_is_warned_about(caplog):
    r"""Below CALIBRATED_OVERSAMPLE reference samples per event the calibrated space fails the
    sculpting study (docs/guide/sculpting.md): the user is told, once per score; at 16, not."""
    import logging

    from flowstats.anomaly.methods import CALIBRATED_OVERSAMPLE, _outside_masses

    m = np.array([1000.0, 3400.0, 5000.0])
    with caplog.at_level(logging.WARNING, logger="flowstats.anomaly.methods"):
        _outside_masses(m, SR, 4.0, seed=0)
    assert [r.levelno for r in caplog.records] == [logging.WARNING]
    assert "oversample >= 16" in caplog.records[0].getMessage()
    caplog.clear()
    with caplog.at_level(logging.WARNING, logger="flowstats.anomaly.methods"):
        _outside_masses(m, SR, float(CALIBRATED_OVERSAMPLE), seed=0)
    assert not caplog.records
