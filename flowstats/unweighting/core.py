r"""Flow unweighting: weighted (negatively weighted) events in, unit-weight events out.

:func:`unweight` (keyword arguments), :func:`unweight_from_config` (a YAML file or mapping) and
``flowstats unweight`` (``flowstats.cli.unweight``) build one
:class:`~.settings.UnweightSettings` (validated against ``schema/unweight.schema.json``) and
hand it to :func:`run_unweight`, which runs the stages of :mod:`.stages`:

1. check everything before any work: the settings, outputs that would be overwritten
   (:func:`~.stages.check_outputs`), the device, then the input file, tree, branches, finite
   values and sum of weights > 0 (:func:`~.stages.read`): bad input writes nothing;
2. split the events into training (+ validation, inside :meth:`flowstats.flows.Flow.fit`) and test parts by
   seed (:func:`~.stages.split`); the test events are never seen by the flow;
3. train a :class:`~flowstats.flows.Flow` per category on the weighted training events by
   weighted maximum likelihood with early stopping on the weighted validation loss, or load
   one (:func:`~.stages.fit`);
4. sample N events (:func:`~.stages.sample`) and write them with the input's branch names,
   each with weight :math:`\sigma/N` (:math:`\sigma` = sum of the input weights, so
   cross-sections are kept), and save the model (default ``<OUT stem>_model/`` next to
   OUT.root) (:func:`~.stages.columns`, :func:`~.stages.write`);
5. summarise, and optionally write the report (:func:`~.stages.report`): every comparison
   uses the test events only.

A :class:`Mode` is the four stages that know what the events are (``read``, ``fit``,
``sample``, ``columns``); the others are shared (:data:`MODES`). Mode ``"features"`` learns
flat branches; mode ``"events"`` whole events (:mod:`.whole`).

References:
    | B. Stienen and R. Verheyen, "Phase space sampling and inference from weighted events with
    | autoregressive flows", SciPost Phys. 10 (2021) 038, arXiv:2011.13445.
    | R. Verheyen, "Event generation and density estimation with surjective normalizing
    | flows", SciPost Phys. 13 (2022) 047, arXiv:2205.01697.
"""

from __future__ import annotations

import logging
import os
import time
from collections.abc import Callable, Mapping, Sequence
from typing import Any, NamedTuple

import numpy as np

from .._utils import provenance, resolve_device
from . import stages, whole
from .result import UnweightResult
from .settings import UnweightSettings
from .stages import MAX_DISCRETE_VALUES, default_model_path, detect_discrete, split_indices

log = logging.getLogger(__name__)

__all__ = ["MAX_DISCRETE_VALUES", "MODES", "Mode", "UnweightResult", "UnweightSettings",
           "default_model_path", "detect_discrete", "run_unweight", "split_indices",
           "unweight", "unweight_from_config"]


class Mode(NamedTuple):
    r"""The stages that know what the events are; the others are shared.

    Arguments:
        read: ``(settings) -> Inputs``: the weighted events, with a matrix of named columns
            that the report compares (and what else the mode needs in ``Inputs.data``).
        fit: ``(inputs, split, settings, device) -> Fitted``: trains on the training part
            (``split.train``), or loads ``settings.model``.
        sample: ``(fitted, inputs, settings) -> Generated``: ``settings.n`` events of weight
            ``sigma / n``, with the matrix the report compares.
        columns: ``(generated, inputs, settings) -> {branch: array}``: the branches to write
            (the weight branch included).
        checks: ``(summary, inputs, split, fitted, generated, settings)``: the mode's own
            checks, added to the report's summary (optional).
    """

    read: Callable[[UnweightSettings], stages.Inputs]
    fit: Callable[[stages.Inputs, stages.Split, UnweightSettings, str], stages.Fitted]
    sample: Callable[[stages.Fitted, stages.Inputs, UnweightSettings], stages.Generated]
    columns: Callable[[stages.Generated, stages.Inputs, UnweightSettings],
                      dict[str, np.ndarray]]
    checks: Callable[..., None] | None = None


#: the implemented modes (``settings.mode``)
MODES: dict[str, Mode] = {
    "features": Mode(stages.read, stages.fit, stages.sample, stages.columns),
    "events": Mode(whole.read, whole.fit, whole.sample, whole.columns, whole.checks),
}


def _stopwatch() -> Callable[[], float]:
    t0 = time.perf_counter()
    return lambda: time.perf_counter() - t0


