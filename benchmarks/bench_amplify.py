"""Amplification of flow unweighting on the nlo toy: what the generated events are worth.

For each training size (``--sizes``, events of ``datasets.nlo`` with 20 % negative weights) and
seed, one flow is trained by ``flowstats.unweight`` with its defaults, and ``--n-generate``
events are drawn twice from it:

* ``flow``: the flow alone (``refine=False``, the model loaded from the first run);
* ``refined``: the default, reweighted to the training events by a classifier and unweighted
  again (``flowstats.unweighting.refine``).

Against ``--n-truth`` events of the exact truth (``flowstats.unweighting.worth``, bins at
quantiles of the training events) it prints, for 10 quantile bins of each feature (``1D``)
and 5x5 cells of each pair (``pairs``), all combined: the amplification
A = N_eq(inf) / N_eq,train with its 95 % CL lower limit, the saving factor against the weighted
training events (``worth.recommendation``: N / M_match, 0 when A <= 1), the truth chi2 check
of ``analyses/unweight_nlo.py`` (30 bins per feature against the truth, the training
statistics included; min p over the features, pass above 0.01), the unweighting's wall time
and the process's peak resident memory (each run in its own process, one at a time).

The note at the end gives the ceiling a sign-smoothing could reach: the training events with
the toy's exact local mean weight |w| (1 - 2 P(w<0|x)) instead of their signed weights.

    python benchmarks/bench_amplify.py [--sizes 50000 200000 1000000] [--seeds 0 1 2]
        [--n-generate 1000000] [--threads 2] [--json PATH]
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
from _report import peak_rss_mb, write_json

FEATURES = ["pt", "y", "m", "njet"]


def _run(size: int, seed: int, n_generate: int, refine: bool, tmp: Path, threads: int) -> None:
    r"""One unweighting in this process; writes the generated events and figures to ``tmp``."""
    import torch
    import uproot

    import flowstats
    from flowstats.datasets import nlo, write

    torch.set_num_threads(threads)
    if not (tmp / "nlo.root").exists():  # the second run reads the first one's input
        write(tmp / "nlo.root", nlo.generate(size, negative_fraction=0.2, seed=seed))
    model = tmp / "model"
    t0 = time.perf_counter()
    result = flowstats.unweight(
        tmp / "nlo.root", features=FEATURES, weight="weight", n=n_generate,
        output=tmp / f"out_{int(refine)}.root", seed=seed, device="cpu", split_on=["njet"],
        refine=refine, force=True, **({"model_out": model} if refine else {"model": model}))
    seconds = time.perf_counter() - t0
    gen = uproot.open(tmp / f"out_{int(refine)}.root")["events"].arrays(FEATURES, library="np")
    np.save(tmp / f"gen_{int(refine)}.npy", np.column_stack([gen[f] for f in FEATURES]))
    (tmp / f"run_{int(refine)}.json").write_text(json.dumps({
        "seconds": seconds, "peak_rss_mb": peak_rss_mb(),
        "split": result.summary["split"], "refinement": result.summary["refinement"],
        "timings": result.summary["timings"]}))


def _child(size: int, seed: int, n_generate: int, refine: bool, tmp: Path, threads: int) -> dict:
    cmd = [sys.executable, __file__, "--child", str(size), str(seed), str(n_generate),
           str(int(refine)), str(tmp), str(threads)]
    subprocess.run(cmd, check=True, env={**os.environ, "OMP_NUM_THREADS": str(threads)})
    return json.loads((tmp / f"run_{int(refine)}.json").read_text())


def _figures(x_gen: np.ndarray, x_truth: np.ndarray, x_train: np.ndarray, w_train: np.ndarray
             ) -> dict:
    from flowstats.unweighting.worth import equivalent_events, recommendation

    res = equivalent_events(x_gen, x_truth, None, names=FEATURES, discrete=["njet"],
                            pair_bins=5, bins=[10], x_edges=x_train, x_train=x_train,
                            w_train=w_train)
    out = {}
    for label, entry in (("1D", res["binnings"]["10"]["combined"]),
                         ("pairs", res["pairs"]["5x5"]["combined"])):
        rec = recommendation(len(x_train), entry["n_eq_train"], entry["n_eq_inf"],
                             entry["n_eq_inf_lower_limit"],
                             n_eq_inf_error=entry.get("n_eq_inf_error"),
                             stat_ratio=entry["s_gen"] / entry["s_ref"])
        out[label] = {"n_eq_train": entry["n_eq_train"], "n_eq_inf": entry["n_eq_inf"],
                      "n_eq_inf_lower_limit": entry["n_eq_inf_lower_limit"],
                      "amplification": rec["amplification"],
                      "amplification_lower_limit": rec["amplification_lower_limit"],
                      "saving": rec["saving"]}
    return out


def _truth_check(x_gen: np.ndarray, truth: dict, x_train: np.ndarray, w_train: np.ndarray,
                 scale: float) -> float:
    from flowstats.unweighting.compare import binning, chi2_samples

    p = []
    for k, name in enumerate(FEATURES):
        edges = binning(truth[name], 30, discrete=name == "njet")
        p.append(chi2_samples(truth[name], None, x_gen[:, k], None, edges,
                              source=(x_train[:, k], w_train, scale)).p_value)
    return float(min(p))


def _copy(x_train: np.ndarray, w_train: np.ndarray, x_truth: np.ndarray) -> dict:
    r"""The amplification of the training events' own weighted histogram against the truth:
    tr C_train / (sum (r - p)^2 - tr C_truth), the same bins as :func:`_figures` (what a
    generator that copies its training events' fractions would get; 1 on average)."""
    out = {}
    for label, bins, groups in (("1D", 10, [(j,) for j in range(4)]),
                                ("pairs", 5, [(i, j) for i in range(4) for j in range(i + 1, 4)])):
        edges = [np.quantile(x_train[:, j], np.linspace(0, 1, bins + 1))[1:-1] for j in range(4)]

        def cells(x: np.ndarray, group: tuple, edges: list = edges) -> tuple[np.ndarray, int]:
            index, size = np.zeros(len(x), np.int64), 1
            for j in group:
                k = 4 if FEATURES[j] == "njet" else len(edges[j]) + 1
                col = (x[:, j].astype(np.int64) if FEATURES[j] == "njet"
                       else np.searchsorted(edges[j], x[:, j]))
                index, size = index * k + col, size * k
            return index, size

        mse = trace = 0.0
        for group in groups:
            a, size = cells(x_train, group)
            t, _ = cells(x_truth, group)
            big_w = np.bincount(a, weights=w_train, minlength=size)
            r = big_w / big_w.sum()
            p = np.bincount(t, minlength=size) / len(x_truth)
            v = np.bincount(a, weights=w_train ** 2, minlength=size)
            mse += np.sum((r - p) ** 2) - np.sum(p * (1 - p)) / len(x_truth)
            trace += np.sum(v - 2 * r * v + r ** 2 * v.sum()) / big_w.sum() ** 2
        out[label] = trace / mse
    return out


def _ceiling(x: np.ndarray, w: np.ndarray, x_truth: np.ndarray) -> dict:
    r"""N_eq of the training events ``x``, ``w`` with the exact local mean weight (the toy's
    P(w<0|x)) against their signed weights."""
    from flowstats.datasets import nlo
    from flowstats.unweighting.worth import equivalent_events

    lp = nlo.log_prob_positive(x[:, :3], njet=x[:, 3])
    ln = nlo.log_prob_negative(x[:, :3], njet=x[:, 3])
    p_neg = 1 / (1 + np.exp(lp - ln) * 0.8 / 0.2)
    w_bar = np.abs(w) * (1 - 2 * p_neg)
    out = {}
    for label, weights in (("signed", w), ("exact_mean", w_bar)):
        res = equivalent_events(x_truth[:10], x_truth, None, names=FEATURES, discrete=["njet"],
                                pair_bins=5, bins=[10], x_edges=x, x_train=x, w_train=weights)
        out[label] = {"1D": res["binnings"]["10"]["combined"]["n_eq_train"],
                      "pairs": res["pairs"]["5x5"]["combined"]["n_eq_train"]}
    return out


def _one(size: int, seed: int, args: argparse.Namespace) -> list[dict]:
    from flowstats.datasets import nlo
    from flowstats.unweighting.job import split_indices

    rows = []
    with tempfile.TemporaryDirectory() as name:
        tmp = Path(name)
        runs = {r: _child(size, seed, args.n_generate, r, tmp, args.threads) for r in (True, False)}
        data = nlo.generate(size, negative_fraction=0.2, seed=seed)
        x = np.column_stack([data[f] for f in FEATURES]).astype(np.float64)
        split = runs[True]["split"]
        train, _ = split_indices(size, split["test_fraction"], split["seed"])
        x_train, w_train = x[train], data["weight"][train]
        truth = nlo.truth(args.n_truth, seed=seed + 1000)
        x_truth = np.column_stack([truth[f] for f in FEATURES]).astype(np.float64)
        ceiling = _ceiling(x_train, w_train, x_truth)
        copy = _copy(x_train, w_train, x_truth)
        for refine in (False, True):
            x_gen = np.load(tmp / f"gen_{int(refine)}.npy")
            # the flow learns from the training part less validation; the refinement sees all
            scale = 1.0 if refine else 1 / (1 - split["val_fraction"])
            rows.append({"size": size, "seed": seed, "sample": "refined" if refine else "flow",
                         **_figures(x_gen, x_truth, x_train, w_train),
                         "truth_min_p": _truth_check(x_gen, truth, x_train, w_train, scale),
                         "seconds": runs[True]["seconds"] if refine else None,
                         "peak_rss_mb": runs[True]["peak_rss_mb"],
                         "refinement": runs[True]["refinement"] if refine else None,
                         "ceiling": ceiling, "copy": copy})
    return rows


def _fmt(value: float | None, spec: str = ".2f") -> str:
    return "inf" if value is None else format(value, spec)


def _print(row: dict) -> None:
    a, b = row["1D"], row["pairs"]
    seconds = "" if row["seconds"] is None else f"{row['seconds']:6.0f}"
    print(f"{row['size']:8d}{row['seed']:5d}  {row['sample']:8s}"
          f"{_fmt(a['amplification']):>6s} (>{_fmt(a['amplification_lower_limit'])})"
          f"{_fmt(b['amplification']):>7s} (>{_fmt(b['amplification_lower_limit'])})"
          f"{_fmt(a['saving']):>7s}{_fmt(b['saving']):>7s}{row['truth_min_p']:9.3g}"
          f"{seconds:>7s}{row['peak_rss_mb']:8.0f}", flush=True)


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if argv and argv[0] == "--child":
        size, seed, n_gen, refine, tmp, threads = argv[1:7]
        _run(int(size), int(seed), int(n_gen), bool(int(refine)), Path(tmp), int(threads))
        return 0
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[50_000, 200_000, 1_000_000])
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--n-generate", type=int, default=1_000_000)
    parser.add_argument("--n-truth", type=int, default=4_000_000)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--json", default=None, help="also write the table to this JSON file")
    args = parser.parse_args(argv)
    print("amplification A = N_eq(inf) / N_eq,train against the truth (95 % CL lower limit), "
          "10 quantile bins per feature (1D) and 5x5 cells per pair; saving = N / M_match "
          "(0: not reachable); truth chi2 min p (pass > 0.01); wall s; peak RSS MB")
    print(f"{'size':>8s}{'seed':>5s}  {'sample':8s}{'A 1D':>13s}{'A pairs':>14s}"
          f"{'save1D':>7s}{'savePr':>7s}{'min p':>9s}{'s':>7s}{'MB':>8s}")
    table = []
    for size in args.sizes:
        for seed in args.seeds:
            for row in _one(size, seed, args):
                table.append(row)
                _print(row)
    for size in args.sizes:
        for sample in ("flow", "refined"):
            rows = [r for r in table if r["size"] == size and r["sample"] == sample]
            a1 = [r["1D"]["amplification"] or np.inf for r in rows]
            a2 = [r["pairs"]["amplification"] or np.inf for r in rows]
            print(f"size {size} {sample:8s}: A 1D {np.mean(a1):.2f} (min {min(a1):.2f}), "
                  f"pairs {np.mean(a2):.2f} (min {min(a2):.2f}); truth check passed "
                  f"{sum(r['truth_min_p'] > 0.01 for r in rows)}/{len(rows)}")
        c = [r["ceiling"] for r in table if r["size"] == size and r["sample"] == "flow"]
        copies = [r["copy"] for r in table if r["size"] == size and r["sample"] == "flow"]
        one_d = [x["1D"] for x in copies]
        print(f"size {size} copy: the training events' own histogram, A 1D "
              f"{np.mean(one_d):.2f} ({', '.join(f'{a:.2f}' for a in one_d)}), pairs "
              f"{np.mean([x['pairs'] for x in copies]):.2f}")
        print(f"size {size} ceiling: the training events with the toy's exact mean weight are "
              f"worth {np.mean([x['exact_mean']['1D'] / x['signed']['1D'] for x in c]):.2f}x "
              f"(1D), {np.mean([x['exact_mean']['pairs'] / x['signed']['pairs'] for x in c]):.2f}x"
              " (pairs) their signed-weight N_eq,train")
    write_json(args.json, "amplify", table, threads=args.threads, n_generate=args.n_generate,
               n_truth=args.n_truth)
    return 0


if __name__ == "__main__":
    sys.exit(main())
