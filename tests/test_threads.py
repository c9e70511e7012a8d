"""One number of threads for torch, OpenMP and BLAS (flowstats._threads, issue 27), and the CLI's --threads.."""

from __future__ import annotations

import json
import os
import subprocess
import sys

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


def _fresh(arg: str, **env: str) -> dict:
    clean = {k: v for k, v in os.environ.items()
             if k not in ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS",
                          "OMP_WAIT_POLICY", "FLOWSTATS_THREADS")}
    out = subprocess.run([sys.executable, "-c", SCRIPT.format(arg=arg)], capture_output=True,
                         text=True, check=True, env={**clean, **env})
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
    clean = {k: v for k, v in os.environ.items()
             if k not in ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS",
                          "FLOWSTATS_THREADS")}
    code = ("import os, sys; from flowstats.cli import main; "
            "code = main(['--threads', '1', 'generate', '--help']); "
            "print(os.environ['OMP_NUM_THREADS'], os.environ['OPENBLAS_NUM_THREADS'])")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True, env=clean)
    assert out.stdout.split()[-2:] == ["1", "1"]
