"""Equivalent number of events of a generated sample (flowstats.unweighting.worth).

Every tolerance is derived from the expected spread of the quantity checked (stated next to
it); seeds are fixed. Notation as in the module docstring: beta = sum_b (q_b - p_b)^2, S_p =
sum_b p_b (1 - p_b), N_eq(inf) = S_p / beta.
"""

from __future__ import annotations

import json
import math

import numpy as np
import pytest
from scipy import stats

from flowstats.datasets import nlo
from flowstats.exceptions import (
    BadInputError,
    FlowstatsError,
    NonFiniteError,
    WeightSumError,
)
from flowstats.unweighting.compare import binning, histogram
from flowstats.unweighting.worth import (
    MAX_COMBINED_BINS,
    _fractions,
    _Observable,
    bias2_error,
    bias2_pull,
    equivalent_events,
    recommendation,
    statistical_worth,
)

NAMES = ["a", "b"]
CDF = {"a": stats.norm.cdf, "b": stats.norm.cdf}
NLO = ["pt", "y", "m", "njet"]


@pytest.fixture(scope="module")
def edge_sample() -> np.ndarray:
    # bins at quantiles of an independent truth sample (two independent N(0, 1) features)
    return np.random.default_rng(12345).standard_normal((100_000, 2))


def _exact_p(edge_sample: np.ndarray, k: int, bins: int, shift: float = 0.0) -> np.ndarray:
    edges = binning(edge_sample[:, k], bins)
    return np.diff(np.concatenate([[0.0], stats.norm.cdf(edges - shift), [1.0]]))


def _multinomial_tr2(p: np.ndarray) -> float:
    # tr(Sigma^2) of the multinomial covariance Sigma = diag(p) - p p^T of one event
    return float(np.sum(p**2) - 2 * np.sum(p**3) + np.sum(p**2) ** 2)


def _arr(d: dict[str, np.ndarray]) -> np.ndarray:
    return np.column_stack([d[f] for f in NLO]).astype(np.float64)


@pytest.mark.parametrize("mode", ["exact", "truth_sample"])
def test_resampled_generator_is_worth_its_training_size(edge_sample, mode):
    # A "generator" that draws M events with replacement from N true events has q = the
    # histogram of those N events: beta = sum_b (q_b - p_b)^2 has expectation S_p / N exactly
    # (multinomial), i.e. N_eq(inf) = N, and across training samples the variance
    # 2 tr(Sigma^2) / N^2 (Gaussian approximation, O(1/N) relative correction). Pooled over K
    # training samples, mean(beta_hat) must be within 3 of its standard errors of S_p / N,
    # the error being that spread plus each estimate's own (reported) error.
    n, m, seeds = 1000, 100_000, 8
    truth_ref = np.random.default_rng(999).standard_normal((200_000, 2))
    estimates = {b: [] for b in (5, 10, 20, 40)}
    for seed in range(seeds):
        rng = np.random.default_rng(seed)
        train = rng.standard_normal((n, 2))
        gen = train[rng.integers(0, n, m)]
        if mode == "exact":
            out = equivalent_events(gen, names=NAMES, truth_cdf=CDF, x_edges=edge_sample,
                                    x_train=train)
        else:
            out = equivalent_events(gen, truth_ref, names=NAMES, x_edges=edge_sample,
                                    x_train=train)
        for b in estimates:
            c = out["binnings"][str(b)]["combined"]
            assert c["resolved"]
            estimates[b].append((c["bias2"], c["bias2_error"], c["n_eq_train"]))
    for b, values in estimates.items():
        values = np.array(values)
        ps = [_exact_p(edge_sample, k, b) for k in range(2)]
        s_p = sum(1 - np.sum(p**2) for p in ps)
        spread = 2 * sum(_multinomial_tr2(p) for p in ps) / n**2
        error = math.sqrt((spread + np.mean(values[:, 1] ** 2)) / seeds)
        mean = values[:, 0].mean()
        assert abs(mean - s_p / n) < 3 * error, (b, mean, s_p / n, error)
        # the same in events: N_eq(inf) pooled is N within 3 relative errors
        assert abs(s_p / mean / n - 1) < 3 * error / mean, (b, s_p / mean)
        # N_eq,train of N unit-weight events is N (tr C_train = S / (N - 1) up to the
        # sampling noise of S, well below 5 %): amplification about 1, as a histogram has
        np.testing.assert_allclose(values[:, 2], n, rtol=0.05)


