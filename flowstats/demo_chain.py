r"""``flowstats demo``: the whole chain on the embedded datasets.

1. generate the LHC-Olympics-like dijet sample with an injected W'(3.5 TeV) -> X Y signal;
2. run the enhanced (CATHODE) bump hunt in windows at and around the signal, and report the
   local significance before and after the anomaly cut and the CLs limits, with the closure
   check (the same analysis on background-like pseudo-data: does the selection sculpt m?);
3. generate the negatively weighted ``nlo`` toy and unweight it with its proof report.

Everything goes into one output directory with ``demo_summary.json`` (seeds, versions,
configuration included). The default sizes run in about four minutes on two CPU cores (the
CATHODE of the demo uses MAF flows and boosted trees, :data:`FAST_SCORE`); ``quick=True`` is a
smaller smoke run (used by the tests).
"""

from __future__ import annotations

import logging
import shutil
import time
from pathlib import Path
from typing import Any

from ._utils import check_output, provenance, write_json

log = logging.getLogger(__name__)

__all__ = ["SIZES", "run_demo"]

#: the demo's CATHODE: MAF sideband flows and the boosted-tree classifier. Measured (full demo,
#: seed 0, 2 cores): 239 s in all, Z in the 3.3-3.7 TeV window 0.59 without a cut -> 9.44 at
#: efficiency 0.01, closure passed (min p 0.017); with the library defaults (NSF flows, MLP
#: classifier) 675 s, Z -> 8.23, closure failed at efficiency 0.2 (p 5e-4); NSF with the
#: boosted trees 512 s, Z -> 7.51
FAST_SCORE: dict[str, Any] = {"classifier": "hgb", "flow": {"kind": "maf"}}
#: sample sizes and training lengths of the full and the quick demo
SIZES: dict[str, dict[str, Any]] = {
    "full": {"n_background": 200_000, "n_signal": 400, "epochs": 15, "nlo_events": 200_000,
             "nlo_generate": 100_000, "nlo_epochs": 30, "scan": (3100.0, 3900.0),
             "width": 400.0, "step": 200.0, "score_options": FAST_SCORE},
    "quick": {"n_background": 40_000, "n_signal": 400, "epochs": 2, "nlo_events": 20_000,
              "nlo_generate": 5_000, "nlo_epochs": 3, "scan": (3300.0, 3700.0),
              "width": 400.0, "step": 400.0, "score_options": FAST_SCORE},
}


def run_demo(output: str | Path, *, seed: int = 0, quick: bool = False, force: bool = False,
             device: str = "auto", scheduler: str | None = None) -> dict[str, Any]:
    r"""Runs the demo chain into ``output``; returns (and writes) its summary.

    Arguments:
        output: Output directory.
        seed: Seed of every random step.
        quick: Small sizes for a smoke test.
        force: Replace an existing output directory.
        device: Torch device for the flows.
        scheduler: dask scheduler for the bump-hunt windows (None: serial).
    """
    from .bumphunt import run_bumphunt
    from .bumphunt.windows import same_value
    from .config import resolve_config
    from .datasets import dijet, nlo, write
    from .unweighting import unweight

    out = Path(output)
    check_output(out, force)
    if out.exists():
        shutil.rmtree(out)
    out.mkdir(parents=True)
    size = SIZES["quick" if quick else "full"]
    start = time.perf_counter()

    log.info("generating the dijet sample")
    columns = dijet.generate(n_background=size["n_background"], n_signal=size["n_signal"],
                             seed=seed)
    write(out / "dijet.root", columns, tree="events")
    config = resolve_config(None, {
        "input": str(out / "dijet.root"), "features": list(dijet.FEATURES), "mass": dijet.MASS,
        "label": "label", "method": "cathode",
        "scan": {"range": list(size["scan"]), "width": size["width"], "step": size["step"]},
        "efficiency": [0.2, 0.05, 0.01], "output": str(out / "bumphunt"), "seed": seed,
        "device": device, "scheduler": scheduler,
        "score_options": {"fit": {"epochs": size["epochs"]}, **size["score_options"]},
        "closure": True,
    })
    t0 = time.perf_counter()
    hunt = run_bumphunt(config, force=True)
    hunt_seconds = time.perf_counter() - t0
    signal_window = min({tuple(r["sr"]) for r in hunt["windows"]},
                        key=lambda w: abs(0.5 * (w[0] + w[1]) - 3500.0))
    rows = [r for r in hunt["windows"] if tuple(r["sr"]) == signal_window]
    no_cut = next(r for r in rows if same_value(r["efficiency"], 1.0))
    best = max((r for r in rows if r["efficiency"] < 1.0), key=lambda r: r["z_local"])

    log.info("unweighting the nlo toy")
    toy = nlo.generate(size["nlo_events"], seed=seed)
    write(out / "nlo.root", toy, tree="events")
    t0 = time.perf_counter()
    result = unweight(out / "nlo.root", features=list(nlo.FEATURES), weight="weight",
                      n=size["nlo_generate"], output=out / "nlo_unweighted.root",
                      report=out / "unweight_report", epochs=size["nlo_epochs"], seed=seed,
                      device=device, force=True)
    unweight_seconds = time.perf_counter() - t0
    report = result.summary

    summary = {
        "bumphunt": {
            "signal_window": list(signal_window),
            "z_local_no_cut": no_cut["z_local"],
            "z_local_best_cut": best["z_local"],
            "best_efficiency": best["efficiency"],
            "mu_upper_obs_best_cut": best.get("mu_upper_obs"),
            "mu_upper_exp_best_cut": best.get("mu_upper_exp"),
            "z_global": hunt.get("z_global"),
            "closure": {k: hunt["closure"][k] for k in ("verdict", "min_p_value", "threshold",
                                                        "n_tests")},
            "n_signal_injected": size["n_signal"],
            "seconds": hunt_seconds,
        },
        "unweight": {
            "sigma": result.sigma,
            "n_generated": result.n,
            "features": report.get("features"),
            "classifier_auc": report.get("classifier"),
            "seconds": unweight_seconds,
        },
        "total_seconds": time.perf_counter() - start,
        "provenance": provenance(seed, {"quick": quick, "device": device, **size}),
    }
    write_json(out / "demo_summary.json", summary, force=True)
    return summary
