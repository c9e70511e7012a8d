"""End-to-end tests of the bump hunt on small built-in dijet samples (fast settings)."""

from __future__ import annotations

import json

import numpy as np
import pytest
import uproot

from flowstats.bumphunt import run_bumphunt
from flowstats.cli import main
from flowstats.config import resolve_config
from flowstats.datasets import dijet, write
from flowstats.exceptions import OutputExistsError

FAST = {"fit": {"epochs": 2}}


@pytest.fixture(scope="module")
def sample(tmp_path_factory):
    path = tmp_path_factory.mktemp("bh") / "dijet.root"
    write(path, dijet.generate(n_background=30_000, n_signal=300, seed=11), tree="events")
    return path


def _config(sample, out, **kw):
    base = {"input": str(sample), "features": list(dijet.FEATURES), "label": "label",
            "method": "density", "sr": [3300, 3700], "efficiency": [0.2, 0.05],
            "output": str(out), "seed": 3, "score_options": FAST}
    base.update(kw)
    return resolve_config(base)


def test_summary_shape_and_outputs(sample, tmp_path):
    out = tmp_path / "out"
    summary = run_bumphunt(_config(sample, out), plots=True)
    on_disk = json.loads((out / "summary.json").read_text())
    assert on_disk["z_global"] == pytest.approx(summary["z_global"])
    effs = sorted(r["efficiency"] for r in on_disk["windows"])
    assert effs == [0.05, 0.2, 1.0]
    for row in on_disk["windows"]:
        for key in ("sr", "efficiency", "n_selected", "background", "z_local", "mu_upper_obs"):
            assert key in row
        assert row["sr"] == [3300.0, 3700.0]
    # the no-cut row keeps every event
    nocut = next(r for r in on_disk["windows"] if r["efficiency"] == 1.0)
    assert nocut["n_selected"] == 30_300
    # provenance: seeds, versions, resolved configuration
    assert on_disk["provenance"]["seed"] == 3 and on_disk["provenance"]["config"]["method"] == "density"
    assert (out / "summary.csv").read_text().count("\n") == 4
    assert len(list((out / "workspaces").glob("*.json"))) == 3
    with uproot.open(out / "scores.root") as f:
        scores = f["scores"].arrays(["entry", "score_w0", "region_w0"], library="np")
        assert np.array_equal(scores["entry"], np.arange(30_300))
        assert set(np.unique(scores["region_w0"])) <= {-1, 0, 1}
    assert (out / "plots" / "roc_sic.png").exists()


def test_existing_output_needs_force(sample, tmp_path, capsys):
    out = tmp_path / "out"
    run_bumphunt(_config(sample, out), plots=False)
    with pytest.raises(OutputExistsError):
        run_bumphunt(_config(sample, out), plots=False)
    args = ["bumphunt", str(sample), "--features", ",".join(dijet.FEATURES), "--method",
            "density", "--sr", "3300:3700", "--epochs", "2", "-o", str(out), "--no-plots"]
    assert main(args) == 2
    assert "--force" in capsys.readouterr().err


def test_resume_after_interruption_gives_same_summary(sample, tmp_path):
    """A scan killed after its first window resumes from it and ends as an uninterrupted run."""
    scan = {"range": [3100, 3900], "width": 400, "step": 400}
    ref = run_bumphunt(_config(sample, tmp_path / "ref", sr=None, scan=scan), plots=False)
    out = tmp_path / "resumed"
    cfg = _config(sample, out, sr=None, scan=scan)
    import flowstats.bumphunt.scan as core

    calls = []
    original = core.save_window

    def interrupt(path, result):
        original(path, result)
        calls.append(path)
        if len(calls) == 1:
            raise KeyboardInterrupt

    core.save_window = interrupt
    try:
        with pytest.raises(KeyboardInterrupt):
            run_bumphunt(cfg, plots=False)
    finally:
        core.save_window = original
    assert not (out / "summary.json").exists()
    assert len(list((out / "state").glob("window_*.npz"))) == 1
    resumed = run_bumphunt(cfg, plots=False)
    a = [(r["sr"], r["efficiency"], r["n_selected"], r["z_local"]) for r in ref["windows"]]
    b = [(r["sr"], r["efficiency"], r["n_selected"], r["z_local"]) for r in resumed["windows"]]
    assert a == b


