"""LHE -> ROOT conversion: the real MC@NLO FxFx sample, exact observables, weights, errors."""

from __future__ import annotations

import gzip
import json
import math
import shutil

import awkward as ak
import hist
import numpy as np
import pytest
import uproot
import vector

from flowstats.cli import main
from flowstats.exceptions import BadInputError, InputFileNotFoundError, OutputExistsError
from flowstats.io import read_events
from flowstats.io.lhe import convert_lhe

FXFX = "zjets_fxfx_mg5amcnlo_7tev.lhe.gz"
M_Z = 91.19


# --------------------------------------------------------------------------------------------
# the real sample
# --------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def fxfx(tmp_path_factory, shared_data):
    """The FxFx sample copied to a temp dir and converted once: (summary, arrays)."""
    tmp = tmp_path_factory.mktemp("fxfx")
    lhe = tmp / FXFX
    shutil.copy(shared_data / FXFX, lhe)
    summary = convert_lhe(lhe, tmp / "zjets.root")
    with uproot.open(tmp / "zjets.root") as f:
        arrays = f["events"].arrays()
    return summary, arrays


def test_fxfx_counts_and_weights(fxfx):
    summary, a = fxfx
    assert summary["n_events"] == 10_000 == len(a)
    assert summary["n_negative"] == 1_852
    w = ak.to_numpy(a["weight"])
    assert np.count_nonzero(w < 0) == 1_852
    assert summary["weight_values"] == pytest.approx([-5394.43, 5394.43], abs=0.005)
    np.testing.assert_allclose(np.abs(w), 5394.4305, rtol=0, atol=1e-9)
    assert summary["sum_weights"] == pytest.approx(w.sum(), rel=1e-12)
    assert summary["weights"] == ["weight"]  # this file has no <rwgt> weights
    assert summary["n_without_lepton_pair"] == 0
    # the mean weight estimates the cross-section; its standard error is std(w)/sqrt(n)
    # (= 2*5394.43*sqrt(f(1-f))/100 = 41.9 pb for f = 0.1852); XSECUP must agree within 3 of
    # them (the events are an unbiased sample of the run that gave XSECUP)
    se = w.std() / math.sqrt(len(w))
    assert abs(w.mean() - summary["xsecup_pb"]) < 3 * se


def test_fxfx_mll_peaks_at_mz(fxfx):
    _, a = fxfx
    m_ll = ak.to_numpy(a["m_ll"])
    w = ak.to_numpy(a["weight"])
    h = hist.Hist.new.Reg(40, 71.0, 111.0, name="m_ll").Weight()
    h.fill(m_ll, weight=w)
    values, variances = h.values(), h.variances()
    mode = h.axes[0].centers[np.argmax(values)]
    # Tolerance: the line shape is a Breit-Wigner of width 2.5 GeV; a 1 GeV bin 2 GeV or more
    # from the peak expects at most 1/(1 + (2*2/2.5)^2) = 28 % of the peak bin's weight.
    # With the peak bin holding ~1e6 (in units of the weights) and a standard deviation
    # sqrt(sum w^2) of ~4e4 per bin, such a bin overtaking the peak bin needs a > 10 sigma
    # fluctuation, so |mode - m_Z| < 2 GeV can fail only if m_ll is wrong.
    assert abs(mode - M_Z) < 2.0
    peak = np.argmax(values)
    assert values[peak] > 10 * np.sqrt(variances[peak])  # the peak is not noise


