r"""``example_mean``: a flowstats anomaly method shipped as a plugin.

The score of an event is its Mahalanobis distance from the sideband events,
``sqrt((x - mu)^T C^-1 (x - mu))``, with ``mu`` and ``C`` the mean and covariance of the
features of the sideband events: far from the bulk of the background means anomalous. No flow,
no classifier, no folds (every fold number is -1) and no background template.

It sculpts: when the features depend on m, the SR background's mean differs from the sidebands'
mean, so the SR background gets larger distances than sideband background and a cut on the score
carves a bump at the SR. The entry says so (``sculpts=True``): ``flowstats bumphunt`` refuses
it unless ``--allow-sculpting`` is given.

Registered through the entry point ``example_mean`` of the group ``flowstats.methods``
(``pyproject.toml``), which names :data:`METHOD`.
"""

from __future__ import annotations

import logging
from typing import Any

import numpy as np

from flowstats.exceptions import BadInputError
from flowstats.registry import Method

log = logging.getLogger(__name__)

__all__ = ["METHOD", "mahalanobis"]

#: region code of the sideband events (flowstats.anomaly.regions.SIDEBAND)
SIDEBAND = 0


def mahalanobis(x: np.ndarray, reference: np.ndarray, shrinkage: float = 0.0) -> np.ndarray:
    r"""Mahalanobis distance of every row of ``x`` from the rows of ``reference``.

    Arguments:
        x: Points, (n, d).
        reference: The sample whose mean and covariance define the distance, (k, d).
        shrinkage: The covariance used is ``(1 - shrinkage) C + shrinkage diag(C)``.
    """
    x = np.asarray(x, dtype=np.float64)
    reference = np.asarray(reference, dtype=np.float64)
    mean = reference.mean(axis=0)
    cov = np.atleast_2d(np.cov(reference, rowvar=False))
    cov = (1.0 - shrinkage) * cov + shrinkage * np.diag(np.diag(cov))
    diff = x - mean
    # solve instead of inverting: C^-1 (x - mu) for every event at once
    solved = np.linalg.solve(cov, diff.T).T
    return np.sqrt(np.maximum(np.sum(diff * solved, axis=1), 0.0))


def example_mean(x: np.ndarray, m: np.ndarray, codes: np.ndarray, names: list[str], *,
                 seed: int = 0, shrinkage: float,
                 **unused: Any) -> tuple[np.ndarray, np.ndarray, dict, None]:
    r"""Mahalanobis distance of every event from the sideband events (see the module doc).

    Arguments:
        x: Features, (n, d).
        m: Resonant mass, (n,) (not used: the score is a function of the features only).
        codes: Region codes, (n,): 1 SR, 0 sideband, -1 outside.
        names: Feature names.
        seed: Unused (the score is deterministic).
        shrinkage: This method's own option (``score_options: {shrinkage: ...}`` in a YAML
            file): the sideband covariance is shrunk towards its diagonal by this fraction.
        unused: The other options of :func:`flowstats.anomaly.score`.

    Returns:
        ``(score, fold, info, template)``: the distances, -1 folds, a summary, no template.
    """
    side = x[codes == SIDEBAND]
    if len(side) <= x.shape[1]:
        raise BadInputError(f"example_mean: {len(side)} sideband events cannot fix the "
                            f"covariance of {x.shape[1]} features")
    if not 0.0 <= shrinkage <= 1.0:
        raise BadInputError(f"example_mean: shrinkage {shrinkage} is not in [0, 1]")
    score = mahalanobis(x, side, shrinkage)
    log.info("example_mean: distances from %d sideband events", len(side))
    info = {"n_sideband": int(len(side)),
            "sideband_mean": dict(zip(names, map(float, side.mean(axis=0))))}
    return score, np.full(len(x), -1, dtype=np.int64), info, None


#: the registry entry (what the entry point names)
METHOD = Method(
    name="example_mean",
    score=example_mean,
    description="Mahalanobis distance from the sideband events (example plugin)",
    sculpts=True,
    sculpting_reason="the distance from the sidebands' mean grows where the features' "
                     "distribution moves with m, so a cut on it keeps more SR than sideband "
                     "background",
    has_template=False,
    needs_flow=False,
    options=("shrinkage",),
    defaults={"shrinkage": 0.0},
)
