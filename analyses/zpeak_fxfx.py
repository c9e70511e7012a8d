"""A bump-hunt scan across the Z peak of the real MadGraph5_aMC@NLO FxFx Z+jets sample.

Input: ../shared/data/zjets_fxfx_mg5amcnlo_7tev.lhe.gz (10,000 events, 18.5 % with negative
weights), converted to ROOT by ``flowstats convert``. The scan (docs/guide/bumphunt.md, "Your own data") runs
CATHODE in the latent space of the sideband flow with pT_ll and y_ll as features, on the lepton
pair mass m_ll in GeV, weighted: 8 GeV windows stepped by 4 GeV over 60-120 GeV, 2 GeV bins,
the background function chosen per window (``function: auto``), and the closure check.

Run the scan and print its table (or only print the table of a finished scan)::

    python analyses/zpeak_fxfx.py -o zscan            # converts and scans (~1.5 min, 2 cores)
    python analyses/zpeak_fxfx.py --summary zscan     # the table of an existing scan

The table has one line per window and efficiency: its status (ok, poor fit, skipped, no
result), the local Z, the chosen function and the fit's chi2/ndf; then the global Z and the
closure verdict. Exits with status 1 when the Z is not found (the most significant window must
contain 91.19 GeV with a finite significance).
"""

from __future__ import annotations

import argparse
import math
import sys
from pathlib import Path

import flowstats

ROOT = Path(__file__).resolve().parents[1]
LHE = ROOT.parent / "shared" / "data" / "zjets_fxfx_mg5amcnlo_7tev.lhe.gz"
M_Z = 91.1876

SETTINGS = {
    "mass": "m_ll", "features": ["pT_ll", "y_ll"], "weight": "weight", "method": "cathode",
    "scan": {"range": [60.0, 120.0], "width": 8.0, "step": 4.0}, "bin_width": 2.0,
    "efficiency": [0.5, 0.2], "closure": True, "score_options": {"fit": {"epochs": 3}},
}


def run(output: Path, seed: int, force: bool) -> flowstats.BumpHuntResult:
    from flowstats.io.lhe import convert_lhe

    output.mkdir(parents=True, exist_ok=True)
    root = output / "zjets.root"
    if not root.exists():
        convert_lhe(LHE, root)
    hunt = flowstats.BumpHunt(SETTINGS, input=str(root), seed=seed)
    return hunt.run(output=output / "scan", force=force)


def _missing(value: object) -> bool:
    return value is None or (isinstance(value, float) and math.isnan(value))


def table(result: flowstats.BumpHuntResult) -> bool:
    print(f"{'window':>12} {'eff':>5} {'Z local':>8} {'function':>8} {'fit chi2/ndf':>13}  status")
    for r in result.windows.itertuples(index=False):
        chi2 = (f"{r.fit_chi2:.1f}/{int(r.fit_ndf)}"
                if "fit_chi2" in r._fields and math.isfinite(r.fit_chi2) else "-")
        function = getattr(r, "fit_function", None)
        print(f"{r.sr_low:>5g}-{r.sr_high:<6g} {r.efficiency:>5g} {r.z_local:>8.2f} "
              f"{'-' if _missing(function) else function:>8} {chi2:>13}  {r.status[:70]}")
    if result.best_window is None:
        print(f"\nno window with a result, {result.n_windows_skipped} windows skipped")
        return False
    lo, hi = result.best_window
    print(f"\nmost significant: {lo:g}-{hi:g} GeV at efficiency {result.best_efficiency:g}, "
          f"Z local {result.z_max_local:.1f}, Z global {result.z_global:.1f} "
          f"(log10 p {result.log10_p_global:.1f}; {result.n_poor_fits_in_global} poor "
          f"fits used), {result.n_windows_skipped} windows skipped")
    if result.closure is not None:
        c = result.closure
        print(f"closure: {c['verdict']} (smallest p {c['min_p_value']:.2g}, threshold "
              f"{c['threshold']:.2g})")
    return lo <= M_Z < hi and math.isfinite(result.z_global)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("-o", "--output", type=Path, default=Path("zpeak-fxfx"))
    ap.add_argument("--summary", type=Path, help="print the table of this finished scan")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--force", action="store_true")
    args = ap.parse_args()
    result = (flowstats.load_result(args.summary) if args.summary
              else run(args.output, args.seed, args.force))
    sys.exit(0 if table(result) else 1)


if __name__ == "__main__":
    main()