def test_generator_of_the_truth_has_no_bias(edge_sample):
    # q = p: beta_hat / sigma_null is a standardised quadratic form of nu = bins - 2 degrees
    # of freedom (chi2-like, excess kurtosis 12 / nu): its mean over K seeds is within
    # 3 / sqrt(K) of 0 and its sample variance within 3 standard deviations,
    # sqrt(2 / (K - 1) + 12 / (nu K)), of 1. A sample of M true events is worth M: the MSE
    # of its fractions, bias2 + stat_gen, has mean S_p / M and variance 2 tr(Sigma^2) / M^2.
    m, seeds = 20_000, 40
    per_bins = {b: [] for b in (20, 40)}
    resolved = violations = 0
    for seed in range(seeds):
        gen = np.random.default_rng(1000 + seed).standard_normal((m, 2))
        out = equivalent_events(gen, names=NAMES, truth_cdf=CDF, x_edges=edge_sample,
                                bins=(20, 40))
        for b in per_bins:
            c = out["binnings"][str(b)]["combined"]
            per_bins[b].append((c["bias2_significance"], c["bias2"] + c["stat_gen"]))
            resolved += c["resolved"]
            if c["resolved"]:
                assert c["n_eq_inf"] is not None
            else:  # consistent with no bias: a lower limit only
                assert c["n_eq_inf"] is None and c["m_star"] is None
            # the 68 % interval is open above when its lower end of beta is 0
            assert (c["n_eq_inf_interval"][1] is None) == (c["bias2_interval"][0] == 0)
            assert 0 < c["n_eq_inf_lower_limit"] < math.inf
            violations += c["n_eq_lower_limit"] > m  # the true N_eq(M) is M
        json.dumps(out, allow_nan=False)
    for b, values in per_bins.items():
        z, mse = np.array(values).T
        nu = 2 * (b + 2) - 2  # non-empty flow bins included: about b + 2 bins per feature
        assert abs(z.mean()) < 3 / math.sqrt(seeds), (b, z.mean())
        spread = math.sqrt(2 / (seeds - 1) + 12 / (nu * seeds))
        assert abs(z.var(ddof=1) - 1) < 3 * spread, (b, z.var(ddof=1))
        ps = [_exact_p(edge_sample, k, b) for k in range(2)]
        s_p = sum(1 - np.sum(p**2) for p in ps)
        error = math.sqrt(2 * sum(_multinomial_tr2(p) for p in ps) / m**2 / seeds)
        assert abs(mse.mean() - s_p / m) < 3 * error, (b, s_p / mse.mean())
    # P(z > 2) is 2-5 % for these skewed forms: 80 estimates give about 3; 10 or more has
    # probability < 0.2 %. Likewise the 95 % lower limit on N_eq(M) exceeds M in about 4.
    assert resolved < 10
    assert violations < 10


