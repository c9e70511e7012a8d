from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

os.environ.setdefault("FLOWSTATS_NO_PROGRESS", "1")
os.environ.setdefault("MPLBACKEND", "Agg")
# flowstats commands the tests start run on one thread each: a fixed number, so that two of
# them running side by side (pytest-xdist) do not share the cores and change their numbers
os.environ.setdefault("FLOWSTATS_THREADS", "1")

SHARED = Path(__file__).resolve().parents[1].parent / "shared" / "data"


@pytest.fixture(scope="session")
def shared_data() -> Path:
    """The read-only real-data folder ``../shared/data`` (skip-free: it must exist)."""
    assert SHARED.is_dir(), f"real test data missing: {SHARED}"
    return SHARED


@pytest.fixture
def copy_shared(tmp_path, shared_data):
    """Copies a file of ``../shared/data`` into the test's temp dir and returns its path."""

    def _copy(name: str) -> Path:
        dest = tmp_path / name
        shutil.copy(shared_data / name, dest)
        return dest

    return _copy


@pytest.fixture(autouse=True, scope="session")
def _torch_threads():
    try:
        import torch
    except ImportError:  # pragma: no cover
        return
    # one thread: small flows train faster single-threaded, and tests do not oversubscribe
    torch.set_num_threads(1)


@pytest.fixture(autouse=True, scope="session")
def _native_threads():
    """One OpenMP/BLAS thread per test process when pytest-xdist runs one process per core:
    scikit-learn's boosted trees (the classifiers, the reports' two-sample test) otherwise start
    one OpenMP thread per core in every worker, and the workers then fight for the cores."""
    if not os.environ.get("PYTEST_XDIST_WORKER"):
        yield
        return
    from threadpoolctl import threadpool_limits

    with threadpool_limits(limits=1):
        yield


#: the test modules holding the longest tests (20-60 s each on 2 cores: the README
#: walkthroughs, the pooled sculpting checks, the bump hunts) run first, so that no pytest-xdist
#: worker waits for one of them at the end of the suite (with `--dist worksteal`, as
#: `make test` runs it, an idle worker takes pending tests from the other)
_LONG_FIRST = ("test_readme.py", "test_anomaly.py", "test_bumphunt.py", "test_demo.py",
               "test_flows_nlo.py")


def pytest_collection_modifyitems(config, items):
    def rank(item):
        name = item.path.name
        return _LONG_FIRST.index(name) if name in _LONG_FIRST else len(_LONG_FIRST)

    items.sort(key=rank)  # stable: the order within a module is kept


@pytest.fixture(scope="session")
def tiny_unweight(tmp_path_factory):
    r"""The cheapest real ``flowstats unweight --report`` run (3000 weighted toy events, 20 %
    negative, a one-transform flow for 2 epochs), run once per session: its directory, exit
    code, stdout and stderr."""
    import contextlib
    import io
    from types import SimpleNamespace

    import numpy as np

    from flowstats.cli import main
    from flowstats.io import write_events

    tmp = tmp_path_factory.mktemp("tiny_unweight")
    rng = np.random.default_rng(0)
    n = 3000
    a, b = rng.normal(0, 1.5, n), rng.exponential(2.0, n) + 0.1
    w = np.where(rng.random(n) < 0.2, -0.5, 0.5)
    write_events(tmp / "in.root", "tree", {"a": a, "b": b, "w": w})
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        code = main(["unweight", str(tmp / "in.root"), "--tree", "tree", "-f", "a,b",
                     "-w", "w", "-n", "1000", "-o", str(tmp / "out.root"), "--report",
                     str(tmp / "report"), "--no-plots", "--epochs", "2", "--transforms", "1",
                     "--hidden", "8", "--bins", "4", "--batch-size", "512", "--seed", "3"])
    return SimpleNamespace(dir=tmp, code=code, out=out.getvalue(), err=err.getvalue())
