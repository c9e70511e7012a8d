r"""Resonant anomaly detection on sideband data: one interface, :func:`score`.

The signal is assumed localised in a resonant feature m (e.g. m_jj). A signal region (SR)
window in m and its sidebands are defined by :class:`~flowstats.anomaly.regions.Regions`; the
background density of the other features x is learnt on the sidebands and interpolated into the
SR. Methods (see :mod:`flowstats.anomaly.methods`): ``cathode`` (default), ``anode``,
``ranode``, ``cwola``, ``bootstrap``, ``density``, and those of plugins (entry-point group
``flowstats.methods``, :mod:`flowstats.registry`). Every event (SR, sidebands and outside) gets
a score, so a bump hunt can see how a cut on the score acts on the background at every mass.

Example::

    from flowstats.anomaly import score
    result = score(x, m, method="cathode", sr=(3300, 3700), seed=1)
    result.score, result.fold, result.region

By default the flow-based methods (cathode, anode, bootstrap, density) score in the sideband
flow's latent space (``space="latent"``, LaCATHODE): with the features mapped to the flow's
base space at each event's own m, the background looks the same at every m and a cut on the
score keeps the same background fraction at every m (benchmarks/bench_sculpting.py).
:mod:`flowstats.anomaly.sculpting` tests that; :mod:`flowstats.anomaly.closure` builds the
background-like pseudo-data of the bump hunt's closure check.

References:
    ANODE arXiv:2001.04990; R-ANODE arXiv:2312.11629; CATHODE arXiv:2109.00546; LaCATHODE arXiv:2210.14924; CWoLa
    hunting arXiv:1805.02664, arXiv:1902.02634; J. Tan, ICML INNF workshop 2020 (bootstrap).
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from .._utils import check_finite, provenance, resolve_device, write_json
from ..exceptions import BadInputError, closest
from ..registry import METHODS as _METHODS
from ..registry import DerivedNames
from .regions import SIDEBAND, SIGNAL_REGION, Regions, parse_window

log = logging.getLogger(__name__)

__all__ = ["DEFAULT_CLASSIFIER", "METHOD_NAMES", "Regions", "ScoreResult", "parse_window",
           "score"]

#: the registered methods' names (:data:`flowstats.registry.METHODS`, plugins included)
METHOD_NAMES = DerivedNames(_METHODS.names, _METHODS)
#: default classifier of cathode/cwola/bootstrap: the torch MLP ensemble (best-epoch
#: averaging). Measured with CATHODE on dijet 1M + 1000 (benchmarks/bench_anomaly.py, seeds
#: 0 1 2): max SIC / exact-LR optimum 0.90, 0.87, 0.91 (mean 0.89) for "mlp" against 0.87,
#: 0.77, 0.80 (mean 0.81) for "hgb"; on two 300k + 300 samples with the same flow 0.89, 0.77
#: against 0.80, 0.62. "mlp" costs about twice the CPU (about 325 s against 164 s for the
#: whole 1M run on one core) with half the peak memory (1.3 against 2.4 GiB);
#: classifier="hgb" is the cheaper choice for wide scans. bootstrap (seed 0): 0.95 with "mlp"
#: against 0.75 with "hgb". cwola defaults to "hgb" (it trains on all SR and sideband events).
DEFAULT_CLASSIFIER = "mlp"


@dataclass
class ScoreResult:
    r"""Scores of every event.

    Attributes:
        score: (n,) anomaly score, higher = more signal-like.
        fold: (n,) fold whose model scored the event (-1 for the flow-only methods).
        region: (n,) region code: 1 SR, 0 sideband, -1 outside.
        method: The method name.
        info: Training summaries, timings and the resolved options.
        template: Scores of the method's background template of the SR (``oversample`` x
            n_SR background draws, each scored by a model that never saw it), or None when the
            method has none (cwola, bootstrap, anode and ranode in data space). The fraction of
            them above a threshold estimates the SR background efficiency of that cut.
    """

    score: np.ndarray
    fold: np.ndarray
    region: np.ndarray
    method: str
    info: dict[str, Any] = field(default_factory=dict)
    template: np.ndarray | None = None


def _check_inputs(x: np.ndarray, m: np.ndarray, names: list[str] | None
                  ) -> tuple[np.ndarray, np.ndarray, list[str]]:
    x = np.asarray(x, dtype=np.float64)
    if x.ndim == 1:
        x = x[:, None]
    if x.ndim != 2:
        raise BadInputError(f"features must be a 2-D array (events, features), not {x.ndim}-D")
    m = np.asarray(m, dtype=np.float64).reshape(-1)
    if len(m) != len(x):
        raise BadInputError(f"{len(x)} events of features but {len(m)} mass values")
    if len(x) == 0:
        raise BadInputError("no events to score")
    names = list(names) if names is not None else [f"x{i}" for i in range(x.shape[1])]
    if len(names) != x.shape[1]:
        raise BadInputError(f"{len(names)} feature names for {x.shape[1]} feature columns")
    check_finite(x, "features", names)
    check_finite(m, "mass values")
    return x, m, names


def _check_not_constant(x: np.ndarray, names: list[str], where: np.ndarray) -> None:
    sel = x[where]
    const = [n for n, lo, hi in zip(names, sel.min(axis=0), sel.max(axis=0)) if lo == hi]
    if const:
        raise BadInputError(
            f"feature{'s' if len(const) > 1 else ''} {', '.join(map(repr, const))} "
            f"{'are' if len(const) > 1 else 'is'} constant in the signal region and sidebands; "
            "remove it from --features (a constant carries no information and breaks the flow)")


#: the options :func:`score` accepts: those of every registered method
#: (``options`` of :class:`flowstats.registry.Method`)
OPTIONS = DerivedNames(lambda: dict.fromkeys(o for e in _METHODS for o in e.options), _METHODS)


def _auto_preprocessing(x: np.ndarray, names: list[str]) -> dict[str, Any]:
    r"""Flow maps chosen from the ranges: logit for features in [0, 1], log for positive ones.

    The maps keep the flow's samples inside the physical domain (a tau21 sample below 0 would
    be an artefact the CATHODE classifier separates trivially) and remove heavy tails.
    """
    lo, hi = x.min(axis=0), x.max(axis=0)
    bounds = {n: (0.0, 1.0) for n, a, b in zip(names, lo, hi) if a >= 0 and b <= 1}
    positive = [n for n, a in zip(names, lo) if a > 0 and n not in bounds]
    return {"bounds": bounds, "positive": positive}


def _prepare(x: np.ndarray, m: np.ndarray, names: list[str] | None,
             sr: tuple[float, float] | str, sideband_width: float | None, min_sr: int,
             min_sideband: int, flow: dict | None
             ) -> tuple[np.ndarray, np.ndarray, list[str], Regions, np.ndarray, dict[str, Any]]:
    r"""Checked inputs, regions, region codes and the flow options (with the automatic domain
    maps) of :func:`score`; shared with the closure pseudo-data, whose sideband flow must be
    the same flow (the same options: the saved one is reused)."""
    x, m, names = _check_inputs(x, m, names)
    regions = Regions(parse_window(sr), sideband_width)
    codes = regions.check(m, min_sr=min_sr, min_sideband=min_sideband)
    _check_not_constant(x, names, codes >= 0)
    flow = {**_auto_preprocessing(x[codes >= 0], names), **(flow or {})}
    return x, m, names, regions, codes, flow


def score(x: np.ndarray, m: np.ndarray, *, method: str = "cathode",
          sr: tuple[float, float] | str, sideband_width: float | None = None,
          names: list[str] | None = None, seed: int = 0, device: str = "auto",
          model_dir: str | Path | None = None, min_sr: int = 100, min_sideband: int = 100,
          **options: Any) -> ScoreResult:
    r"""Scores every event with a resonant anomaly-detection method.

    Arguments:
        x: Features, (n, d) (m must not be one of them).
        m: Resonant mass, (n,).
        method: ``cathode`` (default), ``anode``, ``ranode``, ``cwola``, ``bootstrap``,
            ``density``, or a plugin's method (:data:`flowstats.registry.METHODS`).
        sr: Signal region ``(lo, hi)`` or ``"lo:hi"``.
        sideband_width: Width of each adjacent sideband; None = everything outside the SR.
        names: Feature names (for messages and saved models).
        seed: Seed of every random step (flows, sampling, folds, classifiers).
        device: ``auto``, ``cpu`` or ``cuda`` for the torch models.
        model_dir: Directory where trained models are saved; a flow saved there from the same
            events and settings is reused instead of retrained. Provenance is written there.
        min_sr, min_sideband: Minimum numbers of events in the SR and the sidebands.
        options: Method options: ``flow`` (architecture dict: kind, base, transforms,
            hidden, bins, and ``decorrelate``: shift each feature's log / logit by a slope in
            log m fitted on the sidebands before the sideband flow),
            ``fit`` (flow training dict: epochs, batch_size, lr, patience), ``classifier``
            (``mlp``, the default, or ``hgb``, cwola's default), ``classifier_options``
            (dict), ``k`` (folds, 5),
            ``oversample`` (4), ``alpha`` (0.1) and ``iterations`` (2) for bootstrap,
            ``n_mass`` (5: SR mass points anode averages its densities over),
            ``signal_fraction`` (ranode: ``"learn"``, the default, or a fixed fraction),
            ``space`` (``"latent"``, the default, or ``"data"``: where the flow-based methods
            score; in latent space every event is first mapped to the sideband flow's base
            space at its own m, where the background is N(0, 1) at every m, so that no cut
            on the score sculpts the m spectrum; LaCATHODE, arXiv:2210.14924),
            ``whiten`` (latent space, default True: the SR events' latent points are
            shifted and rotated to zero mean and unit covariance of the SR sample, which
            removes the first two moments of the sideband flow's interpolation misfit; a
            classifier on ~1e5 SR events otherwise learns them and keeps more SR than
            sideband background), ``fresh_template`` (cathode in latent space with the
            MLP, default True: every epoch trains against new N(0, 1) background draws, 15
            epochs unless ``classifier_options`` sets them), ``max_flow_events``
            (at most this many events, drawn at random, train each flow; 250000).
            Unless ``flow`` sets them, features within [0, 1] get a logit map and positive
            features a log map in the flow.

    Returns:
        A :class:`ScoreResult` with one score, fold and region per event.
    """
    from .methods import SPACES

    entry = _METHODS.get(method)
    unknown = set(options) - set(OPTIONS)
    if unknown:
        name = sorted(unknown)[0]
        hint = closest(name, OPTIONS)
        raise BadInputError(f"unknown option {name!r} of score()"
                            + (f" (did you mean {hint[0]!r}?)" if hint else ""))
    # cwola trains on every SR and sideband event (10x CATHODE's SR sample): boosted trees
    # keep it affordable (50-145 s on 1M events, max SIC 0.82 of the optimum, HGB measured)
    for key, value in {"classifier": DEFAULT_CLASSIFIER, **entry.defaults}.items():
        options.setdefault(key, value)
    if int(options.get("k", 5)) < 2:
        raise BadInputError(f"k={options['k']!r}: cross-scoring needs at least 2 folds")
    if float(options.get("oversample", 4.0)) <= 0:
        raise BadInputError(f"oversample={options['oversample']!r} must be positive")
    for flag in ("whiten", "fresh_template"):
        if not isinstance(options.get(flag, True), bool):
            raise BadInputError(f"{flag}={options[flag]!r} must be true or false")
    if options.get("space", "latent") not in SPACES:
        raise BadInputError(f"space={options['space']!r}: use one of {', '.join(SPACES)}")
    x, m, names, regions, codes, options["flow"] = _prepare(
        x, m, names, sr, sideband_width, min_sr, min_sideband, options.get("flow"))
    dev = resolve_device(device)
    if model_dir is not None:
        Path(model_dir).mkdir(parents=True, exist_ok=True)
    start = time.perf_counter()
    values, fold, info, template = entry.score(x, m, codes, names, seed=seed, device=dev,
                                               model_dir=model_dir, regions=regions,
                                               **options)
    elapsed = time.perf_counter() - start
    config = {"method": method, "sr": list(regions.sr), "sideband_width": sideband_width,
              "features": names, "device": dev, "n_events": len(x),
              "n_sr": int((codes == SIGNAL_REGION).sum()),
              "n_sideband": int((codes == SIDEBAND).sum()), **options}
    info = {**info, "config": config, "seconds": elapsed}
    if model_dir is not None:
        write_json(Path(model_dir) / "provenance.json",
                   {**provenance(seed, config), "info": info})
    log.info("%s scores of %d events in %.1f s", method, len(x), elapsed)
    return ScoreResult(np.asarray(values, dtype=np.float64), np.asarray(fold, dtype=np.int64),
                       codes, method, info,
                       None if template is None else np.asarray(template, dtype=np.float64))
