r"""Benchmark of flowstats.stats on the published ATLAS sbottom likelihood (RegionA 1300_205_60).

In the same process, alternating, ``--repeat`` times each, on the same pyhf back end:

1. **direct pyhf**: read ``BkgOnly.json`` and the JSON patch, ``Workspace.model(patches=...)``,
   ``pyhf.infer.hypotest(1.0, ..., test_stat="qtilde", return_expected_set=True)``;
2. **flowstats fit (CLs only)**: the in-process CLI ``flowstats fit WS --patch P --no-limits
   --no-mle --no-discovery`` - the same work (read, schema validation, patch, model, CLs with
   the expected band) - whose overhead over (1) is the figure of merit (target <= 10 %);
3. **flowstats fit (full)**: the default command (CLs, Z0, mu-hat with HESSE/MINOS, observed
   and expected 95 % CLs limits), reported in units of one direct hypotest.

4. **window_significance**: sideband fit + single-bin workspace + Z0 + 6 limits, for
   ``--windows`` sliding 400 GeV windows on a background-only dijet spectrum (200k events):
   seconds per window (the bump hunt calls it ~25 windows x 4 efficiencies).

The best wall-clock and CPU times (``time.process_time``, less sensitive to other jobs on a
shared machine) are printed; with jax installed the same is run on ``--backend jax`` (after a
compiling warm-up call).

Usage: ``python benchmarks/bench_stats.py [--repeat 3] [--full-repeat 1] [--windows 25]
[--json PATH]``
"""

from __future__ import annotations

import argparse
import contextlib
import importlib.util
import io
import json
import tarfile
import tempfile
import time
from pathlib import Path

import pyhf
from _report import write_json

from flowstats.cli import main
from flowstats.stats import infer

DATA = Path(__file__).resolve().parents[1].parent / "shared" / "data"
TARBALL = DATA / "atlas_ins1748602_sbottom_likelihoods.tar.gz"
POINT = "RegionA/patch.sbottom_1300_205_60.json"


def timed(fn):
    w, c = time.perf_counter(), time.process_time()
    out = fn()
    return time.perf_counter() - w, time.process_time() - c, out


def direct_pyhf(ws_path: Path, patch_path: Path, backend: str):
    pyhf.set_backend(backend)
    ws = pyhf.Workspace(json.loads(ws_path.read_text()))
    model = ws.model(patches=[json.loads(patch_path.read_text())],
                     modifier_settings={"normsys": {"interpcode": "code4"},
                                        "histosys": {"interpcode": "code4p"}})
    obs, exp = pyhf.infer.hypotest(1.0, ws.data(model), model, test_stat="qtilde",
                                   return_expected_set=True)
    return float(obs), [float(x) for x in exp]


def flowstats_fit(ws_path: Path, patch_path: Path, backend: str, *extra: str) -> dict:
    buf = io.StringIO()
    with contextlib.redirect_stdout(buf):
        code = main(["fit", str(ws_path), "--patch", str(patch_path), "--backend", backend,
                     *extra])
    if code != 0:
        raise SystemExit(f"flowstats fit failed with exit code {code}")
    return json.loads(buf.getvalue())


