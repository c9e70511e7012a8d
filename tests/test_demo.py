"""``flowstats demo --quick``: the whole chain on the embedded data, as a smoke test."""

from __future__ import annotations

import json

import pytest

from flowstats.cli import main


def test_demo_quick(tmp_path, capsys):
    out = tmp_path / "demo"
    assert main(["demo", "--quick", "-o", str(out), "--seed", "1"]) == 0
    printed = json.loads(capsys.readouterr().out)
    summary = json.loads((out / "demo_summary.json").read_text())
    hunt = summary["bumphunt"]
    assert hunt["signal_window"] == [3300.0, 3700.0]
    # 400 signal events in the window: the cut finds them (5.3 sigma at --seed 1), the whole
    # window without a cut does not (0.6 sigma)
    assert hunt["z_local_best_cut"] > hunt["z_local_no_cut"] + 2
    # the closure check ran on every window and efficiency of the scan, and the latent-space
    # CATHODE score does not sculpt m: the verdict is "pass". A selection that does not sculpt
    # gives uniform p-values; the check fails when the smallest of its 3 is below
    # closure_alpha / 3 = 0.0033, i.e. by chance in at most 1 % of runs. The smallest p is 0.11
    # at --seed 1 (chi2 26.6 / 19 ndf at efficiency 0.2; 0.58 and 0.61 at 0.05 and 0.01):
    # 35 times the threshold, so retrained models that differ in their last bits keep the verdict
    closure = hunt["closure"]
    assert closure["n_tests"] == 3 and closure["threshold"] == pytest.approx(0.01 / 3)
    assert closure["verdict"] == "pass", closure
    assert closure["min_p_value"] > closure["threshold"]
    assert set(summary["unweight"]["features"]) == {"pt", "y", "m"}
    assert printed["bumphunt"]["z_local_best_cut"] == hunt["z_local_best_cut"]
    assert summary["provenance"]["seed"] == 1
    for name in ("dijet.root", "nlo.root", "nlo_unweighted.root", "bumphunt/summary.json",
                 "unweight_report/summary.json"):
        assert (out / name).exists(), name
    # an existing output is not replaced without --force
    assert main(["demo", "--quick", "-o", str(out)]) == 2
    assert "--force" in capsys.readouterr().err
