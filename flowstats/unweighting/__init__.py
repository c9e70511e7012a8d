r"""Unweighting negatively weighted (MC@NLO) events with a normalizing flow.

``unweight(...)`` trains a flow on weighted events (or loads one) and writes N unit-weight
events with the same branch names, each with weight sigma/N, plus an optional report that
compares them with held-out test events (chi2 with the correct variances of both samples, a
classifier two-sample test, baselines, negative-density bins).

Submodules: :mod:`.core` (the pipeline), :mod:`.compare` (histogram chi2, negative bins),
:mod:`.twosample` (classifier test), :mod:`.baselines`, :mod:`.evaluate`, :mod:`.report`.
The package is ``flowstats.unweighting`` so that ``flowstats.unweight`` stays the function
(resolved lazily by the top-level package).
"""

from __future__ import annotations

from .core import UnweightResult, default_model_path, unweight

__all__ = ["UnweightResult", "default_model_path", "unweight"]
