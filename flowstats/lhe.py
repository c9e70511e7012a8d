r"""Les Houches event conversion: kept as ``flowstats.lhe`` for existing code.

The implementation lives in :mod:`flowstats.io.lhe`, with the other input/output modules.
"""

from __future__ import annotations

from .io.lhe import *  # noqa: F403
from .io.lhe import __all__  # noqa: F401
