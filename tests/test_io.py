"""Event I/O: reading flat ROOT branches, chunked/multi-file reading, writing, bad inputs."""

from __future__ import annotations

import logging
import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import awkward as ak
import numpy as np
import pytest
import uproot
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from flowstats.cli import main
from flowstats.exceptions import (
    BadInputError,
    BranchNotFoundError,
    DamagedFileError,
    InputFileNotFoundError,
    JaggedBranchError,
    NonFiniteError,
    OutputExistsError,
    TreeNotFoundError,
    WeightSumError,
)
from flowstats.io import (
    Events,
    EventWriter,
    iter_events,
    list_branches,
    list_trees,
    read_events,
    write_events,
)

HZZ = "hzz_4lepton_outreach.root"
FLAT = ["MET_px", "MET_py", "NJet", "triggerIsoMu24"]


def cli_error(capsys, args: list[str]) -> str:
    """Runs the CLI, asserts exit status 2 with one error line and no traceback."""
    capsys.readouterr()
    code = main(["-q", *args])
    err = capsys.readouterr().err
    assert code == 2, err
    assert "Traceback" not in err
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("flowstats: error: "), err
    return lines[0]


@pytest.fixture
def hzz(copy_shared) -> Path:
    return copy_shared(HZZ)


@pytest.fixture
def small(tmp_path) -> Path:
    """A small tree: a, b flat float64, w weights, j jagged, n int; 100 events."""
    rng = np.random.default_rng(1)
    path = tmp_path / "small.root"
    write_events(path, "events", {
        "a": rng.normal(size=100), "b": rng.normal(size=100).astype(np.float32),
        "w": rng.uniform(0.5, 1.5, size=100), "n": np.arange(100, dtype=np.int32),
        "j": ak.Array([[1.0] * (i % 3) for i in range(100)]),
    })
    return path


# --------------------------------------------------------------------------------------------
# the real HZZ ntuple
# --------------------------------------------------------------------------------------------


def test_read_hzz_matches_uproot(hzz):
    ev = read_events(hzz, "events", FLAT, weight="EventWeight")
    with uproot.open(hzz) as f:
        t = f["events"]
        ref = t.arrays(FLAT + ["EventWeight"], library="np")
        assert len(ev) == t.num_entries == 2421
    assert ev.x.dtype == np.float64 and ev.x.shape == (2421, 4) and ev.x.flags.c_contiguous
    for j, name in enumerate(FLAT):
        np.testing.assert_array_equal(ev.x[:, j], ref[name].astype(np.float64))
        np.testing.assert_array_equal(ev.column(name), ref[name].astype(np.float64))
    np.testing.assert_array_equal(ev.weights, ref["EventWeight"].astype(np.float64))
    np.testing.assert_array_equal(ev.entries, np.arange(2421))
    assert ev.names == FLAT
    w = ref["EventWeight"].astype(np.float64)
    assert ev.sum_weights == pytest.approx(w.sum(), rel=1e-12)
    assert ev.n_eff == pytest.approx(w.sum() ** 2 / (w ** 2).sum(), rel=1e-12)
    assert ev.negative_fraction == 0.0


def test_read_hzz_cut_entries(hzz):
    ev = read_events(hzz, "events", ["MET_px"], cut="(NMuon >= 2) & (MET_px > 0)")
    with uproot.open(hzz) as f:
        ref = f["events"].arrays(["NMuon", "MET_px"], library="np")
    keep = np.flatnonzero((ref["NMuon"] >= 2) & (ref["MET_px"] > 0))
    assert 0 < len(keep) < 2421
    np.testing.assert_array_equal(ev.entries, keep)
    np.testing.assert_array_equal(ev.x[:, 0], ref["MET_px"][keep])
    np.testing.assert_array_equal(ev.weights, np.ones(len(keep)))


