"""Anomaly scores on small dijet samples: signal found, no sculpting, CWoLa's failure, CLI.

Small flows, few epochs and 3-fold cross-scoring keep the whole file within ~2 minutes on two
CPU cores; the statistical thresholds are derived in the comments.
"""

from __future__ import annotations

import json
import tempfile

import numpy as np
import pytest
from scipy import stats

from flowstats.anomaly import score
from flowstats.anomaly.metrics import evaluate
from flowstats.anomaly.sculpting import sculpting_test
from flowstats.bumphunt.statistics import TEMPLATE_METHODS
from flowstats.cli import main
from flowstats.datasets import dijet
from flowstats.exceptions import BadInputError, NonFiniteError
from flowstats.io import write_events

SR = (3300.0, 3700.0)
FAST = {
    "flow": {"transforms": 3, "hidden": (32, 32)},
    "fit": {"epochs": 6, "batch_size": 1024, "lr": 3e-3},
    "k": 3,
    "classifier": "hgb",
    "classifier_options": {"n_models": 2},
}


def _arrays(d):
    return np.stack([d[f] for f in dijet.FEATURES], axis=1), d["mjj"]


@pytest.fixture(scope="module")
def withsignal(tmp_path_factory):
    d = dijet.generate(30_000, 400, seed=12)
    return d, tmp_path_factory.mktemp("models_signal")


def test_cathode_and_anode_find_injected_signal(withsignal):
    d, model_dir = withsignal
    x, m = _arrays(d)
    label = d["label"]
    results = {}
    mlp = {**FAST, "classifier": "mlp", "classifier_options": {"epochs": 10}}
    for name, method, options in (("cathode", "cathode", FAST), ("anode", "anode", FAST),
                                  ("ranode", "ranode", FAST), ("cathode-mlp", "cathode", mlp)):
        r = score(x, m, method=method, sr=SR, seed=1, device="cpu", model_dir=model_dir,
                  names=dijet.FEATURES, **options)
        assert r.score.shape == (len(m),) and np.isfinite(r.score[r.region == 1]).all()
        sr = r.region == 1
        results[name] = evaluate(r.score[sr], label[sr])
    optimum = evaluate(d["llr"][sr], label[sr])
    n_sig = int(label[sr].sum())
    # A random score has eps_B = eps_S, so SIC(0.2) = sqrt(0.2) = 0.447; its spread comes from
    # the ~0.2 n_sig selected signal events: sd(eps_S)/eps_S = sqrt(0.8 / (0.2 n_sig)) (~0.1 for
    # n_sig ~ 450). "Clearly better": SIC(0.2) above random + 5 sd, and at least 3x random.
    random_sic = np.sqrt(0.2)
    sd = random_sic * np.sqrt(0.8 / (0.2 * n_sig))
    threshold = max(random_sic + 5 * sd, 3 * random_sic)
    for method, res in results.items():
        assert res["sic_at_0.2"] > threshold, (method, res, optimum)
        assert res["max_sic"] <= optimum["max_sic"] * 1.5  # nothing beats Neyman-Pearson much
    assert (model_dir / "background" / "fingerprint").exists()
    # the last cathode run (cathode-mlp) trained against a fresh template, its 10 epochs
    saved = json.loads((model_dir / "cathode" / "fold0" / "classifier.json").read_text())
    assert saved["kind"] == "mlp" and saved["epochs"] == 10
    assert json.loads((model_dir / "provenance.json").read_text())["seed"] == 1


#: Pooled sculpting check. Each method scores POOL independent background-only samples; per
#: efficiency, the flatness chi2 (flowstats.anomaly.sculpting, chi2(ndf) without sculpting) is
#: summed over the samples, which is chi2(sum of ndf) without sculpting whatever the CPU's
#: floating-point realisation of each training. The test fails below P_MIN: 5 methods x 2
#: efficiencies at 1e-4 give a false alarm in 0.1 % of suites. With ~57 pooled ndf it fails
#: a pooled chi2/ndf above ~1.7 (the 1-1e-4 quantile of chi2(57)/57), far below what a
#: sculpting score gives (test_pooled_check_flags_an_m_dependent_score: chi2/ndf > 5).
POOL = (11, 21, 31)
P_MIN = 1e-4


