"""Write files and directories so that readers never see half of them (and hash what was written).

Everything goes to a temporary sibling first and is renamed into place only when
complete; a crash or exception leaves the previous state (or nothing) behind. A kill -9 cannot
clean up after itself: the next write of the same path removes what it left.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import re
import shutil
import tempfile
from pathlib import Path
from typing import Iterator


def sha256_file(path: Path, chunk: int = 1 << 20) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        while block := f.read(chunk):
            h.update(block)
    return h.hexdigest()


def _umask() -> int:
    """The process's umask, read without changing it where Linux shows it (setting it to read it back
    would give another thread's file created in between mode 0666)."""
    try:
        with open("/proc/self/status", encoding="ascii") as f:
            return next(int(line.split()[1], 8) for line in f if line.startswith("Umask:"))
    except (OSError, StopIteration, ValueError):
        mask = os.umask(0o022)
        os.umask(mask)
        return mask


def follow_umask(path: Path, directory: bool = False) -> None:
    """mkstemp and mkdtemp create 0600 / 0700: give a finished output the mode any new file gets,
    so teammates on a shared machine can read models and results."""
    os.chmod(path, (0o777 if directory else 0o666) & ~_umask())


def _temporary_sibling(path: Path, make=tempfile.mkstemp):
    """A new `.<name>.XXXXXXXX.tmp` beside path, after removing the ones a killed writer left
    (one stage writes each output, and DVC never runs one stage twice at once)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    left = re.compile(rf"\.{re.escape(path.name)}\.[a-z0-9_]{{8}}\.tmp")
    for old in path.parent.iterdir():
        if left.fullmatch(old.name):
            shutil.rmtree(old) if old.is_dir() and not old.is_symlink() else old.unlink(missing_ok=True)
    return make(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")


def write_bytes(path: Path, data: bytes) -> None:
    path = Path(path)
    fd, tmp = _temporary_sibling(path)
    try:
        follow_umask(Path(tmp))
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def write_text(path: Path, text: str) -> None:
    write_bytes(path, text.encode("utf-8"))


def write_json(path: Path, obj) -> None:
    # sort_keys + fixed indent: identical results give byte-identical files
    write_text(path, json.dumps(obj, indent=2, sort_keys=True, ensure_ascii=False) + "\n")


@contextlib.contextmanager
def output_dir(path: Path) -> Iterator[Path]:
    """Yield a fresh temporary directory that replaces `path` on success."""
    path = Path(path)
    tmp = Path(_temporary_sibling(path, tempfile.mkdtemp))
    try:
        follow_umask(tmp, directory=True)
        yield tmp
        if path.exists():
            old = path.with_name(f".{path.name}.old")
            shutil.rmtree(old, ignore_errors=True)
            path.rename(old)
            tmp.rename(path)
            shutil.rmtree(old, ignore_errors=True)
        else:
            tmp.rename(path)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
