"""CLs of published ATLAS sbottom signal points (HEPData ins1748602) with flowstats.

    python analyses/atlas_sbottom_limits.py [../shared/data/atlas_ins1748602_sbottom_likelihoods.tar.gz]

Extracts the tarball into a temporary directory (the input is never modified) and prints the
observed and expected CLs of a few signal points, as `flowstats fit BkgOnly.json --patch ...`
would, next to the values pyhf's own regression tests hold.
"""

from __future__ import annotations

import sys
import tarfile
import tempfile
from pathlib import Path

from flowstats.stats import infer
from flowstats.stats.workspace import apply_patch, load_model, read_patch, read_workspace

REFERENCE = {  # pyhf's regression values (observed CLs)
    ("RegionA", "sbottom_1300_205_60"): 0.24443628,
    ("RegionA", "sbottom_1400_950_60"): 0.0213733,
    ("RegionA", "sbottom_1500_850_60"): 0.0453672,
    ("RegionB", "sbottom_1400_550_60"): 0.9744675,
    ("RegionC", "sbottom_1600_850_60"): 0.7110237,
}


def main() -> None:
    default = Path(__file__).resolve().parents[2] / "shared" / "data" / \
        "atlas_ins1748602_sbottom_likelihoods.tar.gz"
    tarball = Path(sys.argv[1]) if len(sys.argv) > 1 else default
    with tempfile.TemporaryDirectory() as tmp:
        with tarfile.open(tarball) as tar:
            tar.extractall(tmp, filter="data")
        print(f"{'region':8s} {'signal point':22s} {'CLs obs':>10s} {'reference':>10s}  CLs exp (-2..+2 sigma)")
        for (region, point), ref in REFERENCE.items():
            spec = read_workspace(Path(tmp) / region / "BkgOnly.json")
            patch = read_patch(Path(tmp) / region / f"patch.{point}.json")
            _, model, data = load_model(apply_patch(spec, patch))
            res = infer.hypotest(model, data, 1.0)
            exp = ", ".join(f"{v:.5f}" for v in res["cls_exp"])
            print(f"{region:8s} {point:22s} {res['cls_obs']:10.7f} {ref:10.7f}  [{exp}]")


if __name__ == "__main__":
    main()
