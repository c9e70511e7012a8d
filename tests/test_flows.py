"""Statistical and mechanical tests of flowstats.flows (fixed seeds, derived tolerances)."""

from __future__ import annotations

import json
import logging

import numpy as np
import pytest
import torch
from scipy.stats import multivariate_normal as mvn

from flowstats.exceptions import (
    BadInputError,
    IncompatibleModelError,
    NonFiniteError,
    OutputExistsError,
    WeightSumError,
)
from flowstats.flows import Ensemble, Flow, load
from flowstats.flows import loss as loss_module

SMALL = {"hidden": (32, 32), "transforms": 3}



FIT = {"batch_size": 512, "device": "cpu", "progress": False}

MIXTURE = [(0.6, [-1.0, 0.0], [[0.5, 0.2], [0.2, 0.4]]),
           (0.4, [1.5, 1.0], [[0.3, -0.1], [-0.1, 0.6]])]


def mixture_sample(n: int, seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    first = rng.random(n) < MIXTURE[0][0]
    out = np.empty((n, 2))
    for sel, (_, mean, cov) in zip([first, ~first], MIXTURE):
        out[sel] = rng.multivariate_normal(mean, cov, int(sel.sum()))
    return out


def mixture_logp(x: np.ndarray) -> np.ndarray:
    return np.logaddexp(*[np.log(a) + mvn(m, c).logpdf(x) for a, m, c in MIXTURE])


@pytest.fixture(scope="module")
def mixture_flow():
    flow = Flow(["a", "b"], seed=1, **SMALL)
    flow.fit(mixture_sample(16_000, seed=1), epochs=15, patience=5, **FIT)
    return flow


def test_gaussian_mixture_recovered(mixture_flow):
    # true entropy by quadrature (801^2 grid on [-7, 7]^2; the components' widths are >= 0.5,
    # so the trapezoid error and the mass outside the grid are < 1e-6)
    g = np.linspace(-7, 7, 801)
    grid = np.stack(np.meshgrid(g, g), -1).reshape(-1, 2)
    lp = mixture_logp(grid)
    entropy = -np.sum(np.exp(lp) * lp) * (g[1] - g[0]) ** 2
    test = mixture_sample(20_000, seed=2)
    lq = mixture_flow.log_prob(test)
    lp_test = mixture_logp(test)
    # tolerance: the mean of log q over n test points fluctuates by std(log p)/sqrt(n) (about
    # 0.0067 nats here, 3 sigma = 0.02) and is biased low by KL(p||q) >= 0. We allow a KL of
    # 0.03 nats: the KL of a Gaussian approximated with a 20 % too wide one (log 1.2 +
    # 1/(2 * 1.44) - 1/2 = 0.029), well below the 0.45 nats between the mixture and the single
    # Gaussian of the same moments. The upper side has no bias allowance (KL >= 0).
    stat = 3 * lp_test.std() / np.sqrt(len(test))
    assert -entropy - stat - 0.03 < lq.mean() < -entropy + stat
    # the same on paired points: KL estimate, its noise is std(log p - log q)/sqrt(n)
    kl = np.mean(lp_test - lq)
    assert -3 * np.std(lp_test - lq) / np.sqrt(len(test)) < kl < 0.03


def test_mixture_single_gaussian_fails_the_check():
    # negative control for the tolerance above: the best single Gaussian is > 0.03 nats off
    test = mixture_sample(20_000, seed=2)
    ref = mixture_sample(200_000, seed=3)
    lq = mvn(ref.mean(0), np.cov(ref.T)).logpdf(test)
    assert np.mean(mixture_logp(test) - lq) > 0.1


def test_sample_matches_mixture_moments(mixture_flow):
    s = mixture_flow.sample(20_000, seed=5)
    ref = mixture_sample(400_000, seed=6)
    # means of 20k samples: sigma/sqrt(20k) ~ 0.009 per coordinate (plus the flow's own
    # estimation error from 12.8k training events, sigma/sqrt(12.8k) ~ 0.011): 4 combined sigma
    tol = 4 * ref.std(0) * np.sqrt(1 / 20_000 + 1 / 12_800)
    assert np.all(np.abs(s.mean(0) - ref.mean(0)) < tol)
    # same seed, same numbers; batching does not change the stream
    assert np.array_equal(s[:1000], mixture_flow.sample(1000, seed=5, batch_size=128))


def test_log_prob_batching_and_save_load_round_trip(mixture_flow, tmp_path):
    x = mixture_sample(3000, seed=9)
    lp = mixture_flow.log_prob(x)
    np.testing.assert_allclose(mixture_flow.log_prob(x, batch_size=100), lp, atol=1e-5)
    path = mixture_flow.save(tmp_path / "model")
    config = json.loads((path / "config.json").read_text())
    assert config["features"] == ["a", "b"] and config["provenance"]["seed"] == 1
    assert (path / "weights.pt").is_file()
    again = load(path)
    assert isinstance(again, Flow)
    assert np.array_equal(again.log_prob(x), lp)
    assert np.array_equal(again.sample(500, seed=3), mixture_flow.sample(500, seed=3))
    assert again.history["best_epoch"] == mixture_flow.history["best_epoch"]
    with pytest.raises(OutputExistsError):
        mixture_flow.save(path)
    mixture_flow.save(path, force=True)
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".")]  # no temp leftovers
    with pytest.raises(IncompatibleModelError, match=r"models features \['a', 'b'\]"):
        Flow.load(path, features=["a", "c"])
    config["flowstats"] = "0.0.1"
    (path / "config.json").write_text(json.dumps(config))
    with pytest.raises(IncompatibleModelError, match="0.0.1"):
        load(path)