def test_shifted_generator_matches_the_analytic_worth(edge_sample):
    # Truth N(0, 1), generator N(0.05, 1): beta = sum_b (q_b - p_b)^2 with q_b, p_b from the
    # normal CDF at the bin edges, N_eq(inf) = S_p / beta (about 1800 events at 5 bins, 7700
    # at 20), N_eq(M) = S_p / (beta + S_q / M), M* = 9 S_q / beta. Pulls against the analytic
    # beta, with the error at that beta, have mean within 3 / sqrt(K) of 0 and variance
    # within the chi2 band of 1 (K - 1 degrees of freedom, 0.1 % and 99.9 % quantiles).
    mu, m, seeds = 0.05, 50_000, 40
    gens = [np.random.default_rng(2000 + s).normal(mu, 1.0, (m, 1)) for s in range(seeds)]
    results = [equivalent_events(g, names=["a"], truth_cdf=CDF, x_edges=edge_sample[:, :1],
                                 bins=(5, 20)) for g in gens]
    for b in (5, 20):
        p, q = _exact_p(edge_sample, 0, b), _exact_p(edge_sample, 0, b, shift=mu)
        beta = float(np.sum((q - p) ** 2))
        s_p, s_q = 1 - np.sum(p**2), 1 - np.sum(q**2)
        figs = [r["binnings"][str(b)]["features"]["a"] for r in results]
        assert all(f["resolved"] for f in figs)
        pulls = np.array([(f["bias2"] - beta) / bias2_error(f, beta) for f in figs])
        assert abs(pulls.mean()) < 3 / math.sqrt(seeds), (b, pulls)
        band = stats.chi2.ppf([0.001, 0.999], seeds - 1) / (seeds - 1)
        assert band[0] < pulls.var(ddof=1) < band[1], (b, pulls)
        # the reported (plug-in) error describes the spread of the estimates as well
        spread = np.var([f["bias2"] for f in figs], ddof=1)
        assert band[0] < spread / np.mean([f["bias2_error"] ** 2 for f in figs]) < band[1]
        # the same in events, pooled: N_eq(inf), N_eq(M) and M* within 3 errors
        mean = np.mean([f["bias2"] for f in figs])
        error = math.sqrt(np.mean([bias2_error(f, beta) ** 2 for f in figs]) / seeds)
        rel = 3 * error / beta
        assert abs(s_p / mean / (s_p / beta) - 1) < rel, (b, s_p / mean, s_p / beta)
        n_eq_m = s_p / (beta + s_q / m)
        pooled = s_p / (mean + np.mean([f["stat_gen"] for f in figs]))
        assert abs(pooled / n_eq_m - 1) < rel, (b, pooled, n_eq_m)
        m_star = np.mean([f["s_gen"] for f in figs]) * 9 / mean
        assert abs(m_star / (9 * s_q / beta) - 1) < rel, (b, m_star, 9 * s_q / beta)
        # coverage: the 68 % intervals and the 95 % lower limits hold the true N_eq(inf) in
        # at least the binomial 0.1 % quantile of K estimates
        inside = sum(f["n_eq_inf_interval"][0] <= s_p / beta <= f["n_eq_inf_interval"][1]
                     for f in figs)
        below = sum(f["n_eq_inf_lower_limit"] <= s_p / beta for f in figs)
        assert inside >= stats.binom.ppf(0.001, seeds, 0.68), (b, inside)
        assert below >= stats.binom.ppf(0.001, seeds, 0.95), (b, below)
    # coarse bins see a smooth bias best: the summary is the 5-bin figure
    assert results[0]["summary"]["binning"] == "binning 5"


@pytest.fixture(scope="module")
def nlo_samples():
    gen = _arr(nlo.truth(300_000, seed=11))
    gen[:, 0] *= 1.03  # a generator with a 3 % pt scale error
    truth = _arr(nlo.truth(1_000_000, seed=12))
    edges = _arr(nlo.generate(60_000, seed=13))  # positions of "training" events
    return gen, truth, edges


