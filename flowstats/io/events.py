r"""The :class:`Events` container: a feature matrix with weights and entry numbers."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from ..exceptions import BadInputError, BranchNotFoundError

__all__ = ["Events"]


@dataclass(eq=False)
class Events:
    r"""Events as a feature matrix with weights and the entry numbers they were read from.

    Arguments:
        x: (n, d) float64 feature matrix.
        names: The d feature names (the column order of ``x``).
        weights: (n,) float64 event weights; ones when no weight branch was read.
        entries: (n,) int64 entry number of each event in the input; with several files the
            entries count on across the files in the order given (global entry numbers).
    """

    x: np.ndarray
    names: list[str]
    weights: np.ndarray = field(default=None)  # type: ignore[assignment]
    entries: np.ndarray = field(default=None)  # type: ignore[assignment]

    def __post_init__(self) -> None:
        self.x = np.asarray(self.x, dtype=np.float64)
        if self.x.ndim == 1 and len(self.names) == 1:
            self.x = self.x[:, None]
        if self.x.ndim != 2:
            raise BadInputError(f"Events.x must be a 2-D (events, features) array, "
                                f"got shape {self.x.shape}")
        self.names = [str(n) for n in self.names]
        n, d = self.x.shape
        if len(self.names) != d:
            raise BadInputError(f"Events has {d} feature columns but {len(self.names)} names")
        if len(set(self.names)) != d:
            raise BadInputError(f"Events feature names repeat: {self.names}")
        self.weights = (np.ones(n) if self.weights is None
                        else np.asarray(self.weights, dtype=np.float64))
        self.entries = (np.arange(n, dtype=np.int64) if self.entries is None
                        else np.asarray(self.entries, dtype=np.int64))
        for what, arr in (("weights", self.weights), ("entries", self.entries)):
            if arr.shape != (n,):
                raise BadInputError(f"Events.{what} has shape {arr.shape}; expected ({n},)")

    def __len__(self) -> int:
        return len(self.x)

    def __repr__(self) -> str:
        return (f"Events(n={len(self)}, names={self.names}, sum_weights={self.sum_weights:.6g}, "
                f"n_eff={self.n_eff:.6g})")

    def column(self, name: str) -> np.ndarray:
        r"""Returns the feature column ``name`` (a view into ``x``).

        Arguments:
            name: A feature name.
        """
        try:
            return self.x[:, self.names.index(name)]
        except ValueError:
            raise BranchNotFoundError(name, "the events' features", self.names) from None

    def select(self, mask: np.ndarray) -> Events:
        r"""Returns the events where ``mask`` is true (or the given indices), as a new Events.

        Arguments:
            mask: A boolean array of length n, or an integer index array.
        """
        mask = np.asarray(mask)
        return Events(self.x[mask], list(self.names), self.weights[mask], self.entries[mask])

    @property
    def sum_weights(self) -> float:
        r"""The sum of the weights."""
        return float(np.sum(self.weights))

    @property
    def n_eff(self) -> float:
        r"""Kish's effective number of events, :math:`(\sum w)^2 / \sum w^2`.

        References:
            L. Kish, "Survey Sampling", Wiley (1965).
        """
        sum_w2 = float(np.dot(self.weights, self.weights))
        return self.sum_weights ** 2 / sum_w2 if sum_w2 > 0 else 0.0

    @property
    def negative_fraction(self) -> float:
        r"""The fraction of events (by count) with a negative weight."""
        return float(np.count_nonzero(self.weights < 0) / len(self)) if len(self) else 0.0