def test_ensemble_is_log_mean_exp(mixture_flow, tmp_path):
    other = Flow(["a", "b"], seed=2, **SMALL)
    other.fit(mixture_sample(2000, seed=4), epochs=2, **FIT)
    ens = Ensemble([mixture_flow, other], weights=[3, 1])
    x = mixture_sample(1000, seed=10)
    expected = np.log(0.75 * np.exp(mixture_flow.log_prob(x)) + 0.25 * np.exp(other.log_prob(x)))
    np.testing.assert_allclose(ens.log_prob(x), expected, rtol=1e-10, atol=1e-10)
    ens.save(tmp_path / "ens")
    back = load(tmp_path / "ens")
    assert isinstance(back, Ensemble)
    np.testing.assert_allclose(back.weights, [0.75, 0.25])
    assert np.array_equal(back.log_prob(x), ens.log_prob(x))
    s = ens.sample(4000, seed=1)
    assert s.shape == (4000, 2) and np.isfinite(s).all()
    assert np.array_equal(s, back.sample(4000, seed=1))
    with pytest.raises(BadInputError, match="member 1"):
        Ensemble([mixture_flow, Flow(["a", "c"])])


def test_ensemble_constructors():
    x = mixture_sample(3000, seed=11)
    seeds = Ensemble.train_seeds(Flow(["a", "b"], hidden=(8,), transforms=1), x, k=2,
                                 epochs=2, **FIT)
    assert [m.seed for m in seeds.members] == [0, 1]
    assert not np.array_equal(seeds.members[0].log_prob(x[:5]), seeds.members[1].log_prob(x[:5]))
    template = Flow(["a", "b"], hidden=(8,), transforms=1)
    best = Ensemble.best_epochs(template, x, k=3, epochs=5, patience=5, **FIT)
    assert len(best) == 3
    losses = best.history["val_loss"]
    assert losses == sorted(losses)
    assert best.history["epochs"][0] == template.history["best_epoch"]
    val = template.history["val_loss"]
    assert losses == sorted(val)[:3]
    # the first member is the template's best state
    assert np.array_equal(best.members[0].log_prob(x[:50]), template.log_prob(x[:50]))


def _integrate_1d(flow: Flow, edges: np.ndarray) -> float:
    mid, width = 0.5 * (edges[1:] + edges[:-1]), np.diff(edges)
    return float(np.sum(np.exp(flow.log_prob(mid[:, None])) * width))


