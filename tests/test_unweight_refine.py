"""Classifier refinement of generated events (flowstats.unweighting.refine, issue 29)."""

from __future__ import annotations

import json

import numpy as np

from flowstats.unweighting.refine import refine, refine_batches, smoothed_weights


def _weighted_normal(n: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    r"""n events whose weighted density is N(0, 1) in each of 2 features, weighted as the nlo
    toy is (:mod:`flowstats.datasets.nlo`): 20 % negative events (weight -1) from a narrower
    counter-event density f (N(0, 0.5^2) in the first feature), the positive ones (weight +1)
    from (t + a f) / (1 + a) with a = 0.2 / 0.6."""
    rng = np.random.default_rng(seed)
    nu, a = 0.2, 0.2 / 0.6
    negative = rng.random(n) < nu
    from_f = negative | (rng.random(n) < a / (1 + a))
    x = rng.normal(0.0, 1.0, (n, 2))
    x[from_f, 0] *= 0.5
    return x, np.where(negative, -1.0, 1.0)


def test_smoothed_weights_keep_the_weighted_sums_and_are_non_negative():
    x, w = _weighted_normal(40_000, 0)
    w_bar = smoothed_weights(x, w, seed=1)
    assert np.all(w_bar >= 0)
    # the sum over a region changes by less than its own statistical error (sum of w^2)
    for region in (x[:, 0] < -1, np.abs(x[:, 0]) < 0.3, x[:, 1] > 1):
        err = np.sqrt(np.sum(w[region] ** 2))
        assert abs(w_bar[region].sum() - w[region].sum()) < 4 * err
    positive = np.abs(w)
    assert smoothed_weights(x, positive) is not None
    np.testing.assert_array_equal(smoothed_weights(x, positive), positive)


def test_refinement_removes_a_mismodelled_shift():
    r"""A 'model' off by 0.3 standard deviations in the first feature and 20 % too wide in the
    second: the refined events follow the training events' N(0, 1) within their errors."""
    x_train, w_train = _weighted_normal(40_000, 2)
    n_eff = w_train.sum() ** 2 / np.sum(w_train ** 2)

    def model(k: int, seed: int) -> np.ndarray:
        rng = np.random.default_rng(seed)
        return np.column_stack([rng.normal(0.3, 1.0, k), rng.normal(0.0, 1.2, k)])

    x, info = refine(model, 20_000, x_train, w_train, seed=4)
    assert x.shape == (20_000, 2)
    assert 0.3 < info["efficiency"] <= 1
    assert info["truncated_fraction"] < 0.01
    assert info["n_drawn"] >= 20_000
    # errors of the mean and of the variance: generated events plus the training events the
    # classifier learnt from (n_eff), five standard errors
    err_mean = np.sqrt(1 / len(x) + 1 / n_eff)
    assert abs(x[:, 0].mean()) < 5 * err_mean  # the model's mean is 0.3: 20+ errors away
    assert abs(x[:, 1].std() - 1.0) < 5 * np.sqrt(0.5) * err_mean  # the model's is 1.2
    again, _ = refine(model, 20_000, x_train, w_train, seed=4)
    np.testing.assert_array_equal(x, again)


class _Tagged:
    r"""A batch of events that carries more than its features (as whole events do)."""

    def __init__(self, x: np.ndarray, tag: np.ndarray) -> None:
        self.x, self.tag = x, tag

    def select(self, rows: np.ndarray) -> _Tagged:
        return _Tagged(self.x[rows], self.tag[rows])

    @staticmethod
    def join(parts: list[_Tagged]) -> _Tagged:
        return _Tagged(np.concatenate([p.x for p in parts]),
                       np.concatenate([p.tag for p in parts]))


def test_refined_batches_keep_their_events_whole():
    r"""refine_batches accepts the rows refine accepts (same seeds) and keeps each row's payload
    with it: the tag computed from the features at drawing time still matches them."""
    x_train, w_train = _weighted_normal(20_000, 6)

    def model(k: int, seed: int) -> np.ndarray:
        rng = np.random.default_rng(seed)
        return np.column_stack([rng.normal(0.3, 1.0, k), rng.normal(0.0, 1.2, k)])

    def tagged(k: int, seed: int) -> _Tagged:
        x = model(k, seed)
        return _Tagged(np.column_stack([x, rng_extra(k, seed)]), x[:, 0] * 7.0 + x[:, 1])

    def rng_extra(k: int, seed: int) -> np.ndarray:  # a column the classifier never sees
        return np.random.default_rng([seed, 1]).normal(size=k)

    plain, info = refine(model, 5000, x_train, w_train, seed=8)
    batch, info_b = refine_batches(tagged, 5000, x_train, w_train, features=lambda b: b.x[:, :2],
                                   join=_Tagged.join, seed=8)
    assert len(batch.tag) == 5000 and batch.x.shape == (5000, 3)
    np.testing.assert_array_equal(batch.x[:, :2], plain)
    np.testing.assert_array_equal(batch.tag, batch.x[:, 0] * 7.0 + batch.x[:, 1])
    assert info_b["n_drawn"] == info["n_drawn"]
    # at most 7000 events drawn at once (the pool of 60k in parts): still n events, each with
    # its payload, and the same again with the same seed
    drawn = []

    def counted(k: int, seed: int) -> _Tagged:
        drawn.append(k)
        return tagged(k, seed)

    small, info_s = refine_batches(counted, 5000, x_train, w_train,
                                   features=lambda b: b.x[:, :2], join=_Tagged.join, seed=8,
                                   max_batch=7000)
    assert max(drawn) == 7000 and info_s["n_generated"] == 60_000
    assert len(small.tag) == 5000
    np.testing.assert_array_equal(small.tag, small.x[:, 0] * 7.0 + small.x[:, 1])
    again, _ = refine_batches(tagged, 5000, x_train, w_train, features=lambda b: b.x[:, :2],
                              join=_Tagged.join, seed=8, max_batch=7000)
    np.testing.assert_array_equal(again.x, small.x)


def test_unweight_reports_its_refinement(tiny_unweight):
    assert tiny_unweight.code == 0, tiny_unweight.err
    summary = json.loads((tiny_unweight.dir / "report" / "summary.json").read_text())
    ref = summary["refinement"]
    assert ref["classifier"] == "HistGradientBoostingClassifier"
    assert 0 < ref["efficiency"] <= 1 and ref["n_drawn"] >= 1000
    assert summary["seeds"]["sample"] == summary["seeds"]["flow"] + 2
    assert '"refine": true' in json.dumps(summary["provenance"])


def test_unweight_without_refinement_samples_the_flow(tmp_path):
    import uproot

    import flowstats
    from flowstats.io import write_events

    x, w = _weighted_normal(3000, 5)
    write_events(tmp_path / "in.root", "events", {"a": x[:, 0], "b": x[:, 1], "w": w})
    common = {"features": ["a", "b"], "weight": "w", "n": 500, "epochs": 1, "transforms": 1,
              "hidden": [8], "bins": 4, "seed": 1, "device": "cpu"}
    result = flowstats.unweight(tmp_path / "in.root", output=tmp_path / "out.root",
                                refine=False, **common)
    assert result.summary["refinement"] is None
    assert result.summary["seeds"]["sample"] == 2
    # the same model sampled directly with seed + 1
    out = uproot.open(tmp_path / "out.root")["events"].arrays(["a", "b"], library="np")
    model = flowstats.unweighting.flow_model.UnweightModel.load(result.model, features=["a", "b"])
    direct = model.sample(500, seed=2)
    np.testing.assert_allclose(np.column_stack([out["a"], out["b"]]), direct)