def _pooled(samples, scores, fraction):
    chi2 = ndf = 0.0
    for (_x, m), (values, region) in zip(samples, scores):
        use = region >= 0
        t = sculpting_test(m[use], values[use], fraction)
        chi2, ndf = chi2 + t["chi2"], ndf + t["ndf"]
    return chi2, ndf, float(stats.chi2.sf(chi2, ndf))


@pytest.fixture(scope="module")
def background_samples():
    return [_arrays(dijet.generate(40_000, 0, seed=s)) for s in POOL]


@pytest.fixture(scope="module")
def sideband_flows(tmp_path_factory):
    # one model_dir per pooled sample: every method of a pytest worker reuses the sample's
    # sideband flow (same events, settings and seed) instead of training its own
    return {s: tmp_path_factory.mktemp(f"sideband_flow_{s}") for s in POOL}


@pytest.mark.parametrize("method, space", [("cathode", None), ("cathode", "calibrated"),
                                           ("anode", None), ("ranode", None),
                                           ("density", None), ("density", "calibrated"),
                                           ("bootstrap", None)])
def test_no_sculpting_without_signal(background_samples, sideband_flows, method, space):
    # the flow methods score in the sideband flow's latent space (LaCATHODE, arXiv:2210.14924)
    # or, cathode and density as an option, in data space calibrated per mass: the top 10 % and
    # 1 % of all events keep the same fraction at every m_jj
    scores, template_chi2 = [], 0.0
    for s, (x, m) in zip(POOL, background_samples):
        r = score(x, m, method=method, sr=SR, seed=s, device="cpu", names=dijet.FEATURES,
                  model_dir=sideband_flows[s], **({} if space is None else {"space": space}),
                  **FAST)
        assert r.info["config"]["space"] == (space or "latent")
        scores.append((r.score, r.region))
        if method in TEMPLATE_METHODS:
            template_chi2 += _template_pulls(r)
    for fraction in (0.10, 0.01):
        chi2, ndf, p = _pooled(background_samples, scores, fraction)
        assert p > P_MIN, (method, fraction, chi2, ndf, p)
    # issue 16: the background template of the methods the bump hunt accepts with background
    # 'template' predicts the SR background after a cut (pooled over the 3 samples x 2 cuts).
    # anode's does not (chi2 34 for 6 ndf here): its SR densities learn where the SR latent
    # points differ from N(0, 1), the sideband flow's interpolation error, so its cut keeps
    # more SR events than N(0, 1) template events; the bump hunt refuses it for 'template'.
    if method in TEMPLATE_METHODS:
        assert stats.chi2.sf(template_chi2, 6) > P_MIN, (method, template_chi2)


def _template_pulls(r) -> float:
    r"""Squared pulls of the selected SR counts against the template's prediction at eps 0.1
    and 0.01 (background only: chi2(2) at most).

    The selected SR count is n = ceil(eps N); the template predicts b = N e_t, e_t the
    fraction of the n_t template scores above the cut. They differ by the quantile's and the
    template's binomial spreads, N eps (1 - eps) (1 + N / n_t), which the counting model's
    Poisson b + sigma_b^2 (binomial template and Poisson normalisation errors) covers.
    """
    from flowstats.bumphunt.scoring import select_top

    n_sr = int((r.region == 1).sum())
    assert r.template is not None and len(r.template) == 4 * n_sr
    chi2 = 0.0
    for eps in (0.1, 0.01):
        sel = select_top(r.score, r.region, eps) & (r.region == 1)
        e_t = np.mean(r.template >= r.score[sel].min())
        b = n_sr * e_t
        var = b + n_sr**2 * e_t * (1 - e_t) / len(r.template) + e_t**2 * n_sr
        chi2 += (sel.sum() - b) ** 2 / var
    return chi2