def test_log_prob_integrates_to_one_1d_log_map():
    rng = np.random.default_rng(3)
    x = rng.gamma(2.0, 3.0, size=(4000, 1))
    flow = Flow(["pt"], positive=["pt"], seed=3)
    flow.fit(x, epochs=3, **FIT)
    assert flow.pre.kinds == ["log"]
    # midpoint rule on a log-spaced grid of 2e5 cells over [1e-6, 1e4]: the density is smooth in
    # log x, so the relative quadrature error is O((d log x)^2) ~ 1e-8; the mass outside the
    # grid is bounded by the flow's samples (0 of 1e5 fall outside). A wrong Jacobian of the
    # log map (missing 1/x) would give an integral of E[x] ~ 6, not 1.
    edges = np.geomspace(1e-6, 1e4, 200_001)
    s = flow.sample(100_000, seed=1)
    assert ((s < 1e-6) | (s > 1e4)).sum() == 0
    assert abs(_integrate_1d(flow, edges) - 1) < 1e-3


def test_log_prob_integrates_to_one_2d_bounds_and_discrete():
    rng = np.random.default_rng(4)
    n = 4000
    u = rng.beta(2.0, 5.0, n) * 4 - 1  # bounded on (-1, 3)
    k = rng.poisson(1.5, n).clip(max=5).astype(float)  # integer observable 0..5
    x = np.stack([u, k], 1)
    flow = Flow(["u", "k"], bounds={"u": (-1, 3)}, discrete=["k"], seed=4)
    flow.fit(x, epochs=3, **FIT)
    assert flow.pre.kinds == ["logit", "identity"]
    # midpoint rule, 300 cells in u (logit-spaced so the cells follow the density near the
    # bounds) x 750 cells in k over [-5, 10): relative quadrature error ~ 1e-4; tolerance
    # 3e-3 also covers the mass the flow puts outside k in [-5, 10) (bounded by the samples).
    ue = -1 + 4 / (1 + np.exp(-np.linspace(-14, 14, 301)))
    ke = np.linspace(-5, 10, 751)
    um, km = 0.5 * (ue[1:] + ue[:-1]), 0.5 * (ke[1:] + ke[:-1])
    grid = np.stack(np.meshgrid(um, km, indexing="ij"), -1).reshape(-1, 2)
    cell = np.outer(np.diff(ue), np.diff(ke))
    dens = np.exp(flow.log_prob(grid)).reshape(cell.shape) * cell
    assert abs(dens.sum() - 1) < 3e-3
    # P(k) is the integral of the dequantised density over [k, k + 1): it matches the
    # frequencies of the 4000 training integers within 5 binomial sigma (+0.01 for the flow's
    # smoothing after 3 epochs)
    pk = np.array([dens[:, (km > j) & (km < j + 1)].sum() for j in range(6)])
    freq = np.array([(k == j).mean() for j in range(6)])
    assert np.all(np.abs(pk - freq) < 5 * np.sqrt(freq * (1 - freq) / n) + 0.01)
    # samples: bounded feature inside the bounds, discrete one integer (floor of x + u)
    s = flow.sample(20_000, seed=2)
    assert (s[:, 0] >= -1).all() and (s[:, 0] <= 3).all()
    assert np.array_equal(s[:, 1], np.floor(s[:, 1]))
    # sampler and density agree: sample frequencies of k = pk within 5 binomial sigma
    fs = np.array([(s[:, 1] == j).mean() for j in range(6)])
    assert np.all(np.abs(fs - pk) < 5 * np.sqrt(pk * (1 - pk) / len(s)))
    # outside the bounds the density is zero
    assert flow.log_prob(np.array([[-1.5, 1.0], [3.5, 1.0]])).max() == -np.inf
    # "mass" mode evaluates at floor(x) + 1/2
    pts = np.array([[0.5, 2.0], [0.5, 2.7]])
    mass = flow.log_prob(pts, discrete="mass")
    assert mass[0] == mass[1]
    # float32 network: a different batch composition changes the last digits only
    assert mass[0] == pytest.approx(flow.log_prob(np.array([[0.5, 2.5]]))[0], abs=1e-5)


