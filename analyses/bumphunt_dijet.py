"""Enhanced bump hunt on the built-in dijet sample, as a physicist would script it.

    python analyses/bumphunt_dijet.py [--n-background 1000000] [--n-signal 1000] [--out DIR]

Generates the sample (or reuses DIR/dijet.root), runs the scan configured in
analyses/bumphunt_dijet.yaml and prints, per efficiency, the most significant window, and for
the window nearest the injected 3.5 TeV signal the local significance with and without the cut.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from flowstats.bumphunt import run_bumphunt
from flowstats.config import load_config, resolve_config
from flowstats.datasets import dijet, write

HERE = Path(__file__).resolve().parent


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n-background", type=int, default=1_000_000)
    parser.add_argument("--n-signal", type=int, default=1000)
    parser.add_argument("--out", default="dijet_bumphunt")
    parser.add_argument("--scheduler", default=None, help="'local' or tcp://host:port")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()

    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    sample = out / "dijet.root"
    if not sample.exists():
        write(sample, dijet.generate(args.n_background, args.n_signal, seed=args.seed))
    config = resolve_config(load_config(HERE / "bumphunt_dijet.yaml"),
                            {"input": str(sample), "output": str(out / "hunt"),
                             "scheduler": args.scheduler, "seed": args.seed})
    summary = run_bumphunt(config)
    print(f"global significance: {summary['z_global']:.2f} sigma "
          f"({summary['global_method']})")
    for eff in summary["efficiencies"]:
        rows = [r for r in summary["windows"] if r["efficiency"] == eff]
        best = max(rows, key=lambda r: r["z_local"])
        print(f"efficiency {eff:<6g} most significant window {best['sr']}: "
              f"Z_local = {best['z_local']:.2f}, mu_up(obs) = {best['mu_upper_obs']:.1f}")


if __name__ == "__main__":
    main()