def test_fxfx_observables_match_vector(fxfx):
    """m_ll, pT_ll, y_ll, leptons, partons, HT recomputed independently with `vector`."""
    _, a = fxfx
    pid = abs(a["part_pid"])
    p4 = vector.zip({"px": a["part_px"], "py": a["part_py"], "pz": a["part_pz"],
                     "E": a["part_e"]})
    leps = p4[(pid == 11) | (pid == 13) | (pid == 15)]
    leps = leps[ak.argsort(leps.pt, axis=1, ascending=False)]
    assert ak.all(ak.num(leps) == 2) and ak.all(a["n_leptons"] == 2)
    pair = leps[:, 0] + leps[:, 1]
    for name, ref in [("m_ll", pair.mass), ("pT_ll", pair.pt), ("y_ll", pair.rapidity),
                      ("phi_ll", pair.phi), ("lep1_pt", leps[:, 0].pt),
                      ("lep1_eta", leps[:, 0].eta), ("lep2_pt", leps[:, 1].pt),
                      ("lep2_eta", leps[:, 1].eta)]:
        np.testing.assert_allclose(ak.to_numpy(a[name]), ak.to_numpy(ref), rtol=1e-9,
                                   atol=1e-9, err_msg=name)
    partons = p4[(pid <= 6) | (pid == 21)]
    np.testing.assert_array_equal(ak.to_numpy(a["n_partons"]), ak.to_numpy(ak.num(partons)))
    np.testing.assert_allclose(ak.to_numpy(a["HT"]), ak.to_numpy(ak.sum(partons.pt, axis=1)),
                               rtol=1e-12)
    jet1 = ak.to_numpy(ak.fill_none(ak.max(partons.pt, axis=1), 0.0))
    np.testing.assert_allclose(ak.to_numpy(a["jet1_pt"]), jet1, rtol=1e-12)
    n_partons = ak.to_numpy(a["n_partons"])
    assert set(np.unique(n_partons)) <= {0, 1, 2}  # NLO Z + 0/1 jet: up to 2 partons
    assert np.all((ak.to_numpy(a["jet1_pt"]) == 0) == (n_partons == 0))
    np.testing.assert_array_equal(ak.to_numpy(a["npart"]), ak.to_numpy(ak.num(a["part_pid"])))


# --------------------------------------------------------------------------------------------
# a small hand-written file with <rwgt> weights and known observables
# --------------------------------------------------------------------------------------------

HEADER = """<LesHouchesEvents version="3.0">
<header>
<initrwgt>
<weightgroup name="scale variations" combine="envelope">
<weight id="1001"> muR=0.5 muF=0.5 </weight>
<weight id="mur=2 muf=2"> muR=2 muF=2 </weight>
</weightgroup>
</initrwgt>
</header>
<init>
2212 2212 6.5e3 6.5e3 0 0 0 0 3 1
1.5e0 1.0e-1 1.0e0 1
</init>
"""


def _p(pid: int, status: int, px: float, py: float, pz: float, e: float) -> str:
    return f" {pid} {status} 0 0 0 0 {px} {py} {pz} {e} 0 0 9\n"


def _event(weight: float, particles: list[str], rwgt: dict[str, float]) -> str:
    text = f"<event>\n {len(particles)} 1 {weight} 91.2 7.5e-3 1.18e-1\n" + "".join(particles)
    if rwgt:
        text += "<rwgt>\n" + "".join(f"<wgt id='{k}'> {v} </wgt>\n" for k, v in rwgt.items())
        text += "</rwgt>\n"
    return text + "</event>\n"


EVENTS = [
    # mu- (pt 20) and mu+ (pt 40): pair (0, -20, 30, 70), m = 60; one gluon with pt 10
    _event(2.0, [_p(21, -1, 0, 0, 100, 100), _p(21, -1, 0, 0, -100, 100),
                 _p(23, 2, 0, -20, 30, 70),
                 _p(13, 1, 0, 20, 0, 20), _p(-13, 1, 0, -40, 30, 50),
                 _p(21, 1, 0, 10, 0, 10)], {"1001": 2.5, "mur=2 muf=2": 1.5}),
    # e+ e- back to back, m = 100, no parton
    _event(-1.0, [_p(1, -1, 0, 0, 50, 50), _p(-1, -1, 0, 0, -50, 50),
                  _p(11, 1, 30, 40, 0, 50), _p(-11, 1, -30, -40, 0, 50)],
           {"1001": -0.5, "mur=2 muf=2": -2.0}),
    # one electron, a neutrino, two quarks (pt 30 and 50): no pair
    _event(0.5, [_p(2, -1, 0, 0, 80, 80), _p(-1, -1, 0, 0, -80, 80),
                 _p(11, 1, 3, 4, 0, 5), _p(-12, 1, -3, -4, 0, 5),
                 _p(2, 1, 30, 0, 0, 30), _p(-1, 1, 0, -50, 0, 50)], {"1001": 0.25}),
]