def test_held_out_weighted_estimate_agrees_with_truth(nlo_samples):
    # The held-out estimate (weighted nlo events, 20 % negative weights) and the truth-sample
    # estimate measure the same beta, in the same bins. Their pulls (bias2_pull, both errors
    # at the common beta; the generated sample's share counted twice, so slightly
    # conservative) over K held-out samples: per entry, sum of squares below the 99.9 %
    # chi2_K quantile and mean within 3 / sqrt(K) of 0. With N_eff(test) = 100000 * 0.36 =
    # 36000 the 3 % pt error (beta = S_p / 9000 at 5 bins) is resolved by the held-out events.
    gen, truth, edges = nlo_samples
    options = {"names": NLO, "discrete": ["njet"], "x_edges": edges, "bins": (5, 20),
               "pair_bins": 4}
    reference = equivalent_events(gen, truth, None, **options)
    assert reference["reference"] == {"kind": "unweighted", "n": 1_000_000,
                                      "sum_weights": 1_000_000, "n_eff": 1_000_000.0}
    seeds = 5
    pulls: dict[str, list[float]] = {}
    for seed in range(seeds):
        test = nlo.generate(100_000, seed=100 + seed)
        held = equivalent_events(gen, _arr(test), test["weight"], **options)
        assert held["reference"]["kind"] == "weighted"
        assert held["binnings"]["5"]["features"]["pt"]["resolved"]
        pairs = [(f"{b} {k}", held["binnings"][b]["features"][k],
                  reference["binnings"][b]["features"][k])
                 for b in ("5", "20") for k in NLO]
        pairs += [(f"{b} combined", held["binnings"][b]["combined"],
                   reference["binnings"][b]["combined"]) for b in ("5", "20")]
        pairs += [(f"pairs {k}", held["pairs"]["4x4"]["pairs"][k],
                   reference["pairs"]["4x4"]["pairs"][k])
                  for k in held["pairs"]["4x4"]["pairs"]]
        pairs += [("pairs combined", held["pairs"]["4x4"]["combined"],
                   reference["pairs"]["4x4"]["combined"])]
        for label, a, b in pairs:
            pulls.setdefault(label, []).append(bias2_pull(a, b))
    limit = stats.chi2.ppf(0.999, seeds)
    for label, values in pulls.items():
        values = np.array(values)
        assert np.sum(values**2) < limit, (label, values)
        assert abs(values.mean()) < 3 / math.sqrt(seeds), (label, values)
    # the truth estimate sees the pt error and not the (unbiased) y, m, njet
    features = reference["binnings"]["5"]["features"]
    assert features["pt"]["bias2_significance"] > 10
    for name in ("y", "m", "njet"):
        assert abs(features[name]["bias2_significance"]) < 3, (name, features[name])


def test_statistical_worth_is_json_ready_and_compares_with_training(nlo_samples):
    gen, _, _ = nlo_samples
    train, test = nlo.generate(60_000, seed=21), nlo.generate(30_000, seed=22)
    out = statistical_worth(NLO, gen[:50_000], _arr(test), test["weight"], _arr(train),
                       train["weight"], discrete=["njet"])
    text = json.dumps(out, allow_nan=False)
    assert json.loads(text)["n_generated"] == 50_000
    assert set(out["binnings"]) == {"5", "10", "20", "40"} and set(out["pairs"]) == {"5x5"}
    assert len(out["pairs"]["5x5"]["pairs"]) == 6
    kish = float(train["weight"].sum() ** 2 / np.sum(train["weight"] ** 2))
    assert out["training"]["n_eff"] == pytest.approx(kish)
    summary = out["summary"]
    assert summary["n_eff_train"] == pytest.approx(kish)
    assert summary["amplification"] == pytest.approx(summary["n_eq"] / summary["n_eq_train"])
    # the summary is the figure with the smallest lower limit on N_eq(inf)
    lows = [e["combined"]["n_eq_inf_lower_limit"] for e in out["binnings"].values()]
    lows.append(out["pairs"]["5x5"]["combined"]["n_eq_inf_lower_limit"])
    assert summary["n_eq_inf_lower_limit"] == min(lows)
    # the njet bins are the same at every binning
    njet = [e["features"]["njet"]["bias2"] for e in out["binnings"].values()]
    assert np.ptp(njet) == 0


def test_combined_figure_accounts_for_correlated_observables():
    # two copies of one feature: the combined bias and S_p double, and so does the null
    # error (fully correlated), where independent features would give sqrt(2) times
    rng = np.random.default_rng(3)
    x = rng.standard_normal(5_000)
    gen = np.column_stack([x, x])
    ref = rng.standard_normal(8_000)
    w = rng.choice([-1.0, 1.0], size=len(ref), p=[0.2, 0.8])
    out = equivalent_events(gen, np.column_stack([ref, ref]), w, bins=10)
    single, combined = out["binnings"]["10"]["features"]["x0"], out["binnings"]["10"]["combined"]
    for key in ("bias2", "bias2_error_null", "s_ref", "stat_gen", "stat_ref"):
        assert combined[key] == pytest.approx(2 * single[key], rel=1e-9), key


