"""Flow unweighting of the negatively weighted toy ``datasets.nlo`` against its known truth.

The full-size check (200k events, 20 % negative) is ``analyses/unweight_nlo.py``; this is the
same check at a size that fits the test budget, with tolerances derived for that size.
"""

from __future__ import annotations

import numpy as np
import uproot

import flowstats
from flowstats.datasets import nlo, write
from flowstats.unweighting.baselines import drop_negatives
from flowstats.unweighting.compare import binning, chi2_samples

FEATURES = ["pt", "y", "m", "njet"]



def test_nlo_generated_matches_truth_and_dropping_negatives_fails(tmp_path):
    n_in, n_gen = 30_000, 2_000
    data = nlo.generate(n_in, negative_fraction=0.2, seed=0)
    write(tmp_path / "nlo.root", data)
    result = flowstats.unweight(
        tmp_path / "nlo.root", features=FEATURES, weight="weight", n=n_gen,
        output=tmp_path / "out.root", epochs=20, transforms=2, hidden=(32, 32), bins=8,
        batch_size=1024, lr=3e-3, patience=20, seed=0, device="cpu")
    assert result.summary["model"]["discrete"] == ["njet"]
    gen = uproot.open(tmp_path / "out.root")["events"].arrays(library="np")
    np.testing.assert_allclose(gen["weight"].sum(), data["weight"].sum(), rtol=1e-9)
    truth = nlo.truth(200_000, seed=1)

    # Tolerance. The flow is fitted on n_train = 30000 * 0.75 * 0.8 = 18000 events with
    # N_eff = 18000 * (1 - 2 * 0.2)^2 = 6480. A maximum-likelihood fit on N_eff events has at
    # most the statistical error of a histogram of those events (it smooths), variance
    # p / N_eff per bin, on top of p / n_gen + p / n_truth from the two compared samples. So
    # E[chi2 / ndf] <= 1 + (1 / 6480) / (1 / 2000 + 1 / 200000) = 1.31, with a spread of
    # 1.31 * sqrt(2 / ndf) for each feature; we allow 3 of those.
    inflation = 1 + (1 / 6480) / (1 / n_gen + 1 / 200_000)
    train = data  # the baseline (a) uses all events (more power for the baseline)
    xa, wa = drop_negatives(np.column_stack([train[f] for f in FEATURES]), train["weight"])
    for k, name in enumerate(FEATURES):
        edges = binning(truth[name], 20, discrete=name == "njet")
        res = chi2_samples(gen[name], None, truth[name], None, edges)
        bound = inflation * (1 + 3 * np.sqrt(2 / res.ndf))
        assert res.chi2_ndf < bound, (name, res, bound)
        if name in ("pt", "njet"):  # the counter-events sit at low pt and low njet
            bad = chi2_samples(xa[:, k], wa, truth[name], None, edges)
            assert bad.p_value < 1e-6, (name, bad)
