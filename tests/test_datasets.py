"""Tests of the built-in datasets (flowstats.datasets.dijet, .nlo), their ROOT writer and
``flowstats generate``.

Statistical tolerances: a sample mean is compared with its expectation within 4 standard
errors (two-sided probability 6e-5 of a false failure for a Gaussian mean); chi2 comparisons
require p > 0.001. All seeds are fixed, so every test is deterministic.
"""

from __future__ import annotations

import json
import math

import numpy as np
import pytest
import uproot
from scipy import integrate, special, stats
from sklearn.metrics import roc_auc_score

from flowstats.cli import main
from flowstats.datasets import dijet, dijet_variant, nlo, write
from flowstats.exceptions import BadInputError, BranchNotFoundError, OutputExistsError

SR = (3300.0, 3700.0)


def _gl(a: float, b: float, n: int) -> tuple[np.ndarray, np.ndarray]:
    x, w = special.roots_legendre(n)
    return 0.5 * (b - a) * x + 0.5 * (a + b), 0.5 * (b - a) * w


def _chi2_two_sample(h1, v1, h2, v2) -> tuple[float, int, float]:
    """chi2 of two independent normalised histograms with per-bin variances v1, v2."""
    chi2 = float(np.sum((h1 - h2) ** 2 / (v1 + v2)))
    ndf = len(h1)
    return chi2, ndf, float(stats.chi2.sf(chi2, ndf))


# ------------------------------------------------------------------------------- dijet


@pytest.fixture(scope="module")
def dijet_sample():
    return dijet.generate(200_000, 2000, seed=11)


@pytest.mark.parametrize("model", [dijet, dijet_variant], ids=["dijet", "dijet-variant"])
def test_seed_reproducible_and_columns(model):
    a = model.generate(5000, 100, seed=3)
    b = model.generate(5000, 100, seed=3)
    c = model.generate(5000, 100, seed=4)
    assert list(a) == model.COLUMNS
    for key in a:
        np.testing.assert_array_equal(a[key], b[key])
    assert not np.array_equal(a["mjj"], c["mjj"])
    assert a["label"].dtype == np.int8
    assert all(a[name].dtype == np.float64 for name in ["mjj", *model.FEATURES])
    np.testing.assert_allclose(a["mj2"], a["mj1"] + a["delta_mj"], rtol=1e-15)
    assert np.all(a["delta_mj"] >= 0)


def test_dijet_mjj_range_and_falling_spectrum():
    bkg = dijet.sample_background(200_000, seed=5)
    m = bkg["mjj"]
    assert m.min() >= dijet.M_MIN and m.max() <= dijet.M_MAX
    edges = np.arange(dijet.M_MIN, dijet.M_MAX + 1, 100.0)
    counts = np.histogram(m, edges)[0]
    cdf = np.array([integrate.quad(lambda v: math.exp(dijet.log_prob_mjj_background(v)), a, b)[0]
                    for a, b in zip(edges[:-1], edges[1:])])
    expected = len(m) * cdf
    # the sampler follows the exact density: Poisson chi2 over bins with >= 20 expected events
    ok = expected >= 20
    chi2 = np.sum((counts[ok] - expected[ok]) ** 2 / expected[ok])
    assert stats.chi2.sf(chi2, ok.sum()) > 1e-3, chi2
    # falling: wherever the expected drop between neighbouring bins exceeds 5 standard
    # deviations of the difference of two Poisson counts, the histogram must fall
    drop = expected[:-1] - expected[1:]
    significant = drop > 5 * np.sqrt(expected[:-1] + expected[1:])
    assert significant[:15].all()  # at least up to 4 TeV
    assert np.all(np.diff(counts)[significant] < 0)


def test_dijet_features_depend_on_mjj():
    bkg = dijet.sample_background(200_000, seed=6)
    low = (bkg["mjj"] < 2700)
    high = (bkg["mjj"] > 3800)
    def shift_in_se(a, b):
        se = math.hypot(a.std() / math.sqrt(len(a)), b.std() / math.sqrt(len(b)))
        return abs(b.mean() - a.mean()) / se

    # the documented slopes give log-mean shifts of 0.8 ln(4300/2600) = 0.4 (mj1) and
    # >= 0.7 x 0.5 = 0.35 (delta_mj), with SE ~ 0.01: ~40 standard errors
    for name in ("mj1", "delta_mj"):
        assert shift_in_se(np.log(bkg[name][low]), np.log(bkg[name][high])) > 10, name
    # tau21 at fixed jet mass (mj1 in [40, 90] GeV): logit shift 0.3 x 0.5 = 0.15, i.e. a mean
    # shift of ~0.035 for an SD of 0.18 and ~5000 low-band events: ~9 standard errors
    band = (bkg["mj1"] > 40) & (bkg["mj1"] < 90)
    tau = bkg["tau21_j1"]
    assert shift_in_se(tau[low & band], tau[high & band]) > 5
    # non-trivial correlations: heavier jets have lower tau21, heavier mj1 larger delta_mj
    r_tau = stats.pearsonr(np.log(bkg["mj1"]), bkg["tau21_j1"]).statistic
    r_dm = stats.pearsonr(np.log(bkg["mj1"]), np.log(bkg["delta_mj"])).statistic
    r_tt = stats.pearsonr(bkg["tau21_j1"], bkg["tau21_j2"]).statistic
    # the standard error of a correlation coefficient is < 1/sqrt(n) = 0.0022
    assert r_tau < -0.05 and r_dm > 0.05 and r_tt > 0.02, (r_tau, r_dm, r_tt)


