"""LHE -> ROOT -> LHE: the full event record, header and init block survive the round trip."""

from __future__ import annotations

import gzip
import itertools
import json
import logging
import shutil

import awkward as ak
import numpy as np
import pylhe
import pytest
import uproot

from flowstats.exceptions import BadInputError, InputFileNotFoundError, OutputExistsError
from flowstats.io import write_events
from flowstats.io.lhe import (
    ATTR_MISSING,
    LHEWriter,
    convert_lhe,
    lhe_batches,
    read_lhe_blocks,
    write_lhe,
)

FXFX = "zjets_fxfx_mg5amcnlo_7tev.lhe.gz"
OBSERVABLES = ["weight", "m_ll", "pT_ll", "y_ll", "phi_ll", "lep1_pt", "lep1_eta", "lep2_pt",
               "jet1_pt", "n_partons", "n_leptons", "HT", "attr_npLO", "attr_npNLO"]
RECORD = ["pid", "status", "mother1", "mother2", "color1", "color2", "px", "py", "pz", "e", "m",
          "lifetime", "spin"]


def _raw_text(path) -> str:
    opener = gzip.open if str(path).endswith(".gz") else open
    with opener(path, "rt") as fh:
        return fh.read()


def _blocks_of(text: str) -> tuple[str, str]:
    """The <header> element and the <init> block of an LHE text, found independently."""
    header = text[text.index("<header>"):text.index("</header>") + len("</header>")]
    init = text[text.index("<init>"):text.index("</init>") + len("</init>")]
    return header, init


def _events(path) -> list:
    return list(pylhe.LHEFile.fromfile(path).events)


@pytest.fixture(scope="module")
def fxfx(tmp_path_factory, shared_data):
    """The FxFx sample converted, read back and written as LHE (in batches of 3000 events)."""
    tmp = tmp_path_factory.mktemp("roundtrip")
    lhe = tmp / FXFX
    shutil.copy(shared_data / FXFX, lhe)
    summary = convert_lhe(lhe, tmp / "zjets.root")
    blocks = read_lhe_blocks(tmp / "zjets.root")
    with uproot.open(tmp / "zjets.root") as f:
        arrays = f["events"].arrays()
        written = write_lhe(tmp / "back.lhe.gz", f["events"].iterate(step_size=3000),
                            init=blocks["init"], header=blocks["header"],
                            version=blocks["version"], weight_ids=blocks["weight_ids"])
    summary2 = convert_lhe(tmp / "back.lhe.gz", tmp / "again.root")
    with uproot.open(tmp / "again.root") as f:
        again = f["events"].arrays()
    return {"lhe": lhe, "summary": summary, "blocks": blocks, "arrays": arrays,
            "written": written, "back": tmp / "back.lhe.gz", "summary2": summary2,
            "again": again, "tmp": tmp}


def test_converted_file_has_the_full_record(fxfx):
    s, a = fxfx["summary"], fxfx["arrays"]
    record = ["nup"] + [f"lhe_{f}" for f in RECORD]
    assert s["branches"][-len(record) - 4:] == ["aqed", "aqcd", "attr_npLO", "attr_npNLO",
                                                *record]
    assert s["attributes"] == ["attr_npLO", "attr_npNLO"] and s["lhe_version"] == "1.0"
    assert set(s["branches"]) == set(a.fields)
    with uproot.open(fxfx["tmp"] / "zjets.root") as f:
        types = {k: v.typename for k, v in f["events"].items()}
    for name in ["nup", "attr_npLO", "attr_npNLO"]:
        assert types[name] == "int32_t"
    for name in ["pid", "status", "mother1", "mother2", "color1", "color2"]:
        assert types[f"lhe_{name}"] == "int32_t[]"
    # every event: an incoming pair, two leptons, 0-2 partons and (in 83 % of the events) the
    # intermediate Z (status 2)
    np.testing.assert_array_equal(ak.num(a["lhe_pid"]), a["nup"])
    assert ak.all(ak.sum(a["lhe_status"] == -1, axis=1) == 2)
    with_z = ak.sum((a["lhe_pid"] == 23) & (a["lhe_status"] == 2), axis=1)
    assert ak.all(a["nup"] == 4 + with_z + a["n_partons"])
    assert 0.5 < ak.mean(with_z) < 1
    # the final state of the record is the part_* branches
    final = a["lhe_status"] == 1
    for f in ["pid", "px", "py", "pz", "e"]:
        assert ak.all(a[f"lhe_{f}"][final] == a[f"part_{f}"])
    # FxFx: npNLO is 0 or 1 (Born or real emission), npLO -1; AQCDUP varies from event to event
    assert set(np.unique(ak.to_numpy(a["attr_npNLO"]))) == {0, 1}
    assert set(np.unique(ak.to_numpy(a["attr_npLO"]))) == {-1}
    assert len(np.unique(ak.to_numpy(a["aqcd"]))) > 100