def test_pooled_check_flags_an_m_dependent_score(background_samples):
    # power: a score that prefers masses near the SR centre (a Gaussian bump in m of a few
    # percent of the score's spread) is flagged by the same pooled check at both efficiencies
    rng = np.random.default_rng(3)
    scores = []
    for _x, m in background_samples:
        values = rng.normal(size=len(m)) + 0.5 * np.exp(-0.5 * ((m - 3500) / 300) ** 2)
        scores.append((values, np.zeros(len(m), np.int64)))
    for fraction in (0.10, 0.01):
        chi2, ndf, p = _pooled(background_samples, scores, fraction)
        assert p < P_MIN and chi2 / ndf > 2, (fraction, chi2, ndf, p)


@pytest.mark.parametrize("space", ["latent", "calibrated"])
def test_sr_whitening_removes_a_moment_misfit_of_the_sideband_flow(background_samples,
                                                                   tmp_path, space):
    # the SR background differs from the sideband flow's interpolation by a 20 % scale of mj1
    # (0.3 sigma of its log): a classifier trained on the SR against N(0, 1) learns it and keeps
    # more SR than sideband events; the SR whitening (default) removes the shift and the
    # spread it adds, so the cut is flat again. Measured on this sample: p 1e-14 unwhitened,
    # 0.18 whitened (a 15 % scale on two samples: 4e-7 and 6e-10 against 0.4 and 0.6). Both
    # runs share one sideband flow (model_dir). In calibrated space the template's latent
    # points get the SR's moments instead (_colouring).
    x, m = background_samples[0]
    sr = (m >= SR[0]) & (m < SR[1])
    x = x.copy()
    x[sr, 0] *= 1.2
    p = {}
    for whiten in (False, True):
        r = score(x, m, method="cathode", sr=SR, seed=11, device="cpu", names=dijet.FEATURES,
                  model_dir=tmp_path, whiten=whiten, space=space, **FAST)
        use = r.region >= 0
        p[whiten] = sculpting_test(m[use], r.score[use], 0.10)["p_value"]
        assert r.info["whiten"] is whiten
    assert p[False] < P_MIN, p
    assert p[True] > P_MIN, p
    # the whitening's summary: the SR latent mean of mj1 shows the injected shift
    assert r.info["sr_latent_mean"][0] > 0.15 and len(r.info["sr_latent_std"]) == 4


def test_sr_whitening_needs_enough_sr_events():
    from flowstats.anomaly.methods import SIGNAL_REGION, WHITEN_MIN_PER_DIM, _latent

    class Shifted:  # a stand-in sideband flow whose latent points are x itself
        def latent(self, x, m):
            return np.array(x, dtype=np.float64)

    rng = np.random.default_rng(0)
    n_sr = 10 * WHITEN_MIN_PER_DIM
    u = rng.normal(size=(5 * n_sr, 3))
    codes = np.zeros(len(u), np.int64)
    codes[:n_sr] = SIGNAL_REGION
    u[:n_sr] = 0.5 + 2.0 * u[:n_sr]
    out, info = _latent(Shifted(), u, np.zeros(len(u)), codes, whiten=True)
    assert info["whiten"] is True
    np.testing.assert_allclose(out[:n_sr].mean(axis=0), 0, atol=1e-12)
    np.testing.assert_allclose(np.cov(out[:n_sr], rowvar=False), np.eye(3), atol=1e-9)
    np.testing.assert_array_equal(out[n_sr:], u[n_sr:])  # sideband points untouched
    few = np.zeros(len(u), np.int64)
    few[: 3 * WHITEN_MIN_PER_DIM - 1] = SIGNAL_REGION
    out, info = _latent(Shifted(), u, np.zeros(len(u)), few, whiten=True)
    assert info["whiten"] is False
    np.testing.assert_array_equal(out, u)