def test_dijet_sampler_matches_density():
    # for x ~ p(.|m), E[p(x|m')/p(x|m)] = 1 exactly when sampler and density agree (both are
    # normalised); a mismatch in any conditional shifts it. SE from the sample spread.
    bkg = dijet.sample_background(100_000, seed=7)
    x = {k: bkg[k] for k in dijet.FEATURES}
    ratio = np.exp(dijet.log_prob_background(x, 1.1 * bkg["mjj"])
                   - dijet.log_prob_background(x, bkg["mjj"]))
    assert abs(ratio.mean() - 1) < 4 * ratio.std() / math.sqrt(len(ratio))
    sig = dijet.sample_signal(100_000, seed=8)
    x = {k: sig[k] for k in dijet.FEATURES}
    ratio = np.exp(dijet.log_prob_signal(x, sig["mjj"], m_x=520.0, m_y=104.0)
                   - dijet.log_prob_signal(x, sig["mjj"]))
    assert abs(ratio.mean() - 1) < 4 * ratio.std() / math.sqrt(len(ratio))
    ratio = np.exp(dijet.log_prob_mjj_signal(sig["mjj"], m_wprime=3550.0)
                   - dijet.log_prob_mjj_signal(sig["mjj"]))
    assert abs(ratio.mean() - 1) < 4 * ratio.std() / math.sqrt(len(ratio))


def test_dijet_signal_fraction_and_masses(dijet_sample):
    d = dijet_sample
    sig = d["label"] == 1
    assert sig.sum() == 2000 and (~sig).sum() == 200_000
    n = sig.sum()
    # medians of the log-normal jet masses are m_y, m_x; SE(median) = 1.2533 sigma / sqrt(n)
    # with sigma = 0.12 m (log-width 0.12)
    assert abs(np.median(d["mj1"][sig]) - 100.0) < 4 * 1.2533 * 12.0 / math.sqrt(n)
    assert abs(np.median(d["mj2"][sig]) - 500.0) < 4 * 1.2533 * 60.0 / math.sqrt(n)
    # m_jj: Gaussian of width 5 % (175 GeV); the truncation at 2.5 TeV (-5.7 sigma) is negligible
    assert abs(d["mjj"][sig].mean() - 3500.0) < 4 * 175.0 / math.sqrt(n)
    assert abs(d["tau21_j1"][sig].mean() - dijet.SIG_TAU_MEAN) < 4 * 0.18 / math.sqrt(n)
    # other masses
    other = dijet.sample_signal(2000, m_wprime=4000.0, m_x=300.0, m_y=80.0, seed=9)
    assert abs(np.median(other["mj1"]) - 80.0) < 4 * 1.2533 * 9.6 / math.sqrt(2000)
    assert abs(np.median(other["mj2"]) - 300.0) < 4 * 1.2533 * 36.0 / math.sqrt(2000)
    assert abs(other["mjj"].mean() - 4000.0) < 4 * 200.0 / math.sqrt(2000)


def test_dijet_llr_equals_densities(dijet_sample):
    d = dijet_sample
    x = np.column_stack([d[k] for k in dijet.FEATURES])
    llr = dijet.log_prob_signal(x, d["mjj"]) - dijet.log_prob_background(x, d["mjj"])
    np.testing.assert_allclose(d["llr"], llr, rtol=1e-12, atol=1e-9)
    full = llr + dijet.log_prob_mjj_signal(d["mjj"]) - dijet.log_prob_mjj_background(d["mjj"])
    np.testing.assert_allclose(d["llr_full"], full, rtol=1e-12, atol=1e-9)
    assert np.isfinite(d["llr"]).all() and np.isfinite(d["llr_full"]).all()


def test_dijet_llr_separates_in_signal_region(dijet_sample):
    d = dijet_sample
    sr = (d["mjj"] > SR[0]) & (d["mjj"] < SR[1])
    label = d["label"][sr]
    auc = roc_auc_score(label, d["llr"][sr])
    assert auc > 0.9
    # signal weak in each single feature, strong in the joint: every feature alone is worse
    for name in dijet.FEATURES:
        single = roc_auc_score(label, d[name][sr])
        assert max(single, 1 - single) < auc, name
    # S/B in the SR below 1 % for 1000 signal per 1M background (here 2000 per 200k: x 10)
    s_over_b = label.sum() / (label == 0).sum()
    assert 0.03 < s_over_b < 0.1, s_over_b


