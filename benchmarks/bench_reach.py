"""Discovery reach of the enhanced bump hunt (issue 27): how few signal events it finds.

For each sample (``--samples``: ``dijet`` and ``dijet-variant``, two differently built
LHC-Olympics-like samples), number of injected signal events (``--n-signal``) and seed, one
sample of ``--n-background`` events is generated and ``flowstats.bumphunt`` runs on it with
the library's defaults (``--method``, efficiencies ``--efficiency``):

* ``single``: the one window 3.3-3.7 TeV (``sr``);
* ``scan``: five 0.4 TeV windows stepped by 0.2 TeV over 2.9-4.1 TeV.

Per run it prints the window nearest 3.5 TeV: the local Z without a cut (the plain bump hunt)
and at the best cut, the run's global Z (its look-elsewhere effect over windows and
efficiencies), and the anomaly score's max SIC over the exact likelihood ratio's on the
window's SR events (from ``scores.root`` and the sample's ``llr``). The summary gives, per
sample, window setting and n_signal, the means over seeds, and the smallest n_signal whose mean
global Z reaches 3 and 5, with and without the cut.

The issue's configuration (1M background, n_signal 200-1000, 3 seeds, both samples, both
window settings: 60 runs of 1-5 windows) takes many hours on two cores; ``--n-background``
scales it down (the signal fraction with it: keep n_signal / n_background for a comparable
S/B), and ``--scheduler`` runs each scan's windows on a dask cluster.

    python benchmarks/bench_reach.py [--samples dijet dijet-variant] [--n-signal 500 1000]
        [--seeds 0 1 2] [--windows single scan] [--n-background 1000000] [--json PATH]

``--score-only`` scores the single window only, once per ``--spaces`` space (default
``calibrated latent``) on one shared sideband flow, and prints max SIC / exact LR per run and
its mean, spread and minimum over the seeds (the issue's 1000-event, 5-seed target).
"""

from __future__ import annotations

import argparse
import itertools
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
from _report import write_json
from bench_bumphunt import _signal_rows

from flowstats.anomaly.metrics import evaluate
from flowstats.bumphunt import run_bumphunt
from flowstats.config import resolve_config
from flowstats.datasets import dijet, dijet_variant, write

SAMPLES = {"dijet": dijet, "dijet-variant": dijet_variant}
WINDOWS = {"single": {"sr": [3300.0, 3700.0]},
           "scan": {"scan": {"range": [2900.0, 4100.0], "width": 400.0, "step": 200.0}}}


def _run(module, n_signal: int, seed: int, windows: str, args: argparse.Namespace) -> dict:
    with tempfile.TemporaryDirectory() as name:
        tmp = Path(name)
        data = module.generate(args.n_background, n_signal, seed=seed)
        write(tmp / "sample.root", data)
        config = {"input": str(tmp / "sample.root"), "features": list(module.FEATURES),
                  "label": "label", "method": args.method, "efficiency": args.efficiency,
                  "output": str(tmp / "out"), "seed": seed, "scheduler": args.scheduler,
                  **WINDOWS[windows]}
        if args.space:
            config["score_options"] = {"space": args.space}
        t0 = time.perf_counter()
        summary = run_bumphunt(resolve_config(config), plots=False)
        seconds = time.perf_counter() - t0
        return {**_signal_window(summary, tmp / "out", data), "seconds": seconds,
                "z_global": summary["z_global"], "best_window": summary["best_window"]}


def _score_only(module, n_signal: int, seed: int, args: argparse.Namespace) -> list[dict]:
    r"""``--score-only``: the score of the single 3.3-3.7 TeV window in every ``--spaces``
    space, all sharing one sideband flow (trained once, reused through ``model_dir``): max SIC
    over the exact likelihood ratio's on the SR events, and the seconds of each score (the
    first one includes the flow's training)."""
    from flowstats.anomaly import score

    data = module.generate(args.n_background, n_signal, seed=seed)
    x = np.stack([data[f] for f in module.FEATURES], axis=1).astype(np.float64)
    m, label = np.asarray(data["mjj"], dtype=np.float64), np.asarray(data["label"]) == 1
    rows = []
    with tempfile.TemporaryDirectory() as name:
        for space in args.spaces:
            t0 = time.perf_counter()
            r = score(x, m, method=args.method, sr=tuple(WINDOWS["single"]["sr"]),
                      names=list(module.FEATURES), seed=seed, device="cpu", model_dir=name,
                      space=space)
            seconds = time.perf_counter() - t0
            sr = r.region == 1
            ratio = (evaluate(r.score[sr], label[sr])["max_sic"]
                     / evaluate(data["llr"][sr], label[sr])["max_sic"])
            rows.append({"space": space, "sic_ratio": ratio, "seconds": seconds,
                         "flow_trained": not rows})
    return rows


