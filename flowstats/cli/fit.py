r"""``flowstats fit``: CLs, limits, significance and MLE of a pyhf workspace (like ``pyhf cls``)."""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass, fields
from pathlib import Path
from typing import Any

import click

log = logging.getLogger(__name__)

__all__ = ["FitSettings", "fit", "run_fit"]


@dataclass(frozen=True)
class FitSettings:
    r"""What :func:`run_fit` computes, and how.

    Attributes:
        poi_test: The signal strength of the CLs test.
        cl: The confidence level of the upper limits.
        test_stat: ``qtilde`` or ``q``.
        toys: Pseudo-experiments per hypothesis (0: asymptotic formulae only). With toys,
            ``cls_obs``, ``cls_exp``, ``z0``, ``p0`` are toy-based; limits stay asymptotic.
        seed: Seed of the toys.
        backend: ``numpy`` or ``jax``.
        scheduler: dask scheduler for the toys (see :func:`flowstats.stats.toys.map_chunks`).
        limits, mle, discovery: Which results to compute (keys stay, as null, when off).
        optimizer: pyhf optimizer of the asymptotic fits: ``scipy`` (pyhf's default) or
            ``minuit`` (what ``flowstats bumphunt`` uses for its window workspaces; needed when
            a bin holds ~1e5 events). The MLE always uses minuit.
    """

    poi_test: float = 1.0
    cl: float = 0.95
    test_stat: str = "qtilde"
    toys: int = 0
    seed: int = 0
    backend: str = "numpy"
    scheduler: Any = None
    limits: bool = True
    mle: bool = True
    discovery: bool = True
    optimizer: str = "scipy"


def run_fit(workspace: str | Path, *, patch: str | Path | None = None,
            patch_name: str | None = None, measurement: str | None = None,
            export: str | Path | None = None, force: bool = False,
            **settings: Any) -> dict[str, Any]:
    r"""What ``flowstats fit`` computes, as a function (JSON-ready dict).

    Arguments:
        workspace: The workspace JSON file.
        patch: A JSON patch file, or a pyhf patchset (then ``patch_name`` selects the patch).
        patch_name: The patch of a patchset.
        measurement: The measurement (the first one by default).
        export: Write the (patched) workspace JSON there.
        force: Overwrite ``export``.
        settings: What to compute, by the names of :class:`FitSettings`: ``poi_test`` (1),
            ``cl`` (0.95), ``test_stat`` (``qtilde``), ``toys`` (0), ``seed`` (0), ``backend``
            (``numpy``), ``scheduler``, ``limits``, ``mle``, ``discovery`` (all True) and
            ``optimizer`` (``scipy``).
    """
    from .._utils import check_output
    from ..exceptions import BadInputError
    from ..stats import infer

    unknown = sorted(set(settings) - {f.name for f in fields(FitSettings)})
    if unknown:
        raise TypeError(f"run_fit() got an unexpected keyword argument {unknown[0]!r}")
    opts = FitSettings(**settings)
    if export is not None:
        check_output(export, force)
    if opts.toys < 0:
        raise BadInputError(f"--toys must be >= 0, got {opts.toys}")
    t0 = time.perf_counter()
    infer.set_backend(opts.backend)
    spec, pdf, data, where = _load(workspace, patch, patch_name, measurement)
    if export is not None:
        from ..stats import workspace as histfactory

        histfactory.export_workspace(spec, export, force=force)
    lo, hi = pdf.config.suggested_bounds()[pdf.config.poi_index]
    if not lo <= opts.poi_test <= hi:
        raise BadInputError(f"--poi-test {opts.poi_test:g} is outside the POI bounds "
                            f"[{lo:g}, {hi:g}] of {where}")
    out: dict[str, Any] = {
        "workspace": str(workspace), "patch": str(patch) if patch else None,
        "patch_name": patch_name, "poi": pdf.config.poi_name, "poi_bounds": [lo, hi],
        **_asymptotic(pdf, data, opts)}
    if opts.mle:
        r = infer.mle(pdf, data)
        out.update(mu_hat=r["mu_hat"], mu_hat_error=r["mu_hat_error"],
                   mu_hat_minos=r["mu_hat_minos"])
    if opts.toys:
        _toy_results(out, spec_for_toys(spec, measurement), opts)
    out["seconds"] = time.perf_counter() - t0
    return out


def _load(workspace: str | Path, patch: str | Path | None, patch_name: str | None,
          measurement: str | None) -> tuple[dict[str, Any], Any, Any, str]:
    r"""The (patched) workspace spec, its model and data, and a description for messages."""
    from ..stats import workspace as histfactory

    spec = histfactory.read_workspace(workspace)
    where = str(workspace)
    if patch is not None:
        ops = histfactory.read_patch(patch, patch_name, workspace=spec)
        spec = histfactory.apply_patch(spec, ops, where=f"patch {str(patch)!r}")
        where += f" patched with {Path(patch).name}" + (f":{patch_name}" if patch_name else "")
    _, pdf, data = histfactory.load_model(spec, measurement=measurement, where=where)
    return spec, pdf, data, where


