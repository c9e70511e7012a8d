r"""Analysis configuration: YAML files validated by the settings models.

A configuration holds every option of ``flowstats bumphunt``
(:class:`flowstats.settings.analysis.BumpHuntSettings`, whose JSON Schema is the shipped
``schema/analysis.schema.json``) or of ``flowstats unweight`` (``schema/unweight.schema.json``, used by
:class:`flowstats.settings.unweight.UnweightSettings`); options given on the command line
override the file. Unknown keys are errors that name the key and suggest the closest valid one.
"""

from __future__ import annotations

import copy
import json
import logging
import os
from collections.abc import Mapping
from functools import cache
from importlib import resources
from pathlib import Path
from typing import Any

from .exceptions import ConfigError, InputFileNotFoundError, closest

log = logging.getLogger(__name__)

# DEFAULTS comes from the module's __getattr__
__all__ = ["DEFAULTS", "check_keys", "load_config", "load_yaml",  # noqa: F822
           "resolve_config", "schema", "validate"]



def _defaults() -> dict[str, Any]:
    r"""The defaults of every key (:class:`~flowstats.settings.analysis.BumpHuntSettings`)."""
    from pydantic import BaseModel

    from .settings.analysis import BumpHuntSettings

    out = {}
    for name, info in BumpHuntSettings.model_fields.items():
        value = info.get_default(call_default_factory=True)
        out[name] = value.to_dict() if isinstance(value, BaseModel) else value
    return out


def __getattr__(name: str) -> Any:
    # DEFAULTS: derived from the settings model (not restated), computed when first asked for
    if name == "DEFAULTS":
        return _defaults()
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


@cache
def _shipped(name: str) -> dict[str, Any]:
    text = resources.files("flowstats").joinpath(f"schema/{name}.schema.json").read_text()
    return json.loads(text)


def _registered(name: str) -> dict[str, tuple[str, ...]]:
    r"""Property -> the registered names that are its enum (the analysis schema's ``method``
    and ``function``; nothing for the other schemas)."""
    if name != "analysis":
        return {}
    from .registry import METHODS
    from .stats.functions import FUNCTIONS

    return {"method": METHODS.names(), "function": ("auto", *FUNCTIONS)}


def schema(name: str = "analysis") -> dict[str, Any]:
    r"""A JSON Schema shipped in the package, ``flowstats/schema/<name>.schema.json``.

    The analysis schema's ``method`` and ``function`` get the enums of the registered names
    (:mod:`flowstats.registry`: built-ins and plugins), which the shipped file leaves open.

    Arguments:
        name: ``"analysis"`` (bump hunt) or ``"unweight"``.
    """
    out = copy.deepcopy(_shipped(name))
    for key, names in _registered(name).items():
        out["properties"][key]["enum"] = list(names)
    return out


@cache
def _cached_validator(name: str, registered: tuple) -> Any:
    import jsonschema

    return jsonschema.Draft202012Validator(schema(name))


def _validator(name: str) -> Any:
    return _cached_validator(name, tuple(_registered(name).items()))


def _where(path: Any) -> str:
    parts = [str(p) for p in path]
    return ".".join(parts) if parts else "the top level"


def validate(config: Mapping[str, Any], source: str = "configuration", *,
             schema_name: str = "analysis") -> None:
    r"""Validates ``config`` against a schema; raises :class:`ConfigError` naming the bad key.

    Arguments:
        config: The configuration mapping.
        source: Where it came from (a file name), for the message.
        schema_name: The schema, see :func:`schema`.
    """
    if schema_name == "analysis":
        from .settings.analysis import BumpHuntSettings

        BumpHuntSettings.parse(config, source)
        return
    if not isinstance(config, Mapping):
        raise ConfigError(f"{source}: expected a mapping of options, got {type(config).__name__}")
    errors = sorted(_validator(schema_name).iter_errors(dict(config)),
                    key=lambda e: list(e.absolute_path))
    if not errors:
        return
    err = errors[0]
    if err.validator == "additionalProperties":
        allowed = list(err.schema.get("properties", {}))
        extra = [k for k in err.instance if k not in allowed]
        raise _unknown_key(extra[0], allowed, list(err.absolute_path), source)
    hint = (closest(str(err.instance), [str(v) for v in err.validator_value])
            if err.validator == "enum" and isinstance(err.instance, str) else [])
    raise ConfigError(f"{source}: bad value at {_where(err.absolute_path)!r}: {err.message}"
                      + (f" (did you mean {hint[0]!r}?)" if hint else ""))


def _unknown_key(key: Any, allowed: list[str], path: list[Any], source: str) -> ConfigError:
    hint = closest(str(key), allowed)
    msg = f"{source}: unknown key {_where([*path, key])!r}"
    if hint:
        msg += f" (did you mean {hint[0]!r}?)"
    else:
        msg += f"; valid keys: {', '.join(allowed)}"
    return ConfigError(msg)


def check_keys(config: Mapping[str, Any], source: str = "configuration", *,
               schema_name: str = "analysis") -> None:
    r"""Raises :class:`ConfigError` for the first top-level key that ``schema_name`` lacks
    (naming it and the closest valid key); the values are not looked at.

    Arguments:
        config: The configuration mapping.
        source: Where it came from (a file name), for the message.
        schema_name: The schema, see :func:`schema`.
    """
    allowed = list(schema(schema_name)["properties"])
    for key in config:
        if key not in allowed:
            raise _unknown_key(key, allowed, [], source)


def load_yaml(path: str | os.PathLike, schema_name: str) -> dict[str, Any]:
    r"""Reads a YAML file and validates it against a schema (without applying defaults).

    Arguments:
        path: The YAML file.
        schema_name: The schema, see :func:`schema`.
    """
    import yaml

    path = Path(path)
    if not path.is_file():
        raise InputFileNotFoundError(str(path))
    try:
        config = yaml.safe_load(path.read_text()) or {}
    except yaml.YAMLError as err:
        raise ConfigError(f"{path}: not valid YAML: {err}".replace("\n", " ")) from None
    validate(config, source=str(path), schema_name=schema_name)
    return config


def load_config(path: str | os.PathLike) -> dict[str, Any]:
    r"""Reads and validates a YAML bump-hunt configuration (without applying defaults).

    Arguments:
        path: The YAML file.
    """
    return load_yaml(path, "analysis")


def resolve_config(file_config: Mapping[str, Any] | None = None,
                   overrides: Mapping[str, Any] | None = None) -> dict[str, Any]:
    r"""Merges a file configuration and command-line overrides, validates them and fills in
    the defaults (:class:`~flowstats.settings.analysis.BumpHuntSettings`).

    ``None`` values in ``overrides`` mean "not given" and do not override the file.

    Arguments:
        file_config: The configuration read from YAML.
        overrides: Options given on the command line.
    """
    from .settings.analysis import BumpHuntSettings

    merged = copy.deepcopy(dict(file_config or {}))
    merged.update({k: v for k, v in (overrides or {}).items() if v is not None})
    config = BumpHuntSettings.parse(merged).to_dict()
    if config.get("sr") is None and config.get("scan") is None:
        raise ConfigError("configuration: give either 'sr' (one window) or 'scan'")
    if config.get("sr") is not None and config.get("scan") is not None:
        raise ConfigError("configuration: 'sr' and 'scan' exclude each other; give one")
    if not config.get("features"):
        raise ConfigError("configuration: 'features' is required (the auxiliary features x)")
    if not config.get("input"):
        raise ConfigError("configuration: 'input' is required (ROOT file(s) with the events)")
    return config
