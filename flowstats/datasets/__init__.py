r"""Built-in analytic datasets with exactly known densities, and a ROOT writer for them.

* :mod:`flowstats.datasets.dijet`: an LHC-Olympics-2020-like resonant search sample (background
  and W' -> X Y signal) with the exact likelihood ratio of every event;
* :mod:`flowstats.datasets.dijet_variant`: a second such sample built to differ from it (other
  jet-mass and tau21 shapes and correlations, another signal mass point, a fifth feature that
  carries no information);
* :mod:`flowstats.datasets.nlo`: a negatively weighted toy built like an NLO subtraction
  (positive events plus negative counter events) whose weighted sum converges to a known truth.

:func:`write` stores columns as flat TTrees of a ROOT file (written to a temporary file and
renamed, by :class:`flowstats.io.RootWriter`). The densities are documented in ``docs/guide/datasets.md``.
"""

from __future__ import annotations

import json
import logging
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np

from .._utils import _json_default, check_output
from ..exceptions import BadInputError
from ..io.writing import RootWriter, check_format
from . import dijet, dijet_variant, nlo

log = logging.getLogger(__name__)

__all__ = ["dijet", "dijet_variant", "nlo", "write"]

#: name of the TObjString holding the provenance JSON in files written by :func:`write`
PROVENANCE_KEY = "provenance"


def _check_columns(columns: Mapping[str, Any], tree: str) -> dict[str, np.ndarray]:
    if not isinstance(tree, str) or not tree or "/" in tree or tree == PROVENANCE_KEY:
        raise BadInputError(f"bad tree name {tree!r}: use a non-empty name without '/' "
                            f"other than {PROVENANCE_KEY!r}")
    if not isinstance(columns, Mapping) or not columns:
        raise BadInputError(f"no columns given for tree {tree!r}")
    out: dict[str, np.ndarray] = {}
    length = None
    for name, values in columns.items():
        array = np.asarray(values)
        if array.ndim != 1:
            raise BadInputError(f"column {name!r} of tree {tree!r} must be one-dimensional, "
                                f"got shape {array.shape}")
        if array.dtype.kind not in "biuf":
            raise BadInputError(f"column {name!r} of tree {tree!r} must be numeric or boolean, "
                                f"got dtype {array.dtype}")
        if length is not None and len(array) != length:
            raise BadInputError(f"column {name!r} of tree {tree!r} has {len(array)} entries, "
                                f"the others {length}")
        length = len(array)
        out[str(name)] = np.ascontiguousarray(array)
    return out


def write(path: str | os.PathLike, columns: Mapping[str, Any], tree: str = "events",
          force: bool = False, *, trees: Mapping[str, Mapping[str, Any]] | None = None,
          provenance: Mapping[str, Any] | None = None, step_size: int = 500_000,
          format: str = "ttree") -> Path:
    r"""Writes flat numeric columns as a TTree (or RNTuple) of a new ROOT file, atomically.

    The file is written to a temporary file in the same directory and renamed on success, so
    an interrupted write never leaves a partial file at ``path``.

    Arguments:
        path: The output ROOT file.
        columns: Branch name -> 1-D numeric array (all of the same length).
        tree: Name of the TTree.
        force: Whether an existing ``path`` may be replaced.
        trees: Further TTrees to write into the same file (tree name -> columns).
        provenance: JSON-serialisable metadata (seed, versions, configuration), stored as the
            TObjString ``provenance`` of the file.
        step_size: Number of entries per basket.
        format: ``"ttree"`` (default: every ROOT version reads it) or ``"rntuple"``.

    Returns:
        The path written.
    """
    all_trees = {tree: _check_columns(columns, tree)}
    for name, cols in (trees or {}).items():
        if name in all_trees:
            raise BadInputError(f"tree {name!r} given twice")
        all_trees[name] = _check_columns(cols, name)
    if step_size < 1:
        raise BadInputError(f"step_size must be >= 1, got {step_size}")
    check_format(format)
    path = check_output(path, force)
    with RootWriter(path, force=force) as file:
        for name, cols in all_trees.items():
            file.tree(name, cols, step_size=step_size, format=format, progress=None)
        if provenance is not None:
            file.string(PROVENANCE_KEY, json.dumps(provenance, default=_json_default))
    log.info("wrote %s (%s)", path, ", ".join(f"{k}: {len(next(iter(v.values())))} entries"
                                             for k, v in all_trees.items()))
    return path
