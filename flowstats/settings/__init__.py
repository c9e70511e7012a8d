r"""Typed settings: every option a user configures, written once.

Each thing a user configures (a flow, its training, a classifier, an anomaly score, a bump hunt,
an unweighting run) is one :class:`Settings` model (pydantic v2): each field has its type, its
default, its range and a one-line description, and nothing else in the package restates them.
From the models come

* the validation of YAML files, Python mappings and command-line options, once, at the edge
  (:meth:`Settings.parse`): an unknown key, nested ones included, is a
  :class:`~flowstats.exceptions.ConfigError` naming it and the closest valid key;
* the JSON Schemas shipped in ``flowstats/schema/`` (:func:`json_schema`; a test regenerates
  them and compares);
* the command-line options of the subcommands that take them (:mod:`flowstats.settings.options`).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, TypeVar

from pydantic import BaseModel, ConfigDict, ValidationError

from ..exceptions import ConfigError, closest

__all__ = ["Settings", "config_error", "inline_refs", "json_schema"]

S = TypeVar("S", bound="Settings")


class Settings(BaseModel):
    r"""Base of every settings model: unknown keys are errors, values are checked on
    assignment too, and :meth:`parse` turns pydantic's errors into one readable line."""

    model_config = ConfigDict(extra="forbid", validate_assignment=True, validate_default=True,
                              use_attribute_docstrings=True, populate_by_name=True)

    @classmethod
    def parse(cls: type[S], data: Mapping[str, Any] | None = None,
              source: str = "configuration", **overrides: Any) -> S:
        r"""Validates ``data`` (and keyword overrides) into the model.

        Arguments:
            data: The options (a YAML file's mapping, a Python dict); None for none.
            source: Where they came from (a file name), for the error message.
            overrides: Options that replace those of ``data``.

        Raises:
            ConfigError: One line naming the first bad key and why (with the closest valid
                key for an unknown one).
        """
        if data is not None and not isinstance(data, Mapping):
            raise ConfigError(f"{source}: expected a mapping of options, got "
                              f"{type(data).__name__}")
        merged = {**dict(data or {}), **overrides}
        try:
            return cls.model_validate(merged)
        except ValidationError as err:
            raise config_error(cls, err, source) from None

    def to_dict(self) -> dict[str, Any]:
        r"""The options as plain Python values (what a YAML file would hold)."""
        return self.model_dump(mode="python")


def _where(loc: tuple[Any, ...]) -> str:
    return ".".join(str(p) for p in loc) if loc else "the top level"


def _fields_at(model: type[BaseModel], loc: tuple[Any, ...]) -> list[str]:
    r"""The field names of the (nested) model at ``loc``, for the closest-name hint."""
    current: Any = model
    for part in loc:
        fields = getattr(current, "model_fields", None)
        if not fields or part not in fields:
            return []
        annotation = fields[part].annotation
        candidates = [annotation, *getattr(annotation, "__args__", ())]
        current = next((c for c in candidates if isinstance(c, type)
                        and issubclass(c, BaseModel)), None)
        if current is None:
            return []
    return list(getattr(current, "model_fields", {}))


def config_error(model: type[BaseModel], err: ValidationError, source: str) -> ConfigError:
    r"""One line for the first error of a pydantic validation of ``model``.

    Arguments:
        model: The settings model that was validated.
        err: pydantic's error.
        source: Where the options came from.
    """
    errors = err.errors()  # a misspelt key first: its "missing" twin is the same mistake
    first = next((e for e in errors if e["type"] == "extra_forbidden"), errors[0])
    loc = tuple(p for p in first["loc"] if not isinstance(p, int) or p >= 0)
    if first["type"] == "extra_forbidden":
        allowed = _fields_at(model, loc[:-1])
        hint = closest(str(loc[-1]), allowed)
        msg = f"{source}: unknown key {_where(loc)!r}"
        if hint:
            return ConfigError(msg + f" (did you mean {hint[0]!r}?)")
        return ConfigError(msg + (f"; valid keys: {', '.join(allowed)}" if allowed else ""))
    if first["type"] == "unknown_option":
        # a model that also accepts the options registered plugins declare (ScoreSettings)
        ctx = first.get("ctx") or {}
        hint = closest(str(ctx.get("key")), list(ctx.get("allowed", [])))
        msg = f"{source}: unknown key {_where((*loc, ctx.get('key')))!r}"
        return ConfigError(msg + (f" (did you mean {hint[0]!r}?)" if hint else ""))
    if first["type"] == "missing":
        return ConfigError(f"{source}: missing required key {_where(loc)!r}")
    text = first["msg"]
    value = first.get("input")
    expected = (first.get("ctx") or {}).get("expected")
    if first["type"] == "literal_error" and isinstance(value, str) and expected:
        names = [v.strip(" '") for v in expected.replace(" or ", ",").split(",")]
        hint = closest(value, [n for n in names if n])
        if hint:
            text += f" (did you mean {hint[0]!r}?)"
    if text.startswith("Value error, "):  # a validator's own message (it names the value)
        return ConfigError(f"{source}: bad value at {_where(loc)!r}: {text[13:]}")
    return ConfigError(f"{source}: bad value at {_where(loc)!r}: {text}"
                       + (f" (got {value!r})" if not isinstance(value, Mapping) else ""))


def json_schema(model: type[BaseModel], title: str, description: str) -> dict[str, Any]:
    r"""The JSON Schema of a settings model, as shipped in ``flowstats/schema/``.

    Arguments:
        model: The settings model.
        title: The schema's title.
        description: The schema's description.
    """
    schema = model.model_json_schema(mode="validation")
    return {"$schema": "https://json-schema.org/draft/2020-12/schema", "title": title,
            "description": description, **{k: v for k, v in schema.items()
                                            if k not in ("title", "description")}}


def inline_refs(spec: Any, defs: dict[str, Any]) -> Any:
    r"""``spec`` with ``$ref``s inlined, pydantic's titles dropped and ``anyOf [X, null]``
    written as ``X`` with ``"type": [..., "null"]``: the shipped schemas' form, which the
    documentation's configuration tables read.

    Arguments:
        spec: A (part of a) JSON Schema generated by pydantic.
        defs: Its ``$defs``.
    """
    if isinstance(spec, list):
        return [inline_refs(s, defs) for s in spec]
    if not isinstance(spec, dict):
        return spec
    if "$ref" in spec:
        spec = {**defs[spec["$ref"].split("/")[-1]], **{k: v for k, v in spec.items()
                                                         if k != "$ref"}}
    out = {k: inline_refs(v, defs) if k not in ("default", "enum", "const") else v
           for k, v in spec.items() if k != "title" and k != "$defs"}
    if "properties" in spec:
        out["properties"] = {name: inline_refs(sub, defs) for name, sub in spec["properties"].items()}
    alts = out.get("anyOf", [])
    others = [a for a in alts if a != {"type": "null"}]
    if len(alts) == 2 and len(others) == 1 and "type" in others[0]:
        merged = {**others[0], **{k: v for k, v in out.items() if k != "anyOf"}}
        kinds = others[0]["type"]
        merged["type"] = [*(kinds if isinstance(kinds, list) else [kinds]), "null"]
        out = merged
    return out
