r"""Per-mass calibration of a data-space score: the same background efficiency at every m.

A classifier trained on the features x (CATHODE in data space) finds a localised signal best,
but the features' background distribution changes with the resonant mass m, so a fixed cut on
its score keeps different fractions of background at different m and sculpts the spectrum the
bump hunt fits. The latent space of the sideband flow removes the m dependence before the
classifier (LaCATHODE) and pays for it in sensitivity: the signal, at fixed x, moves in latent
space as m moves across the signal region.

The calibration moves the m dependence after the classifier instead, as a designed decorrelated
tagger does (Dolen et al., arXiv:1603.00027): every event's score h is replaced by its
background tail probability at the event's own mass,

.. math:: p(h, m) = P_\mathrm{bkg}(H > h \mid m),

and the calibrated score is :math:`-\ln p`. For background, p is uniform at every m, so a cut on
it keeps the same fraction of background everywhere. The reference distribution of H at m is

* in the signal region: the method's background template (sideband-flow samples at SR masses,
  each scored by a classifier that did not train on it), so the SR calibration rests on the
  same flow interpolation as the template itself;
* below and above the signal region, each side separately: sideband-flow samples at the
  masses of the events there (``oversample`` per event, 4 by default: with one, the
  reference's scatter nearly doubled the selection's in the sculpting study). The events
  themselves would be cheaper but not background: the tail of a signal that reaches into the sidebands inflated their tail
  counts and halved the selected background there at 0.1 % efficiency (1M dijet events with
  1000 signal events; the flow samples keep it within the statistical scatter).

P is smoothed in m with a Gaussian kernel over equal-population mass bins of the reference
(:func:`tail_probability`), so each event's tail probability rests on tens of thousands of
reference points, after the score's location and width at each m have been taken out
(``_standardised``), so that the kernel does not mix masses where they differ.

References:
    | J. Dolen et al., "Thinking outside the ROCs: Designing Decorrelated Taggers (DDT) for
    | jet substructure", JHEP 05 (2016) 156, https://arxiv.org/abs/1603.00027
    | A. Hallin et al., CATHODE, https://arxiv.org/abs/2109.00546
"""

from __future__ import annotations

import numpy as np

__all__ = ["calibrate", "tail_probability"]

#: reference points per mass bin of the kernel smoothing
PER_BIN = 10_000
#: width (standard deviation) of the Gaussian kernel, in mass bins
KERNEL_BINS = 2.0
#: reference points per fine mass bin of the location and width (``_standardised``)
FINE_BIN = 2_000
#: fine bins each location and width is averaged over
FINE_SMOOTH = 5


