"""One number of threads for torch, OpenMP and BLAS (flowstats._threads, issue 27), and the CLI's --threads.."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time

import torch

from flowstats._threads import configure

SCRIPT = """
import json, os, sys
from flowstats._threads import configure
n = configure({arg})
numpy_first = "numpy" in sys.modules  # numpy's BLAS reads its variable when it loads
import torch
print(json.dumps({{"n": n, "torch": torch.get_num_threads(), "numpy_first": numpy_first,
                  "env": {{k: os.environ.get(k) for k in
                          ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS",
                           "OMP_WAIT_POLICY")}}}}))
"""


def _clean_env(**env: str) -> dict[str, str]:
    r"""This process's environment without any thread setting, plus ``env``."""
    clean = {k: v for k, v in os.environ.items()
             if k not in ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS",
                          "OMP_WAIT_POLICY", "FLOWSTATS_THREADS")}
    return {**clean, **env}


def _fresh(arg: str, **env: str) -> dict:
    out = subprocess.run([sys.executable, "-c", SCRIPT.format(arg=arg)], capture_output=True,
                         text=True, check=True, env=_clean_env(**env))
    return json.loads(out.stdout)


def test_a_fresh_process_gets_one_number_everywhere():
    got = _fresh("1")
    assert got["n"] == 1 and got["torch"] == 1
    assert not got["numpy_first"]
    assert got["env"] == {"OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1",
                          "OPENBLAS_NUM_THREADS": "1", "OMP_WAIT_POLICY": None}


def test_the_environment_chooses_when_no_number_is_given():
    assert _fresh("None", FLOWSTATS_THREADS="1")["torch"] == 1
    got = _fresh("None", OMP_NUM_THREADS="1", OMP_WAIT_POLICY="PASSIVE")
    assert got["n"] == 1 and got["env"]["OMP_WAIT_POLICY"] == "PASSIVE"  # the user's kept
    assert _fresh("None", OMP_NUM_THREADS="1", FLOWSTATS_THREADS="2")["n"] == 2


def test_a_session_with_torch_loaded_keeps_its_threads_unless_told():
    before = torch.get_num_threads(), os.environ.get("OMP_NUM_THREADS")
    assert configure(None) is None
    assert (torch.get_num_threads(), os.environ.get("OMP_NUM_THREADS")) == before


def test_the_cli_sets_every_pool(tmp_path):
    code = ("import os, sys; from flowstats.cli import main; "
            "code = main(['--threads', '1', 'generate', '--help']); "
            "print(os.environ['OMP_NUM_THREADS'], os.environ['OPENBLAS_NUM_THREADS'])")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True, env=_clean_env())
    assert out.stdout.split()[-2:] == ["1", "1"]


PROBE = """
import json, sys, time
from pathlib import Path
from flowstats._threads import configure, rebalance, summary
first = configure(None)
import torch
seen = [torch.get_num_threads()]
stop, end = Path(sys.argv[1]), time.monotonic() + float(sys.argv[2])
while time.monotonic() < end and not stop.exists():
    seen.append(rebalance() or seen[-1])
    time.sleep(0.05)
end = time.monotonic() + float(sys.argv[3])
while time.monotonic() < end:
    seen.append(rebalance() or seen[-1])
    time.sleep(0.05)
print(json.dumps({"first": first, "seen": seen, "summary": summary()}))
"""


def _probe(tmp_path, stop: str, run: float, after: float) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-c", PROBE, str(tmp_path / stop), str(run),
                             str(after)], stdout=subprocess.PIPE, text=True,
                            env=_clean_env(FLOWSTATS_JOBS_DIR=str(tmp_path / "jobs")))


def _wait_for(condition, seconds: float = 60.0) -> None:
    end = time.monotonic() + seconds
    while not condition():
        assert time.monotonic() < end, "timed out"
        time.sleep(0.05)


def test_jobs_started_without_a_number_share_the_cores(tmp_path):
    # a job alone runs on every core; a second job starts on its share, and the first drops
    # to its share within INTERVAL seconds and comes back when the second has ended
    from flowstats._threads import INTERVAL, available_cores

    cores = available_cores()
    share = max(1, cores // 2)
    first = _probe(tmp_path, "second-done", 120, 4 * INTERVAL)
    jobs = tmp_path / "jobs"
    _wait_for(lambda: jobs.exists() and len(list(jobs.iterdir())) == 1)
    second = _probe(tmp_path, "never", 4 * INTERVAL, 0)
    got2 = json.loads(second.communicate(timeout=120)[0])
    (tmp_path / "second-done").touch()
    got1 = json.loads(first.communicate(timeout=120)[0])
    assert got1["first"] == cores and got1["seen"][0] == cores
    assert got2["first"] == share and got2["summary"]["mode"] == "shared"
    assert share in got1["seen"] and got1["seen"][-1] == cores
    assert got1["summary"] == {"mode": "shared", "budget": cores,
                               "used": sorted({cores, share})}
    assert list(jobs.iterdir()) == []  # both removed themselves


def test_a_number_given_is_kept_and_registers_nothing(tmp_path):
    got = _fresh("1", FLOWSTATS_JOBS_DIR=str(tmp_path / "jobs"))
    assert got["n"] == 1 and not (tmp_path / "jobs").exists()


def test_the_files_of_ended_jobs_are_dropped(tmp_path, monkeypatch):
    from flowstats import _threads

    monkeypatch.setenv("FLOWSTATS_JOBS_DIR", str(tmp_path))
    ended = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"],
                           capture_output=True, text=True, check=True)
    (tmp_path / ended.stdout.strip()).write_text("")
    # this process under another start time: a later process reusing the number
    (tmp_path / str(os.getpid())).write_text("0")
    (tmp_path / "notes.txt").write_text("not a job")
    live = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    try:
        (tmp_path / str(live.pid)).write_text(_threads._started(live.pid))
        assert _threads.live_jobs() == 1
        assert sorted(p.name for p in tmp_path.iterdir()) == sorted([str(live.pid), "notes.txt"])
    finally:
        live.kill()
        live.wait()
    assert _threads.live_jobs() == 0


def test_the_provenance_records_the_threads():
    from flowstats._utils import provenance

    got = provenance(0, {})["threads"]
    assert got["mode"] in ("session", "fixed", "shared")
    assert torch.get_num_threads() in got["used"]