def test_header_init_and_version_are_verbatim(fxfx):
    header, init = _blocks_of(_raw_text(fxfx["lhe"]))
    blocks = fxfx["blocks"]
    assert blocks["header"] == header and blocks["init"] == init
    assert blocks["version"] == "1.0" and blocks["weight_ids"] == {}
    text = _raw_text(fxfx["back"])
    assert text.startswith('<LesHouchesEvents version="1.0">\n' + header + "\n" + init + "\n")
    assert text.endswith("</event>\n</LesHouchesEvents>\n")
    assert _blocks_of(text) == (header, init)
    assert read_lhe_blocks(fxfx["tmp"] / "again.root") == blocks


def test_pylhe_reads_every_event_and_field(fxfx):
    back = fxfx["back"]
    assert fxfx["written"]["n_events"] == 10_000
    assert pylhe.LHEFile.count_events(back) == 10_000
    original, written = pylhe.LHEFile.fromfile(fxfx["lhe"]), pylhe.LHEFile.fromfile(back)
    assert written.init.initInfo == original.init.initInfo
    assert written.init.procInfo == original.init.procInfo
    events0, events1 = list(original.events), list(written.events)
    assert len(events1) == len(events0) == 10_000
    # The input prints 8 significant digits, the writer 12: the decimal written re-parses to
    # the same double, so "equal to the printed precision" is exact equality here.
    for e0, e1 in zip(events0, events1):
        assert e1.eventinfo == e0.eventinfo
        assert e1.particles == e0.particles
        assert {k: int(v) for k, v in e1.attributes.items()} == \
            {k: int(v) for k, v in e0.attributes.items()}
    assert events1[0].attributes == {"npLO": " -1 ", "npNLO": " 1 "}  # as MadGraph writes


def test_reconversion_gives_the_same_tree(fxfx):
    a, b = fxfx["arrays"], fxfx["again"]
    assert a.fields == b.fields
    for name in OBSERVABLES:
        np.testing.assert_array_equal(ak.to_numpy(b[name]), ak.to_numpy(a[name]), err_msg=name)
    for name in a.fields:  # every branch, jagged ones included (NaN == NaN)
        np.testing.assert_array_equal(ak.to_numpy(ak.flatten(b[name], axis=None)),
                                      ak.to_numpy(ak.flatten(a[name], axis=None)),
                                      err_msg=name)
    s1, s2 = fxfx["summary"], fxfx["summary2"]
    for key in ["n_events", "n_negative", "sum_weights", "xsecup_pb", "branches"]:
        assert s2[key] == s1[key], key


@pytest.mark.parametrize("suffix", [".lhe", ".lhe.gz"])
def test_plain_and_gz_outputs_and_batches(fxfx, tmp_path, suffix):
    a, blocks = fxfx["arrays"][:500], fxfx["blocks"]
    kw = {"init": blocks["init"], "header": blocks["header"], "version": blocks["version"]}
    one = tmp_path / f"one{suffix}"
    write_lhe(one, a, **kw)
    raw = one.read_bytes()
    assert raw[:2] == b"\x1f\x8b" if suffix == ".lhe.gz" else raw.startswith(b"<LesHouches")
    many = tmp_path / f"many{suffix}"
    with LHEWriter(many, **kw) as out:  # streamed in batches: the same text
        for start in range(0, 500, 128):
            out.write({name: a[name][start:start + 128] for name in a.fields})
    assert out.num_events == 500
    assert _raw_text(many) == _raw_text(one)
    events = _events(one)
    assert len(events) == 500
    assert [e.eventinfo.weight for e in events] == ak.to_list(a["weight"])
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted([one.name, many.name])


