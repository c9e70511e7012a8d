r"""Evaluation of anomaly scores on labelled data: ROC, SIC, background rejection.

* ROC: signal efficiency eps_S against background efficiency eps_B for every threshold.
* SIC, the significance improvement characteristic eps_S / sqrt(eps_B): with few background
  events left after a tight cut, eps_B fluctuates and max SIC becomes a fluke. Only thresholds
  keeping enough background count: the relative statistical error of eps_B,
  1 / sqrt(N_B selected), must not exceed ``max_rel_error`` (0.2 by default: at least 25
  background events), and eps_B must not be below ``eps_b_floor`` when one is given.
* Background rejection 1 / eps_B at eps_S = 0.2 and 0.5 (interpolated along the ROC).
* The same numbers for the exact likelihood ratio of ``flowstats generate dijet`` (the
  Neyman-Pearson optimum: pass its ``llr`` as the score) and for a fully supervised classifier
  (:func:`supervised_score`, the idealised detector trained with the truth labels).

References:
    J. Collins, K. Howe, B. Nachman, arXiv:1805.02664 (SIC);
    A. Hallin et al., CATHODE, arXiv:2109.00546 (SIC with a background-count floor).
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import Any

import numpy as np

from ..exceptions import BadInputError

log = logging.getLogger(__name__)

__all__ = ["evaluate", "roc", "sic", "sic_at_background", "supervised_score"]


def _check(score: np.ndarray, label: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    score = np.asarray(score, dtype=np.float64)
    label = np.asarray(label).astype(bool)
    if score.shape != label.shape or score.ndim != 1:
        raise BadInputError(f"score {score.shape} and label {label.shape} must be 1-D of one length")
    if label.all() or not label.any():
        raise BadInputError("metrics need both signal (label 1) and background (label 0) events")
    score = np.where(np.isnan(score), -np.inf, score)
    return score, label


def roc(score: np.ndarray, label: np.ndarray) -> dict[str, np.ndarray]:
    r"""ROC curve: ``eps_s``, ``eps_b``, ``threshold`` (cut ``score >= threshold``), and the
    selected counts ``n_s``, ``n_b``, from the tightest cut to the loosest.

    Arguments:
        score: Anomaly score (higher = more signal-like); NaN counts as lowest.
        label: Truth, 1 signal, 0 background.
    """
    from sklearn.metrics import roc_curve

    score, label = _check(score, label)
    finite = np.nan_to_num(score, neginf=np.finfo(float).min, posinf=np.finfo(float).max)
    fpr, tpr, thr = roc_curve(label, finite, drop_intermediate=False)
    n_sig, n_bkg = int(label.sum()), int((~label).sum())
    return {"eps_s": tpr, "eps_b": fpr, "threshold": thr,
            "n_s": np.rint(tpr * n_sig), "n_b": np.rint(fpr * n_bkg)}


def sic(score: np.ndarray, label: np.ndarray, *, max_rel_error: float | None = 0.2,
        eps_b_floor: float | None = None) -> dict[str, np.ndarray]:
    r"""SIC curve eps_S / sqrt(eps_B) at the thresholds where eps_B is trustworthy.

    Arguments:
        score, label: As :func:`roc`.
        max_rel_error: Largest accepted relative error 1/sqrt(N_B) of eps_B (None: no cap).
        eps_b_floor: Smallest accepted eps_B (None: no floor).

    Returns:
        ``eps_s``, ``eps_b``, ``sic`` at the accepted thresholds.
    """
    r = roc(score, label)
    ok = r["eps_b"] > 0
    if max_rel_error is not None:
        ok &= r["n_b"] >= 1.0 / max_rel_error**2
    if eps_b_floor is not None:
        ok &= r["eps_b"] >= eps_b_floor
    eps_s, eps_b = r["eps_s"][ok], r["eps_b"][ok]
    return {"eps_s": eps_s, "eps_b": eps_b, "sic": eps_s / np.sqrt(eps_b)}


def _eps_b_at(r: dict[str, np.ndarray], eps_s: float) -> float:
    # eps_s is non-decreasing along the curve; take the loosest eps_B reaching it
    i = int(np.searchsorted(r["eps_s"], eps_s, side="left"))
    if i >= len(r["eps_s"]):
        return float("nan")
    if i == 0:
        return float(r["eps_b"][0])
    s0, s1 = r["eps_s"][i - 1], r["eps_s"][i]
    b0, b1 = r["eps_b"][i - 1], r["eps_b"][i]
    return float(b1 if s1 == s0 else b0 + (b1 - b0) * (eps_s - s0) / (s1 - s0))


def evaluate(score: np.ndarray, label: np.ndarray, *, max_rel_error: float | None = 0.2,
             eps_b_floor: float | None = None) -> dict[str, Any]:
    r"""Summary figures of a score: AUC, max SIC, SIC and rejection at eps_S = 0.2 and 0.5.

    Arguments:
        score, label: As :func:`roc`.
        max_rel_error, eps_b_floor: As :func:`sic` (apply to max SIC).
    """
    from sklearn.metrics import roc_auc_score

    score, label = _check(score, label)
    r = roc(score, label)
    s = sic(score, label, max_rel_error=max_rel_error, eps_b_floor=eps_b_floor)
    out: dict[str, Any] = {
        "auc": float(roc_auc_score(label, np.nan_to_num(score, neginf=np.finfo(float).min))),
        "n_signal": int(label.sum()), "n_background": int((~label).sum()),
    }
    if len(s["sic"]):
        i = int(np.argmax(s["sic"]))
        out.update(max_sic=float(s["sic"][i]), max_sic_eps_s=float(s["eps_s"][i]),
                   max_sic_eps_b=float(s["eps_b"][i]))
    else:
        out.update(max_sic=float("nan"), max_sic_eps_s=float("nan"), max_sic_eps_b=float("nan"))
    for eps in (0.2, 0.5):
        b = _eps_b_at(r, eps)
        out[f"rejection_at_{eps}"] = 1.0 / b if b > 0 else float("inf")
        out[f"sic_at_{eps}"] = eps / np.sqrt(b) if b > 0 else float("inf")
    return out


def sic_at_background(score: np.ndarray, label: np.ndarray,
                      eps_b: Sequence[float] = (1e-2, 1e-3, 1e-4)) -> dict[str, dict[str, float]]:
    r"""Signal efficiency and SIC at fixed background efficiencies (the Dark Machines figure).

    For each target :math:`\epsilon_B`, the cut is the background scores' quantile
    :math:`1 - \epsilon_B` (events with ``score > cut`` are selected), and the figure of merit is
    :math:`\epsilon_S / \sqrt{\epsilon_B}` with the selected fractions actually reached. A target
    that keeps fewer than 10 background events is reported as NaN (no trustworthy estimate).

    Arguments:
        score, label: As :func:`roc`.
        eps_b: The target background efficiencies.

    References:
        | Unsupervised hunt for new physics in the Dark Machines challenge (Aarrestad et al., 2021)
        | https://arxiv.org/abs/2105.14027
    """
    score, label = _check(score, label)
    background = np.sort(score[~label])
    signal = score[label]
    out: dict[str, dict[str, float]] = {}
    for target in eps_b:
        n_kept = int(np.floor(target * len(background)))
        if n_kept < 10 or not len(signal):
            out[f"{target:g}"] = {"eps_b": float("nan"), "eps_s": float("nan"),
                                  "sic": float("nan"), "cut": float("nan")}
            continue
        cut = float(background[len(background) - n_kept - 1])
        b = float(np.mean(background > cut))
        s = float(np.mean(signal > cut))
        out[f"{target:g}"] = {"eps_b": b, "eps_s": s, "sic": s / np.sqrt(b) if b > 0 else float("nan"),
                              "cut": cut}
    return out


def supervised_score(x: np.ndarray, label: np.ndarray, *, seed: int = 0, k: int = 5,
                     classifier: str = "hgb", **options: Any) -> np.ndarray:
    r"""Fully supervised classifier (signal vs background truth), k-fold cross-scored.

    The idealised detector: it uses the truth labels, so it bounds what a weakly supervised
    classifier on the same features and number of events can reach.

    Arguments:
        x: Features (n, d).
        label: Truth (1 signal, 0 background).
        seed, k, classifier, options: As :func:`flowstats.anomaly.classifiers.cross_score`.
    """
    from .classifiers import TrainingSet, cross_score

    label = np.asarray(label).astype(np.int64)
    fold = np.random.default_rng(seed).permutation(np.arange(len(x)) % k)
    return cross_score(TrainingSet(x, label, fold), x, fold, k=k, kind=classifier, seed=seed, **options)
