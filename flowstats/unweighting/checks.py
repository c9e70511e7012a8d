r"""Checks of generated whole events against held-out weighted events.

* :func:`compare_observables`: per observable of :mod:`.observables` (those learnt as
  coordinates and those **never trained**), the shape chi2 between the weighted held-out events
  and the generated ones, *with the training sample's statistics*: a flow fitted to weighted
  training events inherits their statistical fluctuations, so the generated histogram is given
  the covariance of the training histogram (scaled by ``1 / (1 - val_fraction)``: the flow saw
  that fraction of them) on top of its own (``source`` of
  :func:`~.compare.chi2_histograms`);
* :func:`compare_categories`: the same chi2 on the categories' weighted fractions;
* :func:`negative_regions`: where a category's weighted density is negative (categories and
  record templates with a non-positive sum of weights, and coordinate bins with a significantly
  negative sum), and how much cross-section that is.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from .compare import binning, chi2_samples, histogram, negative_bins
from .observables import TRAINED

__all__ = ["compare_categories", "compare_observables", "negative_regions"]


def compare_observables(names: Sequence[str], test: Mapping[str, np.ndarray],
                        w_test: np.ndarray, generated: Mapping[str, np.ndarray],
                        w_generated: np.ndarray, train: Mapping[str, np.ndarray],
                        w_train: np.ndarray, *, bins: int = 30, val_fraction: float = 0.2,
                        discrete: Sequence[str] = ("n_partons",)) -> dict[str, dict[str, Any]]:
    r"""Shape chi2 per observable (bins: quantiles of the training events).

    Arguments:
        names: Observables to compare (keys of the three mappings).
        test, w_test: Held-out observables and weights.
        generated, w_generated: Generated observables and weights.
        train, w_train: Training observables and weights (bin edges; training statistics).
        bins: Bins per continuous observable.
        val_fraction: Fraction of the training events the flows used for validation only.
        discrete: Integer observables (one bin per value).

    Returns:
        ``{name: {chi2, ndf, p_value, chi2_ndf, trained}}``; ``trained`` says whether the
        observable is a coordinate of the parametrisation.
    """
    scale = 1.0 / (1.0 - float(val_fraction))
    out = {}
    for name in names:
        edges = binning(train[name], bins, discrete=name in discrete)
        res = chi2_samples(test[name], w_test, generated[name], w_generated, edges,
                           source=(train[name], w_train, scale))
        out[name] = {**res.as_dict(), "trained": name in TRAINED}
    return out


def compare_categories(labels: Sequence[str], test: np.ndarray, w_test: np.ndarray,
                       generated: np.ndarray, w_generated: np.ndarray, train: np.ndarray,
                       w_train: np.ndarray, *, val_fraction: float = 0.2) -> dict[str, Any]:
    r"""Weighted fractions of the categories: held-out, generated, chi2 with training stats.

    Arguments:
        labels: Category names; the arrays hold indices into them (-1: not modelled).
        test, w_test: Held-out category indices and weights.
        generated, w_generated: Generated ones.
        train, w_train: Training ones.
        val_fraction: See :func:`compare_observables`.
    """
    edges = np.arange(-1.5, len(labels) + 0.5)
    res = chi2_samples(test, w_test, generated, w_generated, edges,
                       source=(train, w_train, 1.0 / (1.0 - float(val_fraction))))

    def fractions(x: np.ndarray, w: np.ndarray) -> list[float]:
        v, _ = histogram(x, w, edges)
        v = v[1:-1]
        return (v / v.sum()).tolist()

    return {"labels": ["(not modelled)", *labels], "test": fractions(test, w_test),
            "generated": fractions(generated, w_generated), "chi2": res.as_dict()}


def negative_regions(model: Any, coordinates: Mapping[str, tuple[np.ndarray, np.ndarray]], *,
                     bins: int = 30, z: float = 3.0, unit: float = 1.0) -> dict[str, Any]:
    r"""Where the weighted training density of a category is negative, and how much
    cross-section that is.

    Arguments:
        model: The :class:`~.event_model.WholeEventModel` (its dropped categories and templates).
        coordinates: ``{category label: (x (n, d), weights)}`` of the training events.
        bins: Quantile bins per coordinate.
        z: A bin is listed when its sum of weights is below ``-z`` standard deviations.
        unit: Cross-section per unit of weight (e.g. ``sigma_pb / sum of weights``).

    Returns:
        ``dropped_categories``, ``dropped_templates`` (each with its cross-section) and
        ``bins`` (per category and coordinate, the significantly negative bins with their
        cross-section), plus ``sigma_dropped`` (the total cross-section of what was dropped).
    """
    dropped_c = [{**d, "sigma": d["sum_weights"] * unit} for d in model.dropped]
    dropped_t = []
    for cat in model.categories:
        for d in cat.dropped_templates:
            dropped_t.append({"category": cat.label, **d, "sigma": d["sum_weights"] * unit})
    found: dict[str, dict[str, list[dict[str, float]]]] = {}
    for cat in model.categories:
        if cat.label not in coordinates:
            continue
        x, w = coordinates[cat.label]
        for k, name in enumerate(cat.names):
            col = x[:, k]
            if np.all(col == col[0]):
                continue
            edges = binning(col, bins)
            hits = negative_bins(*histogram(col, w, edges), edges, z=z)
            if hits:
                found.setdefault(cat.label, {})[name] = [
                    {**h, "sigma": h["sum_w"] * unit} for h in hits]
    return {"dropped_categories": dropped_c, "dropped_templates": dropped_t, "bins": found,
            "sigma_dropped": float(sum(d["sigma"] for d in dropped_c)
                                   + sum(d["sigma"] for d in dropped_t))}
