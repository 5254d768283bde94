"""Which project files a script runs: its import closure over the project's own modules.

A DVC stage must list every file whose change can change its outputs. The closure is read from
the source (ast), imports inside functions included, so it is a safe over-approximation: a
module imported only on some path is still a dependency. A module that reads a data file at run
time names it in a module-level `DEPENDS_ON = ("file", ...)` (paths beside the module).
"""

from __future__ import annotations

import ast
from functools import cache
from pathlib import Path

PACKAGES = ("rnnlab",)  # the project's importable code; stage scripts are run as files, never imported


def module_file(name: str, root: Path) -> Path | None:
    """'rnnlab.models' -> rnnlab/models.py (or the package's __init__.py); None outside the project."""
    if name.split(".")[0] not in PACKAGES:
        return None
    base = root.joinpath(*name.split("."))
    for candidate in (base.with_suffix(".py"), base / "__init__.py"):
        if candidate.is_file():
            return candidate
    return None


@cache
def _parsed(path: Path) -> tuple[tuple[str, ...], tuple[str, ...]]:
    """(imported module names, including `from pkg import submodule` candidates; DEPENDS_ON entries)."""
    tree = ast.parse(path.read_text(encoding="utf-8"), str(path))
    names, data = [], []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names += [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.append(node.module)
            names += [f"{node.module}.{a.name}" for a in node.names]
    for node in tree.body:
        if isinstance(node, ast.Assign) and any(isinstance(t, ast.Name) and t.id == "DEPENDS_ON" for t in node.targets):
            data += [ast.literal_eval(node.value)][0]
    return tuple(names), tuple(data)


def _packages_of(name: str) -> list[str]:
    parts = name.split(".")
    return [".".join(parts[:i]) for i in range(1, len(parts))]


def closure(script: Path, root: Path = Path(".")) -> list[str]:
    """Every project file `python SCRIPT` runs, relative to root and sorted, the script first."""
    root = root.resolve()
    script = (root / script).resolve()
    seen, todo = {script}, [script]
    while todo:
        names, data = _parsed(todo.pop())
        for name in names:
            for module in (*_packages_of(name), name):
                path = module_file(module, root)
                if path is not None and path not in seen:
                    seen.add(path)
                    todo.append(path)
    files = set(seen)
    for path in seen:
        files.update((path.parent / f).resolve() for f in _parsed(path)[1])
    rel = sorted(str(p.relative_to(root)) for p in files - {script})
    return [str(script.relative_to(root)), *rel]
