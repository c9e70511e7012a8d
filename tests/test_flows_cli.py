"""``flowstats train`` end to end (tiny network, few epochs)."""

from __future__ import annotations

import json

import numpy as np
import pytest

from flowstats.cli import main
from flowstats.flows import Flow, load
from flowstats.io import write_events


@pytest.fixture
def root_file(tmp_path):
    rng = np.random.default_rng(0)
    n = 3000
    m = rng.uniform(1, 3, n)
    cols = {"a": rng.normal(m, 0.3), "b": rng.gamma(2.0, 1.0, n), "m": m,
            "w": np.where(rng.random(n) < 0.1, -1.0, 1.0)}
    return write_events(tmp_path / "in.root", "events", cols), cols


def test_train_writes_a_loadable_model(root_file, tmp_path, capsys):
    path, cols = root_file
    out = tmp_path / "model"
    args = ["train", str(path), "--tree", "events", "--features", "a,b", "--weight", "w",
            "--context", "m", "--positive", "b", "--hidden", "8", "--transforms", "1",
            "--epochs", "2", "--batch-size", "512", "--seed", "3", "--device", "cpu",
            "-o", str(out)]
    assert main(args) == 0
    summary = json.loads(capsys.readouterr().out)
    assert summary["events"] == 3000 and summary["epochs_run"] == 2
    w = cols["w"]
    assert summary["n_eff"] == pytest.approx(w.sum() ** 2 / (w ** 2).sum())
    assert summary["negative_fraction"] == pytest.approx((w < 0).mean())
    flow = load(out)
    assert isinstance(flow, Flow) and flow.features == ["a", "b"] and flow.context == ["m"]
    assert flow.seed == 3 and flow.pre.kinds == ["identity", "log"]
    config = json.loads((out / "config.json").read_text())
    assert config["provenance"]["versions"]["zuko"]
    assert not (tmp_path / "model.checkpoint").exists()  # removed after the save
    lp = flow.log_prob(np.stack([cols["a"], cols["b"]], 1)[:10], np.full((10, 1), 2.0))
    assert np.isfinite(lp).all()
    # an existing output: one line, exit 2, nothing overwritten
    assert main(args) == 2
    err = capsys.readouterr().err
    assert "exists already" in err and "Traceback" not in err and err.count("\n") == 1
    assert main([*args, "--force", "--epochs", "1"]) == 0
    assert json.loads(capsys.readouterr().out)["epochs_run"] == 1
    # a leftover checkpoint is neither silently resumed nor overwritten
    ckpt = tmp_path / "other.checkpoint"
    ckpt.mkdir()
    (ckpt / "checkpoint.pt").write_bytes(b"not a checkpoint")
    other = [*args[:-1], str(tmp_path / "other")]
    assert main(other) == 2
    assert "other.checkpoint" in capsys.readouterr().err
    assert main([*other, "--resume"]) == 2
    err = capsys.readouterr().err
    assert "cannot read checkpoint" in err and err.count("\n") == 1


@pytest.mark.parametrize(("extra", "message"), [
    (["--features", "a,bb"], "did you mean 'b'"),
    (["--features", "a", "--positive", "c"], "unknown feature 'c'"),
    (["--features", "a", "--weight", "w", "--bounds", "a:0:1"], "NAME=LOWER:UPPER"),
    (["--features", "a", "--device", "tpu"], "unknown device"),
])
def test_train_bad_input_is_one_line(root_file, tmp_path, capsys, extra, message):
    path, _ = root_file
    code = main(["train", str(path), *extra, "--epochs", "1", "-o", str(tmp_path / "m")])
    err = capsys.readouterr().err
    assert code == 2, err
    assert message in err and err.count("\n") == 1
    assert not (tmp_path / "m").exists()


def test_train_and_score_take_kind_and_base(root_file, tmp_path, capsys):
    # issue 16: --kind / --base / --nu reach the saved model (train) and the sideband flow (score)
    path, _ = root_file
    out = tmp_path / "model"
    assert main(["train", str(path), "--features", "a,b", "--context", "m", "--kind", "realnvp",
                 "--base", "studentt", "--nu", "3", "--hidden", "8", "--transforms", "2",
                 "--epochs", "1", "--device", "cpu", "-o", str(out)]) == 0
    options = load(out).options
    assert (options["kind"], options["base"], options["nu"]) == ("realnvp", "studentt", 3.0)
    capsys.readouterr()
    scores = tmp_path / "scores.root"
    assert main(["score", str(path), "--mass", "m", "--features", "a", "--features", "b",
                 "--method", "density", "--sr", "1.8:2.2", "--epochs", "1", "--kind", "maf",
                 "--base", "studentt", "--model-dir", str(tmp_path / "models"),
                 "-o", str(scores)]) == 0
    saved = json.loads((tmp_path / "models" / "background" / "flow" / "config.json").read_text())
    assert saved["options"]["kind"] == "maf" and saved["options"]["base"] == "studentt"
    assert main(["train", str(path), "--features", "a", "--kind", "realnvp", "--epochs", "1",
                 "-o", str(tmp_path / "bad")]) == 2
    assert "at least two features" in capsys.readouterr().err
