"""``flowstats evaluate``: a trained flow's log-density of every event, and the Dark Machines
figures of merit of -log p as an out-of-distribution score."""

from __future__ import annotations

import json

import numpy as np
import pytest
import uproot

from flowstats.anomaly.metrics import sic_at_background
from flowstats.cli import main
from flowstats.datasets import dijet, write
from flowstats.flows import Flow

FEATURES = "mjj,mj1,delta_mj,tau21_j1,tau21_j2"


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    r"""A flow trained on background-only (Standard-Model-like) dijet events, and a sample with
    a signal it never saw."""
    tmp = tmp_path_factory.mktemp("evaluate")
    write(tmp / "sm.root", dijet.generate(8000, 0, seed=11))
    write(tmp / "data.root", dijet.generate(6000, 1500, seed=12))
    args = ["train", str(tmp / "sm.root"), "--features", FEATURES, "--positive", "mjj,mj1",
            "--kind", "maf", "--hidden", "32,32", "--epochs", "6", "--seed", "1",
            "--device", "cpu", "-o", str(tmp / "model")]
    assert main(args) == 0
    return tmp


def test_evaluate_writes_the_flows_log_density(trained, tmp_path, capsys):
    out = tmp_path / "density.root"
    capsys.readouterr()
    assert main(["evaluate", str(trained / "model"), str(trained / "data.root"),
                 "--label", "label", "-o", str(out)]) == 0
    summary = json.loads(capsys.readouterr().out)
    with uproot.open(out) as f:
        cols = f["density"].arrays(library="np")
    with uproot.open(trained / "data.root") as f:
        data = f["events"].arrays([*FEATURES.split(","), "label"], library="np")
    n = len(data["label"])
    assert summary["n_events"] == n and np.array_equal(cols["entry"], np.arange(n))
    # the same numbers as the Python API on the same events
    flow = Flow.load(trained / "model")
    x = np.stack([data[f] for f in FEATURES.split(",")], axis=1)
    assert np.allclose(cols["log_prob"], flow.log_prob(x), rtol=1e-6, atol=1e-6)
    assert np.array_equal(cols["score"], -cols["log_prob"])
    # the signal (a 3.5 TeV resonance with heavy jets) is far from the training events: -log p
    # separates it (the exact figures follow from the same arrays)
    label = data["label"].astype(bool)
    assert summary["auc"] > 0.75
    expected = sic_at_background(cols["score"], label)
    assert summary["at_eps_b"]["0.01"] == pytest.approx(expected["0.01"])
    assert 0 < summary["at_eps_b"]["0.01"]["eps_b"] <= 0.0101
    # 6000 background events keep fewer than 10 at 1e-4: no trustworthy figure there
    assert np.isnan(expected["0.0001"]["sic"])
    assert (tmp_path / "density.provenance.json").is_file()


def test_evaluate_cut_and_errors(trained, tmp_path, capsys):
    model, data = str(trained / "model"), str(trained / "data.root")
    out = tmp_path / "cut.root"
    assert main(["evaluate", model, data, "--cut", "mjj > 3000", "-o", str(out)]) == 0
    summary = json.loads(capsys.readouterr().out)
    with uproot.open(data) as f:
        mjj = f["events"]["mjj"].array(library="np")
    assert summary["n_events"] == int((mjj > 3000).sum())
    assert "auc" not in summary
    for args, message in [
        (["evaluate", str(tmp_path / "nothing"), data, "-o", str(tmp_path / "a.root")],
         "does not exist"),
        (["evaluate", str(trained), data, "-o", str(tmp_path / "a.root")], "holds no flow"),
        (["evaluate", model, data, "--label", "mjj", "-o", str(tmp_path / "b.root")],
         "one of the flow's inputs"),
        (["evaluate", model, data, "--label", "llr", "-o", str(tmp_path / "c.root")],
         "other than 0 and 1"),
        (["evaluate", model, data, "-o", str(out)], "exists"),
    ]:
        assert main(args) == 2, args
        err = capsys.readouterr().err
        assert message in err and "Traceback" not in err and err.count("\n") == 1, err
