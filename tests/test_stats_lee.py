"""Look-elsewhere effect and bump-hunt window statistics of flowstats.stats (issue 6)."""

from __future__ import annotations

import numpy as np
import pytest
from cowan import cowan_z
from scipy import optimize

from flowstats import stats as S
from flowstats.exceptions import BadInputError
from flowstats.stats import lee

EDGES = np.linspace(0.0, 1.0, 61)
BKG = np.full(60, 200.0)
MASSES = np.linspace(0.05, 0.95, 46)
TEMPLATES = np.array([S.gaussian_template(EDGES, m, 0.03) for m in MASSES])


def test_scan_q0_matches_a_direct_fit():
    rng = np.random.default_rng(5)
    counts = rng.poisson(BKG + 60 * TEMPLATES[20], size=(3, 60)).astype(float)
    q, nu = lee.scan_q0(counts, BKG, TEMPLATES)
    assert q.shape == nu.shape == (3, 46)
    for t in range(3):
        for j in (5, 20, 33):
            def nll(v, t=t, j=j):
                lam = BKG + v * TEMPLATES[j]
                return -(counts[t] * np.log(lam) - lam).sum()

            r = optimize.minimize_scalar(nll, bounds=(0, 2000), method="bounded",
                                         options={"xatol": 1e-10})
            q_ref = max(2 * (nll(0.0) - r.fun), 0.0)
            assert q[t, j] == pytest.approx(q_ref, abs=1e-6)
            assert nu[t, j] == pytest.approx(r.x if q_ref > 0 else 0.0, abs=1e-3)
    assert np.all(q >= 0) and np.all(nu >= 0)
    # the injected signal shows up at its mass
    assert np.argmax(q.mean(axis=0)) == 20


def test_gross_vitells_agrees_with_toys():
    # 4000 background-only toy scans (46 sliding Gaussian hypotheses); <N(u0 = 0.5)> from the
    # first 500 toys. Brute-force global p-values have binomial errors sqrt(p(1-p)/4000).
    rng = np.random.default_rng(2024)
    counts = rng.poisson(BKG, size=(4000, 60)).astype(float)
    q, _ = lee.scan_q0(counts, BKG, TEMPLATES)
    n_up = lee.upcrossings(q[:500], 0.5).mean()
    q_max = q.max(axis=1)
    for u in (9.0, 12.0):  # local Z = 3 and 3.46
        p_toys, err = lee.toys_pvalue(u, q_max)
        p_gv = float(lee.gross_vitells(u, n_up, 0.5))
        print(f"u = {u}: p_global toys {p_toys:.4f} +- {err:.4f}, Gross-Vitells {p_gv:.4f}")
        # an upper bound: not below the toys beyond their 3-sigma spread ...
        assert p_gv >= p_toys - 3 * err
        # ... and close to them: the first-order (Euler characteristic) formula is
        # conservative at moderate u by O(10-30 %), shrinking as u grows (measured: +20 % at
        # u = 9, +11 % at u = 12); allow 35 % + 3 sigma
        assert p_gv <= 1.35 * p_toys + 3 * err
    # at low significance it is conservative (larger than the toys)
    p_toys, err = lee.toys_pvalue(4.0, q_max)
    assert lee.gross_vitells(4.0, n_up, 0.5) > p_toys + 3 * err
    g = lee.global_significance(q[0], q_toys=q[:500])
    assert g["p_global_gv"] >= g["p_local"] and g["trials_factor"] >= 1
    assert 0 <= g["p_global_toys"] <= 1


def test_lee_bad_inputs():
    with pytest.raises(BadInputError, match="positive"):
        lee.scan_q0(np.ones((2, 60)), np.zeros(60), TEMPLATES)
    with pytest.raises(BadInputError, match="bins differ"):
        lee.scan_q0(np.ones((2, 50)), BKG, TEMPLATES)
    with pytest.raises(BadInputError):
        lee.gross_vitells(9.0, 3.0, 0.0)


