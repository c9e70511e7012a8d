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
:mod:`flowstats.anomaly.sculpting` tests that; :mod:`flowstats.anomaly.pseudodata` builds the
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
from ..exceptions import BadInputError, ConfigError, closest
from ..registry import METHODS as _METHODS
from ..registry import DerivedNames
from ..settings.analysis import DEFAULT_CLASSIFIER
from .regions import SIDEBAND, SIGNAL_REGION, Regions, parse_window

log = logging.getLogger(__name__)

__all__ = ["DEFAULT_CLASSIFIER", "METHOD_NAMES", "Regions", "ScoreResult", "parse_window",
           "score"]

#: the registered methods' names (:data:`flowstats.registry.METHODS`, plugins included)
METHOD_NAMES = DerivedNames(_METHODS.names, _METHODS)
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
    r"""Checked inputs, regions, region codes and the resolved flow options (with the automatic
    domain maps where ``bounds``/``positive`` are not set) of :func:`score`; shared with the
    closure pseudo-data, whose sideband flow must be the same flow (the same options: the
    saved one is reused)."""
    from ..settings.analysis import SidebandFlowSettings

    x, m, names = _check_inputs(x, m, names)
    regions = Regions(parse_window(sr), sideband_width)
    codes = regions.check(m, min_sr=min_sr, min_sideband=min_sideband)
    _check_not_constant(x, names, codes >= 0)
    try:
        resolved = SidebandFlowSettings.parse(flow, "score option 'flow'").to_dict()
    except ConfigError as err:
        raise BadInputError(str(err)) from None
    auto = _auto_preprocessing(x[codes >= 0], names)
    flow = {k: auto[k] if v is None and k in auto else v for k, v in resolved.items()}
    return x, m, names, regions, codes, flow


#: The checked inputs of :func:`score` (``_prepare``), public for the closure check
#: (:mod:`.pseudodata`), which must build the same sideband flow.
prepare_inputs = _prepare


def _resolved_options(entry: Any, options: dict[str, Any]) -> dict[str, Any]:
    r"""The options of :func:`score`, validated once by
    :class:`~flowstats.settings.analysis.ScoreSettings` and completed by its defaults, the
    method's (its registry entry's ``defaults``) and :data:`DEFAULT_CLASSIFIER`; options that
    only a plugin method declares are passed on as given."""
    from ..settings.analysis import ScoreSettings

    fields = set(ScoreSettings.model_fields)
    unknown = sorted(set(options) - fields - set(OPTIONS))
    if unknown:
        hint = closest(unknown[0], sorted(fields | set(OPTIONS)))
        raise BadInputError(f"unknown option {unknown[0]!r} of score()"
                            + (f" (did you mean {hint[0]!r}?)" if hint else ""))
    given = {**entry.defaults, **options}
    try:
        settings = ScoreSettings.parse({k: v for k, v in given.items() if k in fields},
                                       "score() options")
    except ConfigError as err:
        raise BadInputError(str(err)) from None
    if settings.classifier is None:
        settings.classifier = DEFAULT_CLASSIFIER
    return {**{k: v for k, v in given.items() if k not in fields}, **settings.to_dict()}


def score(x: np.ndarray, m: np.ndarray, *, method: str = "cathode",
          sr: tuple[float, float] | str, sideband_width: float | None = None,
          names: list[str] | None = None, seed: int = 0, device: str = "auto",
          model_dir: str | Path | None = None, **options: Any) -> ScoreResult:
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
        options: The options of :class:`flowstats.settings.analysis.ScoreSettings` (each
            with its type, default and description there: ``flow``, ``fit``, ``space``,
            ``whiten``, ``classifier``, ``classifier_options``, ``k``, ``oversample``,
            ``min_sr``, ``min_sideband``, ...), validated once here: an unknown or bad option
            raises :class:`~flowstats.exceptions.BadInputError` naming it (and the closest
            valid name). Unless ``flow`` sets them, features within [0, 1] get a logit map
            and positive features a log map in the flow.

    Returns:
        A :class:`ScoreResult` with one score, fold and region per event.
    """
    entry = _METHODS.get(method)
    options = _resolved_options(entry, options)
    min_sr, min_sideband = options.pop("min_sr"), options.pop("min_sideband")
    x, m, names, regions, codes, options["flow"] = _prepare(
        x, m, names, sr, sideband_width, min_sr, min_sideband, options["flow"])
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
