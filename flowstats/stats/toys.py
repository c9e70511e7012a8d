r"""Toy-based (pseudo-experiment) hypothesis tests, seeded and parallelised with dask.

pyhf 0.7.6's ``ToyCalculator`` draws from numpy's global random state and breaks under
numpy >= 2.4 (``np.percentile(..., interpolation=)``); this module has its own toy loop:

* toys are drawn with :class:`numpy.random.Generator` objects seeded per chunk from
  ``numpy.random.SeedSequence(seed).spawn(n_chunks)``, main measurements from Poisson
  distributions and auxiliary measurements from their constraint terms (Gaussian or Poisson),
  as :meth:`pyhf.pdf.Model.make_pdf` defines them;
* chunks have a fixed size independent of the number of workers, so the same seed gives the
  same numbers serially and on any dask cluster;
* chunks run through :mod:`dask.distributed`: a ``LocalCluster`` by default, or a given
  :class:`~distributed.Client` or scheduler address; ``scheduler="serial"`` runs in-process.

Functions: :func:`toy_hypotest` (CLs observed and expected band, test statistic
:math:`\tilde q_\mu`), :func:`toy_discovery` (:math:`p_0`, :math:`Z_0` from :math:`q_0`),
:func:`sample_data` and :func:`map_chunks` (the generic seeded parallel map).

References:
    G. Cowan et al., arXiv:1007.1727; A. L. Read, J. Phys. G 28 (2002) 2693 (CLs);
    numpy SeedSequence, https://numpy.org/doc/stable/reference/random/parallel.html;
    dask.distributed, https://distributed.dask.org.
"""

from __future__ import annotations

import functools
import json
import logging
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
from scipy import stats

from ..exceptions import BadInputError
from .infer import NSIGMA, set_backend
from .workspace import MODIFIER_SETTINGS, load_model

log = logging.getLogger(__name__)

__all__ = ["chunk_seeds", "map_chunks", "sample_data", "toy_discovery", "toy_hypotest"]


def sample_data(model: Any, pars: Sequence[float], n: int,
                rng: np.random.Generator) -> np.ndarray:
    r"""Draws ``n`` pseudo-data sets (main + auxiliary data) of ``model`` at ``pars``.

    Arguments:
        model: The :class:`pyhf.pdf.Model`.
        pars: The parameter values of the generating hypothesis.
        n: The number of toys.
        rng: The random generator (nothing global is used).

    Returns:
        Array ``(n, len(data))`` in pyhf's data order.
    """
    import pyhf

    def draw(dist: Any) -> np.ndarray:
        if isinstance(dist, pyhf.probability.Simultaneous):
            return np.asarray(dist.tv.stitch([draw(p) for p in dist]))
        inner = dist._pdf if isinstance(dist, pyhf.probability.Independent) else dist
        if isinstance(inner, pyhf.probability.Poisson):
            rate = np.asarray(inner.rate, float)
            return rng.poisson(rate, size=(n, *rate.shape)).astype(float)
        if isinstance(inner, pyhf.probability.Normal):
            loc = np.asarray(inner.loc, float)
            return rng.normal(loc, np.asarray(inner.scale, float), size=(n, *loc.shape))
        raise TypeError(f"cannot sample a {type(inner).__name__} term")  # pragma: no cover

    tensorlib, _ = pyhf.get_backend()
    return np.asarray(draw(model.make_pdf(tensorlib.astensor(pars))))


