from __future__ import annotations

import numpy as np
import pytest

from flowstats.bumphunt.scoring import select_top
from flowstats.bumphunt.windows import make_windows, parse_range
from flowstats.distributed import available_cores, get_client, map_tasks, spawn_seeds
from flowstats.exceptions import BadInputError


def test_default_scan_is_lhco_like():
    w = make_windows(scan={"range": (2800, 5200)})
    assert w[0] == (2800.0, 3200.0) and w[1] == (2900.0, 3300.0) and w[-1] == (4800.0, 5200.0)
    assert len(w) == 21


def test_n_windows_span_range():
    w = make_windows(scan={"range": (2800, 5200), "windows": 6})
    assert len(w) == 6 and w[0][0] == 2800 and w[-1][1] == 5200


def test_bad_ranges():
    with pytest.raises(BadInputError, match="LO < HI"):
        parse_range("3700:3300")
    with pytest.raises(BadInputError, match="LO:HI"):
        parse_range("3300")
    with pytest.raises(BadInputError, match="larger than the scan"):
        make_windows(scan={"range": (3000, 3200), "width": 400})


def test_select_top_threshold_from_sr():
    rng = np.random.default_rng(1)
    score = rng.normal(size=10_000)
    region = np.where(np.arange(10_000) % 2 == 0, 1, 0)
    sel = select_top(score, region, 0.1)
    assert sel[region == 1].sum() == 500  # exactly ceil(0.1 * 5000) SR events (no ties)
    # the same threshold applies to the sidebands: binomial(5000, 0.1) -> 500 +- 21
    assert abs(sel[region == 0].sum() - 500) < 5 * 21
    assert select_top(score, region, 1.0).all()


def test_spawn_seeds_deterministic_and_distinct():
    a, b = spawn_seeds(7, 5), spawn_seeds(7, 5)
    assert a == b and len(set(a)) == 5
    assert spawn_seeds(8, 5) != a


def _task(item, *, offset):
    rng = np.random.default_rng(item["seed"])
    return rng.normal() + offset


def test_map_tasks_serial_equals_local_cluster():
    items = [{"seed": s} for s in spawn_seeds(0, 4)]
    serial = dict(map_tasks(_task, items, None, offset=1.0))
    with get_client("local", workers=2) as client:
        dist = dict(map_tasks(_task, items, client, offset=1.0))
    assert serial == dist


def test_local_cluster_workers_default_to_cores_per_task_threads():
    # a window's torch_threads times the workers should not exceed the cores
    cores = available_cores()
    with get_client("local", threads_per_task=cores + 1) as client:
        assert len(client.scheduler_info()["workers"]) == 1  # at least one
    with get_client("local", 2, threads_per_task=cores + 1) as client:
        assert len(client.scheduler_info()["workers"]) == 2  # the user's number wins


def test_window_threads_are_resolved_once_and_set_per_task(monkeypatch):
    import torch

    import flowstats.anomaly as anomaly
    from flowstats.bumphunt.scoring import DEFAULT_THREADS, resolve_threads, score_window
    from flowstats.config import DEFAULTS

    before = torch.get_num_threads()
    try:
        # unset: two threads, or fewer when the process itself runs torch on fewer
        assert DEFAULTS["torch_threads"] is None and DEFAULT_THREADS == 2
        torch.set_num_threads(4)
        assert resolve_threads(None) == 2
        torch.set_num_threads(1)
        assert resolve_threads(None) == 1
        assert resolve_threads(3) == 3
    finally:
        torch.set_num_threads(before)
    seen = []

    def fake_score(x, m, **kw):
        seen.append(torch.get_num_threads())
        raise BadInputError("too few events")

    monkeypatch.setattr(anomaly, "score", fake_score)
    task = {"index": 0, "window": (1.0, 2.0), "seed": 1, "model_dir": None}
    for threads in (3, 1):
        out = score_window(task, x=np.zeros((4, 1)), m=np.zeros(4), names=["a"],
                           config={"method": "cathode", "torch_threads": threads})
        assert "too few" in out["error"]
    assert seen == [3, 1]
    assert torch.get_num_threads() == before  # restored after the task


def test_bumphunt_records_the_resolved_threads(tmp_path):
    import json

    import torch

    from flowstats.bumphunt import run_bumphunt
    from flowstats.config import resolve_config
    from flowstats.datasets import dijet, write

    path = tmp_path / "d.root"
    write(path, dijet.generate(n_background=4000, n_signal=0, seed=1), tree="events")
    config = resolve_config({"input": str(path), "features": ["mj1"], "method": "density",
                             "sr": [3300, 3700], "efficiency": [0.5],
                             "output": str(tmp_path / "out"), "score_options": {"fit": {"epochs": 1}}})
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        run_bumphunt(config, plots=False)
    finally:
        torch.set_num_threads(before)
    summary = json.loads((tmp_path / "out" / "summary.json").read_text())
    assert config["torch_threads"] is None  # the run's own copy is resolved, not the caller's
    assert summary["provenance"]["config"]["torch_threads"] == 1


def test_bad_scheduler():
    with pytest.raises(BadInputError, match="scheduler"):
        with get_client("nonsense"):
            pass