def test_hzz_jagged_branch_is_refused(hzz, capsys):
    with pytest.raises(JaggedBranchError, match=r"'Muon_Px'.*jagged \(float\[\]"):
        read_events(hzz, "events", ["MET_px", "Muon_Px"])
    with pytest.raises(JaggedBranchError, match=r"weight branch 'Jet_btag'"):
        read_events(hzz, "events", ["MET_px"], weight="Jet_btag")
    with pytest.raises(JaggedBranchError, match="'Muon_Px'"):
        read_events(hzz, "events", ["MET_px"], cut="Muon_Px > 0")
    line = cli_error(capsys, ["convert", str(hzz), "-o", str(hzz.with_name("o.root")),
                              "--features", "MET_px,Muon_Px"])
    assert "'Muon_Px'" in line and "jagged" in line


def test_list_branches_and_trees(hzz):
    branches = list_branches(hzz, "events")
    assert branches["Muon_Px"] == "float[]" and branches["EventWeight"] == "float"
    assert list_trees(hzz) == ["events"]


# --------------------------------------------------------------------------------------------
# chunks, several files, iter_events
# --------------------------------------------------------------------------------------------


@pytest.fixture
def three_files(tmp_path):
    """Three files of 50, 0 and 77 events (small baskets so that chunks cross them)."""
    rng = np.random.default_rng(7)
    paths, cols = [], []
    for i, n in enumerate([50, 0, 77]):
        c = {"a": rng.normal(size=n), "b": rng.normal(size=n).astype(np.float32),
             "w": rng.normal(0.5, 1.0, size=n)}
        path = tmp_path / f"part{i}.root"
        write_events(path, "events", c, basket_entries=16)
        paths.append(path)
        cols.append(c)
    whole = {k: np.concatenate([c[k] for c in cols]) for k in cols[0]}
    return paths, whole


@pytest.mark.parametrize("cut", [None, "(a > 0) | (w < 0)"])
def test_chunked_equals_whole(three_files, cut):
    paths, whole = three_files
    whole_ev = read_events(paths, "events", ["a", "b"], "w", cut, step_size="100 MB")
    keep = np.arange(127) if cut is None else np.flatnonzero((whole["a"] > 0) | (whole["w"] < 0))
    np.testing.assert_array_equal(whole_ev.entries, keep)
    np.testing.assert_array_equal(whole_ev.x[:, 0], whole["a"][keep])
    np.testing.assert_array_equal(whole_ev.x[:, 1], whole["b"][keep].astype(np.float64))
    np.testing.assert_array_equal(whole_ev.weights, whole["w"][keep])
    for step in (1, 7, 16, 1000, "1 kB"):  # "1 kB": 50 entries, rounded to 3 baskets
        ev = read_events(paths, "events", ["a", "b"], "w", cut, step_size=step)
        for field in ("x", "weights", "entries"):
            np.testing.assert_array_equal(getattr(ev, field), getattr(whole_ev, field))
        chunks = list(iter_events(paths, "events", ["a", "b"], "w", cut, step_size=step))
        assert all(len(c) > 0 for c in chunks)
        assert len(chunks) >= (127 // step if cut is None and isinstance(step, int) else 1)
        if step == "1 kB" and cut is None:  # 20 bytes/entry: 50 entries -> 3 baskets of 16
            assert [len(c) for c in chunks] == [48, 2, 48, 29]
        for field in ("x", "weights", "entries"):
            joined = np.concatenate([getattr(c, field) for c in chunks])
            np.testing.assert_array_equal(joined, getattr(whole_ev, field))


def test_glob_reads_files_in_sorted_order(three_files):
    paths, whole = three_files
    ev = read_events(str(paths[0].parent / "part*.root"), "events", ["a"])
    np.testing.assert_array_equal(ev.x[:, 0], whole["a"])


# --------------------------------------------------------------------------------------------
# write/read round trip
# --------------------------------------------------------------------------------------------

DTYPES = [np.float32, np.float64, np.int32, np.int64, np.bool_]


@st.composite
def tables(draw):
    n = draw(st.integers(1, 120))
    name = st.from_regex(r"[A-Za-z][A-Za-z0-9_]{0,8}", fullmatch=True).filter(
        lambda s: s not in ("jag", "njag"))  # the jagged column and its counter branch
    names = draw(st.lists(name, min_size=1, max_size=4, unique_by=str.lower))
    cols = {}
    for name in names:
        dtype = np.dtype(draw(st.sampled_from(DTYPES)))
        kw = {"allow_nan": False, "allow_infinity": False} if dtype.kind == "f" else {}
        cols[name] = draw(hnp.arrays(dtype, n, elements=hnp.from_dtype(dtype, **kw)))
    lengths = draw(st.lists(st.integers(0, 3), min_size=n, max_size=n))
    jagged = ak.Array([[float(i + k) for k in range(m)] for i, m in enumerate(lengths)])
    return cols, jagged, draw(st.sampled_from([5, 32, 100_000])), draw(st.integers(1, n))


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow,
                                                                  HealthCheck.function_scoped_fixture])