def _asymptotic(pdf: Any, data: Any, opts: FitSettings) -> dict[str, Any]:
    r"""The asymptotic CLs, discovery and limit results (the keys of :func:`run_fit` from
    ``poi_test`` on; those not computed are None)."""
    from ..stats import infer

    with infer.use_optimizer(opts.optimizer):
        calc = infer.AsymptoticCLs(pdf, data, test_stat=opts.test_stat)
        clsb, clb, cls = calc.pvalues(opts.poi_test)
        out: dict[str, Any] = {
            "poi_test": opts.poi_test, "test_stat": opts.test_stat, "backend": opts.backend,
            "optimizer": opts.optimizer, "cl": opts.cl,
            "calculator": "asymptotics",
            "cls_obs": cls, "cls_exp": calc.cls_exp(opts.poi_test), "clsb_obs": clsb,
            "clb_obs": clb,
            "mu_hat": None, "mu_hat_error": None, "mu_hat_minos": None,
            "z0": None, "p0": None, "z0_exp": None,
            "mu_upper_obs": None, "mu_upper_exp": None,
        }
        if opts.discovery:
            d = infer.discovery(pdf, data, calculator=calc)
            out.update(z0=d["z0"], p0=d["p0"], q0=d["q0"], z0_exp=d["z0_exp"],
                       p0_exp=d["p0_exp"])
        if opts.limits:
            ul = infer.upper_limit(pdf, data, cl=opts.cl, test_stat=opts.test_stat,
                                   calculator=calc)
            out.update(mu_upper_obs=ul.obs, mu_upper_exp=ul.exp, limit_points=len(ul.points))
        out["n_fits"] = calc.n_fits
    return out


def _toy_results(out: dict[str, Any], spec: dict[str, Any], opts: FitSettings) -> None:
    r"""Replaces the asymptotic CLs (and discovery) results in ``out`` by toy-based ones
    (the asymptotic ones move to ``out["asymptotic"]``)."""
    from ..stats import toys as toymod

    out["asymptotic"] = {k: out[k] for k in ("cls_obs", "cls_exp", "z0", "p0")}
    th = toymod.toy_hypotest(spec, opts.poi_test, n_toys=opts.toys, seed=opts.seed,
                             scheduler=opts.scheduler, backend=opts.backend)
    out.update(calculator="toybased", limits_calculator="asymptotics", n_toys=opts.toys,
               seed=opts.seed, cls_obs=th["cls_obs"], cls_exp=th["cls_exp"],
               clsb_obs=th["clsb_obs"], clb_obs=th["clb_obs"], n_failed_toys=th["n_failed"])
    if opts.discovery:
        td = toymod.toy_discovery(spec, n_toys=opts.toys, seed=opts.seed + 1,
                                  scheduler=opts.scheduler, backend=opts.backend)
        out.update(z0=td["z0"], p0=td["p0"], p0_error=td["p0_error"])
        out["n_failed_toys"] += td["n_failed"]


def spec_for_toys(spec: dict[str, Any], measurement: str | None) -> dict[str, Any]:
    r"""The workspace with only the chosen measurement (toy workers take the first one)."""
    if measurement is None:
        return spec
    return {**spec, "measurements": [m for m in spec["measurements"]
                                     if m.get("name") == measurement]}


@click.command("fit")
@click.argument("workspace", type=click.Path(dir_okay=False))
@click.option("-p", "--patch", type=click.Path(dir_okay=False), default=None,
              help="A JSON patch file, or a pyhf patchset (choose with --patch-name).")
@click.option("--patch-name", default=None, help="The patch of a patchset.")
@click.option("--measurement", default=None, help="The measurement (default: the first).")
@click.option("--poi-test", type=float, default=1.0, show_default=True,
              help="Signal strength of the CLs test.")
@click.option("--cl", type=click.FloatRange(0, 1, min_open=True, max_open=True), default=0.95,
              show_default=True, help="Confidence level of the upper limits.")
@click.option("--test-stat", type=click.Choice(["qtilde", "q"]), default="qtilde",
              show_default=True)
@click.option("--toys", type=int, default=0, show_default=True,
              help="Pseudo-experiments per hypothesis (0: asymptotic only).")
@click.option("--seed", type=int, default=0, show_default=True, help="Seed of the toys.")
@click.option("--backend", type=click.Choice(["numpy", "jax"]), default="numpy",
              show_default=True, help="pyhf tensor back end (jax if installed).")
@click.option("--scheduler", default=None,
              help="dask scheduler address for the toys, or 'serial' (default: a local "
                   "cluster).")
@click.option("--optimizer", type=click.Choice(["scipy", "minuit"]), default="scipy",
              show_default=True,
              help="pyhf optimizer of the asymptotic fits; minuit for bins with ~1e5 events "
                   "(flowstats bumphunt's window workspaces).")
@click.option("--limits/--no-limits", default=True, show_default=True,
              help="Compute CLs upper limits.")
@click.option("--mle/--no-mle", default=True, show_default=True,
              help="Run the minuit MLE fit (mu_hat, HESSE, MINOS).")
@click.option("--discovery/--no-discovery", default=True, show_default=True,
              help="Compute the discovery significance z0.")
@click.option("--export", type=click.Path(dir_okay=False), default=None,
              help="Write the (patched) workspace JSON there.")
@click.option("--force", is_flag=True, help="Overwrite --export.")
def fit(workspace: str, **options: Any) -> None:
    """CLs, upper limits, Z0 and mu-hat of a pyhf WORKSPACE, printed as JSON.

    Prints mu_hat, z0, cls_obs, cls_exp (-2..+2 sigma), mu_upper_obs and mu_upper_exp
    (-2..+2 sigma), like `pyhf cls`, for published likelihoods too:

    \b
        flowstats fit RegionA/BkgOnly.json \\
            --patch RegionA/patch.sbottom_1300_205_60.json
        flowstats fit bkg.json --patch patchset.json --patch-name NAME --toys 1000
    """
    from . import echo_json

    # the options' names are run_fit's keywords: patch, patch_name, measurement, export and
    # force, and the fields of FitSettings
    echo_json(run_fit(workspace, **options))
