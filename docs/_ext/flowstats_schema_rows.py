r"""The configuration tables as data: every key of a JSON Schema of ``flowstats/schema/``.

Used by the ``flowstats-schema`` directive (:mod:`flowstats_schema`) and by ``tests/test_docs.py``
(which needs no Sphinx or docutils to check that every key is listed).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

SCHEMA_DIR = Path(__file__).resolve().parents[2] / "flowstats" / "schema"

__all__ = ["SCHEMA_DIR", "load_schema", "schema_rows"]


def _json(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False)


def _type(spec: dict[str, Any]) -> str:
    r"""A short type: ``number``, ``string or null``, ``array of string (2 items)``, ..."""
    if "oneOf" in spec or "anyOf" in spec:
        return " or ".join(_type(s) for s in spec.get("oneOf", spec.get("anyOf", [])))
    if "enum" in spec and "type" not in spec:
        kinds = sorted({"null" if v is None else "boolean" if isinstance(v, bool)
                        else "integer" if isinstance(v, int) else "number"
                        if isinstance(v, float) else "string" for v in spec["enum"]})
        return " or ".join(kinds)
    kinds = spec.get("type", "any")
    kinds = [kinds] if isinstance(kinds, str) else list(kinds)
    parts = []
    for kind in kinds:
        if kind == "array" and isinstance(spec.get("items"), dict):
            text = f"array of {_type(spec['items'])}"
            lo, hi = spec.get("minItems"), spec.get("maxItems")
            if lo is not None and lo == hi:
                text += f" ({lo} items)"
            elif lo:
                text += f" (at least {lo})"
            elif hi is not None:
                text += f" (at most {hi})"
            parts.append(text)
        elif kind == "object" and isinstance(spec.get("additionalProperties"), dict):
            parts.append(f"mapping of name to {_type(spec['additionalProperties'])}")
        else:
            parts.append(kind)
    return " or ".join(parts)


def _range(spec: dict[str, Any]) -> str:
    r"""```0 < x <= 1```-style bounds of a number (in backticks), ``''`` when unbounded."""
    lo = ("", "")
    if "exclusiveMinimum" in spec:
        lo = (_json(spec["exclusiveMinimum"]), " < ")
    elif "minimum" in spec:
        lo = (_json(spec["minimum"]), " <= ")
    hi = ("", "")
    if "exclusiveMaximum" in spec:
        hi = (" < ", _json(spec["exclusiveMaximum"]))
    elif "maximum" in spec:
        hi = (" <= ", _json(spec["maximum"]))
    if not lo[0] and not hi[1]:
        return ""
    return f"`{lo[0]}{lo[1]}x{hi[0]}{hi[1]}`"


def _allowed(spec: dict[str, Any]) -> str:
    r"""Allowed values (an enum), the range, a pattern or a minimum length, of the value or of
    each item of an array (or alternative of a ``oneOf``); values in backticks."""
    out = []
    if "enum" in spec:
        out.append("one of " + ", ".join(f"`{_json(v)}`" for v in spec["enum"]))
    bounds = _range(spec)
    if bounds:
        out.append(bounds)
    if "pattern" in spec:
        out.append(f"matches `{spec['pattern']}`")
    if spec.get("minLength"):
        out.append(f"at least {spec['minLength']} character(s)")
    items = spec.get("items")
    if isinstance(items, dict):
        inner = _allowed(items)
        if inner:
            out.append(f"each item: {inner}")
    for alt in spec.get("oneOf", []) + spec.get("anyOf", []):
        inner = _allowed(alt)
        if inner and inner not in out:
            out.append(inner)
    if spec.get("required") and spec.get("properties"):
        out.append("requires " + ", ".join(spec["required"]))
    return "; ".join(out)


def schema_rows(schema: dict[str, Any], prefix: str = "") -> list[dict[str, str]]:
    r"""One row per key of ``schema`` (nested object properties after their parent, under their
    dotted path): ``key``, ``type``, ``default``, ``allowed``, ``description``.

    Arguments:
        schema: A JSON Schema of an object.
        prefix: The dotted path of ``schema`` itself (``""`` at the top).
    """
    rows = []
    for name, spec in schema.get("properties", {}).items():
        key = f"{prefix}{name}"
        rows.append({"key": key, "type": _type(spec),
                     "default": _json(spec["default"]) if "default" in spec else "",
                     "allowed": _allowed(spec),
                     "description": spec.get("description", "")})
        if isinstance(spec.get("properties"), dict):
            rows.extend(schema_rows(spec, f"{key}."))
        extra = spec.get("additionalProperties")
        if isinstance(extra, dict) and isinstance(extra.get("properties"), dict):
            rows.extend(schema_rows(extra, f"{key}.<name>."))
    return rows


def load_schema(name: str) -> dict[str, Any]:
    r"""The schema the configuration is validated against: ``flowstats.config.schema`` (the
    shipped file, with the names registered in :mod:`flowstats.registry` as the enums of keys
    the file leaves open, e.g. ``method``), or the file itself.

    Arguments:
        name: The file name in ``flowstats/schema/``, e.g. ``analysis.schema.json``.
    """
    stem = name.split(".")[0]
    try:
        from flowstats.config import schema
    except ImportError:  # pragma: no cover
        return json.loads((SCHEMA_DIR / name).read_text())
    return schema(stem)
