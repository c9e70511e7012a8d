r"""The anomaly-detection methods and flow kinds compared in one table (issue 16).

For every seed, injected signal count and flow kind, on ``dijet.generate(n_background,
n_signal, seed)`` with the SR [3300, 3700) GeV:

* the sideband background flow (``kind`` in nsf, maf, realnvp, cnf; ``base`` normal unless
  ``--base``) is trained once, by ``density`` (always run first; ``flow s`` is its time), and
  reused by every other method;
  its held-out density is quoted in bits per dimension, ``BPD = -mean log2 p(x | m) / d`` over
  the sideband events of an independent background-only sample (same generator, another
  seed), in the features' own units (so only differences between kinds mean something);
* every method (cathode, anode, ranode, bootstrap, density) scores the events; on the SR events
  the table gives the AUC, max SIC and SIC at eps_S = 0.2, the last two also as ratios to those
  of the exact likelihood ratio (the Neyman-Pearson optimum) on the same events, and the
  method's own wall time on top of the flow.

Each (seed, n_signal, kind) runs in its own process; ``--threads`` torch threads.

Usage::

    python benchmarks/bench_methods.py                      # 1M, n_signal 300 and 1000, 3 seeds
    python benchmarks/bench_methods.py --seeds 0 --n-signal 1000 --kinds nsf,maf,realnvp
    python benchmarks/bench_methods.py --kinds cnf --trace hutchinson --max-flow-events 100000 \
        --epochs 10 --methods cathode,bootstrap,density       # the cnf rows of the note
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time

import numpy as np
from _report import write_json

SR = (3300.0, 3700.0)
METHODS = ["cathode", "anode", "ranode", "bootstrap", "density"]
KINDS = ["nsf", "maf", "realnvp", "cnf"]


def worker(args: argparse.Namespace) -> None:
    import torch

    from flowstats.anomaly import score
    from flowstats.anomaly.background import ConditionalDensity
    from flowstats.anomaly.metrics import evaluate
    from flowstats.datasets import dijet

    torch.set_num_threads(args.threads)
    d = dijet.generate(args.n_background, args.n_signal, seed=args.seed)
    x = np.stack([d[f] for f in dijet.FEATURES], axis=1)
    m, label = d["mjj"], d["label"]
    options = json.loads(args.options)
    rows = []
    # density first: it trains the shared background flow and little else (its time is the
    # flow's); the other methods reuse that flow
    methods = args.methods.split(",")
    methods = ["density"] + [mm for mm in methods if mm != "density"]
    with tempfile.TemporaryDirectory(prefix="bench_methods_") as tmp:
        for i, method in enumerate(methods):
            start = time.perf_counter()
            r = score(x, m, method=method, sr=SR, seed=args.seed, device=args.device,
                      model_dir=tmp, names=dijet.FEATURES, **options)
            wall = time.perf_counter() - start
            sr = r.region == 1
            res = evaluate(r.score[sr], label[sr])
            opt = evaluate(d["llr"][sr], label[sr])
            row = {"method": method, "seed": args.seed, "n_signal": args.n_signal,
                   "kind": options["flow"]["kind"], "wall_s": wall, "result": res,
                   "optimum": opt, "n_sr": int(sr.sum()), "n_sig_sr": int(label[sr].sum())}
            if i == 0:
                # density trained the background flow: its held-out density
                bkg = ConditionalDensity.load(f"{tmp}/background")
                h = dijet.generate(200_000, 0, seed=10_000 + args.seed)
                hx = np.stack([h[f] for f in dijet.FEATURES], axis=1)
                sb = (h["mjj"] < SR[0]) | (h["mjj"] >= SR[1])
                lp = bkg.log_prob(hx[sb], h["mjj"][sb])
                ok = np.isfinite(lp)
                row["bpd"] = float(-lp[ok].mean() / (hx.shape[1] * np.log(2)))
                row["bpd_nonfinite"] = int((~ok).sum())
                row["flow_s"] = wall
            rows.append(row)
            print(f"# {method} seed {args.seed} n_signal {args.n_signal} "
                  f"{options['flow']['kind']}: {wall:.0f} s", file=sys.stderr, flush=True)
    print(json.dumps(rows))


def _ratio(a: float, b: float) -> float:
    r"""a / b where both are finite and b > 0 (SIC is infinite where no background is left)."""
    return a / b if np.isfinite(a) and np.isfinite(b) and b > 0 else float("nan")


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--n-background", type=int, default=1_000_000)
    p.add_argument("--n-signal", type=int, nargs="+", default=[300, 1000])
    p.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    p.add_argument("--methods", default=",".join(METHODS))
    p.add_argument("--kinds", default=",".join(KINDS))
    p.add_argument("--base", default="normal", help="base of every flow: normal or studentt")
    p.add_argument("--trace", default="exact", help="log-determinant of the cnf when training: "
                   "exact or hutchinson (densities are always evaluated exactly)")
    p.add_argument("--classifier", default="hgb", help="classifier of cathode/bootstrap")
    p.add_argument("--activation", default=None,
                   help="activation of the flows' networks (default: the library's, silu)")
    p.add_argument("--epochs", type=int, default=None, help="flow epochs (default: library's)")
    p.add_argument("--max-flow-events", type=int, default=None,
                   help="events per flow (default: the library's 250000)")
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--device", default="cpu")
    p.add_argument("--json", default=None,
                   help="also write every row and the means to this JSON file")
    p.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    p.add_argument("--seed", type=int, help=argparse.SUPPRESS)
    p.add_argument("--options", default="{}", help=argparse.SUPPRESS)
    args = p.parse_args()
    if args.worker:
        args.n_signal = args.n_signal[0]
        worker(args)
        return
    rows = []
    start = time.perf_counter()
    print(f"dijet {args.n_background} background, SR {SR}, classifier {args.classifier}, "
          f"base {args.base}, cnf trace {args.trace}, activation {args.activation or 'default'}, "
          f"{args.threads} thread(s)", flush=True)
    print("| n_signal | kind | method | seed | BPD | flow s | AUC | max SIC | ratio | SIC@0.2 | "
          "ratio@0.2 | method s |")
    print("|---|---|---|---|---|---|---|---|---|---|---|---|")
    for n_signal in args.n_signal:
        for seed in args.seeds:
            for kind in args.kinds.split(","):
                options: dict = {"flow": {"kind": kind, "base": args.base},
                                 "classifier": args.classifier}
                if kind == "cnf":
                    options["flow"]["trace"] = args.trace
                if args.activation:
                    options["flow"]["activation"] = args.activation
                if args.epochs:
                    options["fit"] = {"epochs": args.epochs}
                if args.max_flow_events:
                    options["max_flow_events"] = args.max_flow_events
                cmd = [sys.executable, __file__, "--worker", "--seed", str(seed),
                       "--n-signal", str(n_signal), "--n-background", str(args.n_background),
                       "--methods", args.methods, "--threads", str(args.threads),
                       "--device", args.device, "--options", json.dumps(options)]
                out = subprocess.run(cmd, capture_output=True, text=True)
                if out.returncode:
                    print(f"{kind} seed {seed} failed:\n{out.stderr[-2000:]}", flush=True)
                    continue
                new = json.loads(out.stdout.strip().splitlines()[-1])
                bpd, flow_s = new[0]["bpd"], new[0]["flow_s"]
                for r in new:
                    res, opt = r["result"], r["optimum"]
                    r["ratio_max_sic"] = _ratio(res["max_sic"], opt["max_sic"])
                    r["ratio_sic_0.2"] = _ratio(res["sic_at_0.2"], opt["sic_at_0.2"])
                    r["bpd"], r["flow_s"] = bpd, flow_s
                    print(f"| {n_signal} | {kind} | {r['method']} | {seed} | {bpd:.5f} | "
                          f"{flow_s:.0f} | {res['auc']:.3f} | {res['max_sic']:.2f} | "
                          f"{r['ratio_max_sic']:.2f} | {res['sic_at_0.2']:.2f} | "
                          f"{r['ratio_sic_0.2']:.2f} | {r['wall_s']:.0f} |", flush=True)
                rows.extend(new)
    print(f"\nmeans over seeds (wall {time.perf_counter() - start:.0f} s):")
    print("| n_signal | kind | method | seeds | AUC | max SIC ratio | SIC@0.2 ratio |")
    print("|---|---|---|---|---|---|---|")
    keys = sorted({(r["n_signal"], r["kind"], r["method"]) for r in rows})
    means = []
    for n_signal, kind, method in keys:
        sel = [r for r in rows if (r["n_signal"], r["kind"], r["method"]) == (n_signal, kind,
                                                                             method)]
        auc = np.mean([r["result"]["auc"] for r in sel])
        means.append({"n_signal": n_signal, "kind": kind, "method": method, "seeds": len(sel),
                      "auc": float(auc),
                      "ratio_max_sic": float(np.mean([r["ratio_max_sic"] for r in sel])),
                      "ratio_sic_0.2": float(np.mean([r["ratio_sic_0.2"] for r in sel]))})
        print(f"| {n_signal} | {kind} | {method} | {len(sel)} | {auc:.3f} | "
              f"{np.mean([r['ratio_max_sic'] for r in sel]):.2f} | "
              f"{np.mean([r['ratio_sic_0.2'] for r in sel]):.2f} |")
    write_json(args.json, "methods", rows, threads=args.threads, means=means,
               wall_s=time.perf_counter() - start, sr=SR, classifier=args.classifier,
               base=args.base, trace=args.trace)


if __name__ == "__main__":
    os.environ.setdefault("OMP_NUM_THREADS", "1")
    main()