@pytest.fixture
def small_lhe(tmp_path):
    path = tmp_path / "small.lhe"
    path.write_text(HEADER + "".join(EVENTS) + "</LesHouchesEvents>\n")
    return path


def test_small_file_observables(small_lhe, tmp_path):
    summary = convert_lhe(small_lhe, tmp_path / "small.root")
    assert summary["n_events"] == 3 and summary["n_negative"] == 1
    assert summary["weights"] == ["weight", "rwgt_1001", "rwgt_mur_2_muf_2"]
    assert summary["weight_values"] == [-1.0, 0.5, 2.0]
    assert summary["sum_weights"] == 1.5 and summary["n_without_lepton_pair"] == 1
    assert summary["xsecup_pb"] == 1.5
    with uproot.open(tmp_path / "small.root") as f:
        a = f["events"].arrays(library="np")
        prov = json.loads(str(f["flowstats_provenance"]))
    assert prov["config"]["input"] == str(small_lhe) and prov["versions"]["pylhe"]
    np.testing.assert_array_equal(a["weight"], [2.0, -1.0, 0.5])
    np.testing.assert_array_equal(a["rwgt_1001"], [2.5, -0.5, 0.25])
    np.testing.assert_array_equal(a["rwgt_mur_2_muf_2"], [1.5, -2.0, np.nan])
    nan = np.nan
    expected = {
        "m_ll": [60.0, 100.0, nan], "pT_ll": [20.0, 0.0, nan],
        "y_ll": [0.5 * math.log(100 / 40), 0.0, nan], "phi_ll": [-math.pi / 2, 0.0, nan],
        "lep1_pt": [40.0, 50.0, 5.0], "lep1_eta": [math.asinh(30 / 40), 0.0, 0.0],
        "lep2_pt": [20.0, 50.0, nan], "lep2_eta": [0.0, 0.0, nan],
        "jet1_pt": [10.0, 0.0, 50.0], "HT": [10.0, 0.0, 80.0],
        "n_partons": [1, 0, 2], "n_leptons": [2, 2, 1], "npart": [3, 2, 4],
    }
    for name, values in expected.items():
        np.testing.assert_allclose(a[name], values, rtol=1e-12, atol=1e-12, err_msg=name)
    np.testing.assert_array_equal(a["part_pid"][2], [11, -12, 2, -1])
    np.testing.assert_allclose(a["part_pt"][2], [5.0, 5.0, 30.0, 50.0], rtol=1e-12)
    np.testing.assert_allclose(a["part_phi"][0], [math.pi / 2, -math.pi / 2, math.pi / 2])


def test_batches_give_the_same_tree(small_lhe, tmp_path):
    convert_lhe(small_lhe, tmp_path / "one.root", batch_size=1)
    convert_lhe(small_lhe, tmp_path / "all.root")
    with uproot.open(tmp_path / "one.root") as f1, uproot.open(tmp_path / "all.root") as f2:
        a1, a2 = f1["events"].arrays(), f2["events"].arrays()
    assert a1.fields == a2.fields
    for field in a1.fields:  # same structure and values (NaN == NaN)
        assert a1[field].type == a2[field].type
        np.testing.assert_array_equal(ak.to_numpy(ak.flatten(a1[field], axis=None)),
                                      ak.to_numpy(ak.flatten(a2[field], axis=None)))
        if a1[field].ndim == 2:
            np.testing.assert_array_equal(ak.num(a1[field]), ak.num(a2[field]))