def test_cathode_trains_the_mlp_on_a_fresh_latent_template(monkeypatch):
    import flowstats.anomaly.methods as methods

    # cross_score replaced by a recorder: what cathode hands the classifier, per setting
    calls = []

    def recorder(train, x_score, f_score, **kw):
        calls.append(kw)
        return np.zeros(len(x_score))

    monkeypatch.setattr(methods, "cross_score", recorder)
    d = dijet.generate(4000, 0, seed=3)
    x, m = _arrays(d)
    tiny = {"flow": {"transforms": 1, "hidden": (8,)}, "fit": {"epochs": 1}, "k": 2}
    settings = [({}, True, 15), ({"fresh_template": False}, False, None),
                ({"classifier_options": {"epochs": 7}}, True, 7),
                ({"space": "data"}, False, None), ({"space": "calibrated"}, False, None),
                ({"classifier": "hgb"}, False, None)]
    for options, fresh, epochs in settings:
        r = score(x, m, method="cathode", sr=SR, seed=2, device="cpu", names=dijet.FEATURES,
                  **tiny, **options)
        kw = calls[-1]
        assert r.info["fresh_template"] is fresh, options
        assert (kw["redraw"] is not None) is fresh, options
        assert kw.get("epochs") == epochs, options  # None: the MLP's own 30
    # the redraw is N(0, 1) in the latent dimensions, from the generator it is given
    draw = calls[0]["redraw"](20000, np.random.default_rng(0))
    assert draw.shape == (20000, 4)
    assert abs(draw.mean()) < 5 / np.sqrt(draw.size) and abs(draw.std() - 1) < 0.01
    np.testing.assert_array_equal(draw, calls[0]["redraw"](20000, np.random.default_rng(0)))
    with pytest.raises(BadInputError, match="fresh_template"):
        score(x, m, method="cathode", sr=SR, names=dijet.FEATURES, fresh_template="yes",
              **tiny)


def test_data_space_density_sculpts(background_samples):
    # the data-space outlier score -log p(x | m) carries the m dependence of the features'
    # scale (jet masses ~ m_jj^0.8) through the Jacobian: it is what the latent space removes
    x, m = background_samples[0]
    r = score(x, m, method="density", sr=SR, seed=11, device="cpu", names=dijet.FEATURES,
              space="data", **FAST)
    chi2, ndf, p = _pooled(background_samples[:1], [(r.score, r.region)], 0.10)
    assert p < P_MIN, (chi2, ndf, p)


def test_cwola_sculpts_when_features_correlate_with_mass():
    # a background-only toy whose feature x0 follows m (mean (m - 3500) / 300): SR and
    # sideband events differ without any signal, CWoLa learns "x0 near 0" = "m in the SR",
    # and its top 10 % carves a bump at the SR (its known failure, arXiv:1902.02634).
    rng = np.random.default_rng(8)
    m = 2500 + rng.exponential(600, 60_000)
    x = np.stack([(m - 3500) / 300 + rng.normal(size=len(m)), rng.normal(size=len(m))], 1)
    r = score(x, m, method="cwola", sr=SR, seed=2, k=3, classifier="hgb",
              classifier_options={"n_models": 1})
    assert set(np.unique(r.fold)) == {0, 1, 2}
    use = r.region >= 0
    assert sculpting_test(m[use], r.score[use], 0.10)["p_value"] < 1e-6


def test_cwola_works_without_correlation_and_is_reproducible():
    # the same features with the m_jj dependence removed (events of one narrow m_jj band,
    # relabelled with a fresh uniform mass): CWoLa then finds the signal
    rng = np.random.default_rng(5)
    d = dijet.generate(40_000, 600, seed=13)
    x, m = _arrays(d)
    keep = (np.abs(m - 3500) < 400) | (d["label"] == 1)
    x, label = x[keep], d["label"][keep]
    m_new = rng.uniform(2900, 4100, len(x))
    m_new[label == 1] = rng.uniform(3300, 3700, int(label.sum()))
    kw = {"sr": SR, "seed": 3, "k": 3, "classifier": "hgb", "classifier_options": {"n_models": 1}}
    r1 = score(x, m_new, method="cwola", **kw)
    r2 = score(x, m_new, method="cwola", **kw)
    np.testing.assert_array_equal(r1.score, r2.score)
    sr = r1.region == 1
    # random: SIC(0.2) = 0.447 with sd ~0.1 (as above); require 3x random
    assert evaluate(r1.score[sr], label[sr])["sic_at_0.2"] > 3 * np.sqrt(0.2)


