"""pyhf models, asymptotic inference and the ``flowstats fit`` command (issue 6)."""

from __future__ import annotations

import importlib.util
import json

import numpy as np
import pyhf
import pytest
from cowan import cowan_z

from flowstats.cli import main
from flowstats.exceptions import BadInputError, FitError, WorkspaceError
from flowstats.stats import infer
from flowstats.stats import workspace as M


@pytest.fixture(autouse=True)
def _numpy_backend():
    infer.set_backend("numpy")


def _large_window(b, sigma_b):
    r"""A bump-hunt window's counting workspace with a 2.25 sigma excess over ``b`` events, the
    POI in units of one signal event (s = 0.68 per event); returns ``(spec, excess)``."""
    excess = 2.25 * np.sqrt(b + sigma_b**2)
    spec = M.counting_workspace(0.68, b, b + excess, sigma_b=sigma_b,
                                poi_bounds=(0.0, 50 * excess / 0.68))
    return spec, excess


@pytest.mark.parametrize(("sigma_b", "expected"), [(None, 0.98399), (10.0, 0.69020)])
def test_counting_experiment_reproducescowan_z(sigma_b, expected):
    s, b = 10.0, 100.0
    # Asimov data n = s + b; the background uncertainty as a shapesys (Poisson auxiliary
    # measurement m ~ Pois(tau b), tau = b^2/sigma_b^2): Cowan's on/off model exactly
    spec = M.counting_workspace(s, b, s + b, sigma_b=sigma_b)
    _, model, data = M.load_model(spec)
    z = infer.discovery(model, data)["z0"]
    assert z == pytest.approx(cowan_z(s, b, sigma_b), rel=1e-6)
    assert round(z, 5) == expected
    # pyhf's own q0 hypotest gives the same p0
    p0 = float(pyhf.infer.hypotest(0.0, data, model, test_stat="q0"))
    assert infer.discovery(model, data)["p0"] == pytest.approx(p0, rel=1e-9)


@pytest.mark.parametrize("b", [1e3, 1e5])
def test_large_yields_need_minuit(b):
    # a window without a cut in a 1M-event scan: ~1e5 background events, the POI in units of one
    # signal event (s = 0.68 per event), an excess of 2.25 sigma. The on/off profile likelihood
    # is Cowan's formula with s = n - b; minuit reaches it at every scale (scipy's SLSQP stopped
    # at the initial mu = 1 for b = 1e5 and gave Z = 0.09)
    sigma_b = 0.0022 * b + 3.0 * np.sqrt(b) / 10
    spec, excess = _large_window(b, sigma_b)
    _, model, data = M.load_model(spec)
    with infer.use_optimizer("minuit"):
        z = infer.discovery(model, data)["z0"]
    assert z == pytest.approx(cowan_z(excess, b, sigma_b), rel=1e-3)
    assert pyhf.get_backend()[1].name == "scipy"  # restored after the block


def test_unknown_optimizer():
    with pytest.raises(BadInputError, match="unknown optimizer 'adam'"):
        with infer.use_optimizer("adam"):
            pass


def test_gaussian_constraint_differs_fromcowan_z():
    # documented: a Gaussian (staterror) constraint is not Cowan's Poisson on/off model
    spec = M.counting_workspace(10.0, 100.0, 110.0, sigma_b=10.0, constraint="gaussian")
    _, model, data = M.load_model(spec)
    z = infer.discovery(model, data)["z0"]
    assert abs(z - 0.69020) > 1e-3


@pytest.fixture(scope="module")
def small():
    infer.set_backend("numpy")
    spec = M.build_workspace([62, 60], [50.0, 52.0], [12.0, 11.0], bkg_stat=[3.0, 7.0])
    return spec, *M.load_model(spec)[1:]


@pytest.mark.parametrize("mu", [0.5, 1.0, 2.5])
def test_cached_cls_equals_pyhf_hypotest(small, mu):
    _, model, data = small
    obs, exp = infer.AsymptoticCLs(model, data).cls(mu)
    ref_obs, ref_exp = pyhf.infer.hypotest(mu, data, model, test_stat="qtilde",
                                           return_expected_set=True)
    # the same fits in the same order: equal to rounding
    assert obs == pytest.approx(float(ref_obs), rel=1e-10)
    np.testing.assert_allclose(exp, np.asarray(ref_exp, float), rtol=1e-10)


