r"""Histograms: weighted boost-histogram/hist objects, checks, and TH1 input/output via uproot.

Histograms are :class:`hist.Hist` objects with ``Weight`` storage (sum of weights and sum of
squared weights per bin), so the statistical variance of a weighted template is kept. Every
function that takes a histogram also takes a ``(counts, edges)`` pair or a boost-histogram.

References:
    boost-histogram, https://boost-histogram.readthedocs.io;
    hist, https://hist.readthedocs.io; uproot writing, https://uproot.readthedocs.io.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np

from .._utils import check_finite
from ..exceptions import BadInputError, InputFileNotFoundError, closest

log = logging.getLogger(__name__)

__all__ = ["check_data", "make_hist", "read_th1", "to_arrays", "write_th1"]


def make_hist(values: np.ndarray, bins: int | np.ndarray = 50, range: tuple[float, float] | None = None,
              *, weights: np.ndarray | None = None, name: str = "mjj",
              label: str | None = None) -> Any:
    r"""Fills a 1-D :class:`hist.Hist` with ``Weight`` storage.

    Arguments:
        values: The observable (e.g. m_jj in GeV).
        bins: A number of regular bins (with ``range``) or an array of bin edges.
        range: ``(lo, hi)`` for regular bins; the values' range when omitted.
        weights: Per-event weights (ones when omitted).
        name: The axis name.
        label: The axis label (defaults to ``name``).
    """
    import hist

    values = np.asarray(values, dtype=float).ravel()
    check_finite(values, f"values of {name!r}")
    if weights is not None:
        weights = np.asarray(weights, dtype=float).ravel()
        if weights.shape != values.shape:
            raise BadInputError(f"make_hist: {len(weights)} weights for {len(values)} values")
        check_finite(weights, f"weights of {name!r}")
    if np.ndim(bins) == 0:
        nbins = int(bins)
        if nbins <= 0:
            raise BadInputError(f"make_hist: number of bins must be positive, got {nbins}")
        if range is None:
            if len(values) == 0:
                raise BadInputError(f"make_hist: no values for {name!r} and no range given")
            range = (float(values.min()), float(np.nextafter(values.max(), np.inf)))
        if not range[1] > range[0]:
            raise BadInputError(f"make_hist: empty range {range} for {name!r}")
        axis = hist.axis.Regular(nbins, *range, name=name, label=label or name)
    else:
        edges = np.asarray(bins, dtype=float)
        if edges.ndim != 1 or len(edges) < 2 or np.any(np.diff(edges) <= 0):
            raise BadInputError(f"make_hist: bin edges for {name!r} must increase strictly")
        axis = hist.axis.Variable(edges, name=name, label=label or name)
    h = hist.Hist(axis, storage=hist.storage.Weight())
    h.fill(values, weight=weights)
    return h


def to_arrays(h: Any, *, what: str = "histogram") -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    r"""Returns ``(values, variances, edges)`` of a 1-D histogram (flow bins dropped).

    Arguments:
        h: A :class:`hist.Hist`/boost-histogram, an uproot TH1, or a ``(counts, edges)`` pair
            (variances = counts then).
        what: What the histogram is, for messages.
    """
    if isinstance(h, tuple | list) and len(h) == 2:
        values = np.asarray(h[0], dtype=float)
        edges = np.asarray(h[1], dtype=float)
        variances = values.copy()
    else:
        if hasattr(h, "to_hist"):  # an uproot TH1
            h = h.to_hist()
        if not hasattr(h, "axes") or len(h.axes) != 1:
            raise BadInputError(f"{what}: expected a 1-D histogram or a (counts, edges) pair, "
                                f"got {type(h).__name__}")
        values = np.asarray(h.values(), dtype=float)
        variances = h.variances()
        variances = values.copy() if variances is None else np.asarray(variances, dtype=float)
        edges = np.asarray(h.axes[0].edges, dtype=float)
    if values.ndim != 1 or edges.shape != (len(values) + 1,):
        raise BadInputError(f"{what}: {len(edges)} edges do not fit {values.shape} bin contents")
    if np.any(np.diff(edges) <= 0):
        raise BadInputError(f"{what}: bin edges must increase strictly")
    return values, variances, edges


def check_data(counts: np.ndarray, edges: np.ndarray | None = None, *,
               what: str = "data histogram") -> np.ndarray:
    r"""Checks observed counts: finite, not negative, not all empty. Returns them as floats.

    Arguments:
        counts: The bin contents.
        edges: The bin edges (for the message).
        what: What the histogram is, for the message.
    """
    counts = np.asarray(counts, dtype=float)
    if counts.size == 0:
        raise BadInputError(f"{what} has no bins")
    check_finite(counts, f"bin contents of the {what}")
    neg = np.flatnonzero(counts < 0)
    if len(neg):
        where = ", ".join(
            f"bin {i}" + (f" [{edges[i]:g}, {edges[i + 1]:g})" if edges is not None else "")
            + f" = {counts[i]:g}" for i in neg[:5])
        raise BadInputError(f"{what} has negative contents in {len(neg)} bins ({where}"
                            + (", ..." if len(neg) > 5 else "") + ")")
    if counts.sum() <= 0:
        raise BadInputError(f"{what} is empty: all {counts.size} bins are zero")
    return counts


def write_th1(path: str | os.PathLike, hists: Mapping[str, Any], *, force: bool = False) -> Path:
    r"""Writes histograms as TH1D objects into a new ROOT file (atomically), with
    :func:`flowstats.io.write_histograms`.

    Arguments:
        path: The output ROOT file.
        hists: Object name -> histogram (:class:`hist.Hist` with Weight storage keeps the
            sum of squared weights in ``fSumw2``).
        force: Whether an existing file may be replaced.
    """
    from ..io import write_histograms

    return write_histograms(path, hists, force=force)


def read_th1(path: str | os.PathLike, name: str) -> Any:
    r"""Reads a TH1 from a ROOT file as a :class:`hist.Hist` (Weight storage).

    Arguments:
        path: The ROOT file.
        name: The object's name (a key of the file).
    """
    import uproot

    path = Path(path)
    if not path.exists():
        raise InputFileNotFoundError(str(path))
    try:
        f = uproot.open(path)
    except Exception as err:  # not a ROOT file
        raise InputFileNotFoundError(str(path), str(err)) from None
    with f:
        keys = [k.split(";")[0] for k, cls in f.classnames().items() if cls.startswith("TH1")]
        if name not in keys:
            hint = closest(name, keys)
            raise BadInputError(
                f"no TH1 {name!r} in {str(path)!r}; histograms: {', '.join(keys) or 'none'}"
                + (f" (did you mean {hint[0]!r}?)" if hint else ""))
        return f[name].to_hist()