def test_score_api_input_errors():
    rng = np.random.default_rng(0)
    m = rng.uniform(3000, 4000, 2000)
    x = rng.normal(size=(2000, 2))
    with pytest.raises(BadInputError, match="did you mean 'cathode'"):
        score(x, m, method="cathdoe", sr=SR)
    with pytest.raises(BadInputError, match="did you mean 'oversample'"):
        score(x, m, method="cathode", sr=SR, oversampl=3)
    with pytest.raises(BadInputError, match=r"'space'.*'latent', 'data' or 'calibrated'.*'latnet'"):
        score(x, m, method="density", sr=SR, space="latnet")  # refused before any training
    for method in ("anode", "ranode", "bootstrap"):
        with pytest.raises(BadInputError, match=f"{method}: space 'calibrated' is implemented "
                                                "only for cathode and density"):
            score(x, m, method=method, sr=SR, space="calibrated")
    bad = x.copy()
    bad[3, 1] = np.nan
    with pytest.raises(NonFiniteError, match="1 events"):
        score(bad, m, method="density", sr=SR, names=["a", "b"])
    const = x.copy()
    const[:, 0] = 1.0
    with pytest.raises(BadInputError, match="'a' is constant"):
        score(const, m, method="density", sr=SR, names=["a", "b"])
    with pytest.raises(BadInputError, match="at least 5000 are needed"):
        score(x, m, method="density", sr=SR, min_sr=5000)


@pytest.fixture
def small_root(tmp_path):
    d = dijet.generate(20_000, 100, seed=4)
    rng = np.random.default_rng(0)
    nan = d["tau21_j1"].copy()
    nan[[5, 17]] = np.nan
    cols = {**{k: d[k] for k in ("mjj", *dijet.FEATURES, "label")},
            "const": np.ones(len(nan)), "with_nan": nan, "noise": rng.normal(size=len(nan))}
    path = tmp_path / "dijet.root"
    write_events(path, "events", cols)
    return path


def test_cli_scores_root_layout_and_model_reuse(small_root, tmp_path, capsys):
    import uproot

    out = tmp_path / "scores.root"
    models = tmp_path / "models"
    args = ["score", str(small_root), "--tree", "events", "--mass", "mjj", "--features",
            ",".join(dijet.FEATURES), "--method", "density", "--sr", "3300:3700", "-o",
            str(out), "--model-dir", str(models), "--seed", "7", "--device", "cpu",
            "--epochs", "2", "--sideband-width", "600"]
    assert main(args) == 0
    with uproot.open(out) as f:
        t = f["scores"]
        assert set(t.keys()) == {"entry", "score", "fold", "region"}
        a = t.arrays(library="np")
    assert len(a["entry"]) == 20_100
    np.testing.assert_array_equal(a["entry"], np.arange(20_100))
    assert set(np.unique(a["region"])) == {-1, 0, 1}
    mjj = uproot.open(small_root)["events"]["mjj"].array(library="np")
    assert np.all(a["region"][(mjj >= 3300) & (mjj < 3700)] == 1)
    assert np.all(a["region"][(mjj < 2700) | (mjj >= 4300)] == -1)
    assert np.isfinite(a["score"]).all() and (a["fold"] == -1).all()
    prov = json.loads((tmp_path / "scores.provenance.json").read_text())
    assert prov["seed"] == 7 and prov["config"]["method"] == "density"
    assert (models / "background" / "flow").is_dir()
    # existing output without --force: refused
    capsys.readouterr()
    assert main(args) == 2
    assert "--force" in capsys.readouterr().err
    # with --force the saved flow is reused: the same scores
    assert main([*args, "--force"]) == 0
    again = uproot.open(out)["scores"]["score"].array(library="np")
    np.testing.assert_allclose(again, a["score"])


