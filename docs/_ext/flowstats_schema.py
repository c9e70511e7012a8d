r"""``flowstats-schema``: renders a JSON Schema of ``flowstats/schema/`` as a table of its keys.

Usage, in a MyST page::

    ```{flowstats-schema} analysis.schema.json
    ```

Every key is listed, nested objects included under their dotted path (``scan.range``; a
mapping of free names, such as ``bounds``, shows the type of its values), with its type,
default, allowed values or range and description, read at build time from the schema the
configuration is validated against (:func:`load_schema`): the page cannot drift from it. The
schema file is a dependency of the page (an edit rebuilds it). :func:`schema_rows` is the table
as data (used by ``tests/test_docs.py``).
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

from docutils import nodes
from docutils.parsers.rst import directives
from sphinx.util.docutils import SphinxDirective

SCHEMA_DIR = Path(__file__).resolve().parents[2] / "flowstats" / "schema"

__all__ = ["SCHEMA_DIR", "load_schema", "schema_rows", "setup"]


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


_CODE = re.compile(r"`([^`]+)`")


def _inline(text: str) -> list[nodes.Node]:
    r"""Text with ``\`code\``` spans turned into literals."""
    out: list[nodes.Node] = []
    pos = 0
    for match in _CODE.finditer(text):
        if match.start() > pos:
            out.append(nodes.Text(text[pos:match.start()]))
        out.append(nodes.literal(match.group(1), match.group(1)))
        pos = match.end()
    if pos < len(text):
        out.append(nodes.Text(text[pos:]))
    return out


def _entry(*children: nodes.Node) -> nodes.entry:
    entry = nodes.entry()
    entry += nodes.paragraph("", "", *children)
    return entry


class SchemaDirective(SphinxDirective):
    r"""``.. flowstats-schema:: FILE`` (a file of ``flowstats/schema/``)."""

    required_arguments = 1
    has_content = False
    option_spec = {"class": directives.class_option}

    def run(self) -> list[nodes.Node]:
        name = self.arguments[0]
        path = SCHEMA_DIR / name
        if not path.is_file():
            raise self.error(f"flowstats-schema: no schema {name!r} in {SCHEMA_DIR}")
        self.env.note_dependency(str(path))
        schema = load_schema(name)
        rows = schema_rows(schema)
        anchor = name.split(".")[0]

        table = nodes.table(classes=["flowstats-schema", *self.options.get("class", [])])
        group = nodes.tgroup(cols=5)
        table += group
        for width in (18, 16, 10, 20, 36):
            group += nodes.colspec(colwidth=width)
        head = nodes.thead()
        group += head
        header = nodes.row()
        for title in ("Key", "Type", "Default", "Allowed", "Description"):
            header += _entry(nodes.Text(title))
        head += header
        body = nodes.tbody()
        group += body
        for r in rows:
            row = nodes.row()
            key = _entry(nodes.literal(r["key"], r["key"]))
            key["ids"].append(nodes.make_id(f"{anchor}-{r['key']}"))
            row += key
            row += _entry(nodes.Text(r["type"]))
            row += _entry(*([nodes.literal(r["default"], r["default"])] if r["default"] else []))
            row += _entry(*_inline(r["allowed"]))
            row += _entry(*_inline(r["description"]))
            body += row
        title = schema.get("title")
        caption = nodes.title(title, title) if title else None
        if caption is not None:
            table.insert(0, caption)
        return [table]


def setup(app: Any) -> dict[str, Any]:
    app.add_directive("flowstats-schema", SchemaDirective)
    return {"version": "1", "parallel_read_safe": True, "parallel_write_safe": True}
