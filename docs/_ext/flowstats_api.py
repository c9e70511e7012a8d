r"""``flowstats-entry-points``: the table of the names ``flowstats`` exports lazily.

``import flowstats`` imports nothing heavy: its public names (``flowstats.read_events``,
``flowstats.unweight``, ...) are listed in ``flowstats._LAZY`` and imported on first use. This
directive lists them, each linked to where it is documented (resolved by ``flowstats_xref``)
with the first paragraph of its docstring, so that the page follows the package when a name is
added.
"""

from __future__ import annotations

import importlib
import re
from typing import Any

from docutils import nodes
from sphinx import addnodes
from sphinx.util.docutils import SphinxDirective

__all__ = ["entry_points", "setup"]


def entry_points() -> list[tuple[str, str, str]]:
    r"""``(name, role, summary)`` of every lazily exported name of ``flowstats``, in order (the
    summary: the first paragraph of its docstring)."""
    import flowstats

    out = []
    for name in getattr(flowstats, "_LAZY", {}):
        obj = getattr(flowstats, name)
        role = "class" if isinstance(obj, type) else "func" if callable(obj) else "data"
        doc = (getattr(obj, "__doc__", None) or "").strip().split("\n\n")[0]
        out.append((name, role, " ".join(doc.split())))
    return out


def _xref(target: str, role: str, env: Any) -> nodes.Node:
    ref = addnodes.pending_xref("", refdomain="py", reftype=role, reftarget=target,
                                refexplicit=False, refwarn=True)
    ref["py:module"] = None
    ref["py:class"] = None
    ref["refdoc"] = env.docname
    ref += nodes.literal(target, target, classes=["xref", "py", f"py-{role}"])
    return ref


class EntryPointsDirective(SphinxDirective):
    r"""``.. flowstats-entry-points::`` (no arguments)."""

    has_content = False

    def run(self) -> list[nodes.Node]:
        from flowstats_schema import _inline

        table = nodes.table()
        group = nodes.tgroup(cols=2)
        table += group
        group += nodes.colspec(colwidth=30)
        group += nodes.colspec(colwidth=70)
        head = nodes.thead()
        group += head
        row = nodes.row()
        for title in ("name", "what it is"):
            entry = nodes.entry()
            entry += nodes.paragraph("", title)
            row += entry
        head += row
        body = nodes.tbody()
        group += body
        for name, role, summary in entry_points():
            row = nodes.row()
            entry = nodes.entry()
            entry += nodes.paragraph("", "", _xref(f"flowstats.{name}", role, self.env))
            row += entry
            entry = nodes.entry()
            text = re.sub(r":[a-z:]+:`~?([^`]+)`", r"`\1`", summary).replace("``", "`")
            entry += nodes.paragraph("", "", *_inline(text))
            row += entry
            body += row
        return [table]


def setup(app: Any) -> dict[str, Any]:
    importlib.import_module("flowstats_schema")  # _inline
    app.add_directive("flowstats-entry-points", EntryPointsDirective)
    return {"version": "1", "parallel_read_safe": True, "parallel_write_safe": True}