def test_bins_are_those_of_the_histograms():
    # same bin layout (flow bins included, values on an edge) as compare.histogram
    rng = np.random.default_rng(4)
    x = np.round(rng.normal(0, 2, 3_000), 1)
    w = rng.normal(1.0, 2.0, len(x))
    edges = binning(x, 8)
    f = _fractions(x[:, None], w, [_Observable("x", (0,), (edges,))])
    values, variances = histogram(x, w, edges)
    np.testing.assert_allclose(f.r, values / values.sum(), rtol=1e-12, atol=1e-15)
    assert np.isclose(np.trace(f.cov) * (len(x) - 1) / len(x),
                      np.sum((variances - 2 * f.r * variances + f.r**2 * variances.sum())
                             / values.sum() ** 2))


@pytest.mark.parametrize(("kwargs", "error", "match"), [
    ({"x_gen": np.empty((0, 2))}, BadInputError, "0 generated events given"),
    ({"x_gen": np.array([[0.0, np.nan], [1.0, 1.0]])}, NonFiniteError,
     "NaN or infinite generated features"),
    ({"w_ref": np.full(100, np.nan)}, NonFiniteError, "reference weights"),
    ({"w_ref": -np.ones(100)}, WeightSumError, "reference weights sum to -100"),
    ({"x_ref": np.ones((100, 3))}, BadInputError, "reference events have 3 features"),
    ({"w_ref": np.ones(99)}, BadInputError, r"reference weights have shape \(99,\)"),
    ({"x_ref": None, "w_ref": None}, BadInputError, "no reference"),
    ({"names": ["a"]}, BadInputError, "1 names given for 2 features"),
    ({"discrete": ["aa"]}, BadInputError, "did you mean 'a'"),
    ({"bins": (5, 1)}, BadInputError, "whole numbers >= 2"),
    ({"confidence": 1.5}, BadInputError, "confidence must be"),
    ({"x_train": np.ones((100, 2)), "w_train": np.zeros(100)}, WeightSumError,
     "training weights sum to 0"),
    ({"truth_cdf": CDF, "x_edges": np.ones((10, 2))}, BadInputError, "not both"),
])
def test_bad_input_is_refused(kwargs, error, match):
    rng = np.random.default_rng(5)
    args = {"x_gen": rng.standard_normal((100, 2)), "x_ref": rng.standard_normal((100, 2)),
            "w_ref": np.ones(100), "names": NAMES}
    args.update(kwargs)
    with pytest.raises(error, match=match) as info:
        equivalent_events(args.pop("x_gen"), args.pop("x_ref"), args.pop("w_ref"), **args)
    assert isinstance(info.value, FlowstatsError)


def test_truth_cdf_needs_edges_and_marginals():
    gen = np.random.default_rng(6).standard_normal((100, 2))
    with pytest.raises(BadInputError, match="needs x_edges"):
        equivalent_events(gen, names=NAMES, truth_cdf=CDF)
    with pytest.raises(BadInputError, match=r"no CDF for \['b'\]"):
        equivalent_events(gen, names=NAMES, truth_cdf={"a": stats.norm.cdf}, x_edges=gen)
    with pytest.raises(BadInputError, match="pair_bins needs a reference sample"):
        equivalent_events(gen, names=NAMES, truth_cdf=CDF, x_edges=gen, pair_bins=3)


