"""Command-line paths that no other test takes, each with the outcome it exists for.

``--cut`` on ``train``/``unweight``/``bumphunt`` (the events used are those passing the cut),
NaN and infinite input (exit 2, one line naming the file and branch, nothing written),
malformed YAML configurations (exit 2, one line naming the file and key), ``bumphunt
--function/--fit-range`` (recorded in every summary row) and ``score --folds/--oversample``
(the folds of the output and the provenance). Small generated samples and tiny networks
(seconds each).
"""

from __future__ import annotations

import json

import numpy as np
import pytest
import uproot

from flowstats.cli import main
from flowstats.datasets import dijet
from flowstats.io import write_events

#: tiny flows, one or two epochs: these tests check paths, not models
TINY_UNWEIGHT = ["--epochs", "1", "--transforms", "1", "--hidden", "8", "--bins", "4",
                 "--batch-size", "512", "--seed", "3", "--device", "cpu", "--no-plots"]
TINY_TRAIN = ["--epochs", "1", "--transforms", "1", "--hidden", "8", "--bins", "4",
              "--batch-size", "512", "--seed", "3", "--device", "cpu"]
#: the bump hunt's flow, tiny too (only a YAML file reaches these score options)
TINY_HUNT = "score_options:\n  flow: {transforms: 1, hidden: [8], bins: 4}\n  fit: {epochs: 1}\n"
FEATURES = ",".join(dijet.FEATURES)


def run(capsys, *args):
    code = main([str(a) for a in args])
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def one_line(err: str) -> str:
    """The single line of an error: no traceback, nothing else on stderr."""
    assert "Traceback" not in err, err
    lines = err.strip().splitlines()
    assert len(lines) == 1, err
    return lines[0]


@pytest.fixture(scope="module")
def toy(tmp_path_factory):
    """Two features with 20 % negative weights, and copies with one NaN / one inf entry."""
    tmp = tmp_path_factory.mktemp("toy")
    rng = np.random.default_rng(5)
    n = 3000
    cols = {"a": rng.normal(0, 1.5, n), "b": rng.exponential(2.0, n) + 0.1,
            "w": np.where(rng.random(n) < 0.2, -0.5, 0.5)}
    write_events(tmp / "toy.root", "events", cols)
    for name, bad in (("nan", np.nan), ("inf", np.inf)):
        a = cols["a"].copy()
        a[[7, 100]] = bad
        write_events(tmp / f"{name}.root", "events", {**cols, "a": a})
    return tmp, cols


@pytest.fixture(scope="module")
def hunt_sample(tmp_path_factory):
    """A small dijet sample for the bump hunt, and copies with NaN / inf in one feature."""
    tmp = tmp_path_factory.mktemp("hunt")
    d = dijet.generate(n_background=12_000, n_signal=0, seed=21)
    cols = {k: np.asarray(d[k]) for k in ("mjj", *dijet.FEATURES)}
    write_events(tmp / "dijet.root", "events", cols)
    for name, bad in (("nan", np.nan), ("inf", -np.inf)):
        tau = cols["tau21_j2"].copy()
        tau[[3, 30, 300]] = bad
        write_events(tmp / f"{name}.root", "events", {**cols, "tau21_j2": tau})
    (tmp / "tiny.yaml").write_text(TINY_HUNT)
    return tmp, cols


def _hunt(sample, out, *extra):
    tmp, _ = sample
    return ["bumphunt", tmp / "dijet.root", "--config", tmp / "tiny.yaml", "--features",
            FEATURES, "--method", "density", "--sr", "3000:3400", "--efficiency", "0.2",
            "--seed", "3", "--device", "cpu", "--no-plots", "-o", out, *extra]


# --------------------------------------------------------------------------------------------
# --cut: the events used are those passing it
# --------------------------------------------------------------------------------------------


def test_train_cut_selects_the_events(toy, tmp_path, capsys):
    tmp, cols = toy
    keep = cols["a"] > 0.5
    code, out, err = run(capsys, "train", tmp / "toy.root", "--features", "a,b", "--weight",
                         "w", "--cut", "a > 0.5", *TINY_TRAIN, "-o", tmp_path / "model")
    assert code == 0, err
    summary = json.loads(out)
    assert summary["events"] == keep.sum() < len(keep)
    w = cols["w"][keep]
    assert summary["sum_weights"] == pytest.approx(w.sum())
    assert summary["negative_fraction"] == pytest.approx((w < 0).mean())


