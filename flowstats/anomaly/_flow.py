r"""A minimal conditional zuko flow, used only when :mod:`flowstats.flows` is not installed.

It follows the ``flowstats.flows.Flow`` contract (docs/CONTRACTS.md) for what the anomaly
methods need: ``fit(x, context=...)``, ``log_prob(x, context)``, ``sample(n, context, seed=)``,
``save``/``load``. Preprocessing is a standardisation of features and context (its Jacobian is
included in ``log_prob``); training is Adam with early stopping on a validation split, keeping
the best state.

References:
    C. Durkan et al., "Neural spline flows", arXiv:1906.04032; F. Rozet, zuko.
"""

from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import Any

import numpy as np

from .._utils import atomic_path, progress, resolve_device

log = logging.getLogger(__name__)

__all__ = ["SimpleFlow"]


class SimpleFlow:
    r"""Conditional neural spline flow (or MAF) on standardised features.

    Arguments:
        features: Feature names.
        context: Context names.
        kind: ``"nsf"`` or ``"maf"``.
        transforms: Number of autoregressive transforms.
        hidden: Hidden layer sizes of the conditioners.
        bins: Spline bins (NSF).
        seed: Seed of the initialisation, the validation split and the batches.
    """

    def __init__(self, features: list[str], context: list[str] | tuple = (), *, kind: str = "nsf",
                 transforms: int = 4, hidden: tuple[int, ...] = (64, 64), bins: int = 8,
                 seed: int = 0, **unused: Any):
        self.features, self.context = list(features), list(context)
        self.config = dict(kind=kind, transforms=int(transforms), hidden=list(hidden),
                           bins=int(bins), seed=int(seed))
        self.scale: dict[str, list[float]] = {}
        self._build()

    def _build(self) -> None:
        import torch
        import zuko

        c = self.config
        torch.manual_seed(c["seed"])
        d, k = len(self.features), len(self.context)
        if c["kind"] == "maf":
            self.net = zuko.flows.MAF(d, k, transforms=c["transforms"],
                                      hidden_features=tuple(c["hidden"]))
        else:
            self.net = zuko.flows.NSF(d, k, bins=c["bins"], transforms=c["transforms"],
                                      hidden_features=tuple(c["hidden"]))

    def _prep(self, x: np.ndarray, context: np.ndarray | None) -> tuple[Any, Any]:
        import torch

        s = self.scale
        xs = (np.asarray(x, dtype=np.float64) - s["x_mean"]) / s["x_std"]
        xt = torch.from_numpy(xs.astype(np.float32))
        if not self.context:
            return xt, None
        cs = (np.asarray(context, dtype=np.float64).reshape(len(x) if len(x) else -1,
                                                              len(self.context))
              - s["c_mean"]) / s["c_std"]
        return xt, torch.from_numpy(cs.astype(np.float32))

    def fit(self, x: np.ndarray, weights: np.ndarray | None = None,
            context: np.ndarray | None = None, *, epochs: int = 100, batch_size: int = 4096,
            lr: float = 1e-3, val_fraction: float = 0.2, patience: int = 10,
            device: str = "auto", progress_bar: bool | None = None,
            **unused: Any) -> dict[str, Any]:
        r"""Maximum-likelihood training; returns the loss history and the best epoch."""
        import torch

        dev = resolve_device(device)
        x = np.asarray(x, dtype=np.float64)
        ctx = None if context is None else np.asarray(context, dtype=np.float64).reshape(len(x), -1)
        self.scale = {"x_mean": x.mean(0).tolist(), "x_std": (x.std(0) + 1e-12).tolist()}
        if ctx is not None:
            self.scale.update(c_mean=ctx.mean(0).tolist(), c_std=(ctx.std(0) + 1e-12).tolist())
        xt, ct = self._prep(x, ctx)
        w = torch.ones(len(x)) if weights is None else torch.as_tensor(weights,
                                                                         dtype=torch.float32)
        rng = np.random.default_rng(self.config["seed"])
        perm = torch.from_numpy(rng.permutation(len(x)))
        n_val = max(1, int(val_fraction * len(x)))
        val, tr = perm[:n_val], perm[n_val:]
        gen = torch.Generator().manual_seed(self.config["seed"])
        net = self.net.to(dev)
        opt = torch.optim.Adam(net.parameters(), lr=lr)
        sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, T_max=max(1, epochs))

        def nll(idx: Any) -> Any:
            xb = xt[idx].to(dev)
            cb = None if ct is None else ct[idx].to(dev)
            wb = w[idx].to(dev)
            return -(net(cb).log_prob(xb) * wb).sum() / wb.sum()

        best, best_state, best_epoch, bad = np.inf, None, -1, 0
        history: dict[str, list[float]] = {"train_loss": [], "val_loss": []}
        for epoch in progress(range(epochs), desc="flow", enabled=progress_bar):
            net.train()
            order = tr[torch.randperm(len(tr), generator=gen)]
            total = 0.0
            for start in range(0, len(order), batch_size):
                loss = nll(order[start:start + batch_size])
                if not torch.isfinite(loss):
                    continue
                opt.zero_grad()
                loss.backward()
                torch.nn.utils.clip_grad_norm_(net.parameters(), 5.0)
                opt.step()
                total += loss.item() * min(batch_size, len(order) - start)
            sched.step()
            net.eval()
            with torch.no_grad():
                vl = float(np.mean([float(nll(val[i:i + 65536]))
                                    for i in range(0, len(val), 65536)]))
            history["train_loss"].append(total / max(1, len(order)))
            history["val_loss"].append(vl)
            if vl < best:
                best, best_epoch, bad = vl, epoch, 0
                best_state = {k: v.detach().cpu().clone() for k, v in net.state_dict().items()}
            else:
                bad += 1
                if bad >= patience:
                    break
        if best_state is not None:
            net.load_state_dict(best_state)
        self.net = net.cpu().eval()
        log.info("flow: best epoch %d, val loss %.4f", best_epoch, best)
        return {**history, "best_epoch": best_epoch, "best_val_loss": best}

    def log_prob(self, x: np.ndarray, context: np.ndarray | None = None, *,
                 batch_size: int = 65536) -> np.ndarray:
        r"""log density of ``x`` in the original observables."""
        import torch

        xt, ct = self._prep(x, context)
        out = []
        with torch.no_grad():
            for i in range(0, len(xt), batch_size):
                cb = None if ct is None else ct[i:i + batch_size]
                out.append(self.net(cb).log_prob(xt[i:i + batch_size]).double().numpy())
        lp = np.concatenate(out) if out else np.empty(0)
        return lp - float(np.sum(np.log(self.scale["x_std"])))

    def sample(self, n: int, context: np.ndarray | None = None, *, seed: int | None = None,
               batch_size: int = 65536) -> np.ndarray:
        r"""``n`` samples; ``context`` has one row per sample."""
        import torch

        _, ct = self._prep(np.zeros((n, len(self.features))), context)
        out = []
        with torch.random.fork_rng(devices=[]), torch.no_grad():
            if seed is not None:
                torch.manual_seed(seed)
            for i in range(0, n, batch_size):
                if ct is None:
                    out.append(self.net().sample((min(batch_size, n - i),)))
                else:
                    out.append(self.net(ct[i:i + batch_size]).sample())
        xs = torch.cat(out).double().numpy() if out else np.empty((0, len(self.features)))
        return xs * np.asarray(self.scale["x_std"]) + np.asarray(self.scale["x_mean"])

    def save(self, directory: str | Path, force: bool = False) -> None:
        import torch

        directory = Path(directory)
        directory.mkdir(parents=True, exist_ok=True)
        with atomic_path(directory / "state.pt", force=True) as tmp:
            torch.save(self.net.state_dict(), tmp)
        meta = {"features": self.features, "context": self.context, "config": self.config,
                "scale": self.scale, "backend": "anomaly._flow"}
        (directory / "flow.json").write_text(json.dumps(meta, indent=2))

    @classmethod
    def load(cls, directory: str | Path) -> SimpleFlow:
        import torch

        directory = Path(directory)
        meta = json.loads((directory / "flow.json").read_text())
        new = cls(meta["features"], meta["context"], **meta["config"])
        new.scale = meta["scale"]
        new.net.load_state_dict(torch.load(directory / "state.pt", weights_only=True))
        new.net.eval()
        return new