def chunk_seeds(seed: int, n_toys: int, chunk_size: int) -> list[tuple[Any, int]]:
    r"""Splits ``n_toys`` into chunks of ``chunk_size`` with independent child seeds.

    Arguments:
        seed: The master seed.
        n_toys: The number of toys.
        chunk_size: Toys per chunk (the last chunk may be smaller).
    """
    if n_toys <= 0:
        raise BadInputError(f"the number of toys must be positive, got {n_toys}")
    if chunk_size <= 0:
        raise BadInputError(f"chunk_size must be positive, got {chunk_size}")
    n_chunks = -(-n_toys // chunk_size)
    children = np.random.SeedSequence(seed).spawn(n_chunks)
    sizes = [min(chunk_size, n_toys - i * chunk_size) for i in range(n_chunks)]
    return list(zip(children, sizes))


def map_chunks(func: Callable[..., Any], n_toys: int, *, seed: int, chunk_size: int = 50,
               args: tuple[Any, ...] = (), scheduler: Any = None,
               n_workers: int | None = None) -> list[Any]:
    r"""Runs ``func(seedsequence, n, *args)`` for every chunk; results in chunk order.

    Arguments:
        func: A picklable top-level function.
        n_toys: The total number of toys.
        seed: The master seed.
        chunk_size: Toys per chunk (fixed: results do not depend on the cluster).
        args: Extra arguments for ``func``.
        scheduler: ``"serial"`` (in-process), ``None`` (a temporary dask ``LocalCluster``),
            a scheduler address (``"tcp://host:8786"``) or a :class:`distributed.Client`.
        n_workers: Workers of the temporary LocalCluster (default: CPU count, at most 4).
    """
    from ..distributed import get_client, map_tasks

    chunks = [(ss, n, func, args) for ss, n in chunk_seeds(seed, n_toys, chunk_size)]
    if scheduler == "serial":
        scheduler = None
    elif scheduler is None:
        import os

        scheduler = "local"
        n_workers = n_workers or max(1, min(4, os.cpu_count() or 1))
    results: list[Any] = [None] * len(chunks)
    with get_client(scheduler, n_workers) as client:
        for i, result in map_tasks(_run_chunk, chunks, client):
            results[i] = result
    return results


def _run_chunk(chunk: tuple[Any, int, Callable[..., Any], tuple[Any, ...]]) -> Any:
    ss, n, func, args = chunk
    return func(ss, n, *args)


@functools.lru_cache(maxsize=4)
def _model(spec_json: str, backend: str) -> tuple[Any, Any]:
    set_backend(backend)
    _, model, data = load_model(json.loads(spec_json), modifier_settings=MODIFIER_SETTINGS)
    return model, data


def _fits(model: Any, data: Any, mu: float) -> tuple[float, float, float]:
    import pyhf

    init, bounds, fixed = (model.config.suggested_init(), model.config.suggested_bounds(),
                           model.config.suggested_fixed())
    _, fixed_val = pyhf.infer.mle.fixed_poi_fit(mu, data, model, init, bounds, fixed,
                                                return_fitted_val=True)
    pars, free_val = pyhf.infer.mle.fit(data, model, init, bounds, fixed,
                                        return_fitted_val=True)
    return float(np.asarray(pars)[model.config.poi_index]), float(fixed_val), float(free_val)


def _qtilde(model: Any, data: Any, mu: float) -> float:
    muhat, fixed, free = _fits(model, data, mu)
    return 0.0 if muhat > mu else max(fixed - free, 0.0)


def _q0(model: Any, data: Any) -> float:
    muhat, fixed, free = _fits(model, data, 0.0)
    return 0.0 if muhat < 0 else max(fixed - free, 0.0)


def _one_thread() -> Any:
    # dask workers run BLAS single-threaded (OMP_NUM_THREADS=1), which changes the fits in the
    # last digits; the same limit everywhere makes serial and distributed results identical
    try:
        from threadpoolctl import threadpool_limits
    except ImportError:  # pragma: no cover - threadpoolctl comes with scikit-learn
        import contextlib

        return contextlib.nullcontext()
    return threadpool_limits(1)


def _chunk(ss: Any, n: int, spec_json: str, backend: str, kind: str, mu_gen: float,
           mu_test: float) -> np.ndarray:
    r"""One chunk of toys: generated at ``mu_gen`` (conditional fit to the observed data),
    returns the test statistics (NaN where a fit failed)."""
    with _one_thread():
        return _chunk_body(ss, n, spec_json, backend, kind, mu_gen, mu_test)


def _chunk_body(ss: Any, n: int, spec_json: str, backend: str, kind: str, mu_gen: float,
                mu_test: float) -> np.ndarray:
    import pyhf

    model, data = _model(spec_json, backend)
    set_backend(backend)
    init, bounds, fixed = (model.config.suggested_init(), model.config.suggested_bounds(),
                           model.config.suggested_fixed())
    pars = pyhf.infer.mle.fixed_poi_fit(mu_gen, data, model, init, bounds, fixed)
    toys = sample_data(model, np.asarray(pars), n, np.random.default_rng(ss))
    tensorlib, _ = pyhf.get_backend()
    out = np.empty(n)
    for i, toy in enumerate(toys):
        try:
            t = tensorlib.astensor(toy)
            out[i] = _q0(model, t) if kind == "q0" else _qtilde(model, t, mu_test)
        except pyhf.exceptions.FailedMinimization:
            out[i] = np.nan
    return out


def _prepare(spec: dict[str, Any], backend: str) -> tuple[str, Any, Any]:
    set_backend(backend)
    spec_json = json.dumps(spec, sort_keys=True)
    model, data = _model(spec_json, backend)
    return spec_json, model, data


def _clean(q: np.ndarray, what: str) -> tuple[np.ndarray, int]:
    bad = ~np.isfinite(q)
    if bad.any():
        log.warning("%d of %d %s toys failed to fit and are left out", int(bad.sum()), len(q),
                    what)
    if bad.all():
        raise BadInputError(f"all {len(q)} {what} toys failed to fit")
    return q[~bad], int(bad.sum())


def toy_hypotest(spec: dict[str, Any], poi_test: float = 1.0, *, n_toys: int = 1000,
                 seed: int = 0, scheduler: Any = None, chunk_size: int = 50,
                 backend: str = "numpy", n_workers: int | None = None) -> dict[str, Any]:
    r"""Toy-based CLs at ``poi_test`` with the :math:`\tilde q_\mu` test statistic.

    Toys are generated at the conditional fits to the observed data at ``poi_test``
    (signal+background) and at 0 (background only). :math:`\mathrm{CL}_{s+b}` and
    :math:`\mathrm{CL}_b` are the fractions of toys with :math:`\tilde q_\mu` at least the
    observed one; the expected band is the -2..+2 sigma quantiles of the CLs values of the
    background-only toys (as pyhf's ToyCalculator).

    Arguments:
        spec: The (patched) workspace dict.
        poi_test: The signal strength tested.
        n_toys: Toys per hypothesis.
        seed: The seed (s+b toys use child seeds of ``[seed, 1]``, b-only of ``[seed, 0]``).
        scheduler: See :func:`map_chunks`.
        chunk_size: Toys per chunk.
        backend: pyhf back end in the workers.
        n_workers: Workers of a temporary LocalCluster.
    """
    spec_json, model, data = _prepare(spec, backend)
    with _one_thread():
        q_obs = _qtilde(model, data, float(poi_test))
    kw = {"chunk_size": chunk_size, "scheduler": scheduler, "n_workers": n_workers}
    q_sb = np.concatenate(map_chunks(_chunk, n_toys, seed=[seed, 1],
                                     args=(spec_json, backend, "qtilde", poi_test, poi_test),
                                     **kw))
    q_b = np.concatenate(map_chunks(_chunk, n_toys, seed=[seed, 0],
                                    args=(spec_json, backend, "qtilde", 0.0, poi_test), **kw))
    q_sb, fail_sb = _clean(q_sb, "signal+background")
    q_b, fail_b = _clean(q_b, "background-only")
    sb_sorted, b_sorted = np.sort(q_sb), np.sort(q_b)

    def tail(sorted_q: np.ndarray, x: np.ndarray) -> np.ndarray:
        return (len(sorted_q) - np.searchsorted(sorted_q, x, side="left")) / len(sorted_q)

    clsb, clb = float(tail(sb_sorted, q_obs)), float(tail(b_sorted, q_obs))
    cls_b = tail(sb_sorted, q_b) / tail(b_sorted, q_b)
    quant = [float(stats.norm.cdf(n)) for n in NSIGMA]
    cls_exp = np.quantile(cls_b, quant).tolist()
    return {"poi_test": float(poi_test), "qtilde_obs": q_obs, "cls_obs": clsb / clb,
            "clsb_obs": clsb, "clb_obs": clb, "cls_exp": cls_exp, "n_toys": int(n_toys),
            "n_failed": fail_sb + fail_b, "seed": seed, "q_sb": q_sb, "q_b": q_b}


def toy_discovery(spec: dict[str, Any], *, n_toys: int = 1000, seed: int = 0,
                  scheduler: Any = None, chunk_size: int = 50, backend: str = "numpy",
                  n_workers: int | None = None) -> dict[str, Any]:
    r"""Toy-based discovery p-value: the fraction of background-only toys with
    :math:`q_0 \geq q_0^{obs}`, its binomial uncertainty, and :math:`Z_0`.

    Arguments:
        spec: The (patched) workspace dict.
        n_toys: The number of background-only toys.
        seed: The seed.
        scheduler: See :func:`map_chunks`.
        chunk_size: Toys per chunk.
        backend: pyhf back end in the workers.
        n_workers: Workers of a temporary LocalCluster.
    """
    spec_json, model, data = _prepare(spec, backend)
    with _one_thread():
        q_obs = _q0(model, data)
    q = np.concatenate(map_chunks(_chunk, n_toys, seed=seed, chunk_size=chunk_size,
                                  scheduler=scheduler, n_workers=n_workers,
                                  args=(spec_json, backend, "q0", 0.0, 0.0)))
    q, failed = _clean(q, "background-only")
    k = int(np.sum(q >= q_obs))
    p0 = k / len(q)
    return {"q0_obs": q_obs, "p0": p0, "p0_error": float(np.sqrt(max(p0 * (1 - p0), 1e-300)
                                                                 / len(q))),
            "z0": float(stats.norm.isf(p0)) if p0 > 0 else float("inf"),
            "n_toys": int(n_toys), "n_failed": failed, "n_above": k, "seed": seed, "q0": q}
