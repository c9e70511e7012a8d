"""The shipped unweighting schema is generated from the settings model: each default once."""

from __future__ import annotations

import json

import jsonschema
import pytest

from flowstats.config import schema
from flowstats.exceptions import ConfigError
from flowstats.settings.unweight import SCHEMA_FILE, UnweightSettings, schema_text


def test_shipped_schema_is_the_generated_one():
    # regenerate with: python -c "from flowstats.settings.unweight import write_schema; write_schema()"
    assert SCHEMA_FILE.read_text() == schema_text()
    assert schema("unweight") == json.loads(schema_text())


def test_every_field_has_a_one_line_description():
    for name, info in UnweightSettings.model_fields.items():
        assert info.description and "\n" not in info.description, name


def test_schema_accepts_the_defaults_and_yaml_spellings():
    validator = jsonschema.Draft202012Validator(schema("unweight"))
    validator.validate(UnweightSettings.defaults())
    validator.validate({"input": "in.root", "features": "a, b", "positive": "auto",
                        "discrete": None, "split_on": "n", "criteria": {"min_p_value": 0.01,
                                                                        "max_auc": 0.55}})
    with pytest.raises(jsonschema.ValidationError):
        validator.validate({"criteria": {"min_p_value": 0.01, "max_aux": 0.5}})


def test_nested_unknown_key_names_the_closest():
    with pytest.raises(ConfigError, match=r"unknown key 'criteria.max_aux' \(did you mean "
                                          r"'max_auc'\?\)"):
        UnweightSettings.parse({"criteria": {"min_p_value": 0.01, "max_aux": 0.5}})
