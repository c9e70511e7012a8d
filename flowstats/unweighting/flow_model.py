r"""The unweighting model: flows per category of point masses (atoms), with their fractions.

Real NLO samples have observables with a point mass: an MC@NLO event without a real emission has
:math:`p_T(\ell\ell) = 0` exactly (43 % of the FxFx Z+jets events). A continuous flow cannot
put probability on a single value, so the events are split into categories by which features
sit on such an atom (a value holding at least ``atom_fraction`` of the events). Each category
gets

* its weighted fraction :math:`\sum_{c} w / \sum w` (from the training events),
* the values of the features that are constant in it (e.g. :math:`p_T = 0`, ``n_partons = 0``),
* a :class:`~flowstats.flows.Flow` of the other features, trained on the category's weighted
  events.

Sampling draws the category counts from a multinomial with these fractions (i.i.d. events),
samples each flow, and shuffles. Without atoms there is one category and one flow.

Directory layout (``save``): ``unweight_model.json`` (features, categories, fractions) and one
Flow directory per category, ``flow_0``, ``flow_1``, ... A plain Flow directory (e.g. from
``flowstats train``) also loads, as a one-category model.

References:
    B. Stienen and R. Verheyen, SciPost Phys. 10 (2021) 038, arXiv:2011.13445.
"""

from __future__ import annotations

import json
import logging
import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from .. import __version__
from .._utils import write_json
from ..exceptions import BadInputError, IncompatibleModelError, WeightSumError

log = logging.getLogger(__name__)

__all__ = ["Category", "MarginalMap", "UnweightModel", "detect_atoms"]

MANIFEST = "unweight_model.json"


def detect_atoms(x: np.ndarray, names: Sequence[str], *, exclude: Sequence[str] = (),
                 min_fraction: float = 0.02) -> dict[str, float]:
    r"""Point masses of continuous features: a single value held by many events.

    Arguments:
        x: (n, d) events.
        names: Feature names.
        exclude: Features never treated as having an atom (e.g. integer ones).
        min_fraction: The most frequent value must hold at least this fraction of the events.
    """
    atoms: dict[str, float] = {}
    for k, name in enumerate(names):
        if name in exclude or len(x) == 0:
            continue
        values, counts = np.unique(x[:, k], return_counts=True)
        top = int(np.argmax(counts))
        if counts[top] >= max(2, min_fraction * len(x)) and len(values) > 1:
            atoms[name] = float(values[top])
    return atoms


