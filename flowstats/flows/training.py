r"""The training loop: Adam, cosine learning-rate schedule, early stopping, NaN guard,
gradient clipping, per-epoch checkpoints and exact resume.

Reproducibility: the train/validation split, each epoch's shuffle and each epoch's
dequantisation noise are drawn from ``numpy.random.default_rng([seed, epoch])``, i.e. from
``(seed, epoch)`` alone and not from the history of the run, so that a run resumed from the
checkpoint of epoch ``k`` makes exactly the same updates as an uninterrupted one (on the CPU;
CUDA kernels are not bit-reproducible in general).

NaN guard: when a batch loss or its gradient norm is NaN or infinite (or the validation loss
is), the update is skipped, the model and optimiser go back to the best state seen so far (the
initial state before the first validation), the learning rate is halved and a warning is
logged; after ``max_restores`` such events training stops with :class:`FitError`.
"""

from __future__ import annotations

import copy
import gc
import hashlib
import logging
import math
import os
import time
from collections.abc import Callable
from dataclasses import dataclass, field, fields, replace
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import Tensor

from .._threads import rebalance
from .._utils import atomic_path
from .._utils import progress as progress_bar
from ..exceptions import BadInputError, FitError, OutputExistsError
from . import loss as loss_module
from .loss import Objective

log = logging.getLogger(__name__)

__all__ = ["FitOptions", "Split", "TrainOptions", "cosine_lr", "fingerprint", "train"]

CHECKPOINT = "checkpoint.pt"


@dataclass
class Split:
    r"""One data split on the training device (flow space).

    Arguments:
        z: Flow-space events ``(n, d)``, float32.
        ladj: Per-event ``log|det dz/dx|`` of the preprocessing ``(n,)``, float32.
        w: Weights ``(n,)``, float32.
        c: Standardised context ``(n, c)`` or ``None``.
        redraw: For dequantised features: ``redraw(epoch) -> (z, ladj)`` draws new noise.
        columns: The per-event columns ``{name: (n,)}`` of the training objective
            (:class:`~flowstats.flows.loss.Objective`), float32.
    """

    z: Tensor
    ladj: Tensor
    w: Tensor
    c: Tensor | None = None
    redraw: Callable[[int], tuple[Tensor, Tensor]] | None = None
    columns: dict[str, Tensor] = field(default_factory=dict)

    def __len__(self) -> int:
        return len(self.w)


@dataclass
class TrainOptions:
    r"""Settings of :func:`train` (see :meth:`flowstats.flows.Flow.fit`)."""

    epochs: int = 100
    batch_size: int = 4096
    lr: float = 1e-3
    patience: int = 10
    seed: int = 0
    clip: float = 5.0
    min_lr_factor: float = 1e-2
    max_restores: int = 10
    keep_best: int = 0
    checkpoint_dir: Path | None = None
    resume: bool = False
    progress: bool | None = None
    callback: Callable[[int, dict], Any] | None = None
    fingerprint: str = ""