def run_unweight(settings: UnweightSettings) -> UnweightResult:
    r"""Runs the stages of :mod:`.stages` for ``settings`` (see the module).

    Arguments:
        settings: Validated settings (:meth:`UnweightSettings.from_mapping`,
            :meth:`~UnweightSettings.from_yaml`).
    """
    mode = MODES[settings.resolved_mode]
    total = _stopwatch()
    timings: dict[str, float] = {}
    outputs = stages.check_outputs(settings)
    device = resolve_device(settings.device)

    clock = _stopwatch()
    inputs = mode.read(settings)
    timings["read_s"] = clock()
    parts = stages.split(inputs, settings)
    clock = _stopwatch()
    fitted = mode.fit(inputs, parts, settings, device)
    if settings.model is None:
        timings["train_s"] = clock()
        log.info("trained in %.1f s", timings["train_s"])
    clock = _stopwatch()
    generated = mode.sample(fitted, inputs, settings)
    timings["sample_s"] = clock()
    timings["sample_rate_per_s"] = settings.n / max(timings["sample_s"], 1e-9)
    prov = provenance(settings.seed, {**settings.to_dict(), "device": device, **fitted.config})
    clock = _stopwatch()
    extra = whole.root_extras(inputs) if mode is MODES["events"] else {}
    stages.write(mode.columns(generated, inputs, settings), fitted, outputs, settings, prov,
                 **extra)
    lhe = whole.write_lhe(generated, inputs, settings) if settings.lhe is not None else None
    timings["write_s"] = clock()

    summary = stages.summarise(inputs, parts, fitted, generated, outputs, settings)
    timings["total_s"] = total()
    summary["timings"] = timings
    summary["provenance"] = prov
    if lhe is not None:
        summary["output"]["lhe"] = lhe
    if settings.report is not None:
        if mode.checks is not None:
            mode.checks(summary, inputs, parts, fitted, generated, settings)
        stages.report(summary, inputs, parts, fitted, generated, settings)
    timings["total_s"] = total()
    log.info("wrote %d unweighted events (weight %.6g each) to %s", settings.n, generated.unit,
             outputs.output)
    return UnweightResult(output=outputs.output, n=settings.n, sigma=inputs.sigma,
                          weight=generated.unit, model=outputs.model_out,
                          report=outputs.report, summary=summary)


def unweight_from_config(config: str | os.PathLike | Mapping[str, Any] | UnweightSettings,
                         **overrides: Any) -> UnweightResult:
    r"""Unweights with the settings of a YAML file (or a mapping, or settings), with
    ``overrides``.

    Arguments:
        config: A YAML file (``input`` and ``model`` relative to its directory), a mapping of
            options or :class:`UnweightSettings`.
        overrides: Options replacing the configuration's (None values mean "not given").

    Example::

        unweight_from_config("analyses/unweight_fxfx.yaml", output="out.root", n=1000)
    """
    if isinstance(config, UnweightSettings):
        settings = UnweightSettings.from_mapping(config.to_dict(), "settings", overrides)
    elif isinstance(config, Mapping):
        settings = UnweightSettings.from_mapping(config, "configuration", overrides)
    else:
        settings = UnweightSettings.from_yaml(config, overrides)
    return run_unweight(settings)