def test_importance_weighted_events_learn_the_target():
    # target p = N(mu, C); proposal q = N(0, 2^2 I); weights p/q
    rng = np.random.default_rng(5)
    mu, cov = np.array([1.0, -0.5]), np.array([[0.5, 0.3], [0.3, 1.0]])
    x = rng.normal(0, 2, size=(20_000, 2))
    w = np.exp(mvn(mu, cov).logpdf(x) - mvn([0, 0], 4 * np.eye(2)).logpdf(x))
    flow = Flow(["a", "b"], seed=5, **SMALL)
    hist = flow.fit(x, w, epochs=12, patience=5, **FIT)
    n_eff = hist["n_eff"]
    assert n_eff == pytest.approx(w.sum() ** 2 / (w ** 2).sum())
    assert 2000 < n_eff < 12_000
    s = flow.sample(40_000, seed=1)
    # the learnt mean is known to the precision of a weighted mean with n_eff events,
    # sigma/sqrt(n_eff_train); plus the 40k samples' own noise: 4 combined sigma
    sig = np.sqrt(np.diag(cov))
    tol = 4 * sig * np.sqrt(1 / hist["n_eff_train"] + 1 / len(s))
    assert np.all(np.abs(s.mean(0) - mu) < tol)
    # covariance: the variance of a sample variance is 2 sigma^4 / n (Gaussian)
    np.testing.assert_array_less(np.abs(np.cov(s.T) - cov),
                                 4 * np.sqrt(2 / hist["n_eff_train"]) * np.outer(sig, sig))
    # negative control: the same flow without the weights learns q (mean 0), failing the check
    plain = Flow(["a", "b"], seed=5, hidden=(8,), transforms=1)
    plain.fit(x, epochs=2, **FIT)
    assert np.any(np.abs(plain.sample(40_000, seed=1).mean(0) - mu) > tol)


def test_conditional_flow_interpolates():
    # x | c ~ N(c, 0.5 + 0.1 c); trained on c in [1, 3] u [5, 7], tested at c = 4 (the gap,
    # as a bump hunt interpolates into its signal region) and at c = 2
    rng = np.random.default_rng(6)
    n = 16_000
    c = rng.uniform(1, 5, n)
    c = np.where(c > 3, c + 2, c)
    x = rng.normal(c, 0.5 + 0.1 * c)
    flow = Flow(["x"], ["c"], seed=6, **SMALL)
    flow.fit(x[:, None], context=c[:, None], epochs=15, patience=5, **FIT)
    m = 20_000
    for c0 in (2.0, 4.0):
        s = flow.sample(m, context=np.full((m, 1), c0), seed=2)[:, 0]
        sigma = 0.5 + 0.1 * c0
        # statistical precision of the mean at c0 of a correctly specified straight-line fit
        # to the training data (standard error of the prediction), which an interpolating
        # density estimate cannot beat; we allow 5 of them plus the samples' own noise
        design = np.stack([np.ones(n), c], 1)
        cov_beta = np.linalg.inv(design.T @ (design / (0.5 + 0.1 * c[:, None]) ** 2))
        se = np.sqrt(np.array([1, c0]) @ cov_beta @ np.array([1, c0]))
        tol_mean = 5 * np.hypot(se, sigma / np.sqrt(m))
        assert abs(s.mean() - c0) < tol_mean + 0.02
        # width: relative precision 1/sqrt(2 n_local) with ~n/4 events per unit of c; 5 sigma
        tol_std = 5 * sigma * np.sqrt(1 / (2 * m) + 1 / (2 * n / 4))
        assert abs(s.std() - sigma) < tol_std + 0.02
        # density: KL(p(.|c0) || q(.|c0)) from the true conditional samples is small
        xt = rng.normal(c0, sigma, 20_000)
        lq = flow.log_prob(xt[:, None], context=np.full((len(xt), 1), c0))
        lp = -0.5 * ((xt - c0) / sigma) ** 2 - np.log(sigma * np.sqrt(2 * np.pi))
        assert np.mean(lp - lq) < 0.02
    # one context row per sample
    # one context row per sample: standardised residuals are N(0, 1) (5 sigma on 3000 rows,
    # + 0.05 for the model); rows paired with the wrong contexts would be off by O(1)
    ctx = np.linspace(1, 7, 3000)[:, None]
    s = flow.sample(3000, context=ctx, seed=1)
    r = (s[:, 0] - ctx[:, 0]) / (0.5 + 0.1 * ctx[:, 0])
    assert abs(r.mean()) < 5 / np.sqrt(3000) + 0.05
    assert abs(r.std() - 1) < 5 / np.sqrt(2 * 3000) + 0.05


