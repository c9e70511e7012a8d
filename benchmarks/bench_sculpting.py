r"""Sculpting study: does a method's selection change the background-only m spectrum?

For every method and many background-only pseudo-experiments (seeds), scores every event with
the SR [3300, 3700) GeV and the sidebands the whole rest of the spectrum, keeps the top 10 %,
1 % and 0.1 % of all events by score, and tests that the kept events' m spectrum is the
inclusive one times a constant (a flat efficiency in m, over the whole mass range, sidebands
included): :func:`flowstats.anomaly.sculpting.sculpting_test`, Pearson's chi2 of the selected
and rejected counts in equal-population m bins (at least 5 selected events expected per bin).

Without sculpting the p-values are uniform and chi2/ndf averages 1. Per method and efficiency
the table prints the mean chi2/ndf with its error (standard deviation / sqrt(pseudo-
experiments)), the Kolmogorov-Smirnov p-value of the pseudo-experiments' p-values against the
uniform distribution, and the verdict: pass when the mean chi2/ndf is within 3 errors of 1 and
the KS p-value is above 0.01 (issue #12).

Samples:

* ``standard``: ``dijet.generate(n, 0, seed)``; the features depend on m_jj mildly (jet masses
  scale like m_jj^0.8, see docs/guide/datasets.md).
* ``correlated``: the same plus a fifth feature ``dr`` that follows m strongly
  (``dr = 4 ln(m / 3500 GeV) + N(0, 0.5)``, like the Delta R that LaCATHODE, arXiv:2210.14924,
  adds to make CATHODE sculpt): SR and sideband backgrounds differ, so CWoLa must sculpt, and a
  method whose background model follows m must not.

Each (sample, method) runs in a fresh process with one torch thread; the pseudo-experiments of
one method run serially in it (``--jobs`` runs that many (sample, method) processes at once).

Usage::

    python benchmarks/bench_sculpting.py                        # 20 x 40k, all methods, both samples
    python benchmarks/bench_sculpting.py --methods cathode --n-events 1000000 --pseudo 1
    python benchmarks/bench_sculpting.py --space data           # the data-space variants
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time

import numpy as np
from _report import write_json

SR = (3300.0, 3700.0)
METHODS = ["cathode", "anode", "bootstrap", "density", "cwola"]
FRACTIONS = (0.1, 0.01, 0.001)
#: the small-sample settings of tests/test_anomaly.py (2 cores; ~10-30 s a pseudo-experiment)
FAST = {
    "flow": {"transforms": 3, "hidden": [32, 32]},
    "fit": {"epochs": 6, "batch_size": 1024, "lr": 3e-3},
    "k": 3,
    "classifier": "hgb",
    "classifier_options": {"n_models": 2},
}


def sample(kind: str, n: int, seed: int) -> tuple[np.ndarray, np.ndarray, list[str]]:
    r"""Background-only events of the ``standard`` or ``correlated`` sample: (x, m, names)."""
    from flowstats.datasets import dijet

    d = dijet.generate(n, 0, seed=seed)
    names = list(dijet.FEATURES)
    x = np.stack([d[f] for f in names], axis=1)
    m = d["mjj"]
    if kind == "correlated":
        rng = np.random.default_rng([seed, 777])
        dr = 4.0 * np.log(m / 3500.0) + rng.normal(0.0, 0.5, len(m))
        x, names = np.column_stack([x, dr]), [*names, "dr"]
    elif kind != "standard":
        raise SystemExit(f"unknown sample {kind!r}")
    return x, m, names


def worker(args: argparse.Namespace) -> None:
    import torch

    from flowstats.anomaly import score
    from flowstats.anomaly.sculpting import sculpting_test

    torch.set_num_threads(1)
    options = json.loads(args.options)
    rows = []
    for i in range(args.pseudo):
        seed = args.first_seed + i
        x, m, names = sample(args.sample, args.n_events, seed)
        start = time.perf_counter()
        with tempfile.TemporaryDirectory() as tmp:
            r = score(x, m, method=args.method, sr=SR, seed=seed, device="cpu", names=names,
                      model_dir=tmp, **options)
        seconds = time.perf_counter() - start
        use = r.region >= 0
        for fraction in FRACTIONS:
            t = sculpting_test(m[use], r.score[use], fraction)
            rows.append({"seed": seed, "fraction": fraction, "chi2": t["chi2"],
                         "ndf": t["ndf"], "p": t["p_value"], "seconds": seconds,
                         "edges": t["edges"], "bin_efficiency": t["bin_efficiency"],
                         "bin_error": t["bin_error"]})
        print(f"# {args.sample} {args.method} seed {seed}: {seconds:.1f} s, p = "
              + ", ".join(f"{r['p']:.3g}" for r in rows[-len(FRACTIONS):]),
              file=sys.stderr, flush=True)
    print(json.dumps(rows))


def summarise(rows: list[dict]) -> dict:
    r"""Mean chi2/ndf, its error, the KS p-value of the p-values and the verdict."""
    from scipy import stats

    r = np.array([row["chi2"] / row["ndf"] for row in rows])
    p = np.array([row["p"] for row in rows])
    mean = float(r.mean())
    err = float(r.std(ddof=1) / np.sqrt(len(r))) if len(r) > 1 else float("nan")
    ks = float(stats.kstest(p, "uniform").pvalue) if len(p) > 1 else float("nan")
    # one pseudo-experiment (e.g. 1M events): the chi2 itself is the test
    if len(r) == 1:
        ok = bool(p[0] > 0.01)
    else:
        ok = bool(abs(mean - 1) <= 3 * err and ks > 0.01)
    return {"mean_chi2_ndf": mean, "error": err, "ks_p": ks, "min_p": float(p.min()),
            "n": len(r), "ndf": int(np.median([row["ndf"] for row in rows])), "pass": ok}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--methods", default=",".join(METHODS))
    ap.add_argument("--samples", default="standard,correlated")
    ap.add_argument("--pseudo", type=int, default=20, help="pseudo-experiments per method")
    ap.add_argument("--n-events", type=int, default=40_000)
    ap.add_argument("--first-seed", type=int, default=1000)
    ap.add_argument("--space", choices=["latent", "data", "calibrated"], default=None,
                    help="score space of the flow-based methods (default: the library's)")
    ap.add_argument("--options", default=None, help="JSON score() options (default: FAST)")
    ap.add_argument("--jobs", type=int, default=1, help="(sample, method) processes at once")
    ap.add_argument("--json", default=None,
                    help="write the table and every pseudo-experiment's row here")
    # worker mode
    ap.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    ap.add_argument("--method", help=argparse.SUPPRESS)
    ap.add_argument("--sample", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.worker:
        worker(args)
        return
    options = json.loads(args.options) if args.options else dict(FAST)
    if args.space:
        options["space"] = args.space
    jobs = [(s, meth) for s in args.samples.split(",") for meth in args.methods.split(",")]
    results: dict[tuple[str, str], list[dict]] = {}
    running: list[tuple[tuple[str, str], subprocess.Popen]] = []
    start = time.perf_counter()

    def launch(job: tuple[str, str]) -> None:
        s, meth = job
        opts = {k: v for k, v in options.items() if not (meth == "cwola" and k == "space")}
        cmd = [sys.executable, __file__, "--worker", "--sample", s, "--method", meth,
               "--pseudo", str(args.pseudo), "--n-events", str(args.n_events),
               "--first-seed", str(args.first_seed), "--options", json.dumps(opts)]
        running.append((job, subprocess.Popen(cmd, stdout=subprocess.PIPE, text=True)))

    pending = list(jobs)
    while pending or running:
        while pending and len(running) < max(1, args.jobs):
            launch(pending.pop(0))
        job, proc = running.pop(0)
        out, _ = proc.communicate()
        if proc.returncode:
            raise SystemExit(f"worker {job} failed with exit code {proc.returncode}")
        results[job] = json.loads(out.strip().splitlines()[-1])
    wall = time.perf_counter() - start

    print(f"\nsculpting study: {args.pseudo} background-only pseudo-experiments of "
          f"{args.n_events} events per method, SR {SR[0]:g}-{SR[1]:g} GeV, "
          f"space={options.get('space', 'library default')}, wall {wall:.0f} s")
    print("| sample | method | efficiency | mean chi2/ndf | error | KS p | min p | ndf | "
          "s/PE | verdict |")
    print("|---|---|---|---|---|---|---|---|---|---|")
    table = []
    for (s, meth), rows in results.items():
        for fraction in FRACTIONS:
            sel = [r for r in rows if r["fraction"] == fraction]
            summ = summarise(sel)
            secs = float(np.mean([r["seconds"] for r in sel]))
            table.append({"sample": s, "method": meth, "fraction": fraction, **summ,
                          "seconds_per_pe": secs})
            print(f"| {s} | {meth} | {fraction:g} | {summ['mean_chi2_ndf']:.3f} | "
                  f"{summ['error']:.3f} | {summ['ks_p']:.3g} | {summ['min_p']:.2g} | "
                  f"{summ['ndf']} | {secs:.1f} | {'pass' if summ['pass'] else 'FAIL'} |")
    write_json(args.json, "sculpting", table, threads=1, options=options, sr=SR,
               pseudo=args.pseudo, n_events=args.n_events, wall_s=wall,
               pseudo_experiments={f"{k[0]}/{k[1]}": v for k, v in results.items()})


if __name__ == "__main__":
    main()