def test_bad_inputs_exit_2(sample, tmp_path, capsys):
    base = ["bumphunt", str(sample), "--method", "density", "--epochs", "1", "--no-plots"]
    cases = [
        (["--features", "mj1,tau21_j9", "--sr", "3300:3700", "-o", str(tmp_path / "a")], "tau21_j1"),
        (["--features", "mj1", "--sr", "3700:3300", "-o", str(tmp_path / "b")], "LO < HI"),
        (["--features", "mj1", "--sr", "9000:9500", "-o", str(tmp_path / "c")], "no events"),
        (["--features", "mj1", "-o", str(tmp_path / "d")], "either 'sr'"),
    ]
    for extra, message in cases:
        assert main(base + extra) == 2, extra
        err = capsys.readouterr().err
        assert message in err and "Traceback" not in err
        assert err.count("\n") == 1
    assert not any((tmp_path / n).exists() for n in "abcd")


def test_serial_and_dask_give_the_same_summary(sample, tmp_path):
    """Windows scored on a dask LocalCluster (2 workers) give exactly the serial numbers."""
    scan = {"range": [2900, 3700], "width": 400, "step": 400}
    # the default flow and MLP classifier, briefly trained (the numbers must agree, not be good)
    kw = {"sr": None, "scan": scan, "method": "cathode",
          "score_options": {"fit": {"epochs": 1}, "k": 2, "oversample": 1,
                            "classifier_options": {"epochs": 4}}}
    serial = run_bumphunt(_config(sample, tmp_path / "serial", **kw), plots=False)
    dist = run_bumphunt(_config(sample, tmp_path / "dask", scheduler="local", workers=2, **kw),
                        plots=False)
    key = ("sr", "efficiency", "n_selected", "n_sr", "background", "z_local", "mu_upper_obs")
    assert [[r[k] for k in key] for r in serial["windows"]] == \
        [[r[k] for k in key] for r in dist["windows"]]
    assert serial["z_global"] == dist["z_global"]


#: fast classifier settings of the closure tests (both the analysis and its pseudo-data)
CLOSURE_OPTIONS = {"flow": {"transforms": 3, "hidden": [32, 32]},
                   "fit": {"epochs": 4, "batch_size": 1024, "lr": 3e-3}, "k": 3,
                   "classifier": "hgb", "classifier_options": {"n_models": 1}}


def test_closure_passes_on_background_only_dijet(tmp_path):
    # the built-in background-only sample and the default method (latent-space CATHODE):
    # every selection keeps a flat fraction of the pseudo-data at every m. closure_alpha 1e-3
    # (Bonferroni over the 2 efficiencies): a non-sculpting analysis fails 0.1 % of the time
    path = tmp_path / "bkg.root"
    write(path, dijet.generate(n_background=40_000, n_signal=0, seed=5), tree="events")
    out = tmp_path / "out"
    summary = run_bumphunt(_config(path, out, method="cathode", label=None, closure=True,
                                   closure_alpha=1e-3, efficiency=[0.1, 0.01],
                                   score_options=CLOSURE_OPTIONS), plots=True)
    closure = json.loads((out / "summary.json").read_text())["closure"]
    assert [r["p_value"] for r in closure["rows"]] == pytest.approx(
        [r["p_value"] for r in summary["closure"]["rows"]])
    assert closure["verdict"] == "pass", closure
    assert closure["n_tests"] == 2 and closure["threshold"] == pytest.approx(5e-4)
    assert all(r["p_value"] > closure["threshold"] for r in closure["rows"])
    assert (out / "plots" / "closure_w00.png").exists()
    assert (out / "state" / "models_000" / "closure" / "background" / "fingerprint").exists()


def _correlated(path, seed=6):
    # background only, plus a feature that follows m (like the Delta R of LaCATHODE's study)
    d = dijet.generate(n_background=40_000, n_signal=0, seed=seed)
    rng = np.random.default_rng(seed)
    d["dr"] = 4.0 * np.log(d["mjj"] / 3500.0) + rng.normal(0.0, 0.5, len(d["mjj"]))
    write(path, d, tree="events")