@pytest.fixture(scope="module")
def spectrum():
    from flowstats.datasets import dijet

    mjj = dijet.generate(100_000, n_signal=0, seed=7)["mjj"]
    edges = np.linspace(2800.0, 5800.0, 61)
    return np.histogram(mjj, edges)[0].astype(float), edges


def test_window_significance_background_only_and_injected(spectrum):
    import time

    counts, edges = spectrum
    window = (3300.0, 3700.0)
    t0 = time.perf_counter()
    r = S.window_significance((counts, edges), window, resolution=100.0)
    seconds = time.perf_counter() - t0
    print(f"window_significance: {seconds:.2f} s per window")
    d = r.to_dict()
    assert d["n_obs"] == counts[(edges[:-1] >= 3300) & (edges[:-1] < 3700)].sum()
    assert d["sigma_b"] > 0 and d["b"] > 0
    # background only: no significant excess (|n - b| within 3 sigma of sqrt(n + sigma_b^2))
    assert abs(d["n_obs"] - d["b"]) < 3 * np.sqrt(d["n_obs"] + d["sigma_b"] ** 2)
    assert d["z_local"] < 3
    exp = d["mu_upper_exp"]
    assert len(exp) == 5 and exp == sorted(exp) and d["mu_upper_obs"] > 0
    # the median expected limit on signal events ~ 1.96 sqrt(b + sigma_b^2) / (signal
    # fraction in the window), to the asymptotic CLs factor (within 40 %)
    approx = 1.96 * np.sqrt(d["b"] + d["sigma_b"] ** 2) / d["s"]
    assert exp[2] == pytest.approx(approx, rel=0.4)
    # inject 8 sigma worth of signal events into the window: a significant excess
    injected = counts.copy()
    n_sig = 8 * np.sqrt(d["b"] + d["sigma_b"] ** 2)
    injected += np.round(S.gaussian_template(edges, 3500.0, 100.0, n_sig))
    r2 = S.window_significance((injected, edges), window, resolution=100.0)
    assert r2.z_local > 4 and r2.z_local > r.z_local + 3
    assert r2.mu_upper_obs > d["mu_upper_obs"]
    # the counting workspace is valid and reusable
    S.validate_workspace(r2.workspace)


def test_window_significance_with_1e5_events_in_the_window():
    # the row without a cut of a 1M-event scan: an exact dijet-function spectrum (no
    # fluctuations) with ~1e5 events in the window and a Gaussian excess there. The local Z must
    # be the on/off profile-likelihood value, Cowan's formula with the fitted b and sigma_b
    # (pyhf's default scipy optimizer stalled here at Z = 0.09 for an excess of 2.25 sigma)
    edges = np.arange(2800.0, 6001.0, 100.0)
    x = 0.5 * (edges[:-1] + edges[1:]) / 13000.0
    shape = (1 - x) ** 10 / x ** 5.5
    counts = np.round(1e6 * shape / shape.sum())
    window = (3300.0, 3700.0)
    inside = (edges[:-1] >= 3300) & (edges[:-1] < 3700)
    assert 1e5 < counts[inside].sum() < 4e5
    injected = counts + np.round(S.gaussian_template(edges, 3500.0, 175.0, 3000.0))
    r = S.window_significance((injected, edges), window, rel_resolution=0.05)
    s = r.n_obs - r.b
    assert s > 2 * np.sqrt(r.b + r.sigma_b**2)
    assert r.z_local == pytest.approx(cowan_z(s, r.b, r.sigma_b), rel=1e-3)


def test_window_without_sidebands(spectrum):
    counts, edges = spectrum
    with pytest.raises(BadInputError, match="no sidebands"):
        S.window_significance((counts, edges), (2000.0, 7000.0))


