"""The commands of the README and the guide pages' marked blocks run as written (in a temporary directory)."""

from __future__ import annotations

import json
import os
import re
import shlex
import shutil
import subprocess
import sys
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest

ROOT = Path(__file__).resolve().parents[1]


#: the documents whose marked blocks are run: the README and the documentation's guide pages
DOCUMENTS = [ROOT / "README.md", *sorted((ROOT / "docs" / "guide").glob("*.md"))]
_MARKED = re.compile(r"<!-- (?:readme|doc)-test: (\w+) -->\s*```(bash|python)\n(.*?)```", re.S)


def _marked() -> dict[str, tuple[str, str]]:
    r"""Every marked block: name -> (language, body); a name is used once in all documents."""
    found: dict[str, tuple[str, str]] = {}
    for doc in DOCUMENTS:
        for name, language, body in _MARKED.findall(doc.read_text()):
            assert name not in found, f"block {name!r} is marked twice ({doc.name})"
            found[name] = (language, body)
    return found


def _blocks() -> dict[str, list[str]]:
    return {name: [line for line in body.splitlines() if line.strip()]
            for name, (language, body) in _marked().items() if language == "bash"}


#: runs a README block's commands one after another in one fresh Python process, through the
#: console script's own entry point (flowstats.cli.main), each with its own stdout and stderr:
#: what a shell would do, without paying the imports (torch, pyhf, matplotlib: ~4 s) per line
_RUNNER = r"""
import contextlib, io, json, logging, sys
from flowstats.cli import main
done = []
for argv in json.loads(sys.argv[1]):
    out, err = io.StringIO(), io.StringIO()
    logging.root.handlers.clear()  # the CLI's logging writes to this command's stderr
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        rc = main(argv)
    done.append({"returncode": rc, "stdout": out.getvalue(), "stderr": err.getvalue()})
    if rc:
        break
with open(sys.argv[2], "w") as f:
    json.dump(done, f)
"""


def _run(lines: list[str], cwd: Path) -> list[SimpleNamespace]:
    commands = []
    for line in lines:
        argv = shlex.split(line)
        assert argv[0] == "flowstats", line
        commands.append(argv[1:])
    report = cwd / ".readme_run.json"
    env = dict(os.environ)
    if env.get("PYTEST_XDIST_WORKER"):
        # one thread per pytest-xdist worker, as in the workers themselves (conftest.py)
        env["OMP_NUM_THREADS"] = "1"
    proc = subprocess.run([sys.executable, "-c", _RUNNER, json.dumps(commands), str(report)],
                          cwd=cwd, capture_output=True, text=True, timeout=900, env=env)
    assert proc.returncode == 0, proc.stderr[-3000:]
    done = [SimpleNamespace(**r) for r in json.loads(report.read_text())]
    report.unlink()
    for line, r in zip(lines, done):
        assert r.returncode == 0, f"{line}\n{r.stderr[-3000:]}"
    assert len(done) == len(lines)
    return done


@pytest.fixture
def workdir(tmp_path, shared_data):
    # the README refers to ../shared/data relative to the project root
    work = tmp_path / "project"
    work.mkdir()
    (tmp_path / "shared" / "data").mkdir(parents=True)
    shutil.copy(shared_data / "zjets_fxfx_mg5amcnlo_7tev.lhe.gz", tmp_path / "shared" / "data")
    return work


def test_readme_has_the_fresh_machine_commands():
    text = (ROOT / "README.md").read_text()
    assert "make demo" in text and "make test" in text and "make docs" in text
    ci = (ROOT / ".ci" / "run").read_text()
    assert "make test" in ci and "make docs" in ci


def test_readme_is_short_and_every_command_in_it_is_run():
    text = (ROOT / "README.md").read_text()
    assert len(text.splitlines()) <= 150
    tested = {line.strip() for lines in _blocks().values() for line in lines}
    commands = [line.strip() for body in re.findall(r"```bash\n(.*?)```", text, re.S)
                for line in body.splitlines() if line.strip().startswith("flowstats ")]
    assert commands and set(commands) <= tested
    # the guide pages include the README's blocks rather than copying them
    for name in ("bumphunt", "unweight"):
        assert f"<!-- end: {name} -->" in text


def test_readme_links_point_at_files():
    text = (ROOT / "README.md").read_text()
    links = re.findall(r"\]\((docs/[^)#]+)", text)
    assert links
    for link in links:
        assert (ROOT / link).is_file(), link


