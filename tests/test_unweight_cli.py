"""``flowstats unweight``: bad inputs, outputs, report, model reuse, the FxFx LHE sample."""

from __future__ import annotations

import json

import numpy as np
import pytest
import uproot

from flowstats.cli import main
from flowstats.io import write_events

SMALL = ["--epochs", "3", "--transforms", "1", "--hidden", "8", "--bins", "4",
         "--batch-size", "512", "--seed", "3"]



def toy(path, n=4000, *, negative=0.2, seed=0, negative_region=False, weight="w"):
    """Two features; 20 % negative events in the core; optionally a region (1 < a < 2) where
    the negative events dominate, i.e. the weighted density is negative there."""
    rng = np.random.default_rng(seed)
    a = rng.normal(0, 1.5, n)
    b = rng.exponential(2.0, n) + 0.1
    neg = rng.random(n) < negative * np.exp(-0.5 * a**2)
    if negative_region:
        neg |= (a > 1) & (a < 2) & (rng.random(n) < 0.8)
    w = np.where(neg, -1.0, 1.0) * 0.5
    write_events(path, "tree", {"a": a, "b": b, weight: w})
    return a, b, w


def run(capsys, *args):
    code = main(["unweight", *map(str, args)])
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def test_end_to_end_report_and_model_reuse(tmp_path, capsys):
    inp = tmp_path / "in.root"
    a, b, w = toy(inp, negative_region=True)
    out, rep = tmp_path / "out.root", tmp_path / "report"
    code, stdout, err = run(capsys, inp, "--tree", "tree", "-f", "a,b", "-w", "w", "-n", 3000,
                            "-o", out, "--report", rep, *SMALL)
    assert code == 0, err
    # the output: same branch names and tree, every weight sigma/N
    t = uproot.open(out)["tree"]
    assert set(t.keys()) == {"a", "b", "w"}
    wo = t["w"].array(library="np")
    assert len(wo) == 3000
    np.testing.assert_allclose(wo, w.sum() / 3000)
    assert json.loads(stdout)["sum_weights"] == pytest.approx(w.sum())
    # the model is saved next to OUT by default
    assert (tmp_path / "out_model" / "unweight_model.json").is_file()
    summary = json.loads((rep / "summary.json").read_text())
    for key in ("input", "split", "output", "model", "training", "features", "pairs",
                "classifier", "baselines", "negative_density_bins", "timings", "seeds",
                "provenance", "test", "notes", "worth"):
        assert key in summary, key
    # what the 3000 generated events are worth: at most about 3000 true events (the
    # generated sample's own statistics), at least 0
    worth = summary["worth"]["summary"]
    assert worth["n_eq_lower_limit"] is None or 0 <= worth["n_eq_lower_limit"] <= 3000 * 1.2
    assert summary["input"]["n"] == 4000
    assert summary["input"]["negative_fraction"] == pytest.approx(np.mean(w < 0))
    assert summary["input"]["n_eff"] == pytest.approx(w.sum() ** 2 / np.sum(w**2))
    assert summary["split"]["n_test"] == 1000
    assert set(summary["features"]["a"]) >= {"chi2", "ndf", "p_value", "chi2_ndf"}
    assert {"auc", "auc_error"} <= set(summary["classifier"])
    assert {"drop_negatives", "hit_or_miss"} == set(summary["baselines"])
    assert summary["baselines"]["drop_negatives"]["features"]["a"]["ndf"] > 0
    assert summary["provenance"]["seed"] == 3
    assert summary["provenance"]["versions"]["torch"]
    # 1 < a < 2: about 1000 * 0.16 events, 80 % + of them negative -> sum w ~ -0.5 * 0.6 * 160
    # = -48 +- 0.5 sqrt(160) = 6.3: far below zero; it must be found
    found = summary["negative_density_bins"]["a"]
    assert found and all(1.0 - 0.3 < f["low"] and f["high"] < 2.0 + 0.3 for f in found)
    assert any("negative" in note for note in summary["notes"])
    # the whole input is checked too (also without --report)
    assert any(1.0 - 0.3 < f["low"] < 2.0 for f in summary["input_negative_density_bins"]["a"])
    for png in ("feature_a.png", "feature_b.png", "correlations.png", "training.png"):
        assert (rep / png).stat().st_size > 1000, png

    # reuse the model: no training, same features required
    out2 = tmp_path / "out2.root"
    code, _, err = run(capsys, inp, "--tree", "tree", "-f", "a,b", "-w", "w", "-n", 500,
                       "-o", out2, "--model", tmp_path / "out_model")
    assert code == 0, err
    assert uproot.open(out2)["tree"].num_entries == 500
    assert not (tmp_path / "out2_model").exists()
    code, _, err = run(capsys, inp, "--tree", "tree", "-f", "b,a", "-w", "w", "-n", 500,
                       "-o", tmp_path / "out3.root", "--model", tmp_path / "out_model")
    assert code == 2 and "trained on features ['a', 'b']" in err
    assert not (tmp_path / "out3.root").exists()

    # the same command again refuses to overwrite anything; --force replaces
    before = out.read_bytes()
    code, _, err = run(capsys, inp, "--tree", "tree", "-f", "a,b", "-w", "w", "-n", 3000,
                       "-o", out, "--report", rep, *SMALL)
    assert code == 2 and "exists already" in err and "--force" in err
    assert out.read_bytes() == before


