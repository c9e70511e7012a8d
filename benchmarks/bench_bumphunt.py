"""Benchmark of the enhanced bump hunt: sensitivity gain, no sculpting, serial vs dask.

Prints, for a scan over the built-in dijet sample:

* per seed, the local significance of the window nearest the injected 3.5 TeV signal without a
  cut and after the best anomaly cut, and their ratio (target: >= 3 with CATHODE on 1M + 1000),
  and the window and efficiency of the scan's smallest local p-value (the scan "finds" the
  signal when that window contains 3.5 TeV);
* on background only, the global significance over the scan (target: < 2 sigma);
* the wall time of the same scan serial and on a dask LocalCluster of 2 workers, their ratio,
  and whether the two summaries are identical (the background-only scan is the serial run when
  both are asked for).

The defaults are sized for this 2-core machine (minutes); ``--full`` runs the issue's
configuration (1M background + 1000 signal, 0.4 TeV windows stepped by 0.1 TeV, 3 seeds),
which takes hours on two cores (one scan of it: 26 minutes with ``--torch-threads 2``, the
library's default) and is meant for a bigger machine or a dask cluster
(``--scheduler tcp://...``).

    python benchmarks/bench_bumphunt.py [--method cathode] [--full] [--scheduler ADDR] \
        [--json PATH]

``--summaries DIR ...`` prints the gain table of finished ``flowstats bumphunt`` runs instead
(e.g. ``analyses/bumphunt_dijet.yaml`` run on three seeds).
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from pathlib import Path

from _report import write_json

from flowstats.bumphunt import run_bumphunt
from flowstats.bumphunt.windows import same_value
from flowstats.config import resolve_config
from flowstats.datasets import dijet, write


def _config(path, out, args, **kw):
    base = {"input": str(path), "features": list(dijet.FEATURES), "label": "label",
            "method": args.method, "scan": {"range": args.scan, "width": args.width,
                                            "step": args.step},
            "efficiency": args.efficiency, "output": str(out), "seed": 0,
            "torch_threads": args.torch_threads,
            "score_options": {"fit": {"epochs": args.epochs}}}
    if args.classifier:
        base["score_options"]["classifier"] = args.classifier
    base.update(kw)
    return resolve_config(base)


def _signal_rows(summary):
    windows = {tuple(r["sr"]) for r in summary["windows"]}
    target = min(windows, key=lambda w: abs(0.5 * (w[0] + w[1]) - 3500.0))
    rows = [r for r in summary["windows"] if tuple(r["sr"]) == target]
    nocut = next(r for r in rows if same_value(r["efficiency"], 1.0))
    best = max((r for r in rows if r["efficiency"] < 1.0), key=lambda r: r["z_local"])
    return target, nocut, best


def _gain_header(seconds: str = "seconds") -> None:
    print("seed  window       Z(no cut)  Z(best cut)  eff    ratio  scan best (window, eff, Z)"
          f"   {seconds}")


def _gain_line(seed, summary, seconds) -> dict:
    target, nocut, best = _signal_rows(summary)
    ratio = best["z_local"] / max(nocut["z_local"], 1e-9)
    found = summary["best_window"]
    hit = "contains 3.5 TeV" if found[0] <= 3500.0 < found[1] else "MISSES 3.5 TeV"
    print(f"{seed!s:<5} {target[0]:.0f}-{target[1]:.0f}  {nocut['z_local']:9.2f}  "
          f"{best['z_local']:11.2f}  {best['efficiency']:<5g}  {ratio:5.2f}  "
          f"{found[0]:.0f}-{found[1]:.0f}, {summary['best_efficiency']:g}, "
          f"{summary['z_max_local']:.2f} ({hit}; z_global {summary['z_global']:.2f})  "
          f"{seconds:7.0f}")
    return {"part": "gain", "seed": seed, "window": list(target),
            "z_no_cut": nocut["z_local"], "z_best_cut": best["z_local"],
            "efficiency": best["efficiency"], "ratio": ratio, "best_window": list(found),
            "best_efficiency": summary["best_efficiency"],
            "z_max_local": summary["z_max_local"], "z_global": summary["z_global"],
            "contains_signal": found[0] <= 3500.0 < found[1], "seconds": seconds}


def _from_summaries(directories) -> list[dict]:
    print("## sensitivity gain from finished runs (window nearest 3.5 TeV)")
    _gain_header("scoring seconds (sum over windows)")
    rows = []
    for directory in directories:
        summary = json.loads((Path(directory) / "summary.json").read_text())
        # the windows' own times survive a resumed run (total_seconds does not)
        rows.append(_gain_line(summary["seeds"]["run"], summary,
                               sum(summary["timing"]["per_window_seconds"])))
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--method", default="cathode")
    parser.add_argument("--n-background", type=int, default=200_000)
    parser.add_argument("--n-signal", type=int, default=600)
    parser.add_argument("--seeds", type=int, nargs="+", default=[0])
    parser.add_argument("--scan", type=float, nargs=2, default=[3100.0, 3900.0])
    parser.add_argument("--width", type=float, default=400.0)
    parser.add_argument("--step", type=float, default=200.0)
    parser.add_argument("--epochs", type=int, default=10)
    parser.add_argument("--classifier", choices=["mlp", "hgb"], default=None,
                        help="CATHODE/CWoLa classifier (default: the method's, mlp)")
    parser.add_argument("--efficiency", type=float, nargs="+", default=[0.2, 0.1, 0.05, 0.01])
    parser.add_argument("--summaries", nargs="+", metavar="DIR",
                        help="only print the gain table of finished bumphunt output directories")
    parser.add_argument("--scheduler", default="local")
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--torch-threads", type=int, default=1,
                        help="torch threads per window task, serial and dask alike [1: two "
                             "workers then use two cores]")
    parser.add_argument("--skip", nargs="*", default=[], choices=["gain", "null", "dask"])
    parser.add_argument("--json", default=None, help="also write the results to this JSON file")
    parser.add_argument("--full", action="store_true",
                        help="the issue's configuration: 1M + 1000, 2.8-5.2 TeV scan, 3 seeds")
    args = parser.parse_args()
    if args.summaries:
        write_json(args.json, "bumphunt", _from_summaries(args.summaries))
        return
    if args.full:
        args.n_background, args.n_signal, args.seeds = 1_000_000, 1000, [0, 1, 2]
        args.scan, args.step = [2800.0, 5200.0], 100.0
    tmp = Path(tempfile.mkdtemp(prefix="bench_bumphunt_"))
    print(f"# method={args.method} n_background={args.n_background} n_signal={args.n_signal} "
          f"scan={args.scan} width={args.width} step={args.step} epochs={args.epochs} "
          f"classifier={args.classifier or 'default'} efficiency={args.efficiency}")

    rows = []
    if "gain" not in args.skip:
        print("\n## sensitivity gain (window nearest 3.5 TeV)")
        _gain_header()
        for seed in args.seeds:
            path = tmp / f"sig_{seed}.root"
            write(path, dijet.generate(args.n_background, args.n_signal, seed=seed))
            t0 = time.perf_counter()
            summary = run_bumphunt(_config(path, tmp / f"sig_out_{seed}", args, seed=seed),
                                   plots=False)
            rows.append(_gain_line(seed, summary, time.perf_counter() - t0))

    serial = t_serial = None
    if "null" not in args.skip:
        print("\n## background only: global significance over the scan")
        path = tmp / "bkg.root"
        write(path, dijet.generate(args.n_background, 0, seed=100))
        t0 = time.perf_counter()
        serial = run_bumphunt(_config(path, tmp / "bkg_out", args, seed=100, label=None),
                              plots=False)
        t_serial = time.perf_counter() - t0
        windows = sorted({tuple(r["sr"]) for r in serial["windows"]})
        print(f"{len(windows)} windows, {t_serial:.0f} s; z_global = {serial['z_global']:.2f} "
              f"(max local {serial['z_max_local']:.2f} in {serial['best_window']} at "
              f"efficiency {serial['best_efficiency']:g}; {serial['global_method']})")
        print("largest local Z per efficiency:",
              {e: round(max(r["z_local"] for r in serial["windows"]
                            if same_value(r["efficiency"], e) and r["z_local"] == r["z_local"]),
                        2)
               for e in sorted({r["efficiency"] for r in serial["windows"]})})
        rows.append({"part": "null", "seed": 100, "windows": len(windows),
                     "seconds": t_serial, "z_global": serial["z_global"],
                     "z_max_local": serial["z_max_local"],
                     "best_window": list(serial["best_window"]),
                     "best_efficiency": serial["best_efficiency"],
                     "global_method": serial["global_method"]})

    if "dask" not in args.skip:
        print("\n## serial vs dask (same seed)")
        if serial is None:  # no null scan to reuse: time a serial scan of a signal sample
            path = tmp / "dask.root"
            write(path, dijet.generate(args.n_background, args.n_signal, seed=7))
            kw = {"seed": 7}
            t0 = time.perf_counter()
            serial = run_bumphunt(_config(path, tmp / "serial", args, **kw), plots=False)
            t_serial = time.perf_counter() - t0
        else:  # the background-only scan above is the serial run
            path, kw = tmp / "bkg.root", {"seed": 100, "label": None}
        t0 = time.perf_counter()
        dist = run_bumphunt(_config(path, tmp / "dask", args, scheduler=args.scheduler,
                                    workers=args.workers, **kw), plots=False)
        t_dask = time.perf_counter() - t0
        same = json.dumps(serial["windows"], sort_keys=True) == json.dumps(dist["windows"],
                                                                         sort_keys=True)
        n_windows = len({tuple(r["sr"]) for r in serial["windows"]})
        print(f"{n_windows} windows: serial {t_serial:.1f} s, dask ({args.scheduler}, "
              f"{args.workers} workers) {t_dask:.1f} s, ratio serial/dask = "
              f"{t_serial / t_dask:.2f}, identical summaries: {same}")
        rows.append({"part": "dask", "windows": n_windows, "serial_s": t_serial,
                     "dask_s": t_dask, "scheduler": args.scheduler, "workers": args.workers,
                     "ratio": t_serial / t_dask, "identical": same})
    write_json(args.json, "bumphunt", rows, threads=args.torch_threads,
               n_background=args.n_background, n_signal=args.n_signal, method=args.method,
               scan=args.scan, width=args.width, step=args.step, epochs=args.epochs,
               classifier=args.classifier, efficiency=args.efficiency)

if __name__ == "__main__":
    main()