def test_dijet_mjj_densities_normalised():
    lo, hi = dijet.M_MIN, dijet.M_MAX
    value = integrate.quad(lambda m: math.exp(dijet.log_prob_mjj_background(m)), lo, hi,
                           epsrel=1e-10)[0]
    assert value == pytest.approx(1.0, abs=1e-8)
    for m_wprime in (3500.0, 2600.0):  # 2600: strongly truncated at 2500
        value = integrate.quad(lambda m, mw=m_wprime: math.exp(dijet.log_prob_mjj_signal(
            m, m_wprime=mw)), lo, hi, points=[m_wprime], epsrel=1e-10)[0]
        assert value == pytest.approx(1.0, abs=1e-8)
    assert dijet.log_prob_mjj_background(np.array([2400.0, 6100.0])).tolist() == [-np.inf] * 2


def _integrate_features(logp, u1, w1, u2, w2, n_tau, signal):
    """4-D Gauss-Legendre integral over (log mj1, log delta_mj | log mj2, tau21_j1, tau21_j2)."""
    t, wt = _gl(0.0, 1.0, n_tau)
    t1, t2 = (g.ravel() for g in np.meshgrid(t, t, indexing="ij"))
    w12 = np.outer(wt, wt).ravel()
    total = 0.0
    for a, wa in zip(u1, w1):
        mj1 = math.exp(a)
        if signal:
            mj2 = np.exp(u2)
            dm, jac = mj2 - mj1, mj1 * mj2
        else:
            dm = np.exp(u2)
            jac = mj1 * dm
        x = np.column_stack([np.full(len(dm) * len(t1), mj1), np.repeat(dm, len(t1)),
                             np.tile(t1, len(dm)), np.tile(t2, len(dm))])
        p = np.exp(logp(x))
        total += wa * np.sum(p * np.repeat(jac * w2, len(t1)) * np.tile(w12, len(dm)))
    return total


def test_dijet_feature_densities_normalised():
    # Gauss-Legendre quadrature in log masses; with 40 x 70 x 20 x 20 nodes the result moved by
    # < 1e-5 when every node count was doubled, so 1e-4 is 10x the quadrature error
    for m in (2600.0, 5000.0):
        mu = math.log(dijet.MJ1_SCALE) + dijet.MJ1_SLOPE * math.log(m / dijet.M_REF)
        u1, w1 = _gl(mu - 6.0, mu + 6.0, 40)  # +-9 sigma of the log-normal
        u2, w2 = _gl(math.log(1e-6), math.log(1e5), 70)  # delta_mj in [1e-6, 1e5] GeV
        value = _integrate_features(lambda x, m=m: dijet.log_prob_background(
            x, np.full(len(x), m)), u1, w1, u2, w2, 20, signal=False)
        assert value == pytest.approx(1.0, abs=1e-4), m
    u, w = _gl(math.log(30.0), math.log(3000.0), 70)
    value = _integrate_features(lambda x: dijet.log_prob_signal(x, None), u, w, u, w, 20,
                                signal=True)
    assert value == pytest.approx(1.0, abs=1e-4)


def test_dijet_bad_inputs():
    with pytest.raises(BadInputError, match="n_background"):
        dijet.generate(-1, 10)
    with pytest.raises(BadInputError, match="n_signal"):
        dijet.generate(10, -1)
    with pytest.raises(BadInputError, match="nothing"):
        dijet.generate(0, 0)
    with pytest.raises(BadInputError, match="m_wprime"):
        dijet.generate(10, 10, m_wprime=7000.0)
    with pytest.raises(BadInputError, match="m_x"):
        dijet.generate(10, 10, m_x=3000.0, m_y=600.0)
    with pytest.raises(BadInputError, match="shape"):
        dijet.log_prob_background(np.zeros((3, 3)), np.full(3, 3000.0))
    with pytest.raises(BranchNotFoundError, match="tau21_j1"):
        dijet.log_prob_signal({"mj1": [1.0], "delta_mj": [1.0], "tau21_j": [0.5],
                               "tau21_j2": [0.5]})


# ------------------------------------------------------------------------------- nlo


@pytest.fixture(scope="module")
def nlo_sample():
    return nlo.generate(200_000, negative_fraction=0.2, seed=21)


@pytest.fixture(scope="module")
def truth_sample():
    return nlo.truth(200_000, seed=22)


def test_nlo_seed_reproducible():
    a, b = nlo.generate(3000, seed=1), nlo.generate(3000, seed=1)
    c = nlo.generate(3000, seed=2)
    assert set(a) == {"pt", "y", "m", "njet", "weight"}
    for key in a:
        np.testing.assert_array_equal(a[key], b[key])
    assert not np.array_equal(a["pt"], c["pt"])
    np.testing.assert_array_equal(nlo.truth(100, seed=5)["y"], nlo.truth(100, seed=5)["y"])
    assert not np.array_equal(nlo.truth(100, seed=5)["y"], nlo.truth(100, seed=6)["y"])


BINS = {
    "pt": np.r_[np.arange(0.0, 60.0, 5.0), 60.0, 70.0, 80.0, 100.0, np.inf],
    "y": np.r_[-np.inf, np.arange(-4.5, 4.51, 0.5), np.inf],
    "m": np.r_[60.0, 75.0, 80.0, 84.0, 86.0, 88.0, np.arange(89.0, 94.1, 0.5), 96.0, 98.0,
               102.0, 107.0, 120.0],
    "njet": np.arange(-0.5, 4.0, 1.0),
}