def test_bad_inputs_are_clear_errors():
    flow = Flow(["a", "b"], hidden=(8,), transforms=1)
    x = np.random.default_rng(0).normal(size=(500, 2))
    with pytest.raises(BadInputError, match=r"has shape \(500, 3\).*2 features"):
        flow.fit(np.ones((500, 3)))
    bad = x.copy()
    bad[3, 1] = np.nan
    with pytest.raises(NonFiniteError, match="1 events.*b: 1"):
        flow.fit(bad)
    w = np.ones(500)
    w[7] = np.inf
    with pytest.raises(NonFiniteError, match="weights"):
        flow.fit(x, w)
    with pytest.raises(WeightSumError, match="all 500 event weights are zero"):
        flow.fit(x, np.zeros(500))
    with pytest.raises(WeightSumError, match="sum to -"):
        flow.fit(x, np.where(np.arange(500) % 3 == 0, 1.0, -1.0))
    with pytest.raises(BadInputError, match="unconditional"):
        flow.fit(x, context=np.ones((500, 1)))
    cond = Flow(["a"], ["m"])
    with pytest.raises(BadInputError, match=r"conditional on \['m'\]"):
        cond.fit(x[:, :1])
    with pytest.raises(BadInputError, match="not trained"):
        cond.log_prob(x[:, :1], np.ones((500, 1)))
    with pytest.raises(BadInputError, match="did you mean 'a'"):
        Flow(["a", "b"], positive=["aa"])
    with pytest.raises(BadInputError, match="outside its bounds"):
        Flow(["a", "b"], bounds={"a": (-1, 1)}).fit(x)
    with pytest.raises(BadInputError, match="declared positive"):
        Flow(["a", "b"], positive=["b"]).fit(x)
    with pytest.raises(BadInputError, match="unknown flow kind"):
        Flow(["a"], kind="glow")
    with pytest.raises(Exception) as err:
        load("/nonexistent/model")
    assert "does not exist" in str(err.value)


def test_checkpoint_resume_gives_identical_parameters(tmp_path):
    x = mixture_sample(2000, seed=12)
    w = np.random.default_rng(0).uniform(-0.2, 1.0, len(x))
    k = np.floor(np.abs(x[:, :1]) * 2)  # an integer column: dequantisation noise is replayed
    x = np.hstack([x, k])
    opts = {"hidden": (16,), "transforms": 2, "discrete": ["k"], "seed": 7}
    fit = dict(epochs=4, patience=10, batch_size=256, device="cpu")

    full = Flow(["a", "b", "k"], **opts)
    full.fit(x, w, checkpoint_dir=tmp_path / "full", **fit)

    class Kill(Exception):
        pass

    def kill(epoch, history):
        if epoch == 1:
            raise Kill

    first = Flow(["a", "b", "k"], **opts)
    with pytest.raises(Kill):
        first.fit(x, w, checkpoint_dir=tmp_path / "run", callback=kill, **fit)
    with pytest.raises(OutputExistsError):  # no silent restart over a checkpoint
        Flow(["a", "b", "k"], **opts).fit(x, w, checkpoint_dir=tmp_path / "run", **fit)
    seen = []
    resumed = Flow(["a", "b", "k"], **opts)
    hist = resumed.fit(x, w, checkpoint_dir=tmp_path / "run", resume=True,
                       callback=lambda e, h: seen.append(e), **fit)
    assert seen == [2, 3]  # continued after the 2 finished epochs
    assert hist["val_loss"] == full.history["val_loss"]
    a, b = full.module.state_dict(), resumed.module.state_dict()
    assert all(torch.equal(a[key], b[key]) for key in a)
    with pytest.raises(BadInputError, match="other training data"):
        Flow(["a", "b", "k"], **opts).fit(x[:-1], w[:-1], checkpoint_dir=tmp_path / "run",
                                          resume=True, **fit)


