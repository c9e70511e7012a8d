"""Histograms, background functions and binned fits of flowstats.stats (issue 6)."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import integrate

from flowstats import stats as S
from flowstats.exceptions import BadInputError, ConfigError, FitError
from flowstats.stats.functions import BinIntegrator, get_function

EDGES = np.linspace(2800.0, 5800.0, 61)


@pytest.fixture(scope="module")
def dijet_hist():
    """A background-only m_jj spectrum from the dijet generator (``flowstats generate dijet``)."""
    from flowstats.datasets import dijet

    mjj = dijet.generate(200_000, n_signal=0, seed=1)["mjj"]
    return S.make_hist(mjj, EDGES)


def test_bin_integrals_match_quadrature():
    fn = get_function("dijet5")
    p = np.array([20.0, 10.0, -5.0, 0.3, 0.05])
    integ = BinIntegrator(fn, EDGES[:4])
    ref = [integrate.quad(lambda m: fn(m, p), a, b, epsabs=0, epsrel=1e-12)[0]
           for a, b in zip(EDGES[:3], EDGES[1:4])]
    # 5-point Gauss-Legendre is exact for degree-9 polynomials; the smooth integrand over a
    # 50 GeV bin is integrated to ~1e-12 relative
    np.testing.assert_allclose(integ.integrals(p), ref, rtol=1e-10)
    # analytic jacobian vs finite differences
    eps = 1e-6
    num = np.array([(integ.integrals(p + eps * e) - integ.integrals(p - eps * e)) / (2 * eps)
                    for e in np.eye(5)])
    np.testing.assert_allclose(integ.jacobian(p), num, rtol=1e-6)


def test_unknown_function_suggests():
    with pytest.raises(ConfigError, match="dijet4"):
        get_function("dijet44")


def test_dijet_fit_quality_and_function_choice(dijet_hist):
    fits = {f: S.fit_background(dijet_hist, function=f) for f in ("dijet3", "dijet4", "dijet5")}
    for f, r in fits.items():
        assert r.ndof == 60 - get_function(f).npar
        print(f"{f}: chi2 = {r.chi2:.1f} / {r.ndof}, p = {r.pvalue:.3f}")
    for f in ("dijet4", "dijet5"):
        assert fits[f].pvalue > 0.01, (f, fits[f].chi2, fits[f].ndof)
    # nested fits: more parameters never fit worse (to minuit's tolerance)
    assert fits["dijet4"].chi2 <= fits["dijet3"].chi2 + 1e-3
    assert fits["dijet5"].chi2 <= fits["dijet4"].chi2 + 1e-3
    for test in ("f", "lr"):
        chosen, table = S.select_function(dijet_hist, test=test)
        assert chosen.pvalue > 0.01
        # the choice is the first function whose next one brings no significant improvement
        names = [row["null"] for row in table]
        assert chosen.function == (names[-1] if table[-1]["pvalue"] > 0.05 else "dijet5")
        assert all(row["pvalue"] <= 0.05 for row in table[:-1])
        assert chosen.chi2 == pytest.approx(fits[chosen.function].chi2, rel=1e-6)
    # the fitted total equals the observed total (property of the extended Poisson MLE)
    assert fits["dijet4"].expected().sum() == pytest.approx(dijet_hist.values().sum(), rel=1e-4)


def test_spurious_signal_reported(dijet_hist):
    ss = S.spurious_signal(dijet_hist, [3300.0, 3900.0, 4500.0], rel_width=0.05)
    d = ss.to_dict()
    assert len(d["nsig"]) == 3 and all(e > 0 for e in d["nsig_error"])
    # on a background-only spectrum the fitted signal is a statistical fluctuation: each
    # |nsig|/sigma below 3 (3 hypotheses; the chance of any > 3 is < 1 %)
    assert d["max_ratio"] < 3.0
    print("spurious signal:", d)


def test_sideband_prediction(dijet_hist):
    sr = (3300.0, 3700.0)
    full = S.fit_background(dijet_hist, function="dijet4")
    side = S.fit_background(dijet_hist, function="dijet4", sr=sr)
    assert side.fitted.sum() == 60 - 8
    b, db = side.predict(sr)
    n = dijet_hist.values()[S.background_fit.window_mask(EDGES, sr)].sum()
    # a background-only spectrum: the sideband prediction agrees with the SR count within
    # its total spread sqrt(n + db^2) (3 sigma)
    assert abs(n - b) < 3 * np.sqrt(n + db**2)
    assert 0 < db < np.sqrt(n)  # the interpolation is better known than one bin's Poisson
    np.testing.assert_allclose(side.expected_error()[S.background_fit.window_mask(EDGES, sr)].sum(),
                               db, rtol=0.5)
    assert full.predict(sr)[0] == pytest.approx(b, rel=3 * db / b)


def _truth(dijet_hist):
    r = S.fit_background(dijet_hist, function="dijet4")
    return r.expected()


def test_signal_injection_recovered(dijet_hist):
    truth = _truth(dijet_hist)
    mass, width, n_inj = 4000.0, 200.0, 400.0
    sig = S.gaussian_template(EDGES, mass, width, n_inj)
    pulls = []
    rng = np.random.default_rng(11)
    for i in range(30):
        counts = rng.poisson(truth + sig).astype(float)
        r = S.fit_background((counts, EDGES), function="dijet4", signal=(mass, width))
        pull = (r.signal["nsig"] - sig.sum()) / r.signal["nsig_error"]
        if i == 0:
            # fixed seed: recovered within 3 sigma
            assert abs(pull) < 3
        pulls.append(pull)
    pulls = np.array(pulls)
    # 30 pseudo-spectra: the mean of unit-normal pulls has error 1/sqrt(30) = 0.18 and their
    # standard deviation 1/sqrt(2*29) = 0.13; allow 3 of those errors
    assert abs(pulls.mean()) < 3 / np.sqrt(30)
    assert abs(pulls.std(ddof=1) - 1) < 3 / np.sqrt(58)


def test_weighted_hist_and_th1_roundtrip(tmp_path):
    rng = np.random.default_rng(0)
    x = rng.exponential(500.0, 10_000) + 1000.0
    w = rng.uniform(0.5, 1.5, x.size)
    h = S.make_hist(x, 30, (1000.0, 4000.0), weights=w)
    v, var, e = S.to_arrays(h)
    assert np.allclose(var, np.histogram(x, e, weights=w**2)[0])
    out = S.write_th1(tmp_path / "h.root", {"mjj": h})
    back = S.read_th1(out, "mjj")
    import uproot

    with uproot.open(out) as f:  # an uproot TH1 is accepted as is
        np.testing.assert_allclose(S.to_arrays(f["mjj"])[1], var)
    np.testing.assert_allclose(back.values(), h.values())
    np.testing.assert_allclose(back.variances(), h.variances())
    with pytest.raises(BadInputError, match="did you mean 'mjj'"):
        S.read_th1(out, "mj")
    from flowstats.exceptions import OutputExistsError

    with pytest.raises(OutputExistsError):
        S.write_th1(out, {"mjj": h})
    # a weighted fit (Bohm-Zech scaled Poisson) works and gives a sensible p-value
    r = S.fit_background(h, function="expo3")
    assert r.pvalue > 0.001


def test_bad_inputs():
    with pytest.raises(BadInputError, match="empty"):
        S.fit_background((np.zeros(10), np.linspace(0, 1, 11) + 1000))
    counts = np.full(10, 50.0)
    counts[3] = -2
    with pytest.raises(BadInputError, match=r"negative contents in 1 bins \(bin 3"):
        S.fit_background((counts, np.linspace(1000, 2000, 11)))
    with pytest.raises(BadInputError, match="edges"):
        S.fit_background((np.ones(10), np.linspace(1000, 2000, 5)))
    with pytest.raises(BadInputError, match="contains no bin centre"):
        S.fit_background((np.full(10, 5.0), np.linspace(1000, 2000, 11)), sr=(5000, 6000))


def test_non_converging_fit_raises_with_status(dijet_hist):
    with pytest.raises(FitError, match=r"did not converge; minuit status: valid=False.*call "
                                       r"limit reached=True"):
        S.fit_background(dijet_hist, function="dijet5", start=[0, 0, 0, 0, 0], max_calls=5)


def test_choose_function_picks_a_family_and_records_all(dijet_hist):
    from flowstats.stats import choose_function

    fit, record = choose_function(dijet_hist, sr=(3300, 3700))
    assert record["chosen"] == fit.function
    assert set(record["families"]) == {"dijet", "expo", "power"}
    chosen_p = max(v["pvalue"] for v in record["families"].values() if "pvalue" in v)
    assert fit.pvalue == chosen_p and fit.pvalue > 1e-3


def test_choose_function_in_other_units_skips_the_dijet_family():
    # an exponential spectrum in MeV (m > sqrt(s) = 13000): the dijet basis cannot describe it
    from flowstats.stats import choose_function

    rng = np.random.default_rng(3)
    m = 60_000 + rng.exponential(15_000, 50_000)
    counts, edges = np.histogram(m, np.arange(60_000, 140_001, 2000.0))
    fit, record = choose_function((counts, edges), sr=(90_000, 98_000))
    assert "x = m/sqrt(s) must lie in (0, 1)" in record["families"]["dijet"]["error"]
    assert fit.function.startswith(("expo", "power")) and fit.pvalue > 1e-3