@given(table=tables())
def test_write_read_round_trip(tmp_path_factory, table):
    cols, jagged, basket, step = table
    path = tmp_path_factory.mktemp("rt") / "rt.root"
    out = write_events(path, "t", {**cols, "jag": jagged}, basket_entries=basket)
    assert out == path and path.exists()
    names = list(cols)
    ev = read_events(path, "t", names, step_size=step)
    n = len(next(iter(cols.values())))
    assert len(ev) == n
    np.testing.assert_array_equal(ev.entries, np.arange(n))
    for j, name in enumerate(names):
        np.testing.assert_array_equal(ev.x[:, j], cols[name].astype(np.float64))
    with uproot.open(path) as f:
        t = f["t"]
        for name, col in cols.items():  # the branch keeps the column's type
            assert t[name].interpretation.to_dtype == col.dtype.newbyteorder("=")
        assert ak.to_list(t["jag"].array(library="ak")) == ak.to_list(jagged)
    assert [p.name for p in path.parent.iterdir()] == ["rt.root"]  # no temp file left


def test_write_refuses_existing_and_forces(tmp_path):
    path = tmp_path / "x.root"
    write_events(path, "t", {"a": np.arange(3.0)})
    with pytest.raises(OutputExistsError, match="--force"):
        write_events(path, "t", {"a": np.arange(5.0)})
    assert len(read_events(path, "t", ["a"])) == 3
    write_events(path, "t", {"a": np.arange(5.0)}, force=True)
    assert len(read_events(path, "t", ["a"])) == 5


@pytest.mark.parametrize(("columns", "match"), [
    ({}, "no columns"),
    ({"a": np.arange(3.0), "b": np.arange(4.0)}, "'b' has 4 entries"),
    ({"a": np.array(["x", "y"])}, "dtype <U1"),
    ({"a": np.arange(3, dtype=np.float16)}, "float16"),
    ({"a/b": np.arange(3.0)}, "bad branch name"),
    ({"a": np.float64(1.0)}, "scalar"),
])
def test_write_bad_columns(tmp_path, columns, match):
    with pytest.raises(BadInputError, match=match):
        write_events(tmp_path / "x.root", "t", columns)
    assert list(tmp_path.iterdir()) == []


def test_failing_write_raises_and_leaves_nothing(tmp_path, monkeypatch):
    import uproot.writing.writable as writable

    def disk_full(self, data, **kwargs):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(writable.WritableTree, "extend", disk_full)
    with pytest.raises(OSError, match="No space left"):
        write_events(tmp_path / "x.root", "t", {"a": np.arange(10.0)}, basket_entries=3)
    assert list(tmp_path.iterdir()) == []
    monkeypatch.undo()
    with pytest.raises(RuntimeError):  # an error inside the writer's block
        with EventWriter(tmp_path / "y.root", "t") as w:
            w.write({"a": np.arange(2.0)})
            raise RuntimeError("stop")
    assert list(tmp_path.iterdir()) == []
    with pytest.raises(BadInputError, match="nothing was written"):
        with EventWriter(tmp_path / "z.root", "t"):
            pass
    assert list(tmp_path.iterdir()) == []


