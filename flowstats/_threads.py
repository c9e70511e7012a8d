r"""One number of threads for torch, OpenMP and BLAS, set before any of them starts.

torch's intra-op pool, the OpenMP runtime (torch's kernels, scikit-learn's boosted trees) and
the BLAS library each start one thread per core. :func:`configure` sets them to one number, in
the environment, before torch, numpy's BLAS or scikit-learn load (the ``flowstats`` command
calls it first, with ``--threads``): ``OMP_NUM_THREADS``, ``MKL_NUM_THREADS`` and
``OPENBLAS_NUM_THREADS``; child processes (dask workers) inherit them. ``--threads`` wins over
``FLOWSTATS_THREADS``, which wins over the user's ``OMP_NUM_THREADS``; the default is this
job's share of the cores this process may run on (below). In a Python session that has already
loaded torch (which then chose its threads), nothing changes unless a number is given.

**Several jobs on one machine.** A job's threads wait for each other at every parallel step;
when two jobs each run one thread per core, a job's thread is often off its core while the
other waits, spinning. ``benchmarks/bench_threads.py`` (``flowstats score`` on 300k dijet
events, 2 cores) measured each of two such jobs started together at 11.8 times the lone job's
62 s. Giving each job its share of the cores (``--threads 1`` for two jobs on 2 cores) removes
it: 80 s paired against 79.5 s alone. ``OMP_WAIT_POLICY=PASSIVE`` (waiting threads sleep)
keeps two threads per job at 0.9 times their lone time paired, but the lone job then takes
1.7 times as long (105 s), so it is not the default; ``GOMP_SPINCOUNT=10000`` (a shorter spin)
did not help (over 400 s paired).

**Sharing the cores by default.** When no number is given (no ``--threads``,
``FLOWSTATS_THREADS`` or ``OMP_NUM_THREADS``), the ``flowstats`` command registers its process in
a directory of running jobs (:func:`registry`, one file per process, removed at exit; files of
processes that died are dropped) and gives torch its share of the cores: the cores divided by
the running jobs, at least 1. :func:`rebalance`, called at every batch of the training,
sampling and classifier loops (it looks at the directory at most once a second), follows the
share as jobs start and end: a job alone runs on every core, two jobs on 2 cores on one each.
Measured with ``benchmarks/bench_threads.py`` (300k events, 2 cores): two jobs started together
took 1.28 times as long as one alone (85 s against 67 s), and 1.18 times with the second
started 20 s after the first (80 s against 68 s). torch's results depend in the last bits on its number of threads, so a rerun next to another
job can differ from a lone run in the last bits of its numbers; ``--threads N`` fixes the
number and with it the numbers. Every output's provenance records the threads a job used
(:func:`summary`).
"""

from __future__ import annotations

import atexit
import logging
import os
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

log = logging.getLogger(__name__)

__all__ = ["ENV", "available_cores", "configure", "live_jobs", "rebalance", "registry",
           "summary"]

#: the variables holding a number of threads
ENV = ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS")

#: seconds between two looks at the registry of running jobs
INTERVAL = 1.0

# mode: "session" (not configured: a Python session's own choice), "fixed" (a number was
# given) or "shared" (the cores shared with the other registered jobs); budget: the cores
# shared; last: the number rebalance set last; used: every number this process ran torch on
_state: dict[str, Any] = {"mode": "session", "budget": None, "last": None, "next": 0.0,
                          "used": set(), "file": None}


def available_cores() -> int:
    r"""The number of CPU cores this process may run on (its affinity mask where known)."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # pragma: no cover - macOS, Windows
        return os.cpu_count() or 1


def registry() -> Path:
    r"""The directory of running ``flowstats`` jobs: ``FLOWSTATS_JOBS_DIR``, else
    ``flowstats-jobs-<uid>`` in the temporary directory."""
    chosen = os.environ.get("FLOWSTATS_JOBS_DIR")
    uid = os.getuid() if hasattr(os, "getuid") else 0
    return Path(chosen) if chosen else Path(tempfile.gettempdir()) / f"flowstats-jobs-{uid}"


def _started(pid: int) -> str:
    r"""The start time of process ``pid`` (Linux: /proc/pid/stat; elsewhere empty), which
    tells a running job from a later process that reuses its number."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return ""
    return stat[stat.rindex(")") + 2:].split()[19]