def test_unweight_cut_selects_the_events(toy, tmp_path, capsys):
    tmp, cols = toy
    keep = (cols["b"] < 3) & (cols["a"] > -1)
    code, out, err = run(capsys, "unweight", tmp / "toy.root", "-f", "a,b", "-w", "w",
                         "--cut", "(b < 3) & (a > -1)", "-n", 500, *TINY_UNWEIGHT,
                         "-o", tmp_path / "out.root")
    assert code == 0, err
    summary = json.loads(out)
    assert summary["input"]["n"] == keep.sum() < len(keep)
    w = cols["w"][keep]
    assert summary["sum_weights"] == pytest.approx(w.sum())
    # the written events carry the selected events' cross-section, not the whole input's
    with uproot.open(tmp_path / "out.root") as f:
        wo = f["events"]["w"].array(library="np")
    np.testing.assert_allclose(wo, w.sum() / 500)


def test_bumphunt_cut_selects_the_events(hunt_sample, tmp_path, capsys):
    _, cols = hunt_sample
    keep = cols["tau21_j1"] < 0.7
    code, out, err = run(capsys, *_hunt(hunt_sample, tmp_path / "h", "--cut", "tau21_j1 < 0.7"))
    assert code == 0, err
    summary = json.loads((tmp_path / "h" / "summary.json").read_text())
    assert summary["n_events"] == keep.sum() < len(keep)
    nocut = next(r for r in summary["windows"] if r["efficiency"] == 1.0)
    assert nocut["n_selected"] == keep.sum()
    assert nocut["n_sr"] == (keep & (cols["mjj"] >= 3000) & (cols["mjj"] < 3400)).sum()
    assert summary["provenance"]["config"]["cut"] == "tau21_j1 < 0.7"


# --------------------------------------------------------------------------------------------
# NaN and inf input: exit 2, one line naming the file and the branch, nothing written
# --------------------------------------------------------------------------------------------


def _refused_nonfinite(result, bad: str, count: int, branch: str, tmp_path) -> None:
    r"""Exit 2, one stderr line naming the file, the count and the branch, nothing written."""
    code, out, err = result
    line = one_line(err)
    assert code == 2 and out == ""
    assert f"{count} events have NaN or infinite values" in line, line
    assert f"({branch}: {count})" in line, line
    assert f"{bad}.root" in line, line
    assert sorted(p.name for p in tmp_path.iterdir()) == []


@pytest.mark.parametrize("bad", ["nan", "inf"])
def test_train_nonfinite_input(toy, tmp_path, capsys, bad):
    tmp, _ = toy
    model = tmp_path / "model"
    result = run(capsys, "train", tmp / f"{bad}.root", "--features", "a,b", "--weight", "w",
                 *TINY_TRAIN, "-o", model)
    _refused_nonfinite(result, bad, 2, "a", tmp_path)


@pytest.mark.parametrize("bad", ["nan", "inf"])
def test_unweight_nonfinite_input(toy, tmp_path, capsys, bad):
    tmp, _ = toy
    result = run(capsys, "unweight", tmp / f"{bad}.root", "-f", "a,b", "-w", "w", "-n", 100,
                 *TINY_UNWEIGHT, "-o", tmp_path / "out.root", "--report", tmp_path / "report")
    _refused_nonfinite(result, bad, 2, "a", tmp_path)


@pytest.mark.parametrize("bad", ["nan", "inf"])
def test_bumphunt_nonfinite_input(hunt_sample, tmp_path, capsys, bad):
    tmp, _ = hunt_sample
    args = _hunt(hunt_sample, tmp_path / "h")
    args[1] = tmp / f"{bad}.root"
    _refused_nonfinite(run(capsys, *args), bad, 3, "tau21_j2", tmp_path)


# --------------------------------------------------------------------------------------------
# malformed YAML: exit 2, one line naming the file (and the key)
# --------------------------------------------------------------------------------------------

BROKEN = {
    # (file text, what the line says besides the file name)
    "syntax": ("input: [dijet.root\nfeatures: {a: 1\n", "not valid YAML"),
    "list": ("- input\n- features\n", "expected a mapping of options, got list"),
}