def _weighted_hist(values, weights, bins, norm, n):
    w = np.histogram(values, bins, weights=weights)[0]
    w2 = np.histogram(values, bins, weights=weights**2)[0]
    # multinomial variance of a bin's weight sum: sum w^2 - (sum w)^2 / n
    return w / norm, (w2 - w**2 / n) / norm**2


def _truth_hist(values, bins):
    n = len(values)
    p = np.histogram(values, bins)[0] / n
    return p, p * (1 - p) / n


@pytest.mark.parametrize("name", ["pt", "y", "m", "njet"])
def test_nlo_weighted_matches_truth(name, nlo_sample, truth_sample):
    e, t = nlo_sample, truth_sample
    hw, vw = _weighted_hist(e[name], e["weight"], BINS[name], nlo.SIGMA, len(e["weight"]))
    ht, vt = _truth_hist(t[name], BINS[name])
    assert np.min(ht) * len(t[name]) > 20  # Gaussian regime in every bin
    chi2, ndf, p = _chi2_two_sample(hw, vw, ht, vt)
    assert p > 1e-3, (chi2, ndf)
    # dropping the negative events biases pt, y and njet (where f_- differs from t); the mass
    # shape is common to both, so it stays unbiased
    pos = e["weight"] > 0
    hp, vp = _truth_hist(e[name][pos], BINS[name])
    chi2, ndf, p = _chi2_two_sample(hp, vp, ht, vt)
    if name == "m":
        assert p > 1e-3, (chi2, ndf)
    else:
        assert p < 1e-6, (chi2, ndf)


@pytest.mark.parametrize("nu", [0.05, 0.2, 0.4])
def test_nlo_negative_fraction_and_sum_of_weights(nu):
    n = 100_000
    e = nlo.generate(n, negative_fraction=nu, seed=31)
    w = e["weight"]
    frac = np.mean(w < 0)
    assert abs(frac - nu) < 4 * math.sqrt(nu * (1 - nu) / n)  # binomial error
    np.testing.assert_allclose(np.abs(w), nlo.SIGMA / (n * (1 - 2 * nu)), rtol=1e-12)
    # sum w = w (n - 2 k), k ~ binomial(n, nu): SE(sum w / SIGMA) = 2 sqrt(n nu (1-nu)) w / SIGMA
    se = 2 * math.sqrt(nu * (1 - nu) / n) / (1 - 2 * nu)
    assert abs(w.sum() / nlo.SIGMA - 1) < 4 * se


def test_nlo_zero_negative_fraction_is_truth():
    e = nlo.generate(1000, negative_fraction=0.0, seed=3)
    assert np.all(e["weight"] == nlo.SIGMA / 1000)


def test_nlo_densities_normalised_and_consistent(truth_sample):
    # 3-D Gauss-Legendre: pt = s^2 (smooth at 0), y, m = MZ + G/2 tan(theta) (flat BW)
    s, ws = _gl(0.0, math.sqrt(400.0), 60)
    y, wy = _gl(-12.0, 12.0, 40)
    half = nlo.GAMMA_Z / 2
    th, wth = _gl(math.atan((nlo.M_LOW - nlo.MZ) / half), math.atan((nlo.M_HIGH - nlo.MZ) / half),
                  20)
    S, Y, TH = (g.ravel() for g in np.meshgrid(s, y, th, indexing="ij"))
    W = np.einsum("i,j,k->ijk", ws * 2 * s, wy, wth * half / np.cos(th) ** 2).ravel()
    x = np.column_stack([S**2, Y, nlo.MZ + half * np.tan(TH)])
    for logp in (nlo.truth_log_prob, nlo.log_prob_negative, nlo.log_prob_positive):
        # quadrature error < 1e-7 (measured by doubling every node count), so 1e-6
        assert np.sum(np.exp(logp(x)) * W) == pytest.approx(1.0, abs=1e-6)
    # the njet probabilities sum to one at every point, for t and f_-
    small = x[::997]
    for logp in (nlo.truth_log_prob, nlo.log_prob_negative):
        joint = sum(np.exp(logp(small, njet=np.full(len(small), k))) for k in range(4))
        np.testing.assert_allclose(joint, np.exp(logp(small)), rtol=1e-12)
    probs = nlo.truth_njet_probabilities()
    assert probs.sum() == pytest.approx(1.0, abs=1e-9)
    # ... and agree with the 3-D quadrature of the joint truth density
    for k in range(4):
        joint = np.exp(nlo.truth_log_prob(x, njet=np.full(len(x), k)))
        assert probs[k] == pytest.approx(np.sum(joint * W), abs=1e-6)
    # t = (1 + a) f_+ - a f_-
    nu = 0.3
    a = nu / (1 - 2 * nu)
    recon = (1 + a) * np.exp(nlo.log_prob_positive(small, negative_fraction=nu)) \
        - a * np.exp(nlo.log_prob_negative(small))
    np.testing.assert_allclose(recon, np.exp(nlo.truth_log_prob(small)), rtol=1e-9, atol=1e-300)
    # the truth sampler follows the truth density: E_t[f_-/t] = 1 (joint, with njet)
    t = truth_sample
    ratio = np.exp(nlo.log_prob_negative(t, njet=t["njet"]) - nlo.truth_log_prob(t, njet=t["njet"]))
    assert abs(ratio.mean() - 1) < 4 * ratio.std() / math.sqrt(len(ratio))
    # and the njet marginal matches (chi2 with multinomial errors)
    counts = np.bincount(t["njet"], minlength=4)
    expected = len(t["njet"]) * nlo.truth_njet_probabilities()
    assert stats.chisquare(counts, expected).pvalue > 1e-3


