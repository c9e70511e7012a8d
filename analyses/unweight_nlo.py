"""Flow unweighting of the ``datasets.nlo`` toy (known truth), at full size.

200,000 weighted events with 20 % negative weights are unweighted into 100,000 events with
``flowstats.unweight``; the generated events are compared with 1,000,000 events of the exact
truth density, per feature (pt, y, m and the jet multiplicity njet). The same comparison is
made for baseline (a), the positively weighted events only, which must fail.

The jet multiplicity is split on (one flow of pt, y, m per njet value, exact weighted
fractions); ``--dequantise`` models it with the flow's uniform dequantisation instead, which
at this sample size gets P(njet) visibly wrong (chi2/ndf ~ 30 against the truth).

How large may chi2/ndf be? The flow is fitted on n_train = 200000 * 0.75 * 0.8 events with
N_eff = n_train (1 - 2 * 0.2)^2 = 43,200: whatever the model, its shape carries the statistical
fluctuations of those events. Compared with 100k generated and 1M truth events alone, a model
as uncertain as a histogram of its training events gives E[chi2/ndf] = 1 + (1/N_eff) / (1/N_gen +
1/N_truth) = 3.1, not 1. The script prints this "raw" chi2 with that expectation, and the
chi2 that adds the training events' own histogram covariance to the generated sample's
(``source=`` of ``chi2_samples``): the check is that this one is consistent with 1 (p > 0.01),
i.e. the flow reproduces the truth within the precision its training sample has. ``--n-input``
scales N_eff: with 800k input events the raw expectation falls to 1.5. With the refinement (the
default) the generated events follow all training and validation events (N_eff 54,000), and the
check uses those.

    python analyses/unweight_nlo.py -o nlo-unweighted --force
"""

from __future__ import annotations

import argparse
import logging
import sys
from pathlib import Path

import numpy as np
import torch
import uproot

import flowstats
from flowstats.datasets import nlo, write
from flowstats.unweighting.baselines import drop_negatives
from flowstats.unweighting.compare import binning, chi2_samples
from flowstats.unweighting.job import split_indices

FEATURES = ["pt", "y", "m", "njet"]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("-o", "--outdir", default="nlo-unweighted")
    parser.add_argument("--n-input", type=int, default=200_000)
    parser.add_argument("--n-generate", type=int, default=100_000)
    parser.add_argument("--n-truth", type=int, default=1_000_000)
    # flowstats.unweight's training defaults: 40 epochs of a cosine schedule from lr 2e-3, batch
    # 2048, no early stop (patience 40). With 1e6 generated events: min p over the features
    # 0.014 (y), 0.35, 0.17 for seeds 0, 1, 2, about 145 s each on one core. (60 epochs at lr
    # 2e-3 with patience 10 stopped early, at a still high rate, and left chi2/ndf at 1.5.)
    parser.add_argument("--epochs", type=int, default=40)
    parser.add_argument("--batch-size", type=int, default=2048)
    parser.add_argument("--lr", type=float, default=2e-3)
    parser.add_argument("--patience", type=int, default=40)
    # seeds per category sampled as a mixture; 3 (as analyses/unweight_fxfx.yaml) lowered
    # the raw chi2 further at seed 0 but was not measured with these training settings
    parser.add_argument("--members", type=int, default=1)
    parser.add_argument("--transforms", type=int, default=4)
    parser.add_argument("--hidden", type=int, nargs="+", default=[64, 64])
    parser.add_argument("--seed", type=int, default=0, help="seed of the input sample and flow")
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--dequantise", action="store_true",
                        help="model njet by dequantisation instead of one flow per njet value")
    parser.add_argument("--force", action="store_true")
    parser.add_argument("-v", "--verbose", action="store_true")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO if args.verbose else logging.WARNING,
                        format="%(levelname)s %(name)s: %(message)s")
    torch.set_num_threads(args.threads)
    out = Path(args.outdir)
    out.mkdir(parents=True, exist_ok=True)

    data = nlo.generate(args.n_input, negative_fraction=0.2, seed=args.seed)
    write(out / "nlo.root", data, force=args.force)
    result = flowstats.unweight(
        out / "nlo.root", features=FEATURES, weight="weight", n=args.n_generate,
        output=out / "unweighted.root", model_out=out / "model", report=out / "report",
        epochs=args.epochs, batch_size=args.batch_size, lr=args.lr, patience=args.patience,
        members=args.members, transforms=args.transforms, hidden=tuple(args.hidden),
        seed=args.seed, force=args.force,
        split_on=[] if args.dequantise else ["njet"])
    gen = uproot.open(out / "unweighted.root")["events"].arrays(FEATURES, library="np")
    truth = nlo.truth(args.n_truth, seed=args.seed + 1000)

    split = result.split
    n_train = split["n_train_and_val"] * (1 - split["val_fraction"])
    neg = result.input["negative_fraction"]
    n_eff = n_train * (1 - 2 * neg) ** 2
    bound = 1 + (1 / n_eff) / (1 / args.n_generate + 1 / args.n_truth)
    xa, wa = drop_negatives(np.column_stack([data[f] for f in FEATURES]), data["weight"])
    print(f"input {args.n_input} events ({neg:.1%} negative), N_eff(train) {n_eff:.0f}; "
          f"generated {args.n_generate}; truth {args.n_truth}; expected chi2/ndf "
          f"{bound:.2f} for the raw chi2 (the training sample's fluctuations), 1 with them")
    # the events the flow was fitted on (train + validation; validation is 1/(1-0.8) more);
    # the refinement's classifier learns from all of them (scale 1)
    train_idx, _ = split_indices(args.n_input, split["test_fraction"], split["seed"])
    scale = 1.0 if result.summary["refinement"] else 1 / (1 - split["val_fraction"])
    print(f"{'feature':8s}{'raw chi2/ndf':>16s}{'with training stat.':>24s}{'p':>9s}"
          f"{'(a) drop neg.':>18s}{'p':>9s}")
    failures, baseline_p = [], []
    for k, name in enumerate(FEATURES):
        edges = binning(truth[name], 30, discrete=name == "njet")
        raw = chi2_samples(truth[name], None, gen[name], None, edges)
        res = chi2_samples(truth[name], None, gen[name], None, edges,
                           source=(data[name][train_idx], data["weight"][train_idx], scale))
        bad = chi2_samples(truth[name], None, xa[:, k], wa, edges)
        print(f"{name:8s}{raw.chi2:9.1f}/{raw.ndf:<2d}={raw.chi2_ndf:4.2f}"
              f"{res.chi2:15.1f}/{res.ndf:<2d}={res.chi2_ndf:4.2f}{res.p_value:9.2g}"
              f"{bad.chi2:10.1f}/{bad.ndf:<2d}={bad.chi2_ndf:5.1f}{bad.p_value:9.2g}")
        if res.p_value <= 0.01:
            failures.append(f"flow {name}")
        baseline_p.append(bad.p_value)
    if min(baseline_p) > 0.01:
        failures.append("baseline (a) passes on every feature")
    print(f"vs held-out test events: AUC flow {result.classifier_auc:.3f} +- "
          f"{result.classifier_auc_error:.3f}, (a) "
          f"{result.comparison.loc['drop_negatives', 'auc']:.3f}")
    print("timings [s]:", {k: round(v, 1) for k, v in result.timings.items()})
    print("checks:", "all passed" if not failures else "FAILED: " + ", ".join(failures))
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