@pytest.mark.parametrize("extra, message", [
    (["--features", "mj1,const", "--sr", "3300:3700"], "'const' is constant"),
    (["--features", "mj1,with_nan", "--sr", "3300:3700"], "2 events have NaN"),
    (["--features", "mj1,tau21_j1", "--sr", "9000:9500"], "outside the mass range"),
    (["--features", "mj1,tau21_j1", "--sr", "3300:3301"], "at least 100 are needed"),
    (["--features", "mj1,tau21_j1", "--sr", "2500:6000"], "sidebands"),
    (["--features", "mj1,tau21_j1", "--sr", "3300:3700", "--sideband-width", "0.001"],
     "sidebands"),
    (["--features", "mj1,tau21_jj", "--sr", "3300:3700"], "no branch 'tau21_jj'"),
    (["--features", "mj1,mjj", "--sr", "3300:3700"], "must not be one of --features"),
    (["--features", "mj1,tau21_j1", "--sr", "3700:3300"], "LO must be below HI"),
])
def test_cli_bad_inputs_exit_2(small_root, tmp_path, capsys, extra, message):
    out = tmp_path / "s.root"
    code = main(["score", str(small_root), "--mass", "mjj", "-o", str(out), *extra])
    err = capsys.readouterr().err
    assert code == 2, err
    assert message in err and "Traceback" not in err
    assert len(err.strip().splitlines()) == 1
    assert not out.exists()


def test_decorrelating_premap_is_a_normalised_bijection():
    # flow option decorrelate: each mapped feature (log / logit / identity) is shifted by a
    # slope in log m fitted on the training events before the flow; the density keeps its
    # normalisation (Jacobian included), the slopes are the generator's, and the flow's own
    # samples map to standard-normal latent points
    from flowstats.anomaly.background import ConditionalDensity

    rng = np.random.default_rng(0)
    n = 20_000
    m = rng.uniform(2000, 5000, n)
    a = rng.gamma(3, 1, n) * (m / 3000) ** 0.8 * 20
    t = 1 / (1 + np.exp(-(rng.normal(0, 1, n) + 0.5 * np.log(m / 3000))))
    x = np.stack([a, t], 1)
    d = ConditionalDensity(["a", "t"], seed=1, decorrelate=True,
                           flow={"positive": ["a"], "bounds": {"t": (0, 1)}, "transforms": 3,
                                 "hidden": (32, 32)})
    d.fit(x, m, device="cpu", epochs=3, batch_size=512, progress=False)
    # least-squares slopes of 20k events: standard errors ~0.01
    assert d.slopes == pytest.approx([0.8, 0.5], abs=0.06)
    la, lt = np.linspace(-3, 8, 300), np.linspace(-12, 12, 300)
    g_a, g_t = np.meshgrid(la, lt, indexing="ij")
    pts = np.stack([np.exp(g_a.ravel()), 1 / (1 + np.exp(-g_t.ravel()))], 1)
    jac = g_a.ravel() + np.log(pts[:, 1] * (1 - pts[:, 1]))  # dx / d(log a, logit t)
    integral = np.sum(np.exp(d.log_prob(pts, np.full(len(pts), 3500.0)) + jac))
    assert integral * (la[1] - la[0]) * (lt[1] - lt[0]) == pytest.approx(1, abs=2e-3)
    mm = np.full(20_000, 3500.0)
    u = d.latent(d.sample(mm, seed=2), mm)
    assert all(stats.kstest(u[:, j], "norm").pvalue > 1e-3 for j in range(2))
    with tempfile.TemporaryDirectory() as tmp:
        d.save(tmp)
        again = ConditionalDensity.load(tmp)
    assert np.array_equal(again.log_prob(x[:100], m[:100]), d.log_prob(x[:100], m[:100]))


def test_a_saved_flow_of_another_default_architecture_is_retrained(tmp_path, monkeypatch,
                                                                   caplog):
    # the flow fingerprint holds the resolved architecture: after a change of the default
    # (ReLU -> SiLU networks) a model_dir's old flow is retrained, not silently reused
    from flowstats.flows import load

    x, m = _arrays(dijet.generate(12_000, 0, seed=4))
    # (the defaults are resolved by ScoreSettings before the methods: an old default is given
    # explicitly here)
    opts = {"flow": {"transforms": 1, "hidden": (8,)}, "fit": {"epochs": 1}}
    old = {**opts, "flow": {**opts["flow"], "activation": "relu"}}
    score(x, m, method="density", sr=SR, seed=2, device="cpu", model_dir=tmp_path, **old)
    assert load(tmp_path / "background" / "flow").options["activation"] == "relu"
    with caplog.at_level("INFO", logger="flowstats.anomaly.methods"):
        score(x, m, method="density", sr=SR, seed=2, device="cpu", model_dir=tmp_path, **old)
    assert "reusing the background flow" in caplog.text
    caplog.clear()
    with caplog.at_level("INFO", logger="flowstats.anomaly.methods"):
        score(x, m, method="density", sr=SR, seed=2, device="cpu", model_dir=tmp_path, **opts)
    assert "retraining" in caplog.text
    assert load(tmp_path / "background" / "flow").options["activation"] == "silu"


