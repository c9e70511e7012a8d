r"""The :class:`Flow`: a weighted, optionally conditional density of named observables.

A :class:`Flow` couples a :class:`~flowstats.flows.preprocessing.Preprocessing` (bijective maps
of the observables, Jacobians included) with a zuko flow (see :mod:`.models`), trained by the
weighted likelihood of :mod:`.loss` with the loop of :mod:`.training`. Every public method takes
and returns numpy arrays in the user's original observables.
"""

from __future__ import annotations

import contextlib
import gc
import logging
import math
import os
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch

from .. import __version__
from .._threads import rebalance
from .._utils import check_finite, resolve_device
from ..exceptions import BadInputError, IncompatibleModelError, WeightSumError
from . import storage, training
from .loss import Objective, n_eff
from .models import Architecture, build_flow, check_architecture
from .preprocessing import Preprocessing, check_names
from .training import FitOptions

log = logging.getLogger(__name__)

__all__ = ["Flow"]


def _names(spec: Sequence[str] | int | str, prefix: str) -> list[str]:
    if isinstance(spec, str):
        spec = [s for s in spec.split(",") if s]
    if isinstance(spec, (int, np.integer)):
        spec = [f"{prefix}{i}" for i in range(int(spec))]
    names = [str(s) for s in spec]
    if len(set(names)) != len(names):
        raise BadInputError(f"duplicate names in {names}")
    return names


#: the objective settings hashed into the checkpoint fingerprint of a plain fit (those of
#: older versions, so that their checkpoints still resume)
_LEGACY_KEY = (0.01, True)


def _check_weight_sum(w: np.ndarray) -> float:
    r"""The weight sum, checked to be positive."""
    if not (w != 0).any():
        raise WeightSumError(f"all {len(w)} event weights are zero: nothing to learn")
    total = float(w.sum())
    if total <= 0:
        raise WeightSumError(f"the event weights sum to {total:g} <= 0 (negative fraction "
                             f"{np.mean(w < 0):.1%}): no density can be learnt")
    return total


