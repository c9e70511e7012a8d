r"""Splitting feature input (an (n, d) array or a mapping of columns) into columns."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np

from ..exceptions import BadInputError, BranchNotFoundError


def split_columns(x: np.ndarray | Mapping[str, np.ndarray], names: Sequence[str],
                  what: str) -> tuple[np.ndarray, ...]:
    r"""Returns the columns ``names`` of ``x`` as float64 arrays.

    Arguments:
        x: An (n, len(names)) array in ``names`` order, or a mapping of columns.
        names: The expected column names.
        what: What the columns are, for messages (e.g. "dijet features").
    """
    if isinstance(x, Mapping):
        cols = []
        for name in names:
            if name not in x:
                raise BranchNotFoundError(name, f"the {what} columns", list(x))
            cols.append(np.asarray(x[name], dtype=np.float64))
        return tuple(cols)
    x = np.asarray(x, dtype=np.float64)
    if x.ndim != 2 or x.shape[1] != len(names):
        raise BadInputError(f"{what} must be an (n, {len(names)}) array with columns "
                            f"{list(names)}, got shape {x.shape}")
    return tuple(x[:, i] for i in range(len(names)))
