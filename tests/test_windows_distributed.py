from __future__ import annotations

import numpy as np
import pytest

from flowstats.bumphunt.scoring import select_top
from flowstats.bumphunt.windows import make_windows, parse_range
from flowstats.distributed import get_client, map_tasks, spawn_seeds
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


def test_bad_scheduler():
    with pytest.raises(BadInputError, match="scheduler"):
        with get_client("nonsense"):
            pass
