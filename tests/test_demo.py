"""``flowstats demo --quick``: the whole chain on the embedded data, as a smoke test."""

from __future__ import annotations

import json

from flowstats.cli import main


def test_demo_quick(tmp_path, capsys):
    out = tmp_path / "demo"
    assert main(["demo", "--quick", "-o", str(out), "--seed", "1"]) == 0
    printed = json.loads(capsys.readouterr().out)
    summary = json.loads((out / "demo_summary.json").read_text())
    hunt = summary["bumphunt"]
    assert hunt["signal_window"] == [3300.0, 3700.0]
    assert hunt["z_local_no_cut"] >= 0 and hunt["z_local_best_cut"] >= 0
    # the closure check ran on every window and efficiency of the scan
    assert hunt["closure"]["verdict"] in ("pass", "sculpts") and hunt["closure"]["n_tests"] == 3
    assert 0 <= hunt["closure"]["min_p_value"] <= 1
    assert set(summary["unweight"]["features"]) == {"pt", "y", "m"}
    assert printed["bumphunt"]["z_local_best_cut"] == hunt["z_local_best_cut"]
    assert summary["provenance"]["seed"] == 1
    for name in ("dijet.root", "nlo.root", "nlo_unweighted.root", "bumphunt/summary.json",
                 "unweight_report/summary.json"):
        assert (out / name).exists(), name
    # an existing output is not replaced without --force
    assert main(["demo", "--quick", "-o", str(out)]) == 2
    assert "--force" in capsys.readouterr().err
