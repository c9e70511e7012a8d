r"""Exception classes of flowstats.

Every error caused by the user's input (a missing file, tree or branch, NaN values, a bad
configuration, a fit that did not converge, ...) derives from :class:`FlowstatsError`. The
command line prints such errors as one readable line and exits with status 2; any other
exception is an internal error (exit status 1).

Messages say what is wrong and where, and, where a name was mistyped, suggest the closest
existing names (as uproot does).
"""

from __future__ import annotations

import difflib
from collections.abc import Iterable

__all__ = [
    "BadInputError",
    "BranchNotFoundError",
    "ConfigError",
    "FitError",
    "FlowstatsError",
    "IncompatibleModelError",
    "InputFileNotFoundError",
    "JaggedBranchError",
    "NonFiniteError",
    "OutputExistsError",
    "PluginError",
    "TreeNotFoundError",
    "WeightSumError",
    "WorkspaceError",
    "closest",
]


def closest(name: str, candidates: Iterable[str], n: int = 3) -> list[str]:
    r"""Returns the names in ``candidates`` closest to ``name`` (at most ``n``).

    Arguments:
        name: The name that was asked for.
        candidates: The names that exist.
        n: The maximum number of suggestions.
    """
    candidates = [str(c) for c in candidates]
    lowered = {c.lower(): c for c in candidates}
    hits = difflib.get_close_matches(name.lower(), list(lowered), n=n, cutoff=0.5)
    hits = [lowered[h] for h in hits]
    # substring matches are useful suggestions too (e.g. "pt" for "lep_pt")
    for c in candidates:
        if len(hits) >= n:
            break
        if c not in hits and (name.lower() in c.lower() or c.lower() in name.lower()):
            hits.append(c)
    return hits


def _listing(names: Iterable[str], limit: int = 20, kinds: dict[str, str] | None = None
             ) -> str:
    names = list(names)
    text = ", ".join(repr(x) + (f" ({kinds[x]})" if kinds and x in kinds else "")
                     for x in names[:limit])
    if len(names) > limit:
        text += f", ... ({len(names) - limit} more)"
    return text or "none"


class FlowstatsError(Exception):
    r"""Base class of the errors caused by the user's input or configuration.

    The CLI reports these as one line on stderr and exits with status 2.
    """


class BadInputError(FlowstatsError, ValueError):
    r"""An input value or argument is not acceptable (empty selection, N <= 0, ...)."""


class InputFileNotFoundError(FlowstatsError, FileNotFoundError):
    r"""An input file does not exist or cannot be opened."""

    def __init__(self, path: str, reason: str | None = None):
        self.path = str(path)
        msg = f"input file {self.path!r} does not exist"
        if reason:
            msg = f"cannot open input file {self.path!r}: {reason}"
        super().__init__(msg)


class DamagedFileError(FlowstatsError, OSError):
    r"""An input file exists but is empty, not a ROOT file, truncated or otherwise damaged."""

    def __init__(self, path: str, reason: str):
        self.path, self.reason = str(path), " ".join(str(reason).split())
        if len(self.reason) > 300:  # uproot's deserialisation reports run to many lines
            self.reason = self.reason[:297] + "..."
        super().__init__(f"input file {self.path!r} is unreadable: {self.reason}")


class TreeNotFoundError(FlowstatsError, KeyError):
    r"""A TTree (or RNTuple) is missing from a ROOT file; the message lists those that exist
    and says what each is."""

    def __init__(self, tree: str, path: str, available: Iterable[str],
                 kinds: dict[str, str] | None = None):
        available = list(available)
        self.tree, self.path, self.available = tree, str(path), available
        hint = closest(tree, available)
        msg = (f"no TTree or RNTuple {tree!r} in {self.path!r}; trees in the file: "
               f"{_listing(available, kinds=kinds)}")
        if hint:
            msg += f" (did you mean {hint[0]!r}?)"
        super().__init__(msg)

    def __str__(self) -> str:  # KeyError would add quotes
        return self.args[0]


class BranchNotFoundError(FlowstatsError, KeyError):
    r"""A branch is missing from a TTree; the message suggests the closest existing names."""

    def __init__(self, branch: str, where: str, available: Iterable[str]):
        available = list(available)
        self.branch, self.where, self.available = branch, where, available
        hint = closest(branch, available)
        msg = f"no branch {branch!r} in {where}"
        if hint:
            msg += f"; did you mean {', '.join(repr(h) for h in hint)}?"
        else:
            msg += f"; branches: {_listing(available)}"
        super().__init__(msg)

    def __str__(self) -> str:
        return self.args[0]


class JaggedBranchError(FlowstatsError, TypeError):
    r"""A jagged (variable-length) branch was given where a flat one is needed."""


class NonFiniteError(FlowstatsError, ValueError):
    r"""NaN or infinite values were found in features, context or weights."""


class WeightSumError(FlowstatsError, ValueError):
    r"""The sum of the event weights is zero or negative (no density can be learnt)."""


class OutputExistsError(FlowstatsError, FileExistsError):
    r"""An output exists already and ``force`` was not given."""

    def __init__(self, path: str):
        self.path = str(path)
        super().__init__(f"output {self.path!r} exists already; use --force to overwrite it")


class ConfigError(FlowstatsError, ValueError):
    r"""A configuration (YAML file or options) is invalid; the message names the bad key."""


class IncompatibleModelError(FlowstatsError, ValueError):
    r"""A saved model cannot be used: another flowstats version, other features, ..."""


class FitError(FlowstatsError, RuntimeError):
    r"""A fit did not converge; the message gives the minimiser's status."""


class WorkspaceError(FlowstatsError, ValueError):
    r"""A pyhf workspace or patch is invalid or missing."""


class PluginError(FlowstatsError, RuntimeError):
    r"""A plugin (an entry point of ``flowstats.methods`` or ``flowstats.fit_functions``) failed
    to load; the message names it and gives the reason."""
