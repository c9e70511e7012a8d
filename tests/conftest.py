from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

os.environ.setdefault("FLOWSTATS_NO_PROGRESS", "1")
os.environ.setdefault("MPLBACKEND", "Agg")

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