def test_nan_guard_restores_and_continues(monkeypatch, caplog):
    x = mixture_sample(2000, seed=13)
    real = loss_module.weighted_nll
    calls = {"n": 0}

    def poisoned(log_q, weights, norm):
        calls["n"] += 1
        value = real(log_q, weights, norm)
        return value * float("nan") if calls["n"] == 6 else value

    monkeypatch.setattr(loss_module, "weighted_nll", poisoned)
    flow = Flow(["a", "b"], hidden=(8,), transforms=1)
    with caplog.at_level(logging.WARNING, logger="flowstats"):
        hist = flow.fit(x, epochs=3, batch_size=256, device="cpu")
    assert hist["nan_restores"] == 1
    assert "non-finite training loss" in caplog.text
    assert all(np.isfinite(hist["train_loss"])) and np.isfinite(hist["best_val_loss"])
    # the learning rate was halved from the epoch of the NaN on
    lr = hist["lr"]
    from flowstats.flows.training import cosine_lr

    assert lr[1] == pytest.approx(0.5 * cosine_lr(1e-3, 1, 3))
    assert all(torch.isfinite(p).all() for p in flow.module.parameters())


def test_spline_domain_covers_outliers(caplog):
    rng = np.random.default_rng(8)
    x = rng.normal(size=(3000, 1))
    x[0] = 12.0  # a 12 sigma outlier would sit in zuko's identity region |z| > 5
    flow = Flow(["a"], hidden=(8,), transforms=1)
    hist = flow.fit(x, epochs=1, **FIT)
    assert hist["max_abs_z"] > 5 and hist["spline_bound"] >= hist["max_abs_z"]
    with caplog.at_level(logging.WARNING, logger="flowstats"):
        flow.log_prob(np.array([[1e3]]))
    assert "outside the spline domain" in caplog.text


def test_latent_of_the_flows_own_samples_is_standard_normal_at_every_context():
    # whatever the training, the flow's own samples at context c map back to its base space:
    # latent(sample(c), c) ~ N(0, 1) independently of c (what latent-space scoring relies on)
    from scipy import stats

    rng = np.random.default_rng(4)
    c = rng.uniform(0, 4, 8000)
    x = np.stack([rng.normal(c, 0.5 + 0.2 * c), rng.gamma(2.0, 1 + c)], 1)
    flow = Flow(["a", "b"], ["c"], positive=["b"], seed=4, **SMALL)
    flow.fit(x, context=c[:, None], epochs=3, **FIT)
    for c0 in (0.5, 3.5):
        s = flow.sample(20_000, context=np.full((20_000, 1), c0), seed=3)
        u = flow.latent(s, context=np.full((20_000, 1), c0))
        assert u.shape == (20_000, 2)
        for j in range(2):
            # an exact identity up to float32 round-off: a KS test at 1e-3 fails only by chance
            assert stats.kstest(u[:, j], "norm").pvalue > 1e-3, (c0, j)
    # points outside a feature's domain (b <= 0 for a positive feature) map to inf
    u = flow.latent(np.array([[0.0, -1.0]]), context=np.array([[1.0]]))
    assert np.isinf(u).all()


KINDS_BASES = [("maf", "studentt"), ("realnvp", "normal"), ("realnvp", "studentt"),
               ("cnf", "normal"), ("cnf", "studentt")]


