"""The package's shape rules (docs/ARCHITECTURE.md): short functions with few parameters, and
module names that say what they hold without colliding."""

from __future__ import annotations

import ast
from collections import Counter
from pathlib import Path

PACKAGE = Path(__file__).resolve().parents[1] / "flowstats"
MAX_LINES = 100
MAX_PARAMETERS = 10


def _functions():
    for path in sorted(PACKAGE.rglob("*.py")):
        tree = ast.parse(path.read_text(), filename=str(path))
        for node in ast.walk(tree):
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
                yield path.relative_to(PACKAGE.parent), node


def test_no_function_is_over_100_lines_or_10_parameters():
    too_long, too_many = [], []
    for path, node in _functions():
        lines = node.end_lineno - node.lineno + 1
        args = node.args
        # named parameters (self and cls included); *args and **kwargs are not counted
        count = len(args.posonlyargs) + len(args.args) + len(args.kwonlyargs)
        if lines > MAX_LINES:
            too_long.append(f"{path}:{node.lineno} {node.name} ({lines} lines)")
        if count > MAX_PARAMETERS:
            too_many.append(f"{path}:{node.lineno} {node.name} ({count} parameters)")
    assert not too_long and not too_many, "\n".join(too_long + too_many)


def test_module_names_do_not_collide():
    # the subcommands' modules are named after their commands (flowstats/cli/<name>.py); every
    # other module name is used once in the package
    names = Counter(p.stem for p in PACKAGE.rglob("*.py")
                    if p.stem != "__init__" and p.parent.name != "cli")
    names.update(p.name for p in PACKAGE.iterdir() if p.is_dir() and (p / "__init__.py").exists())
    assert [n for n, k in names.items() if k > 1] == []
