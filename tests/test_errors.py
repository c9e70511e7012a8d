from __future__ import annotations

import numpy as np
import pytest

from flowstats._utils import atomic_path, check_finite, write_json
from flowstats.exceptions import (
    BranchNotFoundError,
    NonFiniteError,
    OutputExistsError,
    TreeNotFoundError,
    closest,
)


def test_closest_suggests_names():
    assert closest("lep_ptt", ["lep_pt", "lep_eta", "jet_pt"])[0] == "lep_pt"
    assert closest("xyz", ["a", "b"]) == []


def test_branch_error_message_suggests():
    err = BranchNotFoundError("lep_ptt", "tree 'events'", ["lep_pt", "lep_eta"])
    assert "did you mean 'lep_pt'" in str(err)


def test_tree_error_lists_trees():
    err = TreeNotFoundError("event", "f.root", ["events", "meta"])
    assert "'events'" in str(err) and "'meta'" in str(err)


def test_check_finite_counts_per_column():
    x = np.array([[1.0, np.nan], [np.inf, 2.0], [1.0, np.nan]])
    with pytest.raises(NonFiniteError, match=r"3 events.*a: 1, b: 2"):
        check_finite(x, "features", ["a", "b"])
    check_finite(np.ones((3, 2)), "features")


def test_atomic_path_leaves_nothing_on_error(tmp_path):
    target = tmp_path / "out.txt"
    with pytest.raises(RuntimeError):
        with atomic_path(target) as tmp:
            tmp.write_text("half")
            raise RuntimeError("killed")
    assert not target.exists()
    assert list(tmp_path.iterdir()) == []


def test_atomic_path_refuses_existing(tmp_path):
    target = tmp_path / "out.json"
    write_json(target, {"a": 1}, force=False)
    with pytest.raises(OutputExistsError, match="--force"):
        with atomic_path(target):
            pass
    write_json(target, {"a": np.float64(2.0)}, force=True)
    assert '"a": 2.0' in target.read_text()
