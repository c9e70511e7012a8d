r"""Unweighting negatively weighted (MC@NLO) events with a normalizing flow.

``unweight(...)`` trains a flow on weighted events (or loads one) and writes N unit-weight
events with the same branch names, each with weight sigma/N, plus an optional report that
compares them with held-out test events (chi2 with the correct variances of both samples, a
classifier two-sample test, baselines, negative-density bins).

``unweight_from_config(path)`` does the same with the settings of a YAML file; both validate
their options once as :class:`flowstats.settings.unweight.UnweightSettings` (from which
``flowstats/schema/unweight.schema.json`` is generated).

Submodules: :mod:`.job` (the pipeline), :mod:`flowstats.settings.unweight` (the validated settings),
:mod:`.stages` (read, split, fit, sample, write, report), :mod:`.compare` (histogram chi2,
negative bins), :mod:`.twosample` (classifier test), :mod:`.baselines`, :mod:`.evaluate`, :mod:`.report`,
:mod:`.unweight_result` (:class:`UnweightResult`: what :func:`unweight` returns, the report's numbers as
attributes).
The package is ``flowstats.unweighting`` so that ``flowstats.unweight`` stays the function
(resolved lazily by the top-level package).
"""

from __future__ import annotations

from .job import (
    UnweightResult,
    UnweightSettings,
    default_model_path,
    run_unweight,
    unweight,
    unweight_from_config,
)
from .unweight_result import Worth

__all__ = ["UnweightResult", "UnweightSettings", "Worth", "default_model_path", "run_unweight",
           "unweight", "unweight_from_config"]
