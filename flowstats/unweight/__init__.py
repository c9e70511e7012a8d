r"""Unweighting negatively weighted (MC@NLO) events with a normalizing flow.

``unweight(...)`` trains a flow on weighted events (or loads one) and writes N unit-weight
events with the same branch names, each with weight sigma/N, plus an optional report that
compares them with held-out test events (chi2 with the correct variances of both samples, a
classifier two-sample test, baselines, negative-density bins).

Submodules: :mod:`.core` (the pipeline), :mod:`.compare` (histogram chi2, negative bins),
:mod:`.twosample` (classifier test), :mod:`.baselines`, :mod:`.evaluate`, :mod:`.report`.
``flowstats.unweight`` is both this package and, lazily, the function ``unweight``. Once the
package is imported Python binds the attribute ``flowstats.unweight`` to the package module,
which would shadow the function; so the module is made callable and forwards calls to
:func:`unweight`: ``flowstats.unweight(...)`` works either way.
"""

from __future__ import annotations

import sys
import types
from typing import Any

from .core import UnweightResult, default_model_path, unweight

__all__ = ["UnweightResult", "default_model_path", "unweight"]


class _CallableModule(types.ModuleType):
    def __call__(self, *args: Any, **kwargs: Any) -> UnweightResult:
        return unweight(*args, **kwargs)


sys.modules[__name__].__class__ = _CallableModule
