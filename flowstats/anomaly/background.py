r"""Background model learnt on sidebands and interpolated into the signal region.

A conditional flow p_bkg(x | m) is trained on sideband events; its conditioning on the resonant
feature m lets it be evaluated (ANODE, density) or sampled (CATHODE) at SR masses it never saw.
Samples in the SR take m from a 1-D Gaussian kernel density estimate of the SR events' m values
(truncated to the SR window by rejection) and x from p_bkg(x | m), as CATHODE does.

The flow is a conditional :class:`flowstats.flows.Flow`; the context given to it is m
standardised with the training events' mean and spread.

References:
    B. Nachman, D. Shih, ANODE, arXiv:2001.04990.
    A. Hallin et al., CATHODE, arXiv:2109.00546.
"""

from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import Any

import numpy as np

from ..settings.analysis import FlowSettings, SidebandFitSettings, SidebandFlowSettings

log = logging.getLogger(__name__)

__all__ = ["DEFAULT_FIT", "DEFAULT_FLOW", "ConditionalDensity", "resolved_flow", "sample_mass"]

#: the sideband flow's architecture (:class:`flowstats.settings.analysis.SidebandFlowSettings`:
#: smooth SiLU networks, since the flow interpolates into the SR where a ReLU network's
#: piecewise-linear interpolation misfits), as :class:`flowstats.flows.Flow` options
DEFAULT_FLOW: dict[str, Any] = {k: v for k, v in SidebandFlowSettings().to_dict().items()
                                if k in FlowSettings.model_fields}
#: the sideband flow's training (:class:`flowstats.settings.analysis.SidebandFitSettings`)
DEFAULT_FIT: dict[str, Any] = SidebandFitSettings().to_dict()


def resolved_flow(flow: dict[str, Any] | None) -> dict[str, Any]:
    r"""The sideband-flow options ``flow`` completed by :data:`DEFAULT_FLOW`."""
    return {**DEFAULT_FLOW, **(flow or {})}