@pytest.mark.parametrize("kind,base", KINDS_BASES)
def test_flow_kinds_and_bases(kind, base, tmp_path):
    # issue 16: every kind and base trains, saves and reloads to the same numbers, samples, and
    # maps its own samples to standard-normal latent points (a Student-t base point goes to the
    # normal point of the same quantile); the cnf trains with Hutchinson's trace
    from scipy import stats

    rng = np.random.default_rng(5)
    n = 1500 if kind == "cnf" else 4000
    c = rng.uniform(0, 2, n)
    x = np.stack([rng.normal(c, 0.5), rng.normal(-c, 0.3 + 0.2 * c)], 1)
    extra = {"trace": "hutchinson"} if kind == "cnf" else {}
    flow = Flow(["a", "b"], ["c"], kind=kind, base=base, seed=2, hidden=(16, 16),
                transforms=2, **extra)
    history = flow.fit(x, context=c[:, None], epochs=2, batch_size=256, device="cpu",
                       progress=False)
    assert np.isfinite(history["val_loss"]).all()
    assert flow.config()["options"]["base"] == base
    lp = flow.log_prob(x[:300], c[:300, None])
    assert np.isfinite(lp).all()
    # densities are evaluated with the exact trace: the same numbers twice
    assert np.array_equal(lp, flow.log_prob(x[:300], c[:300, None]))
    flow.save(tmp_path / "m")
    again = load(tmp_path / "m")
    assert again.options == flow.options
    assert np.allclose(again.log_prob(x[:300], c[:300, None]), lp, rtol=0, atol=1e-6)
    ctx = np.full((5000, 1), 1.0)
    s = flow.sample(5000, ctx, seed=1)
    assert s.shape == (5000, 2) and np.isfinite(s).all()
    u = flow.latent(s, ctx)
    for j in range(2):
        # an identity up to the float32 (and ODE-solver) round-off: fails only by chance
        assert stats.kstest(u[:, j], "norm").pvalue > 1e-3, j


@pytest.mark.parametrize("kind", ["realnvp", "cnf"])
def test_new_kinds_are_normalised(kind):
    # midpoint rule over [-7, 7]^2 in 280^2 cells (standard-normal-like data: the mass outside
    # is ~1e-11, the quadrature error ~1e-4 for a density smooth on the cell scale)
    x = mixture_sample(2000, 6) * 0.8
    flow = Flow(["a", "b"], kind=kind, seed=1, hidden=(16, 16), transforms=2)
    flow.fit(x, epochs=2, batch_size=256, device="cpu", progress=False)
    e = np.linspace(-7, 7, 281)
    mid = 0.5 * (e[1:] + e[:-1])
    grid = np.stack(np.meshgrid(mid, mid, indexing="ij"), -1).reshape(-1, 2)
    total = np.exp(flow.log_prob(grid)).sum() * (e[1] - e[0]) ** 2
    assert abs(total - 1) < 3e-3, total


def test_flow_architecture_errors():
    with pytest.raises(BadInputError, match="unknown flow kind 'ffjord'"):
        Flow(["a", "b"], kind="ffjord")
    with pytest.raises(BadInputError, match="unknown flow base 'laplace'"):
        Flow(["a", "b"], base="laplace")
    with pytest.raises(BadInputError, match="nu > 0"):
        Flow(["a", "b"], base="studentt", nu=0)
    with pytest.raises(BadInputError, match="at least two features"):
        Flow(["a"], kind="realnvp")
    with pytest.raises(BadInputError, match="unknown trace"):
        Flow(["a", "b"], kind="cnf", trace="skilling")
    with pytest.raises(BadInputError, match="unknown activation 'swish'"):
        Flow(["a", "b"], activation="swish")


def test_activation_is_built_recorded_and_reloaded(tmp_path):
    # the networks' activation is an option: zuko's ReLU by default, SiLU when asked (the
    # sideband flows' default, flowstats.anomaly.background.DEFAULT_FLOW), kept on reload
    import torch

    def activations(flow):
        return {type(m) for m in flow.module.modules()} & {torch.nn.ReLU, torch.nn.SiLU}

    rng = np.random.default_rng(8)
    c = rng.uniform(0, 1, 2000)
    x = np.stack([rng.normal(c, 1.0), rng.normal(-c, 1.0)], 1)
    found = {}
    for activation in (None, "silu"):
        flow = Flow(["a", "b"], ["c"], kind="maf", seed=1, hidden=(8,), transforms=1,
                    activation=activation)
        flow.fit(x, context=c[:, None], epochs=1, batch_size=256, device="cpu",
                 progress=False)
        found[activation] = activations(flow)
        flow.save(tmp_path / str(activation))
        again = load(tmp_path / str(activation))
        assert again.options["activation"] == activation and activations(again) == found[
            activation]
        assert np.array_equal(again.log_prob(x[:50], c[:50, None]),
                              flow.log_prob(x[:50], c[:50, None]))
    assert found == {None: {torch.nn.ReLU}, "silu": {torch.nn.SiLU}}