def test_nlo_bad_inputs():
    with pytest.raises(BadInputError, match=r"maximum allowed is < 0.5"):
        nlo.generate(100, negative_fraction=0.5)
    with pytest.raises(BadInputError, match=">= 0"):
        nlo.generate(100, negative_fraction=-0.1)
    with pytest.raises(BadInputError, match="number of events"):
        nlo.generate(0)
    with pytest.raises(BadInputError, match="truth"):
        nlo.truth(-3)
    with pytest.raises(BranchNotFoundError, match="'pt'"):
        nlo.truth_log_prob({"p_t": [1.0], "y": [0.0], "m": [91.0]})


# ------------------------------------------------------------------------------- ROOT writing


def test_write_round_trip(tmp_path):
    d = dijet.generate(3000, 30, seed=2)
    e = nlo.generate(2000, seed=2)
    t = nlo.truth(500, seed=2)
    path = tmp_path / "out.root"
    write(path, d, provenance={"seed": 2}, step_size=700)
    write(tmp_path / "nlo.root", e, tree="weighted", trees={"truth": t})
    with uproot.open(path) as f:
        assert f.classnames()["events;1"] == "TTree"
        back = f["events"].arrays(library="np")
        assert json.loads(str(f["provenance"]))["seed"] == 2
    for key in d:
        np.testing.assert_array_equal(back[key], d[key])
        assert back[key].dtype == d[key].dtype
    with uproot.open(tmp_path / "nlo.root") as f:
        assert f["weighted"].num_entries == 2000 and f["truth"].num_entries == 500
        np.testing.assert_array_equal(f["truth"]["njet"].array(library="np"), t["njet"])
        np.testing.assert_array_equal(f["weighted"]["weight"].array(library="np"), e["weight"])
    # no temporary files left behind; never overwrite without force
    assert sorted(p.name for p in tmp_path.iterdir()) == ["nlo.root", "out.root"]
    before = path.read_bytes()
    with pytest.raises(OutputExistsError):
        write(path, {"a": np.zeros(3)})
    assert path.read_bytes() == before
    write(path, {"a": np.arange(3)}, force=True)
    with uproot.open(path) as f:
        assert f["events"]["a"].array(library="np").tolist() == [0, 1, 2]


def test_write_bad_columns(tmp_path):
    with pytest.raises(BadInputError, match="entries"):
        write(tmp_path / "a.root", {"a": np.zeros(3), "b": np.zeros(4)})
    with pytest.raises(BadInputError, match="one-dimensional"):
        write(tmp_path / "a.root", {"a": np.zeros((3, 2))})
    with pytest.raises(BadInputError, match="no columns"):
        write(tmp_path / "a.root", {})
    assert list(tmp_path.iterdir()) == []


# ------------------------------------------------------------------------------- CLI


def test_cli_generate_dijet(tmp_path, capsys):
    out = tmp_path / "dijet.root"
    args = ["generate", "dijet", "-o", str(out), "--n-background", "2000", "--n-signal", "20",
            "--seed", "3"]
    assert main(args) == 0
    summary = json.loads(capsys.readouterr().out)
    assert summary["n_events"] == 2020 and summary["n_signal"] == 20 and summary["seed"] == 3
    expected = dijet.generate(2000, 20, seed=3)
    with uproot.open(out) as f:
        back = f["events"].arrays(library="np")
        prov = json.loads(str(f["provenance"]))
    assert prov["seed"] == 3 and prov["config"]["n_signal"] == 20
    for key in expected:
        np.testing.assert_array_equal(back[key], expected[key])
    # existing output without --force: exit 2, one line, file untouched
    before = out.read_bytes()
    assert main(args) == 2
    err = capsys.readouterr().err
    assert "exists already" in err and len(err.strip().splitlines()) == 1
    assert out.read_bytes() == before
    assert main([*args[:-1], "4", "--force"]) == 0


def test_cli_generate_nlo_with_truth(tmp_path, capsys):
    out = tmp_path / "nlo.root"
    assert main(["generate", "nlo", "-o", str(out), "-n", "4000", "--negative-fraction", "0.25",
                 "--truth", "300", "--seed", "7"]) == 0
    summary = json.loads(capsys.readouterr().out)
    with uproot.open(out) as f:
        w = f["events"]["weight"].array(library="np")
        truth_y = f["truth"]["y"].array(library="np")
    assert summary["n_negative"] == int((w < 0).sum())
    assert summary["sum_weights"] == pytest.approx(w.sum())
    assert summary["negative_fraction_requested"] == 0.25 and summary["n_truth"] == 300
    np.testing.assert_array_equal(w, nlo.generate(4000, negative_fraction=0.25, seed=7)["weight"])
    np.testing.assert_array_equal(truth_y, nlo.truth(300, seed=7)["y"])


