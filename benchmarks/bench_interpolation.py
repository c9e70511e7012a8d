r"""How well does the sideband flow interpolate into the signal region? KL per m bin.

The dijet sample is analytic (:func:`flowstats.datasets.dijet.log_prob_background`), so the
sideband flow p_flow(x | m) of the bump hunt can be compared with the true background density
at every mass: per m bin, the mean of log p_true - log p_flow over background events is the
Kullback-Leibler divergence KL(p_true || p_flow) in nats. In the sidebands it measures the
flow's fit; in the SR (3300-3700 GeV, no training events) its interpolation across the gap.
A classifier trained on ~1e5 SR events (CATHODE) learns whatever the SR divergence is beyond the
sidebands' as a fake excess (issue 12).

It trains the background flow exactly as :func:`flowstats.anomaly.score` does (same
preprocessing, at most 250k sideband events, default fit) for every (kind, activation) asked,
on one torch thread, and prints the KL per bin with its standard error, and the mean over the
SR bins minus the mean over the four sideband bins next to them.

Usage::

    python benchmarks/bench_interpolation.py                       # nsf and maf, relu and silu
    python benchmarks/bench_interpolation.py --kinds maf --activations relu,elu,silu,tanh
"""

from __future__ import annotations

import argparse
import time

import numpy as np
from _report import write_json

EDGES = [2600, 2900, 3100, 3300, 3500, 3700, 3900, 4100, 4500]
SR = (3300.0, 3700.0)


def kl_per_bin(kind: str, activation: str, n_events: int, seed: int, per_bin: int) -> dict:
    import torch

    from flowstats.anomaly import _prepare
    from flowstats.anomaly.methods import _background
    from flowstats.datasets import dijet

    torch.set_num_threads(1)
    d = dijet.generate(n_events, 0, seed=seed)
    names = list(dijet.FEATURES)
    x = np.stack([d[f] for f in names], axis=1)
    x, m, names, _regions, codes, flow = _prepare(x, d["mjj"], names, SR, None, 100, 100,
                                                  {"kind": kind, "activation": activation})
    start = time.perf_counter()
    bkg = _background(x, m, codes, names, seed=0, device="cpu", model_dir=None, flow=flow,
                      fit=None, max_flow_events=250_000)
    seconds = time.perf_counter() - start
    rows = {}
    for lo, hi in zip(EDGES[:-1], EDGES[1:]):
        sel = np.flatnonzero((m >= lo) & (m < hi))[:per_bin]
        k = dijet.log_prob_background(x[sel], m[sel]) - bkg.log_prob(x[sel], m[sel])
        rows[f"{lo}-{hi}"] = (float(k.mean()), float(k.std(ddof=1) / np.sqrt(len(sel))))
    sr = [v[0] for key, v in rows.items() if SR[0] <= float(key.split("-")[0]) < SR[1]]
    side = [rows[k][0] for k in ("2900-3100", "3100-3300", "3700-3900", "3900-4100")]
    return {"kind": kind, "activation": activation, "seed": seed, "train_s": seconds,
            "kl": rows, "sr_minus_sidebands": float(np.mean(sr) - np.mean(side))}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--kinds", default="nsf,maf")
    parser.add_argument("--activations", default="relu,silu")
    parser.add_argument("--n-events", type=int, default=1_000_000)
    parser.add_argument("--seed", type=int, default=100, help="seed of the dijet sample")
    parser.add_argument("--per-bin", type=int, default=60_000, help="events per m bin")
    parser.add_argument("--json", default=None)
    args = parser.parse_args()
    results = [kl_per_bin(k, a, args.n_events, args.seed, args.per_bin)
               for k in args.kinds.split(",") for a in args.activations.split(",")]
    print(f"KL(true || flow) in 1e-3 nats per m bin (GeV), {args.n_events} background events, "
          f"seed {args.seed}; SR {SR[0]:.0f}-{SR[1]:.0f}")
    head = list(results[0]["kl"])
    print(f"{'kind':5} {'act':5} " + " ".join(f"{h:>11}" for h in head)
          + "  SR-sidebands  train s")
    for r in results:
        cells = " ".join(f"{1e3 * v:5.2f}+-{1e3 * e:4.2f}" for v, e in r["kl"].values())
        print(f"{r['kind']:5} {r['activation']:5} {cells}  "
              f"{1e3 * r['sr_minus_sidebands']:12.2f}  {r['train_s']:7.0f}")
    write_json(args.json, "interpolation", results, threads=1, sr=SR, edges=EDGES,
               n_events=args.n_events, seed=args.seed, per_bin=args.per_bin)


if __name__ == "__main__":
    main()
