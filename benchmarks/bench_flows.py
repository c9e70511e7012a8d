r"""Throughput and memory of flowstats.flows against a bare zuko loop (same run, same data).

Prints, as JSON lines:

* training throughput (events/s) of :meth:`Flow.fit` (its training loop, and the whole fit
  including preprocessing and validation) and of a bare zuko training loop on the same
  architecture (``zuko.flows.NSF``), same data, same batch size, same number of epochs;
  ratio = flowstats throughput / bare throughput (target >= 0.9), in wall-clock and in process
  CPU time (one thread; the CPU ratio is the one to trust on a shared machine);
* sampling throughput of :meth:`Flow.sample` and of bare ``flow().sample`` in the same batches;
* peak memory of sampling 1e7 events in batches (measured in a fresh subprocess as the peak RSS
  above the RSS just before sampling), against the size of the output array itself.

Usage: ``python benchmarks/bench_flows.py [--events 100000] [--epochs 3] [--sample 10000000]
[--json PATH]``
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import tempfile
import time

import numpy as np
import torch
import zuko
from _report import write_json


def data(n: int, d: int, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(n, d))
    x[:, 0] = np.abs(x[:, 0]) + 0.5 * x[:, 1] ** 2
    return x


def bare_loop(x: np.ndarray, epochs: int, batch_size: int, lr: float,
              options: dict) -> tuple[float, float]:
    r"""The reference: zuko's NSF, Adam, shuffled mini-batches, mean NLL.

    Returns the wall and the process CPU seconds of the training loop.
    """
    mean, std = x.mean(0), x.std(0)
    xt = torch.as_tensor((x - mean) / std, dtype=torch.float32)
    torch.manual_seed(0)
    flow = zuko.flows.NSF(x.shape[1], 0, transforms=options["transforms"],
                          hidden_features=options["hidden"], bins=options["bins"])
    opt = torch.optim.Adam(flow.parameters(), lr=lr)
    n = len(xt)
    t0, c0 = time.perf_counter(), time.process_time()
    for epoch in range(epochs):
        perm = torch.from_numpy(np.random.default_rng([0, epoch]).permutation(n))
        for s in range(0, n, batch_size):
            loss = -flow().log_prob(xt[perm[s:s + batch_size]]).mean()
            opt.zero_grad()
            loss.backward()
            opt.step()
    return time.perf_counter() - t0, time.process_time() - c0


def _status_kib(field: str) -> int:
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith(field + ":"):
                return int(line.split()[1])
    raise KeyError(field)


def memory_child(model: str, n: int, batch_size: int) -> None:
    r"""Samples ``n`` events and prints the peak RSS growth above the RSS just before.

    On Linux the peak (VmHWM) is reset first (``/proc/self/clear_refs``), so that the peak of
    the imports does not hide the sampling's; elsewhere ``ru_maxrss`` is used (a lower bound).
    """
    from flowstats.flows import load

    flow = load(model)
    flow.sample(1000, seed=0)  # warm up allocators
    try:
        with open("/proc/self/clear_refs", "w") as f:
            f.write("5")
        base, peak_of = _status_kib("VmRSS"), lambda: _status_kib("VmHWM")
    except OSError:
        base = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        peak_of = lambda: resource.getrusage(resource.RUSAGE_SELF).ru_maxrss  # noqa: E731
    t0 = time.perf_counter()
    out = flow.sample(n, seed=1, batch_size=batch_size)
    dt = time.perf_counter() - t0
    peak = peak_of()
    print(json.dumps({"n": n, "seconds": dt, "growth_mib": (peak - base) / 1024,
                      "output_mib": out.nbytes / 2**20}))


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--events", type=int, default=100_000)
    p.add_argument("--features", type=int, default=4)
    p.add_argument("--epochs", type=int, default=3)
    p.add_argument("--batch-size", type=int, default=4096)
    p.add_argument("--sample", type=int, default=10_000_000)
    p.add_argument("--sample-batch", type=int, default=65536)
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--repeat", type=int, default=3, help="Alternating repetitions (best kept).")
    p.add_argument("--json", default=None, help="also write the three results to this file")
    p.add_argument("--child", nargs=3, help=argparse.SUPPRESS)
    a = p.parse_args()
    torch.set_num_threads(a.threads)
    if a.child:
        memory_child(a.child[0], int(a.child[1]), int(a.child[2]))
        return

    from flowstats.flows import Flow

    options = {"transforms": 4, "hidden": (64, 64), "bins": 8}
    x = data(a.events, a.features)
    names = [f"x{i}" for i in range(a.features)]
    val_fraction = 0.2
    n_train = a.events - int(round(a.events * val_fraction))
    xtrain = x[:n_train]  # the bare loop sees as many events as Flow.fit trains on
    # the machine may be shared: alternate the two, keep the best of each, and compare both
    # wall-clock and process CPU time (one thread: CPU time is insensitive to other load)
    best = {k: np.inf for k in ("bare", "bare_cpu", "loop", "loop_cpu", "fit")}
    for _ in range(a.repeat):
        wall, cpu = bare_loop(xtrain, a.epochs, a.batch_size, 1e-3, options)
        best["bare"], best["bare_cpu"] = min(best["bare"], wall), min(best["bare_cpu"], cpu)
        flow = Flow(names, seed=0, **options)
        t0 = time.perf_counter()
        hist = flow.fit(x, epochs=a.epochs, batch_size=a.batch_size, val_fraction=val_fraction,
                        patience=a.epochs, device="cpu", progress=False)
        best["fit"] = min(best["fit"], time.perf_counter() - t0)
        best["loop"] = min(best["loop"], sum(hist["train_time"]))
        best["loop_cpu"] = min(best["loop_cpu"], sum(hist["train_cpu_time"]))
    events = n_train * a.epochs
    train = {"bench": "train", "events": a.events, "n_train": n_train, "epochs": a.epochs,
             "batch_size": a.batch_size, "threads": a.threads, "features": a.features,
             "bare_events_per_s": events / best["bare"],
             "bare_events_per_cpu_s": events / best["bare_cpu"],
             "flowstats_loop_events_per_s": events / best["loop"],
             "flowstats_loop_events_per_cpu_s": events / best["loop_cpu"],
             "flowstats_fit_events_per_s": events / best["fit"],
             "ratio_loop_wall": best["bare"] / best["loop"],
             "ratio_loop_cpu": best["bare_cpu"] / best["loop_cpu"],
             "ratio_fit_wall": best["bare"] / best["fit"]}
    print(json.dumps(train), flush=True)
    rows = [train]

    m = min(a.sample, 200_000)
    t = {k: np.inf for k in ("flow", "flow_cpu", "bare", "bare_cpu")}
    with torch.no_grad():
        for _ in range(a.repeat):
            t0, c0 = time.perf_counter(), time.process_time()
            flow.sample(m, seed=0, batch_size=a.sample_batch)
            t["flow"] = min(t["flow"], time.perf_counter() - t0)
            t["flow_cpu"] = min(t["flow_cpu"], time.process_time() - c0)
            t0, c0 = time.perf_counter(), time.process_time()
            for s in range(0, m, a.sample_batch):
                flow.module().sample((min(a.sample_batch, m - s),))
            t["bare"] = min(t["bare"], time.perf_counter() - t0)
            t["bare_cpu"] = min(t["bare_cpu"], time.process_time() - c0)
    rows.append({"bench": "sample", "n": m, "flowstats_events_per_s": m / t["flow"],
                 "flowstats_events_per_cpu_s": m / t["flow_cpu"],
                 "bare_events_per_s": m / t["bare"],
                 "bare_events_per_cpu_s": m / t["bare_cpu"],
                 "ratio_wall": t["bare"] / t["flow"],
                 "ratio_cpu": t["bare_cpu"] / t["flow_cpu"]})
    print(json.dumps(rows[-1]), flush=True)

    with tempfile.TemporaryDirectory() as tmp:
        flow.save(f"{tmp}/model")
        for n, bs in [(a.sample, a.sample_batch)]:
            out = subprocess.run([sys.executable, __file__, "--threads", str(a.threads),
                                  "--child", f"{tmp}/model", str(n), str(bs)],
                                 capture_output=True, text=True, check=True)
            res = json.loads(out.stdout.strip().splitlines()[-1])
            res.update(bench="sample_memory", batch_size=bs,
                       overhead_mib=res["growth_mib"] - res["output_mib"])
            print(json.dumps(res), flush=True)
            rows.append(res)
    write_json(a.json, "flows", rows, threads=a.threads)


if __name__ == "__main__":
    main()
