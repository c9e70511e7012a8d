r"""Ensembles of flows: the density is the (weighted) mean of the members' densities.

Averaging densities over independently seeded models, or over the best epochs of one training
(CATHODE), reduces the variance of a flow's density estimate; the mixture is itself a
normalised density, sampled by picking a member per event with probability equal to its weight.

References:
    | Classifying Anomalies THrough Outer Density Estimation (CATHODE)
    | (Hallin et al., 2022) https://arxiv.org/abs/2109.00546
"""

from __future__ import annotations

import logging
import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
from scipy.special import logsumexp

from .. import __version__
from .._utils import provenance, write_json
from ..exceptions import BadInputError
from . import storage
from .flow import Flow

log = logging.getLogger(__name__)

__all__ = ["Ensemble"]


def _clone(template: Flow, seed: int) -> Flow:
    return Flow.from_options(template.features, template.context, template.options, seed=seed)


class Ensemble:
    r"""A mixture :math:`p(x) = \sum_i a_i\, p_i(x)` of trained flows.

    Arguments:
        members: The trained flows (same features and context).
        weights: The mixture weights :math:`a_i` (normalised here); ``None``: equal.
    """

    def __init__(self, members: Sequence[Flow], weights: Sequence[float] | None = None) -> None:
        members = list(members)
        if not members:
            raise BadInputError("an ensemble needs at least one member")
        first = members[0]
        for i, m in enumerate(members):
            if not isinstance(m, Flow):
                raise BadInputError(f"ensemble member {i} is a {type(m).__name__}, not a Flow")
            if m.features != first.features or m.context != first.context:
                raise BadInputError(f"ensemble member {i} models {m.features}|{m.context}, "
                                    f"member 0 {first.features}|{first.context}")
            m._require_fitted()
        a = np.ones(len(members)) if weights is None else np.asarray(weights, np.float64)
        if a.shape != (len(members),) or not np.all(np.isfinite(a)) or (a < 0).any() \
                or a.sum() <= 0:
            raise BadInputError(f"ensemble weights must be {len(members)} finite non-negative "
                                f"numbers with a positive sum, got {list(a)}")
        self.members = members
        self.weights = a / a.sum()
        self.history: dict[str, Any] = {}

    def __repr__(self) -> str:
        return f"Ensemble({len(self.members)} x {self.members[0]!r})"

    def __len__(self) -> int:
        return len(self.members)

    @property
    def features(self) -> list[str]:
        return self.members[0].features

    @property
    def context(self) -> list[str]:
        return self.members[0].context

    # ------------------------------------------------------------------ constructors

    @classmethod
    def train_seeds(cls, template: Flow, x: np.ndarray, weights: np.ndarray | None = None,
                    context: np.ndarray | None = None, *, k: int = 5,
                    **fit_options: Any) -> Ensemble:
        r"""Trains ``k`` copies of ``template`` with seeds ``template.seed + i``.

        Arguments:
            template: An (untrained) flow giving the architecture and the base seed.
            x: The events.
            weights: The event weights.
            context: The context of a conditional flow.
            k: The number of members.
            fit_options: Passed to :meth:`Flow.fit` (a ``checkpoint_dir`` gets one
                sub-directory per member).
        """
        if k < 1:
            raise BadInputError(f"k must be >= 1, got {k}")
        members = []
        ckpt = fit_options.pop("checkpoint_dir", None)
        for i in range(k):
            flow = _clone(template, template.seed + i)
            sub = None if ckpt is None else Path(ckpt) / f"member_{i}"
            flow.fit(x, weights, context, checkpoint_dir=sub, **fit_options)
            members.append(flow)
        ens = cls(members)
        ens.history = {"method": "seeds", "seeds": [m.seed for m in members],
                       "best_val_loss": [m.history["best_val_loss"] for m in members]}
        return ens

    @classmethod
    def best_epochs(cls, template: Flow, x: np.ndarray, weights: np.ndarray | None = None,
                    context: np.ndarray | None = None, *, k: int = 10,
                    **fit_options: Any) -> Ensemble:
        r"""Trains ``template`` once and keeps the states of its ``k`` best epochs (CATHODE).

        Arguments:
            template: An (untrained) flow; it is trained in place (and left in its best state).
            x: The events.
            weights: The event weights.
            context: The context of a conditional flow.
            k: The number of epochs kept (the lowest weighted validation losses).
            fit_options: Passed to :meth:`Flow.fit`.
        """
        if k < 1:
            raise BadInputError(f"k must be >= 1, got {k}")
        template.fit(x, weights, context, keep_best=k, **fit_options)
        members = []
        for kept in template._kept:
            member = Flow._from_config(template.config(), kept["model"], device=template.device)
            members.append(member)
        ens = cls(members)
        ens.history = {"method": "best_epochs", "epochs": [kk["epoch"] for kk in template._kept],
                       "val_loss": [kk["val"] for kk in template._kept]}
        return ens

    # ------------------------------------------------------------------ evaluate

    def log_prob(self, x: np.ndarray, context: np.ndarray | None = None, *,
                 batch_size: int = 65536, **kwargs: Any) -> np.ndarray:
        r"""Returns :math:`\log \sum_i a_i p_i(x \mid c)` (log of the mean density).

        Arguments:
            x: The points ``(n, d)``.
            context: The context ``(n, c)`` of a conditional ensemble.
            batch_size: Points evaluated at once.
            kwargs: Passed to :meth:`Flow.log_prob`.
        """
        lp = np.stack([m.log_prob(x, context, batch_size=batch_size, **kwargs)
                       for m in self.members])
        with np.errstate(divide="ignore"):
            return logsumexp(lp + np.log(self.weights)[:, None], axis=0)

    def sample(self, n: int, context: np.ndarray | None = None, *, seed: int | None = None,
               batch_size: int = 65536) -> np.ndarray:
        r"""Draws ``n`` events: each picks member ``i`` with probability :math:`a_i`.

        Arguments:
            n: The number of events.
            context: The context ``(n, c)``: one row per event.
            seed: Seeds the draw; ``None``: fresh randomness.
            batch_size: Events generated at once per member.
        """
        n = int(n)
        if n < 0:
            raise BadInputError(f"cannot draw n = {n} events")
        c = self.members[0]._check_context(context, n)
        rng = np.random.default_rng(seed)
        pick = rng.choice(len(self.members), size=n, p=self.weights)
        seeds = rng.integers(0, 2**62, size=len(self.members))
        out = np.empty((n, len(self.features)), dtype=np.float64)
        for i, member in enumerate(self.members):
            idx = np.flatnonzero(pick == i)
            if len(idx):
                out[idx] = member.sample(len(idx), None if c is None else c[idx],
                                         seed=int(seeds[i]), batch_size=batch_size)
        return out

    # ------------------------------------------------------------------ saving and loading

    def save(self, directory: str | os.PathLike, force: bool = False) -> Path:
        r"""Writes ``config.json`` and one Flow directory per member (atomically).

        Arguments:
            directory: The output directory.
            force: Replace an existing directory.
        """
        names = [f"member_{i}" for i in range(len(self.members))]
        with storage.atomic_dir(directory, force) as tmp:
            for name, member in zip(names, self.members):
                member._write(tmp / name)
            config = {"type": "Ensemble", "flowstats": __version__,
                      "features": self.features, "context": self.context,
                      "members": names, "weights": self.weights.tolist(),
                      "history": self.history}
            config["provenance"] = provenance(self.members[0].seed,
                                              {"members": names, "weights": config["weights"]})
            write_json(tmp / "config.json", config)
        return Path(directory)

    @classmethod
    def load(cls, directory: str | os.PathLike, *, features: Sequence[str] | None = None,
             context: Sequence[str] | None = None, device: str = "cpu") -> Ensemble:
        r"""Loads an ensemble written by :meth:`save`.

        Arguments:
            directory: The ensemble directory.
            features: If given, the features the caller expects (a mismatch is an error).
            context: If given, the context features the caller expects.
            device: Where to put the members.
        """
        directory = Path(directory)
        config = storage.read_config(directory)
        storage.check_names(config, "features", features, directory)
        storage.check_names(config, "context", context, directory)
        members = [Flow.load(directory / name, features=config["features"],
                             context=config["context"], device=device)
                   for name in config["members"]]
        ens = cls(members, config["weights"])
        ens.history = dict(config.get("history") or {})
        return ens
