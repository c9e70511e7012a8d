r"""``flowstats fit``: CLs, limits, significance and MLE of a pyhf workspace (like ``pyhf cls``)."""

from __future__ import annotations

import logging
import time
from pathlib import Path
from typing import Any

import click

log = logging.getLogger(__name__)

__all__ = ["fit", "run_fit"]


def run_fit(workspace: str | Path, *, patch: str | Path | None = None,
            patch_name: str | None = None, measurement: str | None = None,
            poi_test: float = 1.0, cl: float = 0.95, test_stat: str = "qtilde",
            toys: int = 0, seed: int = 0, backend: str = "numpy", scheduler: Any = None,
            limits: bool = True, mle: bool = True, discovery: bool = True,
            export: str | Path | None = None, force: bool = False,
            optimizer: str = "scipy") -> dict[str, Any]:
    r"""What ``flowstats fit`` computes, as a function (JSON-ready dict).

    Arguments:
        workspace: The workspace JSON file.
        patch: A JSON patch file, or a pyhf patchset (then ``patch_name`` selects the patch).
        patch_name: The patch of a patchset.
        measurement: The measurement (the first one by default).
        poi_test: The signal strength of the CLs test.
        cl: The confidence level of the upper limits.
        test_stat: ``qtilde`` or ``q``.
        toys: Pseudo-experiments per hypothesis (0: asymptotic formulae only). With toys,
            ``cls_obs``, ``cls_exp``, ``z0``, ``p0`` are toy-based; limits stay asymptotic.
        seed: Seed of the toys.
        backend: ``numpy`` or ``jax``.
        scheduler: dask scheduler for the toys (see :func:`flowstats.stats.toys.map_chunks`).
        limits, mle, discovery: Which results to compute (keys stay, as null, when off).
        export: Write the (patched) workspace JSON there.
        force: Overwrite ``export``.
        optimizer: pyhf optimizer of the asymptotic fits: ``scipy`` (pyhf's default) or
            ``minuit`` (what ``flowstats bumphunt`` uses for its window workspaces; needed when
            a bin holds ~1e5 events). The MLE always uses minuit.
    """
    from .._utils import check_output
    from ..exceptions import BadInputError
    from ..stats import infer, model
    from ..stats import toys as toymod

    if export is not None:
        check_output(export, force)
    if toys < 0:
        raise BadInputError(f"--toys must be >= 0, got {toys}")
    t0 = time.perf_counter()
    infer.set_backend(backend)
    spec = model.read_workspace(workspace)
    where = str(workspace)
    if patch is not None:
        ops = model.read_patch(patch, patch_name, workspace=spec)
        spec = model.apply_patch(spec, ops, where=f"patch {str(patch)!r}")
        where += f" patched with {Path(patch).name}" + (f":{patch_name}" if patch_name else "")
    ws, pdf, data = model.load_model(spec, measurement=measurement, where=where)
    if export is not None:
        model.export_workspace(spec, export, force=force)
    lo, hi = pdf.config.suggested_bounds()[pdf.config.poi_index]
    if not lo <= poi_test <= hi:
        raise BadInputError(f"--poi-test {poi_test:g} is outside the POI bounds "
                            f"[{lo:g}, {hi:g}] of {where}")
    with infer.use_optimizer(optimizer):
        calc = infer.AsymptoticCLs(pdf, data, test_stat=test_stat)
        clsb, clb, cls = calc.pvalues(poi_test)
        out: dict[str, Any] = {
            "workspace": str(workspace), "patch": str(patch) if patch else None,
            "patch_name": patch_name, "poi": pdf.config.poi_name, "poi_bounds": [lo, hi],
            "poi_test": poi_test, "test_stat": test_stat, "backend": backend,
            "optimizer": optimizer, "cl": cl,
            "calculator": "asymptotics",
            "cls_obs": cls, "cls_exp": calc.cls_exp(poi_test), "clsb_obs": clsb, "clb_obs": clb,
            "mu_hat": None, "mu_hat_error": None, "mu_hat_minos": None,
            "z0": None, "p0": None, "z0_exp": None,
            "mu_upper_obs": None, "mu_upper_exp": None,
        }
        if discovery:
            d = infer.discovery(pdf, data, calculator=calc)
            out.update(z0=d["z0"], p0=d["p0"], q0=d["q0"], z0_exp=d["z0_exp"],
                       p0_exp=d["p0_exp"])
        if limits:
            ul = infer.upper_limit(pdf, data, cl=cl, test_stat=test_stat, calculator=calc)
            out.update(mu_upper_obs=ul.obs, mu_upper_exp=ul.exp, limit_points=len(ul.points))
        out["n_fits"] = calc.n_fits
    if mle:
        r = infer.mle(pdf, data)
        out.update(mu_hat=r["mu_hat"], mu_hat_error=r["mu_hat_error"],
                   mu_hat_minos=r["mu_hat_minos"])
    if toys:
        out["asymptotic"] = {k: out[k] for k in ("cls_obs", "cls_exp", "z0", "p0")}
        th = toymod.toy_hypotest(spec_for_toys(spec, measurement), poi_test, n_toys=toys,
                                 seed=seed, scheduler=scheduler, backend=backend)
        out.update(calculator="toybased", limits_calculator="asymptotics", n_toys=toys,
                   seed=seed, cls_obs=th["cls_obs"], cls_exp=th["cls_exp"],
                   clsb_obs=th["clsb_obs"], clb_obs=th["clb_obs"], n_failed_toys=th["n_failed"])
        if discovery:
            td = toymod.toy_discovery(spec_for_toys(spec, measurement), n_toys=toys,
                                      seed=seed + 1, scheduler=scheduler, backend=backend)
            out.update(z0=td["z0"], p0=td["p0"], p0_error=td["p0_error"])
            out["n_failed_toys"] += td["n_failed"]
    out["seconds"] = time.perf_counter() - t0
    return out


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
def fit(workspace: str, patch: str | None, patch_name: str | None, measurement: str | None,
        poi_test: float, cl: float, test_stat: str, toys: int, seed: int, backend: str,
        scheduler: str | None, optimizer: str, limits: bool, mle: bool, discovery: bool,
        export: str | None, force: bool) -> None:
    """CLs, upper limits, Z0 and mu-hat of a pyhf WORKSPACE, printed as JSON.

    Prints mu_hat, z0, cls_obs, cls_exp (-2..+2 sigma), mu_upper_obs and mu_upper_exp
    (-2..+2 sigma), like `pyhf cls`, for published likelihoods too:

    \b
        flowstats fit RegionA/BkgOnly.json \\
            --patch RegionA/patch.sbottom_1300_205_60.json
        flowstats fit bkg.json --patch patchset.json --patch-name NAME --toys 1000
    """
    from . import echo_json

    echo_json(run_fit(workspace, patch=patch, patch_name=patch_name, measurement=measurement,
                      poi_test=poi_test, cl=cl, test_stat=test_stat, toys=toys, seed=seed,
                      backend=backend, scheduler=scheduler, limits=limits, mle=mle,
                      discovery=discovery, export=export, force=force,
                      optimizer=optimizer))
