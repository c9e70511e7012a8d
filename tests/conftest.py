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
