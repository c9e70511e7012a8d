"""Statistics of the unweighting report: chi2, classifier two-sample test, baselines."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import stats

from flowstats.unweighting.baselines import drop_negatives, effective_sample_size, hit_or_miss
from flowstats.unweighting.compare import (
    binning,
    chi2_histograms,
    chi2_samples,
    histogram,
    negative_bins,
)
from flowstats.unweighting.twosample import classifier_two_sample_test, weighted_auc

# A negatively weighted toy with a positive density that is known exactly:
#   80 % of the events ~ N(0, 1.2) with weight +1, 20 % ~ N(0, 1) with weight -1,
#   f(x) = (0.8 phi_1.2(x) - 0.2 phi_1(x)) / 0.6 >= 0 everywhere (phi_1 / phi_1.2 <= 1.2 < 4).
# The negative fraction changes with x (negatives sit in the core), which is where the
# diagonal approximation of the shape chi2 would be wrong.


def weighted_toy(n, rng, dim=1):
    neg = rng.random(n) < 0.2
    x = rng.normal(size=(n, dim)) * np.where(neg, 1.0, 1.2)[:, None]
    return x, np.where(neg, -1.0, 1.0)


def truth_toy(n, rng, dim=1):
    # rejection sampling of f from phi_1.2: accept with 1 - 0.25 phi_1 / phi_1.2 (>= 0.7)
    out = np.empty((0, dim))
    while len(out) < n:
        x = rng.normal(size=(2 * n, dim)) * 1.2
        r = np.prod(1.2 * np.exp(-0.5 * x**2 * (1 - 1 / 1.44)), axis=1)
        out = np.concatenate([out, x[rng.random(2 * n) < 1 - 0.25 * r]])
    return out[:n]


def test_chi2_hand_computed():
    # weighted: W = (3, 1), V = (5, 1), total W = 4, V = 6, p1 = (0.75, 0.25)
    # generated: W = V = (2, 2), p2 = (0.5, 0.5)
    # cov1_00 = (5 - 2*0.75*5 + 0.75^2*6) / 16 = 0.875/16; cov2_00 = (2 - 2 + 0.25*4)/16 = 1/16
    # chi2 = 0.25^2 / (1.875/16) = 0.5333..., ndf = 1
    res = chi2_histograms([3, 1], [5, 1], [2, 2], [2, 2])
    assert res.chi2 == pytest.approx(0.25**2 / (1.875 / 16), rel=1e-12)
    assert res.ndf == 1
    assert res.p_value == pytest.approx(stats.chi2.sf(0.25**2 / (1.875 / 16), 1), rel=1e-12)
    # absolute comparison: (1 + 1) / 7 + (1) / 3 with ndf = 2
    res = chi2_histograms([3, 1], [5, 1], [2, 2], [2, 2], shape=False)
    assert res.chi2 == pytest.approx(1 / 7 + 1 / 3) and res.ndf == 2
    # empty bins on both sides do not count
    res = chi2_histograms([3, 0, 1], [5, 0, 1], [2, 0, 2], [2, 0, 2])
    assert res.ndf == 1 and res.chi2 == pytest.approx(0.25**2 / (1.875 / 16))


def test_chi2_unweighted_equals_pearson_form():
    # for two unweighted histograms with equal totals the shape statistic is the textbook
    # sum (n_i - m_i)^2 / (n_i + m_i) in the limit of many bins; with 2 bins it is exact:
    # p-difference d, cov = p(1-p)/N for each side
    n, m = np.array([30.0, 70.0]), np.array([45.0, 55.0])
    res = chi2_histograms(n, n, m, m)
    d = 0.30 - 0.45
    expected = d**2 / (0.3 * 0.7 / 100 + 0.45 * 0.55 / 100)
    assert res.chi2 == pytest.approx(expected, rel=1e-12)


def test_histogram_has_flow_bins_and_sum_w2():
    values, variances = histogram([-5.0, 0.5, 0.5, 9.0], [1.0, -2.0, 3.0, 4.0], [0.0, 1.0])
    np.testing.assert_allclose(values, [1.0, 1.0, 4.0])
    np.testing.assert_allclose(variances, [1.0, 13.0, 16.0])


def test_chi2_null_distribution_weighted_vs_unweighted():
    # weighted sample (N_eff = 20000 * 0.6^2 = 7200) vs unweighted truth sample, 20 quantile
    # bins (>= 350 effective events each: asymptotic regime) + 2 flow bins (edges from an
    # independent truth sample, so they are filled), ndf = 22 - 1 = 21. Over S = 40 seeds,
    # chi2/ndf has variance 2/ndf per seed, so the mean has standard deviation
    # sqrt(2 / 21 / 40) = 0.049; we require |mean - 1| < 3 sigma = 0.146.
    seeds, ratios, naive = 40, [], []
    edges = binning(truth_toy(50_000, np.random.default_rng(999))[:, 0], bins=20)
    for seed in range(seeds):
        rng = np.random.default_rng(seed)
        xw, w = weighted_toy(20_000, rng)
        xt = truth_toy(20_000, rng)
        res = chi2_samples(xw[:, 0], w, xt[:, 0], np.full(len(xt), 0.6), edges)
        ratios.append(res.chi2_ndf)
        # naive variance: treating sum w as a Poisson count (variance |sum w|) is wrong
        vw, _ = histogram(xw[:, 0], w, edges)
        vt, st = histogram(xt[:, 0], None, edges)
        naive.append(chi2_histograms(vw, np.abs(vw), vt, st).chi2_ndf)
    sigma = np.sqrt(2 / 21 / seeds)
    assert abs(np.mean(ratios) - 1) < 3 * sigma
    # with sum w^2 = n+ + n- = 1.67 * (n+ - n-) per bin on average, the denominator is
    # (1 + 1) instead of (1.67 + 1) in units of the truth variance: chi2/ndf ~ 2.67/2 = 1.33
    assert np.mean(naive) > 1 + 4 * sigma


def test_chi2_source_covariance_accounts_for_the_training_sample():
    # A "model" learnt from a weighted training sample (N_eff = 20000 * 0.6^2 = 7200) that is
    # exactly a histogram of it: it generates n_gen = 20000 events from the training sample's
    # normalised bin contents, compared with 20000 truth events. Without the training sample's
    # covariance, E[chi2/ndf] = 1 + (1/7200) / (1/20000 + 1/20000) = 2.39; with it (source=,
    # scale 1) the statistic is chi2(ndf) again: over S = 40 seeds the mean chi2/ndf has
    # standard deviation sqrt(2 / 19 / 40) = 0.051 (at most) and must be within 3 of those of 1.
    seeds, with_source, raw = 40, [], []
    edges = binning(truth_toy(50_000, np.random.default_rng(999))[:, 0], bins=20)
    for seed in range(seeds):
        rng = np.random.default_rng(100 + seed)
        xw, w = weighted_toy(20_000, rng)
        vw, sw = histogram(xw[:, 0], w, edges)
        gen = rng.multinomial(20_000, np.clip(vw, 0, None) / np.clip(vw, 0, None).sum())
        vt, st = histogram(truth_toy(20_000, rng)[:, 0], None, edges)
        raw.append(chi2_histograms(vt, st, gen, gen).chi2_ndf)
        res = chi2_histograms(vt, st, gen, gen, source=(vw, sw, 1.0))
        assert res.ndf >= 19  # 20 bins + 2 flow bins - 1, less a flow bin that is empty
        with_source.append(res.chi2_ndf)
    sigma = np.sqrt(2 / 19 / seeds)
    assert abs(np.mean(with_source) - 1) < 3 * sigma, np.mean(with_source)
    assert abs(np.mean(raw) - (1 + 1e4 / 7200)) < 3 * sigma * 2.39, np.mean(raw)
    # chi2_samples passes the source sample through the same bins
    x1 = truth_toy(5_000, np.random.default_rng(1))[:, 0]
    x2 = truth_toy(5_000, np.random.default_rng(2))[:, 0]
    direct = chi2_histograms(*histogram(x1, None, edges), *histogram(x2, None, edges),
                             source=(vw, sw, 2.0))
    assert chi2_samples(x1, None, x2, None, edges, source=(xw[:, 0], w, 2.0)) == direct
    with pytest.raises(ValueError, match="shape"):
        chi2_histograms(vt, st, gen, gen, shape=False, source=(vw, sw, 1.0))


def test_negative_bins_found():
    rng = np.random.default_rng(1)
    x = rng.uniform(0, 10, 20_000)
    # a region 4 < x < 5 where the negative events outnumber the positive ones 2:1
    w = np.where((x > 4) & (x < 5) & (rng.random(len(x)) < 2 / 3), -1.0, 1.0)
    edges = np.arange(0.0, 10.5, 1.0)
    values, variances = histogram(x, w, edges)
    found = negative_bins(values, variances, edges, z=3.0)
    # expected sum in that bin: 2000 * (1/3 - 2/3) = -667 +- sqrt(2000) = 45: ~15 sigma
    assert [(b["low"], b["high"]) for b in found] == [(4.0, 5.0)]
    assert found[0]["significance"] < -10
    assert negative_bins(*histogram(x, np.ones_like(x), edges), edges) == []


def test_binning_discrete_and_quantiles():
    edges = binning(np.array([0, 1, 1, 2, 3, 3]), discrete=True)
    np.testing.assert_allclose(edges, [-0.5, 0.5, 1.5, 2.5, 3.5])
    x = np.random.default_rng(0).exponential(size=10_000)
    edges = binning(x, bins=10)
    counts = np.histogram(x, edges)[0]
    assert len(edges) == 11 and counts.min() >= 999  # equal-count quantile bins


def test_weighted_auc_matches_sklearn_for_positive_weights():
    from sklearn.metrics import roc_auc_score

    rng = np.random.default_rng(3)
    s = rng.integers(0, 20, 500).astype(float)  # many ties
    y = rng.integers(0, 2, 500)
    w = rng.uniform(0.1, 2.0, 500)
    assert weighted_auc(s, y, w) == pytest.approx(roc_auc_score(y, s, sample_weight=w))
    assert weighted_auc(s, y) == pytest.approx(roc_auc_score(y, s))


def test_two_sample_identical_and_shifted():
    # identical densities: reference 6000 weighted events (N_eff = 6000 * 0.36 = 2160),
    # generated 6000. Null std of the AUC over all held-out scores:
    # sqrt((1/2160 + 1/6000) / 12) = 0.0072; tolerance 4 sigma = 0.03 (fold mean ~ same).
    rng = np.random.default_rng(5)
    xw, w = weighted_toy(6000, rng, dim=2)
    xt = truth_toy(6000, rng, dim=2)
    same = classifier_two_sample_test(xw, w, xt, folds=5, seed=0, max_iter=50)
    assert abs(same.auc - 0.5) < 0.03
    assert len(same.fold_aucs) == 5 and same.auc_error > 0
    # shifted by 0.4 in one coordinate (width ~1.2): optimal AUC ~ Phi(0.4 / 1.2 / sqrt 2)
    # = 0.59; require > 0.5 + 6 sigma = 0.543
    shifted = classifier_two_sample_test(xw, w, xt + [0.4, 0.0], folds=5, seed=0, max_iter=50)
    assert shifted.auc > 0.543


def test_two_sample_test_takes_negative_weights_beyond_sklearns_binning_subsample(monkeypatch):
    r"""Above 200k training events scikit-learn bins a subset drawn with the weights as
    probabilities and refuses negative weights (a 2M-event report crashed there): each fold
    learns from at most MAX_TRAIN events, and every held-out event is still scored."""
    from flowstats.unweighting import twosample

    rng = np.random.default_rng(3)
    n = 150_000  # 4 folds: 225k training events each
    x0, x1 = rng.normal(size=(n, 2)), rng.normal(size=(n, 2))
    w0 = np.where(rng.random(n) < 0.2, -1.0, 1.0)
    monkeypatch.setattr(twosample, "MAX_TRAIN", 10**9)
    with pytest.raises(ValueError, match="non-negative"):
        classifier_two_sample_test(x0, w0, x1, folds=4, max_iter=5)
    monkeypatch.undo()
    res = classifier_two_sample_test(x0, w0, x1, folds=4, max_iter=10)
    # the same density: AUC 0.5 within sqrt((1/N_eff + 1/n) / 12) = 0.0029 per fold (37.5k +
    # 37.5k held out, N_eff = 0.36 x 37.5k with 20 % negative weights), 0.0015 for the mean of
    # the 4 folds; 0.01 is over 6 of those
    assert abs(res.auc - 0.5) < 0.01
    assert res.n_reference == n and res.n_generated == n and len(res.fold_aucs) == 4


def test_baselines():
    rng = np.random.default_rng(7)
    x, w = weighted_toy(50_000, rng)
    w = w * rng.uniform(0.5, 1.5, len(w))  # non-uniform |w| so that hit-or-miss rejects
    xa, wa = drop_negatives(x, w)
    assert (wa > 0).all() and len(xa) == (w > 0).sum()
    xb, wb = hit_or_miss(x, w, seed=1)
    assert set(np.unique(np.abs(wb))) == {np.abs(w).max()}
    # expected kept fraction = mean|w| / max|w| = 1/1.5 (max ~1.5); binomial std of the
    # number kept <= sqrt(n/4) = 112, so 5 sigma ~ 0.011 in fraction
    assert abs(len(wb) / len(w) - np.abs(w).mean() / np.abs(w).max()) < 0.011
    # the sum of weights is preserved in expectation: var = sum max|w| |w_i| (1 - p_i)
    var = np.sum(np.abs(w).max() * np.abs(w) * (1 - np.abs(w) / np.abs(w).max()))
    assert abs(wb.sum() - w.sum()) < 5 * np.sqrt(var)
    # (b) is unbiased: its shape agrees with the truth; (a) does not
    truth = truth_toy(100_000, np.random.default_rng(8))[:, 0]
    edges = binning(truth, bins=20)
    ok = chi2_samples(xb[:, 0], wb, truth, None, edges)
    bad = chi2_samples(xa[:, 0], wa, truth, None, edges)
    assert ok.p_value > 1e-3  # fails 1 in 1000 under the null
    assert bad.p_value < 1e-6
    assert effective_sample_size(wb) < effective_sample_size(wa)
    assert effective_sample_size([1, 1, -1]) == pytest.approx(1 / 3)


def test_binning_gives_point_mass_its_own_bin():
    x = np.concatenate([np.zeros(4000), np.random.default_rng(2).exponential(10, 6000)])
    edges = binning(x, bins=20)
    values, _ = histogram(x, None, edges)
    # flow bins + the atom bin [0, nextafter(0)) holding exactly the 4000 zeros
    assert edges[0] == 0.0 and values[1] == 4000
    assert values[2:-1].min() > 200  # the continuous part keeps equal-count bins
