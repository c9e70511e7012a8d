"""Regions and evaluation metrics of flowstats.anomaly (fast, no training)."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import stats

from flowstats.anomaly.metrics import evaluate, roc, sic
from flowstats.anomaly.regions import Regions, parse_window
from flowstats.exceptions import BadInputError


def test_parse_window():
    assert parse_window("3300:3700") == (3300.0, 3700.0)
    assert parse_window((1, 2)) == (1.0, 2.0)
    for bad in ("3700:3300", "3300", "a:b", "3300:3300"):
        with pytest.raises(BadInputError, match="signal region"):
            parse_window(bad)


def test_region_codes_adjacent_and_everything_outside():
    m = np.array([3000.0, 3099.9, 3100.0, 3299.9, 3300.0, 3500.0, 3699.9, 3700.0, 3899.9,
                  3900.0, 5000.0])
    adjacent = Regions((3300, 3700), sideband_width=200).codes(m)
    assert adjacent.tolist() == [-1, -1, 0, 0, 1, 1, 1, 0, 0, -1, -1]
    everything = Regions((3300, 3700)).codes(m)
    assert everything.tolist() == [0, 0, 0, 0, 1, 1, 1, 0, 0, 0, 0]
    assert adjacent.dtype == np.int8


def test_region_checks():
    m = np.r_[np.full(50, 3500.0), np.full(500, 3000.0)]
    r = Regions((3300, 3700), sideband_width=100)
    with pytest.raises(BadInputError, match="holds 50 events"):
        r.check(m, min_sr=100)
    with pytest.raises(BadInputError, match="sidebands .* hold 0 events"):
        r.check(m, min_sr=10)
    with pytest.raises(BadInputError, match="outside the mass range"):
        Regions((8000, 9000)).check(m)
    with pytest.raises(BadInputError, match="positive"):
        Regions((1, 2), sideband_width=-1)


def test_gaussian_shift_matches_analytic_roc():
    # signal score ~ N(mu, 1), background ~ N(0, 1): eps_B(t) = 1 - Phi(t),
    # eps_S(t) = 1 - Phi(t - mu), AUC = Phi(mu / sqrt 2).
    rng = np.random.default_rng(3)
    mu, n = 1.5, 200_000
    score = np.r_[rng.normal(mu, 1, n), rng.normal(0, 1, n)]
    label = np.r_[np.ones(n), np.zeros(n)]
    out = evaluate(score, label)
    auc = stats.norm.cdf(mu / np.sqrt(2))
    # Hanley-McNeil standard error of the AUC
    q1, q2 = auc / (2 - auc), 2 * auc**2 / (1 + auc)
    se_auc = np.sqrt((auc * (1 - auc) + (n - 1) * (q1 - auc**2) + (n - 1) * (q2 - auc**2))
                     / n**2)
    assert abs(out["auc"] - auc) < 5 * se_auc
    for eps_s in (0.2, 0.5):
        t = mu + stats.norm.ppf(1 - eps_s)
        eps_b = stats.norm.sf(t)
        # variance of eps_B at fixed eps_S: binomial error of eps_B, plus the error of the
        # threshold (binomial error of eps_S) propagated with the slope d eps_B / d eps_S
        slope = stats.norm.pdf(t) / stats.norm.pdf(t - mu)
        var = eps_b * (1 - eps_b) / n + slope**2 * eps_s * (1 - eps_s) / n
        assert abs(1 / out[f"rejection_at_{eps_s}"] - eps_b) < 5 * np.sqrt(var)
        assert out[f"sic_at_{eps_s}"] == pytest.approx(eps_s / np.sqrt(1 / out[f"rejection_at_{eps_s}"]))
    r = roc(score, label)
    assert np.all(np.diff(r["eps_s"]) >= 0) and np.all(np.diff(r["eps_b"]) >= 0)


def test_max_sic_needs_enough_background():
    # 5 signal events above every background event: without a cap, eps_B -> 0 gives an
    # unbounded SIC; the 20 % relative-error cap needs >= 25 selected background events.
    rng = np.random.default_rng(1)
    score = np.r_[np.full(5, 10.0), rng.normal(0, 1, 995), rng.normal(0, 1, 100_000)]
    label = np.r_[np.ones(1000), np.zeros(100_000)]
    s = sic(score, label)
    assert (s["eps_b"] * 100_000 >= 25 - 1e-9).all()
    out = evaluate(score, label)
    assert out["max_sic_eps_b"] * 100_000 >= 25 - 1e-9
    # a random score has SIC = sqrt(eps) <= 1 up to fluctuations
    assert out["max_sic"] < 2.0
    floored = evaluate(score, label, eps_b_floor=0.01)
    assert floored["max_sic_eps_b"] >= 0.01


def test_metrics_reject_single_class():
    with pytest.raises(BadInputError, match="both signal"):
        evaluate(np.arange(5.0), np.zeros(5))


@pytest.mark.parametrize("kind, options", [("hgb", {"n_models": 2}),
                                           ("mlp", {"epochs": 6, "best_epochs": 3})])
def test_classifier_ensembles_learn_and_round_trip(tmp_path, kind, options):
    import torch

    from flowstats.anomaly.classifiers import load_classifier, make_classifier

    torch.set_num_threads(1)
    # two unit Gaussians 1 apart along x0 (x1 is noise): the best AUC is Phi(1 / sqrt 2) = 0.760;
    # on 4000 + 4000 held-out events its standard error is ~0.005 (Hanley-McNeil), so a
    # trained ensemble must reach 0.760 - 0.03 (5 sigma plus 0.005 for an imperfect fit)
    rng = np.random.default_rng(2)
    n = 8000
    y = np.r_[np.ones(n), np.zeros(n)].astype(np.int64)
    x = rng.normal(size=(2 * n, 2))
    x[:n, 0] += 1.0
    test = rng.random(2 * n) < 0.5
    clf = make_classifier(kind, seed=1, **options).fit(x[~test], y[~test])
    d = clf.decision(x[test])
    from sklearn.metrics import roc_auc_score

    assert roc_auc_score(y[test], d) > stats.norm.cdf(1 / np.sqrt(2)) - 0.03
    clf.save(tmp_path / kind)
    np.testing.assert_allclose(load_classifier(tmp_path / kind).decision(x[test]), d,
                               rtol=1e-6, atol=1e-6)


def test_batched_mlp_networks_match_their_saved_states():
    import torch

    from flowstats.anomaly.classifiers import MLPEnsemble, _batched_mlp

    torch.set_num_threads(1)
    template = MLPEnsemble(hidden=(8, 8))
    seeded = []
    for seed in (5, 6, 7):
        torch.manual_seed(seed)
        seeded.append(template._net(3))
    nets = _batched_mlp(seeded)
    x = torch.randn(3, 50, 3)
    out = nets(x)
    single = template._net(3)
    for i in range(3):
        single.load_state_dict(nets.state_of(i))
        torch.testing.assert_close(single(x[i]).squeeze(-1), out[i])
    # network i starts as the MLPEnsemble network it was stacked from (seed 6 for i = 1)
    torch.manual_seed(6)
    fresh = template._net(3)
    torch.testing.assert_close(fresh(x[1]).squeeze(-1), out[1])


def test_mlp_cross_scoring_never_scores_an_event_with_a_network_that_saw_it():
    import torch
    from sklearn.metrics import roc_auc_score

    from flowstats.anomaly.classifiers import MLPEnsemble, TrainingSet, cross_score

    torch.set_num_threads(1)
    # random labels on random points in 8 dimensions: networks that memorise their training
    # events score them by their label (in-sample AUC about 0.8), while events scored by the
    # fold network that never saw them have AUC 0.5 +- 0.013 (Hanley-McNeil, 1000 + 1000
    # events) or less (cross-validation on random labels is biased low): a leak shows as a
    # high AUC
    rng = np.random.default_rng(3)
    n = 2000
    x = rng.normal(size=(n, 8))
    y = rng.permutation(np.r_[np.ones(n // 2), np.zeros(n // 2)]).astype(np.int64)
    fold = rng.integers(0, 4, n)
    # every epoch kept (the best-validation choice would keep the least memorising)
    options = {"hidden": (128, 128), "epochs": 30, "best_epochs": 30, "batch_size": 64,
               "lr": 1e-2}
    crossed = cross_score(TrainingSet(x, y, fold), x, fold, k=4, kind="mlp", seed=0, **options)
    assert roc_auc_score(y, crossed) < 0.5 + 4 * 0.013
    # the test has power: scored by networks that trained on them, the labels show
    seen = MLPEnsemble(seed=0, **options).fit(x, y).decision(x)
    assert roc_auc_score(y, seen) > 0.5 + 10 * 0.013
    # and the fold networks' scores are those of each fold's own ensemble
    models = [MLPEnsemble(seed=1000 * j, **options) for j in range(4)]
    MLPEnsemble.cross_fit(x, y, fold, models)
    for j in range(4):
        np.testing.assert_allclose(models[j].decision(x[fold == j]), crossed[fold == j],
                                   rtol=1e-6, atol=1e-6)


def test_mlp_redraw_trains_every_epoch_on_fresh_class0_draws():
    import torch

    from flowstats.anomaly.classifiers import TrainingSet, cross_score

    torch.set_num_threads(1)
    # class 1: N((0.8, 0), 1). The class-0 events given are drawn from the SAME distribution
    # (a useless template), while redraw() draws class 0 from N(0, 1). Trained on the given
    # events, the networks see two equal samples and learn a logit near 0: its mean difference
    # between held-out N((0.8, 0), 1) and N(0, 1) points is sampling noise, about
    # 0.8 * 2 / sqrt(6000) = 0.02 for a linear fit (allowed: 0.2). Trained on fresh draws they
    # learn the Bayes logit 0.8 x0 - 0.32, whose mean difference there is 0.64 (required: 0.4)
    rng = np.random.default_rng(4)
    n = 3000
    x = rng.normal(size=(2 * n, 2))
    x[:, 0] += 0.8
    y = np.r_[np.ones(n), np.zeros(n)].astype(np.int64)
    fold = rng.integers(0, 2, 2 * n)
    test_sig, test_bkg = rng.normal(size=(4000, 2)), rng.normal(size=(4000, 2))
    test_sig[:, 0] += 0.8
    test, test_fold = np.r_[test_sig, test_bkg], np.tile([0, 1], 4000)
    # every epoch kept: the given class-0 events, the validation sample, are useless here
    options = {"hidden": (16, 16), "epochs": 20, "best_epochs": 20, "batch_size": 128,
               "lr": 3e-3}

    def redraw(k: int, gen: np.random.Generator) -> np.ndarray:
        return gen.standard_normal((k, 2))

    def gap(**kw):
        s = cross_score(TrainingSet(x, y, fold), test, test_fold, k=2, kind="mlp", seed=0,
                        **options, **kw)
        return s, s[:4000].mean() - s[4000:].mean()

    fixed, fixed_gap = gap()
    fresh, fresh_gap = gap(redraw=redraw)
    assert abs(fixed_gap) < 0.2, fixed_gap
    assert fresh_gap > 0.4, fresh_gap
    # the draws come from the classifiers' seeds: the same call gives the same scores
    np.testing.assert_array_equal(gap(redraw=redraw)[0], fresh)
    # the boosted trees train in one pass on the given events
    hgb = {"n_models": 1}
    np.testing.assert_array_equal(
        cross_score(TrainingSet(x, y, fold), test, test_fold, k=2, kind="hgb", **hgb),
        cross_score(TrainingSet(x, y, fold), test, test_fold, k=2, kind="hgb", redraw=redraw,
                    **hgb))


def test_mlp_epochs_hold_at_most_max_epoch_events(monkeypatch):
    import torch

    from flowstats.anomaly.classifiers import MLPEnsemble

    torch.set_num_threads(1)
    steps = []
    original = torch.optim.Adam.step

    def counted(self, *args, **kwargs):
        steps.append(1)
        return original(self, *args, **kwargs)

    monkeypatch.setattr(torch.optim.Adam, "step", counted)
    rng = np.random.default_rng(6)
    x = rng.normal(size=(2000, 2))
    y = (rng.random(2000) < 0.5).astype(np.int64)
    options = {"hidden": (8,), "epochs": 2, "batch_size": 100}
    # 1600 training events (a fifth validates): 16 steps an epoch, or 3 with at most 300
    capped = MLPEnsemble(seed=0, max_epoch_events=300, **options).fit(x, y)
    assert len(steps) == 2 * 3
    steps.clear()
    full = MLPEnsemble(seed=0, max_epoch_events=None, **options).fit(x, y)
    assert len(steps) == 2 * 16
    # a cap above the training events changes nothing
    same = MLPEnsemble(seed=0, max_epoch_events=10_000, **options).fit(x, y)
    np.testing.assert_array_equal(same.decision(x), full.decision(x))
    assert not np.array_equal(capped.decision(x), full.decision(x))
    with pytest.raises(BadInputError, match="max_epoch_events"):
        MLPEnsemble(max_epoch_events=0)