@pytest.mark.parametrize("args, message", [
    (["dijet", "--n-background", "-5"], "--n-background must be >= 0"),
    (["dijet", "--n-signal", "-1"], "--n-signal must be >= 0"),
    (["dijet", "--m-wprime", "9000"], "m_wprime"),
    (["nlo", "-n", "0"], "-n/--n-events must be >= 1"),
    (["nlo", "--negative-fraction", "0.5"], "maximum allowed is < 0.5"),
    (["nlo", "--negative-fraction", "-0.2"], "negative_fraction must be >= 0"),
    (["nlo", "--truth", "-1"], "--truth must be >= 0"),
    (["nlo", "--truth", "10", "--tree", "truth"], "clashes"),
])
def test_cli_generate_bad_options(tmp_path, capsys, args, message):
    out = tmp_path / "x.root"
    assert main(["generate", *args[:1], "-o", str(out), *args[1:]]) == 2
    err = capsys.readouterr().err
    assert message in err and "Traceback" not in err and len(err.strip().splitlines()) == 1
    assert not out.exists()


# ------------------------------------------------------------------------------- dijet-variant


@pytest.fixture(scope="module")
def variant_sample():
    return dijet_variant.generate(200_000, 2000, seed=12)


def test_variant_columns_and_bad_input():
    assert set(dijet_variant.COLUMNS) == set(dijet.COLUMNS) | {"eta_j1"}
    with pytest.raises(BadInputError, match="n_signal"):
        dijet_variant.generate(10, -1)
    with pytest.raises(BadInputError, match="m_wprime"):
        dijet_variant.generate(10, 10, m_wprime=7000.0)


def _variant_log_background(d) -> np.ndarray:
    """log p_bkg written out independently with scipy.stats (docs/guide/datasets.md)."""
    v = dijet_variant
    lr = np.log(d["mjj"] / 3500.0)
    mu, sigma = math.log(v.MJ_SCALE) + v.MJ_SLOPE * lr, v.MJ_SIGMA * np.exp(v.MJ_SIGMA_SLOPE * lr)
    u = (np.log(d["mj1"]) - mu) / sigma
    w = (np.log(d["mj2"]) - mu) / sigma
    cov = [[1.0, v.MJ_RHO], [v.MJ_RHO, 1.0]]
    masses = (math.log(2) + stats.multivariate_normal([0, 0], cov).logpdf(np.column_stack([u, w]))
              - 2 * np.log(sigma) - np.log(d["mj1"]) - np.log(d["mj2"]))
    out = masses + stats.norm(0, v.ETA_SIGMA).logpdf(d["eta_j1"])
    z = []
    for mj, t in ((d["mj1"], d["tau21_j1"]), (d["mj2"], d["tau21_j2"])):
        mean = special.expit(v.TAU_LOGIT0 - v.TAU_MASS * np.log(mj / v.MJ_SCALE) + v.TAU_MJJ * lr)
        beta = stats.beta(v.TAU_CONC * mean, v.TAU_CONC * (1 - mean))
        out = out + beta.logpdf(t)
        z.append(stats.norm.isf(beta.sf(t)))
    cov = [[1.0, v.TAU_RHO], [v.TAU_RHO, 1.0]]
    zz = np.column_stack(z)
    return out + stats.multivariate_normal([0, 0], cov).logpdf(zz) - stats.norm.logpdf(zz).sum(1)


def test_variant_llr_equals_densities(variant_sample):
    d, v = variant_sample, dijet_variant
    # signal: two orderings of independent log-normals, independent betas, the same eta density
    g = {k: stats.lognorm(v.SIG_MJ_RES, scale=k) for k in (v.M_X, v.M_Y)}
    with np.errstate(divide="ignore"):
        masses = np.log(g[v.M_X].pdf(d["mj2"]) * g[v.M_Y].pdf(d["mj1"])
                        + g[v.M_X].pdf(d["mj1"]) * g[v.M_Y].pdf(d["mj2"]))
    beta = stats.beta(v.SIG_TAU_CONC * v.SIG_TAU_MEAN, v.SIG_TAU_CONC * (1 - v.SIG_TAU_MEAN))
    log_sig = (masses + beta.logpdf(d["tau21_j1"]) + beta.logpdf(d["tau21_j2"])
               + stats.norm(0, v.ETA_SIGMA).logpdf(d["eta_j1"]))
    llr = log_sig - _variant_log_background(d)
    # the product of the jet-mass pdfs loses precision below 1e-300 (subnormal numbers)
    ok = np.isfinite(llr) & (masses > -690)
    assert ok.mean() > 0.99
    np.testing.assert_allclose(d["llr"][ok], llr[ok], rtol=1e-7, atol=1e-7)
    x = {k: d[k] for k in v.FEATURES}
    np.testing.assert_allclose(d["llr"], v.log_prob_signal(x) - v.log_prob_background(x, d["mjj"]),
                               rtol=1e-12, atol=1e-9)
    full = d["llr"] + v.log_prob_mjj_signal(d["mjj"]) - v.log_prob_mjj_background(d["mjj"])
    np.testing.assert_allclose(d["llr_full"], full, rtol=1e-12, atol=1e-9)
    assert np.isfinite(d["llr"]).all() and np.isfinite(d["llr_full"]).all()


