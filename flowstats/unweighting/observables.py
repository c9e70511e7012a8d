r"""Observables of whole events, for the report's checks of what the flows learnt and did not.

:func:`observables` computes, from the particle records of :class:`~.event_model.Records`, the
standard Drell-Yan + jets observables (charged leptons ordered by pT, partons by pT):

* learnt directly (coordinates of the pair parametrisation, :mod:`.phasespace`): ``m_ll``,
  ``y_ll``, ``jet1_pt``, ``jet1_y`` (and the category: ``n_partons``);
* **never trained** (functions of several coordinates, or of none): ``pT_ll`` (with two or more
  partons), ``lep1_pt``, ``lep2_pt``, ``lep1_eta``, ``lep2_eta``, ``dphi_ll``, ``dR_ll``,
  ``cos_theta_cs`` (the Collins-Soper angle; for events without partons it is the
  ``cos_theta`` coordinate up to the sign of ``y_ll``), ``HT`` (with two partons), ``m_all``
  (the final state's invariant mass, :math:`\sqrt{\hat s}`), ``x1``, ``x2`` (the incoming
  momentum fractions).

Only observables defined for every event enter the comparison (events without a lepton pair
leave out the lepton observables).
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np

from .event_model import Records
from .phasespace import PARTONS, cos_theta_cs, invariant_mass, rapidity

__all__ = ["LEPTONS", "NEVER_TRAINED", "TRAINED", "comparable", "observables"]

#: ``|PDG id|`` of the charged leptons
LEPTONS = (11, 13, 15)
#: observables that are (or fix) coordinates of the pair parametrisation
TRAINED = ("m_ll", "y_ll", "jet1_pt", "jet1_y", "n_partons")
#: observables that are not coordinates of the parametrisation
NEVER_TRAINED = ("pT_ll", "lep1_pt", "lep2_pt", "lep1_eta", "lep2_eta", "dphi_ll", "dR_ll",
                 "cos_theta_cs", "HT", "m_all", "x1", "x2")


def _ordered(p4: np.ndarray, mask: np.ndarray, count: int) -> np.ndarray:
    """(n, count, 4) four-vectors of the masked particles with the largest pT (NaN if fewer)."""
    pt = np.hypot(p4[..., 0], p4[..., 1])
    key = np.where(mask, -pt, np.inf)
    order = np.argsort(key, axis=1, kind="stable")[:, :count]
    out = np.take_along_axis(p4, order[:, :, None], axis=1)
    have = np.take_along_axis(mask, order, axis=1)
    out[~have] = np.nan
    if out.shape[1] < count:
        out = np.concatenate([out, np.full((len(out), count - out.shape[1], 4), np.nan)], 1)
    return out


def observables(records: Records, sqrt_s: float) -> dict[str, np.ndarray]:
    r"""The observables of the module docstring, each ``(n,)`` (NaN where undefined).

    Arguments:
        records: Whole events.
        sqrt_s: Collision energy (GeV), for ``x1``, ``x2``.
    """
    p = records.particles
    p4 = np.stack([p[f] for f in ("px", "py", "pz", "e")], axis=-1)
    final = records.final_state()
    apid = np.abs(p["pid"])
    lep = final & np.isin(apid, LEPTONS)
    parton = final & np.isin(apid, PARTONS)
    leps = _ordered(p4, lep, 2)
    jets = _ordered(p4, parton, 2)
    out: dict[str, np.ndarray] = {}
    pair = leps[:, 0] + leps[:, 1]
    with np.errstate(invalid="ignore", divide="ignore"):
        out["m_ll"] = invariant_mass(pair)
        out["pT_ll"] = np.hypot(pair[:, 0], pair[:, 1])
        out["y_ll"] = rapidity(pair)
        lpt = np.hypot(leps[..., 0], leps[..., 1])
        leta = np.arcsinh(leps[..., 2] / lpt)
        lphi = np.arctan2(leps[..., 1], leps[..., 0])
        out["lep1_pt"], out["lep2_pt"] = lpt[:, 0], lpt[:, 1]
        out["lep1_eta"], out["lep2_eta"] = leta[:, 0], leta[:, 1]
        dphi = np.abs((lphi[:, 0] - lphi[:, 1] + np.pi) % (2 * np.pi) - np.pi)
        out["dphi_ll"] = dphi
        out["dR_ll"] = np.hypot(leta[:, 0] - leta[:, 1], dphi)
        # Collins-Soper: the negatively charged lepton (positive PDG id) of the pair
        sign = np.where(lep, np.sign(p["pid"]), 0)
        minus = _ordered(p4, lep & (sign > 0), 1)[:, 0]
        plus = _ordered(p4, lep & (sign < 0), 1)[:, 0]
        out["cos_theta_cs"] = cos_theta_cs(minus, plus)
        jpt = np.hypot(jets[..., 0], jets[..., 1])
        out["jet1_pt"] = np.nan_to_num(jpt[:, 0], nan=0.0)
        out["jet1_y"] = rapidity(jets[:, 0])
        out["n_partons"] = parton.sum(axis=1).astype(np.float64)
        out["HT"] = np.where(parton, np.hypot(p4[..., 0], p4[..., 1]), 0.0).sum(axis=1)
        total = np.where(final[..., None], p4, 0.0).sum(axis=1)
        out["m_all"] = invariant_mass(total)
        out["x1"] = (total[:, 3] + total[:, 2]) / sqrt_s
        out["x2"] = (total[:, 3] - total[:, 2]) / sqrt_s
    return out


def comparable(*samples: Mapping[str, np.ndarray]) -> list[str]:
    r"""Names of the observables finite in every event of every sample, in the order
    :data:`TRAINED` then :data:`NEVER_TRAINED` (``jet1_y`` needs a parton in every event, so
    it drops out of inclusive samples).

    Arguments:
        samples: Outputs of :func:`observables`.
    """
    names = [*TRAINED, *NEVER_TRAINED]
    return [n for n in names if all(n in s and np.all(np.isfinite(s[n])) for s in samples)]