def test_all_positive_weights_work_and_say_so(tmp_path, capsys, caplog):
    inp = tmp_path / "pos.root"
    toy(inp, n=2000, negative=0.0)
    code, stdout, err = run(capsys, inp, "--tree", "tree", "-f", "a,b", "-w", "w", "-n", 100,
                            "-o", tmp_path / "o.root", "--model-out", tmp_path / "m", *SMALL)
    assert code == 0, err
    assert "all 2000 input weights are positive" in caplog.text  # logged as a warning
    result = json.loads(stdout)
    assert result["input"]["all_weights_positive"] is True
    assert any("all input weights are positive" in note for note in result["notes"])
    assert (tmp_path / "m").is_dir() and not (tmp_path / "o_model").exists()


@pytest.mark.parametrize("case", ["sum_negative", "missing_weight", "n_zero", "n_negative",
                                  "exists", "model_exists", "bad_feature", "bad_discrete",
                                  "force_on_foreign_dir"])
def test_bad_input_exit_2_nothing_written(tmp_path, capsys, case):
    inp = tmp_path / "in.root"
    a, b, w = toy(inp, n=500)
    args = [inp, "--tree", "tree", "-f", "a,b", "-w", "w", "-n", 100, "-o", tmp_path / "o.root",
            "--report", tmp_path / "rep", *SMALL]
    expect = {
        "sum_negative": "sum of the weights",
        "missing_weight": "no branch 'wgt'",
        "n_zero": "positive integer, got N = 0",
        "n_negative": "positive integer, got N = -5",
        "exists": "exists already",
        "model_exists": "exists already",
        "bad_feature": "did you mean 'b'",
        "bad_discrete": "did you mean 'a'",
        "force_on_foreign_dir": "not a flowstats report directory",
    }[case]
    if case == "sum_negative":
        write_events(inp, "tree", {"a": a, "b": b, "w": -np.abs(w)}, force=True)
    elif case == "missing_weight":
        args[6] = "wgt"
    elif case == "n_zero":
        args[8] = 0
    elif case == "n_negative":
        args[8] = -5
    elif case == "exists":
        (tmp_path / "o.root").write_text("keep me")
    elif case == "model_exists":
        (tmp_path / "o_model").mkdir()
    elif case == "bad_feature":
        args[4] = "a,bb"
    elif case == "bad_discrete":
        args += ["--discrete", "aa"]
    elif case == "force_on_foreign_dir":  # --force must not delete unrelated files
        (tmp_path / "rep").mkdir()
        (tmp_path / "rep" / "thesis.tex").write_text("precious")
        args += ["--force"]
    before = sorted(p.name for p in tmp_path.iterdir())
    code, _, err = run(capsys, *args)
    assert code == 2, err
    assert err.startswith("flowstats: error:") and expect in err, err
    assert err.count("\n") == 1 and "Traceback" not in err
    assert sorted(p.name for p in tmp_path.iterdir()) == before  # nothing written
    if case == "exists":
        assert (tmp_path / "o.root").read_text() == "keep me"
    if case == "force_on_foreign_dir":
        assert (tmp_path / "rep" / "thesis.tex").read_text() == "precious"


def test_fxfx_lhe_end_to_end_small(copy_shared, tmp_path, capsys):
    lhe = copy_shared("zjets_fxfx_mg5amcnlo_7tev.lhe.gz")
    before = lhe.read_bytes()
    root = tmp_path / "zjets.root"
    assert main(["convert", str(lhe), "-o", str(root)]) == 0, capsys.readouterr().err
    capsys.readouterr()
    out, rep = tmp_path / "unw.root", tmp_path / "rep"
    code, stdout, err = run(capsys, root, "-f", "m_ll,pT_ll,y_ll,lep1_pt,n_partons",
                            "-w", "weight", "-n", 2000, "-o", out, "--report", rep,
                            "--no-plots", *SMALL)
    assert code == 0, err
    assert lhe.read_bytes() == before  # inputs never modified
    summary = json.loads((rep / "summary.json").read_text())
    assert summary["input"]["n"] == 10_000
    assert summary["input"]["negative_fraction"] == pytest.approx(0.1852)
    assert set(summary["features"]) == {"m_ll", "pT_ll", "y_ll", "lep1_pt", "n_partons"}
    assert "n_partons" in summary["model"]["discrete"]
    # events without real emission: pT_ll = 0 exactly -> their own category
    assert summary["model"]["atoms"] == {"pT_ll": 0.0}
    t = uproot.open(out)["events"].arrays(library="np")
    assert set(t) == {"m_ll", "pT_ll", "y_ll", "lep1_pt", "n_partons", "weight"}
    assert set(np.unique(t["n_partons"])) <= {0, 1, 2}
    # pT_ll = 0 <=> n_partons = 0 holds in the generated events as in the input
    assert np.array_equal(t["pT_ll"] == 0, t["n_partons"] == 0)
    np.testing.assert_allclose(t["weight"].sum(), summary["input"]["sum_weights"], rtol=1e-9)
    # direct LHE reading gives the same input summary
    code, stdout, err = run(capsys, lhe, "-f", "m_ll,pT_ll", "-w", "weight", "-n", 10,
                            "-o", tmp_path / "direct.root", *SMALL)
    assert code == 0, err
    assert json.loads(stdout)["input"]["n"] == 10_000
