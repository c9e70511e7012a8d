"""Benchmark of flow unweighting: train on 1e5 weighted events, generate 1e6, write them.

Prints the wall time of each step, the generation rate (events/s) and the peak memory (max
resident set size of the process). Data: ``flowstats.datasets.nlo.generate`` (20 % negative
weights, features pt, y, m and the jet multiplicity njet, dequantised).

    python benchmarks/bench_unweight.py [--n-train 100000] [--n-generate 1000000] [--epochs 20]
        [--json PATH]

The flow has the default size of ``flowstats unweight`` (4 spline transforms, 64x64 hidden);
the epoch count is fixed (no early stopping) so that the timing is comparable between runs.
"""

from __future__ import annotations

import argparse
import resource
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch
from _report import write_json


def peak_rss_mb() -> float:
    # ru_maxrss is in kB on Linux, in bytes on macOS
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return rss / (1024**2 if sys.platform == "darwin" else 1024)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n-train", type=int, default=100_000)
    parser.add_argument("--n-generate", type=int, default=1_000_000)
    parser.add_argument("--epochs", type=int, default=20)
    parser.add_argument("--batch-size", type=int, default=4096)
    parser.add_argument("--threads", type=int, default=1,
                        help="torch threads (1: small flows, and robust on a shared machine)")
    parser.add_argument("--device", default="auto")
    parser.add_argument("--json", default=None, help="also write the figures to this JSON file")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)

    from flowstats.datasets import nlo
    from flowstats.io import write_events
    from flowstats.unweighting.flow_model import UnweightModel

    data = nlo.generate(args.n_train, negative_fraction=0.2, seed=0)
    names = ["pt", "y", "m", "njet"]
    x = np.column_stack([data[k] for k in names]).astype(np.float64)
    w = data["weight"]
    print(f"input: {len(x)} events, {np.mean(w < 0):.1%} negative, torch threads "
          f"{torch.get_num_threads()}, device {args.device}")

    t0 = time.perf_counter()
    model = UnweightModel.fit(
        x, w, names, discrete=["njet"],
        flow_options={"transforms": 4, "hidden": (64, 64), "bins": 8},
        fit_options={"epochs": args.epochs, "batch_size": args.batch_size,
                     "patience": args.epochs, "device": args.device, "progress": False},
        seed=0)
    t_train = time.perf_counter() - t0
    t0 = time.perf_counter()
    xg = model.sample(args.n_generate, seed=1)
    t_sample = time.perf_counter() - t0
    t0 = time.perf_counter()
    with tempfile.TemporaryDirectory() as tmp:
        columns = {k: xg[:, j] for j, k in enumerate(names)}
        columns["njet"] = columns["njet"].astype(np.int32)
        columns["weight"] = np.full(len(xg), w.sum() / len(xg))
        write_events(Path(tmp) / "out.root", "events", columns)
    t_write = time.perf_counter() - t0

    print(f"train {args.n_train:.0e} events x {args.epochs} epochs: {t_train:8.1f} s "
          f"({t_train / args.epochs:.2f} s/epoch)")
    print(f"generate {args.n_generate:.0e} events:          {t_sample:8.1f} s")
    print(f"generation rate:                   {args.n_generate / t_sample:8.0f} events/s")
    print(f"write {args.n_generate:.0e} events to ROOT:     {t_write:8.1f} s")
    print(f"total wall time:                   {t_train + t_sample + t_write:8.1f} s")
    print(f"peak memory (max RSS):             {peak_rss_mb():8.0f} MB")
    write_json(args.json, "unweight", [{
        "n_train": args.n_train, "epochs": args.epochs, "train_s": t_train,
        "train_s_per_epoch": t_train / args.epochs, "n_generate": args.n_generate,
        "generate_s": t_sample, "events_per_s": args.n_generate / t_sample,
        "write_s": t_write, "total_s": t_train + t_sample + t_write,
        "peak_rss_mb": peak_rss_mb(), "device": args.device}], threads=args.threads)


if __name__ == "__main__":
    main()