def _signal_window(summary: dict, out: Path, data: dict) -> dict:
    import uproot

    target, nocut, best = _signal_rows(summary)
    index = sorted({tuple(r["sr"]) for r in summary["windows"]}).index(target)
    scores = uproot.open(out / "scores.root")["scores"].arrays(
        ["entry", "label", f"score_w{index}", f"region_w{index}"], library="np")
    sr = scores[f"region_w{index}"] == 1
    label, llr = scores["label"][sr], data["llr"][scores["entry"][sr]]
    ratio = (evaluate(scores[f"score_w{index}"][sr], label)["max_sic"]
             / evaluate(llr, label)["max_sic"])
    return {"window": list(target), "z_no_cut": nocut["z_local"], "z_best_cut": best["z_local"],
            "efficiency": best["efficiency"], "sic_ratio": ratio}


def _reach(rows: list[dict], key: str, threshold: float) -> int | None:
    means = {}
    for r in rows:
        means.setdefault(r["n_signal"], []).append(r[key])
    reached = [n for n, z in sorted(means.items()) if np.mean(z) >= threshold]
    return reached[0] if reached else None


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--samples", nargs="+", default=list(SAMPLES), choices=list(SAMPLES))
    parser.add_argument("--n-signal", type=int, nargs="+", default=[200, 300, 500, 700, 1000])
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--windows", nargs="+", default=list(WINDOWS), choices=list(WINDOWS))
    parser.add_argument("--n-background", type=int, default=1_000_000)
    parser.add_argument("--efficiency", type=float, nargs="+", default=[0.1, 0.01, 0.001])
    parser.add_argument("--method", default="cathode")
    parser.add_argument("--space", default=None, choices=["latent", "data", "calibrated"],
                        help="the score's space (default: the method's)")
    parser.add_argument("--scheduler", default=None, help="a dask scheduler, or 'local'")
    parser.add_argument("--json", default=None, help="also write the table to this JSON file")
    parser.add_argument("--score-only", action="store_true",
                        help="only the score of the single window, in every --spaces space")
    parser.add_argument("--spaces", nargs="+", default=["calibrated", "latent"],
                        choices=["latent", "data", "calibrated"])
    args = parser.parse_args(argv)
    if args.score_only:
        return _main_score_only(args)
    print(f"{'sample':14s}{'windows':8s}{'n_sig':>6s}{'seed':>5s}{'Z no cut':>9s}"
          f"{'Z cut':>7s}{'eff':>7s}{'Z global':>9s}{'SIC/LR':>7s}{'s':>7s}")
    table = []
    for sample in args.samples:
        for windows in args.windows:
            for n_signal in args.n_signal:
                for seed in args.seeds:
                    r = {"sample": sample, "windows": windows, "n_signal": n_signal,
                         "seed": seed, **_run(SAMPLES[sample], n_signal, seed, windows, args)}
                    table.append(r)
                    print(f"{sample:14s}{windows:8s}{n_signal:6d}{seed:5d}{r['z_no_cut']:9.2f}"
                          f"{r['z_best_cut']:7.2f}{r['efficiency']:7g}{r['z_global']:9.2f}"
                          f"{r['sic_ratio']:7.2f}{r['seconds']:7.0f}", flush=True)
    reach = []
    for sample in args.samples:
        for windows in args.windows:
            rows = [r for r in table if r["sample"] == sample and r["windows"] == windows]
            entry = {"sample": sample, "windows": windows,
                     **{f"global_z{t}": _reach(rows, "z_global", t) for t in (3, 5)},
                     **{f"no_cut_z{t}": _reach(rows, "z_no_cut", t) for t in (3, 5)}}
            reach.append(entry)
            print(f"{sample} {windows}: smallest n_signal with mean global Z >= 3: "
                  f"{entry['global_z3']}, >= 5: {entry['global_z5']}; plain bump hunt (local "
                  f"Z without a cut) >= 3: {entry['no_cut_z3']}, >= 5: {entry['no_cut_z5']}")
    write_json(args.json, "reach", table, reach=reach, n_background=args.n_background)
    return 0


def _main_score_only(args: argparse.Namespace) -> int:
    print(f"{'sample':14s}{'n_sig':>6s}{'seed':>5s}{'space':>12s}{'SIC/LR':>8s}{'s':>7s}")
    table = []
    for sample in args.samples:
        for n_signal in args.n_signal:
            for seed in args.seeds:
                for r in _score_only(SAMPLES[sample], n_signal, seed, args):
                    table.append({"sample": sample, "n_signal": n_signal, "seed": seed, **r})
                    print(f"{sample:14s}{n_signal:6d}{seed:5d}{r['space']:>12s}"
                          f"{r['sic_ratio']:8.3f}{r['seconds']:7.0f}", flush=True)
    summary = []
    for key in itertools.product(args.samples, args.n_signal, args.spaces):
        v = [r["sic_ratio"] for r in table if (r["sample"], r["n_signal"], r["space"]) == key]
        sd = float(np.std(v, ddof=1)) if len(v) > 1 else float("nan")
        summary.append(dict(zip(("sample", "n_signal", "space"), key), mean=float(np.mean(v)),
                            std=sd, min=float(np.min(v))))
        print("{} n_signal {} {}:".format(*key), f"max SIC / exact LR mean {np.mean(v):.3f} "
              f"+- {sd:.3f}, min {np.min(v):.3f} over {len(v)} seeds")
    write_json(args.json, "reach", table, summary=summary, n_background=args.n_background)
    return 0


if __name__ == "__main__":
    sys.exit(main())