class Flow:
    r"""A normalizing flow for weighted (also negatively weighted) events.

    Arguments:
        features: The feature names (or their number).
        context: The context (conditioning) feature names (or their number); empty for an
            unconditional flow.
        architecture: An :class:`~flowstats.flows.models.Architecture` (or just its
            ``kind``); its fields can also be given as keywords (``overrides``), which replace
            its values: ``kind``, ``transforms``, ``hidden``, ``bins``, ``base``, ``nu``,
            ``trace``, ``activation`` below.
        kind: ``"nsf"`` (autoregressive rational-quadratic splines, the default), ``"maf"``
            (autoregressive affine), ``"realnvp"`` (affine coupling) or ``"cnf"`` (continuous,
            FFJORD); see :mod:`.models`.
        transforms: The number of autoregressive (coupling) transforms.
        hidden: The hidden layer sizes of each transform's network.
        bins: The number of spline bins.
        bounds: ``{feature: (lower, upper)}`` of bounded observables (logit map).
        positive: Strictly positive observables (log map).
        discrete: Integer observables (dequantised; see :mod:`.preprocessing`).
        seed: Seeds the initialisation, the train/validation split, the shuffles and the
            dequantisation noise.
        spline_bound: Half-width of the spline domain in standardised units; ``None`` picks
            ``max(5, 1.1 * max|z|)`` over the training data, so that no training event falls in
            the region where zuko's splines are the identity.
        base: The base distribution, ``"normal"`` or ``"studentt"`` (``nu`` degrees of freedom).
        nu: Degrees of freedom of the Student-t base (1: Cauchy, J. Tan's choice).
        trace: Log-determinant of the ``"cnf"``: ``"exact"`` or ``"hutchinson"``.
        activation: Activation of the transforms' networks (``"relu"``, ``"elu"``, ``"silu"``,
            ``"gelu"``, ``"tanh"``; None: zuko's, ReLU or the cnf's ELU); see :mod:`.models`.

    Example:
        >>> flow = Flow(["pt", "y"], positive=["pt"])
        >>> history = flow.fit(x, weights, epochs=50)
        >>> flow.log_prob(x[:10]); flow.sample(1000, seed=1)

    References:
        | Neural Spline Flows (Durkan et al., 2019) https://arxiv.org/abs/1906.04032
        | Phase space sampling and inference from weighted events with autoregressive flows
        | (Stienen & Verheyen, 2021) https://arxiv.org/abs/2011.13445
    """

    def __init__(
        self,
        features: Sequence[str] | int,
        context: Sequence[str] | int = (),
        *,
        architecture: Architecture | str | None = None,
        bounds: Mapping[str, Sequence[float]] | None = None,
        positive: Sequence[str] = (),
        discrete: Sequence[str] = (),
        seed: int = 0,
        spline_bound: float | None = None,
        **overrides: Any,
    ) -> None:
        self.features = _names(features, "x")
        self.context = _names(context, "c")
        if not self.features:
            raise BadInputError("a flow needs at least one feature")
        clash = sorted(set(self.features) & set(self.context))
        if clash:
            raise BadInputError(f"{clash} are both features and context")
        try:
            a = Architecture.of(architecture, **overrides)
        except TypeError as err:
            what = str(err).removeprefix("unexpected architecture ")
            raise TypeError(f"Flow() got an unexpected {what}") from None
        kind = check_architecture(a.kind, len(self.features), base=a.base, nu=a.nu,
                                  trace=a.trace, activation=a.activation)
        self.options: dict[str, Any] = {
            "kind": kind, "transforms": int(a.transforms), "hidden": [int(h) for h in a.hidden],
            "bins": int(a.bins), "spline_bound": None if spline_bound is None
            else float(spline_bound),
            "bounds": {str(k): [float(v) for v in b] for k, b in (bounds or {}).items()},
            "positive": [str(p) for p in positive], "discrete": [str(p) for p in discrete],
            "base": str(a.base), "nu": float(a.nu), "trace": str(a.trace),
            "activation": None if a.activation is None else str(a.activation),
        }
        self.seed = int(seed)
        if self.seed < 0:
            raise BadInputError(f"seed must be a non-negative integer, got {seed}")
        check_names(list(self.options["bounds"]), self.features, "bounds")
        check_names(self.options["positive"], self.features, "positive")
        check_names(self.options["discrete"], self.features, "discrete")
        self.pre: Preprocessing | None = None
        self.cpre: Preprocessing | None = None
        self.bound: float | None = None
        self.module: torch.nn.Module | None = None
        self.history: dict[str, Any] = {}
        self.device = "cpu"
        self._kept: list[dict[str, Any]] = []

    # ------------------------------------------------------------------ helpers

    def __repr__(self) -> str:
        cond = f", context={self.context}" if self.context else ""
        state = "fitted" if self.fitted else "not fitted"
        return f"Flow({self.features}{cond}, kind={self.options['kind']!r}, {state})"

    @property
    def fitted(self) -> bool:
        return self.module is not None

    @property
    def architecture(self) -> Architecture:
        r"""The :class:`~flowstats.flows.models.Architecture` of the zuko model."""
        o = self.options
        return Architecture(kind=o["kind"], transforms=o["transforms"], hidden=o["hidden"],
                            bins=o["bins"], base=o["base"], nu=o["nu"], trace=o["trace"],
                            activation=o.get("activation"))

    @property
    def conditional(self) -> bool:
        return bool(self.context)

    def _require_fitted(self) -> None:
        if not self.fitted:
            raise BadInputError("the flow is not trained yet: call fit() or Flow.load()")

    def _build(self) -> None:
        self.module = build_flow(self.architecture, len(self.features), len(self.context),
                                 bound=self.bound or 5.0, seed=self.seed)
        self.module.to(self.device)

    def to(self, device: str) -> Flow:
        r"""Moves the model to ``device`` (``auto``, ``cpu``, ``cuda``); returns ``self``."""
        self.device = resolve_device(device)
        if self.module is not None:
            self.module.to(self.device)
        return self

    def _check_x(self, x: Any, what: str = "x") -> np.ndarray:
        x = np.asarray(x, dtype=np.float64)
        d = len(self.features)
        if x.ndim == 1 and d == 1:
            x = x[:, None]
        if x.ndim != 2 or x.shape[1] != d:
            raise BadInputError(f"{what} has shape {x.shape} but the flow has {d} features "
                                f"{self.features}: expected (n, {d})")
        return x

    def _check_context(self, context: Any, n: int | None) -> np.ndarray | None:
        if not self.context:
            if context is not None:
                raise BadInputError("context given, but the flow is unconditional "
                                    "(build it with Flow(features, context=[...]))")
            return None
        if context is None:
            raise BadInputError(f"the flow is conditional on {self.context}: pass context= "
                                f"with shape (n, {len(self.context)})")
        c = np.asarray(context, dtype=np.float64)
        k = len(self.context)
        if c.ndim == 1 and k == 1:
            c = c[:, None]
        if c.ndim != 2 or c.shape[1] != k or (n is not None and len(c) != n):
            want = f"({n if n is not None else 'n'}, {k})"
            raise BadInputError(f"context has shape {c.shape}; expected {want} for context "
                                f"features {self.context}")
        check_finite(c, "context", self.context)
        return c

    def _to_z(self, x: np.ndarray, c: np.ndarray | None, noise: np.ndarray | None = None
              ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor | None]:
        r"""float64 preprocessing on the device, float32 results."""
        xt = torch.as_tensor(x, dtype=torch.float64, device=self.device)
        if noise is not None:
            xt = xt + torch.as_tensor(noise, dtype=torch.float64, device=self.device)
        z, ladj = self.pre.forward(xt)
        ct = None
        if c is not None:
            ct = self.cpre.forward(torch.as_tensor(c, dtype=torch.float64, device=self.device))[0]
            ct = ct.float()
        return z.float(), ladj.float(), ct

    def _batches(self, x: np.ndarray, c: np.ndarray | None, batch_size: int) -> Any:
        r"""Yields ``(slice, z, ladj, ok, context)`` per batch (call it under ``no_grad``).

        ``z`` is the preprocessed batch with the points outside a feature's domain (``ok``
        False: non-finite Jacobian) set to 0, so that the flow can be evaluated on all rows.
        """
        if int(batch_size) < 1:
            raise BadInputError(f"batch_size must be >= 1, got {batch_size}")
        for s in range(0, len(x), int(batch_size)):
            rebalance()
            sl = slice(s, s + int(batch_size))
            z, ladj, ct = self._to_z(x[sl], None if c is None else c[sl])
            ok = torch.isfinite(ladj)
            yield sl, torch.where(ok[:, None], z, torch.zeros_like(z)), ladj, ok, ct
            del z, ladj, ct
            gc.collect(0)  # see sample()

    def _noise(self, n: int, rng: np.random.Generator) -> np.ndarray | None:
        if not self.pre.discrete.any():
            return None
        u = rng.uniform(1e-6, 1 - 1e-6, size=(n, len(self.features)))
        return u * self.pre.discrete

    # ------------------------------------------------------------------ fit

    def fit(
        self,
        x: np.ndarray,
        weights: np.ndarray | None = None,
        context: np.ndarray | None = None,
        *,
        options: FitOptions | None = None,
        objective: Objective | None = None,
        **overrides: Any,
    ) -> dict[str, Any]:
        r"""Trains the flow by weighted maximum likelihood; returns the history.

        Arguments:
            x: The events, shape ``(n, d)`` in the original observables.
            weights: The event weights ``(n,)`` (negative allowed, positive sum); ``None``
                for unit weights.
            context: The context ``(n, c)`` of a conditional flow.
            options: The training settings, a :class:`~flowstats.flows.training.FitOptions`
                (None: the defaults).
            objective: What the flow's density is trained for, an
                :class:`~flowstats.flows.loss.Objective` (None: the weighted likelihood of the
                flow's own density); e.g. R-ANODE's signal density in a mixture with a fixed
                background, :class:`flowstats.anomaly.ranode.SignalMixture`.
            overrides: Fields of :class:`~flowstats.flows.training.FitOptions` replacing
                those of ``options``: ``epochs`` (100), ``batch_size`` (4096), ``lr`` (1e-3,
                cosine-annealed to ``lr / 100``), ``val_fraction`` (0.2, held out for early
                stopping), ``patience`` (10 epochs without a better weighted validation
                loss), ``device`` (``auto``, ``cpu`` or ``cuda``), ``checkpoint_dir`` (where
                ``checkpoint.pt`` is written after every epoch), ``resume`` (continue from
                that checkpoint: same final parameters as an uninterrupted run on the CPU),
                ``progress`` (a progress bar; ``None``: when stderr is a terminal),
                ``callback`` (``callback(epoch, history)`` after each epoch's checkpoint),
                ``clip`` (5, the gradient-norm clipping threshold), ``keep_best`` (keep the
                states of the best epochs, for :meth:`~flowstats.flows.Ensemble.best_epochs`).

        Returns:
            ``train_loss``, ``val_loss`` (per epoch, :math:`-\sum w\log q/\sum w` in the
            original observables), ``lr``, ``train_time``, ``train_cpu_time``, ``val_time``,
            ``best_epoch``, ``best_val_loss``, ``epochs_run``, ``stopped_early``,
            ``nan_restores``, ``n_train``, ``n_val``, ``n_eff`` (of all events),
            ``n_eff_train``, ``n_eff_val``, ``sum_weights``, ``negative_fraction``,
            ``spline_bound``, ``max_abs_z``, ``device``; and the objective's entries.
        """
        o = FitOptions.of(options, **overrides)
        x, w, c = self._fit_inputs(x, weights, context)
        o.check()
        columns = self._objective_columns(objective, len(x))
        total = _check_weight_sum(w)
        self.device = resolve_device(o.device)
        tr, va = self._split_indices(w, o.val_fraction)
        zmax = self._fit_preprocessing(x, c, w, tr)
        self._build()
        train_split = self._split(x, w, c, columns, tr, 2**31 + 1)
        val_split = self._split(x, w, c, columns, va, 2**31 + 2)
        if self.pre.discrete.any():
            xtr = x[tr]

            def redraw(epoch: int) -> tuple[torch.Tensor, torch.Tensor]:
                noise = self._noise(len(tr), np.random.default_rng([self.seed, epoch, 1]))
                z, ladj, _ = self._to_z(xtr, None, noise)
                return z, ladj

            train_split.redraw = redraw

        key = _LEGACY_KEY if objective is None else tuple(objective.key())
        settings = training.TrainOptions(
            epochs=int(o.epochs), batch_size=int(o.batch_size), lr=float(o.lr),
            patience=int(o.patience), seed=self.seed, clip=float(o.clip),
            keep_best=int(o.keep_best),
            checkpoint_dir=None if o.checkpoint_dir is None else Path(o.checkpoint_dir),
            resume=bool(o.resume), progress=o.progress, callback=o.callback,
            fingerprint=training.fingerprint(
                x, w, c, *columns.values(),
                np.array([o.epochs, o.batch_size, o.lr, o.val_fraction, o.patience, o.clip,
                          o.keep_best, self.seed, *key]),
                np.frombuffer(repr(sorted(self.options.items())).encode(), np.uint8)))
        if o.checkpoint_dir is not None:
            Path(o.checkpoint_dir).mkdir(parents=True, exist_ok=True)
        history = training.train(self.module, train_split, val_split, settings, objective)
        self._kept = history.pop("kept")
        history.update(n_val=len(va), n_eff=n_eff(w), n_eff_train=n_eff(w[tr]),
                       n_eff_val=n_eff(w[va]), sum_weights=total,
                       negative_fraction=float(np.mean(w < 0)), spline_bound=self.bound,
                       device=self.device, max_abs_z=zmax)
        self.history = history
        log.info("trained %s: best epoch %d, val loss %.4f, n_eff %.0f", self,
                 history["best_epoch"], history["best_val_loss"], history["n_eff"])
        return history

    def _fit_inputs(self, x: Any, weights: Any, context: Any
                    ) -> tuple[np.ndarray, np.ndarray, np.ndarray | None]:
        r"""The checked training events, weights (ones for None) and context."""
        x = self._check_x(x)
        n = len(x)
        check_finite(x, "features", self.features)
        if weights is None:
            w = np.ones(n)
        else:
            w = np.asarray(weights, dtype=np.float64).reshape(-1)
            if len(w) != n:
                raise BadInputError(f"weights have {len(w)} entries but x has {n} events")
            check_finite(w, "weights")
        return x, w, self._check_context(context, n)

    @staticmethod
    def _objective_columns(objective: Objective | None, n: int) -> dict[str, np.ndarray]:
        r"""The objective's per-event columns as float64 ``(n,)`` arrays."""
        columns = {}
        for name, values in ({} if objective is None else objective.columns).items():
            values = np.asarray(values, dtype=np.float64).reshape(-1)
            if len(values) != n:
                raise BadInputError(f"{name} has {len(values)} entries but x has {n} events "
                                    "(a column of the training objective)")
            columns[str(name)] = values
        return columns

    def _split_indices(self, w: np.ndarray, val_fraction: float
                       ) -> tuple[np.ndarray, np.ndarray]:
        r"""The training and validation event indices (seeded)."""
        n = len(w)
        n_val = int(round(n * val_fraction))
        if n_val < 1 or n - n_val < 1:
            raise BadInputError(f"{n} events are too few to hold out val_fraction="
                                f"{val_fraction} for validation")
        perm = np.random.default_rng([self.seed, 2**31]).permutation(n)
        tr, va = np.sort(perm[n_val:]), np.sort(perm[:n_val])
        if w[va].sum() <= 0 or w[tr].sum() <= 0:
            raise WeightSumError(f"the {'validation' if w[va].sum() <= 0 else 'training'} "
                                 "weights sum to <= 0 after the split; use more events or "
                                 "another val_fraction")
        return tr, va

    def _fit_preprocessing(self, x: np.ndarray, c: np.ndarray | None, w: np.ndarray,
                           tr: np.ndarray) -> float:
        r"""Fits the preprocessing on the training events and sets the spline domain;
        returns the largest standardised ``|z|`` of all events."""
        o = self.options
        self.pre = Preprocessing.fit(x[tr], w[tr], self.features, bounds=o["bounds"],
                                     positive=o["positive"], discrete=o["discrete"])
        self.pre.check_domain(x, "features")
        self.cpre = None
        if c is not None:
            self.cpre = Preprocessing.fit(c[tr], w[tr], self.context)

        # spline domain: large enough for every (dequantised) training event
        # (all events, the validation ones included; x + 1 is the upper edge of a
        # dequantised integer)
        zabs = torch.stack([self.pre.forward(torch.from_numpy(a))[0].abs().amax(0)
                            for a in (x, x + self.pre.discrete)]).amax(0)
        zmax, worst = float(zabs.max()), self.features[int(zabs.argmax())]
        self.bound = o["spline_bound"] or max(5.0, math.ceil(11 * zmax) / 10)
        if o["kind"] == "nsf":  # only splines have a domain
            if zmax > self.bound:
                log.warning("standardised data reach |z| = %.1f beyond the spline domain "
                            "[-%g, %g]; the flow is the identity there", zmax, self.bound,
                            self.bound)
            if self.bound > 10 and o["spline_bound"] is None:
                log.warning("tails of %r stretch the spline domain to |z| < %g (max |z| %.1f), "
                            "coarsening the splines in the core; consider another map for it "
                            "(positive=, bounds= or none)", worst, self.bound, zmax)
        return zmax

    def _split(self, x: np.ndarray, w: np.ndarray, c: np.ndarray | None,
               columns: Mapping[str, np.ndarray], idx: np.ndarray, salt: int
               ) -> training.Split:
        r"""The events ``idx`` in flow space on the device (dequantisation noise seeded by
        ``salt``)."""
        noise = self._noise(len(idx), np.random.default_rng([self.seed, salt]))
        z, ladj, ct = self._to_z(x[idx], None if c is None else c[idx], noise)
        wt = torch.as_tensor(w[idx], dtype=torch.float32, device=self.device)
        cols = {k: torch.as_tensor(v[idx], dtype=torch.float32, device=self.device)
                for k, v in columns.items()}
        return training.Split(z, ladj, wt, ct, columns=cols)

    # ------------------------------------------------------------------ evaluate

    def log_prob(self, x: np.ndarray, context: np.ndarray | None = None, *,
                 batch_size: int = 65536, discrete: str = "density") -> np.ndarray:
        r"""Returns :math:`\log p(x \mid c)` in the original observables, shape ``(n,)``.

        Points outside a feature's domain (beyond its bounds, or :math:`\le 0` for a
        positive one) get ``-inf``.

        Arguments:
            x: The points ``(n, d)``.
            context: The context ``(n, c)`` of a conditional flow.
            batch_size: Points evaluated at once (memory bound).
            discrete: ``"density"`` evaluates the density of the dequantised integer
                observables at ``x`` as given; ``"mass"`` at ``floor(x) + 1/2``, the midpoint
                estimate of the log-probability of the integer ``floor(x)``.
        """
        self._require_fitted()
        x = self._check_x(x)
        c = self._check_context(context, len(x))
        check_finite(x, "features", self.features)
        if int(batch_size) < 1:
            raise BadInputError(f"batch_size must be >= 1, got {batch_size}")
        if discrete not in ("density", "mass"):
            raise BadInputError(f"discrete must be 'density' or 'mass', got {discrete!r}")
        if discrete == "mass" and self.pre.discrete.any():
            d = self.pre.discrete
            x = np.where(d, np.floor(x) + 0.5, x)
        out = np.empty(len(x), dtype=np.float64)
        outside = 0
        with torch.no_grad(), self._exact_trace():
            for sl, zs, ladj, ok, ct in self._batches(x, c, batch_size):
                outside += int((zs.abs() > self.bound).any(-1).sum())
                lq = self.module(ct).log_prob(zs).double() + ladj.double()
                out[sl] = torch.where(ok, lq, torch.full_like(lq, -math.inf)).cpu().numpy()
        if outside and self.options["kind"] == "nsf":
            log.warning("%d of %d points lie outside the spline domain |z| < %g (the flow is "
                        "an untrained identity map there)", outside, len(x), self.bound)
        return out

    @contextlib.contextmanager
    def _exact_trace(self) -> Iterator[None]:
        r"""A cnf trained with Hutchinson's trace estimate evaluates densities with the exact
        trace (the estimate is unbiased but noisy: a density is not)."""
        transform = getattr(self.module, "transform", None)
        noisy = getattr(transform, "exact", None) is False
        if noisy:
            transform.exact = True
        try:
            yield
        finally:
            if noisy:
                transform.exact = False

    def latent(self, x: np.ndarray, context: np.ndarray | None = None, *,
               batch_size: int = 65536) -> np.ndarray:
        r"""Maps points to the flow's base (latent) space, shape ``(n, d)``.

        For events distributed as the flow's density (at their own context), the latent
        points are independent standard normal whatever the context (a Student-t base point
        is mapped to the normal point of the same quantile): a function of them
        selects the same fraction of such events at every context value (no sculpting of the
        context's spectrum). Points outside a feature's domain get ``inf``.

        Arguments:
            x: The points ``(n, d)``.
            context: The context ``(n, c)`` of a conditional flow.
            batch_size: Points mapped at once (memory bound).

        References:
            | LaCATHODE (Hallin et al., 2023) https://arxiv.org/abs/2210.14924
        """
        self._require_fitted()
        x = self._check_x(x)
        c = self._check_context(context, len(x))
        check_finite(x, "features", self.features)
        out = np.empty(x.shape, dtype=np.float64)
        with torch.no_grad():
            for sl, zs, _, ok, ct in self._batches(x, c, batch_size):
                u = self.module(ct).transform(zs).double()
                out[sl] = torch.where(ok[:, None], u,
                                      torch.full_like(u, math.inf)).cpu().numpy()
        if self.options["base"] == "studentt":
            # to the standard-normal point of the same base quantile, sign by sign so that
            # the far tails keep their precision: u = -Phi^-1(F_t(-z)) for z > 0
            from scipy import stats

            nu, a = self.options["nu"], np.abs(out)
            out = np.sign(out) * stats.norm.isf(stats.t.sf(a, nu)).clip(0, None)
        return out

    def _floor_discrete(self, out: np.ndarray) -> np.ndarray:
        r"""Generated points with their discrete features floored to integers (in place)."""
        if self.pre.discrete.any():
            d = self.pre.discrete
            out[:, d] = np.floor(out[:, d])
        return out

    def from_latent(self, u: np.ndarray, context: np.ndarray | None = None, *,
                    batch_size: int = 65536) -> np.ndarray:
        r"""Maps latent points back to the original observables: the inverse of :meth:`latent`.

        Standard-normal latent points give events distributed as the flow's density (what
        :meth:`sample` draws); other latent distributions give that density reshaped, e.g.
        with the first two moments of another sample's latent points.

        Arguments:
            u: Latent points ``(n, d)`` (standard-normal coordinates, as :meth:`latent` gives).
            context: The context ``(n, c)`` of a conditional flow.
            batch_size: Points mapped at once (memory bound).
        """
        self._require_fitted()
        u = np.asarray(u, dtype=np.float64)
        if u.ndim != 2 or u.shape[1] != len(self.features):
            raise BadInputError(f"latent points must have shape (n, {len(self.features)}), "
                                f"got {u.shape}")
        c = self._check_context(context, len(u))
        if self.options["base"] == "studentt":
            # the normal point's quantile to the Student-t base point (as latent(), inverted)
            from scipy import stats

            a = np.abs(u)
            u = np.sign(u) * stats.t.isf(stats.norm.sf(a), self.options["nu"])
        out = np.empty(u.shape, dtype=np.float64)
        with torch.no_grad():
            for s in range(0, len(u), int(batch_size)):
                sl = slice(s, s + int(batch_size))
                ub = torch.as_tensor(u[sl], dtype=torch.float32, device=self.device)
                if c is None:
                    dist = self.module()
                else:
                    ct = torch.as_tensor(c[sl], dtype=torch.float64, device=self.device)
                    dist = self.module(self.cpre.forward(ct)[0].float())
                out[sl] = self.pre.inverse(dist.transform.inv(ub).double()).cpu().numpy()
                del dist, ub
                gc.collect(0)  # see sample()
        return self._floor_discrete(out)

    def sample(self, n: int, context: np.ndarray | None = None, *, seed: int | None = None,
               batch_size: int = 65536) -> np.ndarray:
        r"""Draws ``n`` events in the original observables, shape ``(n, d)``.

        Generated in batches into a preallocated array: memory is bounded by ``batch_size``
        events' activations whatever ``n``.

        Arguments:
            n: The number of events.
            context: The context ``(n, c)`` of a conditional flow: one row per event.
            seed: Seeds the draw (same seed, same device -> same numbers); ``None``: fresh.
            batch_size: Events generated at once.
        """
        self._require_fitted()
        n = int(n)
        if n < 0 or int(batch_size) < 1:
            raise BadInputError(f"cannot draw n = {n} events in batches of {batch_size}")
        c = self._check_context(context, n)
        out = np.empty((n, len(self.features)), dtype=np.float64)
        dev = torch.device(self.device)
        devices = [dev.index or 0] if dev.type == "cuda" else []
        with torch.no_grad(), torch.random.fork_rng(devices=devices):
            if seed is not None:
                torch.manual_seed(int(seed))
            else:
                torch.seed()
            for s in range(0, n, int(batch_size)):
                rebalance()
                m = min(int(batch_size), n - s)
                if c is None:
                    z = self.module().sample((m,))
                else:
                    ct = torch.as_tensor(c[s:s + m], dtype=torch.float64, device=self.device)
                    z = self.module(self.cpre.forward(ct)[0].float()).sample()
                out[s:s + m] = self.pre.inverse(z.double()).cpu().numpy()
                del z
                # zuko's lazy transforms form reference cycles that keep each batch's
                # tensors alive until the cyclic GC runs: without this, memory grows with n
                gc.collect(0)
        return self._floor_discrete(out)

    # ------------------------------------------------------------------ saving and loading

    def config(self) -> dict[str, Any]:
        r"""The JSON-friendly description written by :meth:`save`."""
        return {
            "type": "Flow",
            "flowstats": __version__,
            "features": list(self.features),
            "context": list(self.context),
            "options": self.options,
            "seed": self.seed,
            "spline_bound": self.bound,
            "preprocessing": None if self.pre is None else self.pre.to_dict(),
            "context_preprocessing": None if self.cpre is None else self.cpre.to_dict(),
            "history": {k: v for k, v in self.history.items()},
        }

    def save(self, directory: str | os.PathLike, force: bool = False) -> Path:
        r"""Writes ``weights.pt`` and ``config.json`` into ``directory`` (atomically).

        Arguments:
            directory: The output directory.
            force: Replace an existing directory.
        """
        self._require_fitted()
        with storage.atomic_dir(directory, force) as tmp:
            self._write(tmp)
        return Path(directory)

    def _write(self, directory: Path) -> None:
        r"""Writes the files of :meth:`save` into an existing (temporary) directory."""
        self._require_fitted()
        storage.write_model(directory, self.config(), self.module.state_dict(), self.seed)

    @classmethod
    def load(cls, directory: str | os.PathLike, *, features: Sequence[str] | None = None,
             context: Sequence[str] | None = None, device: str = "cpu") -> Flow:
        r"""Loads a flow written by :meth:`save`.

        Arguments:
            directory: The model directory.
            features: If given, the features the caller expects (mismatch: error).
            context: If given, the context features the caller expects.
            device: Where to put the model.
        """
        directory = Path(directory)
        config = storage.read_config(directory)
        if config["type"] != "Flow":
            raise IncompatibleModelError(f"{str(directory)!r} holds an {config['type']}; "
                                         "use flowstats.flows.load()")
        storage.check_names(config, "features", features, directory)
        storage.check_names(config, "context", context, directory)
        state = storage.read_state(directory)
        try:
            return cls._from_config(config, state, device=device)
        except (RuntimeError, KeyError, TypeError, ValueError) as err:
            first = (str(err).strip().splitlines()[0] if str(err).strip()
                     else type(err).__name__)
            raise IncompatibleModelError(f"cannot load {str(directory)!r}: {first}") from None

    @classmethod
    def from_options(cls, features: Sequence[str], context: Sequence[str],
                     options: Mapping[str, Any], *, seed: int) -> Flow:
        r"""An untrained flow with the architecture ``options`` of another (saved or live)
        one; options that older saved models lack take their defaults."""
        return cls(features, context, seed=seed, **options)

    @classmethod
    def _from_config(cls, config: Mapping[str, Any], state: Mapping[str, Any],
                     device: str = "cpu") -> Flow:
        flow = cls.from_options(config["features"], config["context"], config["options"],
                                seed=config["seed"])
        flow.pre = Preprocessing.from_dict(config["preprocessing"])
        cp = config.get("context_preprocessing")
        flow.cpre = None if cp is None else Preprocessing.from_dict(cp)
        flow.bound = config["spline_bound"]
        flow.history = dict(config.get("history") or {})
        flow.device = resolve_device(device)
        flow._build()
        flow.module.load_state_dict(state)
        flow.module.eval()
        return flow