def test_many_observables_are_estimated_alone():
    # 17 features (as the whole-event observables): 136 pairs of 7 x 7 cells are 6664 bins,
    # more than MAX_COMBINED_BINS: each pair alone, no combined pair figure; the 1-D
    # features (17 x 7 bins) are still combined
    rng = np.random.default_rng(7)
    gen, ref = rng.standard_normal((3_000, 17)), rng.standard_normal((2_000, 17))
    out = statistical_worth([f"f{k}" for k in range(17)], gen, ref, np.ones(2_000), ref,
                            np.ones(2_000), bins=5)
    grid = out["pairs"]["5x5"]
    assert 17 * 16 // 2 * 49 > MAX_COMBINED_BINS
    assert grid["combined"] is None and "max_combined_bins" in grid["note"]
    assert len(grid["pairs"]) == 136
    assert out["binnings"]["5"]["combined"] is not None
    json.dumps(out, allow_nan=False)
    alone = equivalent_events(gen, ref, np.ones(2_000), bins=5, max_combined_bins=10)
    assert alone["binnings"]["5"]["combined"] is None
    assert alone["summary"]["binning"].startswith("binning 5 x")


# ---------------------------------------------------------------- the recommendation


def test_recommendation_formulas_on_constructed_numbers():
    # A = 2: N_eq(M) = N_eq(train) at M = N_eq(train) A / (A - 1) = 2 N_eq(train) (with
    # S_q = S_p), a saving of (N / N_eq(train)) (1 - 1/A) = N / (2 N_eq(train))
    n, n_train = 100_000, 20_000
    rec = recommendation(n, n_train, 2 * n_train, 1.5 * n_train, n_eq_inf_error=5_000)
    assert rec["amplification"] == 2.0 and rec["amplification_error"] == 0.25
    assert rec["amplification_lower_limit"] == 1.5
    assert rec["reachable"] and rec["reachable_at_cl"]
    assert rec["m_match"] == pytest.approx(2 * n_train)
    assert rec["saving"] == pytest.approx(n / n_train * 0.5)
    # the lower limit A = 1.5 gives M = 3 N_eq(train): the upper limit, and the M to ask for
    assert rec["m_match_upper_limit"] == pytest.approx(3 * n_train)
    assert rec["saving_lower_limit"] == pytest.approx(n / (3 * n_train))
    assert rec["m_recommended"] == 60_000
    assert rec["text"].startswith("ask for 60,000 events: at 95 % CL")
    assert "1.7x fewer" in rec["text"] and "2.5x fewer" in rec["text"]
    # S_q / S_p = c scales M (N_eq(M) = S_p / (beta + S_q / M)) and divides the saving
    scaled = recommendation(n, n_train, 2 * n_train, 1.5 * n_train, stat_ratio=1.1)
    assert scaled["m_match"] == pytest.approx(1.1 * 2 * n_train)
    assert scaled["saving"] == pytest.approx(n / n_train * 0.5 / 1.1)
    # N_eq(M) of the model at m_match is N_eq(train): 1 / N_eq(M) = 1 / N_eq(inf) + c / M
    assert 1 / (1 / (2 * n_train) + 1.1 / scaled["m_match"]) == pytest.approx(n_train)
    json.dumps(rec, allow_nan=False)


def test_recommendation_when_not_reachable():
    # A < 1: no M matches; simulate the weighted events (M* if unit weights are needed)
    rec = recommendation(160_000, 53_489, 16_000, 12_000, n_eq_inf_error=5_000,
                         m_star=120_000.0)
    assert not rec["reachable"] and not rec["reachable_at_cl"]
    assert rec["m_match"] is None and rec["m_match_upper_limit"] is None
    assert rec["saving"] == 0.0 and rec["saving_lower_limit"] == 0.0
    assert rec["m_recommended"] == 120_000
    assert rec["text"].startswith("unweighting is not worth it here")
    assert "0.30 +- 0.09 times the 53,489 equivalent events" in rec["text"]
    assert "simulate the weighted events instead" in rec["text"]
    # A = 1 exactly: not reachable either
    assert not recommendation(1_000, 500, 500, 400)["reachable"]
    # A > 1 but its lower limit <= 1: the central M, and the text says it is not at 95 % CL
    rec = recommendation(100_000, 20_000, 40_000, 15_000)
    assert rec["reachable"] and not rec["reachable_at_cl"]
    assert rec["m_recommended"] == 40_000 and rec["m_match_upper_limit"] is None
    assert rec["saving_lower_limit"] == 0.0 and "but not at 95 % CL" in rec["text"]
    # bias not resolved: A unbounded, M = N_eq(train) (statistics alone), limits from below
    rec = recommendation(100_000, 20_000, None, 30_000)
    assert rec["amplification"] is None and rec["m_match"] == pytest.approx(20_000)
    assert rec["m_match_upper_limit"] == pytest.approx(60_000)
    assert "bias not resolved" in rec["text"]
    # no training precision: no recommendation
    assert recommendation(100, None, 10, 5)["m_recommended"] is None