def unweight(
    inputs: str | os.PathLike | Sequence[str | os.PathLike],
    *,
    features: Sequence[str] | str = (),
    weight: str,
    n: int,
    output: str | os.PathLike,
    mode: str = "auto",
    lhe: str | os.PathLike | None = None,
    sqrt_s: float | None = None,
    tree: str = "events",
    cut: str | None = None,
    model: str | os.PathLike | None = None,
    model_out: str | os.PathLike | None = None,
    report: str | os.PathLike | None = None,
    kind: str = "nsf",
    base: str = "normal",
    nu: float = 1.0,
    transforms: int = 4,
    hidden: Sequence[int] = (64, 64),
    bins: int = 8,
    positive: Sequence[str] | str | None = "auto",
    discrete: Sequence[str] | str | None = "auto",
    bounds: Mapping[str, Sequence[float]] | None = None,
    epochs: int = 40,
    batch_size: int = 2048,
    lr: float = 2e-3,
    patience: int = 40,
    test_fraction: float = 0.25,
    val_fraction: float = 0.2,
    seed: int = 0,
    device: str = "auto",
    atom_fraction: float = 0.02,
    marginal_maps: bool = True,
    split_on: Sequence[str] | str = (),
    members: int = 1,
    report_bins: int = 30,
    folds: int = 5,
    plots: bool = True,
    force: bool = False,
) -> UnweightResult:
    r"""Trains a flow on weighted events (or loads one) and writes N unit-weight events.

    Every output event has the weight ``sigma / n`` (``sigma`` = sum of the input weights) in a
    branch named like the input weight branch; the features keep their branch names and the
    TTree its name.

    The arguments are validated as :class:`~.settings.UnweightSettings` (``inputs`` is its
    ``input``) and the stages run by :func:`run_unweight`; :func:`unweight_from_config` takes
    them from a YAML file.

    Arguments:
        inputs: ROOT or LHE (``.lhe``, ``.lhe.gz``, converted on the fly) file(s).
        features: Flat branches to model (list or comma-separated string); none: whole
            events (mode ``"events"``, :mod:`.whole`).
        weight: The event-weight branch (negative weights allowed, positive sum).
        n: Number of unweighted events to write (> 0).
        output: The output ROOT file.
        mode: ``"features"``, ``"events"`` or ``"auto"`` (features when ``features`` are given,
            else whole events).
        lhe: Mode ``"events"``: also write the events as this Les Houches file.
        sqrt_s: Mode ``"events"``: collision energy in GeV (None: from the input's LHE
            ``<init>`` block).
        tree: TTree name (for LHE inputs: the name given to the converted tree).
        cut: Optional selection (uproot expression) applied before anything else.
        model: Directory of a saved flow to use instead of training.
        model_out: Where to save the trained flow (default ``<OUT stem>_model`` next to
            ``output``); ignored with ``model``.
        report: Directory for ``summary.json`` and the plots (None: no report).
        kind: Flow kind, ``"nsf"``, ``"maf"``, ``"realnvp"`` or ``"cnf"``.
        base, nu: Base distribution of the flow (``"normal"`` or ``"studentt"`` with ``nu``).
        transforms: Autoregressive transforms of the flow.
        hidden: Hidden layer sizes of each transform.
        bins: Spline bins.
        positive: Strictly positive features (log map); ``"auto"``: those with min > 0.
        discrete: Integer features (dequantised); ``"auto"``: all-integer columns with at most
            50 distinct values.
        bounds: ``{feature: (low, high)}`` for bounded features (logit map).
        epochs: Training epochs: the learning rate is cosine-annealed from ``lr`` to
            ``lr / 100`` over them, and the epoch of lowest weighted validation loss is kept.
            The defaults (40 epochs at lr 2e-3, batch 2048, patience 40, i.e. the whole
            schedule) unweight the 200k-event nlo toy into 1e6 events in about 2.5 minutes
            on one core and pass its truth check for seeds 0, 1, 2 (the earlier 200 epochs at
            lr 1e-3, batch 1024, patience 20 took about 29 minutes; an early stop while the
            rate is still high leaves the flow noisier, benchmarks/bench_laptop.py).
        batch_size: Training mini-batch size (lower it for samples of a few thousand events,
            e.g. 512 in analyses/unweight_fxfx.yaml).
        lr: Initial learning rate.
        patience: Early-stopping patience in epochs.
        test_fraction: Fraction of the events held out for the report (never trained on).
        val_fraction: Fraction of the remaining events used for early stopping.
        seed: Seeds the split, the flow, the sampling, the baselines and the classifier test.
        device: ``auto``, ``cpu`` or ``cuda``.
        atom_fraction: A continuous feature with one value held by at least this fraction of
            the events (e.g. pT = 0 without real emission) splits the events into categories,
            one flow each (see :mod:`flowstats.unweighting.model`); 0 disables.
        marginal_maps: Map each continuous feature onto its empirical CDF in (0, 1) (knots at
            training quantiles, log first for positive features) before the flow
            (:class:`~flowstats.unweighting.model.MarginalMap`).
        split_on: Integer features whose every value gets its own category and flow (exact
            weighted fractions of each value) instead of dequantisation, e.g. a jet
            multiplicity with few values.
        members: Flows per category (different seeds), sampled as an equal mixture.
        report_bins: Bins per feature in the report's chi2 tests.
        folds: Folds of the classifier two-sample test.
        plots: Whether the report includes PNG plots.
        force: Replace existing outputs.

    References:
        B. Stienen and R. Verheyen, SciPost Phys. 10 (2021) 038, arXiv:2011.13445.
    """
    options = dict(locals())  # exactly the arguments: the settings validate them
    options["input"] = options.pop("inputs")
    return run_unweight(UnweightSettings.from_mapping(options, "unweight()"))
