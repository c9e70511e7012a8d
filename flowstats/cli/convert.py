r"""``flowstats convert``: LHE -> ROOT, or a slimmed copy of flat ROOT branches."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import click

from . import echo_json, format_option, split_names

__all__ = ["convert"]



def _root_to_lhe(path: str, output: str, tree: str, cut: str | None, force: bool) -> dict:
    """A converted ROOT file (whole LHE records) back to a Les Houches file."""
    from ..io import get_tree, open_root
    from ..io.lhe_writing import read_lhe_blocks, write_lhe

    blocks = read_lhe_blocks(path)
    with open_root(Path(path)) as f:
        t = get_tree(f, tree, path)
        keep = [k for k in t.keys() if k.startswith(("lhe_", "attr_")) or k in (
            "nup", "weight", "process_id", "scale", "aqed", "aqcd", *blocks["weight_ids"])]
        batches = t.iterate(keep, cut=cut, step_size=100_000, library="ak")
        out = write_lhe(output, batches, init=blocks["init"], header=blocks["header"],
                        version=blocks["version"], weight_ids=blocks["weight_ids"],
                        force=force)
    return {"input": path, **out}


@click.command("convert")
@click.argument("inputs", nargs=-1, required=True, metavar="INPUT...")
@click.option("-o", "--output", required=True, type=click.Path(dir_okay=False),
              help="The ROOT file to write (or .lhe/.lhe.gz: ROOT back to LHE).")
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
def convert(inputs: tuple[str, ...], output: str, **options: Any) -> None:
    r"""Convert INPUT.lhe[.gz] to a ROOT TTree (weights, particles, lepton-pair and jet
    observables, the whole event record), copy flat branches of ROOT files (--features) into
    one TTree, or (-o OUT.lhe[.gz]) write a converted ROOT file back as a Les Houches file
    (--cut selects events).

    Prints a JSON summary (numbers of events, negative weights, sums of weights) on stdout.
    """
    from .._utils import check_output
    from ..exceptions import BadInputError
    from ..io.reading import is_lhe

    o = _Options(**options)
    check_output(output, o.force)
    names = split_names(o.features)
    if is_lhe(Path(output)):
        if len(inputs) != 1 or is_lhe(Path(inputs[0])) or names or o.weight is not None:
            raise BadInputError("writing LHE takes one ROOT file written by 'flowstats "
                                "convert' (or 'flowstats unweight' of whole events), without "
                                "--features or --weight")
        echo_json(_root_to_lhe(inputs[0], output, o.in_tree, o.cut, o.force))
        return
    if not names:
        if len(inputs) != 1 or not is_lhe(Path(inputs[0])):
            raise BadInputError("give one .lhe/.lhe.gz input, or --features to copy branches of "
                                "ROOT files")
        if o.weight is not None or o.cut is not None:
            raise BadInputError("--weight and --cut need --features")
        from ..io.lhe import convert_lhe

        echo_json(convert_lhe(inputs[0], output, tree=o.tree, force=o.force,
                              batch_size=o.batch_size, format=o.fmt))
        return
    echo_json(_copy_branches(list(inputs), output, names, o))


@dataclass(frozen=True)
class _Options:
    r"""The options of ``flowstats convert`` besides the inputs and the output."""

    tree: str
    force: bool
    in_tree: str
    features: tuple[str, ...]
    weight: str | None
    cut: str | None
    nonfinite: str
    batch_size: int
    fmt: str


def _copy_branches(inputs: list[str], output: str, names: list[str], o: _Options
                   ) -> dict[str, Any]:
    r"""Copies the flat branches ``names`` (and the weight, and the entry numbers) of ROOT
    files into one tree; the JSON summary."""
    from .. import io
    from .._utils import provenance
    from ..exceptions import BadInputError

    weight = o.weight
    if weight is not None and weight in names:
        raise BadInputError(f"--weight {weight!r} is also one of --features")
    if "entry" in names or weight == "entry":
        raise BadInputError("'entry' is reserved for the entry numbers; rename that branch")
    events = io.read_events(inputs, o.in_tree, names, weight, o.cut, nonfinite=o.nonfinite)
    columns = {name: events.x[:, j].copy() for j, name in enumerate(events.names)}
    if weight is not None:
        columns[weight] = events.weights
    columns["entry"] = events.entries
    config = {"inputs": inputs, "in_tree": o.in_tree, "features": names, "weight": weight,
              "cut": o.cut, "nonfinite": o.nonfinite, "output": output, "tree": o.tree}
    io.write_events(output, o.tree, columns, force=o.force, metadata=provenance(None, config),
                    format=o.fmt)
    return {
        "inputs": inputs,
        "output": output,
        "tree": o.tree,
        "n_events": len(events),
        "features": events.names,
        "weight": weight,
        "cut": o.cut,
        "sum_weights": events.sum_weights,
        "n_eff": events.n_eff,
        "negative_fraction": events.negative_fraction,
    }