class ConditionalDensity:
    r"""A conditional density p(x | m) of the features given the resonant mass.

    Arguments:
        names: Feature names.
        seed: Seed of the flow (initialisation, split, batches).
        flow: Flow architecture options (see :data:`DEFAULT_FLOW`).
    """

    def __init__(self, names: list[str], *, seed: int = 0, flow: dict[str, Any] | None = None,
                 decorrelate: bool = False):
        self.names = list(names)
        self.seed = int(seed)
        self.flow_options = resolved_flow(flow)
        self.decorrelate = bool(decorrelate)
        self.m_mean = 0.0
        self.m_std = 1.0
        #: per feature: slope of its mapped value against log m, and the centre of log m
        self.slopes = np.zeros(len(self.names))
        self.log_m0 = 0.0
        self.flow: Any = None
        self.history: dict[str, Any] = {}

    def _context(self, m: np.ndarray) -> np.ndarray:
        return ((np.asarray(m, dtype=np.float64) - self.m_mean) / self.m_std).reshape(-1, 1)

    # ---- the decorrelating pre-map: g(x') = g(x) - slope (log m - log m0) per feature, g the
    # feature's own flow map (log for positive features, logit for bounded ones, identity)

    def _maps(self) -> list[tuple[str, float, float]]:
        bounds = self.flow_options.get("bounds") or {}
        positive = set(self.flow_options.get("positive") or [])
        out = []
        for n in self.names:
            if n in bounds:
                out.append(("logit", float(bounds[n][0]), float(bounds[n][1])))
            elif n in positive:
                out.append(("log", 0.0, 0.0))
            else:
                out.append(("identity", 0.0, 0.0))
        return out

    def _g(self, x: np.ndarray) -> np.ndarray:
        g = np.array(x, dtype=np.float64, copy=True)
        for j, (kind, lo, hi) in enumerate(self._maps()):
            with np.errstate(divide="ignore", invalid="ignore"):
                if kind == "log":
                    g[:, j] = np.log(x[:, j])
                elif kind == "logit":
                    t = (x[:, j] - lo) / (hi - lo)
                    g[:, j] = np.log(t) - np.log1p(-t)
        return g

    def _g_inv(self, g: np.ndarray) -> np.ndarray:
        x = np.array(g, dtype=np.float64, copy=True)
        for j, (kind, lo, hi) in enumerate(self._maps()):
            if kind == "log":
                x[:, j] = np.exp(g[:, j])
            elif kind == "logit":
                x[:, j] = lo + (hi - lo) / (1 + np.exp(-g[:, j]))
        return x

    def _log_g_prime(self, x: np.ndarray) -> np.ndarray:
        r"""log |dg/dx| per event and feature."""
        out = np.zeros_like(x, dtype=np.float64)
        for j, (kind, lo, hi) in enumerate(self._maps()):
            with np.errstate(divide="ignore", invalid="ignore"):
                if kind == "log":
                    out[:, j] = -np.log(x[:, j])
                elif kind == "logit":
                    out[:, j] = np.log(hi - lo) - np.log(x[:, j] - lo) - np.log(hi - x[:, j])
        return out

    def _shift(self, m: np.ndarray) -> np.ndarray:
        return np.outer(np.log(np.asarray(m, dtype=np.float64)) - self.log_m0, self.slopes)

    def _to_flow(self, x: np.ndarray, m: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        r"""The pre-mapped features x' and log |dx'/dx| summed over the features."""
        x = np.asarray(x, dtype=np.float64)
        if not self.decorrelate:
            return x, np.zeros(len(x))
        xp = self._g_inv(self._g(x) - self._shift(m))
        # dx'/dx = g'(x) / g'(x') (the shift does not depend on x)
        with np.errstate(invalid="ignore"):
            ladj = np.sum(self._log_g_prime(x) - self._log_g_prime(xp), axis=1)
        return xp, ladj

    def _from_flow(self, xp: np.ndarray, m: np.ndarray) -> np.ndarray:
        if not self.decorrelate:
            return xp
        return self._g_inv(self._g(xp) + self._shift(m))

    def fit(self, x: np.ndarray, m: np.ndarray, *, device: str = "cpu",
            **fit_options: Any) -> ConditionalDensity:
        r"""Trains the flow on events ``x`` (n, d) at masses ``m`` (n,).

        Arguments:
            x: Features.
            m: Resonant mass of each event.
            device: torch device.
            fit_options: Training settings (see :data:`DEFAULT_FIT`).
        """
        from ..flows import Flow

        self.m_mean, self.m_std = float(np.mean(m)), float(np.std(m) + 1e-12)
        if self.decorrelate:
            # least-squares slope of every mapped feature against log m on the training events
            # (the sidebands: a straight line in log m interpolates across the SR)
            lm = np.log(np.asarray(m, dtype=np.float64))
            self.log_m0 = float(lm.mean())
            g = self._g(np.asarray(x, dtype=np.float64))
            dl = lm - self.log_m0
            self.slopes = (dl @ (g - g.mean(axis=0))) / float(dl @ dl)
            x, _ = self._to_flow(x, m)
        self.flow = Flow(self.names, context=["m"], seed=self.seed, **self.flow_options)
        options = {**DEFAULT_FIT, **fit_options}
        self.history = self.flow.fit(x, context=self._context(m), device=device, **options) or {}
        return self

    def log_prob(self, x: np.ndarray, m: np.ndarray) -> np.ndarray:
        r"""log p(x | m) of every event, in the original feature units."""
        xp, ladj = self._to_flow(x, m)
        return np.asarray(self.flow.log_prob(xp, self._context(m)), dtype=np.float64) + ladj

    def latent(self, x: np.ndarray, m: np.ndarray) -> np.ndarray:
        r"""Each event mapped to the flow's standard-normal base space at its own mass.

        Background events have latent points distributed as N(0, 1) at every m, so a score
        that is a function of them has the same background efficiency at every m (LaCATHODE,
        arXiv:2210.14924).
        """
        xp, _ = self._to_flow(x, m)
        return np.asarray(self.flow.latent(xp, self._context(m)), dtype=np.float64)

    def from_latent(self, u: np.ndarray, m: np.ndarray) -> np.ndarray:
        r"""Latent points ``u`` (n, d) mapped back to the features at masses ``m``: the inverse
        of :meth:`latent`."""
        return self._from_flow(self.flow.from_latent(u, self._context(m)), m)

    def sample(self, m: np.ndarray, *, seed: int = 0) -> np.ndarray:
        r"""One x sample per mass value in ``m``."""
        xp = np.asarray(self.flow.sample(len(m), self._context(m), seed=seed), dtype=np.float64)
        return self._from_flow(xp, m)

    def save(self, directory: str | Path) -> None:
        r"""Saves the flow and the context scaling under ``directory``."""
        directory = Path(directory)
        directory.mkdir(parents=True, exist_ok=True)
        self.flow.save(directory / "flow", force=True)
        meta = {"names": self.names, "seed": self.seed, "flow": self.flow_options,
                "m_mean": self.m_mean, "m_std": self.m_std, "decorrelate": self.decorrelate,
                "slopes": [float(s) for s in self.slopes], "log_m0": self.log_m0}
        (directory / "density.json").write_text(json.dumps(meta, indent=2, default=list))

    @classmethod
    def load(cls, directory: str | Path) -> ConditionalDensity:
        r"""Loads a density saved by :meth:`save`."""
        directory = Path(directory)
        meta = json.loads((directory / "density.json").read_text())
        from ..flows import load

        new = cls(meta["names"], seed=meta["seed"], flow=meta["flow"],
                  decorrelate=meta.get("decorrelate", False))
        new.m_mean, new.m_std = meta["m_mean"], meta["m_std"]
        new.slopes = np.asarray(meta.get("slopes", np.zeros(len(new.names))), dtype=np.float64)
        new.log_m0 = float(meta.get("log_m0", 0.0))
        new.flow = load(directory / "flow")
        return new


def sample_mass(m_sr: np.ndarray, n: int, window: tuple[float, float], *,
                seed: int = 0) -> np.ndarray:
    r"""Draws ``n`` masses from a Gaussian KDE of the SR masses, truncated to ``window``.

    Arguments:
        m_sr: Masses of the SR events.
        n: Number of samples.
        window: ``(lo, hi)`` of the SR; samples outside are redrawn.
        seed: Seed.
    """
    from scipy.stats import gaussian_kde

    m_sr = np.asarray(m_sr, dtype=np.float64)
    rng = np.random.default_rng(seed)
    # a KDE on at most 2e5 points: the resampling cost is linear, the shape needs no more
    base = m_sr if len(m_sr) <= 200_000 else rng.choice(m_sr, 200_000, replace=False)
    kde = gaussian_kde(base)
    lo, hi = window
    out = np.empty(0)
    while len(out) < n:
        draw = kde.resample(int(1.2 * (n - len(out))) + 16, seed=rng)[0]
        out = np.concatenate([out, draw[(draw >= lo) & (draw < hi)]])
    return out[:n]