@dataclass(frozen=True)
class FitOptions:
    r"""The training settings of :meth:`flowstats.flows.Flow.fit` (its keyword arguments).

    Arguments:
        epochs: The maximum number of epochs.
        batch_size: The mini-batch size.
        lr: Adam's initial learning rate (cosine-annealed to ``lr / 100``).
        val_fraction: The fraction of events held out for early stopping.
        patience: Epochs without a better weighted validation loss before stopping.
        device: ``auto``, ``cpu`` or ``cuda``.
        checkpoint_dir: Where to write ``checkpoint.pt`` after every epoch.
        resume: Continue from the checkpoint in ``checkpoint_dir`` (same final parameters
            as an uninterrupted run on the CPU).
        progress: Show a progress bar (``None``: when stderr is a terminal).
        callback: ``callback(epoch, history)`` called after each epoch's checkpoint.
        clip: The gradient-norm clipping threshold.
        keep_best: Keep the states of the ``keep_best`` best epochs (for
            :meth:`~flowstats.flows.Ensemble.best_epochs`).
    """

    epochs: int = 100
    batch_size: int = 4096
    lr: float = 1e-3
    val_fraction: float = 0.2
    patience: int = 10
    device: str = "auto"
    checkpoint_dir: str | os.PathLike | None = None
    resume: bool = False
    progress: bool | None = None
    callback: Callable[[int, dict], Any] | None = None
    clip: float = 5.0
    keep_best: int = 0

    @classmethod
    def of(cls, options: FitOptions | None = None, **overrides: Any) -> FitOptions:
        r"""``options`` (None: the defaults) with the keyword ``overrides`` of its fields; an
        unknown keyword is a :class:`TypeError` (as for any function)."""
        unknown = sorted(set(overrides) - {f.name for f in fields(cls)})
        if unknown:
            raise TypeError(f"Flow.fit() got an unexpected keyword argument {unknown[0]!r}")
        return replace(options or cls(), **overrides)

    def check(self) -> None:
        r"""Raises :class:`~flowstats.exceptions.BadInputError` for impossible settings."""
        if not 0 < self.val_fraction < 1:
            raise BadInputError(f"val_fraction must be in (0, 1), got {self.val_fraction}")
        if self.epochs < 1 or self.batch_size < 1 or self.patience < 1 or not self.lr > 0:
            raise BadInputError(f"epochs ({self.epochs}), batch_size ({self.batch_size}), "
                                f"patience ({self.patience}) must be >= 1 and lr ({self.lr}) "
                                "> 0")


def cosine_lr(lr: float, epoch: int, epochs: int, floor: float = 1e-2) -> float:
    r"""Cosine annealing from ``lr`` to ``floor * lr`` over ``epochs`` (closed form).

    References:
        | SGDR: Stochastic Gradient Descent with Warm Restarts (Loshchilov & Hutter, 2016)
        | https://arxiv.org/abs/1608.03983
    """
    return lr * (floor + (1 - floor) * 0.5 * (1 + math.cos(math.pi * epoch / max(epochs, 1))))


def fingerprint(*arrays: np.ndarray | None) -> str:
    r"""A short hash of the training inputs (a resumed run must see the same data)."""
    h = hashlib.sha1()
    for a in arrays:
        if a is not None:
            a = np.ascontiguousarray(a)
            h.update(str(a.shape).encode())
            h.update(a.tobytes())
    return h.hexdigest()[:16]


def _clone(state: dict[str, Any]) -> dict[str, Any]:
    return copy.deepcopy(state)


@torch.no_grad()
def log_q(module: torch.nn.Module, split: Split, batch_size: int) -> Tensor:
    r"""The flow's log-density (float64, with the preprocessing's Jacobian) of a whole split,
    evaluated in batches without gradients."""
    parts = []
    for s in range(0, len(split), batch_size):
        sl = slice(s, s + batch_size)
        c = None if split.c is None else split.c[sl]
        parts.append((module(c).log_prob(split.z[sl]) + split.ladj[sl]).double())
    return torch.cat(parts)


def _double(split: Split) -> dict[str, Tensor]:
    return {k: v.double() for k, v in split.columns.items()}


@torch.no_grad()
def evaluate(module: torch.nn.Module, split: Split, norm: float, batch_size: int,
             objective: Objective | None = None) -> float:
    r"""Weighted NLL :math:`-\sum w \log q / \mathrm{norm}` over a whole split (batched);
    of the ``objective``'s log-likelihood when there is one."""
    lq = log_q(module, split, batch_size)
    if objective is not None:
        lq = objective.log_likelihood(lq, _double(split))
    return float(-torch.dot(split.w.double(), lq) / norm)


def _save_checkpoint(path: Path, state: dict[str, Any]) -> None:
    with atomic_path(path, force=True) as tmp:
        torch.save(state, tmp)


