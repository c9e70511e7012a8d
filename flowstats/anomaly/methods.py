r"""The anomaly scores: ``anode``, ``cathode``, ``cwola``, ``bootstrap``, ``density``.

Each method takes the features ``x`` (n, d), the resonant mass ``m`` (n,) and the region code of
every event (1 SR, 0 sideband, -1 outside), and returns a score for EVERY event (higher = more
signal-like), the fold whose model scored it, a summary, and, where it has one, the scores of a
**background template** of the SR (``oversample`` x n_SR background draws, each scored by a
model that did not see it; None otherwise): in latent space standard-normal draws, in data
space (cathode, density) draws of the sideband flow at SR masses. Fold numbers: ``0..k-1`` for
the cross-scored methods (the fold model never saw the event), ``-1`` for ``density``.

Every flow-based method works by default in the latent space of the sideband flow
(``space="latent"``, LaCATHODE, arXiv:2210.14924): each event's features are mapped to the
flow's standard-normal base space at the event's own m, u = f^-1(x; m). Background events then
have u ~ N(0, 1) at every m, so any function of u keeps the same background fraction at every
m: no sculpting of the spectrum the bump hunt fits. ``space="data"`` gives the original
methods on x, which sculpt when the features depend on m (benchmarks/bench_sculpting.py).
``space="calibrated"`` (cathode and density) scores on x as in data space
and then replaces every score by its background tail probability at the event's own mass
(:mod:`.calibration`): the background efficiency of a cut is again the same at every m where
the sideband flow's samples follow the background, and the classifier keeps the data space's
sensitivity, which the latent space loses as the signal moves there with m (1M events with 1000
signal events, 5 seeds: max SIC / exact LR 0.90 against 0.85 on the dijet sample, 0.86 against
0.69 on its variant). It is not the default: with a feature that follows m strongly it sculpts
the top 10 % (docs/guide/sculpting.md).

* ``density``: ``|u|^2 / 2`` in latent space; ``-log p_bkg(x | m)`` in data space.
* ``anode`` (arXiv:2001.04990): ``log p_SR - log p_bkg``, one function of the features for
  every event; p_SR is learnt by ``k`` flows on the SR events (of u in latent space, where
  p_bkg is the standard normal), cross-fitted like the classifiers (an SR event is scored by
  the flow that did not see it), averaged over the SR's mass distribution. See :func:`anode`
  for the two simpler variants that sculpted the no-signal spectrum.
* ``ranode`` (R-ANODE, arXiv:2312.11629): ANODE with the background density fixed from the
  sidebands; only a signal density (and the signal fraction) is learnt in the SR, as the
  mixture ``f p_S + (1 - f) p_bkg``; score ``log p_S - log p_bkg``. See :func:`ranode`.
* ``cathode`` (arXiv:2109.00546): a classifier of SR data (label 1) against background samples
  (``oversample`` times as many, weighted down to the data's total), with k-fold
  cross-scoring; in latent space the samples are N(0, 1) draws and the data their u, in data
  space the samples are drawn from the sideband flow at SR masses. m is not a classifier
  input. Sideband and outside events are scored by the model of a fold drawn at random for
  them (no fold model saw them): their score is the same function applied to background at
  other masses, which is what the bump hunt needs to see how the selection acts on
  background.
* ``cwola`` (arXiv:1805.02664, 1902.02634): a classifier of SR (1) against sideband (0) events,
  k-fold cross-scored over both; outside events get a random fold's model. It fails when x
  correlates with m: the classifier then learns the m dependence, not the signal.
* ``bootstrap``: the iterative likelihood-ratio estimate of J. Tan (ICML INNF workshop 2020),
  as read here: start from the CATHODE ratio lambda_0 = p_SR / p_bkg. At step t the threshold
  epsilon_t is the (1 - alpha) quantile of lambda_t on the (held-out scored) background samples,
  so that a background event passes ``lambda_t <= epsilon_t`` with probability 1 - alpha (Type-I
  rate alpha). The background density in the SR is re-estimated from the SR events that pass
  (they are background up to a signal leakage that the cut makes small), completed where they
  cannot be used (``lambda_t > epsilon_t``) by the sideband-flow samples, weighted to
  ``alpha / (1 - alpha)`` times the number of passing events. The ratio of the SR data to this
  reference is re-learnt (same folds: no event is scored by a model that saw it) and the step is
  iterated ``iterations`` times. The data-driven reference removes the interpolation error of
  the sideband flow in the bulk, so the ratio concentrates on the tail where the signal is.
"""

from __future__ import annotations

import hashlib
import json
import logging
from dataclasses import dataclass, fields
from pathlib import Path
from typing import Any

import numpy as np

from ..registry import METHODS as _REGISTRY
from ..registry import DerivedMapping, Method
from .background import DEFAULT_FIT, ConditionalDensity, resolved_flow, sample_mass
from .classifiers import TrainingSet, cross_score
from .regions import SIDEBAND, SIGNAL_REGION

log = logging.getLogger(__name__)

__all__ = ["METHODS", "anode", "bootstrap", "cathode", "cwola", "density", "ranode"]

#: fewest optimiser steps per flow-training epoch (the batch size shrinks for small samples)
MIN_STEPS = 50


def _fingerprint(*arrays: np.ndarray, **config: Any) -> str:
    h = hashlib.sha256()
    for a in arrays:
        h.update(np.ascontiguousarray(a, dtype=np.float64).tobytes())
    h.update(json.dumps(config, sort_keys=True, default=str).encode())
    return h.hexdigest()[:20]