def test_discovery_equals_pyhf(small):
    _, model, data = small
    d = infer.discovery(model, data)
    p0, p0_exp = pyhf.infer.hypotest(0.0, data, model, test_stat="q0", return_expected=True)
    assert d["p0"] == pytest.approx(float(p0), rel=1e-9)
    assert d["p0_exp"] == pytest.approx(float(p0_exp), rel=1e-9)
    assert d["z0"] > 0


def test_upper_limit_solves_cls_at_level(small):
    _, model, data = small
    for cl in (0.95, 0.9):
        ul = infer.upper_limit(model, data, cl=cl)
        calc = infer.AsymptoticCLs(model, data)
        # CLs at the limits equals 1 - CL to the root finder's tolerance (rtol 1e-4 in mu;
        # dCLs/dmu * 1e-4 mu ~ 1e-5 absolute)
        assert calc.cls_obs(ul.obs) == pytest.approx(1 - cl, abs=2e-5)
        for i, lim in enumerate(ul.exp):
            assert calc.cls_exp(lim)[i] == pytest.approx(1 - cl, abs=2e-5)
        assert ul.exp == sorted(ul.exp)
        assert all(0 <= p["mu"] <= 10 for p in ul.points)
        assert len(ul.points) >= 6 and ul.n_fits < 60
    # and pyhf's own hypotest at the limits returns 1 - CL too
    ul = infer.upper_limit(model, data)
    ref_obs = pyhf.infer.hypotest(ul.obs, data, model, test_stat="qtilde")
    assert float(ref_obs) == pytest.approx(0.05, abs=2e-5)
    _, ref_exp = pyhf.infer.hypotest(ul.exp[2], data, model, test_stat="qtilde",
                                     return_expected_set=True)
    assert float(ref_exp[2]) == pytest.approx(0.05, abs=2e-5)


def test_upper_limit_far_below_the_background():
    # a 40 sigma deficit (e.g. a window whose sideband fit overshoots next to a resonance's
    # peak): CLb = Phi(-t) at t ~ 100 is far below a float's range; CLs is a ratio of two
    # underflowing probabilities, computed in logs, and the limit is still found
    b = 10_000.0
    spec = M.counting_workspace(1.0, b, b - 40 * np.sqrt(b), poi_bounds=(0.0, 1000.0))
    _, model, data = M.load_model(spec)
    calc = infer.AsymptoticCLs(model, data)
    clsb, clb, cls = calc.pvalues(300.0)
    assert clb == 0.0 and clsb == 0.0 and 0 < cls < 0.05
    ul = infer.upper_limit(model, data, calculator=calc)
    assert 0 < ul.obs < ul.exp[2]
    assert calc.cls_obs(ul.obs) == pytest.approx(0.05, abs=2e-5)


def test_upper_limit_outside_bounds_raises():
    spec = M.build_workspace([5], [5.0], [0.5], poi_bounds=(0.0, 2.0))
    _, model, data = M.load_model(spec)
    with pytest.raises(FitError, match="above the POI upper bound 2"):
        infer.upper_limit(model, data)


def test_mle_hesse_minos(small):
    _, model, data = small
    r = infer.mle(model, data)
    # (62 + 60 - 102) / 23 ~ 0.87 for the nominal background
    assert r["mu_hat"] == pytest.approx(0.87, abs=0.2)
    lo, hi = r["mu_hat_minos"]
    assert lo < 0 < hi
    assert r["mu_hat_error"] == pytest.approx((hi - lo) / 2, rel=0.2)


def test_schema_failure_says_where():
    spec = M.counting_workspace(10.0, 100.0, 110.0, sigma_b=10.0)
    spec["channels"][0]["samples"][1]["modifiers"][0]["data"] = "oops"
    with pytest.raises(WorkspaceError,
                       match=r"\$\.channels\[0\]\.samples\[1\]\.modifiers\[0\]\.data"):
        M.validate_workspace(spec)
    spec = M.counting_workspace(10.0, 100.0, 110.0)
    del spec["observations"]
    with pytest.raises(WorkspaceError, match=r"at \$: 'observations' is a required property"):
        M.validate_workspace(spec)


