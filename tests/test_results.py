"""Results an analysis script can hold: flowstats.BumpHunt(...).run(), flowstats.unweight(...)
and flowstats.load_result(DIR) (one small bump hunt and one tiny unweighting, shared)."""

from __future__ import annotations

import json
import math
import os
import subprocess
import sys

import numpy as np
import pytest

import flowstats
from flowstats.datasets import dijet, write
from flowstats.exceptions import BadInputError, ConfigError, InputFileNotFoundError
from flowstats.io import write_events

SR, EFF = (3300.0, 3700.0), 0.2
SETTINGS = {"features": list(dijet.FEATURES), "label": "label", "method": "cathode",
            "scan": {"range": [2900, 3700], "width": 400, "step": 400},
            "efficiency": [0.2, 0.05], "seed": 1, "closure": True,
            "score_options": {"fit": {"epochs": 2}, "classifier": "hgb",
                              "flow": {"kind": "maf"}}}


@pytest.fixture(scope="module")
def hunt(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("results")
    sample = tmp / "dijet.root"
    write(sample, dijet.generate(n_background=40_000, n_signal=500, seed=1), tree="events")
    result = flowstats.BumpHunt({**SETTINGS, "input": str(sample)}).run(
        output=tmp / "hunt", plots=False)
    return result


def _same(a, b):
    if isinstance(a, float) and isinstance(b, float) and math.isnan(a):
        return math.isnan(b)
    if a is None:
        return b is None or (isinstance(b, float) and math.isnan(b))
    return a == b


def test_run_returns_the_summary_as_a_table(hunt):
    assert isinstance(hunt, flowstats.BumpHuntResult)
    on_disk = json.loads((hunt.directory / "summary.json").read_text())
    assert json.dumps(hunt.summary, sort_keys=True) == json.dumps(on_disk, sort_keys=True)
    table = hunt.windows
    assert list(table.columns[:5]) == ["sr_low", "sr_high", "efficiency", "z_local", "status"]
    assert len(table) == len(on_disk["windows"]) == 2 * 3
    for (_, got), row in zip(table.iterrows(), on_disk["windows"]):
        assert (got["sr_low"], got["sr_high"]) == tuple(row["sr"])
        assert (got["fit_low"], got["fit_high"]) == tuple(row["fit_range"])
        assert got["mu_upper_exp_median"] == row["mu_upper_exp"][2]
        for key, value in row.items():
            if value is None or isinstance(value, (bool, int, float, str)):
                assert _same(value, got[key]), key
    assert hunt.z_global == on_disk["z_global"]
    assert hunt.log10_p_global == on_disk["log10_p_global"]
    assert hunt.best_window == tuple(on_disk["best_window"])
    assert hunt.efficiencies == [1.0, 0.2, 0.05]
    assert hunt.signal_regions == [(2900.0, 3300.0), SR]
    assert hunt.configuration == on_disk["provenance"]["config"]
    assert hunt.configuration["method"] == "cathode"
    assert hunt.closure == on_disk["closure"]
    assert hunt.closure_verdict == on_disk["closure"]["verdict"]
    assert len(hunt.closure_table) == len(on_disk["closure"]["rows"])
    assert hunt["z_global"] == on_disk["z_global"]


def test_load_result_gives_an_equal_result(hunt):
    import pandas as pd

    loaded = flowstats.load_result(hunt.directory)
    assert isinstance(loaded, flowstats.BumpHuntResult)
    assert loaded == hunt
    pd.testing.assert_frame_equal(loaded.windows, hunt.windows)
    assert loaded.row(*SR, EFF) == hunt.row(*SR, EFF)


def test_workspace_reproduces_the_row(hunt):
    import pyhf

    row = hunt.row(*SR, EFF)
    ws = hunt.workspace(*SR, EFF)
    assert isinstance(ws, pyhf.Workspace)
    model = ws.model()
    assert ws.data(model, include_auxdata=False) == [row["n_sr"]]
    pars = model.config.suggested_init()
    pars[model.config.poi_index] = 0.0
    b = float(model.expected_actualdata(pars)[0])
    assert b == pytest.approx(row["background"], rel=1e-9)
    pars[model.config.poi_index] = 1.0
    s = float(model.expected_actualdata(pars)[0]) - b
    assert s == pytest.approx(row["signal_per_event_in_sr"], rel=1e-9)


def test_spectrum_holds_the_selected_events(hunt):
    import hist

    from flowstats.bumphunt.scoring import select_top

    row = hunt.row(*SR, EFF)
    h = hunt.spectrum(*SR, EFF)
    assert isinstance(h, hist.Hist)
    assert h.axes[0].name == "mjj"
    edges = h.axes[0].edges
    # the fit range, in the run's bins; the window's bins hold the row's n_sr
    assert (edges[0], edges[-1]) == pytest.approx(tuple(row["fit_range"]))
    assert h[hist.loc(SR[0]):hist.loc(SR[1])].sum() == row["n_sr"]
    assert h.sum(flow=True) == h.sum()
    # every selected event within the fit range, recomputed from scores.root
    scores = hunt.scores()
    i = hunt.signal_regions.index(SR)
    selected = select_top(scores[f"score_w{i}"], scores[f"region_w{i}"], EFF)
    m = scores["mjj"][selected]
    assert selected.sum() == row["n_selected"]
    assert h.sum() == np.sum((m >= edges[0]) & (m < edges[-1]))
    fit = hunt.background_fit(*SR, EFF)
    assert isinstance(fit, hist.Hist) and np.array_equal(fit.axes[0].edges, edges)
    assert np.all(fit.values() > 0)


def test_windows_are_matched_within_a_tolerance(hunt):
    assert hunt.row(3300.0000001, 3699.9999999, 0.2000000001) == hunt.row(*SR, EFF)
    assert list(hunt.windows_at(0.2000000001)["efficiency"]) == [0.2, 0.2]
    with pytest.raises(BadInputError, match="no window 3000-3700; the windows are "
                                            "2900-3300, 3300-3700"):
        hunt.row(3000, 3700, 0.2)
    with pytest.raises(BadInputError, match="has no efficiency 0.3; its efficiencies are "
                                            "1, 0.2, 0.05"):
        hunt.workspace(*SR, 0.3)
    with pytest.raises(BadInputError, match="no efficiency 0.5"):
        hunt.windows_at(0.5)


def test_plots_are_figures(hunt):
    import matplotlib.pyplot as plt
    from matplotlib.figure import Figure

    figures = {"spectrum": (hunt.plot_spectrum(*SR, EFF), 2),
               "significance": (hunt.plot_significance(), 1),
               "pvalues": (hunt.plot_pvalues([0.2]), 1),
               "closure": (hunt.plot_closure(), 2),
               "closure one window": (hunt.plot_closure(*SR), 1),
               "roc": (hunt.plot_roc_sic(), 2)}
    for name, (fig, n_axes) in figures.items():
        assert isinstance(fig, Figure), name
        assert len(fig.axes) == n_axes, name
        assert all(ax.has_data() for ax in fig.axes), name
        plt.close(fig)
    lines = figures["significance"][0].axes[0].get_lines()
    z = [ln for ln in lines if ln.get_label() == "efficiency 0.2"][0].get_ydata()
    assert list(z) == list(hunt.windows_at(0.2)["z_local"])


def test_bumphunt_settings_are_validated_as_on_the_command_line(tmp_path):
    with pytest.raises(ConfigError, match="unknown key 'inputs'.*did you mean 'input'"):
        flowstats.BumpHunt({**SETTINGS, "inputs": "x.root"})
    with pytest.raises(ConfigError, match="'input' is required"):
        flowstats.BumpHunt(SETTINGS)
    yaml = pytest.importorskip("yaml")
    path = tmp_path / "hunt.yaml"
    path.write_text(yaml.safe_dump({**SETTINGS, "input": "x.root"}))
    from_file = flowstats.BumpHunt(path, output=str(tmp_path / "out"))
    from_mapping = flowstats.BumpHunt({**SETTINGS, "input": "x.root"}, output=str(tmp_path / "out"))
    assert from_file.configuration == from_mapping.configuration
    # sr replaces the settings' scan, as --sr does
    assert flowstats.BumpHunt(path, sr=[3300, 3700]).configuration["scan"] is None


def test_load_result_says_what_it_expected(tmp_path):
    with pytest.raises(InputFileNotFoundError):
        flowstats.load_result(tmp_path / "missing")
    with pytest.raises(BadInputError, match="expected a bump-hunt output directory"):
        flowstats.load_result(tmp_path)
    (tmp_path / "state").mkdir()
    (tmp_path / "state" / "fingerprint.txt").write_text("x\n")
    with pytest.raises(BadInputError, match="unfinished bump hunt"):
        flowstats.load_result(tmp_path)


def test_import_stays_light():
    code = ("import sys, flowstats\nflowstats.load_result, flowstats.BumpHunt, "
            "flowstats.UnweightResult\n"
            "print(sorted(m for m in ('torch', 'pandas', 'matplotlib') if m in sys.modules))")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          timeout=120, env={**os.environ, "OMP_NUM_THREADS": "1"})
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip().splitlines()[-1] == "[]"