def test_lhe_batches_and_numpy_columns_write_too(fxfx, tmp_path):
    blocks = fxfx["blocks"]
    kw = {"init": blocks["init"], "header": blocks["header"], "version": "1.0"}
    first = itertools.islice(lhe_batches(fxfx["lhe"], batch_size=400), 2)  # 800 events
    out = write_lhe(tmp_path / "direct.lhe", first, **kw)
    assert out["n_events"] == 800
    write_lhe(tmp_path / "tree.lhe", fxfx["arrays"][:800], **kw)
    assert _raw_text(tmp_path / "direct.lhe") == _raw_text(tmp_path / "tree.lhe")
    with uproot.open(fxfx["tmp"] / "zjets.root") as f:  # numpy arrays of arrays
        cols = f["events"].arrays(library="np", entry_stop=50)
    write_lhe(tmp_path / "np.lhe", cols, init=blocks["init"])
    assert [e.particles for e in _events(tmp_path / "np.lhe")] == \
        [e.particles for e in _events(tmp_path / "tree.lhe")[:50]]


def test_overwrite_refused_without_force(fxfx, tmp_path):
    a, init = fxfx["arrays"][:10], fxfx["blocks"]["init"]
    out = tmp_path / "out.lhe"
    write_lhe(out, a, init=init)
    before = out.read_bytes()
    with pytest.raises(OutputExistsError):
        write_lhe(out, a[:5], init=init)
    with pytest.raises(OutputExistsError):
        LHEWriter(out, init=init)
    assert out.read_bytes() == before
    write_lhe(out, a[:5], init=init, force=True)
    assert len(_events(out)) == 5
    assert [p.name for p in tmp_path.iterdir()] == ["out.lhe"]


def test_bad_events_name_what_is_wrong(fxfx, tmp_path):
    a, init = fxfx["arrays"][:20], fxfx["blocks"]["init"]
    cols = {name: a[name] for name in a.fields}
    out = tmp_path / "bad.lhe.gz"

    def fails(columns, match):
        with pytest.raises(BadInputError, match=match):
            write_lhe(out, columns, init=init)
        assert not out.exists() and list(tmp_path.iterdir()) == []

    no_record = {k: v for k, v in cols.items() if not k.startswith("lhe_") and k != "nup"}
    fails(no_record, r"lack the columns \['lhe_pid', 'lhe_status', .*'lhe_m'\]")
    fails({k: v for k, v in cols.items() if k not in ("lhe_color2", "aqcd")},
          r"lack the columns \['aqcd', 'lhe_color2'\]")
    fails({**cols, "weight": cols["weight"][:19]}, "'weight' has 19")
    fails({**cols, "lhe_px": cols["lhe_px"][:19]}, "'lhe_px' has 19 events but 'weight' has 20")
    shifted = ak.concatenate([cols["lhe_e"][1:], cols["lhe_e"][:1]])
    fails({**cols, "lhe_e": shifted}, "'lhe_pid' and 'lhe_e' have different numbers")
    fails({**cols, "nup": cols["nup"] + 1}, "'nup' does not match")
    fails({**cols, "lhe_px": cols["lhe_px"] * np.nan}, "'lhe_px' has .* NaN")
    fails({**cols, "lhe_pid": cols["lhe_pid"] + 0.5}, "'lhe_pid' must hold integers")
    fails({**cols, "lhe_pid": cols["weight"]}, "'lhe_pid' must be jagged")
    fails({**cols, "weight": cols["lhe_px"]}, "'weight' is jagged")
    fails(a[:0], "no events were written")
    with pytest.raises(BadInputError, match="bad <init> block: NPRUP = 2 but 1 process"):
        write_lhe(out, cols, init="\n".join(init.splitlines()[:-2] + ["</init>"]))
    with pytest.raises(BadInputError, match="contains <init>"):
        write_lhe(out, cols, init=init, header="<header>\n" + init + "\n</header>")
    assert list(tmp_path.iterdir()) == []


def test_read_lhe_blocks_of_other_files(tmp_path):
    plain = tmp_path / "plain.root"
    write_events(plain, "events", {"x": np.arange(3.0)})
    with pytest.raises(BadInputError, match="no lhe_header, lhe_init.*convert the LHE file "
                                            "again"):
        read_lhe_blocks(plain)
    with pytest.raises(InputFileNotFoundError):
        read_lhe_blocks(tmp_path / "missing.root")


# --------------------------------------------------------------------------------------------
# a small file: <rwgt> weights, attributes in some events only, an init built from a dict
# --------------------------------------------------------------------------------------------