def tail_probability(h: np.ndarray, m: np.ndarray, ref_h: np.ndarray, ref_m: np.ndarray, *,
                     per_bin: int = PER_BIN, width: float = KERNEL_BINS
                     ) -> tuple[np.ndarray, np.ndarray]:
    r"""Kernel estimate of :math:`P(H > h \mid m)` from reference points ``(ref_h, ref_m)``.

    The reference is cut into equal-population mass bins of ``per_bin`` points (at least one
    bin); the fraction of each bin's points above h is averaged over the bins with Gaussian
    weights of standard deviation ``width`` bins around the event's (interpolated) bin position,
    each bin weighted by its number of points.

    Arguments:
        h, m: Scores and masses of the events to calibrate.
        ref_h, ref_m: Scores and masses of the reference (background) points.
        per_bin: Reference points per mass bin.
        width: Kernel standard deviation in bins.

    Returns:
        ``(above, total)``: the kernel-weighted number of reference points above each h and the
        kernel-weighted number of reference points (the tail probability is their ratio).
    """
    h, m = np.asarray(h, dtype=np.float64), np.asarray(m, dtype=np.float64)
    order = np.argsort(ref_m, kind="stable")
    ref_h, ref_m = np.asarray(ref_h, dtype=np.float64)[order], np.asarray(ref_m)[order]
    h, ref_h = _standardised(h, m, ref_h, ref_m)
    n_bins = max(1, len(ref_m) // int(per_bin))
    parts = np.array_split(np.arange(len(ref_m)), n_bins)
    centres = np.array([np.median(ref_m[p]) for p in parts])
    sorted_h = [np.sort(ref_h[p]) for p in parts]
    position = np.interp(m, centres, np.arange(n_bins)) if n_bins > 1 else np.zeros(len(m))
    reach = 3.0 * width
    above, total = np.zeros(len(h)), np.zeros(len(h))
    for b, hb in enumerate(sorted_h):
        near = np.abs(position - b) <= reach
        if not near.any():
            continue
        w = np.exp(-0.5 * ((position[near] - b) / width) ** 2)
        above[near] += w * (len(hb) - np.searchsorted(hb, h[near], side="right"))
        total[near] += w * len(hb)
    return above, total


def _standardised(h: np.ndarray, m: np.ndarray, ref_h: np.ndarray, ref_m: np.ndarray
                  ) -> tuple[np.ndarray, np.ndarray]:
    r"""``h`` and ``ref_h`` (sorted by ``ref_m``) shifted and scaled by the reference's median
    and half 16-84 % width at their mass (fine equal-population bins of :data:`FINE_BIN`
    points, smoothed over :data:`FINE_SMOOTH` bins, interpolated in m).

    The kernel of :func:`tail_probability` mixes neighbouring masses; where the score's
    location and width change with m (and the bins are wide in m, in a falling spectrum's tail)
    that mixing biased the tail probability (a selection of 0.55 and 1.8 times the target at
    the steepest masses of the test in ``tests/test_calibration.py``). Standardised, only the
    m dependence of the shape beyond location and width is left to the kernel. The map is
    increasing in h at every m, so the ranking at fixed m is kept.
    """
    from scipy.ndimage import uniform_filter1d

    n_fine = max(1, len(ref_m) // FINE_BIN)
    parts = np.array_split(np.arange(len(ref_m)), n_fine)
    centres = np.array([np.median(ref_m[p]) for p in parts])
    q = np.array([np.quantile(ref_h[p], [0.16, 0.5, 0.84]) for p in parts])
    loc = uniform_filter1d(q[:, 1], FINE_SMOOTH, mode="nearest")
    scale = uniform_filter1d(np.maximum(0.5 * (q[:, 2] - q[:, 0]), 1e-12), FINE_SMOOTH,
                             mode="nearest")

    def apply(v: np.ndarray, at: np.ndarray) -> np.ndarray:
        if n_fine == 1:
            return (v - loc[0]) / scale[0]
        return (v - np.interp(at, centres, loc)) / np.interp(at, centres, scale)

    return apply(h, m), apply(ref_h, ref_m)


def _minus_log_tail(h: np.ndarray, above: np.ndarray, total: np.ndarray) -> np.ndarray:
    r"""``-ln`` of the tail probability, regularised (+1/2 point) so that scores beyond every
    reference point stay finite; ties among those are broken by h (a term far below the
    resolution of the tail probability)."""
    score = -np.log((above + 0.5) / (total + 1.0))
    if len(h):
        rank = np.argsort(np.argsort(h, kind="stable"), kind="stable") / len(h)
        score = score + 1e-9 * rank
    return score


def calibrate(h: np.ndarray, m: np.ndarray, window: tuple[float, float],
              template_h: np.ndarray, template_m: np.ndarray, outside_h: np.ndarray,
              outside_m: np.ndarray, *, per_bin: int = PER_BIN,
              width: float = KERNEL_BINS) -> tuple[np.ndarray, np.ndarray]:
    r"""The calibrated score ``-ln P_bkg(H > h | m)`` of every event and of the template.

    Arguments:
        h, m: Every event's (data-space) score and mass.
        window: The signal region ``(lo, hi)``.
        template_h, template_m: Scores and masses of the background template of the SR.
        outside_h, outside_m: Scores and masses of background samples outside the SR (the
            reference below and above it, each side on its own).
        per_bin, width: As :func:`tail_probability`.

    Returns:
        The calibrated scores of the events and of the template points (the template is
        calibrated against itself, so a cut on the calibrated score keeps the same fraction
        of it as of the SR background).
    """
    h, m = np.asarray(h, dtype=np.float64), np.asarray(m, dtype=np.float64)
    outside_h, outside_m = np.asarray(outside_h), np.asarray(outside_m)
    lo, hi = window
    above, total = np.zeros(len(h)), np.zeros(len(h))
    below, beyond = outside_m < lo, outside_m >= hi
    for where, (ref_h, ref_m) in (((m >= lo) & (m < hi), (template_h, template_m)),
                                  (m < lo, (outside_h[below], outside_m[below])),
                                  (m >= hi, (outside_h[beyond], outside_m[beyond]))):
        if not where.any() or not len(ref_h):
            continue
        above[where], total[where] = tail_probability(h[where], m[where], ref_h, ref_m,
                                                      per_bin=per_bin, width=width)
    t_above, t_total = tail_probability(template_h, template_m, template_h, template_m,
                                       per_bin=per_bin, width=width)
    both = _minus_log_tail(np.concatenate([h, template_h]), np.concatenate([above, t_above]),
                           np.concatenate([total, t_total]))
    return both[:len(h)], both[len(h):]