def _nested_typo(command: str, tmp) -> tuple[str, str, str]:
    r"""A YAML configuration of ``command`` with a misspelt nested key, the message naming it,
    and the output option's value."""
    if command == "bumphunt":
        return (f"input: {tmp / 'dijet.root'}\nfeatures: [mj1, delta_mj]\n"
                "scan: {range: [2900, 3700], widht: 400}\n",
                "unknown key 'scan.widht' (did you mean 'width'?)", "h")
    return (f"input: [{tmp / 'toy.root'}]\nfeatures: [a, b]\nweight: w\nn: 100\n"
            "criteria: {min_p_value: 0.01, max_auc: 0.6, max_acu: 0.7}\n",
            "unknown key 'criteria.max_acu' (did you mean 'max_auc'?)", "out.root")


@pytest.mark.parametrize("command, sample", [("bumphunt", "hunt_sample"), ("unweight", "toy")])
@pytest.mark.parametrize("case", ["syntax", "list", "nested"])
def test_malformed_yaml(request, tmp_path, capsys, command, sample, case):
    tmp, _ = request.getfixturevalue(sample)
    nested, message, output = _nested_typo(command, tmp)
    text, said = BROKEN.get(case, (nested, message))
    cfg = tmp_path / f"{case}.yaml"
    cfg.write_text(text)
    code, out, err = run(capsys, command, "--config", cfg, "-o", tmp_path / output)
    line = one_line(err)
    assert code == 2 and out == ""
    assert str(cfg) in line and said in line, line
    assert sorted(p.name for p in tmp_path.iterdir()) == [cfg.name]


# --------------------------------------------------------------------------------------------
# bumphunt --function / --fit-range: recorded in every row
# --------------------------------------------------------------------------------------------


def test_bumphunt_function_and_fit_range(hunt_sample, tmp_path, capsys):
    code, out, err = run(capsys, *_hunt(hunt_sample, tmp_path / "h", "--function", "dijet3",
                                        "--fit-range", "2600:4200"))
    assert code == 0, err
    summary = json.loads((tmp_path / "h" / "summary.json").read_text())
    rows = summary["windows"]
    assert sorted(r["efficiency"] for r in rows) == [0.2, 1.0]
    for row in rows:
        assert row["status"] == "ok", row
        assert row["fit_function"] == "dijet3", row
        assert row["fit_range"] == [2600.0, 4200.0], row
        assert "function_choice" not in row  # a fixed function: no choice among families
    # the fit used the given range: 32 bins of 50 GeV, less the SR's 8, less dijet3's 3 parameters
    nocut = next(r for r in rows if r["efficiency"] == 1.0)
    assert nocut["fit_ndf"] == (4200 - 2600) / 50 - 8 - 3
    assert summary["provenance"]["config"]["function"] == "dijet3"
    assert summary["provenance"]["config"]["fit_range"] == [2600.0, 4200.0]
    shown = json.loads(out)
    assert shown["best"]["fit_function"] == "dijet3"


# --------------------------------------------------------------------------------------------
# score --folds / --oversample
# --------------------------------------------------------------------------------------------


def test_score_folds_and_oversample(hunt_sample, tmp_path, capsys):
    tmp, cols = hunt_sample
    out = tmp_path / "scores.root"
    code, stdout, err = run(capsys, "score", tmp / "dijet.root", "--mass", "mjj", "--features",
                            FEATURES, "--method", "cathode", "--sr", "3300:3700",
                            "--classifier", "hgb", "--epochs", "1", "--folds", "3",
                            "--oversample", "2", "--seed", "3", "--device", "cpu", "-o", out)
    assert code == 0, err
    with uproot.open(out) as f:
        a = f["scores"].arrays(library="np")
    sr = a["region"] == 1
    n_sr = ((cols["mjj"] >= 3300) & (cols["mjj"] < 3700)).sum()
    assert sr.sum() == n_sr
    # every event is scored by the classifier of one of 3 folds (the default is 5), which
    # never saw it; the SR events are drawn into the folds at random: a third each, within 5
    # binomial standard deviations
    assert set(np.unique(a["fold"])) == {0, 1, 2}
    counts = np.bincount(a["fold"][sr], minlength=3)
    assert np.all(np.abs(counts - n_sr / 3) < 5 * np.sqrt(n_sr * (1 / 3) * (2 / 3))), counts
    prov = json.loads((tmp_path / "scores.provenance.json").read_text())
    assert prov["config"]["k"] == 3 and prov["config"]["oversample"] == 2.0
    # the background template: 2 sampled events per SR event (the default is 4)
    assert prov["info"]["n_samples"] == 2 * n_sr
    assert json.loads(stdout)["provenance"] == str(tmp_path / "scores.provenance.json")
