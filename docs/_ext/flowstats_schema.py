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

import re
from typing import Any

from docutils import nodes
from docutils.parsers.rst import directives
from flowstats_schema_rows import SCHEMA_DIR, load_schema, schema_rows  # noqa: E402
from sphinx.util.docutils import SphinxDirective

__all__ = ["SCHEMA_DIR", "load_schema", "schema_rows", "setup"]

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

        table = nodes.table(classes=["flowstats-schema", "colwidths-given",
                                     *self.options.get("class", [])])
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