@pytest.fixture(scope="module")
def unweighted(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("unweight")
    rng = np.random.default_rng(0)
    n = 4000
    a, b = rng.normal(0, 1.5, n), rng.exponential(2.0, n) + 0.1
    w = np.where(rng.random(n) < 0.2 * np.exp(-0.5 * a**2), -1.0, 1.0) * 0.5
    write_events(tmp / "in.root", "tree", {"a": a, "b": b, "w": w})
    return flowstats.unweight(tmp / "in.root", tree="tree", features=["a", "b"], weight="w",
                              n=3000, output=tmp / "out.root", report=tmp / "report", epochs=3,
                              transforms=1, hidden=(8,), bins=4, batch_size=512, seed=3,
                              plots=False)


def test_unweight_result_has_the_report_numbers(unweighted):
    r = unweighted
    assert isinstance(r, flowstats.UnweightResult)
    assert r.report_dir == r.report and r.report_dir.is_dir()
    on_disk = json.loads((r.report_dir / "summary.json").read_text())
    features = r.features
    assert list(features.index) == ["a", "b"]
    for name, got in features.iterrows():
        for key, value in on_disk["features"][name].items():
            assert got[key] == value, (name, key)
    assert list(r.pairs.index) == ["a:b"]
    assert r.pairs.loc["a:b", "chi2"] == on_disk["pairs"]["a:b"]["chi2"]
    assert r.classifier_auc == on_disk["classifier"]["auc"]
    assert r.classifier_auc_error == on_disk["classifier"]["auc_error"]
    assert r.baselines == on_disk["baselines"]
    drop = r.feature_table("drop_negatives")
    assert drop.loc["a", "chi2"] == on_disk["baselines"]["drop_negatives"]["features"]["a"]["chi2"]
    comparison = r.comparison
    assert list(comparison.index) == ["flow", "drop_negatives", "hit_or_miss"]
    assert comparison.loc["hit_or_miss", "auc"] == \
        on_disk["baselines"]["hit_or_miss"]["classifier"]["auc"]
    assert comparison.loc["flow", "min_p_value"] == on_disk["min_p_value"] == r.min_p_value
    worth = on_disk["worth"]["summary"]
    for key in ("n_eq", "n_eq_error", "n_eq_lower_limit", "n_eq_inf", "n_eq_inf_lower_limit",
                "m_star", "m_star_lower_limit", "amplification", "amplification_lower_limit"):
        assert getattr(r.worth, key) == worth[key], key
    assert r.worth.confidence == on_disk["worth"]["confidence"] == 0.95
    assert r.input == on_disk["input"] and r.test == on_disk["test"]
    assert r.output.name == "out.root" and r.n == 3000
    assert r["split"] == on_disk["split"] == r.split
    assert r.observables is None and r.categories is None
    with pytest.raises(BadInputError, match="no sample 'x'"):
        r.feature_table("x")


def test_load_result_of_a_report_is_equal(unweighted):
    import pandas as pd

    loaded = flowstats.load_result(unweighted.report_dir)
    assert isinstance(loaded, flowstats.UnweightResult)
    for key in ("output", "n", "sigma", "weight", "model", "report"):
        assert getattr(loaded, key) == getattr(unweighted, key), key
    pd.testing.assert_frame_equal(loaded.features, unweighted.features)
    pd.testing.assert_frame_equal(loaded.comparison, unweighted.comparison)
    assert loaded.worth == unweighted.worth
    assert loaded.classifier == unweighted.classifier
    # the parent directory is no result, but says where the report is
    with pytest.raises(BadInputError, match="the report directory .* is one"):
        flowstats.load_result(unweighted.report_dir.parent)