def run(backend: str, ws_path: Path, patch_path: Path, repeat: int,
        full_repeat: int) -> list[dict]:
    if backend == "jax":  # compile first
        direct_pyhf(ws_path, patch_path, backend)
        flowstats_fit(ws_path, patch_path, backend, "--no-limits", "--no-mle", "--no-discovery")
    t_py, t_fs = [], []
    for _ in range(repeat):
        t_py.append(timed(lambda: direct_pyhf(ws_path, patch_path, backend)))
        t_fs.append(timed(lambda: flowstats_fit(ws_path, patch_path, backend, "--no-limits",
                                                "--no-mle", "--no-discovery")))
    ref_obs, ref_exp = t_py[0][2]
    out = t_fs[0][2]
    best_py = min(t[0] for t in t_py), min(t[1] for t in t_py)
    best_fs = min(t[0] for t in t_fs), min(t[1] for t in t_fs)
    print(f"[{backend}] CLs obs: pyhf {ref_obs:.8f}, flowstats {out['cls_obs']:.8f} "
          f"(reference 0.24443628); expected band flowstats "
          f"{[round(x, 5) for x in out['cls_exp']]} (pyhf {[round(x, 5) for x in ref_exp]})")
    print(f"[{backend}] direct pyhf hypotest:          wall {best_py[0]:7.2f} s  cpu "
          f"{best_py[1]:7.2f} s  (best of {repeat})")
    print(f"[{backend}] flowstats fit (CLs only):      wall {best_fs[0]:7.2f} s  cpu "
          f"{best_fs[1]:7.2f} s  -> overhead wall {100 * (best_fs[0] / best_py[0] - 1):+.1f} %"
          f", cpu {100 * (best_fs[1] / best_py[1] - 1):+.1f} % (target <= +10 %)")
    rows = [{"backend": backend, "task": "direct pyhf hypotest", "wall_s": best_py[0],
             "cpu_s": best_py[1], "repeat": repeat, "cls_obs": ref_obs, "cls_exp": ref_exp},
            {"backend": backend, "task": "flowstats fit (CLs only)", "wall_s": best_fs[0],
             "cpu_s": best_fs[1], "repeat": repeat, "cls_obs": out["cls_obs"],
             "cls_exp": out["cls_exp"], "overhead_wall": best_fs[0] / best_py[0] - 1,
             "overhead_cpu": best_fs[1] / best_py[1] - 1}]
    for _ in range(full_repeat):
        w, c, full = timed(lambda: flowstats_fit(ws_path, patch_path, backend))
        print(f"[{backend}] flowstats fit (full: CLs, Z0, MLE+MINOS, 6 limits): wall {w:7.2f} s"
              f"  cpu {c:7.2f} s = {c / best_py[1]:.1f} direct hypotests (cpu); "
              f"{full['n_fits']} hypotest fits; mu_upper_obs {full['mu_upper_obs']:.4f}, "
              f"mu_upper_exp {[round(x, 4) for x in full['mu_upper_exp']]}")
        rows.append({"backend": backend, "task": "flowstats fit (full)", "wall_s": w,
                     "cpu_s": c, "repeat": 1, "direct_hypotests_cpu": c / best_py[1],
                     "n_fits": full["n_fits"], "mu_upper_obs": full["mu_upper_obs"],
                     "mu_upper_exp": full["mu_upper_exp"]})
    return rows


def windows(n: int) -> dict:
    import numpy as np

    from flowstats.datasets import dijet
    from flowstats.stats import window_significance

    mjj = dijet.generate(200_000, n_signal=0, seed=1)["mjj"]
    edges = np.linspace(2800.0, 5800.0, 61)
    counts = np.histogram(mjj, edges)[0].astype(float)
    centres = np.linspace(3200.0, 5200.0, n)
    w, c, res = timed(lambda: [window_significance((counts, edges), (m - 200.0, m + 200.0),
                                                   resolution=0.05 * m) for m in centres])
    z = [r.z_local for r in res]
    print(f"window_significance: {n} windows in wall {w:.2f} s, cpu {c:.2f} s -> "
          f"{c / n:.3f} s cpu per window ({100 * c / n:.0f} s cpu for 100 windows); "
          f"background only: max z_local {max(z):.2f}")
    return {"backend": "numpy", "task": "window_significance", "windows": n, "wall_s": w,
            "cpu_s": c, "cpu_s_per_window": c / n, "max_z_local": max(z)}


def main_() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--full-repeat", type=int, default=1)
    ap.add_argument("--windows", type=int, default=25)
    ap.add_argument("--json", default=None, help="also write the results to this JSON file")
    args = ap.parse_args()
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        with tarfile.open(TARBALL) as tar:
            members = [m for m in tar.getmembers()
                       if m.name in ("RegionA/BkgOnly.json", POINT)]
            tar.extractall(tmp, members=members, filter="data")
        ws_path, patch_path = Path(tmp) / "RegionA/BkgOnly.json", Path(tmp) / POINT
        backends = ["numpy"] + (["jax"] if importlib.util.find_spec("jax") else [])
        if len(backends) == 1:
            print("jax is not installed: numpy back end only")
        for backend in backends:
            rows += run(backend, ws_path, patch_path, args.repeat, args.full_repeat)
    infer.set_backend("numpy")
    if args.windows:
        rows.append(windows(args.windows))
    write_json(args.json, "stats", rows, point=POINT)


if __name__ == "__main__":
    main_()