def _rng_state() -> dict[str, Any]:
    state = {"torch": torch.get_rng_state()}
    if torch.cuda.is_available():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


class _Run:
    r"""The state of one run of :func:`train`, with one method per step: resuming, one epoch,
    validation, the NaN guard, tracking the best epoch, early stopping and checkpointing."""

    def __init__(self, module: torch.nn.Module, train_split: Split, val_split: Split,
                 options: TrainOptions, objective: Objective | None) -> None:
        self.module, self.o, self.objective = module, options, objective
        self.train, self.val = train_split, val_split
        self.device = train_split.w.device
        self.params = [p for p in module.parameters() if p.requires_grad]
        self.optimizer = torch.optim.Adam(self.params, lr=options.lr)
        self.n = len(train_split)
        self.wsum = float(train_split.w.double().sum())
        self.wbar = self.wsum / self.n
        self.val_norm = float(val_split.w.double().sum())
        self.history: dict[str, Any] = {"train_loss": [], "val_loss": [], "lr": [],
                                        "train_time": [], "train_cpu_time": [], "val_time": []}
        self.st: dict[str, Any] = {
            "epoch": 0, "lr_scale": 1.0, "bad_epochs": 0, "best_val": math.inf,
            "best_epoch": -1, "nan_restores": 0, "finished": False, "stopped_early": False,
            "objective": self._objective_state(), "best_objective": self._objective_state()}
        self.best_model = _clone(module.state_dict())
        self.best_opt = _clone(self.optimizer.state_dict())
        self.kept: list[dict[str, Any]] = []
        self.ckpt = (None if options.checkpoint_dir is None
                     else Path(options.checkpoint_dir) / CHECKPOINT)

    def _objective_state(self) -> dict[str, Any]:
        return {} if self.objective is None else dict(self.objective.state_dict())

    def resume(self) -> None:
        r"""Loads the checkpoint of an interrupted run (or refuses to overwrite it)."""
        o, ckpt = self.o, self.ckpt
        if ckpt is None or not ckpt.exists():
            if o.resume and ckpt is not None:
                log.info("no checkpoint in %s; starting from scratch", o.checkpoint_dir)
            return
        if not o.resume:
            raise OutputExistsError(str(ckpt))
        try:
            saved = torch.load(ckpt, map_location=self.device, weights_only=True)
        except Exception as err:  # truncated, foreign or unpicklable file
            first = (str(err).strip().splitlines() or [type(err).__name__])[0]
            raise BadInputError(f"cannot read checkpoint {str(ckpt)!r}: {first}") from None
        if not isinstance(saved, dict) or saved.get("fingerprint") != o.fingerprint:
            raise BadInputError(f"checkpoint {str(ckpt)!r} was written for other training data "
                                "or settings; remove it to start over")
        self.module.load_state_dict(saved["model"])
        self.optimizer.load_state_dict(saved["optimizer"])
        self.best_model, self.best_opt = saved["best_model"], saved["best_optimizer"]
        self.kept, self.history, self.st = saved["kept"], saved["history"], saved["state"]
        if self.objective is not None:
            self.objective.load_state_dict(self.st["objective"])
        torch.set_rng_state(saved["rng"]["torch"].cpu())
        if "cuda" in saved["rng"] and torch.cuda.is_available():
            torch.cuda.set_rng_state_all([s.cpu() for s in saved["rng"]["cuda"]])
        log.info("resuming from %s after epoch %d", ckpt, self.st["epoch"])

    def guard(self, reason: str) -> None:
        r"""A non-finite loss: back to the best state, half the learning rate."""
        st = self.st
        st["nan_restores"] += 1
        st["lr_scale"] *= 0.5
        self.module.load_state_dict(self.best_model)
        self.optimizer.load_state_dict(self.best_opt)
        if self.objective is not None:
            self.objective.load_state_dict(st["best_objective"])
            st["objective"] = self._objective_state()
        for group in self.optimizer.param_groups:
            group["lr"] *= 0.5
        log.warning("non-finite %s at epoch %d: restored the best state (epoch %d) and halved "
                    "the learning rate (x%g now)", reason, st["epoch"], st["best_epoch"],
                    st["lr_scale"])
        if st["nan_restores"] > self.o.max_restores:
            raise FitError(f"training diverged: {st['nan_restores']} non-finite losses; "
                           "lower the learning rate or check the inputs")

    def epoch(self, epoch: int, z: Tensor, ladj: Tensor) -> float:
        r"""One pass over the shuffled training events; returns the summed batch losses
        (times the batch sizes)."""
        o, module, optimizer, objective = self.o, self.module, self.optimizer, self.objective
        w, c, columns = self.train.w, self.train.c, self.train.columns
        rng = np.random.default_rng([o.seed, epoch])
        perm = torch.from_numpy(rng.permutation(self.n)).to(self.device)
        module.train()
        total = 0.0
        for s in range(0, self.n, o.batch_size):
            rebalance()
            idx = perm[s:s + o.batch_size]
            dist = module(None if c is None else c[idx])
            log_q = dist.log_prob(z[idx]) + ladj[idx]
            if objective is not None:
                log_q = objective.log_likelihood(log_q, {k: v[idx] for k, v in columns.items()})
            loss = loss_module.weighted_nll(log_q, w[idx], self.wbar * len(idx))
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            gnorm = torch.nn.utils.clip_grad_norm_(self.params, o.clip)
            value = torch.stack((loss.detach(), gnorm)).tolist()
            if not (math.isfinite(value[0]) and math.isfinite(value[1])):
                self.guard("training loss" if not math.isfinite(value[0]) else "gradient")
                continue
            optimizer.step()
            total += value[0] * len(idx)
            del dist, log_q, loss
            gc.collect(0)  # zuko's lazy transforms are reference cycles holding the batch
        return total

    def validate(self) -> tuple[float, dict[str, float]]:
        r"""The objective's end-of-epoch update, then the validation loss; returns it and the
        objective's history values."""
        self.module.eval()
        batch = max(self.o.batch_size, 65536)
        extra: dict[str, float] = {}
        if self.objective is not None:
            extra = self.objective.end_epoch(lambda: log_q(self.module, self.train, batch),
                                             _double(self.train), self.train.w.double())
            self.st["objective"] = self._objective_state()
        return evaluate(self.module, self.val, self.val_norm, batch, self.objective), extra

    def track_best(self, epoch: int, val: float) -> None:
        r"""Keeps the best state (and the ``keep_best`` best ones); counts the bad epochs."""
        st = self.st
        if not math.isfinite(val):
            self.guard("validation loss")
            st["bad_epochs"] += 1
        elif val < st["best_val"]:
            st.update(best_val=val, best_epoch=epoch, bad_epochs=0,
                      best_objective=self._objective_state())
            self.best_model = _clone(self.module.state_dict())
            self.best_opt = _clone(self.optimizer.state_dict())
        else:
            st["bad_epochs"] += 1
        if self.o.keep_best and math.isfinite(val):
            self.kept.append({"val": val, "epoch": epoch,
                              "model": _clone(self.module.state_dict())})
            self.kept = sorted(self.kept, key=lambda k: k["val"])[:self.o.keep_best]

    def stop(self, epoch: int) -> bool:
        r"""Early stopping (or the last epoch): marks the run finished."""
        st = self.st
        st["epoch"] = epoch + 1
        if st["bad_epochs"] >= self.o.patience:
            st["finished"] = st["stopped_early"] = True
            log.info("early stop after epoch %d (best epoch %d)", epoch, st["best_epoch"])
        elif epoch + 1 == self.o.epochs:
            st["finished"] = True
        return st["finished"]

    def checkpoint(self) -> None:
        r"""Writes the checkpoint of the run so far (when there is a checkpoint directory)."""
        if self.ckpt is None:
            return
        o, st = self.o, self.st
        _save_checkpoint(self.ckpt, {
            "format": 1, "fingerprint": o.fingerprint, "model": self.module.state_dict(),
            "optimizer": self.optimizer.state_dict(), "best_model": self.best_model,
            "best_optimizer": self.best_opt, "kept": self.kept, "history": self.history,
            "state": st, "schedule": {"lr": o.lr, "epochs": o.epochs, "lr_scale": st["lr_scale"]},
            "rng": _rng_state()})

    def record(self, values: dict[str, float]) -> None:
        for key, value in values.items():
            self.history.setdefault(key, []).append(value)

    def result(self) -> dict[str, Any]:
        r"""Leaves the module (and objective) in the best state; returns the history."""
        st = self.st
        self.module.load_state_dict(self.best_model)
        self.module.eval()
        out = dict(self.history)
        out.update(best_epoch=st["best_epoch"], best_val_loss=st["best_val"],
                   epochs_run=len(self.history["val_loss"]), stopped_early=st["stopped_early"],
                   nan_restores=st["nan_restores"], n_train=self.n, sum_weights_train=self.wsum,
                   kept=self.kept)
        if self.objective is not None:
            self.objective.load_state_dict(st["best_objective"])
            out.update(self.objective.results())
        return out