def _at_eta0(logp):
    """logp of the 4 dijet features with eta_j1 = 0, divided by the eta_j1 density at 0."""
    log_eta0 = stats.norm(0, dijet_variant.ETA_SIGMA).logpdf(0.0)
    return lambda x: logp(np.column_stack([x, np.zeros(len(x))])) - log_eta0


def test_variant_densities_normalised_and_eta_factorises():
    v = dijet_variant
    # Gauss-Legendre in log masses; doubling every node count moved the result by < 3e-5
    # (the tau21 betas of very light jets are singular at 1), so 1e-4
    for m in (2600.0, 5000.0):
        lr = math.log(m / 3500.0)
        mu, sigma = math.log(v.MJ_SCALE) + v.MJ_SLOPE * lr, v.MJ_SIGMA * math.exp(v.MJ_SIGMA_SLOPE * lr)
        u1, w1 = _gl(mu - 9 * sigma, mu + 4 * sigma, 40)  # mj1 is the lighter jet
        u2, w2 = _gl(math.log(1e-6), math.log(1e5), 70)
        value = _integrate_features(_at_eta0(lambda x, m=m: v.log_prob_background(
            x, np.full(len(x), m))), u1, w1, u2, w2, 20, signal=False)
        assert value == pytest.approx(1.0, abs=1e-4), m
    # signal in (log mj1, log mj2): its density vanishes (< 1e-20) near mj1 = mj2
    u, w = _gl(math.log(40.0), math.log(700.0), 80)
    value = _integrate_features(_at_eta0(v.log_prob_signal), u, w, u, w, 20, signal=True)
    assert value == pytest.approx(1.0, abs=1e-4)
    # eta_j1 enters both densities as the same Gaussian factor: moving it changes log p by
    # -eta^2 / (2 sigma^2) for signal and background alike, so the llr does not depend on it
    d = dijet_variant.generate(2000, 2000, seed=5)
    x0 = {k: d[k] for k in v.FEATURES}
    x1 = {**x0, "eta_j1": x0["eta_j1"] + 0.7}
    shift = -((x0["eta_j1"] + 0.7) ** 2 - x0["eta_j1"] ** 2) / (2 * v.ETA_SIGMA**2)
    for logp in (lambda x: v.log_prob_background(x, d["mjj"]), v.log_prob_signal):
        np.testing.assert_allclose(logp(x1) - logp(x0), shift, rtol=1e-9, atol=1e-9)


def test_variant_sampler_matches_density():
    v = dijet_variant
    bkg = v.sample_background(100_000, seed=7)
    lr = np.log(bkg["mjj"] / 3500.0)
    mu, sigma = math.log(v.MJ_SCALE) + v.MJ_SLOPE * lr, v.MJ_SIGMA * np.exp(v.MJ_SIGMA_SLOPE * lr)
    # probability integral transforms, uniform if the sampler follows the documented density:
    # the sum of the log masses is N(2 mu, 2 sigma^2 (1 + rho)), the absolute difference
    # half-normal of scale sigma sqrt(2 (1 - rho)) (both symmetric in the two jets)
    s = np.log(bkg["mj1"]) + np.log(bkg["mj2"])
    dl = np.log(bkg["mj2"]) - np.log(bkg["mj1"])
    pit = {"sum": stats.norm.cdf((s - 2 * mu) / (sigma * math.sqrt(2 * (1 + v.MJ_RHO)))),
           "diff": 2 * stats.norm.cdf(dl / (sigma * math.sqrt(2 * (1 - v.MJ_RHO)))) - 1,
           "eta": stats.norm.cdf(bkg["eta_j1"] / v.ETA_SIGMA)}
    z = []
    for mj, t in ((bkg["mj1"], bkg["tau21_j1"]), (bkg["mj2"], bkg["tau21_j2"])):
        mean = special.expit(v.TAU_LOGIT0 - v.TAU_MASS * np.log(mj / v.MJ_SCALE) + v.TAU_MJJ * lr)
        z.append(stats.norm.ppf(stats.beta.cdf(t, v.TAU_CONC * mean, v.TAU_CONC * (1 - mean))))
    pit["tau1"] = stats.norm.cdf(z[0])
    pit["tau2|tau1"] = stats.norm.cdf((z[1] - v.TAU_RHO * z[0]) / math.sqrt(1 - v.TAU_RHO**2))
    for name, values in pit.items():
        assert stats.kstest(values, "uniform").pvalue > 1e-3, name
    # E[p(x|m')/p(x|m)] = 1 when sampler and density agree (as for dijet)
    x = {k: bkg[k] for k in v.FEATURES}
    ratio = np.exp(v.log_prob_background(x, 1.1 * bkg["mjj"]) - v.log_prob_background(x, bkg["mjj"]))
    assert abs(ratio.mean() - 1) < 4 * ratio.std() / math.sqrt(len(ratio))
    sig = v.sample_signal(100_000, seed=8)
    x = {k: sig[k] for k in v.FEATURES}
    ratio = np.exp(v.log_prob_signal(x, m_x=260.0, m_y=93.0) - v.log_prob_signal(x))
    assert abs(ratio.mean() - 1) < 4 * ratio.std() / math.sqrt(len(ratio))


