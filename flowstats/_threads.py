r"""One number of threads for torch, OpenMP and BLAS, set before any of them starts.

torch's intra-op pool, the OpenMP runtime (torch's kernels, scikit-learn's boosted trees) and
the BLAS library each start one thread per core. :func:`configure` sets them to one number, in
the environment, before torch, numpy's BLAS or scikit-learn load (the ``flowstats`` command
calls it first, with ``--threads``): ``OMP_NUM_THREADS``, ``MKL_NUM_THREADS`` and
``OPENBLAS_NUM_THREADS``; child processes (dask workers) inherit them. ``--threads`` wins over
``FLOWSTATS_THREADS``, which wins over the user's ``OMP_NUM_THREADS``; the default is the cores
this process may run on. In a Python session that has already loaded torch (which then chose
its threads), nothing changes unless a number is given.

**Several jobs on one machine.** A job's threads wait for each other at every parallel step;
when two jobs each run one thread per core, a job's thread is often off its core while the
other waits, spinning. ``benchmarks/bench_threads.py`` (``flowstats score`` on 300k dijet
events, 2 cores) measured each of two such jobs started together at 11.8 times the lone job's
62 s. Giving each job its share of the cores (``--threads 1`` for two jobs on 2 cores) removes
it: 80 s paired against 79.5 s alone. ``OMP_WAIT_POLICY=PASSIVE`` (waiting threads sleep)
keeps two threads per job at 0.9 times their lone time paired, but the lone job then takes
1.7 times as long (105 s), so it is not the default; ``GOMP_SPINCOUNT=10000`` (a shorter spin)
did not help (over 400 s paired).
"""

from __future__ import annotations

import logging
import os
import sys

log = logging.getLogger(__name__)

__all__ = ["ENV", "available_cores", "configure"]

#: the variables holding a number of threads
ENV = ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS")


def available_cores() -> int:
    r"""The number of CPU cores this process may run on (its affinity mask where known)."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # pragma: no cover - macOS, Windows
        return os.cpu_count() or 1


def configure(threads: int | None = None) -> int | None:
    r"""Sets the thread variables of this process and its children; returns the number of
    threads (None when skipped).

    Arguments:
        threads: Threads of torch, OpenMP and BLAS together; None: ``FLOWSTATS_THREADS``,
            else ``OMP_NUM_THREADS`` when the user set it, else the cores this process may
            run on.
    """
    loaded = "torch" in sys.modules
    if loaded and threads is None:
        return None
    if threads is None:
        chosen = os.environ.get("FLOWSTATS_THREADS") or os.environ.get("OMP_NUM_THREADS")
        threads = int(chosen) if chosen and chosen.isdigit() else available_cores()
    threads = max(1, int(threads))
    for name in ENV:
        os.environ[name] = str(threads)
    if loaded:  # the CLI called from Python with --threads
        from threadpoolctl import threadpool_limits

        sys.modules["torch"].set_num_threads(threads)
        threadpool_limits(limits=threads)
    log.debug("threads: %d (torch, OpenMP, BLAS)", threads)
    return threads