@dataclass
class MarginalMap:
    r"""Monotone piecewise-linear map of one feature onto (0, 1), its empirical CDF.

    The knots are quantiles of the training positions (unweighted: with negative weights the
    weighted CDF need not be monotonic), from the minimum to the maximum, mapped to
    :math:`[1/2n, 1 - 1/2n]`; the flow then sees :math:`u \in (0, 1)` through its logit map
    (``bounds=(0, 1)``), i.e. near-logistic marginals, and models the correlations. A sharp
    peak (the Z line shape in m_ll) or a steeply falling spectrum needs no spline resolution,
    and generated values stay within the training range (up to :math:`1/2n` of probability
    at each end, extrapolated linearly). For maximum likelihood nothing changes: the map is
    fixed, so its Jacobian adds a constant to the loss.

    Arguments:
        x_knots: Strictly increasing knots in (log-)feature space.
        u_knots: Their images in (0, 1), strictly increasing.
        log: Whether the feature is log-transformed first (positive features).
    """

    x_knots: np.ndarray
    u_knots: np.ndarray
    log: bool = False

    @classmethod
    def fit(cls, x: np.ndarray, *, log: bool = False, knots: int | None = None
            ) -> MarginalMap | None:
        r"""Knots at quantiles of ``x``; None when ``x`` has too few distinct values.

        Arguments:
            x: 1-D training values.
            log: Log-transform first (requires x > 0).
            knots: Number of knots (default: n / 100 clipped to [16, 128]).
        """
        y = np.log(x) if log else np.asarray(x, dtype=np.float64)
        n = len(y)
        k = knots or int(np.clip(n // 100, 16, 128))
        levels = np.linspace(0.0, 1.0, k)
        xk, idx = np.unique(np.quantile(y, levels), return_index=True)
        if len(xk) < 3:
            return None
        return cls(xk, 0.5 / n + levels[idx] * (1 - 1 / n), log)

    @staticmethod
    def _interp(v: np.ndarray, a: np.ndarray, b: np.ndarray) -> np.ndarray:
        out = np.interp(v, a, b)
        lo, hi = v < a[0], v > a[-1]
        out[lo] = b[0] + (v[lo] - a[0]) * (b[1] - b[0]) / (a[1] - a[0])
        out[hi] = b[-1] + (v[hi] - a[-1]) * (b[-1] - b[-2]) / (a[-1] - a[-2])
        return out

    def forward(self, x: np.ndarray) -> np.ndarray:
        r"""Feature values -> u in (0, 1) (for training values)."""
        y = np.log(x) if self.log else np.asarray(x, dtype=np.float64)
        return self._interp(y, self.x_knots, self.u_knots)

    def inverse(self, u: np.ndarray) -> np.ndarray:
        r"""u in [0, 1] -> feature values."""
        y = self._interp(np.asarray(u, dtype=np.float64), self.u_knots, self.x_knots)
        return np.exp(y) if self.log else y

    def to_dict(self) -> dict[str, Any]:
        r"""JSON-friendly parameters."""
        return {"x_knots": self.x_knots.tolist(), "u_knots": self.u_knots.tolist(),
                "log": self.log}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> MarginalMap:
        r"""Inverse of :meth:`to_dict`."""
        return cls(np.asarray(data["x_knots"], float), np.asarray(data["u_knots"], float),
                   bool(data["log"]))


@dataclass
class Category:
    r"""One category: its fraction, fixed feature values and the flow of the other features.

    Arguments:
        fraction: Weighted fraction of the cross-section in this category.
        fixed: Feature -> value, for the features constant in the category.
        features: The features modelled by ``flow`` (empty when all are fixed).
        flow: The flow (None when all features are fixed).
        clip: Feature -> (low, high) ranges of integer features (generated values are clipped).
        n_train: Training events in the category.
        label: A short description (e.g. ``"pT_ll=0"``).
        maps: Feature -> :class:`MarginalMap` applied before the flow.
    """

    fraction: float
    fixed: dict[str, float]
    features: list[str]
    flow: Any = None
    clip: dict[str, tuple[float, float]] = field(default_factory=dict)
    n_train: int = 0
    label: str = "all"
    maps: dict[str, MarginalMap] = field(default_factory=dict)

    def describe(self) -> dict[str, Any]:
        r"""JSON-friendly description (no flow)."""
        return {"label": self.label, "fraction": self.fraction, "fixed": self.fixed,
                "features": self.features, "clip": {k: list(v) for k, v in self.clip.items()},
                "n_train": self.n_train,
                "maps": {k: m.to_dict() for k, m in self.maps.items()}}


@dataclass(frozen=True)
class FitOptions:
    r"""How :meth:`UnweightModel.fit` splits the events into categories and maps the features.

    Arguments:
        discrete: Integer features (dequantised; bounded to their observed range).
        positive: Log-mapped features, or ``"auto"``: those > 0 within each category.
        bounds: ``{feature: (low, high)}`` of bounded features (logit map).
        atom_fraction: See :func:`detect_atoms`; 0 or less disables the categories.
        marginal_maps: Map each continuous feature onto its empirical CDF in (0, 1) before the
            flow (:class:`MarginalMap`; the flow's logit map follows); positive features are
            log-transformed first.
        split_on: Integer features whose every value gets its own category (exact weighted
            fractions, one flow of the other features per value) instead of being dequantised;
            best for a few values such as a jet multiplicity.
        members: Flows per category trained with different seeds and sampled as an equal
            mixture (a :class:`~flowstats.flows.Ensemble`), which averages out the training
            noise of single flows.
        min_category_events: Categories with fewer events are dropped (with a warning, their
            cross-section fraction goes to the others).
        flow_options: Keyword arguments of :class:`~flowstats.flows.Flow`.
        fit_options: Keyword arguments of :meth:`~flowstats.flows.Flow.fit`.
        seed: Seed of category ``c``'s flow is ``seed + c``.
    """

    discrete: Sequence[str] = ()
    positive: Sequence[str] | str = "auto"
    bounds: Mapping[str, Sequence[float]] | None = None
    atom_fraction: float = 0.02
    marginal_maps: bool = True
    split_on: Sequence[str] = ()
    members: int = 1
    min_category_events: int = 50
    flow_options: Mapping[str, Any] | None = None
    fit_options: Mapping[str, Any] | None = None
    seed: int = 0

    def __post_init__(self) -> None:
        object.__setattr__(self, "discrete", list(self.discrete))
        object.__setattr__(self, "split_on", [str(f) for f in self.split_on])


def _categories(x: np.ndarray, features: list[str], opts: FitOptions
                ) -> tuple[dict[str, float], np.ndarray, np.ndarray]:
    r"""The atoms, and each event's category: the distinct rows of (atom hit, split value)."""
    for f in opts.split_on:
        if f not in features:
            raise BadInputError(f"split_on: {f!r} is not one of the features {features}")
    atoms = (detect_atoms(x, features, exclude=[*opts.discrete, *opts.split_on],
                          min_fraction=opts.atom_fraction) if opts.atom_fraction > 0 else {})
    if atoms:
        log.info("point masses found: %s; one flow per category", atoms)
    cols = [features.index(a) for a in atoms]
    pattern = np.column_stack(
        [(x[:, cols] == np.array(list(atoms.values()))).astype(np.float64)
         if cols else np.zeros((len(x), 0)),
         x[:, [features.index(f) for f in opts.split_on]]])
    keys, inverse = np.unique(pattern, axis=0, return_inverse=True)
    return atoms, keys, np.asarray(inverse).reshape(-1)


def _maps(cat: Category, xf: np.ndarray, opts: FitOptions
          ) -> tuple[list[str], list[str], dict[str, tuple[float, float]]]:
    r"""The positive, discrete and bounded features of a category's flow; fills ``cat.clip``
    and ``cat.maps`` and maps ``xf`` (its free features) in place."""
    free = cat.features
    disc = [f for f in free if f in opts.discrete]
    if isinstance(opts.positive, str) and opts.positive == "auto":
        pos = [f for j, f in enumerate(free) if f not in disc and xf[:, j].min() > 0]
    else:
        pos = [f for f in opts.positive if f in free]
    bnd = {k: tuple(v) for k, v in (opts.bounds or {}).items() if k in free}
    for f in disc:
        col = xf[:, free.index(f)]
        cat.clip[f] = (float(col.min()), float(col.max()))
        if f not in bnd and f not in pos:
            bnd[f] = (float(col.min()), float(col.max()) + 1.0)
    if opts.marginal_maps:
        for j, f in enumerate(free):
            if f in disc or f in bnd:
                continue
            m = MarginalMap.fit(xf[:, j], log=f in pos)
            if m is not None:
                cat.maps[f] = m
                xf[:, j] = m.forward(xf[:, j])
                bnd[f] = (0.0, 1.0)
        pos = [f for f in pos if f not in cat.maps]
    return pos, disc, bnd


class UnweightModel:
    r"""Flows per atom category, sampled with the categories' weighted fractions.

    Arguments:
        features: All feature names, in column order.
        categories: The categories.
        atoms: Feature -> atom value used to define the categories.
    """

    def __init__(self, features: Sequence[str], categories: Sequence[Category],
                 atoms: Mapping[str, float] | None = None) -> None:
        self.features = list(features)
        self.categories = list(categories)
        self.atoms = dict(atoms or {})
        self.histories: dict[str, dict[str, Any]] = {}
        self.dropped: list[dict[str, Any]] = []

    # ------------------------------------------------------------------ training

    @classmethod
    def fit(cls, x: np.ndarray, weights: np.ndarray, features: Sequence[str],
            **options: Any) -> UnweightModel:
        r"""Finds the atom categories and trains one flow per category.

        Arguments:
            x: (n, d) training events (validation included; ``Flow.fit`` splits it).
            weights: Their weights (any sign, positive sum per category).
            features: Feature names.
            options: The fields of :class:`FitOptions`.
        """
        opts = FitOptions(**options)
        if opts.members < 1:
            raise BadInputError(f"members must be >= 1, got {opts.members}")
        features = list(features)
        x = np.asarray(x, dtype=np.float64)
        w = np.asarray(weights, dtype=np.float64)
        atoms, keys, inverse = _categories(x, features, opts)
        total = float(w.sum())
        if total <= 0:
            raise WeightSumError(f"the training weights sum to {total:.6g} <= 0")
        categories: list[Category] = []
        model = cls(features, [], atoms)
        for c, key in enumerate(keys):
            sel = inverse == c
            xc, wc = x[sel], w[sel]
            parts = [f"{a}{'=' if on else '!='}{v:g}"
                     for (a, v), on in zip(atoms.items(), key[:len(atoms)])]
            parts += [f"{f}={v:g}" for f, v in zip(opts.split_on, key[len(atoms):])]
            label = ", ".join(parts) or "all"
            frac = float(wc.sum()) / total
            if sel.sum() < opts.min_category_events or frac <= 0:
                log.warning("category %s dropped: %d events, weighted fraction %.4f (needs >= "
                            "%d events and a positive fraction)", label, sel.sum(), frac,
                            opts.min_category_events)
                model.dropped.append({"label": label, "n_train": int(sel.sum()),
                                      "fraction": frac})
                continue
            categories.append(model._fit_category(xc, wc, c, label, frac, opts))
        if not categories:
            raise BadInputError("no category of events has enough events and a positive sum "
                                "of weights to be modelled")
        norm = sum(cat.fraction for cat in categories)
        for cat in categories:
            cat.fraction /= norm
        model.categories = categories
        return model

    def _fit_category(self, xc: np.ndarray, wc: np.ndarray, c: int, label: str, frac: float,
                      opts: FitOptions) -> Category:
        r"""The category ``c`` (events ``xc``, weights ``wc``) with its maps and flow(s)."""
        from ..flows import Ensemble, Flow

        features = self.features
        const = {name: float(xc[0, k]) for k, name in enumerate(features)
                 if np.all(xc[:, k] == xc[0, k])}
        free = [f for f in features if f not in const]
        cat = Category(fraction=frac, fixed=const, features=free, n_train=int(len(xc)),
                       label=label)
        if not free:
            return cat
        xf = xc[:, [features.index(f) for f in free]].copy()
        pos, disc, bnd = _maps(cat, xf, opts)
        log.info("category %s: %d events, fraction %.4f, flow of %s", label, len(xc), frac,
                 free)
        flows = []
        for k in range(opts.members):
            flow = Flow(free, positive=pos, discrete=disc, bounds=bnd,
                        seed=opts.seed + c + 100 * k, **dict(opts.flow_options or {}))
            name = label if opts.members == 1 else f"{label} #{k}"
            self.histories[name] = flow.fit(xf, wc, **dict(opts.fit_options or {}))
            flows.append(flow)
        cat.flow = flows[0] if opts.members == 1 else Ensemble(flows)
        return cat

    # ------------------------------------------------------------------ sampling

    def sample(self, n: int, *, seed: int = 0, batch_size: int = 8192) -> np.ndarray:
        r"""Draws ``n`` unweighted events, shape ``(n, d)``, categories mixed.

        Arguments:
            n: Number of events.
            seed: Seeds the category counts, each flow's draw and the shuffle.
            batch_size: Events generated at once per flow (memory grows with it: ~0.7 GB
                for 65536 events of a 4-transform 64x64 spline flow; speed does not).
        """
        rng = np.random.default_rng([int(seed), 11])
        fractions = np.array([c.fraction for c in self.categories])
        counts = rng.multinomial(int(n), fractions / fractions.sum())
        out = np.empty((int(n), len(self.features)))
        start = 0
        for c, (cat, m) in enumerate(zip(self.categories, counts)):
            rows = slice(start, start + m)
            for name, value in cat.fixed.items():
                out[rows, self.features.index(name)] = value
            if cat.features and m:
                xs = cat.flow.sample(int(m), seed=int(seed) + 1000 * c, batch_size=batch_size)
                for j, name in enumerate(cat.features):
                    col = xs[:, j]
                    if name in cat.maps:
                        col = cat.maps[name].inverse(col)
                    if name in cat.clip:
                        col = np.clip(col, *cat.clip[name])
                    out[rows, self.features.index(name)] = col
            start += m
        return out[rng.permutation(int(n))]

    def to(self, device: str) -> UnweightModel:
        r"""Moves every flow to ``device``."""
        for cat in self.categories:
            for flow in getattr(cat.flow, "members", [cat.flow]):
                if flow is not None:
                    flow.to(device)
        return self

    # ------------------------------------------------------------------ io

    def describe(self) -> dict[str, Any]:
        r"""JSON-friendly description (the manifest)."""
        return {"type": "UnweightModel", "flowstats": __version__, "features": self.features,
                "atoms": self.atoms, "categories": [c.describe() for c in self.categories]}

    def save(self, directory: str | os.PathLike, force: bool = False) -> Path:
        r"""Writes the manifest and one Flow directory per category, atomically.

        Arguments:
            directory: The model directory.
            force: Replace an existing directory.
        """
        from .._utils import atomic_dir

        with atomic_dir(directory, force) as tmp:
            for c, cat in enumerate(self.categories):
                if cat.flow is not None:
                    cat.flow.save(tmp / f"flow_{c}")
            write_json(tmp / MANIFEST, self.describe())
        return Path(directory)

    @classmethod
    def load(cls, directory: str | os.PathLike, *, features: Sequence[str] | None = None,
             device: str = "cpu") -> UnweightModel:
        r"""Reads a model written by :meth:`save`, or a plain Flow directory.

        Arguments:
            directory: The model directory.
            features: The features the caller expects (a mismatch is an error).
            device: Where to put the flows.
        """
        from ..flows import load

        directory = Path(directory)
        manifest = directory / MANIFEST
        if not manifest.is_file():
            flow = load(directory, device=device)
            names = list(flow.features)
            model = cls(names, [Category(1.0, {}, names, flow, label="all")])
            disc = list(getattr(flow, "options", {}).get("discrete", []))
            if disc:
                log.warning("plain flow with integer features %s: generated values are not "
                            "clipped to a range", disc)
        else:
            try:
                data = json.loads(manifest.read_text())
                cats = []
                for c, desc in enumerate(data["categories"]):
                    flow = load(directory / f"flow_{c}", device=device) if desc["features"] \
                        else None
                    maps = {k: MarginalMap.from_dict(v)
                            for k, v in (desc.get("maps") or {}).items()}
                    cats.append(Category(float(desc["fraction"]), dict(desc["fixed"]),
                                         list(desc["features"]), flow,
                                         {k: tuple(v) for k, v in desc["clip"].items()},
                                         int(desc["n_train"]), desc["label"], maps))
                model = cls(data["features"], cats, data.get("atoms"))
            except (KeyError, TypeError, ValueError) as err:
                raise IncompatibleModelError(f"{str(manifest)!r} is not a valid unweighting "
                                             f"model manifest: {err}") from None
        if features is not None and list(features) != model.features:
            raise IncompatibleModelError(f"the model in {str(directory)!r} was trained on "
                                         f"features {model.features}, not {list(features)}")
        return model