def _alive(pid: int, started: str) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        pass
    except OSError:  # pragma: no cover - platforms without signal 0
        return True
    return not started or _started(pid) in ("", started)


def _register() -> None:
    directory = registry()
    try:
        directory.mkdir(parents=True, exist_ok=True)
        path = directory / str(os.getpid())
        path.write_text(_started(os.getpid()))
    except OSError as err:  # a read-only temporary directory: run as if alone
        log.debug("cannot register the job in %s: %s", directory, err)
        return
    _state["file"] = path
    atexit.register(_unregister)


def _unregister() -> None:
    path, _state["file"] = _state["file"], None
    if path is not None:
        try:
            path.unlink()
        except OSError:
            pass


def live_jobs() -> int:
    r"""The running jobs in :func:`registry` (this one included when registered); drops the
    files of processes that have ended."""
    n = 0
    try:
        entries = list(registry().iterdir())
    except OSError:
        entries = []
    for entry in entries:
        try:
            pid, started = int(entry.name), entry.read_text().strip()
        except (OSError, ValueError):
            continue
        if _alive(pid, started):
            n += 1
        else:
            try:
                entry.unlink()
            except OSError:
                pass
    return max(n, 1 if _state["file"] is not None else 0)


def _share(jobs: int) -> int:
    return max(1, int(_state["budget"]) // max(1, jobs))


def configure(threads: int | None = None) -> int | None:
    r"""Sets the thread variables of this process and its children; returns the number of
    threads (None when skipped).

    Arguments:
        threads: Threads of torch, OpenMP and BLAS together; None: ``FLOWSTATS_THREADS``,
            else ``OMP_NUM_THREADS`` when the user set it, else this job's share of the
            cores it may run on, followed by :func:`rebalance` as other jobs start and end.
    """
    loaded = "torch" in sys.modules
    if loaded and threads is None:
        return None
    if threads is None:
        chosen = os.environ.get("FLOWSTATS_THREADS") or os.environ.get("OMP_NUM_THREADS")
        threads = int(chosen) if chosen and chosen.isdigit() else None
    if threads is None:
        _state.update(mode="shared", budget=available_cores())
        if _state["file"] is None:
            _register()
        threads = _share(live_jobs())
    else:
        _state.update(mode="fixed", budget=None)
    threads = max(1, int(threads))
    _state.update(last=threads, next=time.monotonic() + INTERVAL)
    _state["used"].add(threads)
    for name in ENV:
        os.environ[name] = str(threads)
    if loaded:  # the CLI called from Python with --threads
        from threadpoolctl import threadpool_limits

        sys.modules["torch"].set_num_threads(threads)
        threadpool_limits(limits=threads)
    log.debug("threads: %d (torch, OpenMP, BLAS; %s)", threads, _state["mode"])
    return threads


def rebalance() -> int | None:
    r"""Gives torch this job's share of the cores again (``shared`` mode only, at most once
    per :data:`INTERVAL` seconds; cheap otherwise). Leaves the threads alone when someone else
    set them since (``set_num_threads``, e.g. a bump-hunt window's ``torch_threads``).

    Returns:
        The number of threads set, or None when nothing changed.
    """
    if _state["mode"] != "shared":
        return None
    now = time.monotonic()
    if now < _state["next"]:
        return None
    _state["next"] = now + INTERVAL
    torch = sys.modules.get("torch")
    if torch is None or torch.get_num_threads() != _state["last"]:
        return None
    jobs = live_jobs()
    share = _share(jobs)
    if share == _state["last"]:
        return None
    torch.set_num_threads(share)
    _state["last"] = share
    _state["used"].add(share)
    log.debug("threads: %d (%d flowstats jobs share %d cores)", share, jobs, _state["budget"])
    return share


def summary() -> dict[str, Any]:
    r"""What the provenance records: the ``mode`` (``shared``, ``fixed`` or ``session``), the
    cores shared (``budget``) and every number of threads torch ran on (``used``)."""
    torch = sys.modules.get("torch")
    used = set(_state["used"])
    if torch is not None:
        used.add(torch.get_num_threads())
    return {"mode": _state["mode"], "budget": _state["budget"], "used": sorted(used)}
