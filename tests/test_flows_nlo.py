"""A flow trained with negative weights reproduces the truth of flowstats.datasets.nlo."""

from __future__ import annotations

import numpy as np
import pytest

from flowstats.datasets import nlo
from flowstats.flows import Flow

FEATURES = ["pt", "y", "m"]



def chi2_ndf(sample: np.ndarray, truth: np.ndarray, x: np.ndarray, w: np.ndarray) -> np.ndarray:
    r"""chi2/ndf per observable of the flow's sample against the truth, 20 equiprobable bins.

    Bin fractions f (flow sample, M events), t (truth, T events). The variance of f - t is the
    sum of the multinomial variances f(1-f)/M and t(1-t)/T and of the variance of the
    weighted training histogram the flow replaces, sum_bin(w^2)/(sum w)^2 (negative weights
    included). ndf = 19 (the fractions sum to 1).
    """
    out = []
    for j in range(x.shape[1]):
        edges = np.quantile(truth[:, j], np.linspace(0, 1, 21))
        edges[0], edges[-1] = -np.inf, np.inf
        t = np.histogram(truth[:, j], edges)[0] / len(truth)
        f = np.histogram(sample[:, j], edges)[0] / len(sample)
        sw2 = np.histogram(x[:, j], edges, weights=w ** 2)[0]
        var = t * (1 - t) / len(truth) + f * (1 - f) / len(sample) + sw2 / w.sum() ** 2
        out.append(np.sum((f - t) ** 2 / var) / 19)
    return np.array(out)


@pytest.mark.slow
def test_negative_weights_reproduce_truth_positive_only_fails():
    data = nlo.generate(24_000, negative_fraction=0.2, seed=0)
    x = np.stack([data[k] for k in FEATURES], 1)
    w = data["weight"]
    assert 0.18 < (w < 0).mean() < 0.22
    truth = nlo.truth(200_000, seed=1)
    xt = np.stack([truth[k] for k in FEATURES], 1)
    # m: a Breit-Wigner on [60, 120]; its logit has tails to |z| ~ 22, so the standardised
    # identity keeps the spline resolution on the peak (16 bins)
    opts = dict(hidden=(32, 32), transforms=3, bins=16, positive=["pt"], seed=0)
    fit = dict(epochs=12, patience=5, batch_size=512, device="cpu")

    flow = Flow(FEATURES, **opts)
    hist = flow.fit(x, w, **fit)
    # n_eff = N (1 - 2 nu)^2 for |w| constant
    assert hist["n_eff"] == pytest.approx(len(w) * (1 - 2 * (w < 0).mean()) ** 2, rel=1e-9)
    good = chi2_ndf(flow.sample(100_000, seed=2), xt, x, w)
    # under "the flow is as good as the weighted histogram", chi2 ~ chi2(19): its 99.9 %
    # quantile is 43.8, i.e. chi2/ndf < 2.3 (a smooth flow usually does better than that)
    assert np.all(good < 2.3), good

    pos = Flow(FEATURES, **opts)
    pos.fit(x[w > 0], w[w > 0], **fit)
    bad = chi2_ndf(pos.sample(100_000, seed=2), xt, x, w)
    # dropping the counter-events (1/4 of the positive density, at low pt) biases pt and y
    assert bad[0] > 2.3 and bad[1] > 2.3, bad