def _fit_options(fit: dict | None, n: int) -> dict[str, Any]:
    r"""Flow training options; small samples (e.g. the SR of ANODE) get at least MIN_STEPS
    optimiser steps per epoch (a smaller batch)."""
    options = {**DEFAULT_FIT, **(fit or {})}
    n_train = (1 - options["val_fraction"]) * n
    options["batch_size"] = int(max(64, min(options["batch_size"], n_train // MIN_STEPS)))
    return options


def _density(x: np.ndarray, m: np.ndarray, names: list[str], *, what: str, seed: int,
             device: str, model_dir: str | Path | None, flow: dict | None,
             fit: dict | None, max_flow_events: int | None) -> ConditionalDensity:
    r"""Trains (or reloads from ``model_dir/what`` when trained on the same events) a flow.

    At most ``max_flow_events`` events, drawn at random with the seed, are used.
    """
    if max_flow_events is not None and len(x) > max_flow_events:
        keep = np.sort(np.random.default_rng(seed + 5).choice(len(x), int(max_flow_events),
                                                              replace=False))
        x, m = x[keep], m[keep]
    # the resolved architecture and training options: a flow saved under another default
    # (e.g. ReLU networks, 20 epochs) is retrained, not reused
    key = _fingerprint(x, m, names=names, seed=seed, flow=resolved_flow(flow),
                       fit=_fit_options(fit, len(x)))
    where = None if model_dir is None else Path(model_dir) / what
    if where is not None and (where / "fingerprint").exists():
        if (where / "fingerprint").read_text().strip() == key:
            log.info("reusing the %s flow saved in %s", what, where)
            return ConditionalDensity.load(where)
        log.info("the %s flow in %s was trained on other events or settings: retraining",
                 what, where)
    log.info("training the %s flow on %d events", what, len(x))
    flow = dict(flow or {})
    decorrelate = bool(flow.pop("decorrelate", False))
    dens = ConditionalDensity(names, seed=seed, flow=flow, decorrelate=decorrelate)
    dens.fit(x, m, device=device, **_fit_options(fit, len(x)))
    if where is not None:
        dens.save(where)
        (where / "fingerprint").write_text(key + "\n")
    return dens


def _background(x: np.ndarray, m: np.ndarray, codes: np.ndarray, names: list[str], *,
                seed: int, device: str, model_dir: str | Path | None, flow: dict | None,
                fit: dict | None, max_flow_events: int | None) -> ConditionalDensity:
    r"""The sideband background flow p_bkg(x | m) of every flow-based method (trained on the
    sideband events, or reloaded from ``model_dir/background``)."""
    sb = codes == SIDEBAND
    return _density(x[sb], m[sb], names, what="background", seed=seed, device=device,
                    model_dir=model_dir, flow=flow, fit=fit, max_flow_events=max_flow_events)


#: The sideband background flow of the flow-based methods (``_background``), public for the
#: closure check (:mod:`.pseudodata`).
background_flow = _background


def _flow_only(flow: dict | None) -> dict:
    r"""The options of a :class:`~flowstats.flows.Flow` among the sideband-flow options
    (``decorrelate`` belongs to :class:`ConditionalDensity`)."""
    return {k: v for k, v in (flow or {}).items() if k != "decorrelate"}


def _normal_template(n_sr: int, d: int, oversample: float, seed: int) -> np.ndarray:
    r"""``oversample`` x ``n_sr`` standard-normal points in d dimensions: the background of the
    SR in latent space (the same draws for every method at one seed)."""
    return np.random.default_rng(seed + 12).standard_normal((int(round(float(oversample) * n_sr)),
                                                             d))


def _log_normal(u: np.ndarray) -> np.ndarray:
    r"""log N(u; 0, 1) of every row of ``u``."""
    return -0.5 * np.sum(u**2, axis=1) - 0.5 * u.shape[1] * np.log(2 * np.pi)


#: the spaces a flow-based score can be computed in: the sideband flow's latent space, the
#: features, or the features with the score calibrated per mass (:mod:`.calibration`)
SPACES = ("latent", "data", "calibrated")
#: the methods that implement ``space="calibrated"``
CALIBRATED_METHODS = ("cathode", "density")
#: reference samples per event from which ``space="calibrated"`` passes the sculpting study
CALIBRATED_OVERSAMPLE = 16


def _outside_masses(m: np.ndarray, window: tuple[float, float], oversample: float,
                    seed: int) -> np.ndarray:
    r"""The masses at which ``space="calibrated"`` draws its background reference outside the SR
    window: ``oversample`` per event there (every mass ``int(oversample)`` times, and a seeded
    random fraction of them once more).

    The reference's own scatter adds to the selection's: with one sample per event the
    sculpting study's 1M-event ``correlated`` sample had chi2/ndf 2.08 / 0.97 / 1.61 at 10 / 1 /
    0.1 %, with four 1.29 / 1.17 / 1.22 (about 1 + 1/oversample, as a toy predicts). In the
    study of 20 x 40k events that sample still fails with four (1.29 and 1.48 at 10 and 0.1 %)
    and passes with :data:`CALIBRATED_OVERSAMPLE` (docs/guide/sculpting.md), hence the warning;
    at 1M events it still failed its top 10 % with 16 (2.05, one pseudo-experiment).
    """
    if oversample < CALIBRATED_OVERSAMPLE:
        log.warning("space 'calibrated' with oversample %g: the reference's own scatter adds "
                    "about 1/%g to the selected spectrum's variance (the 40k-event sculpting "
                    "study fails with 4 when a feature follows m, and passes with %d, at several "
                    "times the cost); give oversample >= %d and run --closure",
                    oversample, oversample, CALIBRATED_OVERSAMPLE, CALIBRATED_OVERSAMPLE)
    lo, hi = window
    out = m[(m < lo) | (m >= hi)]
    whole = int(oversample)
    extra = np.random.default_rng(seed + 14).random(len(out)) < float(oversample) - whole
    return np.concatenate([np.repeat(out, whole), out[extra]])


def _require_space(method: str, space: str) -> None:
    r"""Refuses ``space="calibrated"`` for a method that does not implement it."""
    if space == "calibrated" and method not in CALIBRATED_METHODS:
        from ..exceptions import BadInputError

        raise BadInputError(f"{method}: space 'calibrated' is implemented only for "
                            f"{' and '.join(CALIBRATED_METHODS)}; use space 'latent' or "
                            "'data'")


#: latent coordinates are clipped to +-LATENT_CLIP (points outside a feature's domain map to inf)
LATENT_CLIP = 20.0


def _clip(u: np.ndarray) -> np.ndarray:
    return np.clip(np.nan_to_num(u, nan=LATENT_CLIP), -LATENT_CLIP, LATENT_CLIP)


#: fewest SR events per latent dimension for the SR whitening (fewer: the moments are too noisy)
WHITEN_MIN_PER_DIM = 25


def _whitening(u: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    r"""Mean, symmetric inverse square root of the covariance and standard deviations of the
    rows of ``u`` (points clipped at :data:`LATENT_CLIP`, i.e. outside the flow's domain, left
    out)."""
    good = np.all(np.abs(u) < LATENT_CLIP, axis=1)
    mu = u[good].mean(axis=0)
    cov = np.atleast_2d(np.cov(u[good], rowvar=False))
    vals, vecs = np.linalg.eigh(cov)
    inv_sqrt = (vecs / np.sqrt(np.maximum(vals, 1e-12))) @ vecs.T
    return mu, inv_sqrt, np.sqrt(np.diag(cov))


def _latent(bkg: ConditionalDensity, x: np.ndarray, m: np.ndarray, codes: np.ndarray,
            whiten: bool) -> tuple[np.ndarray, dict]:
    r"""Every event's latent point of the sideband flow at its own mass, clipped; with
    ``whiten``, the SR events' points are then shifted and rotated to zero mean and unit
    covariance of the SR sample (ZCA whitening, the transformation closest to the identity).

    Why: the sideband flow's interpolation into the SR is good to about 1-2 % in the first two
    moments of u, which a classifier trained on ~1e5 SR events against N(0, 1) resolves: it then
    keeps more SR than sideband background, a fake local excess. The whitening removes those two
    moments of the SR background's misfit by construction, from the SR data themselves, and
    leaves the signal, a localised over-density, in place (14 numbers for 4 features); a large
    signal fraction shifts the SR moments itself and loses part of its significance
    (docs/guide/sculpting.md has the measurements). Sideband events are not changed (their
    latent points are N(0, 1) where the flow was trained).

    Returns:
        The latent points and a summary: ``whiten`` (whether it was applied), and when it was,
        the SR latent means and widths before it (``sr_latent_mean``, ``sr_latent_std``).
    """
    u = _clip(bkg.latent(x, m))
    sr = codes == SIGNAL_REGION
    info: dict[str, Any] = {"whiten": bool(whiten)}
    if not whiten:
        return u, info
    if sr.sum() < WHITEN_MIN_PER_DIM * u.shape[1]:
        log.warning("SR whitening skipped: %d SR events are too few for the moments of %d "
                    "latent features (need %d)", int(sr.sum()), u.shape[1],
                    WHITEN_MIN_PER_DIM * u.shape[1])
        info["whiten"] = False
        return u, info
    mu, inv_sqrt, std = _whitening(u[sr])
    u[sr] = _clip((u[sr] - mu) @ inv_sqrt)
    info["sr_latent_mean"] = [float(v) for v in mu]
    info["sr_latent_std"] = [float(v) for v in std]
    return u, info


def _latent_flow(flow: dict | None) -> dict:
    r"""Flow options for densities of latent points (no domain maps: they are unbounded)."""
    return _flow_only(flow) | {"bounds": {}, "positive": []}


def _random_folds(n: int, k: int, rng: np.random.Generator) -> np.ndarray:
    r"""Balanced random fold numbers in [0, k)."""
    return rng.permutation(np.arange(n) % k).astype(np.int64)


@dataclass(frozen=True)
class MethodInputs:
    r"""The events and run settings of one method call (what :func:`flowstats.anomaly.score`
    hands every method besides its options).

    Attributes:
        x, m, codes: Features (n, d), mass (n,), region codes (n,).
        names: Feature names.
        seed, device, model_dir: Seed, torch device, where models are saved/reused.
        regions: The :class:`~flowstats.anomaly.regions.Regions` (for the SR window).
    """

    x: np.ndarray
    m: np.ndarray
    codes: np.ndarray
    names: list[str]
    seed: int = 0
    device: str = "cpu"
    model_dir: str | Path | None = None
    regions: Any = None

    def background(self, flows: FlowOptions) -> ConditionalDensity:
        r"""The sideband background flow (``_background``)."""
        return _background(self.x, self.m, self.codes, self.names, seed=self.seed,
                           device=self.device, model_dir=self.model_dir, flow=flows.flow,
                           fit=flows.fit, max_flow_events=flows.max_flow_events)


class _FromOptions:
    r"""Builds a dataclass of options from a method's ``options``."""

    @classmethod
    def of(cls, options: dict[str, Any]) -> Any:
        r"""The settings among a method's ``options`` (all of them resolved by
        :func:`flowstats.anomaly.score` from
        :class:`~flowstats.settings.analysis.ScoreSettings`; other options are ignored)."""
        return cls(**{f.name: options[f.name] for f in fields(cls) if f.name in options})


@dataclass(frozen=True)
class FlowOptions(_FromOptions):
    r"""The sideband-flow and space options of the flow-based methods.

    Attributes:
        flow, fit: Flow architecture and training options.
        max_flow_events: At most this many events, drawn at random, train each flow.
        space: ``"latent"`` or ``"data"``.
        whiten: In latent space, whiten the SR events' latent points (``_latent``).
        oversample: Number of background template samples per SR event.
    """

    flow: dict | None
    fit: dict | None
    max_flow_events: int | None
    space: str
    whiten: bool
    oversample: float


@dataclass(frozen=True)
class ClassifierOptions(_FromOptions):
    r"""The classifier options of cathode and bootstrap.

    Attributes:
        classifier: ``"mlp"`` or ``"hgb"``.
        classifier_options: Passed to the classifier.
        k: Number of folds of the cross-scoring.
    """

    classifier: str
    classifier_options: dict | None
    k: int


def density(x: np.ndarray, m: np.ndarray, codes: np.ndarray, names: list[str], *, seed: int = 0,
            device: str = "cpu", model_dir: str | Path | None = None, regions: Any = None,
            **options: Any) -> tuple[np.ndarray, np.ndarray, dict, np.ndarray]:
    r"""Outlier score of the sideband background flow.

    ``space="latent"`` (default): half the squared norm of the event's latent point at its
    own mass, ``|u(x, m)|^2 / 2`` (-log of the standard-normal base density): its background
    distribution (chi2 with d degrees of freedom) is the same at every m. ``space="data"``:
    ``-log p_bkg(x | m)``, which carries the m dependence of the features' scale through the
    Jacobian and so sculpts m (tests/test_anomaly.py); ``space="calibrated"``: that score
    calibrated per mass (:func:`flowstats.anomaly.calibration.calibrate`).

    Arguments:
        x, m, codes: Features (n, d), mass (n,), region codes (n,).
        names: Feature names.
        seed, device, model_dir: Seed, torch device, where models are saved/reused.
        regions: The :class:`~flowstats.anomaly.regions.Regions` (for the SR window).
        options: The :class:`FlowOptions` (``flow``, ``fit``, ``max_flow_events``, ``space``,
            ``whiten``, ``oversample``); other options are ignored.
    """
    fs = FlowOptions.of(options)
    bkg = MethodInputs(x, m, codes, names, seed, device, model_dir, regions).background(fs)
    sr = codes == SIGNAL_REGION
    latent_info: dict = {}
    if fs.space == "latent":
        u, latent_info = _latent(bkg, x, m, codes, fs.whiten)
        score = 0.5 * np.sum(u**2, axis=1)
        template = 0.5 * np.sum(_normal_template(sr.sum(), x.shape[1], fs.oversample, seed) ** 2,
                                axis=1)
    else:
        score = -bkg.log_prob(x, m)
        m_t = sample_mass(m[sr], int(round(float(fs.oversample) * sr.sum())), regions.sr,
                          seed=seed + 11)
        template = -bkg.log_prob(bkg.sample(m_t, seed=seed + 12), m_t)
        if fs.space == "calibrated":
            from .calibration import calibrate

            m_c = _outside_masses(m, regions.sr, fs.oversample, seed)
            outside = -bkg.log_prob(bkg.sample(m_c, seed=seed + 13), m_c)
            score, template = calibrate(score, m, regions.sr, template, m_t, outside, m_c)
    return score, np.full(len(x), -1, dtype=np.int64), {"background": _summary(bkg),
                                                       "space": fs.space, **latent_info}, template


def _summary(dens: ConditionalDensity) -> dict:
    h = dens.history or {}
    return {k: h[k] for k in ("best_epoch", "best_val_loss") if k in h}


def anode(x: np.ndarray, m: np.ndarray, codes: np.ndarray, names: list[str], *, seed: int = 0,
          device: str = "cpu", model_dir: str | Path | None = None, regions: Any = None,
          k: int, n_mass: int,
          **options: Any) -> tuple[np.ndarray, np.ndarray, dict, np.ndarray | None]:
    r"""ANODE (arXiv:2001.04990): the ratio of an SR density to the sideband background's.

    The score of an event is ``log p_SR - log p_bkg``, one function of the event's features
    for every event, SR and sidebands alike, as CATHODE's classifier is. p_SR is learnt by
    ``k`` conditional flows, each on the SR events outside one fold; an event is scored by the
    flow of its own fold (SR events: the flow that never saw them; others: a fold drawn at
    random), with p_SR averaged over the SR's mass distribution (``n_mass`` of its quantiles).

    ``space="latent"`` (default): both densities are densities of the event's latent point
    u(x, m) of the sideband flow at its own mass; p_bkg(u) is then the standard normal at
    every m, and p_SR is learnt on the SR events' latent points (the LaCATHODE idea,
    arXiv:2210.14924, applied to ANODE). ``space="data"``: densities of x, p_bkg averaged over
    the SR masses like p_SR.

    Measured on a 40k no-signal dijet sample (the top-1 % selection, the sculpting test of
    tests/test_anomaly.py): one p_SR trained on all SR events rates its own training events
    above unseen events of the same x and carved a bump at the SR (p < 1e-4); p_SR and p_bkg
    evaluated at each event's own mass clamped into the SR (sideband masses are an
    extrapolation the SR flow never saw) then carved a dip (p < 1e-4). In data space the
    cross-fitted, mass-averaged score still sculpts the spectrum outside the SR (the features
    scale with m), which the latent space removes (benchmarks/bench_sculpting.py).

    Arguments:
        x, m, codes, names, seed, device, model_dir, regions: as :func:`density`.
        k: Number of SR folds (SR flows).
        n_mass: Number of SR mass quantiles the densities are averaged over.
        options: The :class:`FlowOptions` (``flow``, ``fit``, ``max_flow_events``, ``space``,
            ``whiten``, ``oversample``); other options are ignored.
    """
    from scipy.special import logsumexp

    fs = FlowOptions.of(options)
    flow, fit, space = fs.flow, fs.fit, fs.space
    _require_space("anode", space)
    rng = np.random.default_rng(seed + 21)
    sr = codes == SIGNAL_REGION
    bkg = MethodInputs(x, m, codes, names, seed, device, model_dir, regions).background(fs)
    fold = _random_folds(len(x), k, rng)
    # the SR's mass distribution, as n_mass equal-probability points (its quantiles)
    m_q = np.quantile(m[sr], (np.arange(n_mass) + 0.5) / n_mass)

    def marginal(dens: ConditionalDensity, xs: np.ndarray) -> np.ndarray:
        logp = np.stack([dens.log_prob(xs, np.full(len(xs), mq)) for mq in m_q])
        return logsumexp(logp, axis=0) - np.log(n_mass)

    latent_info: dict = {}
    if space == "latent":
        x, latent_info = _latent(bkg, x, m, codes, fs.whiten)
        score = 0.5 * np.sum(x**2, axis=1)  # -log N(u), up to a constant
        sr_flow, what = _latent_flow(flow), "sr_latent"
    else:
        score = -marginal(bkg, x)
        sr_flow, what = flow, "sr"
    # the background template (latent space: standard-normal draws, scored like the events)
    template = f_t = None
    if space == "latent":
        u_t = _normal_template(sr.sum(), x.shape[1], fs.oversample, seed)
        template, f_t = 0.5 * np.sum(u_t**2, axis=1), _random_folds(len(u_t), k, rng)
    summaries = []
    for j in range(k):
        train = sr & (fold != j)
        sig = _density(x[train], m[train], names, what=f"{what}/fold{j}", seed=seed + 1 + j,
                       device=device, model_dir=model_dir, flow=sr_flow, fit=fit,
                       max_flow_events=fs.max_flow_events)
        summaries.append(_summary(sig))
        mine = fold == j
        score[mine] += marginal(sig, x[mine])
        if template is not None:
            template[f_t == j] += marginal(sig, u_t[f_t == j])
    # where either density underflows, the score is not a number: rank such events lowest
    score = np.where(np.isfinite(score), score, -np.inf)
    return score, fold, {"background": _summary(bkg), "sr": summaries,
                         "masses": m_q.tolist(), "space": space, **latent_info}, template


def _sr_samples(data: MethodInputs, fs: FlowOptions, bkg: ConditionalDensity | None = None
                ) -> tuple[np.ndarray, np.ndarray, dict, np.ndarray | None]:
    r"""The classifier's inputs: every event's features, background samples in the SR, a
    summary, and the samples' masses (None in latent space).

    In latent space the events are mapped to the sideband flow's base space at their own
    mass, where the background is standard normal at every m: the samples are then drawn from
    N(0, 1) directly (LaCATHODE, arXiv:2210.14924). In data space the samples are drawn from
    the sideband flow at SR masses drawn from the SR's mass distribution (CATHODE).
    """
    x, m, codes, seed = data.x, data.m, data.codes, data.seed
    sr = codes == SIGNAL_REGION
    bkg = data.background(fs) if bkg is None else bkg
    n = int(round(fs.oversample * sr.sum()))
    if fs.space == "latent":
        u, latent_info = _latent(bkg, x, m, codes, fs.whiten)
        u_s = _normal_template(sr.sum(), x.shape[1], fs.oversample, seed)
        return u, u_s, {"background": _summary(bkg), "n_samples": n, "space": fs.space,
                        **latent_info}, None
    m_s = sample_mass(m[sr], n, data.regions.sr, seed=seed + 11)
    colour_info, colour = (_colouring(bkg, x, m, sr, fs) if fs.space == "calibrated"
                           else ({}, None))
    if colour is not None:
        # the template in the latent space coloured with the SR events' latent mean and
        # covariance, mapped back to the features (_colouring)
        mu, root = colour
        x_s = bkg.from_latent(mu + _normal_template(sr.sum(), x.shape[1], fs.oversample, seed)
                              @ root, m_s)
    else:
        x_s = bkg.sample(m_s, seed=seed + 12)
    good = np.isfinite(x_s).all(axis=1)
    if not good.all():
        log.warning("%d background samples are not finite and are dropped", int((~good).sum()))
    return x, x_s[good], {"background": _summary(bkg), "n_samples": int(good.sum()),
                          "space": fs.space, **colour_info}, m_s[good]


def _colouring(bkg: ConditionalDensity, x: np.ndarray, m: np.ndarray, sr: np.ndarray,
               fs: FlowOptions) -> tuple[dict[str, Any], tuple[np.ndarray, np.ndarray] | None]:
    r"""The SR whitening of ``space="calibrated"``, done the other way round: instead of
    whitening the SR events' latent points (``_latent``), the template's standard-normal
    latent points are given the SR events' latent mean and covariance before they are mapped
    back to the features. The classifier then compares the SR events with a background
    model whose first two latent moments are the SR's own, so the sideband flow's
    interpolation misfit in those moments is not learnt as signal (the same protection as the
    whitening in latent space; a test scales mj1 by 20 % in the SR).

    Returns:
        The summary: ``whiten`` (whether it is applied), and when it is, ``sr_latent_mean``
        and ``sr_latent_std``; and the colouring, the SR's latent mean and the symmetric square
        root of its covariance (None when it is not applied).
    """
    if not fs.whiten:
        return {"whiten": False}, None
    d = x.shape[1]
    if sr.sum() < WHITEN_MIN_PER_DIM * d:
        log.warning("SR colouring of the template skipped: %d SR events are too few for the "
                    "moments of %d latent features (need %d)", int(sr.sum()), d,
                    WHITEN_MIN_PER_DIM * d)
        return {"whiten": False}, None
    mu, inv_sqrt, std = _whitening(_clip(bkg.latent(x[sr], m[sr])))
    return ({"whiten": True, "sr_latent_mean": [float(v) for v in mu],
             "sr_latent_std": [float(v) for v in std]}, (mu, np.linalg.inv(inv_sqrt)))


#: MLP epochs of latent CATHODE with a fresh template every epoch (``fresh_template``): each
#: epoch sees new background, so half the 30 epochs of a fixed template reach the same
#: sensitivity (the measurements are in the CHANGELOG and the documentation)
FRESH_TEMPLATE_EPOCHS = 15


def _classifier_options(classifier: str, classifier_options: dict | None, device: str) -> dict:
    options = dict(classifier_options or {})
    if classifier == "mlp":
        options.setdefault("device", device)
    return options


def cathode(x: np.ndarray, m: np.ndarray, codes: np.ndarray, names: list[str], *, seed: int = 0,
            device: str = "cpu", model_dir: str | Path | None = None, regions: Any = None,
            fresh_template: bool,
            **options: Any) -> tuple[np.ndarray, np.ndarray, dict, np.ndarray]:
    r"""CATHODE: SR data against sideband-flow samples in the SR (arXiv:2109.00546).

    ``space="latent"`` (default) is LaCATHODE (arXiv:2210.14924): the classifier separates the
    SR events' latent points (the sideband flow's base space at each event's own mass) from
    standard-normal samples, and every event is scored at its latent point, so the background
    efficiency of a cut is the same at every m. ``space="data"`` is the original CATHODE.
    ``space="calibrated"`` is the original CATHODE with its score replaced by
    the score's background tail probability at the event's own mass
    (:func:`flowstats.anomaly.calibration.calibrate`): the data-space classifier's
    sensitivity with a background efficiency that is the same at every m.

    Arguments:
        x, m, codes, names, seed, device, model_dir, regions: as :func:`density`.
        options: The :class:`FlowOptions` (``flow``, ``fit``, ``max_flow_events``, ``space``,
            ``whiten``, ``oversample``: background samples per SR event) and the
            :class:`ClassifierOptions` (``classifier``: ``"mlp"`` or ``"hgb"``,
            ``classifier_options``: passed to it, ``k``: folds of the cross-scoring); other
            options are ignored.
        fresh_template: In latent space, the MLP trains every epoch against new N(0, 1)
            draws (``oversample`` x n_SR of them) instead of the same template again, and
            trains :data:`FRESH_TEMPLATE_EPOCHS` epochs unless ``classifier_options`` sets
            ``epochs``; the template drawn first is the validation sample and is scored as
            usual. The background of latent space is known exactly, so the template need not
            be finite: the classifier cannot learn one draw's fluctuations as signal, and needs
            half the epochs (:data:`FRESH_TEMPLATE_EPOCHS`). The boosted trees keep the given
            template.
    """
    fs, cs = FlowOptions.of(options), ClassifierOptions.of(options)
    k, classifier = cs.k, cs.classifier
    rng = np.random.default_rng(seed + 21)
    inputs = MethodInputs(x, m, codes, names, seed, device, model_dir, regions)
    bkg = inputs.background(fs)
    x, x_s, info, m_s = _sr_samples(inputs, fs, bkg)
    sr = codes == SIGNAL_REGION
    fold = _random_folds(len(x), k, rng)
    f_s = _random_folds(len(x_s), k, rng)
    xt = np.concatenate([x[sr], x_s])
    yt = np.concatenate([np.ones(sr.sum()), np.zeros(len(x_s))]).astype(np.int64)
    ft = np.concatenate([fold[sr], f_s])
    # background samples at the masses of the events outside the SR (space "calibrated": the
    # calibration's reference there), each scored by a fold model drawn at random (none
    # trained on them)
    x_c, m_c = np.empty((0, x.shape[1])), np.empty(0)
    if fs.space == "calibrated":
        m_c = _outside_masses(m, regions.sr, fs.oversample, seed)
        x_c = bkg.sample(m_c, seed=seed + 13)
        ok = np.isfinite(x_c).all(axis=1)
        x_c, m_c = x_c[ok], m_c[ok]
        info["n_calibration"] = len(m_c)
    f_c = rng.integers(0, k, len(x_c))
    # every event, the background samples (the template: each scored by the fold model that
    # did not train on it) and the calibration samples
    copts = _classifier_options(classifier, cs.classifier_options, device)
    redraw = None
    if fs.space == "latent" and fresh_template and classifier == "mlp":
        d = x.shape[1]

        def redraw(n: int, gen: np.random.Generator) -> np.ndarray:
            return gen.standard_normal((n, d))

        copts.setdefault("epochs", FRESH_TEMPLATE_EPOCHS)
    info["fresh_template"] = redraw is not None
    both = cross_score(TrainingSet(xt, yt, ft), np.concatenate([x, x_s, x_c]),
                       np.concatenate([fold, f_s, f_c]), k=k, kind=classifier, seed=seed + 31,
                       model_dir=None if model_dir is None else Path(model_dir) / "cathode",
                       redraw=redraw, **copts)
    n, n_s = len(x), len(x_s)
    score, template = both[:n], both[n:n + n_s]
    if fs.space == "calibrated":
        from .calibration import calibrate

        score, template = calibrate(score, m, regions.sr, template, m_s, both[n + n_s:], m_c)
    return score, fold, info, template


def cwola(x: np.ndarray, m: np.ndarray, codes: np.ndarray, names: list[str], *, seed: int = 0,
          device: str = "cpu", model_dir: str | Path | None = None, classifier: str,
          classifier_options: dict | None, k: int,
          **ignored: Any) -> tuple[np.ndarray, np.ndarray, dict, None]:
    r"""CWoLa hunting: SR against sideband events (arXiv:1805.02664, arXiv:1902.02634).

    Arguments:
        x, m, codes, names, seed, device, model_dir: as :func:`density`.
        classifier, classifier_options, k: as :func:`cathode`.
    """
    rng = np.random.default_rng(seed + 21)
    fold = _random_folds(len(x), k, rng)
    use = codes >= 0
    y = (codes[use] == SIGNAL_REGION).astype(np.int64)
    score = cross_score(TrainingSet(x[use], y, fold[use]), x, fold, k=k, kind=classifier,
                        seed=seed + 31,
                        model_dir=None if model_dir is None else Path(model_dir) / "cwola",
                        **_classifier_options(classifier, classifier_options, device))
    return score, fold, {"n_sr": int(y.sum()), "n_sideband": int((y == 0).sum())}, None


def bootstrap(x: np.ndarray, m: np.ndarray, codes: np.ndarray, names: list[str], *,
              seed: int = 0, device: str = "cpu", model_dir: str | Path | None = None,
              regions: Any = None, alpha: float, iterations: int,
              **options: Any) -> tuple[np.ndarray, np.ndarray, dict, None]:
    r"""Iterative likelihood-ratio bootstrap after J. Tan (ICML INNF 2020); see module doc.

    Arguments:
        x, m, codes, names, seed, device, model_dir, regions: As :func:`cathode`.
        alpha: Type-I rate: the fraction of background failing ``lambda <= epsilon``.
        iterations: Number of re-estimation steps after the initial CATHODE ratio.
        options: As :func:`cathode` (:class:`FlowOptions`, ``space="latent"`` by default:
            the ratio is learnt on latent points; :class:`ClassifierOptions`).
    """
    from ..exceptions import BadInputError

    if not 0 < alpha < 1:
        raise BadInputError(f"bootstrap: alpha={alpha!r} must lie in (0, 1)")
    cs = ClassifierOptions.of(options)
    k, classifier = cs.k, cs.classifier
    _require_space("bootstrap", options["space"])
    rng = np.random.default_rng(seed + 21)
    x, x_s, info, _ = _sr_samples(MethodInputs(x, m, codes, names, seed, device, model_dir,
                                               regions), FlowOptions.of(options))
    sr = codes == SIGNAL_REGION
    n_sr = int(sr.sum())
    fold = _random_folds(len(x), k, rng)
    f_s = _random_folds(len(x_s), k, rng)
    copts = _classifier_options(classifier, cs.classifier_options, device)
    x_sr, f_sr = x[sr], fold[sr]
    # step 0: the CATHODE ratio, on the data and (held out) on the samples
    xt = np.concatenate([x_sr, x_s])
    yt = np.concatenate([np.ones(n_sr), np.zeros(len(x_s))]).astype(np.int64)
    wt = np.concatenate([np.ones(n_sr), np.full(len(x_s), n_sr / len(x_s))])
    ft = np.concatenate([f_sr, f_s])
    lam = cross_score(TrainingSet(xt, yt, ft, wt), xt, ft, k=k, kind=classifier,
                      seed=seed + 31, **copts)
    steps = []
    for t in range(iterations):
        train, step = _bootstrap_reference(lam, (x_sr, f_sr), (x_s, f_s), alpha)
        steps.append(step)
        log.info("bootstrap step %d: epsilon=%.3f, %d of %d SR events pass", t + 1,
                 step["epsilon"], step["sr_passing"], n_sr)
        last = t == iterations - 1
        x_eval = np.concatenate([x_sr, x_s]) if not last else x
        f_eval = np.concatenate([f_sr, f_s]) if not last else fold
        lam = cross_score(train, x_eval, f_eval, k=k, kind=classifier,
                          seed=seed + 31 + 7 * (t + 1),
                          model_dir=(None if model_dir is None or not last
                                     else Path(model_dir) / "bootstrap"), **copts)
    if iterations == 0:
        lam = cross_score(TrainingSet(xt, yt, ft, wt), x, fold, k=k, kind=classifier,
                          seed=seed + 31, **copts)
    # no template: the final reference is data-driven, not a background sample
    return lam, fold, {**info, "steps": steps, "alpha": alpha}, None


def _bootstrap_reference(lam: np.ndarray, data: tuple[np.ndarray, np.ndarray],
                         samples: tuple[np.ndarray, np.ndarray], alpha: float
                         ) -> tuple[TrainingSet, dict[str, Any]]:
    r"""One step of :func:`bootstrap`: the SR data against the re-estimated background
    reference, from the current ratio ``lam`` of the SR data (first) and the samples.

    Arguments:
        lam: The ratio of every SR event, then of every background sample.
        data, samples: ``(x, fold)`` of the SR events and of the background samples.
        alpha: The Type-I rate.

    Returns:
        The classifier's training set and the step's summary.
    """
    (x_sr, f_sr), (x_s, f_s) = data, samples
    n_sr = len(x_sr)
    lam_sr, lam_s = lam[:n_sr], lam[n_sr:]
    eps = float(np.quantile(lam_s, 1 - alpha))
    passing = lam_sr <= eps
    failing_s = lam_s > eps
    n_pass = int(passing.sum())
    step = {"epsilon": eps, "sr_passing": n_pass, "sr_failing": int(n_sr - n_pass)}
    w_fail = alpha / (1 - alpha) * n_pass / max(1, int(failing_s.sum()))
    xr = np.concatenate([x_sr[passing], x_s[failing_s]])
    fr = np.concatenate([f_sr[passing], f_s[failing_s]])
    wr = np.concatenate([np.ones(n_pass), np.full(int(failing_s.sum()), w_fail)])
    xt = np.concatenate([x_sr, xr])
    yt = np.concatenate([np.ones(n_sr), np.zeros(len(xr))]).astype(np.int64)
    ft = np.concatenate([f_sr, fr])
    # within the reference, passing data weigh 1 and failing samples w_fail (the classifier
    # rescales each class to equal total weight, which keeps these ratios)
    wt = np.concatenate([np.ones(n_sr), wr * n_sr / wr.sum()])
    return TrainingSet(xt, yt, ft, wt), step


def ranode(x: np.ndarray, m: np.ndarray, codes: np.ndarray, names: list[str], *,
           seed: int = 0, device: str = "cpu", model_dir: str | Path | None = None,
           flow: dict | None = None, fit: dict | None = None, **options: Any
           ) -> tuple[np.ndarray, np.ndarray, dict, np.ndarray | None]:
    r"""R-ANODE: a signal density learnt against the fixed sideband background.

    Reading of Das, Kasieczka, Shih, "Residual ANODE" (arXiv:2312.11629, and its reference code
    rd804/R-ANODE): ANODE learns the whole SR density p_data with one flow and divides by the
    interpolated background; at small signal fractions the signal is a tiny correction to p_data
    that the flow's error swamps. R-ANODE instead writes the SR data density as the mixture
    ``p_data = f p_S + (1 - f) p_bkg`` with p_bkg frozen (the sideband flow evaluated in the
    SR) and trains only p_S (and, in their "learnable w" variant, the fraction f) by maximum
    likelihood of the SR data under the mixture. p_S then only has to describe the excess over
    the background. The score is the likelihood ratio ``log p_S - log p_bkg``. Here:

    * p_S is a flow of the features alone, not of m (the signal is localised in m anyway);
      ``k`` such flows are cross-fitted as in :func:`anode` (an SR event is scored by the flow
      that did not see it, other events by a fold drawn at random);
    * the fraction is learnt by EM (``signal_fraction="learn"``, the default, starting at 1 %:
      after every epoch the fraction that maximises the mixture likelihood at the current p_S,
      :func:`flowstats.anomaly.ranode.em_fraction`; the mixture is the training objective
      :class:`flowstats.anomaly.ranode.SignalMixture` of each signal flow) or fixed (a
      number in (0, 1)); with infinite capacity every f above the true one fits equally well
      and gives the same ranking, so f mainly sets how much of the bulk p_S may absorb;
    * ``space="latent"`` (default): the mixture is learnt on the events' latent points u of
      the sideband flow, where p_bkg is exactly the standard normal at every m (so the score,
      a function of u only, cannot sculpt m); ``space="data"``: on x, with p_bkg the sideband
      flow at each event's own m.

    Arguments:
        x, m, codes, names, seed, device, model_dir, flow, fit: as :func:`density`.
        options: ``k`` (5): number of SR folds (signal flows); ``space`` (``"latent"``) or
            ``"data"``; ``signal_fraction``: ``"learn"`` (the default) or a fixed fraction in
            (0, 1); ``oversample`` (4) and ``max_flow_events`` (250000) as for
            :func:`cathode`; ``whiten`` (True): in latent space, whiten the SR events' latent
            points (``_latent``); any other option is ignored.
    """
    from ..exceptions import BadInputError
    from ..flows import Flow
    from .ranode import SignalMixture

    k, space = int(options["k"]), options["space"]
    _require_space("ranode", space)
    signal_fraction = options["signal_fraction"]
    oversample = options["oversample"]
    max_flow_events = options["max_flow_events"]

    learn = signal_fraction == "learn"
    if not learn and not (isinstance(signal_fraction, (int, float))
                          and 0 < float(signal_fraction) < 1):
        raise BadInputError(f"ranode: signal_fraction={signal_fraction!r} must be 'learn' or a "
                            "number in (0, 1)")
    f0 = 0.01 if learn else float(signal_fraction)
    rng = np.random.default_rng(seed + 21)
    sr = codes == SIGNAL_REGION
    bkg = _background(x, m, codes, names, seed=seed, device=device, model_dir=model_dir,
                      flow=flow, fit=fit, max_flow_events=max_flow_events)
    fold = _random_folds(len(x), k, rng)
    latent_info: dict = {}
    if space == "latent":
        feats, latent_info = _latent(bkg, x, m, codes, options["whiten"])
        log_b = _log_normal(feats)
        arch = resolved_flow(_latent_flow(flow))
    else:
        feats, log_b = x, bkg.log_prob(x, m)
        arch = resolved_flow(_flow_only(flow))
    score = np.empty(len(x))
    template = f_t = None
    if space == "latent":  # the background template: standard-normal draws
        u_t = _normal_template(sr.sum(), x.shape[1], oversample, seed)
        lb_t = _log_normal(u_t)
        template, f_t = np.empty(len(u_t)), _random_folds(len(u_t), k, rng)
    summaries = []
    for j in range(k):
        train = sr & (fold != j) & np.isfinite(log_b)
        sig = Flow(names, seed=seed + 1 + j, **arch)
        history = sig.fit(feats[train], objective=SignalMixture(log_b[train], f0, learn),
                          device=device, **_fit_options(fit, int(train.sum())))
        summaries.append({"best_epoch": history["best_epoch"],
                          "best_val_loss": history["best_val_loss"],
                          "signal_fraction": history["best_signal_fraction"]})
        if model_dir is not None:
            sig.save(Path(model_dir) / "ranode" / f"fold{j}", force=True)
        mine = fold == j
        score[mine] = sig.log_prob(feats[mine]) - log_b[mine]
        if template is not None:
            template[f_t == j] = sig.log_prob(u_t[f_t == j]) - lb_t[f_t == j]
    score = np.where(np.isfinite(score), score, -np.inf)
    return score, fold, {"background": _summary(bkg), "signal": summaries, "space": space,
                         **latent_info,
                         "signal_fraction": "learn" if learn else f0,
                         "mean_signal_fraction": float(np.mean([s["signal_fraction"]
                                                                for s in summaries]))}, template


_FLOW = ("flow", "fit", "max_flow_events")
_SPACE = ("space", "whiten")
_CLASSIFIER = ("classifier", "classifier_options", "k")

# the built-in methods, in the order of the CLI choices and the schema enum
_REGISTRY.register(Method(
    "cathode", cathode, "classifier of SR data against sideband-flow samples (arXiv:2109.00546)",
    options=(*_FLOW, *_SPACE, *_CLASSIFIER, "oversample", "fresh_template"),
    has_template=True, needs_flow=True))
_REGISTRY.register(Method(
    "anode", anode, "ratio of SR and sideband flow densities (arXiv:2001.04990)",
    options=(*_FLOW, *_SPACE, "k", "n_mass", "oversample"), needs_flow=True))
_REGISTRY.register(Method(
    "ranode", ranode, "SR signal density over the sideband background (arXiv:2312.11629)",
    options=(*_FLOW, *_SPACE, "k", "signal_fraction", "oversample"),
    has_template=True, template_latent_only=True, needs_flow=True))
_REGISTRY.register(Method(
    "cwola", cwola, "classifier of SR against sideband events (arXiv:1805.02664)",
    options=_CLASSIFIER, defaults={"classifier": "hgb"}, sculpts=True,
    sculpting_reason="CWoLa learns SR against sideband events, so with features that depend "
                     "on m it learns m and carves a bump at the SR (arXiv:1902.02634)"))
_REGISTRY.register(Method(
    "bootstrap", bootstrap, "iterative likelihood-ratio bootstrap (J. Tan, ICML INNF 2020)",
    options=(*_FLOW, *_SPACE, *_CLASSIFIER, "oversample", "alpha", "iterations"),
    needs_flow=True))
_REGISTRY.register(Method(
    "density", density, "outlier score of the sideband background flow",
    options=(*_FLOW, *_SPACE, "oversample"), has_template=True, needs_flow=True))

#: name -> score function of every registered method (:data:`flowstats.registry.METHODS`)
METHODS = DerivedMapping(lambda: {e.name: e.score for e in _REGISTRY}, _REGISTRY)
