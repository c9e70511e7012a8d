"""Whole-event unweighting (mode "events") on the real MadGraph5_aMC@NLO FxFx sample.

One short training (2 epochs) is shared by the tests: they check structure and physics that
hold for any trained model (momentum conservation, on-shell masses, record layouts from the
input, exact category fractions, LHE round trip, reproducibility), not the flows' accuracy
(that is analyses/unweight_fxfx_events.py's job, with a full training).
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest
import uproot
from scipy import stats

from flowstats.cli import main
from flowstats.io.lhe import convert_lhe
from flowstats.unweighting import unweight

FXFX = Path(__file__).resolve().parents[1].parent / "shared" / "data" / \
    "zjets_fxfx_mg5amcnlo_7tev.lhe.gz"
N = 4000
FAST = {"epochs": 2, "batch_size": 512, "transforms": 2, "hidden": [16, 16], "bins": 4,
        "device": "cpu", "plots": False, "folds": 2}


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("events")
    lhe_in = tmp / "fxfx.lhe.gz"
    shutil.copy(FXFX, lhe_in)
    result = unweight(lhe_in, weight="weight", n=N, output=tmp / "out.root",
                      lhe=tmp / "out.lhe.gz", report=tmp / "report", seed=3, **FAST)
    return tmp, result


def _tree(path):
    with uproot.open(path) as f:
        return f["events"].arrays(library="np"), {k.split(";")[0] for k in f.keys()}


def test_root_output_has_convert_branches_and_physics(run):
    tmp, result = run
    assert result.summary["model"]["mode"] == "events"
    arrays, keys = _tree(tmp / "out.root")
    assert {"lhe_header", "lhe_init", "lhe_version", "flowstats_provenance"} <= keys
    for b in ("weight", "m_ll", "pT_ll", "lep1_pt", "n_partons", "HT", "npart", "part_px", "nup",
              "lhe_pid", "lhe_color1", "scale", "aqcd", "attr_npNLO"):
        assert b in arrays, b
    w = arrays["weight"]
    assert len(w) == N and np.allclose(w, w[0])
    np.testing.assert_allclose(w.sum(), result.sigma, rtol=1e-12)
    # every event: incoming = final-state four-momentum, on-shell particles, resonance = sum
    for i in range(0, N, 97):
        st, pid = arrays["lhe_status"][i], arrays["lhe_pid"][i]
        p = np.stack([arrays[f"lhe_{c}"][i] for c in ("px", "py", "pz", "e")], axis=1)
        np.testing.assert_allclose(p[st == -1].sum(0), p[st == 1].sum(0),
                                   atol=1e-9 * p[:, 3].max())
        assert np.all(p[st == -1, :2] == 0)  # incoming along the beams
        m2 = p[:, 3] ** 2 - (p[:, :3] ** 2).sum(1)
        assert np.all(np.abs(m2 - arrays["lhe_m"][i] ** 2) <= 1e-12 * p[:, 3] ** 2 + 1e-9)
        for r in np.flatnonzero(st == 2):
            kids = arrays["lhe_mother1"][i] == r + 1
            np.testing.assert_allclose(p[r], p[kids].sum(0), atol=1e-9 * p[r, 3])
        assert set(np.abs(pid[st == 1])) - {11, 13, 1, 2, 3, 4, 5, 21} == set()
    # momentum fractions <= 1 at 7 TeV
    e = np.array([arrays["lhe_e"][i][arrays["lhe_status"][i] == -1].sum() for i in range(N)])
    assert np.all(e <= 7000.0)


def test_category_fractions_and_templates_come_from_the_input(run, tmp_path):
    tmp, result = run
    cats = result.summary["categories"]
    assert cats["labels"][1:] == ["-11 11 + 0j", "-11 11 + 1j", "-11 11 + 2j"]
    train = result.summary["model"]["categories"]
    gen = np.array(cats["generated"][1:])
    for c, frac in zip(train, gen):
        # multinomial counts around the exact training fractions
        f = c["fraction"]
        assert abs(frac - f) < 5 * np.sqrt(f * (1 - f) / N) + 1e-12, (c, frac)
    # every generated record layout (ids, statuses, mothers, colours) exists in the input
    convert_lhe(FXFX, tmp_path / "in.root")
    inp, _ = _tree(tmp_path / "in.root")
    out, _ = _tree(tmp / "out.root")

    def layouts(a, n):
        return {tuple(np.concatenate([a[f"lhe_{f}"][i] for f in ("pid", "status", "mother1",
                                                                   "mother2", "color1",
                                                                   "color2")]).tolist())
                + (int(a["process_id"][i]), int(a["attr_npNLO"][i])) for i in range(n)}

    assert layouts(out, N) <= layouts(inp, len(inp["weight"]))
    # the e/mu flavour split follows the input's weighted fractions
    w = inp["weight"]
    mu_in = w[np.array([np.any(np.abs(p) == 13) for p in inp["lhe_pid"]])].sum()
    mu_frac = np.mean([np.any(np.abs(p) == 13) for p in out["lhe_pid"]])
    assert abs(mu_frac - mu_in / w.sum()) < 0.05


def test_lhe_output_round_trip(run, tmp_path):
    tmp, result = run
    pylhe = pytest.importorskip("pylhe")
    lhe = tmp / "out.lhe.gz"
    assert pylhe.LHEFile.count_events(lhe) == N
    info = result.summary["output"]["lhe"]
    assert info["convention"] == "average"  # MadGraph's event_norm = average: XWGTUP = sigma
    first = next(iter(pylhe.LHEFile.fromfile(lhe).events))
    np.testing.assert_allclose(first.eventinfo.weight, result.sigma / 10_000, rtol=1e-9)
    convert_lhe(lhe, tmp_path / "back.root")
    back, _ = _tree(tmp_path / "back.root")
    out, _ = _tree(tmp / "out.root")
    # 12 printed digits; a boosted pair's mass loses a few of them (E^2 - p^2)
    for b in ("m_ll", "pT_ll", "y_ll", "lep1_pt", "HT", "jet1_pt", "scale", "aqcd"):
        np.testing.assert_allclose(back[b], out[b], rtol=1e-6, atol=1e-9, err_msg=b)
    for b in ("n_partons", "process_id", "attr_npNLO", "nup"):
        np.testing.assert_array_equal(back[b], out[b])


def test_report_checks_never_trained_observables(run):
    tmp, result = run
    summary = json.loads((tmp / "report" / "summary.json").read_text())
    obs = summary["observables"]
    never = {k for k, v in obs.items() if not v["trained"]}
    assert {"lep1_eta", "dphi_ll", "dR_ll", "cos_theta_cs", "HT", "x1"} <= never
    assert {"m_ll", "y_ll", "n_partons"} <= {k for k, v in obs.items() if v["trained"]}
    # the p-value of each observable is its chi2's upper tail. This fixture's model (two
    # epochs, 16-wide networks) is too small for its p-values to be judged: the never-trained
    # ones reach 1e-51 (m_all) here; tests/test_readme.py::test_readme_unweight holds the
    # Bonferroni bound for the README's full-size model
    for v in obs.values():
        assert v["ndf"] > 0
        assert v["p_value"] == pytest.approx(stats.chi2.sf(v["chi2"], v["ndf"]), rel=1e-9)
    assert summary["never_trained_min_p_value"] == min(obs[k]["p_value"] for k in never)
    assert summary["worth"]["summary"]["n_eq_lower_limit"] is None or \
        summary["worth"]["summary"]["n_eq_lower_limit"] <= N * 1.2
    redrawn = summary["generated"]["redrawn"]
    assert set(redrawn) == {"-11 11 + 0j", "-11 11 + 1j", "-11 11 + 2j"}
    neg = summary["negative_regions"]
    # the FxFx sample has flavour layouts with a negative weighted sum (e.g. gg -> mu mu + 2j)
    assert neg["dropped_templates"] and all(d["sum_weights"] <= 0
                                            for d in neg["dropped_templates"])
    assert any("energy <= 0" in n for n in summary["notes"])  # one event with E < 0


def test_whole_events_are_refined_on_the_learnt_observables(run, tmp_path):
    r"""The default refines whole events (the classifier sees the observables learnt as
    coordinates only, so the never-trained ones stay an independent check); ``refine=False``
    gives the model's own events, drawn with seed + 1."""
    from flowstats.unweighting.event_model import WholeEventModel
    from flowstats.unweighting.observables import observables

    tmp, result = run
    ref = result.summary["refinement"]
    assert ref is not None and set(ref["features"]) <= {"m_ll", "y_ll", "jet1_pt", "jet1_y",
                                                        "n_partons"}
    assert {"m_ll", "y_ll", "n_partons"} <= set(ref["features"])
    assert 0 < ref["efficiency"] <= 1 and ref["n_drawn"] >= N
    assert result.summary["seeds"]["sample"] == 5
    plain = unweight(tmp / "fxfx.lhe.gz", weight="weight", n=300, output=tmp_path / "p.root",
                     model=result.model, seed=3, device="cpu", refine=False)
    assert plain.summary["refinement"] is None and plain.summary["seeds"]["sample"] == 4
    out, _ = _tree(plain.output)
    model = WholeEventModel.load(result.model)
    direct = observables(model.sample(300, seed=4), model.sqrt_s)
    np.testing.assert_allclose(out["m_ll"], direct["m_ll"])


