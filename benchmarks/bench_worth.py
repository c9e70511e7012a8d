"""Statistical worth of flow-unweighted nlo toy events: held-out estimate against the truth.

Unweights the ``datasets.nlo`` toy (200,000 events, 20 % negative weights, features pt, y, m,
njet; one flow per njet value as in ``analyses/unweight_nlo.py``) into 1,000,000 events with
``flowstats.unweight`` and its default training, then measures what the generated sample is
worth (``flowstats.unweighting.worth.equivalent_events``) twice, in the same bins (quantiles
of the training events):

* against the held-out weighted test events (the same split as ``unweight``,
  ``core.split_indices``): what a user can do;
* against a large sample of the exact truth (``nlo.truth``): the validation.

Printed per binning (5, 10, 20, 40 bins per feature, and 5x5 cells of every pair): the bias
term ``bias2`` = sum_b (q_b - p_b)^2 of each estimate with its error and their pull, the
equivalent number of events N_eq(M) of the generated sample, its limit N_eq(inf) (a lower
limit at 95 % CL where the bias is not resolved), the training events' own N_eq,train at that
binning, and the saturation size M* (90 % of N_eq(inf)). The check: every held-out bias agrees
with the truth one within 3 combined standard errors.

With ``--curve M1 M2 ...`` it also prints the summary binning's N_eq(M) of the first M
generated events (i.i.d., so each prefix is a generated sample of size M) against the truth:
what the sample is worth against the number of events generated.

    python benchmarks/bench_worth.py [--n-input 200000] [--n-generate 1000000] [--json PATH]
"""

from __future__ import annotations

import argparse
import logging
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch
import uproot
from _report import write_json

import flowstats
from flowstats.datasets import nlo, write
from flowstats.unweighting.baselines import effective_sample_size
from flowstats.unweighting.job import split_indices
from flowstats.unweighting.worth import bias2_pull, equivalent_events

FEATURES = ["pt", "y", "m", "njet"]


def _fmt(value: float | None, width: int = 9) -> str:
    return f"{'inf':>{width}s}" if value is None else f"{value:{width}.0f}"


def _ratio(value: float | None) -> str:
    return "inf" if value is None else f"{value:.2f}"


def _neq(entry: dict, key: str) -> str:
    if key == "n_eq_inf" and entry["n_eq_inf"] is None:
        return f"   >{entry['n_eq_inf_lower_limit']:7.0f}"
    low, high = entry[f"{key}_interval"]
    return f"{_fmt(entry[key], 7)} [{_fmt(low, 7)},{_fmt(high, 7)}]"