def test_closure_flags_cwola_with_mass_correlated_features(tmp_path, capsys):
    path = tmp_path / "corr.root"
    _correlated(path)
    features = [*dijet.FEATURES, "dr"]
    # refused by default, with the reason and the way out
    args = ["bumphunt", str(path), "--features", ",".join(features), "--method", "cwola",
            "--sr", "3300:3700", "-o", str(tmp_path / "refused"), "--no-plots"]
    assert main(args) == 2
    err = capsys.readouterr().err
    assert "refused by default" in err and "--allow-sculpting" in err
    assert not (tmp_path / "refused").exists()
    out = tmp_path / "out"
    summary = run_bumphunt(_config(path, out, method="cwola", label=None, closure=True,
                                   closure_alpha=1e-3, efficiency=[0.1, 0.01],
                                   features=features, allow_sculpting=True,
                                   score_options=CLOSURE_OPTIONS), plots=False)
    closure = summary["closure"]
    # CWoLa learns m through dr: its top 10 % of the SR is a bump at the SR (p ~ 0)
    assert closure["verdict"] == "sculpts", closure
    row = next(r for r in closure["rows"] if r["efficiency"] == 0.1)
    assert row["sculpts"] and row["p_value"] < 1e-6


def test_data_space_is_refused_without_allow_sculpting(sample, tmp_path):
    from flowstats.exceptions import ConfigError

    with pytest.raises(ConfigError, match="space 'data' is refused by default"):
        run_bumphunt(_config(sample, tmp_path / "o", score_options={**FAST, "space": "data"}),
                     plots=False)


@pytest.fixture(scope="module")
def falling(tmp_path_factory):
    # a steeply falling spectrum: the high windows of a scan hold fewer than 100 SR events
    rng = np.random.default_rng(2)
    n = 20_000
    m = 2500 + rng.exponential(300, n)
    path = tmp_path_factory.mktemp("falling") / "falling.root"
    write(path, {"m": m, "a": rng.normal(size=n), "b": rng.gamma(2.0, 1.0, n)}, tree="events")
    return path, m


def test_scan_survives_sparse_windows_and_clips_its_range(falling, tmp_path, caplog):
    path, m = falling
    scan = {"range": [2800, 7000], "width": 400, "step": 400}
    cfg = _config(path, tmp_path / "out", sr=None, scan=scan, mass="m", features=["a", "b"],
                  label=None, efficiency=[0.2], function="expo2", bin_width=50)
    with caplog.at_level("WARNING"):
        summary = run_bumphunt(cfg, plots=True)
    assert summary["scan_clipped_to"] == [2800.0, pytest.approx(float(m.max()))]
    assert "clipped to" in caplog.text and "skipped" in caplog.text
    windows = sorted({tuple(r["sr"]) for r in summary["windows"]})
    assert windows[-1][1] <= m.max()
    sr_counts = {w: int(((m >= w[0]) & (m < w[1])).sum()) for w in windows}
    skipped = {tuple(r["sr"]) for r in summary["windows"] if r["status"].startswith("skipped")}
    # exactly the windows with fewer than 100 SR events are skipped, with NaN numbers
    assert skipped == {w for w, n in sr_counts.items() if n < 100} and skipped
    assert summary["n_windows_skipped"] == len(skipped)
    for r in summary["windows"]:
        if tuple(r["sr"]) in skipped:
            assert "at least 100" in r["status"] and np.isnan(r["z_local"])
        else:
            assert np.isfinite(r["z_local"]) and r["status"] != "" and "skipped" not in r["status"]
    assert np.isfinite(summary["z_global"])
    assert (tmp_path / "out" / "summary.csv").exists()


def test_scan_without_any_analysable_window_exits_2(falling, tmp_path, capsys):
    path, _ = falling
    out = tmp_path / "none"
    code = main(["bumphunt", str(path), "--mass", "m", "--features", "a,b", "--scan",
                 "4400:5200", "--window-width", "400", "--window-step", "400", "-o", str(out),
                 "--no-plots"])
    err = capsys.readouterr().err
    assert code == 2, err
    assert "no window could be analysed (2 tried)" in err and "at least 100" in err
    assert len(err.strip().splitlines()) == 1


