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
        elif isinstance(node, ast.ImportFrom):
            module = _absolute(node, path)
            if module:
                names.append(module)
                names += [f"{module}.{a.name}" for a in node.names]
    for node in tree.body:
        targets = node.targets if isinstance(node, ast.Assign) else [node.target] if isinstance(node, ast.AnnAssign) else []
        if any(isinstance(t, ast.Name) and t.id == "DEPENDS_ON" for t in targets):
            data += _files(node.value, path)
    return tuple(names), tuple(data)


def _absolute(node: ast.ImportFrom, path: Path) -> str | None:
    """`from .x import y` inside rnnlab/a.py -> 'rnnlab.x'; absolute imports as they are."""
    if node.level == 0:
        return node.module
    package = list(path.parent.parts)
    if node.level > 1:
        package = package[: -(node.level - 1)]
    top = next((i for i, part in enumerate(package) if part in PACKAGES), None)
    if top is None:
        return None
    return ".".join(package[top:] + ([node.module] if node.module else []))


def _files(value, path: Path) -> list[str]:
    """DEPENDS_ON must be a literal tuple or list of file names: anything else is refused, not misread."""
    try:
        files = ast.literal_eval(value)
    except ValueError:
        files = None
    if not isinstance(files, (tuple, list)) or not all(isinstance(f, str) for f in files):
        raise ValueError(f"{path}: DEPENDS_ON must be a literal tuple of file names, e.g. (\"report.md\",)")
    return list(files)


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
