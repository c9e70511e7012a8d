r"""Resolves references to flowstats objects by the names they are imported under.

The API reference documents every object once, in the module that defines it
(``flowstats.io.reading.read_events``), while users and docstrings name it where it is
re-exported: ``flowstats.read_events`` (lazy top-level names), ``flowstats.io.read_events``
(a package's ``__all__``), ``:func:`read_events``` inside ``flowstats.io``, or ``.events``
relative to the current module. For a Python-domain reference that Sphinx cannot resolve, this
extension imports the object the name stands for and, when that object is documented under
another name, links there. A name that imports nothing, or an object that is not documented,
stays unresolved (and ``nitpicky`` reports it).
"""

from __future__ import annotations

import importlib
from typing import Any

from docutils import nodes
from sphinx.util.nodes import make_refnode

__all__ = ["import_object", "setup"]

_ROOT = "flowstats"
_CACHE: dict[int, tuple[int, dict[Any, tuple[str, str, str]]]] = {}


def import_object(dotted: str) -> Any:
    r"""The object a dotted name stands for (a module, or an attribute path inside one), or
    None when nothing of that name can be imported."""
    parts = dotted.split(".")
    for cut in range(len(parts), 0, -1):
        try:
            obj: Any = importlib.import_module(".".join(parts[:cut]))
        except ImportError:
            continue
        except Exception:  # a module that fails at import: nothing to resolve
            return None
        try:
            for attr in parts[cut:]:
                obj = getattr(obj, attr)
        except AttributeError:
            return None
        return obj
    return None


def _key(obj: Any) -> Any:
    obj = getattr(obj, "__func__", obj)  # a bound (class) method: its function
    # functions, classes and modules are unique objects; constants (ints, tuples) are not
    if callable(obj) or hasattr(obj, "__path__") or type(obj).__name__ == "module":
        return id(obj)
    return None


def _index(env: Any) -> dict[Any, tuple[str, str, str]]:
    r"""``id(object) -> (docname, node id, documented name)`` of every documented flowstats
    object (built once per build)."""
    domain = env.domains["py"]
    # in this process only (object ids mean nothing in another one; the environment is pickled)
    cached = _CACHE.get(id(env))
    if cached is not None and cached[0] == len(domain.objects):
        return cached[1]
    index: dict[Any, tuple[str, str, str]] = {}
    for name, entry in domain.objects.items():
        if not name.startswith(_ROOT) or getattr(entry, "aliased", False):
            continue
        obj = import_object(name)
        key = _key(obj) if obj is not None else None
        if key is not None and key not in index:
            index[key] = (entry.docname, entry.node_id, name)
    for name, entry in domain.modules.items():
        if name.startswith(_ROOT):
            obj = import_object(name)
            if obj is not None:
                index.setdefault(id(obj), (entry.docname, entry.node_id, name))
    _CACHE[id(env)] = (len(domain.objects), index)
    return index


def _candidates(target: str, module: str | None, klass: str | None) -> list[str]:
    target = target.lstrip("~")
    if target.startswith("."):  # relative to the current module (and its parents)
        names = []
        base = module or ""
        while base:
            names.append(base + target)
            base = base.rpartition(".")[0]
        return names
    names = []
    if module and klass:
        names.append(f"{module}.{klass}.{target}")
    if module:
        base = module
        while base:  # flowstats.io.reading + Events, then flowstats.io + Events, ...
            names.append(f"{base}.{target}")
            base = base.rpartition(".")[0]
    names.append(target)
    return names


def _resolve(app: Any, env: Any, node: Any, contnode: nodes.Node) -> nodes.Node | None:
    if node.get("refdomain") != "py":
        return None
    target = node.get("reftarget", "")
    module = node.get("py:module")
    if not (target.lstrip("~.").startswith(_ROOT) or (module or "").startswith(_ROOT)):
        return None
    index = _index(env)
    for name in _candidates(target, module, node.get("py:class")):
        if not name.startswith(_ROOT):
            continue
        obj = import_object(name)
        if obj is None:
            continue
        key = _key(obj)
        found = index.get(key) if key is not None else None
        if found is not None:
            docname, node_id, documented = found
            return make_refnode(app.builder, node["refdoc"], docname, node_id, contnode,
                                documented)
        if key is None:  # a constant: the documented name of the same binding
            found = _constant(env, name, obj)
            if found is not None:
                docname, node_id, documented = found
                return make_refnode(app.builder, node["refdoc"], docname, node_id, contnode,
                                    documented)
    return None


def _constant(env: Any, name: str, obj: Any) -> tuple[str, str, str] | None:
    r"""Where a constant imported under ``name`` is documented: a documented flowstats name
    with the same last component that imports the very same object."""
    last = name.rpartition(".")[2]
    for documented, entry in env.domains["py"].objects.items():
        if (documented.startswith(_ROOT) and documented.rpartition(".")[2] == last
                and not getattr(entry, "aliased", False)
                and import_object(documented) is obj):
            return entry.docname, entry.node_id, documented
    return None


def setup(app: Any) -> dict[str, Any]:
    app.connect("missing-reference", _resolve)
    return {"version": "1", "parallel_read_safe": True, "parallel_write_safe": True}