SMALL = """<LesHouchesEvents version="3.0">
<!-- a comment before the header -->
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
<event id='7' kind='real'>
 4 1 2.0 91.2 7.5e-3 1.18e-1
 21 -1 0 0 501 502 0 0 100 100 0 0 9
 21 -1 0 0 502 501 0 0 -100 100 0 0 9
 13 1 1 2 0 0 0 20.1234567891 0 20.1234567891 0.105 1.5e-12 -1
 -13 1 1 2 0 0 0 -20.1234567891 0 20.1234567891 0.105 0 1
<rwgt>
<wgt id='1001'> 2.5 </wgt>
<wgt id='mur=2 muf=2'> 1.5 </wgt>
</rwgt>
</event>
<event>
 4 1 -1.0 91.2 7.5e-3 1.18e-1
 1 -1 0 0 501 0 0 0 50 50 0 0 9
 -1 -1 0 0 0 501 0 0 -50 50 0 0 9
 11 1 1 2 0 0 30 40 0 50 0 0 9
 -11 1 1 2 0 0 -30 -40 0 50 0 0 9
<rwgt>
<wgt id='1001'> -0.5 </wgt>
</rwgt>
</event>
<event id='9' kind='virtual' npNLO=' 1 '>
 4 1 0.5 91.2 7.5e-3 1.18e-1
 2 -1 0 0 501 0 0 0 80 80 0 0 9
 -2 -1 0 0 0 501 0 0 -80 80 0 0 9
 11 1 1 2 0 0 3 4 0 5 0 0 9
 -11 1 1 2 0 0 -3 -4 0 5 0 0 9
<rwgt>
<wgt id='1001'> 0.25 </wgt>
<wgt id='mur=2 muf=2'> 0.125 </wgt>
</rwgt>
</event>
</LesHouchesEvents>
"""


def test_small_file_weights_and_attributes(tmp_path, caplog):
    lhe = tmp_path / "small.lhe"
    lhe.write_text(SMALL)
    with caplog.at_level(logging.WARNING, logger="flowstats.io.lhe"):
        summary = convert_lhe(lhe, tmp_path / "small.root")
    assert summary["attributes"] == ["attr_id", "attr_npNLO"]  # 'kind' is no integer
    assert "['kind'] are not integers" in caplog.text
    blocks = read_lhe_blocks(tmp_path / "small.root")
    assert blocks["header"].startswith("<!-- a comment before the header -->\n<header>")
    assert blocks["weight_ids"] == {"rwgt_1001": "1001", "rwgt_mur_2_muf_2": "mur=2 muf=2"}
    with uproot.open(tmp_path / "small.root") as f:
        a = f["events"].arrays()
    np.testing.assert_array_equal(a["attr_id"], [7, ATTR_MISSING, 9])
    np.testing.assert_array_equal(a["attr_npNLO"], [ATTR_MISSING, ATTR_MISSING, 1])
    write_lhe(tmp_path / "back.lhe", a, init=blocks["init"], header=blocks["header"],
              weight_ids=blocks["weight_ids"])
    events0, events1 = _events(lhe), _events(tmp_path / "back.lhe")
    assert [e.weights for e in events1] == [e.weights for e in events0] == [
        {"1001": 2.5, "mur=2 muf=2": 1.5}, {"1001": -0.5}, {"1001": 0.25, "mur=2 muf=2": 0.125}]
    assert [e.attributes for e in events1] == [{"id": " 7 "}, {},
                                               {"id": " 9 ", "npNLO": " 1 "}]
    for e0, e1 in zip(events0, events1):  # 12 significant digits: every value re-parses
        assert e1.eventinfo == e0.eventinfo and e1.particles == e0.particles
    assert convert_lhe(tmp_path / "back.lhe", tmp_path / "again.root")["weights"] == \
        summary["weights"]

    # one event per batch: the attributes are those of the first batch
    caplog.clear()
    with caplog.at_level(logging.WARNING, logger="flowstats.io.lhe"):
        assert convert_lhe(lhe, tmp_path / "ones.root", batch_size=1)["attributes"] == \
            ["attr_id"]
    assert "['npNLO'] first appear after the first batch" in caplog.text
    with uproot.open(tmp_path / "ones.root") as f:
        np.testing.assert_array_equal(f["events"]["attr_id"].array(), [7, ATTR_MISSING, 9])