def test_build_workspace_bad_inputs():
    with pytest.raises(BadInputError, match="negative"):
        M.build_workspace([-1, 2], [1.0, 1.0], [1.0, 1.0])
    with pytest.raises(BadInputError, match="has 3 bins, expected 2"):
        M.build_workspace([1, 2], [1.0, 1.0, 1.0], [1.0, 1.0])


def test_export_and_shape_uncertainties(tmp_path):
    spec = M.build_workspace([10, 12], [9.0, 11.0], [1.0, 2.0],
                             bkg_shape=([10.0, 12.0], [8.0, 10.0]), bkg_norm=0.1,
                             bkg_shapesys=[1.0, 1.5], signal_stat=[0.1, 0.2])
    out = M.export_workspace(spec, tmp_path / "ws.json")
    assert json.loads(out.read_text()) == spec
    _, model, _ = M.load_model(json.loads(out.read_text()))
    assert {"bkg_shape", "bkg_norm", "bkg_shapesys", "staterror_SR", "mu"} <= set(
        model.config.parameters)
    from flowstats.exceptions import OutputExistsError

    with pytest.raises(OutputExistsError):
        M.export_workspace(spec, out)


@pytest.fixture
def patchset_files(tmp_path, small):
    spec = small[0]
    bkg = json.loads(json.dumps(spec))
    bkg["channels"][0]["samples"] = bkg["channels"][0]["samples"][1:]
    ws_path = tmp_path / "bkg.json"
    ws_path.write_text(json.dumps(bkg))
    sig = spec["channels"][0]["samples"][0]
    patches = []
    for name, scale in (("signal_1000", 1.0), ("signal_1200", 0.5), ("signal_2000", 0.2)):
        s = json.loads(json.dumps(sig))
        s["data"] = [x * scale for x in s["data"]]
        patches.append({"metadata": {"name": name, "values": [float(name[-4:])]},
                        "patch": [{"op": "add", "path": "/channels/0/samples/0", "value": s}]})
    ps = {"metadata": {"description": "test", "digests": {"sha256": pyhf.utils.digest(bkg)},
                       "labels": ["m"], "references": {"hepdata": "ins0000000"}},
          "patches": patches, "version": "1.0.0"}
    ps_path = tmp_path / "patchset.json"
    ps_path.write_text(json.dumps(ps))
    jp_path = tmp_path / "patch.json"
    jp_path.write_text(json.dumps(patches[0]["patch"]))
    return ws_path, ps_path, jp_path


def test_cli_fit_prints_all_keys(patchset_files, small, capsys):
    ws, _, jp = patchset_files
    assert main(["fit", str(ws), "--patch", str(jp)]) == 0
    out = json.loads(capsys.readouterr().out)
    for key in ("mu_hat", "z0", "cls_obs", "cls_exp", "mu_upper_obs", "mu_upper_exp"):
        assert out[key] is not None, key
    assert len(out["cls_exp"]) == 5 and len(out["mu_upper_exp"]) == 5
    _, model, data = small
    ref = infer.hypotest(model, data, 1.0)
    assert out["cls_obs"] == pytest.approx(ref["cls_obs"], rel=1e-10)
    assert out["mu_upper_exp"] == sorted(out["mu_upper_exp"])