def test_reload_gives_the_same_events(run, tmp_path):
    tmp, result = run
    again = unweight(tmp / "fxfx.lhe.gz", weight="weight", n=500, output=tmp_path / "a.root",
                     model=result.model, seed=3, device="cpu")
    assert again.model is None
    a, _ = _tree(tmp_path / "a.root")
    b = unweight(tmp / "fxfx.lhe.gz", weight="weight", n=500, output=tmp_path / "b.root",
                 model=result.model, seed=3, device="cpu")
    bb, _ = _tree(b.output)
    np.testing.assert_array_equal(a["m_ll"], bb["m_ll"])


def test_errors_are_one_line(tmp_path, capsys):
    flat = tmp_path / "flat.root"
    with uproot.recreate(flat) as f:
        f.mktree("events", {"w": np.float64, "x": np.float64})
        f["events"].extend({"w": np.ones(10), "x": np.arange(10.0)})
    cases = [
        ([flat, "-w", "w", "-n", 10, "-o", tmp_path / "o.root"], "needed for whole events"),
        ([flat, "-w", "w", "-n", 10, "-o", tmp_path / "o.root", "-f", "x", "--lhe",
          tmp_path / "o.lhe"], "needs whole events"),
    ]
    for args, text in cases:
        code = main(["unweight", *map(str, args)])
        err = capsys.readouterr().err
        assert code == 2 and text in err and err.count("\n") == 1, err
    assert sorted(p.name for p in tmp_path.iterdir()) == ["flat.root"]