def train(module: torch.nn.Module, train_split: Split, val_split: Split,
          options: TrainOptions, objective: Objective | None = None) -> dict[str, Any]:
    r"""Trains ``module`` (a zuko flow) in place and leaves it in its best-validation state.

    Arguments:
        module: The zuko flow, already on the device of the splits.
        train_split: The training events.
        val_split: The validation events (weight sum > 0).
        options: The settings.
        objective: The training objective (:class:`~flowstats.flows.loss.Objective`; None:
            the weighted likelihood of the flow's density); its columns are the splits'.

    Returns:
        The history, per-epoch ``train_loss``, ``val_loss``, ``lr``, ``train_time``,
        ``train_cpu_time`` (process CPU seconds), ``val_time`` (and the objective's per-epoch
        values); ``best_epoch``, ``best_val_loss``, ``epochs_run``, ``stopped_early``,
        ``nan_restores`` (and the objective's results); plus ``kept`` (the ``keep_best`` best
        epochs' states, best first), which the caller removes before storing the history.
    """
    o, run = options, _Run(module, train_split, val_split, options, objective)
    run.resume()
    epochs = range(run.st["epoch"], o.epochs) if not run.st["finished"] else range(0)
    bar = progress_bar(epochs, total=len(epochs), desc="train", enabled=o.progress)
    z, ladj = train_split.z, train_split.ladj
    for epoch in bar:
        run.st["epoch"] = epoch
        t0, c0 = time.perf_counter(), time.process_time()
        lr = cosine_lr(o.lr, epoch, o.epochs, o.min_lr_factor) * run.st["lr_scale"]
        for group in run.optimizer.param_groups:
            group["lr"] = lr
        if train_split.redraw is not None:
            z, ladj = train_split.redraw(epoch)
        total = run.epoch(epoch, z, ladj)
        t1, c1 = time.perf_counter(), time.process_time()
        val, extra = run.validate()
        t2 = time.perf_counter()
        run.record({**extra, "train_loss": total / run.n, "val_loss": val, "lr": lr,
                    "train_time": t1 - t0, "train_cpu_time": c1 - c0, "val_time": t2 - t1})
        run.track_best(epoch, val)
        if hasattr(bar, "set_postfix"):
            bar.set_postfix(train=f"{total / run.n:.4f}", val=f"{val:.4f}")
        log.debug("epoch %d: train %.5f val %.5f lr %.2e", epoch, total / run.n, val, lr)
        finished = run.stop(epoch)
        run.checkpoint()
        if o.callback is not None:
            o.callback(epoch, run.history)
        if finished:
            break
    if hasattr(bar, "close"):
        bar.close()
    return run.result()
