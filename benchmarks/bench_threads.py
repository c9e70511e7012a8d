"""Two flowstats jobs on one machine: how much each slows the other (issue 27, threads).

Runs the same ``flowstats score`` job (the default method on ``flowstats generate dijet``,
``--n-background`` events, SR 3.3-3.7 TeV) alone, then two copies, the second started
``--stagger`` seconds after the first, and prints each copy's wall time (from its own start)
over the lone job's: the slowdown. With the machine's cores shared by two jobs, about 2 is what
the sharing explains; more is threads oversubscribing (torch, OpenMP and BLAS pools of more
threads than cores, spinning while they wait).

Every setting (``--settings``) is measured in the same run, alone and paired:

* ``default``: the job as a user runs it (no number of threads given: the running flowstats
  jobs share the cores, ``flowstats._threads``);
* ``all``: ``flowstats --threads <cores>``, every job on every core (the default before the
  sharing);
* ``passive``: ``--threads <cores>`` with ``OMP_WAIT_POLICY=PASSIVE`` (waiting OpenMP threads
  sleep);
* ``one``: ``flowstats --threads 1`` (each job on one core: its share of 2 cores).

Measured on 2 cores (300k events, started together), before the sharing: every job on every
core 62 s alone, 729 s paired (11.8x); passive 105 s alone, 92 s paired; one 79.5 s alone, 80 s
paired. With the sharing (``default``): 66.9 s alone, 85.4 s paired (1.28x); the second
started 20 s later (``--stagger 20``): 68.0 s alone, 80.3 s paired (1.18x). ``all`` takes about
15 minutes.

    python benchmarks/bench_threads.py [--n-background 300000] [--stagger 0] [--json PATH]
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from _report import write_json

from flowstats._threads import available_cores

CORES = str(available_cores())  # what the library shares
SETTINGS = {
    "default": ([], {}),
    "all": (["--threads", CORES], {}),
    "passive": (["--threads", CORES], {"OMP_WAIT_POLICY": "PASSIVE"}),
    "one": (["--threads", "1"], {}),
}


def _command(tmp: Path, tag: str, extra: list[str]) -> list[str]:
    return [sys.executable, "-m", "flowstats", *extra, "score", str(tmp / "dijet.root"),
            "--features", "mj1,delta_mj,tau21_j1,tau21_j2", "--sr", "3300:3700",
            "--seed", "1", "--device", "cpu", "-o", str(tmp / f"scores_{tag}.root"), "--force"]


def _env(overrides: dict[str, str]) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items()
           if k not in ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS",
                        "FLOWSTATS_THREADS", "OMP_WAIT_POLICY", "GOMP_SPINCOUNT")}
    return {**env, **overrides}


def _run(commands: list[list[str]], env: dict[str, str], stagger: float = 0.0) -> list[float]:
    r"""Starts the commands ``stagger`` seconds apart; the wall seconds of each from its start."""
    t0, procs = [], []
    for k, c in enumerate(commands):
        if k:
            time.sleep(stagger)
        t0.append(time.perf_counter())
        procs.append(subprocess.Popen(c, env=env, stdout=subprocess.DEVNULL,
                                      stderr=subprocess.PIPE))
    seconds = [0.0] * len(procs)
    pending = set(range(len(procs)))
    while pending:
        for i in list(pending):
            if procs[i].poll() is not None:
                seconds[i] = time.perf_counter() - t0[i]
                pending.discard(i)
                if procs[i].returncode != 0:
                    raise RuntimeError(procs[i].stderr.read().decode())
        time.sleep(0.05)
    return seconds


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n-background", type=int, default=300_000)
    parser.add_argument("--settings", nargs="+", default=list(SETTINGS), choices=list(SETTINGS))
    parser.add_argument("--stagger", type=float, default=0.0,
                        help="seconds between the starts of the paired jobs")
    parser.add_argument("--json", default=None, help="also write the table to this JSON file")
    args = parser.parse_args(argv)
    rows = []
    with tempfile.TemporaryDirectory() as name:
        tmp = Path(name)
        subprocess.run([sys.executable, "-m", "flowstats", "generate", "dijet", "-o",
                        str(tmp / "dijet.root"), "--n-background", str(args.n_background),
                        "--n-signal", "300", "--seed", "1"], check=True)
        print(f"{'setting':10s}{'alone s':>9s}{'paired s':>18s}{'slowdown':>10s}")
        for setting in args.settings:
            extra, env = SETTINGS[setting]
            env = _env({**env, "FLOWSTATS_JOBS_DIR": str(tmp / "jobs")})
            alone = _run([_command(tmp, "alone", extra)], env)[0]
            paired = _run([_command(tmp, f"pair{k}", extra) for k in (0, 1)], env, args.stagger)
            slowdown = max(paired) / alone
            rows.append({"setting": setting, "alone_s": alone, "paired_s": paired,
                         "slowdown": slowdown, "stagger_s": args.stagger})
            print(f"{setting:10s}{alone:9.1f}{paired[0]:9.1f}{paired[1]:9.1f}{slowdown:10.2f}",
                  flush=True)
    print("a slowdown of about 2 is the sharing of the cores; the target is at most about 2")
    write_json(args.json, "threads", rows, cores=os.cpu_count())
    return 0


if __name__ == "__main__":
    sys.exit(main())
