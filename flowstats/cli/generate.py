r"""``flowstats generate``: write the built-in analytic datasets as ROOT files.

``flowstats generate dijet -o OUT.root`` writes the LHC-Olympics-like resonant search sample
(with the truth ``label`` and the exact likelihood ratios ``llr``, ``llr_full``),
``flowstats generate dijet-variant -o OUT.root`` a second one built to differ from it;
``flowstats generate nlo -o OUT.root`` the negatively weighted toy (with ``--truth N`` an
unweighted truth sample in the tree ``truth`` of the same file). A JSON summary is printed on
stdout; the seed, versions and options are stored in the file as the TObjString ``provenance``.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import click
import numpy as np

from . import echo_json, format_option

log = logging.getLogger(__name__)

__all__ = ["generate"]

_OUTPUT = click.option("-o", "--output", required=True, type=click.Path(dir_okay=False),
                       help="Output ROOT file.")
_SEED = click.option("--seed", type=int, default=0, show_default=True,
                     help="Seed of the random numbers (same seed, same events).")
_FORCE = click.option("--force", is_flag=True, help="Overwrite an existing output file.")
_TREE = click.option("--tree", default="events", show_default=True, help="Name of the TTree.")


def _check_count(value: int, option: str, minimum: int = 0) -> None:
    from ..exceptions import BadInputError

    if value < minimum:
        raise BadInputError(f"{option} must be >= {minimum}, got {value}")


@click.group("generate")
def generate() -> None:
    r"""Write a built-in analytic dataset (dijet, dijet-variant, nlo) as a ROOT file."""


def _dijet_options(func):
    r"""The options shared by ``generate dijet`` and ``generate dijet-variant``."""
    for option in reversed([
        _OUTPUT,
        click.option("--n-background", type=int, default=1_000_000, show_default=True,
                     help="Number of background events."),
        click.option("--n-signal", type=int, default=1000, show_default=True,
                     help="Number of signal events."),
        click.option("--m-wprime", type=float, default=3500.0, show_default=True,
                     help="Resonance mass m_W' (GeV)."),
    ]):
        func = option(func)
    return func


def _tail_options(func):
    for option in reversed([_SEED, _TREE, format_option, _FORCE]):
        func = option(func)
    return func


def _write_dijet_like(dataset: str, options: dict[str, Any]) -> None:
    r"""Generates ``dataset`` (``dijet`` or ``dijet-variant``), writes it and prints the summary.

    Arguments:
        dataset: The dataset's command name.
        options: The command's options (output, n_background, n_signal, m_wprime, m_x, m_y,
            seed, tree, fmt, force).
    """
    from .. import _utils
    from ..datasets import dijet, dijet_variant, write

    ds = dijet if dataset == "dijet" else dijet_variant
    o = options
    _check_count(o["n_background"], "--n-background")
    _check_count(o["n_signal"], "--n-signal")
    _check_count(o["seed"], "--seed")
    _utils.check_output(o["output"], o["force"])
    m_wprime, seed, tree = o["m_wprime"], o["seed"], o["tree"]
    config = {"dataset": dataset, "n_background": o["n_background"], "n_signal": o["n_signal"],
              "m_wprime": m_wprime, "m_x": o["m_x"], "m_y": o["m_y"], "seed": seed, "tree": tree}
    columns = ds.generate(o["n_background"], o["n_signal"], m_wprime=m_wprime, m_x=o["m_x"],
                          m_y=o["m_y"], seed=seed)
    path = write(o["output"], columns, tree=tree, force=o["force"], format=o["fmt"],
                 provenance=_utils.provenance(seed, config))
    mjj, label = columns["mjj"], columns["label"]
    window = (mjj > m_wprime - 200.0) & (mjj < m_wprime + 200.0)
    n_sig_w, n_bkg_w = int(label[window].sum()), int((label[window] == 0).sum())
    echo_json({
        "output": str(Path(path)), "tree": tree, "dataset": dataset, "seed": seed,
        "n_events": len(mjj), "n_background": o["n_background"], "n_signal": o["n_signal"],
        "sum_weights": float(len(mjj)),
        "signal_region": [m_wprime - 200.0, m_wprime + 200.0],
        "signal_region_counts": {"background": n_bkg_w, "signal": n_sig_w},
        "signal_region_s_over_b": n_sig_w / n_bkg_w if n_bkg_w else None,
        "branches": list(columns),
    })


@generate.command("dijet")
@_dijet_options
@click.option("--m-x", type=float, default=500.0, show_default=True, help="Mass of X (GeV).")
@click.option("--m-y", type=float, default=100.0, show_default=True, help="Mass of Y (GeV).")
@_tail_options
def dijet(**options: Any) -> None:
    r"""LHC-Olympics-like dijet sample: QCD-like background + W' -> X Y signal.

    Branches: mjj, mj1, mj2, delta_mj, tau21_j1, tau21_j2 (GeV), label (1 = signal), llr
    (exact log p_sig(x|mjj) - log p_bkg(x|mjj)) and llr_full (including the mjj densities).
    """
    _write_dijet_like("dijet", options)


@generate.command("dijet-variant")
@_dijet_options
@click.option("--m-x", type=float, default=250.0, show_default=True, help="Mass of X (GeV).")
@click.option("--m-y", type=float, default=90.0, show_default=True, help="Mass of Y (GeV).")
@_tail_options
def dijet_variant(**options: Any) -> None:
    r"""A second LHC-Olympics-like sample built to differ from 'dijet' (other jet-mass and
    tau21 shapes and correlations, signal X = 250 GeV, Y = 90 GeV, a fifth feature eta_j1
    that carries no information).

    Branches: as 'dijet' plus eta_j1; llr and llr_full use all five features.
    """
    _write_dijet_like("dijet-variant", options)


@generate.command("nlo")
@_OUTPUT
@click.option("-n", "--n-events", "n", type=int, default=200_000, show_default=True,
              help="Number of weighted events.")
@click.option("--negative-fraction", type=float, default=0.2, show_default=True,
              help="Expected fraction of negatively weighted events (0 <= f < 0.5).")
@click.option("--truth", "n_truth", type=int, default=0, show_default=True,
              help="Also write N unweighted events of the truth density to the tree 'truth'.")
@_SEED
@_TREE
@format_option
@_FORCE
def nlo(output: str, n: int, negative_fraction: float, n_truth: int, seed: int, tree: str,
        fmt: str, force: bool) -> None:
    r"""Negatively weighted NLO-like toy: Z-like pt, y, m and njet with +-w weights.

    The weights sum to 1000 pb in expectation and the weighted distribution converges to the
    known truth density; dropping the negative events biases it. The truth tree (--truth N)
    holds pt, y, m, njet of N unweighted truth events, independent of the weighted ones.
    """
    from .. import _utils
    from ..datasets import nlo as ds
    from ..datasets import write
    from ..exceptions import BadInputError

    _check_count(n, "-n/--n-events", minimum=1)
    _check_count(n_truth, "--truth")
    _check_count(seed, "--seed")
    _utils.check_output(output, force)
    if n_truth and tree == "truth":
        raise BadInputError("--tree 'truth' clashes with the truth tree written by --truth; "
                            "choose another --tree")
    config = {"dataset": "nlo", "n": n, "negative_fraction": negative_fraction,
              "n_truth": n_truth, "seed": seed, "tree": tree}
    columns = ds.generate(n, negative_fraction=negative_fraction, seed=seed)
    trees: dict[str, Any] = {}
    if n_truth:
        # equals nlo.truth(n_truth, seed=seed): default_rng(seed) is a stream independent of
        # the ones generate() spawns from SeedSequence(seed)
        trees["truth"] = ds.truth(n_truth, seed=seed)
    path = write(output, columns, tree=tree, force=force, trees=trees, format=fmt,
                 provenance=_utils.provenance(seed, config))
    w = columns["weight"]
    echo_json({
        "output": str(Path(path)), "tree": tree, "dataset": "nlo", "seed": seed,
        "n_events": len(w), "n_negative": int((w < 0).sum()),
        "negative_fraction": float((w < 0).mean()),
        "negative_fraction_requested": negative_fraction,
        "sum_weights": float(w.sum()), "sigma": ds.SIGMA, "abs_weight": float(np.abs(w[0])),
        "n_truth": n_truth, "truth_tree": "truth" if n_truth else None,
        "branches": list(columns),
    })