def test_log_space_p_values_agree_where_p_is_representable():
    from scipy import stats

    z = np.array([0.0, 1.0, 3.0, 5.0, 8.0, 20.0])
    np.testing.assert_allclose(np.exp(lee.log_p_from_z(z)), stats.norm.sf(z), rtol=1e-12)
    np.testing.assert_allclose(lee.z_from_log_p(lee.log_p_from_z(z)), z, atol=1e-9)
    u = np.array([1.0, 4.0, 9.0, 25.0, 64.0])
    direct = stats.chi2.sf(u, 1) * 0.5 + 3.0 * np.exp(-(u - 0.5) / 2)
    np.testing.assert_allclose(lee.gross_vitells(u, 3.0, 0.5), np.minimum(direct, 1),
                               rtol=1e-10)
    # dof 2 uses scipy's logsf, then its asymptotic series where that underflows
    np.testing.assert_allclose(np.exp(lee._log_chi2_sf(u, 2)), stats.chi2.sf(u, 2), rtol=1e-10)
    assert np.isfinite(lee._log_chi2_sf(np.array([1e5]), 2)).all()


@pytest.mark.parametrize("z", [40.0, 100.0, 150.0])
def test_significances_stay_finite_beyond_double_precision_p_values(z):
    # Phi(-z) underflows to 0 beyond Z = 38: the scan's local and global Z must stay finite,
    # and the global Z below the local one by the few tenths the trials factor costs
    q = np.zeros(20)
    q[7], q[3] = z**2, 2.0
    res = lee.global_significance(q)
    assert res["z_local"] == pytest.approx(z)
    assert np.isfinite(res["z_global_gv"]) and z - 0.2 < res["z_global_gv"] < z
    # log10 p: ln Phi(-z) ~ -z^2/2 - ln(z sqrt(2 pi))
    approx = (-z**2 / 2 - np.log(z * np.sqrt(2 * np.pi))) / np.log(10)
    assert res["log10_p_local"] == pytest.approx(approx, abs=0.01)
    assert res["log10_p_global_gv"] > res["log10_p_local"]


def test_bumphunt_global_significance_at_z_100():
    from flowstats.bumphunt.statistics import gross_vitells_global

    windows = [(3000.0 + 100 * i, 3400.0 + 100 * i) for i in range(5)]
    rows = []
    for eff, peak in ((1.0, 3.0), (0.1, 100.0)):
        for i, w in enumerate(windows):
            z = peak if i == 2 else 0.5
            rows.append({"sr": list(w), "efficiency": eff, "q0": z**2, "z_local": z, "status": "ok",
                         "p_local": float(np.exp(lee.log_p_from_z(z)))})
    out = gross_vitells_global(rows, windows, [1.0, 0.1], {})
    assert out["z_max_local"] == 100.0 and out["best_efficiency"] == 0.1
    assert np.isfinite(out["z_global"]) and 99.5 < out["z_global"] < 100.0
    assert np.isfinite(out["log10_p_global"]) and out["log10_p_global"] < -2000
    assert out["global_by_efficiency"]["0.1"]["z_global"] == pytest.approx(out["z_global"],
                                                                          abs=0.05)


def test_non_positive_covariance_is_a_fit_error_not_a_crash(spectrum, monkeypatch):
    # a sideband fit whose covariance is not positive definite predicts sigma_b = NaN (seen with
    # ATEN_CPU_CAPABILITY=default on the Z scan): the window gets a FitError, which the bump
    # hunt turns into a "fit failed" row, instead of pyhf failing deep inside its fit
    from flowstats.bumphunt.statistics import window_statistics
    from flowstats.exceptions import FitError
    from flowstats.stats.background_fit import BackgroundFit

    counts, edges = spectrum
    monkeypatch.setattr(BackgroundFit, "predict", lambda self, window: (100.0, float("nan")))
    with pytest.raises(FitError, match="not finite"):
        S.window_significance((counts, edges), (3300.0, 3700.0), function="dijet4")
    centres = np.repeat(0.5 * (edges[1:] + edges[:-1]), counts.astype(int))
    row, extra = window_statistics(centres, (3300.0, 3700.0), 1.0,
                                   {"function": "dijet4", "resolution": 0.05, "cl": 0.95,
                                    "sqrt_s": 13000.0}, (edges[0], edges[-1]))
    assert row["status"].startswith("fit failed") and np.isnan(row["z_local"])
    with pytest.raises(FitError, match="cannot build the counting model"):
        S.window.counting_significance(10.0, 5.0, float("nan"), 1.0, where="test")
