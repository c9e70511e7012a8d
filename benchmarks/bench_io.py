r"""Benchmark of flowstats.io: read rate against plain uproot, and the memory of a chunked pass.

1. A 1e6 x 6 float32 TTree is read through ``read_events`` and through plain uproot
   (``tree.arrays(features, library="np")`` + ``np.column_stack``) in the same process,
   alternating, ``--repeat`` times each; the best wall-clock times give both rates
   (events/s) and their ratio (target: >= 0.9). The ratio of the best CPU times
   (``time.process_time``) is printed too: it is less sensitive to other jobs on the machine.
2. A 1e7-event file is written in chunks (``EventWriter``); a subprocess streams it with
   ``iter_events`` (summing the features) and reports its peak RSS above the RSS it had after
   its imports (the peak is reset after the imports through ``/proc/self/clear_refs``, read as
   ``VmHWM``; ``ru_maxrss`` elsewhere) (target: < 1 GiB).

Usage: ``python benchmarks/bench_io.py [--events 1000000] [--big 10000000] [--repeat 3]
[--json PATH]``
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import uproot
from _report import write_json

from flowstats.io import STEP_SIZE, EventWriter, read_events, write_events

FEATURES = [f"f{i}" for i in range(6)]

STREAM = r"""
import json, resource, sys, time
import numpy as np
import uproot  # imports done before the baseline
from flowstats.io import iter_events


def status(key):  # kB
    with open("/proc/self/status") as f:
        return next(int(line.split()[1]) for line in f if line.startswith(key + ":"))


path, step = sys.argv[1], sys.argv[2]
step = int(step) if step.isdigit() else step
try:  # reset the peak RSS (VmHWM) to the current RSS, so that the imports' peak is not counted
    with open("/proc/self/clear_refs", "w") as f:
        f.write("5")
    hwm = "VmHWM"
except OSError:
    hwm = None
base = status("VmRSS")
t0 = time.perf_counter()
n, total, chunks = 0, np.zeros(6), 0
for ev in iter_events(path, "events", [f"f{i}" for i in range(6)], step_size=step):
    total += ev.x.sum(axis=0)
    n += len(ev)
    chunks += 1
peak = status(hwm) if hwm else resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
print(json.dumps({"n": n, "chunks": chunks, "seconds": time.perf_counter() - t0,
                  "baseline_kib": base, "peak_kib": peak, "peak_source": hwm or "ru_maxrss",
                  "sum": total.tolist()}))
"""


def _data(n: int, seed: int) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(seed)
    return {f: rng.normal(size=n).astype(np.float32) for f in FEATURES}


def _uproot_reference(path: Path) -> np.ndarray:
    with uproot.open(path) as f:
        arrays = f["events"].arrays(FEATURES, library="np")
    return np.column_stack([arrays[f] for f in FEATURES])


def _flowstats(path: Path) -> np.ndarray:
    return read_events(path, "events", FEATURES).x


def bench_rate(tmp: Path, n: int, repeat: int) -> dict[str, float]:
    path = tmp / "rate.root"
    write_events(path, "events", _data(n, 0))
    best = {"uproot": np.inf, "flowstats": np.inf}
    best_cpu = dict(best)
    for _ in range(repeat):  # alternate, so that both see the same machine load
        for name, fn in (("uproot", _uproot_reference), ("flowstats", _flowstats)):
            t0, c0 = time.perf_counter(), time.process_time()
            x = fn(path)
            best[name] = min(best[name], time.perf_counter() - t0)
            best_cpu[name] = min(best_cpu[name], time.process_time() - c0)
            assert len(x) == n
            del x
    np.testing.assert_array_equal(_flowstats(path), _uproot_reference(path))
    return {"events": n, "features": len(FEATURES),
            "uproot_events_per_s": n / best["uproot"],
            "read_events_events_per_s": n / best["flowstats"],
            "ratio": best["uproot"] / best["flowstats"],
            "cpu_ratio": best_cpu["uproot"] / best_cpu["flowstats"],
            "uproot_best_s": best["uproot"], "read_events_best_s": best["flowstats"],
            "uproot_best_cpu_s": best_cpu["uproot"],
            "read_events_best_cpu_s": best_cpu["flowstats"]}


def bench_memory(tmp: Path, n: int, step: str) -> dict[str, float]:
    path = tmp / "big.root"
    chunk = 1_000_000
    t0 = time.perf_counter()
    with EventWriter(path, "events") as out:
        for i, start in enumerate(range(0, n, chunk)):
            out.write(_data(min(chunk, n - start), 100 + i), expected_entries=n - start)
    write_s = time.perf_counter() - t0
    proc = subprocess.run([sys.executable, "-c", STREAM, str(path), step], check=True,
                          capture_output=True, text=True)
    res = json.loads(proc.stdout)
    assert res["n"] == n
    return {"events": n, "file_mib": path.stat().st_size / 2**20, "write_s": write_s,
            "step_size": step, "chunks": res["chunks"], "stream_s": res["seconds"],
            "peak_rss_increase_mib": (res["peak_kib"] - res["baseline_kib"]) / 1024,
            "peak_rss_mib": res["peak_kib"] / 1024, "peak_source": res["peak_source"],
            "float64_matrix_mib": n * len(FEATURES) * 8 / 2**20}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=1_000_000)
    parser.add_argument("--big", type=int, default=10_000_000)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--step-size", default=STEP_SIZE)
    parser.add_argument("--json", default=None, help="also write the results to this JSON file")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="bench-io-") as tmp:
        rate = bench_rate(Path(tmp), args.events, args.repeat)
        print(f"read {rate['events']:.0e} x {rate['features']} float32: "
              f"uproot {rate['uproot_events_per_s']:.3e} ev/s, "
              f"read_events {rate['read_events_events_per_s']:.3e} ev/s, "
              f"ratio {rate['ratio']:.3f} (target >= 0.9; CPU-time ratio "
              f"{rate['cpu_ratio']:.3f})", flush=True)
        mem = bench_memory(Path(tmp), args.big, args.step_size)
        print(f"chunked pass over {mem['events']:.0e} events ({mem['file_mib']:.0f} MiB file, "
              f"{mem['chunks']} chunks of {mem['step_size']}, {mem['stream_s']:.1f} s): "
              f"peak RSS +{mem['peak_rss_increase_mib']:.0f} MiB "
              f"(total {mem['peak_rss_mib']:.0f} MiB; target < 1024 MiB; the whole float64 "
              f"matrix would be {mem['float64_matrix_mib']:.0f} MiB)", flush=True)
        print(json.dumps({"rate": rate, "memory": mem}, indent=2))
    write_json(args.json, "io", [{"part": "rate", **rate}, {"part": "memory", **mem}])


if __name__ == "__main__":
    main()