@pytest.mark.parametrize("gz", [False, True])
def test_read_events_reads_lhe_directly(small_lhe, gz):
    path = small_lhe
    if gz:
        path = small_lhe.with_suffix(".lhe.gz")
        path.write_bytes(gzip.compress(small_lhe.read_bytes()))
    ev = read_events(path, "events", ["m_ll", "HT"], weight="weight", cut="n_leptons >= 2")
    np.testing.assert_array_equal(ev.entries, [0, 1])
    np.testing.assert_array_equal(ev.x, [[60.0, 10.0], [100.0, 0.0]])
    np.testing.assert_array_equal(ev.weights, [2.0, -1.0])
    assert sorted(p.name for p in path.parent.iterdir()) == sorted(  # no temp files left
        [small_lhe.name] + ([path.name] if gz else []))


def test_cli_convert(small_lhe, tmp_path, capsys):
    out = tmp_path / "cli.root"
    assert main(["-q", "convert", str(small_lhe), "-o", str(out), "--tree", "lhe"]) == 0
    summary = json.loads(capsys.readouterr().out)
    assert summary["n_events"] == 3 and summary["tree"] == "lhe" and out.exists()
    assert len(read_events(out, "lhe", ["weight"], check_weights=False)) == 3


# --------------------------------------------------------------------------------------------
# bad inputs
# --------------------------------------------------------------------------------------------


def _cli_error(capsys, args: list[str]) -> str:
    capsys.readouterr()
    code = main(["-q", *args])
    err = capsys.readouterr().err
    assert code == 2, err
    assert "Traceback" not in err
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("flowstats: error: "), err
    return lines[0]


def test_bad_lhe_inputs(tmp_path, small_lhe, shared_data, capsys):
    out = tmp_path / "out.root"
    cases = []
    missing = tmp_path / "missing.lhe.gz"
    cases.append((missing, InputFileNotFoundError, "does not exist"))
    text = tmp_path / "text.lhe"
    text.write_text("this is no LHE file\n")
    cases.append((text, BadInputError, "not a readable LHE file"))
    empty = tmp_path / "empty.lhe"
    empty.write_text(HEADER + "</LesHouchesEvents>\n")
    cases.append((empty, BadInputError, "no events in the LHE file"))
    broken = tmp_path / "broken.lhe"  # a particle line with too few numbers
    broken.write_text(HEADER + EVENTS[0] + EVENTS[1].replace(" 0 0 9\n", "\n", 1)
                      + "</LesHouchesEvents>\n")
    cases.append((broken, BadInputError, "malformed LHE file .* after 1 events"))
    cut_xml = tmp_path / "cut.lhe"  # plain text cut in the middle of the second event
    full = HEADER + "".join(EVENTS)
    cut_xml.write_text(full[: len(HEADER) + len(EVENTS[0]) + 40])
    cases.append((cut_xml, BadInputError, "malformed LHE file .* after 1 events"))
    truncated = tmp_path / "truncated.lhe.gz"  # a download cut short
    data = (shared_data / FXFX).read_bytes()
    truncated.write_bytes(data[: len(data) // 3])
    cases.append((truncated, BadInputError, "malformed LHE file"))
    for path, cls, match in cases:
        with pytest.raises(cls, match=match):
            convert_lhe(path, out)
        assert not out.exists()
        line = _cli_error(capsys, ["convert", str(path), "-o", str(out)])
        assert str(path.name) in line
        assert not out.exists()

    convert_lhe(small_lhe, out)
    with pytest.raises(OutputExistsError, match="--force"):
        convert_lhe(small_lhe, out)
    assert "exists already" in _cli_error(capsys, ["convert", str(small_lhe), "-o", str(out)])
    convert_lhe(small_lhe, out, force=True)
    assert "--features" in _cli_error(capsys, ["convert", str(out), "-o", str(out) + "2"])
