r"""The common JSON envelope of the benchmarks' ``--json`` output (issue 30).

Every ``benchmarks/bench_*.py`` writes the table(s) it prints as::

    {"benchmark": name, "command": argv, "date": ISO 8601, "versions": {...},
     "machine": {...}, "rows": [...], ...summary}

which ``docs/benchmarks/index.md`` plots. The scripts run as ``python benchmarks/bench_x.py``,
so this module is importable beside them.
"""

from __future__ import annotations

import datetime
import json
import os
import platform
import subprocess
import sys
from pathlib import Path
from typing import Any


def _cpu_model() -> str:
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def _version(module: str) -> str | None:
    try:
        return __import__(module).__version__
    except Exception:  # not installed, or no __version__
        return None


def _git() -> str | None:
    r"""The repository's commit (``git describe --always --dirty``), None outside git."""
    try:
        out = subprocess.run(["git", "describe", "--always", "--dirty"], capture_output=True,
                             text=True, cwd=Path(__file__).resolve().parent, timeout=10)
    except (OSError, subprocess.SubprocessError):
        return None
    return out.stdout.strip() or None


def machine(threads: int | None = None) -> dict[str, Any]:
    r"""CPU model, cores, torch threads (``threads``, default this process's) and ATen's CPU
    capability."""
    import torch

    try:
        capability = torch.backends.cpu.get_cpu_capability()
    except AttributeError:  # older torch
        capability = None
    try:
        cores = len(os.sched_getaffinity(0))
    except AttributeError:
        cores = os.cpu_count()
    return {"cpu": _cpu_model(), "cores": cores, "torch_threads": threads or torch.get_num_threads(),
            "cpu_capability": capability, "platform": platform.platform()}


def envelope(benchmark: str, rows: list, threads: int | None = None,
             **summary: Any) -> dict[str, Any]:
    r"""The envelope of ``rows`` (and any summary entries) for the benchmark ``benchmark``;
    ``threads``: the torch threads its workers used (default: this process's)."""
    return {"benchmark": benchmark, "command": list(sys.argv),
            "date": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
            "versions": {name: _version(name) for name in ("flowstats", "torch", "zuko",
                                                           "numpy")}
            | {"python": platform.python_version(), "git": _git()},
            "machine": machine(threads), "rows": rows, **summary}


def peak_rss_mb() -> float:
    r"""This process's peak resident memory in MB (VmHWM: unlike ``ru_maxrss``, not inherited
    from the parent across fork and exec)."""
    try:
        lines = Path("/proc/self/status").read_text().splitlines()
    except OSError:  # pragma: no cover - not Linux
        lines = []
    for line in lines:
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    import resource  # pragma: no cover

    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # pragma: no cover


def write_json(path: str | os.PathLike | None, benchmark: str, rows: list,
               threads: int | None = None, **summary: Any) -> None:
    r"""Writes :func:`envelope` to ``path`` (nothing when ``path`` is None)."""
    if path is None:
        return
    Path(path).write_text(json.dumps(envelope(benchmark, rows, threads, **summary), indent=1,
                                     default=_default) + "\n")


def _default(value: Any) -> Any:
    r"""numpy scalars and arrays, paths: as plain JSON values."""
    if hasattr(value, "tolist"):
        return value.tolist()
    return str(value)