def test_variant_signal_and_uninformative_feature(variant_sample):
    d, v = variant_sample, dijet_variant
    sig = d["label"] == 1
    n = int(sig.sum())
    assert n == 2000 and (~sig).sum() == 200_000
    assert abs(d["mjj"][sig].mean() - 3500.0) < 4 * 175.0 / math.sqrt(n)
    # medians of the log-normal jet masses; SE(median) = 1.2533 x 0.10 m / sqrt(n)
    assert abs(np.median(d["mj1"][sig]) - v.M_Y) < 4 * 1.2533 * 0.1 * v.M_Y / math.sqrt(n)
    assert abs(np.median(d["mj2"][sig]) - v.M_X) < 4 * 1.2533 * 0.1 * v.M_X / math.sqrt(n)
    assert (v.M_X, v.M_Y) != (500.0, 100.0)  # another mass point than dijet's
    # eta_j1: the same distribution for signal and background, independent of m_jj
    assert stats.ks_2samp(d["eta_j1"][sig], d["eta_j1"][~sig]).pvalue > 1e-3
    assert abs(stats.pearsonr(d["eta_j1"], d["mjj"]).statistic) < 4 / math.sqrt(len(d["mjj"]))
    sr = (d["mjj"] > SR[0]) & (d["mjj"] < SR[1])
    label = d["label"][sr]
    auc = roc_auc_score(label, d["llr"][sr])
    assert auc > 0.9
    for name in v.FEATURES:
        single = roc_auc_score(label, d[name][sr])
        assert max(single, 1 - single) < auc, name
    # SE of an AUC < 0.5 / sqrt(min class size) ~ 0.015 with ~1500 signal events in the SR
    single = roc_auc_score(label, d["eta_j1"][sr])
    assert abs(single - 0.5) < 4 * 0.5 / math.sqrt(label.sum())


def test_variant_differs_from_dijet():
    a = dijet.sample_background(200_000, seed=13)
    b = dijet_variant.sample_background(200_000, seed=13)
    # bound on the SE of the difference of two correlation coefficients of n = 2e5 events
    se = math.sqrt(2 / 200_000)

    def r(d, x, y):
        return stats.pearsonr(x(d), y(d)).statistic

    def log_mj1(d):
        return np.log(d["mj1"])

    # mj1-mjj correlation (0.18 vs 0.11), mj1-delta correlation (0.28 vs 0.09),
    # mj1-tau21 (-0.20 vs -0.35) and tau21_j1-tau21_j2 (0.36 vs 0.48): each > 20 SE apart
    for x, y in ((log_mj1, lambda d: np.log(d["mjj"])),
                 (log_mj1, lambda d: np.log(d["delta_mj"])),
                 (log_mj1, lambda d: d["tau21_j1"]),
                 (lambda d: d["tau21_j1"], lambda d: d["tau21_j2"])):
        assert abs(r(a, x, y) - r(b, x, y)) > 20 * se
    # means of the jet masses and of tau21_j1 in the signal region
    sra, srb = ((d["mjj"] > SR[0]) & (d["mjj"] < SR[1]) for d in (a, b))
    for name in ("mj1", "delta_mj", "tau21_j1"):
        xa, xb = a[name][sra], b[name][srb]
        diff_se = math.hypot(xa.std() / math.sqrt(len(xa)), xb.std() / math.sqrt(len(xb)))
        assert abs(xa.mean() - xb.mean()) > 10 * diff_se, name


def test_cli_generate_dijet_variant(tmp_path, capsys):
    out = tmp_path / "variant.root"
    args = ["generate", "dijet-variant", "-o", str(out), "--n-background", "2000",
            "--n-signal", "20", "--seed", "3"]
    assert main(args) == 0
    summary = json.loads(capsys.readouterr().out)
    assert summary["dataset"] == "dijet-variant" and summary["n_events"] == 2020
    assert summary["branches"] == dijet_variant.COLUMNS
    expected = dijet_variant.generate(2000, 20, seed=3)
    with uproot.open(out) as f:
        back = f["events"].arrays(library="np")
        prov = json.loads(str(f["provenance"]))
    assert prov["seed"] == 3 and prov["config"]["dataset"] == "dijet-variant"
    assert set(back) == set(dijet_variant.COLUMNS)
    for key in expected:
        np.testing.assert_array_equal(back[key], expected[key])
    assert main(args) == 2 and "exists already" in capsys.readouterr().err
    assert main([*args, "--force", "--n-signal", "-1"]) == 2
    assert "--n-signal must be >= 0" in capsys.readouterr().err