def test_killed_write_leaves_no_output(tmp_path):
    target = tmp_path / "big.root"
    script = textwrap.dedent(f"""
        import numpy as np
        from flowstats.io import write_events
        x = np.random.default_rng(0).normal(size=10_000_000)
        write_events({str(target)!r}, "events", {{"x": x}})
    """)
    env = dict(os.environ, PYTHONPATH=str(Path(__file__).resolve().parents[1]))
    proc = subprocess.Popen([sys.executable, "-c", script], env=env)
    try:
        deadline = time.monotonic() + 120
        tmp = []
        while time.monotonic() < deadline and proc.poll() is None:
            tmp = [p for p in tmp_path.iterdir() if p.name.startswith(".big.root.")]
            if tmp and tmp[0].stat().st_size > 1_000_000:  # uproot is writing baskets
                break
            time.sleep(0.02)
        assert proc.poll() is None, "the write finished before it could be killed"
        assert tmp, "no temporary file appeared"
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert proc.returncode == -signal.SIGKILL
    assert not target.exists()
    assert all(p.name.startswith(".") for p in tmp_path.iterdir())  # only the dot temp file
    with pytest.raises(InputFileNotFoundError):
        read_events(target, "events", ["x"])


# --------------------------------------------------------------------------------------------
# bad inputs: Python API and CLI
# --------------------------------------------------------------------------------------------


def _nan_file(tmp_path) -> Path:
    path = tmp_path / "nan.root"
    a = np.arange(10.0)
    a[[2, 5]] = [np.nan, np.inf]
    b = np.arange(10.0)
    b[5] = -np.inf
    w = np.ones(10)
    w[7] = np.nan
    write_events(path, "events", {"a": a, "b": b, "w": w})
    return path


def test_nonfinite_raise_counts_per_branch(tmp_path, capsys):
    path = _nan_file(tmp_path)
    msg = r"3 events have NaN or infinite values in tree 'events' of .*\(a: 2, b: 1, w: 1\)"
    with pytest.raises(NonFiniteError, match=msg):
        read_events(path, "events", ["a", "b"], weight="w")
    with pytest.raises(NonFiniteError, match=msg):
        read_events(path, "events", ["a", "b"], weight="w", step_size=3)
    with pytest.raises(NonFiniteError, match=r"1 events .*\(a: 1\)"):  # inside the cut only
        read_events(path, "events", ["a"], cut="(b < 4) & (b > -1)")
    with pytest.raises(NonFiniteError, match=r"a: 1"):
        list(iter_events(path, "events", ["a"], cut="(b < 4) & (b > -1)"))
    line = cli_error(capsys, ["convert", str(path), "-o", str(tmp_path / "o.root"),
                              "--features", "a,b", "--weight", "w"])
    assert "3 events have NaN or infinite values" in line
    assert not (tmp_path / "o.root").exists()


@pytest.mark.parametrize("step", [3, "100 MB"])
def test_nonfinite_drop_warns(tmp_path, caplog, step):
    path = _nan_file(tmp_path)
    with caplog.at_level(logging.WARNING, logger="flowstats.io"):
        ev = read_events(path, "events", ["a", "b"], weight="w", nonfinite="drop",
                         step_size=step)
    assert "dropped 3 events with NaN or infinite values in tree 'events'" in caplog.text
    assert "(a: 2, b: 1, w: 1)" in caplog.text
    keep = np.array([0, 1, 3, 4, 6, 8, 9])
    np.testing.assert_array_equal(ev.entries, keep)
    np.testing.assert_array_equal(ev.x[:, 0], keep.astype(float))
    assert np.isfinite(ev.x).all() and np.isfinite(ev.weights).all()
    chunks = list(iter_events(path, "events", ["a", "b"], "w", nonfinite="drop",
                              step_size=step))
    np.testing.assert_array_equal(np.concatenate([c.entries for c in chunks]), keep)


