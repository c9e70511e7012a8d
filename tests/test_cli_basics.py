from __future__ import annotations

import subprocess
import sys

from flowstats import __version__
from flowstats.cli import main


def test_version(capsys):
    assert main(["--version"]) == 0
    assert __version__ in capsys.readouterr().out


def test_help_lists_commands(capsys):
    assert main(["--help"]) == 0
    out = capsys.readouterr().out
    assert "Usage" in out


def test_unknown_command_is_usage_error():
    proc = subprocess.run([sys.executable, "-m", "flowstats", "nonsense"], capture_output=True,
                          text=True)
    assert proc.returncode == 2
    assert "Traceback" not in proc.stderr


def test_unweight_stays_the_function_after_submodule_imports():
    import flowstats
    import flowstats.unweighting.compare  # noqa: F401

    assert callable(flowstats.unweight) and flowstats.unweight.__name__ == "unweight"


def test_every_subcommand_has_help(capsys):
    from flowstats.cli import COMMANDS

    for name in COMMANDS:
        assert main([name, "--help"]) == 0, name
        assert "Usage" in capsys.readouterr().out
    for sub in ("dijet", "dijet-variant", "nlo"):
        assert main(["generate", sub, "--help"]) == 0
