r"""flowstats: normalizing flows (zuko) for unweighting and enhanced bump hunts.

Public entry points are imported lazily, so ``import flowstats`` stays light and torch is only
imported by the stages that need it.
"""

from __future__ import annotations

import importlib
from typing import Any

__version__ = "0.1.0"

_LAZY = {
    "read_events": "flowstats.io",
    "write_events": "flowstats.io",
    "Events": "flowstats.io",
    "convert_lhe": "flowstats.io.lhe",
    "unweight": "flowstats.unweighting",
    "unweight_from_config": "flowstats.unweighting",
    "UnweightResult": "flowstats.unweighting.unweight_result",
    "BumpHunt": "flowstats.bumphunt.hunt_result",
    "BumpHuntResult": "flowstats.bumphunt.hunt_result",
    "load_result": "flowstats.results",
}

__all__ = ["__version__", *_LAZY]


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        return getattr(importlib.import_module(_LAZY[name]), name)
    if name in {"io", "datasets", "flows", "stats", "anomaly", "exceptions", "unweighting",
                "bumphunt", "config", "results"}:
        return importlib.import_module(f"flowstats.{name}")
    raise AttributeError(f"module 'flowstats' has no attribute {name!r}")