def test_missing_and_unreadable_files(tmp_path, small, capsys):
    missing = tmp_path / "missing.root"
    with pytest.raises(InputFileNotFoundError, match="'.*missing.root' does not exist"):
        read_events(missing, "events", ["a"])
    with pytest.raises(InputFileNotFoundError, match="does not exist"):
        read_events([small, missing], "events", ["a"])
    with pytest.raises(InputFileNotFoundError, match="no file matches"):
        read_events(str(tmp_path / "nothing*.root"), "events", ["a"])
    junk = tmp_path / "junk.root"
    junk.write_text("this is not a ROOT file\n" * 20)
    with pytest.raises(DamagedFileError, match="junk.root.*not a ROOT file"):
        read_events(junk, "events", ["a"])
    empty = tmp_path / "empty.root"
    empty.write_bytes(b"")
    with pytest.raises(DamagedFileError, match="'.*empty.root' is unreadable: the file is empty"):
        read_events(empty, "events", ["a"])
    with pytest.raises(InputFileNotFoundError, match="directory"):
        read_events(tmp_path, "events", ["a"])
    out = str(tmp_path / "o.root")
    assert "does not exist" in cli_error(capsys, ["convert", str(missing), "-o", out,
                                                  "--features", "a"])
    assert "not a ROOT file" in cli_error(capsys, ["convert", str(junk), "-o", out,
                                                   "--features", "a"])