def test_recommendation_limits_are_monotonic():
    # a larger lower limit on N_eq(inf) gives a larger lower limit on A and on the saving and
    # a smaller upper limit on M; the limits are on the safe side of the central values
    n, n_train, n_inf = 100_000, 20_000, 60_000
    previous = None
    for low in np.linspace(21_000, n_inf, 12):
        rec = recommendation(n, n_train, n_inf, float(low))
        assert rec["amplification_lower_limit"] <= rec["amplification"]
        assert rec["m_match_upper_limit"] >= rec["m_match"]
        assert rec["saving_lower_limit"] <= rec["saving"]
        if previous is not None:
            assert rec["amplification_lower_limit"] > previous["amplification_lower_limit"]
            assert rec["m_match_upper_limit"] < previous["m_match_upper_limit"]
            assert rec["saving_lower_limit"] > previous["saving_lower_limit"]
        previous = rec
    assert previous["m_match_upper_limit"] == pytest.approx(previous["m_match"])


def test_unweight_report_and_cli_give_the_recommendation(tiny_unweight):
    # the cheapest real run (tests/conftest.py, shared with tests/test_docs.py): the block in
    # summary.json agrees with the summary's figures, and the CLI prints exactly one
    # recommendation line on stderr
    from flowstats import load_result

    captured, tmp_path = tiny_unweight, tiny_unweight.dir
    assert captured.code == 0, captured.err
    summary = json.loads((tmp_path / "report" / "summary.json").read_text())
    worth = summary["worth"]
    rec, s = worth["recommendation"], worth["summary"]
    assert set(rec) == {"n_weighted", "amplification", "amplification_error",
                        "amplification_lower_limit", "reachable", "reachable_at_cl",
                        "m_match", "m_match_upper_limit", "saving", "saving_lower_limit",
                        "m_recommended", "text"}
    assert rec["n_weighted"] == summary["split"]["n_train_and_val"] == worth["training"]["n"]
    assert rec["amplification"] == s["amplification_inf"]
    assert rec["amplification_lower_limit"] == pytest.approx(s["amplification_inf_lower_limit"])
    assert rec["reachable"] == (rec["amplification"] is None or rec["amplification"] > 1)
    if rec["m_match"] is not None and s["m_half"] is not None:  # M = M_0 / (A - 1)
        assert rec["m_match"] == pytest.approx(s["m_half"] / (rec["amplification"] - 1))
        assert rec["saving"] == pytest.approx(rec["n_weighted"] / rec["m_match"])
    if rec["m_match_upper_limit"] is not None:
        a_low = rec["amplification_lower_limit"]
        assert rec["m_match_upper_limit"] == pytest.approx(
            s["s_gen"] / s["s_ref"] * s["n_eq_train"] * a_low / (a_low - 1))
    if not rec["reachable"]:
        assert rec["m_recommended"] == math.ceil(s["m_star"])
        assert rec["text"].startswith("unweighting is not worth it here")
    lines = [line for line in captured.err.splitlines() if "recommendation" in line]
    assert lines == [f"flowstats: recommendation: {rec['text']}"]
    assert json.loads(captured.out)["recommendation"] == rec
    assert load_result(tmp_path / "report").worth.recommendation == rec
