"""Feature binning for the boosted trees (flowstats._binning)."""

from __future__ import annotations

import numpy as np

from flowstats._binning import apply_bins, weighted_bin_edges
from flowstats.anomaly.classifiers import HGBEnsemble


def test_edges_split_the_weight_into_equal_shares():
    rng = np.random.default_rng(3)
    x = rng.normal(size=(50_000, 2))
    w = np.where(rng.random(50_000) < 0.2, 4.0, 1.0) * np.sign(rng.random(50_000) - 0.1)
    edges = weighted_bin_edges(x, w)
    bins = apply_bins(edges, x)
    assert bins.min() == 0 and bins.max() == 254 and len(np.unique(bins[:, 0])) == 255
    for j in range(2):
        share = np.bincount(bins[:, j].astype(int), weights=np.abs(w), minlength=255)
        share /= np.abs(w).sum()
        # each bin holds 1/255 of |w| up to the one event (weight <= 4 of a total ~80k) at
        # its edge
        assert np.allclose(share, 1 / 255, atol=5 * 4 / np.abs(w).sum())
    # few distinct values: the midpoints between them, every value its own bin
    d = np.repeat(np.arange(10.0), 7)[:, None]
    e = weighted_bin_edges(d, np.ones(len(d)))
    assert np.allclose(e[0], np.arange(9) + 0.5)
    assert np.array_equal(apply_bins(e, d)[:, 0], d[:, 0])


def test_binned_ensemble_learns_and_reloads(tmp_path):
    rng = np.random.default_rng(4)
    x = np.vstack([rng.normal(0.3, 1.0, (4000, 3)), rng.normal(0.0, 1.0, (16_000, 3))])
    y = np.r_[np.ones(4000), np.zeros(16_000)]
    clf = HGBEnsemble(2, seed=1).fit(x, y, np.where(y == 1, 1.0, 0.25))
    assert len(clf.edges) == 3
    # the logit grows along the shift (correlation of the decision with the sum of features)
    xt = rng.normal(0.15, 1.0, (5000, 3))
    d = clf.decision(xt)
    assert np.corrcoef(d, xt.sum(axis=1))[0, 1] > 0.5
    clf.save(tmp_path)
    assert np.array_equal(HGBEnsemble.load(tmp_path).decision(xt), d)
