"""A stage's previous outputs, set aside while it runs instead of deleted.

DVC removes a stage's outputs before its command runs (`dvc repro` does too), so a stage that
failed or was stopped left nothing where its last good outputs were, while dvc.lock still named
them: a page, a metrics file or a model vanished from the workspace. The runner moves them under
.rnnlab/previous/ instead (one rename each; deleted as DVC would where an output lives on another
file system), drops them once the stage's new outputs are committed, and moves them back when it
did not get that far. A runner killed with -9 leaves them there, and the next run puts them back
first: a copy still set aside means its stage's new outputs were never committed, so dvc.lock
still names the copy.
"""

from __future__ import annotations

import errno
import os
from pathlib import Path
from urllib.parse import quote, unquote

STORE = Path(".rnnlab/previous")


class SetAside:
    def __init__(self, root: Path):
        self.root, self.store = Path(root), Path(root) / STORE
        self.held: dict[str, list[str]] = {}  # stage -> its outputs' paths, relative to the root

    def take(self, stage: str, paths: list[str]) -> None:
        """Move the outputs that exist out of the way (the command then finds their places empty)."""
        self.store.mkdir(parents=True, exist_ok=True)
        self.held[stage] = list(paths)
        for rel in paths:
            here, slot = self.root / rel, self._slot(rel)
            if _exists(here):
                _remove(slot)
                try:
                    os.replace(here, slot)
                except OSError as e:
                    if e.errno != errno.EXDEV:
                        raise
                    _remove(here)  # on another file system (a linked models/ or data/): as DVC does

    def drop(self, stage: str) -> None:
        """The stage's new outputs are committed: the old ones are in DVC's cache if they were cached."""
        for rel in self.held.pop(stage, []):
            _remove(self._slot(rel))

    def put_back(self, stage: str) -> None:
        """The stage failed or was stopped: whatever its command left goes, the old outputs return."""
        for rel in self.held.pop(stage, []):
            _move_back(self._slot(rel), self.root / rel)

    def put_back_all(self, keep: set[str] = frozenset()) -> None:
        """Every stage still held; those in keep leave their copies for the next run's recover."""
        for stage in list(self.held):
            if stage in keep:
                del self.held[stage]
            else:
                self.put_back(stage)

    def _slot(self, rel: str) -> Path:
        return self.store / quote(rel, safe="")


def recover(root: Path, outputs: set[str]) -> list[str]:
    """What a killed runner left set aside goes back, over whatever a command of that run left in its
    place; a copy of a path that no stage outputs any more is dropped."""
    store, returned = Path(root) / STORE, []
    for slot in sorted(store.iterdir()) if store.is_dir() else []:
        rel = unquote(slot.name)
        if rel in outputs:
            _move_back(slot, Path(root) / rel)
            returned.append(rel)
        else:
            _remove(slot)
    return returned


def _move_back(slot: Path, here: Path) -> None:
    _remove(here)
    if _exists(slot):  # else the stage had no such output before
        here.parent.mkdir(parents=True, exist_ok=True)
        os.replace(slot, here)


def _exists(path: Path) -> bool:
    return path.exists() or path.is_symlink()


def _remove(path: Path) -> None:
    from dvc_objects.fs.utils import remove  # read-only entries too, as DVC removes outputs

    if _exists(path):
        remove(os.fspath(path))
