r"""Unweighting at production size: many input files, whole events at 100k, the report at 2M.

Real productions come as 1e6-1e7 events in many files (issue 29, item 3). Three parts, each
run in its own process (one at a time) so that its peak resident memory (``VmHWM``) is its own:

* ``files``: the nlo toy (``--n-files-events``, default 2M events) written as one ROOT file
  and as ``--n-files`` files (default 200); :func:`flowstats.io.read_events` reads both,
  alternating, ``--repeat`` times in the same process; the best times and their ratio
  (many / one) are printed. Then ``--n-lhe`` copies of the FxFx LHE file are read through
  ``read_events`` (each converted to ROOT first): seconds per file and per event.
* ``events``: whole-event unweighting (``analyses/unweight_fxfx_events.yaml``: 3-member
  mixtures of small flows per category, 40 epochs) of the real FxFx sample, once as it is
  (10k events, one file) and once replicated ``--replicas`` times into as many LHE files
  (100k events; replicated only to time the code: the copies' test events are copies of
  training events, so the report's figures say nothing about quality). Per run: the stage
  timings of ``summary.json`` (read, train, sample, write, report), seconds per input event
  and the peak memory.
* ``report``: the report at production size. A flow trained on a 200k-event nlo toy (seed 1)
  unweights a 2M-event toy (seed 0) into ``--n-generate`` events (default 2M) with
  ``--report``: the report compares them with the 2M toy's 500k held-out test events
  (chi2 per feature, the cross-validated classifier AUC, the worth figures). Prints the
  stage timings (``evaluate``: the comparison; ``report``: writing the plots and JSON) and the
  peak memory.

Measured (2 cores, 2026-12-08): 200 files read 2.5-2.7x slower than one (1.1-1.7 s for 2M
events); an LHE file converts at about 9-12k events/s; whole events 10k -> 100k input events:
88-98 s -> 351-398 s, peak 1.1 -> 1.2 GB; the 2M report: 35 s of comparison, 1.7 GB.

    python benchmarks/bench_production.py [--parts files events report] [--json PATH]
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
from _report import peak_rss_mb, write_json

ROOT = Path(__file__).resolve().parents[1]
FXFX = ROOT.parent / "shared" / "data" / "zjets_fxfx_mg5amcnlo_7tev.lhe.gz"
FXFX_EVENTS_YAML = ROOT / "analyses" / "unweight_fxfx_events.yaml"
FEATURES = ["pt", "y", "m", "njet"]


# ----------------------------------------------------------------------------- the parts

def part_files(args: argparse.Namespace, tmp: Path) -> dict:
    r"""One ROOT file against many, then many LHE files."""
    from flowstats.datasets import nlo, write
    from flowstats.io import read_events

    data = nlo.generate(args.n_files_events, negative_fraction=0.2, seed=0)
    write(tmp / "one.root", data)
    k = args.n_files
    bounds = np.linspace(0, args.n_files_events, k + 1).astype(int)
    many = []
    for i in range(k):
        path = tmp / f"many_{i:04d}.root"
        write(path, {c: v[bounds[i]:bounds[i + 1]] for c, v in data.items()})
        many.append(path)
    times: dict[str, list[float]] = {"one": [], "many": []}
    for _ in range(args.repeat):
        for name, paths in (("one", tmp / "one.root"), ("many", many)):
            t0 = time.perf_counter()
            ev = read_events(paths, "events", FEATURES, "weight")
            times[name].append(time.perf_counter() - t0)
            assert len(ev) == args.n_files_events
    one, many_s = min(times["one"]), min(times["many"])
    lhe = []
    for i in range(args.n_lhe):
        path = tmp / f"fxfx_{i:03d}.lhe.gz"
        shutil.copyfile(FXFX, path)
        lhe.append(path)
    t0 = time.perf_counter()
    ev = read_events(lhe, "events", ["m_ll", "pT_ll", "y_ll"], "weight")
    lhe_s = time.perf_counter() - t0
    return {"part": "files", "events": args.n_files_events, "files": k,
            "one_file_s": one, "many_files_s": many_s, "ratio": many_s / one,
            "rate_one_per_s": args.n_files_events / one,
            "rate_many_per_s": args.n_files_events / many_s,
            "lhe_files": args.n_lhe, "lhe_events": len(ev), "lhe_s": lhe_s,
            "lhe_s_per_file": lhe_s / args.n_lhe, "lhe_us_per_event": 1e6 * lhe_s / len(ev),
            "peak_rss_mb": peak_rss_mb()}


def _events_run(files: list[Path], tmp: Path, label: str, threads: int) -> dict:
    from flowstats.settings.unweight import UnweightSettings
    from flowstats.unweighting.job import run_unweight

    settings = UnweightSettings.from_yaml(FXFX_EVENTS_YAML, {
        "input": [str(f) for f in files], "output": str(tmp / f"{label}.root"),
        "report": str(tmp / f"{label}_report"), "device": "cpu", "force": True})
    t0 = time.perf_counter()
    result = run_unweight(settings)
    seconds = time.perf_counter() - t0
    s = result.summary
    return {"label": label, "files": len(files), "input_events": s["input"]["n"],
            "seconds": seconds, "timings": s["timings"],
            "us_per_input_event": 1e6 * seconds / s["input"]["n"],
            "never_trained_min_p_value": s.get("never_trained_min_p_value"), "threads": threads}


def part_events(args: argparse.Namespace, tmp: Path) -> dict:
    r"""Whole events: the FxFx file as it is, or replicated into many files (``--which``)."""
    if args.which == "one":
        row = _events_run([FXFX], tmp, "fxfx_10k", args.threads)
    else:
        files = []
        for i in range(args.replicas):
            path = tmp / f"fxfx_{i:03d}.lhe.gz"
            shutil.copyfile(FXFX, path)
            files.append(path)
        row = _events_run(files, tmp, f"fxfx_x{args.replicas}", args.threads)
    return {"part": "events", **row, "peak_rss_mb": peak_rss_mb()}


def part_report(args: argparse.Namespace, tmp: Path) -> dict:
    r"""The report of a 2M-event run (the flow trained on another, smaller toy)."""
    import flowstats
    from flowstats.datasets import nlo, write

    write(tmp / "train.root", nlo.generate(200_000, negative_fraction=0.2, seed=1))
    write(tmp / "big.root", nlo.generate(args.n_report_events, negative_fraction=0.2, seed=0))
    common = {"features": FEATURES, "weight": "weight", "device": "cpu", "split_on": ["njet"],
              "force": True}
    t0 = time.perf_counter()
    flowstats.unweight(tmp / "train.root", n=1000, output=tmp / "small.root",
                       model_out=tmp / "model", seed=1, **common)
    train_s = time.perf_counter() - t0
    t0 = time.perf_counter()
    result = flowstats.unweight(tmp / "big.root", n=args.n_generate, output=tmp / "big_out.root",
                                model=tmp / "model", report=tmp / "report", seed=0, **common)
    seconds = time.perf_counter() - t0
    s = result.summary
    return {"part": "report", "input_events": s["input"]["n"],
            "test_events": s["split"]["n_test"], "n_generate": args.n_generate,
            "train_200k_s": train_s, "seconds": seconds, "timings": s["timings"],
            "classifier_auc": (s.get("classifier") or {}).get("auc"),
            "peak_rss_mb": peak_rss_mb()}


PARTS = {"files": part_files, "events": part_events, "report": part_report}


# ----------------------------------------------------------------------------- driver

def _child(part: str, args: argparse.Namespace, extra: list[str]) -> dict:
    with tempfile.TemporaryDirectory(prefix=f"bench-production-{part}-") as tmp:
        out = Path(tmp) / "row.json"
        cmd = [sys.executable, __file__, "--child", part, "--out", str(out), *extra]
        env = {**os.environ, "FLOWSTATS_THREADS": str(args.threads),
               "OMP_NUM_THREADS": str(args.threads)}
        subprocess.run(cmd, check=True, env=env)
        return json.loads(out.read_text())


def _print(row: dict) -> None:
    if row["part"] == "files":
        print(f"files: {row['events']:,} nlo events, 1 file {row['one_file_s']:.2f} s, "
              f"{row['files']} files {row['many_files_s']:.2f} s (ratio {row['ratio']:.2f}); "
              f"{row['lhe_files']} FxFx LHE files ({row['lhe_events']:,} events) "
              f"{row['lhe_s']:.1f} s = {row['lhe_s_per_file']:.2f} s a file; "
              f"peak {row['peak_rss_mb']:.0f} MB")
        return
    t = row["timings"]
    stages = ", ".join(f"{k[:-2]} {t[k]:.1f}" for k in ("read_s", "train_s", "sample_s",
                                                        "write_s", "evaluate_s", "report_s")
                       if k in t)
    if row["part"] == "events":
        print(f"events {row['label']}: {row['files']} file(s), {row['input_events']:,} events, "
              f"{row['seconds']:.1f} s ({stages} s), {row['us_per_input_event']:.0f} us an "
              f"input event, peak {row['peak_rss_mb']:.0f} MB")
    else:
        print(f"report: {row['input_events']:,} input events ({row['test_events']:,} test), "
              f"{row['n_generate']:,} generated, {row['seconds']:.1f} s ({stages} s), "
              f"AUC {row['classifier_auc']}, peak {row['peak_rss_mb']:.0f} MB")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--parts", nargs="+", choices=list(PARTS), default=list(PARTS))
    parser.add_argument("--n-files-events", type=int, default=2_000_000)
    parser.add_argument("--n-files", type=int, default=200)
    parser.add_argument("--n-lhe", type=int, default=20)
    parser.add_argument("--repeat", type=int, default=2)
    parser.add_argument("--replicas", type=int, default=10)
    parser.add_argument("--n-report-events", type=int, default=2_000_000)
    parser.add_argument("--n-generate", type=int, default=2_000_000)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--json", default=None, help="also write the rows to this JSON file")
    parser.add_argument("--child", choices=list(PARTS), help=argparse.SUPPRESS)
    parser.add_argument("--which", choices=["one", "replicas"], help=argparse.SUPPRESS)
    parser.add_argument("--out", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child:
        import torch

        torch.set_num_threads(args.threads)
        with tempfile.TemporaryDirectory(prefix="bench-production-") as tmp:
            row = PARTS[args.child](args, Path(tmp))
        Path(args.out).write_text(json.dumps(row))
        return 0
    common = [f"--{k.replace('_', '-')}={getattr(args, k)}" for k in
              ("n_files_events", "n_files", "n_lhe", "repeat", "replicas", "n_report_events",
               "n_generate", "threads")]
    rows = []
    for part in args.parts:
        runs = [["--which", "one"], ["--which", "replicas"]] if part == "events" else [[]]
        for extra in runs:
            row = _child(part, args, [*common, *extra])
            _print(row)
            rows.append(row)
            write_json(args.json, "production", rows)  # after every row: a failure keeps them
    return 0


if __name__ == "__main__":
    sys.exit(main())
