r"""Closure check on background-like pseudo-data built from the user's own events.

Every event keeps its mass m and gets new features drawn from the sideband background flow at
that mass, ``x' ~ p_bkg(x | m)``: a sample with the data's m spectrum and no signal by
construction, in which the features depend on m exactly as the background model says. The same
analysis (the same method and options, its own flows and classifiers trained on the
pseudo-data) then scores it, and the selection at each efficiency is tested for a flat
efficiency in m (:func:`flowstats.anomaly.sculpting.flatness`) over the signal region and
sidebands: a method that sculpts the spectrum (e.g. CWoLa with features that follow m, or a
score that depends on m through the features' scale) is flagged.

It checks the method: the pseudo-data follow the first sideband flow exactly, so that flow's
own mismodelling is not in them; but the analysis retrains a flow on the pseudo-data's
sidebands, which interpolates into the SR again, so a method whose selection learns
interpolation errors (a classifier trained on many SR events) is flagged too. The sideband fit
of the bump hunt and its goodness of fit check the background model itself.

References:
    A. Hallin et al., LaCATHODE, arXiv:2210.14924 (background sculpting of CATHODE and CWoLa);
    J. Collins, K. Howe, B. Nachman, arXiv:1902.02634 (CWoLa's decorrelation requirement).
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import numpy as np

log = logging.getLogger(__name__)

__all__ = ["pseudo_background"]


def pseudo_background(x: np.ndarray, m: np.ndarray, *, sr: tuple[float, float] | str,
                      sideband_width: float | None = None, names: list[str] | None = None,
                      seed: int = 0, device: str = "auto",
                      model_dir: str | Path | None = None, **options: Any) -> np.ndarray:
    r"""Background-like pseudo-data: every event's features redrawn from p_bkg(x | m) at its m.

    The sideband flow is the one :func:`flowstats.anomaly.score` trains with the same options
    (reused from ``model_dir`` when it was saved there; trained for methods without a flow,
    such as ``cwola``).

    Arguments:
        x: Features, (n, d).
        m: Resonant mass, (n,).
        sr, sideband_width, names, seed, device, model_dir: as :func:`flowstats.anomaly.score`.
        options: The score options (:class:`~flowstats.settings.analysis.ScoreSettings`;
            ``flow``, ``fit``, ``max_flow_events``, ``min_sr`` and ``min_sideband`` are used).

    Returns:
        The pseudo-data features, (n, d), in the original units.
    """
    from .._utils import resolve_device
    from ..settings.analysis import ScoreSettings
    from . import prepare_inputs
    from .methods import background_flow

    known = ScoreSettings.model_fields
    s = ScoreSettings.parse({k: v for k, v in options.items() if k in known},
                            "closure score options")
    x, m, names, _, codes, flow = prepare_inputs(x, m, names, sr, sideband_width, s.min_sr,
                                                 s.min_sideband, options.get("flow"))
    bkg = background_flow(x, m, codes, names, seed=seed, device=resolve_device(device),
                          model_dir=model_dir, flow=flow, fit=s.to_dict()["fit"],
                          max_flow_events=s.max_flow_events)
    out = bkg.sample(m, seed=seed + 41)
    bad = ~np.isfinite(out).all(axis=1)
    if bad.any():
        # a non-finite draw (rare, far tails) is redrawn until every event has one
        log.warning("%d pseudo-data draws are not finite; redrawing them", int(bad.sum()))
        for attempt in range(10):
            out[bad] = bkg.sample(m[bad], seed=seed + 43 + attempt)
            bad = ~np.isfinite(out).all(axis=1)
            if not bad.any():
                break
        out[bad] = x[bad]
    return out
