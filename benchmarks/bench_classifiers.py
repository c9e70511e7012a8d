r"""The MLP classifier's k-fold training: k networks one after another against one batched network.

``cross_score`` with ``kind="mlp"`` trains the k fold ensembles together, stacked as one batched
network (``MLPEnsemble.cross_fit``). This benchmark times it, in the same process, against the
same k trainings done one after another by the same code (``MLPEnsemble.fit`` per fold, one
network each), on a CATHODE-sized task at the 1M scale: the
signal-region events of ``dijet.generate(1M, 1000)`` (about 104k in 3.3-3.7 TeV) against
``--oversample`` times as many true background events of the SR, the library's default MLP
options except ``--epochs``. It prints the wall time of each, their ratio, and the AUC of each
on the SR events (signal against background, so the two must agree within their spread) and
the max SIC ratio to the exact likelihood ratio.

Usage::

    python benchmarks/bench_classifiers.py                  # 5 epochs, 1 thread
    python benchmarks/bench_classifiers.py --epochs 30 --threads 2 --json classifiers.json
"""

from __future__ import annotations

import argparse
import os
import time

import numpy as np


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--n-background", type=int, default=1_000_000)
    p.add_argument("--n-signal", type=int, default=1000)
    p.add_argument("--oversample", type=float, default=4.0)
    p.add_argument("--epochs", type=int, default=5)
    p.add_argument("--k", type=int, default=5)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--json", default=None, help="also write the table to this JSON file")
    args = p.parse_args()

    import torch
    from _report import write_json
    from bench_anomaly import SR, _data, sr_background  # its neighbour in benchmarks/

    from flowstats.anomaly.classifiers import MLPEnsemble, TrainingSet, cross_score
    from flowstats.anomaly.metrics import evaluate

    torch.set_num_threads(args.threads)
    d, x, m = _data(args.n_background, args.n_signal, args.seed)
    sr = (m >= SR[0]) & (m < SR[1])
    x_sr, label, llr = x[sr], d["label"][sr].astype(bool), d["llr"][sr]
    template = sr_background(int(args.oversample * len(x_sr)), sr.mean(), args.seed + 500)
    rng = np.random.default_rng(args.seed)
    xt = np.concatenate([x_sr, template])
    yt = np.r_[np.ones(len(x_sr)), np.zeros(len(template))].astype(np.int64)
    ft = rng.integers(0, args.k, len(xt))
    fold_sr = ft[:len(x_sr)]
    options = {"epochs": args.epochs}
    print(f"{len(x_sr)} SR events ({label.sum()} signal) + {len(template)} background, "
          f"k = {args.k}, MLP epochs {args.epochs}, {args.threads} thread(s)")
    optimum = evaluate(llr, label)["max_sic"]

    start = time.perf_counter()
    batched = cross_score(TrainingSet(xt, yt, ft), x_sr, fold_sr, k=args.k, kind="mlp", seed=args.seed,
                          **options)
    t_batched = time.perf_counter() - start

    start = time.perf_counter()
    serial = np.empty(len(x_sr))
    for j in range(args.k):
        train = ft != j
        clf = MLPEnsemble(seed=args.seed + 1000 * j, **options).fit(xt[train], yt[train])
        serial[fold_sr == j] = clf.decision(x_sr[fold_sr == j])
    t_serial = time.perf_counter() - start

    print("| training | wall s | AUC (SR) | max SIC / exact LR |")
    print("|---|---|---|---|")
    rows = []
    for name, s, t in (("k networks one after another", serial, t_serial),
                       ("one batched network (cross_fit)", batched, t_batched)):
        r = evaluate(s, label)
        rows.append({"training": name, "wall_s": t, "auc": r["auc"],
                     "ratio_max_sic": r["max_sic"] / optimum})
        print(f"| {name} | {t:.1f} | {r['auc']:.4f} | {r['max_sic'] / optimum:.2f} |")
    print(f"speed-up (same process): {t_serial / t_batched:.2f}x")
    write_json(args.json, "classifiers", rows, threads=args.threads,
               speed_up=t_serial / t_batched, epochs=args.epochs, k=args.k,
               n_sr=len(x_sr), n_template=len(template))


if __name__ == "__main__":
    os.environ.setdefault("OMP_NUM_THREADS", "1")
    main()
