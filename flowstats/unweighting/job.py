r"""Flow unweighting: weighted (negatively weighted) events in, unit-weight events out.

:func:`unweight` (keyword arguments), :func:`unweight_from_config` (a YAML file or mapping) and
``flowstats unweight`` (``flowstats.cli.unweight``) build one
:class:`~flowstats.settings.unweight.UnweightSettings` (validated once, at the edge) and
hand it to :func:`run_unweight`, which runs the stages of :mod:`.stages`:

1. check everything before any work: the settings, outputs that would be overwritten
   (:func:`~.stages.check_outputs`), the device, then the input file, tree, branches, finite
   values and sum of weights > 0 (:func:`~.stages.read`): bad input writes nothing;
2. split the events into training (+ validation, inside :meth:`flowstats.flows.Flow.fit`) and test parts by
   seed (:func:`~.stages.split`); the test events are never seen by the flow;
3. train a :class:`~flowstats.flows.Flow` per category on the weighted training events by
   weighted maximum likelihood with early stopping on the weighted validation loss, or load
   one (:func:`~.stages.fit`);
4. sample N events (:func:`~.stages.sample`; by default reweighted to the training events by a
   classifier and unweighted again, :func:`~.stages.refined_sample`, :mod:`.refine`) and
   write them with the input's branch names,
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
from ..settings.unweight import UnweightSettings
from . import stages, whole
from .stages import MAX_DISCRETE_VALUES, default_model_path, detect_discrete, split_indices
from .unweight_result import UnweightResult

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
        refined: ``(fitted, inputs, split, settings) -> Generated``: ``sample`` with the
            classifier refinement of :mod:`.refine`, used when ``settings.refine`` is set
            (optional; without it the mode is not refined).
    """

    read: Callable[[UnweightSettings], stages.Inputs]
    fit: Callable[[stages.Inputs, stages.Split, UnweightSettings, str], stages.Fitted]
    sample: Callable[[stages.Fitted, stages.Inputs, UnweightSettings], stages.Generated]
    columns: Callable[[stages.Generated, stages.Inputs, UnweightSettings],
                      dict[str, np.ndarray]]
    checks: Callable[..., None] | None = None
    refined: Callable[..., stages.Generated] | None = None


#: the implemented modes (``settings.mode``)
MODES: dict[str, Mode] = {
    "features": Mode(stages.read, stages.fit, stages.sample, stages.columns,
                     refined=stages.refined_sample),
    "events": Mode(whole.read, whole.fit, whole.sample, whole.columns, whole.checks,
                   refined=whole.refined_sample),
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
    if settings.refine and mode.refined is not None:
        generated = mode.refined(fitted, inputs, parts, settings)
    else:
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


def unweight(inputs: str | os.PathLike | Sequence[str | os.PathLike] | None = None, /,
             **options: Any) -> UnweightResult:
    r"""Trains a flow on weighted events (or loads one) and writes N unit-weight events.

    Every output event has the weight ``sigma / n`` (``sigma`` = sum of the input weights) in a
    branch named like the input weight branch; the features keep their branch names and the
    TTree its name.

    The options are the fields of :class:`~flowstats.settings.unweight.UnweightSettings` (their types, defaults,
    ranges and meaning are documented there and in ``flowstats/schema/unweight.schema.json``),
    validated once; the stages run by :func:`run_unweight`. :func:`unweight_from_config` takes
    them from a YAML file.

    Arguments:
        inputs: ROOT or LHE (``.lhe``, ``.lhe.gz``, converted on the fly) file(s): the
            settings' ``input``.
        options: The other settings, e.g. ``features`` (none: whole events), ``weight``,
            ``n`` and ``output`` (required), ``report``, ``epochs``, ``seed``; an unknown one
            is a :class:`~flowstats.exceptions.ConfigError` naming the closest valid name.

    Example::

        unweight("nlo.root", features=["pt", "y", "m"], weight="weight", n=100_000,
                 output="unweighted.root", report="report")

    References:
        B. Stienen and R. Verheyen, SciPost Phys. 10 (2021) 038, arXiv:2011.13445.
    """
    if inputs is not None:
        options["input"] = inputs
    return run_unweight(UnweightSettings.from_mapping(options, "unweight()"))
