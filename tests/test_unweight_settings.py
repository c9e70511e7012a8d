"""Settings of the unweighting: the shipped schema, YAML files, defaults, ``--config``."""

from __future__ import annotations

import inspect
import json
import os
from pathlib import Path

import numpy as np
import pytest
import uproot

from flowstats.cli import main
from flowstats.config import load_yaml, schema
from flowstats.exceptions import BadInputError, ConfigError, InputFileNotFoundError
from flowstats.io import PROVENANCE_KEY, write_events
from flowstats.unweighting import UnweightSettings, unweight, unweight_from_config

ANALYSES = Path(__file__).absolute().parents[1] / "analyses"
REQUIRED = {"input": "in.root", "features": ["a", "b"], "weight": "w", "n": 100,
            "output": "out.root"}


def toy(path, n=400, seed=0):
    rng = np.random.default_rng(seed)
    w = np.where(rng.random(n) < 0.2, -1.0, 1.0)
    write_events(path, "events", {"a": rng.normal(size=n), "b": rng.exponential(size=n) + 0.1,
                                  "w": w})


def write_yaml(path, text):
    path.write_text(text)
    return path


def test_defaults_are_written_once():
    defaults = UnweightSettings.defaults()
    # unweight() restates none of them: its options are the settings' fields
    params = inspect.signature(unweight).parameters
    assert [p.kind for p in params.values()] == [inspect.Parameter.POSITIONAL_ONLY,
                                                 inspect.Parameter.VAR_KEYWORD]
    properties = schema("unweight")["properties"]
    assert schema("unweight")["additionalProperties"] is False
    assert set(properties) == set(defaults)
    assert {k: v["default"] for k, v in properties.items()} == defaults


def test_unknown_keyword_of_unweight_names_the_closest(tmp_path):
    with pytest.raises(ConfigError, match=r"unweight\(\): unknown key 'epoch' \(did you mean "
                                          r"'epochs'\?\)"):
        unweight(tmp_path / "in.root", features="a", weight="w", n=5, epoch=3,
                 output=tmp_path / "o.root")


def test_unknown_key_named_with_suggestion(tmp_path):
    cfg = write_yaml(tmp_path / "u.yaml", "input: in.root\nfeaturs: [a]\nweight: w\n")
    with pytest.raises(ConfigError, match=r"u.yaml: unknown key 'featurs' \(did you mean "
                                          r"'features'\?\)"):
        UnweightSettings.from_yaml(cfg)
    cfg = write_yaml(tmp_path / "v.yaml", "criteria: {min_p_value: 0.01, max_aux: 0.5}\n")
    with pytest.raises(ConfigError, match=r"'criteria.max_aux' \(did you mean 'max_auc'\?\)"):
        UnweightSettings.from_yaml(cfg)
    with pytest.raises(ConfigError, match=r"unknown key 'epoch' \(did you mean 'epochs'\?\)"):
        UnweightSettings.from_mapping({**REQUIRED, "epoch": 3})


@pytest.mark.parametrize(("key", "value", "error", "match"), [
    ("lr", -1, ConfigError, r"bad value at 'lr'"),
    ("kind", "glow", ConfigError, r"bad value at 'kind': .* \(got 'glow'\)"),
    ("base", "cauchy", ConfigError, r"bad value at 'base'"),
    ("hidden", [32, 0], ConfigError, r"bad value at 'hidden.1'"),
    ("batch_size", "big", ConfigError, r"bad value at 'batch_size'"),
    ("device", "tpu", ConfigError, r"bad value at 'device'"),
    ("mode", "particles", ConfigError, r"bad value at 'mode'"),
    ("bounds", {"a": [0]}, ConfigError, r"bad value at 'bounds.a'"),
    ("criteria", {"min_p_value": 2, "max_auc": 0.5}, ConfigError,
     r"bad value at 'criteria.min_p_value'"),
    ("test_fraction", 1.5, BadInputError, r"test_fraction must be in \(0, 1\), got 1.5"),
    ("n", 0, BadInputError, r"positive integer, got N = 0"),
    ("weight", "a", BadInputError, r"weight branch 'a' is also listed as a feature"),
])
def test_bad_value_names_the_key(key, value, error, match):
    with pytest.raises(error, match=match):
        UnweightSettings.from_mapping({**REQUIRED, key: value}, "u.yaml")


@pytest.mark.parametrize(("missing", "match"), [
    ("input", "no input files given"),
    ("weight", "no weight branch given"), ("n", "no number of events to generate given"),
    ("output", "no output file given")])
def test_missing_required_option(missing, match):
    data = {k: v for k, v in REQUIRED.items() if k != missing}
    with pytest.raises(BadInputError, match=match):
        UnweightSettings.from_mapping(data)


def test_analysis_configs_are_valid():
    configs = sorted(ANALYSES.glob("unweight*.yaml"))
    assert configs
    for path in configs:
        raw = load_yaml(path, "unweight")  # the file as written
        settings = UnweightSettings.from_yaml(path, {"output": "o.root"})
        # read paths are relative to the YAML file, wherever it is run from
        assert settings.input == [os.path.normpath(path.parent / raw["input"])]
        assert settings.criteria is None or set(settings.criteria.to_dict()) == {"min_p_value",
                                                                                  "max_auc"}
        assert settings.criteria is None or 0 < settings.criteria["max_auc"] <= 1