def test_cli_fit_optimizer_minuit_on_a_large_window(tmp_path, capsys):
    # a bump-hunt window workspace without a cut: 1e5 background events, 2.25 sigma excess
    b, sigma_b = 1e5, 230.0
    spec, excess = _large_window(b, sigma_b)
    path = tmp_path / "window.json"
    path.write_text(json.dumps(spec))
    assert main(["fit", str(path), "--optimizer", "minuit", "--no-mle", "--no-limits"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["optimizer"] == "minuit"
    assert out["z0"] == pytest.approx(cowan_z(excess, b, sigma_b), rel=1e-3)


def test_cli_patchset_by_name(patchset_files, capsys):
    ws, ps, jp = patchset_files
    assert main(["fit", str(ws), "--patch", str(ps), "--patch-name", "signal_1000",
                 "--no-limits", "--no-mle"]) == 0
    a = json.loads(capsys.readouterr().out)
    assert main(["fit", str(ws), "--patch", str(jp), "--no-limits", "--no-mle"]) == 0
    b = json.loads(capsys.readouterr().out)
    assert a["cls_obs"] == b["cls_obs"] and a["z0"] == b["z0"]
    assert a["mu_upper_obs"] is None


def test_cli_errors_exit_2(patchset_files, tmp_path, capsys):
    ws, ps, jp = patchset_files
    assert main(["fit", str(ws), "--patch", str(ps), "--patch-name", "signal_1100"]) == 2
    err = capsys.readouterr().err
    assert "no patch 'signal_1100'" in err and "closest first" in err
    # the names are listed, the closest first
    listed = err.split("closest first): ")[1]
    assert listed.index("signal_1000") < listed.index("signal_2000")
    assert "Traceback" not in err
    assert main(["fit", str(ws), "--patch", str(ps)]) == 2
    assert "choose one with --patch-name" in capsys.readouterr().err
    bad = tmp_path / "bad.json"
    spec = json.loads(ws.read_text())
    spec["channels"][0]["samples"][0]["data"] = [1.0, "x"]
    bad.write_text(json.dumps(spec))
    assert main(["fit", str(bad)]) == 2
    assert "$.channels[0].samples[0].data[1]" in capsys.readouterr().err
    bad.write_text("{not json")
    assert main(["fit", str(bad)]) == 2
    assert "not valid JSON" in capsys.readouterr().err
    assert main(["fit", str(tmp_path / "missing.json")]) == 2
    assert main(["fit", str(ws), "--patch", str(jp), "--measurement", "nope"]) == 2
    assert "measurements: measurement" in capsys.readouterr().err
    # the background-only workspace has no POI
    assert main(["fit", str(ws)]) == 2
    assert "parameter of interest 'mu'" in capsys.readouterr().err
    assert main(["fit", str(ws), "--patch", str(jp), "--poi-test", "50"]) == 2
    assert "outside the POI bounds [0, 10]" in capsys.readouterr().err
    if importlib.util.find_spec("jax") is None:
        assert main(["fit", str(ws), "--patch", str(jp), "--backend", "jax"]) == 2
        assert "jax is not installed" in capsys.readouterr().err


def test_set_backend_rejects_pytorch():
    with pytest.raises(BadInputError, match="unknown backend 'pytorch'"):
        infer.set_backend("pytorch")


def test_cli_export_and_toys(patchset_files, tmp_path, capsys):
    ws, _, jp = patchset_files
    out_ws = tmp_path / "patched.json"
    args = ["fit", str(ws), "--patch", str(jp), "--no-limits", "--no-mle", "--toys", "40",
            "--seed", "5", "--scheduler", "serial", "--export", str(out_ws)]
    assert main(args) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["calculator"] == "toybased" and out["n_toys"] == 40
    assert 0 <= out["cls_obs"] <= 1 and len(out["cls_exp"]) == 5
    assert out["asymptotic"]["cls_obs"] > 0
    # same seed, same numbers
    assert main(args + ["--force"]) == 0
    again = json.loads(capsys.readouterr().out)
    assert again["cls_obs"] == out["cls_obs"] and again["cls_exp"] == out["cls_exp"]
    exported = json.loads(out_ws.read_text())
    assert [s["name"] for s in exported["channels"][0]["samples"]] == ["signal", "background"]
    # no overwrite without --force (checked before any work)
    assert main(args) == 2
    assert "exists already" in capsys.readouterr().err


def test_cli_non_converging_fit_exit_2(patchset_files, monkeypatch, capsys):
    ws, _, jp = patchset_files

    class Result:
        message = "Optimization failed. Call limit was reached."
        minuit = None

    def failing(*args, **kwargs):
        raise pyhf.exceptions.FailedMinimization(Result())

    monkeypatch.setattr(pyhf.infer.mle, "fixed_poi_fit", failing)
    assert main(["fit", str(ws), "--patch", str(jp)]) == 2
    err = capsys.readouterr().err
    assert "did not converge: Optimization failed. Call limit was reached." in err
    assert "Traceback" not in err
