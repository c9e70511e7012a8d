r"""Benchmark of the resonant anomaly-detection methods on the analytic dijet sample.

For every method (cathode, anode, bootstrap, density, cwola) and seed, on
``dijet.generate(n_background, n_signal, seed=s)`` with the SR [3300, 3700) GeV, prints max SIC
(at least 25 background events selected), SIC at eps_S = 0.2, the ratio of max SIC to the one
of the exact likelihood ratio (``llr``, Neyman-Pearson optimum) on the same SR events, wall
time, CPU time (user + system, including the dataset generation) and peak resident memory. Each (seed, method) runs in its own process (so the peak memory
is its own); per seed, ``cathode`` runs first in a fresh model directory and is the timing of a
complete default CATHODE run; ``density``, ``anode`` and ``bootstrap`` then reuse its sideband
flow (their times exclude that training). Two references bound what a method can reach:
``supervised``, the fully supervised HistGradientBoosting classifier (5-fold, truth labels);
``ideal``, CATHODE with a perfect background model (SR events against 4x as many true
background events of the SR, an independent sample; ``--classifier``, the library's by default).

Usage::

    python benchmarks/bench_anomaly.py                   # 1M + 1000, seeds 0 1 2, all methods
    python benchmarks/bench_anomaly.py --quick           # 200k + 200, one seed, fewer epochs
    python benchmarks/bench_anomaly.py --methods cathode --classifier mlp
    python benchmarks/bench_anomaly.py --methods ideal supervised --classifier hgb   # ceilings
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
from _report import write_json

SR = (3300.0, 3700.0)
METHODS = ["cathode", "density", "anode", "bootstrap", "cwola"]


def _data(n_background: int, n_signal: int, seed: int):
    from flowstats.datasets import dijet

    d = dijet.generate(n_background, n_signal, seed=seed)
    x = np.stack([d[f] for f in dijet.FEATURES], axis=1)
    return d, x, d["mjj"]


def sr_background(n: int, sr_fraction: float, seed: int) -> np.ndarray:
    r"""The features of ``n`` true background events of the SR: the first in an independent
    background-only sample of ``1.2 n / sr_fraction`` events with seed ``seed``."""
    _, x, m = _data(int(1.2 * n / sr_fraction), 0, seed)
    return x[(m >= SR[0]) & (m < SR[1])][:n]


def worker(args: argparse.Namespace) -> None:
    import torch

    from flowstats.anomaly import score
    from flowstats.anomaly.metrics import evaluate, supervised_score
    from flowstats.datasets import dijet

    torch.set_num_threads(args.threads)
    d, x, m = _data(args.n_background, args.n_signal, args.seed)
    label = d["label"]
    options = json.loads(args.options)
    start = time.perf_counter()
    if args.method == "supervised":
        sr_all = (m >= SR[0]) & (m < SR[1])
        values = np.full(len(m), -np.inf)
        values[sr_all] = supervised_score(x[sr_all], label[sr_all], seed=args.seed)
        region = sr_all.astype(int)
    elif args.method == "ideal":
        # idealised CATHODE: a perfect background model, i.e. true background events of the
        # SR (4 per SR event, an independent sample) as the classifier's template
        from flowstats.anomaly.classifiers import TrainingSet, cross_score

        sr_all = (m >= SR[0]) & (m < SR[1])
        template = sr_background(4 * int(sr_all.sum()), sr_all.mean(), args.seed + 500)
        rng = np.random.default_rng(args.seed + 21)
        fold = rng.integers(0, 5, sr_all.sum())
        xt = np.concatenate([x[sr_all], template])
        yt = np.r_[np.ones(sr_all.sum()), np.zeros(len(template))].astype(np.int64)
        ft = np.r_[fold, rng.integers(0, 5, len(template))]
        values = np.full(len(m), -np.inf)
        values[sr_all] = cross_score(TrainingSet(xt, yt, ft), x[sr_all], fold, k=5,
                                     kind=options.get("classifier", "mlp"), seed=args.seed + 31)
        region = sr_all.astype(int)
    else:
        r = score(x, m, method=args.method, sr=SR, seed=args.seed, device=args.device,
                  model_dir=args.model_dir, names=dijet.FEATURES, **options)
        values, region = r.score, r.region
    wall = time.perf_counter() - start
    sr = region == 1
    res = evaluate(values[sr], label[sr])
    opt = evaluate(d["llr"][sr], label[sr])
    usage = resource.getrusage(resource.RUSAGE_SELF)
    peak = usage.ru_maxrss / 1024  # MiB on Linux
    print(json.dumps({"method": args.method, "seed": args.seed, "wall_s": wall,
                      "cpu_s": usage.ru_utime + usage.ru_stime,
                      "peak_mib": peak, "result": res, "optimum": opt,
                      "n_sr": int(sr.sum()), "n_sig_sr": int(label[sr].sum())}))


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--n-background", type=int, default=1_000_000)
    p.add_argument("--n-signal", type=int, default=1000)
    p.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    p.add_argument("--methods", nargs="+", default=METHODS + ["supervised"])
    p.add_argument("--classifier", default=None, help="hgb or mlp (default: the library's)")
    p.add_argument("--epochs", type=int, default=None, help="flow epochs (default: library's)")
    p.add_argument("--quick", action="store_true", help="200k + 200 events, 1 seed, 10 epochs")
    p.add_argument("--threads", type=int, default=min(2, os.cpu_count() or 1))
    p.add_argument("--device", default="auto")
    p.add_argument("--json", default=None, help="also write the rows to this JSON file")
    # internal: one (seed, method) in a subprocess
    p.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    p.add_argument("--method", help=argparse.SUPPRESS)
    p.add_argument("--seed", type=int, help=argparse.SUPPRESS)
    p.add_argument("--model-dir", help=argparse.SUPPRESS)
    p.add_argument("--options", default="{}", help=argparse.SUPPRESS)
    args = p.parse_args()
    if args.worker:
        worker(args)
        return
    if args.quick:
        args.n_background, args.n_signal, args.seeds = 200_000, 200, args.seeds[:1]
        args.epochs = args.epochs or 10
    options: dict = {}
    if args.classifier:
        options["classifier"] = args.classifier
    if args.epochs:
        options["fit"] = {"epochs": args.epochs}
    rows = []
    print(f"dijet {args.n_background} background + {args.n_signal} signal, SR {SR}, "
          f"options {options}, {args.threads} threads", flush=True)
    header = (f"{'method':<11}{'seed':>5}{'maxSIC':>8}{'SIC@0.2':>9}{'opt maxSIC':>11}"
              f"{'ratio':>7}{'R@0.2':>9}{'R@0.5':>8}{'AUC':>7}{'wall s':>8}{'cpu s':>7}"
              f"{'peak MiB':>9}")
    print(header, flush=True)
    for seed in args.seeds:
        with tempfile.TemporaryDirectory(prefix="bench_anomaly_") as tmp:
            for method in args.methods:
                cmd = [sys.executable, __file__, "--worker", "--method", method, "--seed",
                       str(seed), "--model-dir", str(Path(tmp) / "models"), "--options",
                       json.dumps(options), "--n-background", str(args.n_background),
                       "--n-signal", str(args.n_signal), "--threads", str(args.threads),
                       "--device", args.device]
                out = subprocess.run(cmd, capture_output=True, text=True)
                if out.returncode != 0:
                    print(f"{method} seed {seed} failed:\n{out.stderr[-2000:]}", flush=True)
                    continue
                row = json.loads(out.stdout.strip().splitlines()[-1])
                rows.append(row)
                r, o = row["result"], row["optimum"]
                print(f"{method:<11}{seed:>5}{r['max_sic']:>8.2f}{r['sic_at_0.2']:>9.2f}"
                      f"{o['max_sic']:>11.2f}{r['max_sic'] / o['max_sic']:>7.2f}"
                      f"{r['rejection_at_0.2']:>9.0f}{r['rejection_at_0.5']:>8.0f}"
                      f"{r['auc']:>7.3f}{row['wall_s']:>8.0f}{row.get('cpu_s', float('nan')):>7.0f}"
                      f"{row['peak_mib']:>9.0f}",
                      flush=True)
    print("\nmean over seeds (ratio = max SIC / exact-LR max SIC on the same events):")
    means = []
    for method in args.methods:
        sel = [r for r in rows if r["method"] == method]
        if sel:
            ratio = np.mean([r["result"]["max_sic"] / r["optimum"]["max_sic"] for r in sel])
            sic = np.mean([r["result"]["max_sic"] for r in sel])
            wall = np.mean([r["wall_s"] for r in sel])
            means.append({"method": method, "max_sic": float(sic), "ratio": float(ratio),
                          "wall_s": float(wall), "seeds": len(sel)})
            print(f"{method:<11} max SIC {sic:6.2f}  ratio {ratio:5.2f}  wall {wall:6.0f} s"
                  f"  ({len(sel)} seeds)")
    if rows:
        opt = np.mean([r["optimum"]["max_sic"] for r in rows])
        means.append({"method": "exact LR", "max_sic": float(opt)})
        print(f"{'exact LR':<11} max SIC {opt:6.2f}  (S/B in SR "
              f"{rows[0]['n_sig_sr'] / (rows[0]['n_sr'] - rows[0]['n_sig_sr']):.4f})")
    write_json(args.json, "anomaly", rows, threads=args.threads, means=means, sr=SR,
               options=options, n_background=args.n_background, n_signal=args.n_signal)


if __name__ == "__main__":
    main()
