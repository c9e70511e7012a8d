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
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import Tensor

from .._utils import atomic_path
from .._utils import progress as progress_bar
from ..exceptions import BadInputError, FitError, OutputExistsError
from . import loss as loss_module

log = logging.getLogger(__name__)

__all__ = ["Split", "TrainOptions", "cosine_lr", "fingerprint", "train"]

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
        log_b: A fixed background log-density of every event ``(n,)`` (same units as the
            flow's): the flow is then the signal density of the mixture
            ``f q + (1 - f) p_b`` (R-ANODE; see :func:`train`).
    """

    z: Tensor
    ladj: Tensor
    w: Tensor
    c: Tensor | None = None
    redraw: Callable[[int], tuple[Tensor, Tensor]] | None = None
    log_b: Tensor | None = None

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
    signal_fraction: float = 0.01
    learn_fraction: bool = True


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


#: bounds of the mixture's signal fraction
FRACTION_RANGE = (1e-6, 1 - 1e-6)


def mixture(log_q: Tensor, log_b: Tensor | None, fraction: float) -> Tensor:
    r"""``log(f q + (1 - f) p_b)`` of the R-ANODE mixture (``log_q`` itself without ``log_b``)."""
    if log_b is None:
        return log_q
    return torch.logaddexp(log_q + math.log(fraction), log_b + math.log1p(-fraction))


@torch.no_grad()
def _log_q(module: torch.nn.Module, split: Split, batch_size: int) -> Tensor:
    parts = []
    for s in range(0, len(split), batch_size):
        sl = slice(s, s + batch_size)
        c = None if split.c is None else split.c[sl]
        parts.append((module(c).log_prob(split.z[sl]) + split.ladj[sl]).double())
    return torch.cat(parts)


@torch.no_grad()
def evaluate(module: torch.nn.Module, split: Split, norm: float, batch_size: int,
             fraction: float = 1.0) -> float:
    r"""Weighted NLL :math:`-\sum w \log q / \mathrm{norm}` over a whole split (batched);
    of the mixture :func:`mixture` when the split has a background ``log_b``."""
    log_q = mixture(_log_q(module, split, batch_size),
                    None if split.log_b is None else split.log_b.double(), fraction)
    return float(-torch.dot(split.w.double(), log_q) / norm)


@torch.no_grad()
def em_fraction(module: torch.nn.Module, split: Split, fraction: float, batch_size: int,
                iterations: int = 50) -> float:
    r"""The signal fraction of the mixture that maximises the weighted likelihood of ``split``
    at fixed densities: EM fixed-point iterations of ``f <- sum w r / sum w``, ``r`` the
    posterior signal probability of each event (Dempster, Laird, Rubin 1977)."""
    log_q = _log_q(module, split, batch_size)
    log_b = split.log_b.double()
    w = split.w.double()
    f = fraction
    for _ in range(iterations):
        r = torch.sigmoid(log_q + math.log(f) - log_b - math.log1p(-f))
        new = float(torch.dot(w, r) / w.sum())
        new = min(max(new, FRACTION_RANGE[0]), FRACTION_RANGE[1])
        if abs(new - f) < 1e-7:
            f = new
            break
        f = new
    return f


def _save_checkpoint(path: Path, state: dict[str, Any]) -> None:
    with atomic_path(path, force=True) as tmp:
        torch.save(state, tmp)


def _rng_state() -> dict[str, Any]:
    state = {"torch": torch.get_rng_state()}
    if torch.cuda.is_available():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def train(module: torch.nn.Module, train_split: Split, val_split: Split,
          options: TrainOptions) -> dict[str, Any]:
    r"""Trains ``module`` (a zuko flow) in place and leaves it in its best-validation state.

    Arguments:
        module: The zuko flow, already on the device of the splits.
        train_split: The training events.
        val_split: The validation events (weight sum > 0).
        options: The settings.

    Returns:
        The history, per-epoch ``train_loss``, ``val_loss``, ``lr``, ``train_time``,
        ``train_cpu_time`` (process CPU seconds), ``val_time``; ``best_epoch``,
        ``best_val_loss``, ``epochs_run``, ``stopped_early``, ``nan_restores``; plus ``kept``
        (the ``keep_best`` best epochs' states, best first), which the caller removes before
        storing the history.
    """
    o = options
    device = train_split.w.device
    params = [p for p in module.parameters() if p.requires_grad]
    optimizer = torch.optim.Adam(params, lr=o.lr)
    n = len(train_split)
    wsum = float(train_split.w.double().sum())
    wbar = wsum / n
    val_norm = float(val_split.w.double().sum())
    history: dict[str, Any] = {"train_loss": [], "val_loss": [], "lr": [], "train_time": [],
                               "train_cpu_time": [], "val_time": []}
    mixed = train_split.log_b is not None
    st: dict[str, Any] = {"epoch": 0, "lr_scale": 1.0, "bad_epochs": 0, "best_val": math.inf,
                          "best_epoch": -1, "nan_restores": 0, "finished": False,
                          "stopped_early": False, "fraction": float(o.signal_fraction),
                          "best_fraction": float(o.signal_fraction)}
    if mixed:
        history["signal_fraction"] = []
    best_model, best_opt = _clone(module.state_dict()), _clone(optimizer.state_dict())
    kept: list[dict[str, Any]] = []

    ckpt = None if o.checkpoint_dir is None else Path(o.checkpoint_dir) / CHECKPOINT
    if ckpt is not None and ckpt.exists():
        if not o.resume:
            raise OutputExistsError(str(ckpt))
        try:
            saved = torch.load(ckpt, map_location=device, weights_only=True)
        except Exception as err:  # truncated, foreign or unpicklable file
            first = (str(err).strip().splitlines() or [type(err).__name__])[0]
            raise BadInputError(f"cannot read checkpoint {str(ckpt)!r}: {first}") from None
        if not isinstance(saved, dict) or saved.get("fingerprint") != o.fingerprint:
            raise BadInputError(f"checkpoint {str(ckpt)!r} was written for other training data "
                                "or settings; remove it to start over")
        module.load_state_dict(saved["model"])
        optimizer.load_state_dict(saved["optimizer"])
        best_model, best_opt = saved["best_model"], saved["best_optimizer"]
        kept, history, st = saved["kept"], saved["history"], saved["state"]
        torch.set_rng_state(saved["rng"]["torch"].cpu())
        if "cuda" in saved["rng"] and torch.cuda.is_available():
            torch.cuda.set_rng_state_all([s.cpu() for s in saved["rng"]["cuda"]])
        log.info("resuming from %s after epoch %d", ckpt, st["epoch"])
    elif o.resume and ckpt is not None:
        log.info("no checkpoint in %s; starting from scratch", o.checkpoint_dir)

    def guard(reason: str) -> None:
        st["nan_restores"] += 1
        st["lr_scale"] *= 0.5
        module.load_state_dict(best_model)
        optimizer.load_state_dict(best_opt)
        st["fraction"] = st["best_fraction"]
        for group in optimizer.param_groups:
            group["lr"] *= 0.5
        log.warning("non-finite %s at epoch %d: restored the best state (epoch %d) and halved "
                    "the learning rate (x%g now)", reason, st["epoch"], st["best_epoch"],
                    st["lr_scale"])
        if st["nan_restores"] > o.max_restores:
            raise FitError(f"training diverged: {st['nan_restores']} non-finite losses; "
                           "lower the learning rate or check the inputs")

    epochs = range(st["epoch"], o.epochs) if not st["finished"] else range(0)
    bar = progress_bar(epochs, total=len(epochs), desc="train", enabled=o.progress)
    z, ladj, w, c = train_split.z, train_split.ladj, train_split.w, train_split.c
    log_b = train_split.log_b
    for epoch in bar:
        st["epoch"] = epoch
        t0, c0 = time.perf_counter(), time.process_time()
        lr = cosine_lr(o.lr, epoch, o.epochs, o.min_lr_factor) * st["lr_scale"]
        for group in optimizer.param_groups:
            group["lr"] = lr
        rng = np.random.default_rng([o.seed, epoch])
        if train_split.redraw is not None:
            z, ladj = train_split.redraw(epoch)
        perm = torch.from_numpy(rng.permutation(n)).to(device)
        module.train()
        total = 0.0
        for s in range(0, n, o.batch_size):
            idx = perm[s:s + o.batch_size]
            dist = module(None if c is None else c[idx])
            log_q = dist.log_prob(z[idx]) + ladj[idx]
            if mixed:
                log_q = mixture(log_q, log_b[idx], st["fraction"])
            loss = loss_module.weighted_nll(log_q, w[idx], wbar * len(idx))
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            gnorm = torch.nn.utils.clip_grad_norm_(params, o.clip)
            value = torch.stack((loss.detach(), gnorm)).tolist()
            finite = math.isfinite(value[0]) and math.isfinite(value[1])
            if not finite:
                guard("training loss" if not math.isfinite(value[0]) else "gradient")
                continue
            optimizer.step()
            total += value[0] * len(idx)
            del dist, log_q, loss
            gc.collect(0)  # zuko's lazy transforms are reference cycles holding the batch
        t1, c1 = time.perf_counter(), time.process_time()
        module.eval()
        if mixed and o.learn_fraction:
            st["fraction"] = em_fraction(module, train_split, st["fraction"],
                                         max(o.batch_size, 65536))
        val = evaluate(module, val_split, val_norm, max(o.batch_size, 65536),
                       st["fraction"])
        t2 = time.perf_counter()
        if mixed:
            history["signal_fraction"].append(st["fraction"])
        history["train_loss"].append(total / n)
        history["val_loss"].append(val)
        history["lr"].append(lr)
        history["train_time"].append(t1 - t0)
        history["train_cpu_time"].append(c1 - c0)
        history["val_time"].append(t2 - t1)
        if not math.isfinite(val):
            guard("validation loss")
            st["bad_epochs"] += 1
        elif val < st["best_val"]:
            st.update(best_val=val, best_epoch=epoch, bad_epochs=0,
                      best_fraction=st["fraction"])
            best_model, best_opt = _clone(module.state_dict()), _clone(optimizer.state_dict())
        else:
            st["bad_epochs"] += 1
        if o.keep_best and math.isfinite(val):
            kept.append({"val": val, "epoch": epoch, "model": _clone(module.state_dict())})
            kept = sorted(kept, key=lambda k: k["val"])[:o.keep_best]
        if hasattr(bar, "set_postfix"):
            bar.set_postfix(train=f"{total / n:.4f}", val=f"{val:.4f}")
        log.debug("epoch %d: train %.5f val %.5f lr %.2e", epoch, total / n, val, lr)
        st["epoch"] = epoch + 1
        if st["bad_epochs"] >= o.patience:
            st["finished"] = st["stopped_early"] = True
            log.info("early stop after epoch %d (best epoch %d)", epoch, st["best_epoch"])
        elif epoch + 1 == o.epochs:
            st["finished"] = True
        if ckpt is not None:
            _save_checkpoint(ckpt, {
                "format": 1, "fingerprint": o.fingerprint, "model": module.state_dict(),
                "optimizer": optimizer.state_dict(), "best_model": best_model,
                "best_optimizer": best_opt, "kept": kept, "history": history, "state": st,
                "schedule": {"lr": o.lr, "epochs": o.epochs, "lr_scale": st["lr_scale"]},
                "rng": _rng_state()})
        if o.callback is not None:
            o.callback(epoch, history)
        if st["finished"]:
            break
    if hasattr(bar, "close"):
        bar.close()
    module.load_state_dict(best_model)
    module.eval()
    out = dict(history)
    out.update(best_epoch=st["best_epoch"], best_val_loss=st["best_val"],
               epochs_run=len(history["val_loss"]), stopped_early=st["stopped_early"],
               nan_restores=st["nan_restores"], n_train=n, sum_weights_train=wsum,
               kept=kept)
    if mixed:
        out["best_signal_fraction"] = st["best_fraction"]
    return out