def test_readme_bumphunt(workdir):
    procs = _run(_blocks()["bumphunt"], workdir)
    summary = json.loads((workdir / "hunt" / "summary.json").read_text())
    assert {tuple(r["sr"]) for r in summary["windows"]} == {(2900.0, 3300.0), (3300.0, 3700.0)}
    assert {r["efficiency"] for r in summary["windows"]} == {1.0, 0.2, 0.05}
    # --classifier and --kind reach the score options, recorded with the configuration
    used = summary["provenance"]["config"]["score_options"]
    assert used["classifier"] == "hgb" and used["flow"]["kind"] == "maf"
    closure = summary["closure"]
    # latent-space CATHODE does not sculpt m: the verdict is "pass". Its threshold is
    # closure_alpha / n_tests = 0.01 / 4 (a chance failure in at most 1 % of runs); the
    # smallest of the 4 p-values is 0.27 (chi2 22.4 / 19 ndf, 2900-3300 at efficiency 0.05;
    # the others 0.34, 0.92, 0.96), 100 times the threshold: no retraining changes the verdict
    assert closure["n_tests"] == 4 and closure["threshold"] == pytest.approx(0.01 / 4)
    assert closure["verdict"] == "pass", closure
    assert (workdir / "hunt" / "plots" / "closure_w01.png").exists()
    fit = json.loads(procs[-1].stdout)
    assert {"mu_hat", "z0", "cls_obs", "cls_exp", "mu_upper_obs", "mu_upper_exp"} <= set(fit)
    # the README's Python lines read the result as written
    language, code = _marked()["results"]
    assert language == "python"
    run = subprocess.run([sys.executable, "-c", code], cwd=workdir, capture_output=True,
                         text=True, timeout=120)
    assert run.returncode == 0, run.stderr[-2000:]
    lines = run.stdout.splitlines()
    # the table's header, one line per window and efficiency, the global line
    assert len(lines) == len(summary["windows"]) + 2
    assert lines[-1] == f"global Z: {summary['z_global']} closure: {closure['verdict']}"


def test_readme_unweight(workdir):
    procs = _run(_blocks()["unweight"], workdir)
    conv = json.loads(procs[0].stdout)
    assert conv["n_events"] == 10_000
    report = json.loads((workdir / "unweight_report" / "summary.json").read_text())
    assert set(report["features"]) == {"pt", "y", "m"}
    assert "worth" in report
    # whole events: ROOT and LHE outputs with the report's never-trained observables
    events = json.loads(procs[-1].stdout)
    assert events["n"] == 5000 and events["lhe"]["n_events"] == 5000
    assert (workdir / "zjets_events.lhe.gz").is_file()
    never = {k: v["p_value"] for k, v in events["observables"].items() if not v["trained"]}
    assert set(never) >= {"lep1_eta", "dR_ll", "cos_theta_cs"}
    # the observables the flows never saw follow the input: a correct model gives uniform
    # p-values, so the chance that any of the n (12) falls below 0.001 / n is at most 0.001
    # (Bonferroni). Observed (seed 0): smallest 0.0028 (HT), 34 times 0.001 / 12
    assert min(never.values()) > 0.001 / len(never), never
    assert events["never_trained_min_p_value"] == min(never.values())


def test_readme_own_data_z_peak(workdir):
    # the real FxFx sample (weighted, 18.5 % negative) scanned across the Z peak
    _run(_blocks()["owndata"], workdir)
    summary = json.loads((workdir / "zscan" / "summary.json").read_text())
    rows = summary["windows"]
    windows = {tuple(r["sr"]) for r in rows}
    assert len(windows) == 10
    # the Z: found in a window containing 91.19 GeV, with a finite (log-space) significance
    lo, hi = summary["best_window"]
    assert lo <= 91.1876 < hi
    assert np.isfinite(summary["z_global"]) and summary["z_global"] > 10
    assert np.isfinite(summary["log10_p_global"]) and summary["log10_p_global"] < -20
    # the windows with fewer than 100 events are skipped, the scan went on
    skipped = {tuple(r["sr"]) for r in rows if r["status"].startswith("skipped")}
    assert skipped == {(108.0, 116.0), (112.0, 120.0)}
    assert summary["n_windows_skipped"] == 2
    # the sideband fits next to the peak are judged poor and say so; the weights were used
    poor = [r for r in rows if r["status"].startswith("poor fit")]
    assert poor and all(r["fit_pvalue"] < 0.01 for r in poor)
    done = [r for r in rows if "weight_scale" in r]
    assert done and all(0 < r["weight_scale"] < 1e-3 for r in done)  # 1 / (5394 pb) scale
    assert {r["fit_function"][:4] for r in done} <= {"dije", "expo", "powe"}
    assert summary["closure"]["n_tests"] > 0
    assert (workdir / "zscan" / "plots" / "closure_w07.png").exists()


def test_guide_evaluate(workdir):
    # a flow trained on background-only events scores an unseen signal by -log p
    procs = _run(_blocks()["evaluate"], workdir)
    summary = json.loads(procs[-1].stdout)
    assert summary["n_events"] == 22_000 and summary["n_outside_domain"] == 0
    assert summary["auc"] > 0.75
    assert set(summary["at_eps_b"]) == {"0.01", "0.001", "0.0001"}
    assert summary["at_eps_b"]["0.01"]["eps_s"] > 0.01  # more signal than background kept
    assert (workdir / "density.root").is_file()
