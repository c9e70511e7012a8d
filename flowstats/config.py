r"""Analysis configuration: YAML files validated against a JSON Schema shipped in the package.

A configuration holds every option of ``flowstats bumphunt``; options given on the command line
override the file. Unknown keys are errors that name the key and suggest the closest valid one.
"""

from __future__ import annotations

import copy
import json
import logging
import os
from collections.abc import Mapping
from functools import lru_cache
from importlib import resources
from pathlib import Path
from typing import Any

from .exceptions import ConfigError, InputFileNotFoundError, closest

log = logging.getLogger(__name__)

__all__ = ["DEFAULTS", "load_config", "resolve_config", "schema", "validate"]

#: defaults applied after validation (the schema's "default" entries)
DEFAULTS: dict[str, Any] = {
    "tree": "events",
    "mass": "mjj",
    "label": None,
    "weight": None,
    "cut": None,
    "method": "cathode",
    "sr": None,
    "scan": None,
    "efficiency": [0.1, 0.01, 0.001],
    "sideband_width": None,
    "fit_range": None,
    "bin_width": None,
    "fit_margin": 2.0,
    "function": "auto",
    "sqrt_s": 13000.0,
    "resolution": 0.05,
    "cl": 0.95,
    "seed": 0,
    "device": "auto",
    "scheduler": None,
    "workers": None,
    "output": None,
    "score_options": {},
    "torch_threads": 1,
    "fit_pvalue_min": 0.01,
    "exclude_poor_fits": False,
    "closure": False,
    "closure_alpha": 0.01,
    "allow_sculpting": False,
    "global_method": "gross-vitells",
    "bumphunter_toys": 10000,
    "background": "fit",
}


@lru_cache(maxsize=1)
def schema() -> dict[str, Any]:
    r"""The JSON Schema of analysis configurations (``flowstats/schema/analysis.schema.json``)."""
    text = resources.files("flowstats").joinpath("schema/analysis.schema.json").read_text()
    return json.loads(text)


def _where(path: Any) -> str:
    parts = [str(p) for p in path]
    return ".".join(parts) if parts else "the top level"


def validate(config: Mapping[str, Any], source: str = "configuration") -> None:
    r"""Validates ``config`` against the schema; raises :class:`ConfigError` naming the bad key.

    Arguments:
        config: The configuration mapping.
        source: Where it came from (a file name), for the message.
    """
    import jsonschema

    if not isinstance(config, Mapping):
        raise ConfigError(f"{source}: expected a mapping of options, got {type(config).__name__}")
    validator = jsonschema.Draft202012Validator(schema())
    errors = sorted(validator.iter_errors(dict(config)), key=lambda e: list(e.absolute_path))
    if not errors:
        return
    err = errors[0]
    if err.validator == "additionalProperties":
        allowed = list(err.schema.get("properties", {}))
        extra = [k for k in err.instance if k not in allowed]
        key = extra[0]
        where = _where(list(err.absolute_path) + [key])
        hint = closest(key, allowed)
        msg = f"{source}: unknown key {where!r}"
        if hint:
            msg += f" (did you mean {hint[0]!r}?)"
        else:
            msg += f"; valid keys: {', '.join(allowed)}"
        raise ConfigError(msg)
    raise ConfigError(f"{source}: bad value at {_where(err.absolute_path)!r}: {err.message}")


def load_config(path: str | os.PathLike) -> dict[str, Any]:
    r"""Reads and validates a YAML analysis configuration (without applying defaults).

    Arguments:
        path: The YAML file.
    """
    import yaml

    path = Path(path)
    if not path.is_file():
        raise InputFileNotFoundError(str(path))
    try:
        config = yaml.safe_load(path.read_text()) or {}
    except yaml.YAMLError as err:
        raise ConfigError(f"{path}: not valid YAML: {err}".replace("\n", " ")) from None
    validate(config, source=str(path))
    return config


def resolve_config(file_config: Mapping[str, Any] | None = None,
                   overrides: Mapping[str, Any] | None = None) -> dict[str, Any]:
    r"""Merges defaults, a file configuration and command-line overrides, then validates.

    ``None`` values in ``overrides`` mean "not given" and do not override the file.

    Arguments:
        file_config: The configuration read from YAML.
        overrides: Options given on the command line.
    """
    config = copy.deepcopy(DEFAULTS)
    config.update(copy.deepcopy(dict(file_config or {})))
    for key, value in (overrides or {}).items():
        if value is not None:
            config[key] = value
    validate(config)
    if config.get("sr") is None and config.get("scan") is None:
        raise ConfigError("configuration: give either 'sr' (one window) or 'scan'")
    if config.get("sr") is not None and config.get("scan") is not None:
        raise ConfigError("configuration: 'sr' and 'scan' exclude each other; give one")
    if not config.get("features"):
        raise ConfigError("configuration: 'features' is required (the auxiliary features x)")
    if not config.get("input"):
        raise ConfigError("configuration: 'input' is required (ROOT file(s) with the events)")
    return config
