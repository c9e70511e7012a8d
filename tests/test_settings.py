r"""The settings models: one place for every option, the shipped schema generated from them, the
CLI options generated from them, unknown keys refused everywhere with the closest name."""

from __future__ import annotations

import inspect
import json
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner

from flowstats.config import load_config, resolve_config
from flowstats.exceptions import BadInputError, ConfigError
from flowstats.settings import Settings
from flowstats.settings.analysis import (
    SCHEMA_PATH,
    BumpHuntSettings,
    ClassifierSettings,
    FitSettings,
    FlowSettings,
    ScoreSettings,
    SidebandFitSettings,
    SidebandFlowSettings,
    schema_text,
)

ROOT = Path(__file__).resolve().parents[1]
MODELS = [BumpHuntSettings, ScoreSettings, FlowSettings, SidebandFlowSettings, FitSettings,
          SidebandFitSettings, ClassifierSettings]

#: analyses/bumphunt_dijet.yaml resolved by the code before the settings models (flowstats
#: 0c: config.DEFAULTS merged with the file); score_options then held only the file's keys
DIJET_BEFORE = {
    "tree": "events", "mass": "mjj", "label": "label", "weight": None, "cut": None,
    "method": "cathode", "sr": None, "scan": {"range": [2800, 5200], "width": 400, "step": 100},
    "efficiency": [0.1, 0.01, 0.001], "sideband_width": None, "fit_range": None,
    "bin_width": 100, "fit_margin": 2.0, "function": "dijet4", "sqrt_s": 13000.0,
    "resolution": 0.05, "cl": 0.95, "seed": 0, "device": "auto", "scheduler": None,
    "workers": None, "output": "dijet_bumphunt",
    "score_options": {"fit": {"epochs": 12}, "oversample": 4, "k": 5},
    "torch_threads": None, "fit_pvalue_min": 0.01, "exclude_poor_fits": False,
    "closure": False, "closure_alpha": 0.01, "allow_sculpting": False,
    "global_method": "gross-vitells", "bumphunter_toys": 10000, "background": "fit",
    "input": "dijet.root", "features": ["mj1", "delta_mj", "tau21_j1", "tau21_j2"]}


def test_shipped_schema_is_generated_from_the_model():
    # regenerate with: python -m flowstats.settings.analysis
    assert SCHEMA_PATH.read_text() == schema_text()


@pytest.mark.parametrize("model", MODELS, ids=lambda m: m.__name__)
def test_every_field_has_a_description(model):
    missing = [n for n, f in model.model_fields.items() if not (f.description or "").strip()]
    assert not missing, missing


def _described(spec: dict, path: str = "") -> list[str]:
    bad = [] if spec.get("description") or not path else [path]
    for name, sub in spec.get("properties", {}).items():
        bad += _described(sub, f"{path}.{name}" if path else name)
    return bad


def test_every_schema_key_has_a_description():
    assert _described(json.loads(SCHEMA_PATH.read_text())) == []


def test_nested_unknown_key_in_a_yaml_file(tmp_path):
    path = tmp_path / "a.yaml"
    path.write_text("input: x.root\nfeatures: [a]\nsr: [1, 2]\nscore_options:\n"
                    "  classifier_options: {max_epoch_event: 1}\n")
    with pytest.raises(ConfigError, match=r"unknown key 'score_options.classifier_options."
                                          r"max_epoch_event' \(did you mean 'max_epoch_events'"):
        load_config(path)


def test_nested_unknown_key_in_a_mapping():
    with pytest.raises(ConfigError, match=r"'score_options.flow.hiden' \(did you mean 'hidden'"):
        resolve_config({"input": "x", "features": ["a"], "sr": [1, 2],
                        "score_options": {"flow": {"hiden": [8]}}})
    with pytest.raises(ConfigError, match=r"\(did you mean 'cathode'"):
        BumpHuntSettings.parse({"method": "cathod"})


