r"""Renders flowstats' settings models (pydantic) in the API reference as a table of fields.

Plain autodoc documents a pydantic model badly: each field becomes an attribute whose type is
an ``Annotated`` alias or a ``FieldInfo`` repr, the class signature lists every field again, and
pydantic's own ``model_config`` shows up. For a :class:`pydantic.BaseModel` subclass this
extension

* skips the fields and ``model_*`` members (``autodoc-skip-member``),
* shows the signature ``(**options)`` without recording the fields as parameters
  (``autodoc-process-signature``),
* appends to the class docstring one table of its fields: name, type (with its range), default
  and description, read from ``model_fields`` (``autodoc-process-docstring``).

Methods (``parse``, ``to_dict``, ``from_yaml``, ...) are documented as usual.
"""

from __future__ import annotations

import importlib
import re
import types
import typing
from typing import Any

__all__ = ["field_rows", "setup"]


def _is_model(obj: Any) -> bool:
    try:
        from pydantic import BaseModel
    except ImportError:  # pragma: no cover
        return False
    return isinstance(obj, type) and issubclass(obj, BaseModel)


def _escape(text: str) -> str:
    r"""Plain text as reStructuredText (no emphasis, literals, substitutions or references)."""
    text = text.replace("\\", "\\\\")
    for char in "*`|":
        text = text.replace(char, "\\" + char)
    return re.sub(r"_(?=\W|$)", r"\\_", text)


def _type(annotation: Any) -> list[str]:
    r"""The type as alternatives (``X | None`` -> ``["X", "None"]``), each a Python-like
    string; a model class as ``:class:`` (marked by a leading ``~``)."""
    origin = typing.get_origin(annotation)
    args = typing.get_args(annotation)
    if origin is typing.Annotated:
        return _type(args[0])
    if origin in (typing.Union, types.UnionType):
        return [alt for arg in args for alt in _type(arg)]
    if origin is typing.Literal:
        return [repr(a) for a in args]
    if annotation is type(None) or annotation is None:
        return ["None"]
    if _is_model(annotation):
        return [f"~{annotation.__module__}.{annotation.__qualname__}"]
    if origin is not None:
        name = getattr(origin, "__name__", str(origin))
        inner = ", ".join(" | ".join(_type(a)) for a in args)
        return [f"{name}[{inner}]"]
    return [getattr(annotation, "__name__", str(annotation))]


_BOUNDS = (("ge", "≥"), ("gt", ">"), ("le", "≤"), ("lt", "<"))


def _range(metadata: list[Any], unit: str = "item") -> str:
    r"""``≥ 1``, ``> 0, < 1``, ``2 items``, ``at least 1 item`` from a field's constraints
    (``unit``: what a length counts, items or characters)."""
    parts = []
    lo = hi = None
    for item in metadata:
        for attr, sign in _BOUNDS:
            value = getattr(item, attr, None)
            if value is not None:
                parts.append(f"{sign} {value}")
        lo = getattr(item, "min_length", lo)
        hi = getattr(item, "max_length", hi)
        pattern = getattr(item, "pattern", None)
        if pattern:
            parts.append(f"matches {pattern}")
    if lo is not None and lo == hi:
        parts.append(f"{lo} {unit}s")
    elif lo:
        parts.append(f"at least {lo} {unit}" + ("s" if lo > 1 else ""))
    elif hi is not None:
        parts.append(f"at most {hi} {unit}s")
    return ", ".join(parts)


def _default(info: Any) -> str:
    from pydantic_core import PydanticUndefined

    if info.default is PydanticUndefined and info.default_factory is None:
        return "required"
    default = info.get_default(call_default_factory=True)
    if _is_model(type(default)):
        return "its defaults"
    return f"``{default!r}``"


def field_rows(model: type) -> list[tuple[str, str, str, str]]:
    r"""``(name, type, default, description)`` of each field of a pydantic ``model``, as
    reStructuredText."""
    rows = []
    for name, info in model.model_fields.items():
        types_ = _type(info.annotation)
        kind = " | ".join(f":class:`{a}`" if a.startswith("~") else f"``{a}``"
                          for a in types_)
        text = {a for a in types_ if a != "None"} == {"str"}
        bounds = _range(list(info.metadata), "character" if text else "item")
        if bounds:
            kind += f" ({_escape(bounds)})"
        rows.append((f"``{name}``", kind, _default(info),
                     _escape(" ".join((info.description or "").split()))))
    return rows


def _skip_member(app: Any, what: str, name: str, obj: Any, skip: bool, options: Any) -> Any:
    if what not in ("class", "exception"):
        return None
    doc = app.env.current_document
    try:
        parent: Any = importlib.import_module(doc.autodoc_module)
        for part in doc.autodoc_class.split("."):
            parent = getattr(parent, part)
    except (ImportError, AttributeError, ValueError):
        return None
    if _is_model(parent) and (name in parent.model_fields or name.startswith("model_")):
        return True
    return None


def _signature(app: Any, what: str, name: str, obj: Any, options: Any, args: Any,
               retann: Any) -> Any:
    if what == "class" and _is_model(obj):
        # the fields are in the table; not recorded as parameters of the class
        app.env.current_document.autodoc_annotations.pop(name, None)
        return "(**options)", ""
    return None


def _docstring(app: Any, what: str, name: str, obj: Any, options: Any, lines: list[str]) -> None:
    if what != "class" or not _is_model(obj) or not obj.model_fields:
        return
    lines.extend(["", ".. list-table:: Fields (keyword arguments)", "   :header-rows: 1",
                  "   :widths: 18 27 15 40", "",
                  "   * - name", "     - type", "     - default", "     - description"])
    for row in field_rows(obj):
        lines.append(f"   * - {row[0]}")
        lines.extend(f"     - {cell}" for cell in row[1:])
    lines.append("")


def setup(app: Any) -> dict[str, Any]:
    app.connect("autodoc-skip-member", _skip_member)
    app.connect("autodoc-process-signature", _signature, priority=400)
    # after napoleon (500): the table is reStructuredText already
    app.connect("autodoc-process-docstring", _docstring, priority=600)
    return {"version": "1", "parallel_read_safe": True, "parallel_write_safe": True}
