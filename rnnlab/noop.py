"""A whole-pipeline `rnnlab repro` that has nothing to do, answered in a fraction of a second.

DVC checks each of the pipeline's stages on its own (its definition, params, every dependency and
output through its hash cache): ~35–45 ms a stage, seconds for the whole pipeline, even when nothing
changed. After a whole-pipeline run DVC has just found every stage up to date or made it so; this
module then notes what that verdict rests on: the bytes of dvc.yaml, dvc.lock and the params files,
and the size, modification time and inode of every file the lock names (inside directories too,
with each directory's listing). The next run compares those first. Any difference, however
small, and DVC decides as always; the shortcut trusts exactly what DVC's own hash cache trusts
(size, mtime and inode), never less.
"""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path

SNAPSHOT = Path(".rnnlab/up-to-date.json")
UP_TO_DATE = ("Data and pipelines are up to date (nothing DVC's last check rests on has changed; "
              "a --force run or a stage name asks DVC itself)")
DEFINITIONS = ("dvc.yaml", "dvc.lock", "params.yaml")  # and every params file the lock names


def _digest(path: Path) -> str | None:
    try:
        return hashlib.sha256(path.read_bytes()).hexdigest()
    except OSError:
        return None


def _stats(root: Path, paths: list[str]) -> dict[str, list]:
    """path -> [size, mtime_ns, inode] for files, and the sorted listing for directories, recursively."""
    out: dict[str, list] = {}
    pending = list(paths)
    while pending:
        rel = pending.pop()
        try:
            st = os.stat(root / rel)
        except OSError:
            out[rel] = ["missing"]
            continue
        if os.path.isdir(root / rel):
            names = sorted(os.listdir(root / rel))
            out[rel] = ["dir", *names]
            pending += [f"{rel}/{n}" for n in names]
        else:
            out[rel] = [st.st_size, st.st_mtime_ns, st.st_ino]
    return out


def _definitions(root: Path, names) -> dict[str, str | None]:
    return {name: _digest(root / name) for name in names}


def record(root: Path = Path(".")) -> None:
    """Note the state DVC has just verified (call after a whole-pipeline run that succeeded).

    Nothing is noted for a pipeline DVC reruns every time (a stage without dependencies, or one
    marked always_changed): there, only DVC may answer."""
    import yaml

    from rnnlab import atomic

    forget(root)
    loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
    stages = (yaml.load((root / "dvc.lock").read_text(encoding="utf-8"), Loader=loader) or {}).get("stages", {})
    defined = (yaml.load((root / "dvc.yaml").read_text(encoding="utf-8"), Loader=loader) or {}).get("stages", {})
    if not stages or any(not s.get("deps") for s in stages.values()) or \
            any(s.get("always_changed") for s in defined.values() if isinstance(s, dict)):
        return
    paths = sorted({e["path"] for s in stages.values() for e in [*s.get("deps", []), *s.get("outs", [])]})
    names = sorted({*DEFINITIONS, *(f for s in stages.values() for f in s.get("params", {}))})
    snapshot = {"definitions": _definitions(root, names), "paths": paths, "stats": _stats(root, paths)}
    atomic.write_text(root / SNAPSHOT, json.dumps(snapshot, sort_keys=True))


def up_to_date(root: Path = Path(".")) -> bool:
    """True only when nothing DVC's last verdict rests on has changed since it was recorded."""
    try:
        snapshot = json.loads((root / SNAPSHOT).read_text(encoding="utf-8"))
        recorded = snapshot["definitions"]
        return recorded == _definitions(root, recorded) and snapshot["stats"] == _stats(root, snapshot["paths"])
    except (OSError, ValueError, KeyError, TypeError, AttributeError):
        return False


def forget(root: Path = Path(".")) -> None:
    (root / SNAPSHOT).unlink(missing_ok=True)