def test_poor_sideband_fits_are_flagged(tmp_path, caplog):
    # a narrow peak in a sideband (a Z-like resonance the smooth function cannot follow)
    rng = np.random.default_rng(4)
    m = np.concatenate([2500 + rng.exponential(400, 20_000), rng.normal(2900, 20, 4000)])
    n = len(m)
    path = tmp_path / "peak.root"
    write(path, {"m": m, "a": rng.normal(size=n), "b": rng.normal(size=n)}, tree="events")
    kw = dict(mass="m", features=["a", "b"], label=None, sr=[3300, 3700], efficiency=[0.2],
              function="expo2", bin_width=50)
    with caplog.at_level("WARNING"):
        summary = run_bumphunt(_config(path, tmp_path / "strict", **kw), plots=False)
    for row in summary["windows"]:
        assert row["fit_pvalue"] < 1e-6
        assert row["status"].startswith("poor fit: chi2/ndf = ") and "< 0.01" in row["status"]
        assert row["in_global"] is True  # flagged, but kept by default
    assert "window 3300-3700 efficiency 1: poor fit" in caplog.text
    assert np.isfinite(summary["z_global"]) and summary["n_poor_fits_in_global"] == 2
    # exclude_poor_fits: no row is fit to enter the global significance
    strict = run_bumphunt(_config(path, tmp_path / "excl", exclude_poor_fits=True, **kw),
                          plots=False)
    assert not any(r["in_global"] for r in strict["windows"])
    assert np.isnan(strict["z_global"])
    # the threshold is configurable: with 0 every fit is accepted
    loose = run_bumphunt(_config(path, tmp_path / "loose", fit_pvalue_min=0.0, **kw),
                         plots=False)
    assert all(r["status"] == "ok" and r["in_global"] for r in loose["windows"])
    assert loose["n_poor_fits_in_global"] == 0


def test_default_fit_range_bins_and_function(sample, tmp_path):
    summary = run_bumphunt(_config(sample, tmp_path / "o", efficiency=[0.2]), plots=False)
    m_min = uproot.open(sample)["events"]["mjj"].array(library="np").min()
    for row in summary["windows"]:
        # the window and two widths on each side (2500-4500), within the data (m_jj from
        # just above 2500): whole bins of width / 8 = 50 GeV that fall on the window's edges
        lo, hi = row["fit_range"]
        assert hi == 4500.0 and m_min <= lo < m_min + 50
        assert (3300.0 - lo) % 50.0 == 0
        assert set(row["function_choice"]) == {"dijet", "expo", "power"}
        assert row["fit_function"] in {v[0] for v in row["function_choice"].values()}
        assert row["fit_pvalue"] > 1e-3 and row["status"] == "ok"


def test_weighted_events_scale_like_counts(sample, tmp_path):
    # every event with weight 2: sums of weights are twice the counts with four times the
    # variance, so the effective counts, the fit and Z are those of the unweighted events
    d = uproot.open(sample)["events"].arrays(library="np")
    path = tmp_path / "w.root"
    write(path, {**d, "w2": np.full(len(d["mjj"]), 2.0)}, tree="events")
    plain = run_bumphunt(_config(path, tmp_path / "plain", efficiency=[0.2]), plots=False)
    weighted = run_bumphunt(_config(path, tmp_path / "weighted", efficiency=[0.2], weight="w2"),
                            plots=False)
    for a, b in zip(plain["windows"], weighted["windows"]):
        assert b["weight_scale"] == pytest.approx(0.5)
        assert b["sum_weights_selected"] == pytest.approx(2 * a["n_selected"])
        assert b["background"] == pytest.approx(2 * a["background"], rel=1e-3)
        assert b["z_local"] == pytest.approx(a["z_local"], abs=2e-3)
        assert b["mu_upper_obs"] == pytest.approx(2 * a["mu_upper_obs"], rel=1e-2)