def test_cli_flow_choices_match_the_library():
    from flowstats import cli
    from flowstats.flows import models

    assert cli.KINDS == models.KINDS and cli.BASES == models.BASES


class _Tempered:
    r"""A test objective: the per-event log-likelihood ``scale * log q``, with a column."""

    def __init__(self, n, scale=1.0):
        self.columns = {"row": np.arange(n, dtype=float)}
        self.scale, self.calls = scale, 0

    def log_likelihood(self, log_q, columns):
        assert set(columns) == {"row"} and columns["row"].shape == log_q.shape
        return self.scale * log_q

    def end_epoch(self, log_q, columns, weights):
        self.calls += 1
        assert columns["row"].dtype == torch.float64 and len(weights) == len(columns["row"])
        return {"calls": self.calls}

    def state_dict(self):
        return {"calls": self.calls}

    def load_state_dict(self, state):
        self.calls = state["calls"]

    def results(self):
        return {"best_calls": self.calls}

    def key(self):
        return (self.scale,)


def test_fit_objective_hook():
    # the generic training objective of Flow.fit (R-ANODE's mixture is one, in
    # flowstats.anomaly.ranode): the identity objective trains exactly the plain flow; its
    # per-epoch values and results land in the history; its columns are checked
    from flowstats.flows.loss import Objective

    x = mixture_sample(1500, seed=2)
    fit = {"epochs": 3, "batch_size": 256, "device": "cpu", "progress": False}
    plain = Flow(["a", "b"], seed=3, transforms=1, hidden=(8,))
    plain.fit(x, **fit)
    hooked = Flow(["a", "b"], seed=3, transforms=1, hidden=(8,))
    objective = _Tempered(len(x))
    assert isinstance(objective, Objective)
    hist = hooked.fit(x, objective=objective, **fit)
    np.testing.assert_array_equal(plain.log_prob(x), hooked.log_prob(x))
    assert hist["calls"] == [1, 2, 3][:hist["epochs_run"]]
    assert hist["best_calls"] == hist["best_epoch"] + 1
    with pytest.raises(BadInputError, match="row has 1500 entries but x has 3 events"):
        hooked.fit(x[:3], objective=_Tempered(len(x)), **fit)


def test_fit_options_and_architecture_dataclasses():
    # the training settings as a FitOptions (keywords override it) and the model as an
    # Architecture (keywords override it) give exactly the keyword-only results
    from flowstats.flows.models import Architecture
    from flowstats.flows.training import FitOptions

    x = mixture_sample(1200, seed=5)
    a = Flow(["a", "b"], kind="maf", transforms=1, hidden=(8,), seed=2)
    a.fit(x, epochs=2, batch_size=256, device="cpu", progress=False)
    b = Flow(["a", "b"], architecture=Architecture(kind="maf", hidden=(8,)), transforms=1,
             seed=2)
    opts = FitOptions(epochs=5, batch_size=256, device="cpu", progress=False)
    b.fit(x, options=opts, epochs=2)
    assert a.options == b.options and b.architecture.kind == "maf"
    np.testing.assert_array_equal(a.log_prob(x), b.log_prob(x))
    with pytest.raises(TypeError, match="unexpected keyword argument 'epoch'"):
        b.fit(x, epoch=2)
    with pytest.raises(TypeError, match="unexpected keyword argument 'layers'"):
        Flow(["a"], layers=3)
    with pytest.raises(BadInputError, match="val_fraction"):
        b.fit(x, options=FitOptions(val_fraction=1.0))


@pytest.mark.parametrize("kind, warned", [("nsf", True), ("maf", False)])
def test_spline_domain_warning_only_for_spline_flows(kind, warned, caplog):
    # heavy tails (|z| up to ~20 after standardising) stretch an nsf's spline domain; a maf
    # has no spline domain, so it must not warn about one
    rng = np.random.default_rng(0)
    x = np.stack([rng.standard_cauchy(2000), rng.normal(size=2000)], axis=1)
    with caplog.at_level(logging.WARNING, logger="flowstats.flows.flow"):
        Flow(["a", "b"], kind=kind, hidden=(8,), transforms=1).fit(x, epochs=1)
    assert any("spline domain" in r.getMessage() for r in caplog.records) is warned
