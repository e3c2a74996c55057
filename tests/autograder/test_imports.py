"""Does every module of the grader use only the public names of the others?

A module's private names (``_name``) are free to change with it; another module that reaches into them
(``api._WORKER``, ``from autograder.api import _plan``) ties the two together where no reader looks. The
source of every module is parsed (nothing is imported or run) and each such reach is listed.
"""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
PACKAGE = ROOT / "autograder"


def module_name(path: Path) -> str:
    """The dotted name of a module file (a package's ``__init__.py`` is the package)."""
    parts = path.relative_to(ROOT).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


MODULES = {module_name(p): p for p in sorted(PACKAGE.rglob("*.py"))}


def private(name: str) -> bool:
    """Whether ``name`` is a module's private name (``_x``, not a dunder such as ``__version__``)."""
    return name.startswith("_") and not (name.startswith("__") and name.endswith("__"))


def absolute(node: ast.ImportFrom, importer: str, is_package: bool) -> str:
    """The module a ``from ... import`` names, relative imports resolved against ``importer``."""
    if not node.level:
        return node.module or ""
    base = importer.split(".")
    base = base if is_package else base[:-1]
    base = base[: len(base) - (node.level - 1)]
    return ".".join([*base, *([node.module] if node.module else [])])


def reaches(text: str, me: str, *, is_package: bool = False) -> list[str]:
    """Each use in module ``me`` (source ``text``) of another grader module's private name: ``line: what``."""
    tree = ast.parse(text)
    aliases: dict[str, str] = {}  # a local name bound to one of the grader's modules -> that module
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                if alias.name in MODULES:
                    aliases[alias.asname or alias.name.split(".")[0]] = (
                        alias.name if alias.asname else "autograder"
                    )
        elif isinstance(node, ast.ImportFrom):
            source = absolute(node, me, is_package)
            for alias in node.names:
                if f"{source}.{alias.name}" in MODULES:
                    aliases[alias.asname or alias.name] = f"{source}.{alias.name}"
                elif source in MODULES and source != me and private(alias.name):
                    found.append(f"{node.lineno}: from {source} import {alias.name}")
    for node in ast.walk(tree):
        if not (isinstance(node, ast.Attribute) and private(node.attr)):
            continue
        dotted: list[str] = []
        value = node.value
        while isinstance(value, ast.Attribute):
            dotted.insert(0, value.attr)
            value = value.value
        if isinstance(value, ast.Name) and value.id in aliases:
            target = ".".join([aliases[value.id], *dotted])
            if target in MODULES and target != me:
                found.append(f"{node.lineno}: {target}.{node.attr}")
    return found


def test_no_module_uses_another_modules_private_names():
    found = {}
    for name, path in MODULES.items():
        hits = reaches(path.read_text(encoding="utf-8"), name, is_package=path.name == "__init__.py")
        if hits:
            found[name] = hits
    assert not found, f"private names used across modules (make them public or move them): {found}"


def test_the_check_finds_each_kind_of_reach():
    """A reach through an attribute, a dotted path and a from-import is found; a module's own are not."""
    text = (
        "from autograder import api\n"
        "import autograder.sandbox.cgroups\n"
        "from autograder.store import _hidden\n"
        "from . import score\n"
        "from .execute import _own_neighbour\n"
        "_mine = 1\n"
        "api._WORKER, autograder.sandbox.cgroups._root, score._points, _mine, api.grade, api.__doc__\n"
    )
    assert reaches(text, "autograder.steps.restore") == [
        "3: from autograder.store import _hidden",
        "5: from autograder.steps.execute import _own_neighbour",
        "7: autograder.api._WORKER",
        "7: autograder.sandbox.cgroups._root",
        "7: autograder.steps.score._points",
    ]