def test_negative_weights_where_the_binned_sum_is_positive(sample, tmp_path):
    # MC@NLO-like: 20 % of the events carry -1; every bin's sum stays positive
    d = uproot.open(sample)["events"].arrays(library="np")
    rng = np.random.default_rng(9)
    w = np.where(rng.uniform(size=len(d["mjj"])) < 0.2, -1.0, 1.0)
    path = tmp_path / "neg.root"
    write(path, {**d, "w": w}, tree="events")
    out = run_bumphunt(_config(path, tmp_path / "o", efficiency=[0.2], weight="w"), plots=False)
    for row in out["windows"]:
        assert row["status"] == "ok" and np.isfinite(row["z_local"])
        # effective counts: sum w / sum w^2 = (0.8 - 0.2) / 1 of the events
        assert row["weight_scale"] == pytest.approx(0.6, abs=0.03)


def test_large_signal_regions_warn_about_measured_sculpting(caplog):
    # only piecewise-linear (ReLU) sideband flows were measured to sculpt large SRs; the
    # default SiLU flows were not (docs/guide/sculpting.md)
    import flowstats.bumphunt.scan as core

    m = np.random.default_rng(0).uniform(3000, 4000, 100_000)  # 40,000 in [3300, 3700)
    relu = {"flow": {"activation": "relu"}}
    with caplog.at_level("WARNING"):
        core._warn_large_sr({"method": "cathode", "closure": False, "score_options": relu},
                            [(3300.0, 3700.0)], m)
    assert "holds 40" in caplog.text and "run with --closure" in caplog.text
    for config, windows in (
            ({"method": "cathode", "score_options": relu}, [(3300.0, 3310.0)]),  # ~1,000
            ({"method": "cathode"}, [(3300.0, 3700.0)]),  # the default SiLU flow
            ({"method": "cathode", "score_options": {"flow": {"kind": "maf"}}},
             [(3300.0, 3700.0)])):
        caplog.clear()
        with caplog.at_level("WARNING"):
            core._warn_large_sr(config, windows, m)
        assert caplog.text == "", config


def test_template_background_finds_the_injected_signal(tmp_path, capsys):
    # issue 16: background 'template' (cut and count against the method's own template): the
    # rows say so, carry the template counts, and with 400 injected signal events in a 30k
    # sample the selected SR holds more than the template predicts (the no-cut row cannot see
    # it: there b is the SR count itself)
    path = tmp_path / "sig.root"
    write(path, dijet.generate(n_background=30_000, n_signal=400, seed=12), tree="events")
    cfg = _config(path, tmp_path / "out", method="cathode", background="template",
                  efficiency=[0.05],
                  score_options={**FAST, "k": 3, "classifier": "hgb",
                                 "flow": {"transforms": 3, "hidden": [32, 32]},
                                 "fit": {"epochs": 6, "batch_size": 1024, "lr": 3e-3}})
    summary = run_bumphunt(cfg, plots=False)
    rows = {r["efficiency"]: r for r in summary["windows"]}
    assert all(r["background_method"] == "template" for r in rows.values())
    assert rows[1.0]["background"] == pytest.approx(rows[1.0]["n_sr"])
    cut = rows[0.05]
    assert cut["n_template"] == 4 * rows[1.0]["n_sr"] and cut["n_template_selected"] > 0
    assert cut["n_sr"] > cut["background"] + 3 * np.sqrt(cut["background"]), cut
    assert cut["z_local"] > 3
    ws = json.loads((tmp_path / "out" / "workspaces" / "sr_3300_3700_eff_0p05.json").read_text())
    assert ws["observations"][0]["data"] == [cut["n_sr"]]
    # a method without a template, and bumphunter with it: one line, exit 2
    for extra, message in ((["--method", "bootstrap"], "it has none"),
                           (["--method", "anode"], "fails the background-only closure"),
                           (["--global-method", "bumphunter"], "gives only the SR count")):
        capsys.readouterr()
        code = main(["bumphunt", str(path), "--features", ",".join(dijet.FEATURES), "--sr",
                     "3300:3700", "--background", "template", "-o", str(tmp_path / "x"),
                     *extra])
        err = capsys.readouterr().err
        assert code == 2 and message in err and "Traceback" not in err
