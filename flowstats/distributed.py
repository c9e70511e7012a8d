r"""Scale-out through dask.distributed: serial, a LocalCluster, or an existing scheduler.

Independent tasks (bump-hunt windows, folds, toys) are submitted to a dask client; without one
they run serially in this process. Results never depend on where a task ran: every task gets its
own seed, derived from the run's seed with :class:`numpy.random.SeedSequence`, and sets its own
number of torch threads.

For batch systems, start a dask-jobqueue cluster yourself and pass its scheduler address
(``--scheduler``) or the client (Python API)::

    from dask_jobqueue import SLURMCluster      # or HTCondorCluster
    cluster = SLURMCluster(cores=4, memory="16GB", walltime="02:00:00")
    cluster.scale(jobs=10)
    print(cluster.scheduler_address)            # -> flowstats bumphunt ... --scheduler tcp://...
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Callable, Iterable, Iterator
from typing import Any

import numpy as np

from ._threads import available_cores
from .exceptions import BadInputError

log = logging.getLogger(__name__)

__all__ = ["available_cores", "get_client", "map_tasks", "spawn_seeds"]


def spawn_seeds(seed: int, n: int) -> list[int]:
    r"""Returns ``n`` independent 32-bit seeds derived from ``seed`` (SeedSequence.spawn).

    Arguments:
        seed: The run's seed.
        n: The number of tasks.
    """
    children = np.random.SeedSequence(int(seed)).spawn(int(n))
    return [int(c.generate_state(1, dtype=np.uint32)[0]) for c in children]


@contextlib.contextmanager
def get_client(scheduler: Any = None, workers: int | None = None, *,
               threads_per_task: int = 1) -> Iterator[Any]:
    r"""Yields a dask client, or ``None`` for serial execution.

    Arguments:
        scheduler: ``None`` (serial), ``"local"`` (a LocalCluster started and stopped here), a
            scheduler address (``tcp://host:port``, an existing cluster, e.g. from
            dask-jobqueue), or a ``distributed.Client`` (used as is, not closed).
        workers: Number of LocalCluster worker processes, one dask thread each (default: the
            available cores divided by ``threads_per_task``, at least 1).
        threads_per_task: The torch threads each task sets itself (a bump-hunt window's
            ``torch_threads``); only used for the default number of workers.
    """
    if scheduler is None or scheduler in ("none", "serial"):
        yield None
        return
    try:
        from distributed import Client, LocalCluster
    except ImportError as err:  # pragma: no cover - dask is a dependency
        raise BadInputError("dask.distributed is needed for --scheduler") from err
    if isinstance(scheduler, Client):
        yield scheduler
        return
    if scheduler == "local":
        n = int(workers or max(1, available_cores() // max(1, int(threads_per_task))))
        with LocalCluster(n_workers=n, threads_per_worker=1, processes=True,
                          dashboard_address=None) as cluster, Client(cluster) as client:
            log.info("dask LocalCluster with %d workers", n)
            yield client
        return
    if isinstance(scheduler, str) and "://" in scheduler:
        try:
            client = Client(scheduler, timeout="30s")
        except OSError as err:
            raise BadInputError(f"cannot reach the dask scheduler {scheduler!r}: {err}") from None
        try:
            yield client
        finally:
            client.close()
        return
    raise BadInputError(f"--scheduler {scheduler!r}: use 'local' or an address like tcp://host:8786")


def map_tasks(fn: Callable[..., Any], items: Iterable[Any], client: Any = None,
              **shared: Any) -> Iterator[tuple[int, Any]]:
    r"""Runs ``fn(item, **shared)`` for every item; yields ``(index, result)`` as they finish.

    Serially in this process when ``client`` is None; otherwise on the dask cluster, with the
    shared (large) arguments scattered once to the workers.

    Arguments:
        fn: A picklable function.
        items: The task descriptions.
        client: A dask client or None.
        shared: Keyword arguments passed to every call.
    """
    items = list(items)
    if client is None:
        for i, item in enumerate(items):
            yield i, fn(item, **shared)
        return
    from distributed import as_completed

    scattered = {k: client.scatter(v, broadcast=True) for k, v in shared.items()}
    futures = [client.submit(fn, item, **scattered, pure=False) for item in items]
    index = {f.key: i for i, f in enumerate(futures)}
    for future in as_completed(futures):
        yield index[future.key], future.result()