def test_truncated_and_corrupted_files_one_line_exit_2(tmp_path, capsys):
    from flowstats.datasets import dijet, write

    good = tmp_path / "good.root"
    write(good, dijet.generate(20_000, 0, seed=1), tree="events")
    data = good.read_bytes()
    truncated = tmp_path / "truncated.root"
    truncated.write_bytes(data[: len(data) // 3])  # an interrupted copy
    corrupted = tmp_path / "corrupted.root"
    # header and size intact, the baskets' bytes zeroed: found only when they are read
    corrupted.write_bytes(data[:len(data) // 4] + bytes(len(data) // 2)
                          + data[len(data) // 4 + len(data) // 2:])
    with pytest.raises(DamagedFileError, match=r"truncated\.root' is unreadable: truncated: "
                                               rf"its header says it ends at byte {len(data)}"):
        read_events(truncated, "events", ["mjj"])
    with pytest.raises(DamagedFileError, match=r"corrupted\.root' is unreadable: reading tree "
                                               r"'events'"):
        read_events(corrupted, "events", ["mjj", "mj1"])
    for bad, what in ((truncated, "truncated"), (corrupted, "reading tree")):
        out = tmp_path / f"hunt_{bad.stem}"
        line = cli_error(capsys, ["bumphunt", str(bad), "--features", "mj1,delta_mj", "--sr",
                                  "3300:3700", "-o", str(out)])
        assert bad.name in line and what in line
        assert not out.exists()
    assert good.read_bytes() == data  # the inputs are never modified


def test_missing_tree_lists_trees(small, capsys):
    with pytest.raises(TreeNotFoundError,
                       match=r"no TTree or RNTuple 'event' in .*'events' \(TTree\).*did you mean"):
        read_events(small, "event", ["a"])
    line = cli_error(capsys, ["convert", str(small), "-o", str(small.with_name("o.root")),
                              "--in-tree", "Events", "--features", "a"])
    assert "no TTree or RNTuple 'Events'" in line
    assert "trees in the file: 'events' (TTree)" in line


def test_missing_branch_suggests(small, capsys):
    with pytest.raises(BranchNotFoundError, match=r"no branch 'aa' in tree 'events'.*'a'"):
        read_events(small, "events", ["aa"])
    with pytest.raises(BranchNotFoundError, match=r"no branch 'ww'.*did you mean 'w'"):
        read_events(small, "events", ["a"], weight="ww")
    with pytest.raises(BranchNotFoundError, match=r"no branch 'bb'.*used in the cut"):
        read_events(small, "events", ["a"], cut="bb > 1")
    with pytest.raises(BadInputError, match="not a valid expression"):
        read_events(small, "events", ["a"], cut="a >")
    with pytest.raises(BadInputError, match="does not give one True/False"):
        read_events(small, "events", ["a"], cut="a + 1")
    with pytest.raises(BranchNotFoundError, match="did you mean 'a'"):
        read_events(small, "events", ["a"]).column("aa")
    line = cli_error(capsys, ["convert", str(small), "-o", str(small.with_name("o.root")),
                              "--features", "a,bb"])
    assert "no branch 'bb'" in line and "did you mean" in line


def test_no_events(tmp_path, small, capsys):
    empty = tmp_path / "zero.root"
    write_events(empty, "events", {"a": np.zeros(0)})
    with pytest.raises(BadInputError, match="no events in tree 'events'"):
        read_events(empty, "events", ["a"])
    with pytest.raises(BadInputError, match="no events in tree"):
        list(iter_events(empty, "events", ["a"]))
    with pytest.raises(BadInputError, match=r"no events pass the cut 'a > 100' \(0 of 100"):
        read_events(small, "events", ["a"], cut="a > 100")
    with pytest.raises(BadInputError, match="no events pass the cut"):
        list(iter_events(small, "events", ["a"], cut="a > 100"))
    assert "no events pass the cut" in cli_error(
        capsys, ["convert", str(small), "-o", str(tmp_path / "o.root"), "--features", "a",
                 "--cut", "a > 100"])


def test_weight_sum_not_positive(tmp_path, capsys):
    path = tmp_path / "neg.root"
    write_events(path, "events", {"a": np.arange(4.0), "w": np.array([1.0, -2.0, -1.5, 0.5])})
    with pytest.raises(WeightSumError, match=r"sum of the weights 'w' .* is -2 "):
        read_events(path, "events", ["a"], weight="w")
    ev = read_events(path, "events", ["a"], weight="w", check_weights=False)
    assert ev.negative_fraction == 0.5 and ev.sum_weights == -2.0
    assert "is -2" in cli_error(capsys, ["convert", str(path), "-o", str(tmp_path / "o.root"),
                                         "--features", "a", "--weight", "w"])


def test_other_bad_arguments(small):
    with pytest.raises(BadInputError, match="nonfinite must be"):
        read_events(small, "events", ["a"], nonfinite="ignore")
    with pytest.raises(BadInputError, match="step_size must be"):
        read_events(small, "events", ["a"], step_size="lots")
    with pytest.raises(BadInputError, match="no features"):
        read_events(small, "events", [])
    with pytest.raises(BadInputError, match="repeat"):
        read_events(small, "events", ["a", "a"])
    with pytest.raises(BadInputError, match="fixed-size array"):
        path = small.with_name("fixed.root")
        write_events(path, "events", {"v": np.ones((5, 3))})
        read_events(path, "events", ["v"])
    with pytest.raises(BadInputError, match="4 feature columns but 2 names"):
        Events(np.ones((3, 4)), ["a", "b"])


def test_cli_copies_branches(small, capsys):
    out = small.with_name("slim.root")
    assert main(["-q", "convert", str(small), "-o", str(out), "--features", "a",
                 "--features", "b", "--weight", "w", "--cut", "n % 2 == 0"]) == 0
    ev = read_events(out, "events", ["a", "b", "entry"], weight="w")
    ref = read_events(small, "events", ["a", "b"], weight="w")
    np.testing.assert_array_equal(ev.column("entry"), np.arange(0, 100, 2))
    np.testing.assert_array_equal(ev.x[:, :2], ref.x[::2])
    np.testing.assert_array_equal(ev.weights, ref.weights[::2])
    with uproot.open(out) as f:
        assert "flowstats_provenance" in str(f.keys())
    assert '"n_events": 50' in capsys.readouterr().out


# ------------------------------------------------------------------------------------- RNTuple


@pytest.fixture
def ntuple_pair(tmp_path):
    """The same 30,000 events as an RNTuple (written by uproot's dict assignment, as uproot
    >= 5.7 does) and as a TTree (written by flowstats)."""
    rng = np.random.default_rng(3)
    n = 30_000
    cols = {"mjj": rng.uniform(2000, 5000, n), "a": rng.normal(size=n),
            "w": rng.uniform(-0.5, 1.5, n), "n": np.arange(n, dtype=np.int32)}
    rn, tt = tmp_path / "rn.root", tmp_path / "tt.root"
    with uproot.recreate(rn) as f:
        f["events"] = {**cols, "j": ak.Array([[1.0] * (i % 3) for i in range(n)])}
    write_events(tt, "events", cols)
    assert uproot.open(rn).classnames()["events;1"] == "ROOT::RNTuple"
    return rn, tt, cols


def test_rntuple_reads_like_a_ttree_with_cuts_and_chunks(ntuple_pair):
    rn, tt, cols = ntuple_pair
    cut = "(mjj > 3000) & (sqrt(abs(a)) < 1.2)"  # uproot's expression language
    got = read_events(rn, "events", ["a", "n"], weight="w", cut=cut)
    ref = read_events(tt, "events", ["a", "n"], weight="w", cut=cut)
    keep = (cols["mjj"] > 3000) & (np.sqrt(np.abs(cols["a"])) < 1.2)
    assert 0 < len(got) == keep.sum() < len(cols["a"])  # the cut is applied (uproot ignores it)
    np.testing.assert_array_equal(got.entries, np.flatnonzero(keep))
    np.testing.assert_array_equal(got.x, ref.x)
    np.testing.assert_array_equal(got.weights, ref.weights)
    chunks = list(iter_events(rn, "events", ["a"], cut=cut, step_size=7000))
    assert len(chunks) > 1 and max(len(c) for c in chunks) <= 7000
    np.testing.assert_array_equal(np.concatenate([c.entries for c in chunks]), got.entries)
    assert list_trees(rn) == ["events"]
    assert list_branches(rn, "events")["j"] == "std::vector<double>"


def test_rntuple_errors_name_what_each_key_is(ntuple_pair):
    rn, _, _ = ntuple_pair
    with pytest.raises(TreeNotFoundError, match=r"no TTree or RNTuple 'event' in .*"
                                                 r"'events' \(RNTuple\).*did you mean"):
        read_events(rn, "event", ["a"])
    with pytest.raises(BranchNotFoundError, match="did you mean 'a'"):
        read_events(rn, "events", ["aa"])
    with pytest.raises(JaggedBranchError, match="field 'j' .* is jagged"):
        read_events(rn, "events", ["j"])
    with pytest.raises(BadInputError, match="the cut 'a >' is not a valid expression"):
        read_events(rn, "events", ["a"], cut="a >")
    with pytest.raises(BadInputError, match="does not give one True/False per event"):
        read_events(rn, "events", ["a"], cut="a + 1")


def test_rntuple_output_round_trip(tmp_path, capsys):
    rng = np.random.default_rng(5)
    cols = {"x": rng.normal(size=25_000), "k": np.arange(25_000, dtype=np.int64)}
    out = tmp_path / "out.root"
    write_events(out, "events", cols, format="rntuple", basket_entries=10_000)
    assert uproot.open(out).classnames()["events;1"] == "ROOT::RNTuple"
    back = read_events(out, "events", ["x", "k"])
    np.testing.assert_array_equal(back.x[:, 0], cols["x"])
    np.testing.assert_array_equal(back.x[:, 1], cols["k"])
    with pytest.raises(BadInputError, match="did you mean 'rntuple'"):
        write_events(tmp_path / "o2.root", "events", cols, format="rntupel")
    # the CLI writes an RNTuple with --format rntuple and a TTree by default
    for fmt, cls in (("rntuple", "ROOT::RNTuple"), ("ttree", "TTree")):
        path = tmp_path / f"nlo_{fmt}.root"
        assert main(["generate", "nlo", "-o", str(path), "-n", "2000", "--format", fmt]) == 0
        assert uproot.open(path).classnames()["events;1"] == cls
        copy = tmp_path / f"copy_{fmt}.root"
        assert main(["convert", str(path), "-o", str(copy), "--features", "pt,y",
                     "--weight", "weight", "--cut", "pt > 20", "--format", fmt]) == 0
        assert uproot.open(copy).classnames()["events;1"] == cls
    a = read_events(tmp_path / "copy_rntuple.root", "events", ["pt", "y", "entry"], "weight")
    b = read_events(tmp_path / "copy_ttree.root", "events", ["pt", "y", "entry"], "weight")
    np.testing.assert_array_equal(a.x, b.x)
    assert (a.x[:, 0] > 20).all() and len(a) < 2000


def test_write_histograms_and_root_writer(tmp_path):
    # io's writers of every non-event ROOT output (stats.write_th1, datasets.write, the bump
    # hunt's scores.root): histograms as TH1D (contents, sumw2, edges), several trees and texts
    # in one file, atomic (nothing left when the block raises), no silent overwrite
    import hist

    from flowstats.io import RootWriter, write_histograms

    h = hist.Hist.new.Reg(4, 0.0, 4.0, name="m").Weight()
    h.fill([0.5, 1.5, 1.5, 3.5], weight=[1.0, 2.0, 0.5, 3.0])
    counts, edges = np.array([3.0, 1.0, 0.0]), np.array([0.0, 1.0, 3.0, 6.0])
    out = write_histograms(tmp_path / "h.root", {"weighted": h, "plain": (counts, edges)})
    with uproot.open(out) as f:
        assert f.classnames() == {"weighted;1": "TH1D", "plain;1": "TH1D"}
        back = f["weighted"].to_hist()
        np.testing.assert_array_equal(back.values(), h.values())
        np.testing.assert_array_equal(back.variances(), h.variances())
        np.testing.assert_array_equal(f["plain"].values(), counts)
        np.testing.assert_array_equal(f["plain"].axis().edges(), edges)
    with pytest.raises(OutputExistsError):
        write_histograms(out, {"plain": (counts, edges)})
    write_histograms(out, {"again": (counts, edges)}, force=True)
    with uproot.open(out) as f:
        assert list(f.keys()) == ["again;1"]

    cols = {"entry": np.arange(7, dtype=np.int64), "score": np.linspace(0, 1, 7)}
    path = tmp_path / "many.root"
    with RootWriter(path) as f:
        assert f.tree("scores", cols, step_size=3) == 7
        f.tree("empty", {"a": np.empty(0)})
        f.histogram("h", (counts, edges))
        f.string("note", "hello")
    with uproot.open(path) as f:
        assert f.classnames()["scores;1"] == "TTree"
        t = f["scores"].arrays(library="np")
        np.testing.assert_array_equal(t["entry"], cols["entry"])
        np.testing.assert_array_equal(t["score"], cols["score"])
        assert f["empty"].num_entries == 0 and str(f["note"]) == "hello"
    with pytest.raises(RuntimeError), RootWriter(tmp_path / "broken.root") as f:
        f.tree("scores", cols)
        raise RuntimeError("interrupted")
    assert not list(tmp_path.glob("*broken*"))
    with pytest.raises(BadInputError, match="outside its with-block"):
        RootWriter(tmp_path / "x.root").histogram("h", (counts, edges))
    with pytest.raises(BadInputError, match="must be a str"), RootWriter(tmp_path / "y.root") as f:
        f.string("note", 3)


def test_io_public_api_for_other_layers(tmp_path):
    # the names unweighting and the CLI use: paths and patterns to files, a ROOT file opened
    # with the package's errors, its tree, the LHE columns
    import flowstats.io as fio

    for name in ("expand_paths", "open_root", "get_tree", "is_lhe", "lhe_columns",
                 "write_histograms", "RootWriter"):
        assert name in fio.__all__ and getattr(fio, name).__doc__
    write_events(tmp_path / "a1.root", "events", {"x": np.arange(3.0)})
    write_events(tmp_path / "a2.root", "events", {"x": np.arange(2.0)})
    files = fio.expand_paths(str(tmp_path / "a*.root"))
    assert [p.name for p in files] == ["a1.root", "a2.root"]
    with pytest.raises(InputFileNotFoundError):
        fio.expand_paths(str(tmp_path / "b*.root"))
    with fio.open_root(files[0]) as f:
        assert fio.get_tree(f, "events", "a1").num_entries == 3
        with pytest.raises(TreeNotFoundError):
            fio.get_tree(f, "nope", "a1")
    (tmp_path / "bad.root").write_bytes(b"")
    with pytest.raises(DamagedFileError, match="empty"):
        fio.open_root(tmp_path / "bad.root")
    assert fio.is_lhe(Path("x.lhe.gz")) and not fio.is_lhe(Path("x.root"))