def test_score_refuses_a_misspelt_classifier_option():
    rng = np.random.default_rng(0)
    x, m = rng.normal(size=(500, 2)), rng.uniform(3000, 4000, 500)
    with pytest.raises(BadInputError, match=r"'classifier_options.max_epoch_event' \(did you "
                                            r"mean 'max_epoch_events'"):
        from flowstats.anomaly import score

        score(x, m, method="cathode", sr=(3300, 3700),
              classifier_options={"max_epoch_event": 1})


def test_old_yaml_resolves_as_before():
    config = resolve_config(load_config(ROOT / "analyses" / "bumphunt_dijet.yaml"))
    assert set(config) == set(DIJET_BEFORE)
    for key, value in DIJET_BEFORE.items():
        if key in ("scan", "score_options"):
            continue
        assert config[key] == value, key
    assert {k: v for k, v in config["scan"].items() if v is not None} == DIJET_BEFORE["scan"]
    # the file's score options, and the defaults the methods used before for the others
    used = config["score_options"]
    assert used["fit"]["epochs"] == 12 and used["oversample"] == 4 and used["k"] == 5
    assert used["fit"] == {"epochs": 12, "batch_size": 2048, "lr": 2e-3, "patience": 5,
                           "val_fraction": 0.2}
    assert {k: used["flow"][k] for k in ("kind", "transforms", "hidden", "bins",
                                         "activation")} == {
        "kind": "nsf", "transforms": 4, "hidden": [64, 64], "bins": 8, "activation": "silu"}
    assert used["space"] == "latent" and used["whiten"] is True
    assert used["classifier"] is None and used["classifier_options"] == {}
    assert used["max_flow_events"] == 250_000


def test_every_bumphunt_yaml_loads():
    for path in sorted((ROOT / "analyses").glob("bumphunt*.yaml")):
        resolve_config(load_config(path))


def test_resolved_config_validates_again():
    config = resolve_config(load_config(ROOT / "analyses" / "bumphunt_dijet.yaml"))
    assert BumpHuntSettings.parse(config).to_dict() == config


def test_classifier_defaults_are_the_ensembles():
    # only the options set reach the ensembles: the documented defaults must be theirs
    from flowstats.anomaly.classifiers import HGBEnsemble, MLPEnsemble

    for cls in (HGBEnsemble, MLPEnsemble):
        for name, param in inspect.signature(cls.__init__).parameters.items():
            info = ClassifierSettings.model_fields.get(name)
            if info is None or param.default is inspect.Parameter.empty:
                continue
            default = info.get_default(call_default_factory=True)
            if default is None:
                continue  # per kind or per context, documented as such
            if isinstance(param.default, tuple):
                assert default == list(param.default), name
            else:
                assert default == param.default, (cls.__name__, name)


def test_defaults_written_once():
    from flowstats.anomaly.background import DEFAULT_FIT, DEFAULT_FLOW
    from flowstats.config import DEFAULTS

    assert DEFAULT_FIT == SidebandFitSettings().to_dict()
    assert DEFAULT_FLOW["activation"] == SidebandFlowSettings().activation == "silu"
    assert FlowSettings().activation is None  # a plain flow keeps zuko's
    assert DEFAULTS["efficiency"] == [0.1, 0.01, 0.001]
    assert DEFAULTS["score_options"]["space"] == "latent"


def test_cli_options_come_from_the_models():
    from flowstats.cli import cli

    runner = CliRunner()
    text = " ".join(runner.invoke(cli, ["bumphunt", "--help"]).output.split())
    assert "--epochs INTEGER Flow training epochs (score option). [default: 12]" in text
    assert f"[default: {BumpHuntSettings.model_fields['bumphunter_toys'].default}]" not in text
    assert "Relative mass resolution" not in text  # not a command-line option
    assert "Torch device. [default: auto]" in text
    train = " ".join(runner.invoke(cli, ["train", "--help"]).output.split())
    assert "[default: 100]" in train and "[default: 4096]" in train
    score = " ".join(runner.invoke(cli, ["score", "--help"]).output.split())
    assert "--folds INTEGER Folds of the cross-scoring. [default: 5]" in score


def test_settings_base_forbids_extra_keys():
    class Tiny(Settings):
        a: int = 1
        """A number."""

    with pytest.raises(ConfigError, match="did you mean 'a'"):
        Tiny.parse({"aa": 2})
