"""Whole-event unweighting of the MadGraph5_aMC@NLO FxFx Z+jets sample: ROOT and LHE output.

Input: ../shared/data/zjets_fxfx_mg5amcnlo_7tev.lhe.gz (10,000 events, 18.5 % negative). Without
``features`` the flows learn the complete final state (flowstats.unweighting.whole): per
category of particle content (l+ l- + 0, 1 or 2 partons; e+e- and mu+mu- share a category) the
pair's mass and rapidity, its decay angles and every parton's pT, rapidity and relative
azimuth, plus the event's shower scale and alpha_s; on-shell masses, momentum conservation and
the incoming partons' momentum fractions are built in. 100,000 unit-weight events are written
as ROOT (the branches of ``flowstats convert``) and as a Les Houches file (the input's header,
init block, flavours and colour lines), and every check uses the 25 % held-out events:

* per observable, the chi2 between held-out and generated events with the training sample's
  statistics included, p > min_p_value, for the observables learnt as coordinates (m_ll, y_ll,
  jet1_pt, n_partons) and for those never trained (lepton pT and eta, Delta phi and Delta R of
  the leptons, the Collins-Soper angle, HT, sqrt(s_hat), x1, x2, pT_ll);
* the classifier two-sample test on those observables: AUC <= max_auc;
* the Les Houches file reads back with pylhe and converts (flowstats convert) to the same
  observables as the ROOT file.

The report also gives the categories' weighted fractions, the flavour layouts whose weighted sum
is negative (never generated; their cross-section) and the generated sample's equivalent number
of events (report/summary.json, "worth").

Run::

    python analyses/unweight_fxfx_events.py -o fxfx-events --force

It prints the numbers and exits with status 1 when a check fails.
"""

from __future__ import annotations

import argparse
import logging
import sys
from pathlib import Path

import numpy as np
import torch
import uproot

from flowstats.io.lhe import convert_lhe
from flowstats.settings.unweight import UnweightSettings
from flowstats.unweighting.job import UnweightResult, run_unweight

HERE = Path(__file__).resolve().parent
DEFAULT_CONFIG = HERE / "unweight_fxfx_events.yaml"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("-o", "--outdir", default="fxfx-events", help="output directory")
    parser.add_argument("--config", default=str(DEFAULT_CONFIG), help="YAML settings")
    parser.add_argument("--force", action="store_true", help="overwrite outputs")
    parser.add_argument("--threads", type=int, default=1, help="torch CPU threads")
    parser.add_argument("-v", "--verbose", action="store_true")
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)
    logging.basicConfig(level=logging.INFO if args.verbose else logging.WARNING,
                        format="%(levelname)s %(name)s: %(message)s")
    out = Path(args.outdir)
    out.mkdir(parents=True, exist_ok=True)
    settings = UnweightSettings.from_yaml(args.config, {
        "output": str(out / "unweighted.root"), "lhe": str(out / "unweighted.lhe.gz"),
        "model_out": str(out / "model"), "report": str(out / "report"), "force": args.force})
    if settings.criteria is None or settings.resolved_mode != "events":
        parser.error(f"{args.config}: needs mode events (no features) and 'criteria'")
    result = run_unweight(settings)
    failures = check(result, settings.criteria)
    failures += round_trip(out, args.force)
    print("checks:", "all passed" if not failures else "FAILED: " + "; ".join(failures))
    return 1 if failures else 0


def check(result: UnweightResult, criteria: dict) -> list[str]:
    """Prints the report's numbers; returns the failed criteria."""
    inp, test = result.input, result.test
    print(f"input: {inp['n']} events, negative fraction {inp['negative_fraction']:.3f}, "
          f"N_eff {inp['n_eff']:.0f}; held out: {test['n']} events, N_eff {test['n_eff']:.0f}")
    lhe = result.summary["output"]["lhe"]
    print(f"output: {result.n} events of weight {result.weight:.6g}; LHE weight "
          f"{lhe['weight_per_event']:.6g} ({lhe['convention']} normalisation)")
    cats = result.categories
    print("categories (weighted fractions, held-out / generated):")
    for label, t, g in zip(cats["labels"], cats["test"], cats["generated"]):
        print(f"  {label:16s} {t:7.4f} {g:7.4f}")
    print(f"  chi2 {cats['chi2']['chi2']:.1f}/{cats['chi2']['ndf']} (p {cats['chi2']['p_value']:.2g})")
    print(f"{'observable':14s} {'trained':>8s} {'chi2/ndf':>12s} {'p':>8s}")
    failures = []
    for name, v in result.observables.iterrows():
        print(f"{name:14s} {str(bool(v.trained)):>8s} {v.chi2:7.1f}/{int(v.ndf):<4d} "
              f"{v.p_value:8.3g}")
        if not v.p_value > criteria["min_p_value"]:
            failures.append(f"{name}: p = {v.p_value:.3g}")
    auc = result.classifier_auc
    print(f"classifier AUC {auc:.3f} +- {result.classifier_auc_error:.3f}")
    if not auc <= criteria["max_auc"]:
        failures.append(f"AUC {auc:.3f}")
    dropped = result.negative_regions["dropped_templates"]
    print(f"flavour layouts with a negative weighted sum (never generated): "
          f"{len(dropped)}, weight fraction "
          f"{sum(d['sum_weights'] for d in dropped) / inp['sum_weights']:.4f}")
    if "worth" in result.summary:
        print("worth:", result.worth)
    print("timings [s]:", {k: round(v, 1) for k, v in result.timings.items()})
    return failures


def round_trip(out: Path, force: bool) -> list[str]:
    """The LHE output converts back to the ROOT output's observables."""
    back = out / "unweighted_from_lhe.root"
    convert_lhe(out / "unweighted.lhe.gz", back, force=True)
    with uproot.open(out / "unweighted.root") as a, uproot.open(back) as b:
        names = ["m_ll", "pT_ll", "y_ll", "lep1_pt", "HT", "n_partons"]
        ta, tb = a["events"].arrays(names, library="np"), b["events"].arrays(names, library="np")
    bad = [n for n in names if not np.allclose(ta[n], tb[n], rtol=1e-6, atol=1e-9)]
    print("LHE round trip:", "same observables" if not bad else f"differs in {bad}")
    return [f"LHE round trip differs in {bad}"] if bad else []


if __name__ == "__main__":
    sys.exit(main())