def test_python_values_round_trip():
    settings = UnweightSettings.from_mapping({
        "input": Path("in.root"), "features": "a, b", "weight": "w", "n": np.int64(10),
        "output": Path("out.root"), "hidden": (16, 16), "bounds": {"a": (0, 1)},
        "split_on": (), "positive": None, "lr": np.float32(0.5), "kind": "MAF"})
    assert settings.input == ["in.root"] and settings.features == ["a", "b"]
    assert settings.n == 10 and type(settings.n) is int
    assert settings.hidden == [16, 16] and settings.bounds == {"a": [0, 1]}
    assert settings.kind == "maf" and settings.positive is None
    data = settings.to_dict()
    assert json.loads(json.dumps(data)) == data
    assert UnweightSettings.from_mapping(data) == settings
    assert settings.replace(epochs=3).epochs == 3
    with pytest.raises(ConfigError, match="'epochs'"):
        settings.replace(epochs="many")


def test_unweight_keeps_its_messages(tmp_path):
    args = {"features": ["a"], "weight": "w", "output": tmp_path / "o.root"}
    with pytest.raises(BadInputError, match="positive integer, got N = -1"):
        unweight(tmp_path / "in.root", n=-1, **args)
    with pytest.raises(ConfigError, match=r"unweight\(\): bad value at 'kind'"):
        unweight(tmp_path / "in.root", n=5, kind="glow", **args)
    assert not any(tmp_path.iterdir())


def test_mode_resolution_and_events_mode_errors(tmp_path):
    base = {"input": "x.lhe", "weight": "weight", "n": 5, "output": "o.root"}
    settings = UnweightSettings.from_mapping(base)
    assert settings.features == [] and settings.resolved_mode == "events"
    assert UnweightSettings.from_mapping({**base, "features": "a"}).resolved_mode == "features"
    with pytest.raises(BadInputError, match="mode 'events' learns whole events"):
        UnweightSettings.from_mapping({**base, "mode": "events", "features": "a"})
    with pytest.raises(BadInputError, match="no features given"):
        UnweightSettings.from_mapping({**base, "mode": "features"})
    with pytest.raises(BadInputError, match="needs whole events"):
        UnweightSettings.from_mapping({**base, "features": "a", "lhe": "o.lhe"})
    # a missing input is reported before anything is written
    with pytest.raises(InputFileNotFoundError):
        unweight_from_config(settings.to_dict(), input=str(tmp_path / "x.lhe"),
                             output=str(tmp_path / "o.root"))
    assert not any(tmp_path.iterdir())


def test_cli_config_with_overrides(tmp_path, capsys, monkeypatch):
    data = tmp_path / "data"
    data.mkdir()
    toy(data / "in.root")
    cfg = write_yaml(data / "u.yaml", "input: in.root\nfeatures: [a, b]\nweight: w\nn: 200\n"
                                      "epochs: 1\ntransforms: 1\nhidden: [8]\nbins: 4\n"
                                      "batch_size: 256\nseed: 1\ndevice: cpu\n")
    monkeypatch.chdir(tmp_path)  # input relative to the YAML file, output to the cwd
    code = main(["unweight", "--config", str(cfg), "-o", "out.root", "-n", "50",
                 "--seed", "3"])
    captured = capsys.readouterr()
    assert code == 0, captured.err
    assert json.loads(captured.out)["n"] == 50
    f = uproot.open(tmp_path / "out.root")
    assert f["events"].num_entries == 50
    config = json.loads(str(f[PROVENANCE_KEY]))["config"]
    assert config["n"] == 50 and config["seed"] == 3 and config["epochs"] == 1
    assert config["input"] == [str(data / "in.root")]
    assert (tmp_path / "out_model").is_dir()


def test_cli_unknown_key_and_missing_options_exit_2(tmp_path, capsys):
    toy(tmp_path / "in.root")
    cfg = write_yaml(tmp_path / "u.yaml", "input: in.root\nfeatures: [a, b]\nweight: w\n"
                                          "n: 10\nbatchsize: 64\n")
    before = sorted(tmp_path.iterdir())
    cases = [
        (["--config", cfg, "-o", tmp_path / "o.root"], "unknown key 'batchsize'",
         "did you mean 'batch_size'"),
        (["--config", tmp_path / "nope.yaml", "-o", tmp_path / "o.root"], "nope.yaml", ""),
        ([tmp_path / "in.root", "-f", "a,b", "-w", "w", "-n", 10], "no output file given",
         "-o"),
        (["-f", "a,b", "-w", "w", "-n", 10, "-o", tmp_path / "o.root"],
         "no input files given", "INPUTS"),
        ([tmp_path / "in.root", "-f", "a,b", "-w", "w", "-o", tmp_path / "o.root"],
         "no number of events", "-n"),
        ([tmp_path / "in.root", "-f", "a,b", "-w", "w", "-n", 10, "-o", tmp_path / "o.root",
          "--mode", "events"], "mode 'events' learns whole events", "features"),
    ]
    for args, first, second in cases:
        code = main(["unweight", *map(str, args)])
        err = capsys.readouterr().err
        assert code == 2, err
        assert err.startswith("flowstats: error:") and first in err and second in err, err
        assert err.count("\n") == 1 and "Traceback" not in err
    assert sorted(tmp_path.iterdir()) == before