def _group(result: dict, label: str) -> dict:
    r"""The figures of ``equivalent_events``'s summary label (e.g. "pairs 5x5", "binning 10")."""
    kind, key, *name = label.split()
    entry = result["pairs" if kind == "pairs" else "binnings"][key]
    return entry["features"][name[0]] if name else entry["combined"]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n-input", type=int, default=200_000)
    parser.add_argument("--n-generate", type=int, default=1_000_000)
    parser.add_argument("--n-truth", type=int, default=4_000_000)
    parser.add_argument("--epochs", type=int, default=40, help="flowstats.unweight's default")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--dequantise", action="store_true",
                        help="model njet by dequantisation instead of one flow per njet value")
    parser.add_argument("--curve", type=int, nargs="*", default=[], metavar="M",
                        help="also N_eq of the first M generated events, for each M")
    parser.add_argument("--json", default=None, help="also write the table to this JSON file")
    parser.add_argument("-v", "--verbose", action="store_true")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO if args.verbose else logging.WARNING,
                        format="%(levelname)s %(name)s: %(message)s")
    torch.set_num_threads(args.threads)

    data = nlo.generate(args.n_input, negative_fraction=0.2, seed=args.seed)
    x = np.column_stack([data[f] for f in FEATURES]).astype(np.float64)
    w = data["weight"]
    t0 = time.perf_counter()
    with tempfile.TemporaryDirectory() as tmp:
        write(Path(tmp) / "nlo.root", data)
        result = flowstats.unweight(
            Path(tmp) / "nlo.root", features=FEATURES, weight="weight", n=args.n_generate,
            output=Path(tmp) / "out.root", epochs=args.epochs, patience=args.epochs,
            seed=args.seed, device="cpu", split_on=[] if args.dequantise else ["njet"])
        gen = uproot.open(Path(tmp) / "out.root")["events"].arrays(FEATURES, library="np")
    t_unweight = time.perf_counter() - t0
    x_gen = np.column_stack([gen[f] for f in FEATURES]).astype(np.float64)
    split = result.summary["split"]
    train_idx, test_idx = split_indices(len(x), split["test_fraction"], split["seed"])
    x_train, w_train, x_test, w_test = x[train_idx], w[train_idx], x[test_idx], w[test_idx]
    truth = nlo.truth(args.n_truth, seed=args.seed + 1000)
    x_truth = np.column_stack([truth[f] for f in FEATURES]).astype(np.float64)

    t0 = time.perf_counter()
    common = {"names": FEATURES, "discrete": ["njet"], "pair_bins": 5, "x_edges": x_train,
              "x_train": x_train, "w_train": w_train}
    held = equivalent_events(x_gen, x_test, w_test, **common)
    exact = equivalent_events(x_gen, x_truth, None, **common)
    t_worth = time.perf_counter() - t0

    print(f"input {len(x)} events ({np.mean(w < 0):.1%} negative); training {len(x_train)} "
          f"(Kish N_eff {effective_sample_size(w_train):.0f}); held-out test {len(x_test)} "
          f"(N_eff {effective_sample_size(w_test):.0f}); generated M = {len(x_gen)}; truth "
          f"{len(x_truth)}; unweighting {t_unweight:.0f} s, worth {t_worth:.1f} s")
    print("bias2 in units of 1e-6; N_eq [68 % interval]; '>' = 95 % CL lower limit "
          "(bias not resolved); pull = (test - truth) / combined error "
          "(worth.bias2_pull)")
    head = (f"{'binning':8s}{'observable':11s}{'bias2 test':>18s}{'bias2 truth':>18s}"
            f"{'pull':>6s}  {'N_eq(M) test':>25s}  {'N_eq(M) truth':>25s}  "
            f"{'N_eq(inf) test':>25s}  {'N_eq(inf) truth':>25s}{'N_eq,train':>11s}"
            f"{'M* truth':>10s}")
    print(head)
    failures = []
    table = []
    groups = [(b, "features", held["binnings"][b], exact["binnings"][b])
              for b in held["binnings"]]
    groups += [(g, "pairs", held["pairs"][g], exact["pairs"][g]) for g in held["pairs"]]
    for label, kind, h, e in groups:
        rows = [*h[kind], "combined"]
        for name in rows:
            a = h[kind][name] if name != "combined" else h["combined"]
            b = e[kind][name] if name != "combined" else e["combined"]
            pull = bias2_pull(a, b)
            if abs(pull) > 3:
                failures.append(f"{label} {name} (pull {pull:.1f})")
            table.append({"binning": label, "observable": name, "pull": pull,
                          "test": a, "truth": b})
            print(f"{label:8s}{name:11s}{a['bias2'] * 1e6:9.2f} +-{a['bias2_error'] * 1e6:6.2f}"
                  f"{b['bias2'] * 1e6:9.2f} +-{b['bias2_error'] * 1e6:6.2f}{pull:6.2f}  "
                  f"{_neq(a, 'n_eq'):>25s}  {_neq(b, 'n_eq'):>25s}  "
                  f"{_neq(a, 'n_eq_inf'):>25s}  {_neq(b, 'n_eq_inf'):>25s}"
                  f"{_fmt(b.get('n_eq_train'), 11)}"
                  f"{_fmt(b['m_star'] if b['m_star'] is not None else None, 10)}")
    for what, res in (("held-out", held), ("truth", exact)):
        s = res["summary"]
        print(f"summary ({what}, {s['binning']}): N_eq(M) = {_fmt(s['n_eq'], 0)} +- "
              f"{_fmt(s['n_eq_error'], 0)} (>= {_fmt(s['n_eq_lower_limit'], 0)} at 95 % CL), "
              f"N_eq(inf) >= {_fmt(s['n_eq_inf_lower_limit'], 0)}, M* >= "
              f"{_fmt(s['m_star_lower_limit'], 0)}, amplification N_eq/N_eq,train = "
              f"{_ratio(s['amplification'])} (>= {_ratio(s['amplification_lower_limit'])})")
    curve = []
    if args.curve:
        binning = exact["summary"]["binning"]
        print(f"N_eq of the first M generated events against the truth ({binning}; "
              "'>' = 95 % CL lower limit):")
        print(f"{'M':>9s}  {'N_eq(M)':>25s}  {'N_eq(inf)':>25s}")
        for m in sorted(args.curve):
            res = equivalent_events(x_gen[:m], x_truth, None, **common)
            group = _group(res, binning)
            curve.append({"m": int(min(m, len(x_gen))), "binning": binning, **group})
            print(f"{min(m, len(x_gen)):9d}  {_neq(group, 'n_eq'):>25s}  "
                  f"{_neq(group, 'n_eq_inf'):>25s}")
    print("checks:", "all passed" if not failures else "FAILED: " + ", ".join(failures))
    write_json(args.json, "worth", table, threads=args.threads,
               summary={"held_out": held["summary"], "truth": exact["summary"]},
               curve=curve, n_input=len(x), negative_fraction=float(np.mean(w < 0)),
               n_train=len(x_train), n_eff_train=effective_sample_size(w_train),
               n_test=len(x_test), n_generated=len(x_gen), n_truth=len(x_truth),
               unweight_s=t_unweight, worth_s=t_worth, failures=failures)
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
