"""Read files out of archives and packages without trusting them.

Named members are copied to names the catalog chooses; whole-archive extraction refuses
absolute paths, `..`, links pointing outside the target, special files and size bombs.
"""

from __future__ import annotations

import bz2
import gzip
import io
import lzma
import os
import shutil
import tarfile
import zipfile
import zlib
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import BinaryIO, Callable, Iterator

CHUNK = 1 << 20
MAX_BYTES = 8 << 30  # refuse archives that expand beyond 8 GiB


class UnsafeArchive(Exception):
    pass


class CorruptArchive(Exception):
    pass


def _open_ar_member(deb: Path, prefix: str) -> bytes:
    """The payload of the first `ar` member whose name starts with prefix (a .deb is an ar archive)."""
    data = deb.read_bytes()
    if not data.startswith(b"!<arch>\n"):
        raise CorruptArchive("not a Debian package (no ar header)")
    pos = 8
    while pos + 60 <= len(data):
        name = data[pos:pos + 16].decode().strip().rstrip("/")
        size = int(data[pos + 48:pos + 58].decode().strip())
        if name.startswith(prefix):
            return data[pos + 60:pos + 60 + size]
        pos += 60 + size + (size % 2)
    raise CorruptArchive(f"package has no {prefix}* member")


def open_archive(path: Path):
    """A zipfile.ZipFile or tarfile.TarFile for path (.deb: its data tarball)."""
    try:
        if zipfile.is_zipfile(path):
            return zipfile.ZipFile(path)
        if path.suffix == ".deb":
            return tarfile.open(fileobj=io.BytesIO(_open_ar_member(path, "data.tar")))
        if tarfile.is_tarfile(path):
            return tarfile.open(path)
    except (zipfile.BadZipFile, tarfile.TarError, EOFError, lzma.LZMAError, zlib.error, ValueError) as e:
        raise CorruptArchive(f"corrupt archive ({e})") from None
    raise CorruptArchive("not a zip, tar or Debian archive (truncated or corrupt?)")


@dataclass(frozen=True)
class Member:
    """What extraction needs to know of a zip or tar member, whichever the archive."""

    name: str
    size: int
    kind: str  # file | dir | link | special
    link: str
    open: Callable[[], BinaryIO]


def _members(arch) -> Iterator[Member]:
    if isinstance(arch, zipfile.ZipFile):
        for info in arch.infolist():
            is_link = (info.external_attr >> 16) & 0o170000 == 0o120000
            kind = "dir" if info.is_dir() else "link" if is_link else "file"
            yield Member(info.filename, info.file_size, kind, "", lambda info=info: arch.open(info))
    else:
        for info in arch.getmembers():
            kind = ("file" if info.isfile() else "dir" if info.isdir() else
                    "link" if info.issym() or info.islnk() else "special")
            yield Member(info.name, info.size, kind, info.linkname, lambda info=info: arch.extractfile(info))


def _copy(member: Member, target: Path) -> None:
    with member.open() as fin, open(target, "wb") as fout:
        shutil.copyfileobj(fin, fout, CHUNK)


def extract_members(path: Path, wanted: dict[str, str], out: Path) -> None:
    """Copy archive members to out/<name> for each name -> member in wanted."""
    try:
        with open_archive(path) as arch:
            index = {m.name: m for m in _members(arch)}
            for name, member_name in wanted.items():
                member = index.get(member_name) or index.get(member_name.removeprefix("./"))
                if member is None:
                    raise CorruptArchive(f"archive has no member {member_name!r}")
                if member.kind != "file" or member.size > MAX_BYTES:
                    raise UnsafeArchive(f"member {member_name} is not a regular file of sane size")
                _copy(member, out / name)
    except (zipfile.BadZipFile, tarfile.TarError, EOFError, lzma.LZMAError, zlib.error) as e:
        raise CorruptArchive(f"corrupt archive ({e})") from None


def _safe_target(out: Path, name: str) -> Path:
    p = PurePosixPath(name)
    if p.is_absolute() or ".." in p.parts or name.startswith(("/", "\\")):
        raise UnsafeArchive(f"unsafe member path {name!r} (path traversal)")
    return out / p


def extract_all(path: Path, out: Path, max_bytes: int = MAX_BYTES) -> None:
    """Extract every member into out, refusing anything that could land outside it."""
    total = 0
    try:
        with open_archive(path) as arch:
            for m in _members(arch):
                target = _safe_target(out, m.name)
                if m.kind == "link":
                    inside = os.path.realpath(target.parent / m.link).startswith(os.path.realpath(out) + os.sep)
                    if not m.link or not inside:
                        raise UnsafeArchive(f"link {m.name!r} -> {m.link!r} points outside the target")
                    continue  # corpora need no links; an inside link is harmless but skipped
                if m.kind == "special":
                    raise UnsafeArchive(f"member {m.name!r} is a special file")
                total += m.size
                if total > max_bytes:
                    raise UnsafeArchive(f"archive expands beyond {max_bytes} bytes")
                if m.kind == "dir":
                    target.mkdir(parents=True, exist_ok=True)
                else:
                    target.parent.mkdir(parents=True, exist_ok=True)
                    _copy(m, target)
    except (zipfile.BadZipFile, tarfile.TarError, EOFError, lzma.LZMAError, zlib.error) as e:
        raise CorruptArchive(f"corrupt archive ({e})") from None


DECOMPRESSORS = {"gzip": gzip.open, "bz2": bz2.open, "xz": lzma.open}


def decompress(path: Path, dest: Path, compression: str) -> None:
    try:
        with DECOMPRESSORS[compression](path, "rb") as fin, open(dest, "wb") as fout:
            shutil.copyfileobj(fin, fout, CHUNK)
    except (OSError, EOFError, lzma.LZMAError, zlib.error) as e:
        raise CorruptArchive(f"corrupt {compression} stream ({e})") from None
