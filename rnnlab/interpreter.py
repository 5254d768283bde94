"""The python that stage commands get: stage commands say `python`, and must reach this process's own,
the one with the project's packages, whatever PATH the user started it with."""

from __future__ import annotations

import os
import shutil
import sys
from pathlib import Path


def own_python_first(path: str) -> str:
    """`path` with this interpreter's directory first, unless `python` there already is this one (started as
    .venv/bin/rnnlab without the environment on PATH, or behind another python, every stage failed: no torch)."""
    own = str(Path(sys.executable).parent)
    found = shutil.which("python", path=path)
    if found and os.path.dirname(found) == own:
        return path
    return os.pathsep.join([own, *(p for p in path.split(os.pathsep) if p and p != own)])