def test_a_saved_flow_of_other_default_training_options_is_retrained(tmp_path, monkeypatch,
                                                                     caplog):
    # the same for the training options (issue 14 changed the default epochs 20 -> 12)

    x, m = _arrays(dijet.generate(12_000, 0, seed=4))
    opts = {"flow": {"transforms": 1, "hidden": (8,)}, "fit": {"epochs": 1}}
    score(x, m, method="density", sr=SR, seed=2, device="cpu", model_dir=tmp_path, **opts)
    with caplog.at_level("INFO", logger="flowstats.anomaly.methods"):
        score(x, m, method="density", sr=SR, seed=2, device="cpu", model_dir=tmp_path, **opts)
    assert "reusing the background flow" in caplog.text
    caplog.clear()
    with caplog.at_level("INFO", logger="flowstats.anomaly.methods"):
        score(x, m, method="density", sr=SR, seed=2, device="cpu", model_dir=tmp_path,
              **{**opts, "fit": {"epochs": 2}})
    assert "retraining" in caplog.text


def test_ranode_mixture_learns_the_signal_density_and_fraction():
    # R-ANODE's loss (issue 16; flowstats.anomaly.ranode.SignalMixture, a Flow.fit objective): data = (1 - f) N(0, 1) + f N(2, 0.3^2) with the background
    # density given exactly; the flow learns the signal density, EM the fraction. With infinite
    # capacity any fraction >= f fits equally well, so the learnt one lies at or above f (here
    # 1000 signal events: its statistical error is ~0.002); a fraction below f/2 or above 3f, or
    # a score that does not separate (AUC < 0.95; the exact ratio gives 0.999), would fail.
    from sklearn.metrics import roc_auc_score

    from flowstats.anomaly.ranode import SignalMixture
    from flowstats.flows import Flow

    rng = np.random.default_rng(0)
    n, f = 20_000, 0.05
    sig = rng.random(n) < f
    x = rng.normal(size=(n, 2))
    x[sig] = rng.normal(2.0, 0.3, size=(int(sig.sum()), 2))
    log_b = -0.5 * (x**2).sum(1) - np.log(2 * np.pi)
    flow = Flow(["a", "b"], seed=1, transforms=3, hidden=(32, 32))
    history = flow.fit(x, objective=SignalMixture(log_b), epochs=8, batch_size=512, device="cpu",
                       progress=False)
    assert 0.5 * f < history["best_signal_fraction"] < 3 * f
    assert len(history["signal_fraction"]) == history["epochs_run"]
    assert roc_auc_score(sig, flow.log_prob(x) - log_b) > 0.95
    # with the fraction fixed at the truth, the flow is the signal density: its samples sit at
    # the signal's mean (2, 2) (the background mean is 0, 3.3 signal widths away)
    fixed = Flow(["a", "b"], seed=1, transforms=3, hidden=(32, 32))
    fixed.fit(x, objective=SignalMixture(log_b, f, learn=False), epochs=8, batch_size=512,
              device="cpu", progress=False)
    assert np.all(np.abs(fixed.sample(5000, seed=1).mean(0) - 2.0) < 0.5)
    with pytest.raises(BadInputError, match="signal_fraction"):
        SignalMixture(log_b, 1.5)
    with pytest.raises(BadInputError, match="NaN"):
        SignalMixture(np.full(3, np.nan))
    with pytest.raises(BadInputError, match="background_log_prob has 3 entries"):
        fixed.fit(x, objective=SignalMixture(log_b[:3]), epochs=1)