def test_init_from_a_dict(tmp_path):
    events = {
        "weight": np.array([1.5, -1.5]), "process_id": np.array([1, 1]),
        "scale": np.array([91.2, 91.2]), "aqed": np.full(2, 1 / 128), "aqcd": np.full(2, 0.118),
        "lhe_pid": ak.Array([[2, -2, 23], [1, -1, 23]]),
        "lhe_status": ak.Array([[-1, -1, 1], [-1, -1, 1]]),
        "lhe_mother1": ak.Array([[0, 0, 1], [0, 0, 1]]),
        "lhe_mother2": ak.Array([[0, 0, 2], [0, 0, 2]]),
        "lhe_color1": ak.Array([[501, 0, 0], [501, 0, 0]]),
        "lhe_color2": ak.Array([[0, 501, 0], [0, 501, 0]]),
        "lhe_px": ak.Array([[0.0, 0.0, 0.0], [0.0, 0.0, 1 / 3]]),
        "lhe_py": ak.Array([[0.0, 0.0, 0.0], [0.0, 0.0, 0.0]]),
        "lhe_pz": ak.Array([[45.6, -45.6, 0.0], [50.0, -41.6, 8.4]]),
        "lhe_e": ak.Array([[45.6, 45.6, 91.2], [50.0, 41.6, 91.59]]),
        "lhe_m": ak.Array([[0.0, 0.0, 91.2], [0.0, 0.0, 91.2]]),
    }  # no lhe_lifetime, lhe_spin: 0 and 9 (no spin information)
    init = {"beams": (2212, 2212), "energies": (6500, 6500), "pdf_sets": (303600, 303600),
            "idwtup": -3,
            "processes": [{"xsecup": 1.5, "xerrup": 0.01, "xmaxup": 1.5, "lprup": 1}]}
    write_lhe(tmp_path / "dict.lhe.gz", events, init=init, header="made by a test")
    lhef = pylhe.LHEFile.fromfile(tmp_path / "dict.lhe.gz")
    info = lhef.init.initInfo
    assert (info.beamA, info.energyB, info.PDFsetA, info.weightingStrategy,
            info.numProcesses) == (2212, 6500.0, 303600, -3, 1)
    proc = lhef.init.procInfo[0]
    assert (proc.xSection, proc.error, proc.unitWeight, proc.procId) == (1.5, 0.01, 1.5, 1)
    events1 = list(lhef.events)
    assert [p.spin for p in events1[1].particles] == [9.0] * 3
    assert events1[1].particles[2].e == 91.59 and events1[0].eventinfo.aqed == 1 / 128
    # more digits than the 12 written: equal to 12 significant digits
    assert events1[1].particles[2].px == pytest.approx(1 / 3, rel=5e-12, abs=0)
    assert events1[1].particles[2].px != 1 / 3
    assert "<header>\nmade by a test\n</header>" in _raw_text(tmp_path / "dict.lhe.gz")
    with pytest.raises(BadInputError, match=r"missing \['idwtup'\], unknown \['idwtp'\]"):
        write_lhe(tmp_path / "x.lhe", events, init={**init, "idwtp": 3} | {"idwtup": None}
                  if False else {k: v for k, v in init.items() if k != "idwtup"} | {"idwtp": 3})


def test_cli_converts_root_back_to_lhe_with_a_cut(fxfx, tmp_path, capsys):
    from flowstats.cli import main

    root = fxfx["tmp"] / "zjets.root"
    out = tmp_path / "sel.lhe.gz"
    assert main(["convert", str(root), "-o", str(out), "--cut", "n_partons >= 1"]) == 0
    summary = json.loads(capsys.readouterr().out)
    with uproot.open(root) as f:
        n_sel = int(np.sum(f["events"]["n_partons"].array(library="np") >= 1))
    assert summary["n_events"] == n_sel == pylhe.LHEFile.count_events(out)
    first = next(iter(pylhe.LHEFile.fromfile(out).events))
    assert first.attributes["npNLO"].strip() in ("0", "1")
    # the LHE output needs a converted ROOT input and no --features
    code = main(["convert", str(root), "-o", str(tmp_path / "x.lhe"), "--features", "m_ll"])
    err = capsys.readouterr().err
    assert code == 2 and "writing LHE takes one ROOT file" in err
    assert not (tmp_path / "x.lhe").exists()
