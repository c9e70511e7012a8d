r"""``flowstats convert``: LHE -> ROOT, or a slimmed copy of flat ROOT branches."""

from __future__ import annotations

from pathlib import Path

import click

from . import echo_json, format_option

__all__ = ["convert"]


def _split(values: tuple[str, ...]) -> list[str]:
    return [v.strip() for value in values for v in value.split(",") if v.strip()]


@click.command("convert")
@click.argument("inputs", nargs=-1, required=True, metavar="INPUT...")
@click.option("-o", "--output", required=True, type=click.Path(dir_okay=False),
              help="The ROOT file to write.")
@click.option("--tree", default="events", show_default=True, help="Name of the output TTree.")
@click.option("--force", is_flag=True, help="Overwrite an existing output.")
@format_option
@click.option("--in-tree", default="events", show_default=True,
              help="TTree of ROOT inputs (with --features).")
@click.option("--features", "features", multiple=True, metavar="A,B,...",
              help="Copy only these flat branches (comma-separated or repeated); needed for "
                   "ROOT inputs. An entry branch 'entry' is added.")
@click.option("--weight", default=None, help="Weight branch to copy (with --features).")
@click.option("--cut", default=None, help="Selection, e.g. '(NMuon >= 2) & (MET_px > 0)'.")
@click.option("--nonfinite", type=click.Choice(["raise", "drop"]), default="raise",
              show_default=True, help="Refuse, or drop, events with NaN/inf values.")
@click.option("--batch-size", default=50_000, show_default=True, type=click.IntRange(min=1),
              help="LHE events converted at a time.")
def convert(inputs: tuple[str, ...], output: str, tree: str, force: bool, in_tree: str,
            features: tuple[str, ...], weight: str | None, cut: str | None, nonfinite: str,
            batch_size: int, fmt: str) -> None:
    r"""Convert INPUT.lhe[.gz] to a ROOT TTree (weights, particles, lepton-pair and jet
    observables), or copy flat branches of ROOT files (--features) into one TTree.

    Prints a JSON summary (numbers of events, negative weights, sums of weights) on stdout.
    """
    from .. import io
    from .._utils import check_output, provenance
    from ..exceptions import BadInputError
    from ..io.reading import is_lhe

    check_output(output, force)
    names = _split(features)
    if not names:
        if len(inputs) != 1 or not is_lhe(Path(inputs[0])):
            raise BadInputError("give one .lhe/.lhe.gz input, or --features to copy branches of "
                                "ROOT files")
        if weight is not None or cut is not None:
            raise BadInputError("--weight and --cut need --features")
        from ..io.lhe import convert_lhe

        echo_json(convert_lhe(inputs[0], output, tree=tree, force=force,
                              batch_size=batch_size, format=fmt))
        return

    if weight is not None and weight in names:
        raise BadInputError(f"--weight {weight!r} is also one of --features")
    if "entry" in names or weight == "entry":
        raise BadInputError("'entry' is reserved for the entry numbers; rename that branch")
    events = io.read_events(list(inputs), in_tree, names, weight, cut, nonfinite=nonfinite)
    columns = {name: events.x[:, j].copy() for j, name in enumerate(events.names)}
    if weight is not None:
        columns[weight] = events.weights
    columns["entry"] = events.entries
    config = {"inputs": list(inputs), "in_tree": in_tree, "features": names, "weight": weight,
              "cut": cut, "nonfinite": nonfinite, "output": output, "tree": tree}
    io.write_events(output, tree, columns, force=force, metadata=provenance(None, config),
                    format=fmt)
    echo_json({
        "inputs": list(inputs),
        "output": output,
        "tree": tree,
        "n_events": len(events),
        "features": events.names,
        "weight": weight,
        "cut": cut,
        "sum_weights": events.sum_weights,
        "n_eff": events.n_eff,
        "negative_fraction": events.negative_fraction,
    })
