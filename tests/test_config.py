from __future__ import annotations

import pytest

from flowstats.cli import main
from flowstats.config import load_config, resolve_config, schema, validate
from flowstats.exceptions import ConfigError


def test_schema_ships_with_package():
    s = schema()
    assert s["additionalProperties"] is False
    assert "features" in s["properties"]


def test_unknown_key_named_with_suggestion(tmp_path):
    cfg = tmp_path / "a.yaml"
    cfg.write_text("input: x.root\nfeaturs: [a]\nsr: [1, 2]\n")
    with pytest.raises(ConfigError, match=r"unknown key 'featurs' \(did you mean 'features'\?\)"):
        load_config(cfg)


def test_nested_unknown_key(tmp_path):
    with pytest.raises(ConfigError, match=r"'scan.rnage'"):
        validate({"scan": {"rnage": [1, 2]}})


def test_bad_value_says_where():
    with pytest.raises(ConfigError, match=r"'efficiency.0'"):
        validate({"efficiency": [2.0]})


def test_resolve_defaults_and_overrides():
    cfg = resolve_config({"input": "x.root", "features": ["a"], "sr": [1, 2], "seed": 3},
                         {"seed": None, "method": "anode"})
    assert cfg["seed"] == 3  # None does not override
    assert cfg["method"] == "anode"
    assert cfg["efficiency"] == [0.1, 0.01, 0.001]


def test_sr_and_scan_exclusive():
    with pytest.raises(ConfigError, match="exclude"):
        resolve_config({"input": "x", "features": ["a"], "sr": [1, 2], "scan": {"range": [1, 3]}})
    with pytest.raises(ConfigError, match="either"):
        resolve_config({"input": "x", "features": ["a"]})


def test_cli_unknown_key_exit_2(tmp_path, capsys):
    cfg = tmp_path / "a.yaml"
    cfg.write_text("input: x.root\nfeatures: [a]\nsr: [1, 2]\nbinwidth: 50\n")
    assert main(["bumphunt", "--config", str(cfg), "-o", str(tmp_path / "o")]) == 2
    err = capsys.readouterr().err
    assert "unknown key 'binwidth'" in err and "bin_width" in err
    assert "Traceback" not in err
    assert not (tmp_path / "o").exists()


def test_example_configs_are_valid():
    from pathlib import Path

    configs = sorted((Path(__file__).parents[1] / "analyses").glob("*.yaml"))
    for path in configs:
        if path.name.startswith("bumphunt"):
            load_config(path)
