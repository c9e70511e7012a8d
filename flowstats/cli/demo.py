r"""``flowstats demo``: the whole chain on the embedded datasets."""

from __future__ import annotations

import click

from . import echo_json


@click.command()
@click.option("-o", "--output", type=click.Path(), default="demo-output", show_default=True,
              help="Output directory.")
@click.option("--seed", type=int, default=0, show_default=True, help="Seed of every random step.")
@click.option("--quick", is_flag=True, help="Small sizes (a smoke run of a minute).")
@click.option("--device", type=click.Choice(["auto", "cpu", "cuda"]), default="auto",
              show_default=True, help="Torch device.")
@click.option("--scheduler", help="dask scheduler for the bump-hunt windows ('local' or an address).")
@click.option("--force", is_flag=True, help="Replace an existing output directory.")
def demo(output: str, seed: int, quick: bool, device: str, scheduler: str | None,
         force: bool) -> None:
    r"""Generate the dijet and nlo samples, run the enhanced bump hunt and the unweighting.

    Prints the significances before and after the anomaly cut, the limits and the
    unweighting checks as JSON; everything is kept in OUTPUT.
    """
    from ..demo_chain import run_demo

    summary = run_demo(output, seed=seed, quick=quick, force=force, device=device,
                       scheduler=scheduler)
    echo_json({k: v for k, v in summary.items() if k != "provenance"})
