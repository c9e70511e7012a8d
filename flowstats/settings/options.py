r"""Command-line options generated from settings models.

:func:`options` turns fields of a :class:`~flowstats.settings.Settings` model (nested ones by
their dotted path) into click options whose type, choices and help text (with the default)
come from the model; :func:`collect` turns the values a command received back into the nested
mapping the model validates. An option left out on the command line is ``None`` and is dropped,
so a YAML file's value (or the model's default) stands.
"""

from __future__ import annotations

import types
import typing
from collections.abc import Callable, Mapping
from typing import Any, Literal

import click
from pydantic import BaseModel

__all__ = ["collect", "field_of", "help_text", "options"]

#: separates the levels of a nested option in the Python parameter name
SEP = "__"


def field_of(model: type[BaseModel], path: str) -> tuple[Any, Any]:
    r"""The pydantic ``FieldInfo`` and annotation of a dotted ``path`` in ``model``.

    Arguments:
        model: The settings model.
        path: A field name, or a dotted path into nested models (``"fit.epochs"``).
    """
    current: Any = model
    info = None
    for part in path.split("."):
        info = current.model_fields[part]
        annotation = info.annotation
        nested = [a for a in (annotation, *typing.get_args(annotation))
                  if isinstance(a, type) and issubclass(a, BaseModel)]
        current = nested[0] if nested else None
    return info, info.annotation


def _plain(annotation: Any) -> Any:
    r"""``X`` for ``X | None``."""
    if typing.get_origin(annotation) in (typing.Union, types.UnionType):
        args = [a for a in typing.get_args(annotation) if a is not type(None)]
        if len(args) == 1:
            return args[0]
    return annotation


class _List(click.ParamType):
    r"""A comma-separated list of ``item`` values."""

    def __init__(self, item: type) -> None:
        self.item = item
        self.name = f"{item.__name__}[,...]"

    def convert(self, value: Any, param: Any, ctx: Any) -> Any:
        if not isinstance(value, str):
            return value
        try:
            return [self.item(v.strip()) for v in value.split(",") if v.strip()]
        except ValueError:
            self.fail(f"{value!r}: expected comma-separated {self.item.__name__} values",
                      param, ctx)


def _click_type(annotation: Any) -> tuple[Any, bool]:
    r"""The click type of an annotation, and whether it is a boolean flag."""
    plain = _plain(annotation)
    if plain is bool:
        return None, True
    if typing.get_origin(plain) is Literal:
        return click.Choice([str(v) for v in typing.get_args(plain)]), False
    if typing.get_origin(plain) is list:
        (item,) = typing.get_args(plain) or (str,)
        if typing.get_origin(item) is typing.Annotated:  # constrained items, e.g. int >= 1
            item = typing.get_args(item)[0]
        return _List(item if item in (int, float, str) else str), False
    if plain in (int, float, str):
        return plain, False
    return str, False


def help_text(info: Any, extra: str | None) -> str:
    r"""The command-line help of a field: ``extra`` or its description, and its default.

    Arguments:
        info: The field's pydantic ``FieldInfo``.
        extra: A help text replacing the description (None: the description).
    """
    text = (extra or info.description or "").strip().rstrip(".")
    default = info.get_default(call_default_factory=True)
    if isinstance(default, BaseModel):
        default = None
    if isinstance(default, list):
        default = ",".join(str(v) for v in default)
    shown = "" if default is None or default == "" else f" [default: {default}]"
    return f"{text}.{shown}" if text else shown.strip()


def options(model: type[BaseModel], paths: list[str], *,
            names: Mapping[str, str | tuple[str, ...]] | None = None,
            helps: Mapping[str, str] | None = None) -> Callable[[Any], Any]:
    r"""A decorator adding one click option per field ``path`` of ``model``.

    Arguments:
        model: The settings model the options belong to.
        paths: Field names or dotted paths into nested models.
        names: ``path -> "--option-name"`` where the option is not ``--<last-part>`` with
            dashes (e.g. ``{"scan.width": "--window-width"}``), or a tuple of names with a
            short one (``("--tree", "-t")``).
        helps: ``path -> help`` replacing the field's description on the command line.
    """
    names = dict(names or {})
    helps = dict(helps or {})

    def decorate(f: Any) -> Any:
        for path in reversed(paths):
            info, annotation = field_of(model, path)
            flag, *aliases = ((names[path],) if isinstance(names.get(path), str) else
                              names.get(path, ("--" + path.split(".")[-1].replace("_", "-"),)))
            dest = path.replace(".", SEP)
            click_type, is_flag = _click_type(annotation)
            text = help_text(info, helps.get(path))
            if is_flag:
                negative = "--no-" + flag[2:]
                f = click.option(f"{flag}/{negative}", dest, default=None, help=text)(f)
            else:
                f = click.option(flag, *aliases, dest, type=click_type, default=None,
                                 help=text)(f)
        return f

    return decorate


def collect(values: Mapping[str, Any], paths: list[str] | None = None) -> dict[str, Any]:
    r"""The nested options mapping of the values a command received (``None`` dropped).

    Arguments:
        values: The command's keyword arguments.
        paths: Only these dotted paths (default: every key of ``values``).
    """
    wanted = None if paths is None else {p.replace(".", SEP) for p in paths}
    out: dict[str, Any] = {}
    for key, value in values.items():
        if value is None or (wanted is not None and key not in wanted):
            continue
        parts = key.split(SEP)
        node = out
        for part in parts[:-1]:
            node = node.setdefault(part, {})
        node[parts[-1]] = value
    return out
