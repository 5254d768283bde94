"""Read files out of archives and packages without trusting them.

Named members are copied to names the catalog chooses; whole-archive extraction refuses
absolute paths, `..`, links pointing outside the target, special files and size bombs.
A glob (`members_glob`) copies only the members it matches, below the pattern's literal
prefix, under the same checks; nothing it does not match is read. Sizes are checked
against the caps (`Limits`) from the archive's index, before a byte is written.
"""

from __future__ import annotations

import bz2
import gzip
import io
import lzma
import os
import tarfile
import zipfile
import zlib
from dataclasses import dataclass, replace
from fnmatch import fnmatchcase
from pathlib import Path, PurePosixPath
from typing import BinaryIO, Callable, Iterator

CHUNK = 1 << 20
MAX_BYTES = 8 << 30  # refuse archives that expand beyond 8 GiB
WILDCARDS = "*?["


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


@dataclass(frozen=True)
class Limits:
    """Caps on what an archive may expand to, checked on the members' declared sizes before extraction."""

    member_bytes: int = 2 << 30  # one member (the largest pinned file today is 347 MB)
    total_bytes: int = MAX_BYTES
    members: int = 1_000_000  # a flood of tiny files exhausts inodes long before bytes
    ratio: float = 100.0  # bytes out per byte of archive: text packs 3-10x, bombs 1000x and more
    floor_bytes: int = 16 << 20  # a small archive may expand this far whatever its ratio

    def check(self, members: list[Member], archive_bytes: int) -> None:
        if len(members) > self.members:
            raise UnsafeArchive(f"archive holds {len(members):,} members to extract, over the cap of {self.members:,}")
        for m in members:
            if m.size > self.member_bytes:
                raise UnsafeArchive(f"member {m.name!r} is {m.size:,} bytes, over the cap of {self.member_bytes:,} per member")
        total = sum(m.size for m in members)
        if total > self.total_bytes:
            raise UnsafeArchive(f"archive expands beyond {self.total_bytes} bytes")
        if total > max(self.ratio * archive_bytes, self.floor_bytes):
            raise UnsafeArchive(f"archive expands {total / max(archive_bytes, 1):,.0f}-fold ({archive_bytes:,} to {total:,} "
                                f"bytes), over the cap of {self.ratio:g}-fold (a decompression bomb?)")


LIMITS = Limits()


def _copy(member: Member, target: Path) -> None:
    # the zip and tar readers stop at the declared size; counting anyway keeps the caps honest
    written = 0
    with member.open() as fin, open(target, "wb") as fout:
        while chunk := fin.read(CHUNK):
            written += len(chunk)
            if written > member.size:
                raise UnsafeArchive(f"member {member.name!r} holds more than its declared {member.size:,} bytes")
            fout.write(chunk)


def extract_members(path: Path, wanted: dict[str, str], out: Path, limits: Limits = LIMITS) -> None:
    """Copy archive members to out/<name> for each name -> member in wanted."""
    try:
        with open_archive(path) as arch:
            index = {m.name: m for m in _members(arch)}
            chosen = {}
            for name, member_name in wanted.items():
                member = index.get(member_name) or index.get(member_name.removeprefix("./"))
                if member is None:
                    raise CorruptArchive(f"archive has no member {member_name!r}")
                if member.kind != "file":
                    raise UnsafeArchive(f"member {member_name} is not a regular file of sane size")
                chosen[name] = member
            limits.check(list(chosen.values()), path.stat().st_size)
            for name, member in chosen.items():
                _copy(member, out / name)
    except (zipfile.BadZipFile, tarfile.TarError, EOFError, lzma.LZMAError, zlib.error) as e:
        raise CorruptArchive(f"corrupt archive ({e})") from None


def literal_prefix(pattern: str) -> list[str]:
    """The leading path segments of a glob without wildcards: what extraction strips."""
    parts = pattern.split("/")
    n = next((i for i, p in enumerate(parts) if any(c in p for c in WILDCARDS)), len(parts))
    return parts[:n]


def glob_match(pattern: str, name: str) -> bool:
    """Whole-path match, segment by segment: `*` stays within a folder, `**` spans any number of them."""
    return _match(tuple(pattern.split("/")), tuple(name.split("/")))


def _match(pat: tuple[str, ...], parts: tuple[str, ...]) -> bool:
    if not pat:
        return not parts
    if pat[0] == "**":
        return any(_match(pat[1:], parts[i:]) for i in range(len(parts) + 1))
    return bool(parts) and fnmatchcase(parts[0], pat[0]) and _match(pat[1:], parts[1:])


def _matching(arch, pattern: str, out: Path) -> list[tuple[Member, Path]]:
    """(member, target) for each member the pattern matches; a matching link or device is refused."""
    strip = len(literal_prefix(pattern))
    chosen, seen = [], set()
    for m in _members(arch):
        name = m.name.removeprefix("./")  # .deb data tarballs name members ./usr/...
        if m.kind == "dir" or not glob_match(pattern, name):
            continue
        if m.kind != "file":
            raise UnsafeArchive(f"member {m.name!r} matches {pattern!r} but is a {m.kind}, not a regular file")
        rel = "/".join(name.split("/")[strip:])
        if not rel or any(ord(c) < 32 for c in rel):
            raise UnsafeArchive(f"unsafe member path {m.name!r}")
        if rel in seen:
            raise UnsafeArchive(f"member {m.name!r} appears twice in the archive")
        seen.add(rel)
        chosen.append((m, _safe_target(out, rel)))
    return chosen


def extract_glob(path: Path, pattern: str, out: Path, limits: Limits = LIMITS) -> int:
    """Copy the members matching pattern to out/<path below the pattern's literal prefix>; return how many."""
    try:
        with open_archive(path) as arch:
            chosen = _matching(arch, pattern, out)
            if not chosen:
                raise CorruptArchive(f"archive has no member matching {pattern!r}")
            limits.check([m for m, _ in chosen], path.stat().st_size)
            for m, target in chosen:
                target.parent.mkdir(parents=True, exist_ok=True)
                _copy(m, target)
    except (zipfile.BadZipFile, tarfile.TarError, EOFError, lzma.LZMAError, zlib.error) as e:
        raise CorruptArchive(f"corrupt archive ({e})") from None
    return len(chosen)


def _safe_target(out: Path, name: str) -> Path:
    p = PurePosixPath(name)
    if p.is_absolute() or ".." in p.parts or name.startswith(("/", "\\")):
        raise UnsafeArchive(f"unsafe member path {name!r} (path traversal)")
    return out / p


def extract_all(path: Path, out: Path, only: list[str] | None = None, max_bytes: int = MAX_BYTES,
                limits: Limits = LIMITS) -> None:
    """Extract the members below the top-level names in `only` (every member if None) into out,
    refusing anything that could land outside it. Members outside those names are never read."""
    try:
        with open_archive(path) as arch:
            members = list(_members(arch))
            for m in members:  # a traversal anywhere marks a hostile archive, listed member or not
                _safe_target(out, m.name)
            members = [m for m in members if only is None or _below(m.name, only)]
            files = [m for m in members if m.kind == "file"]
            replace(limits, total_bytes=max_bytes).check(files, path.stat().st_size)
            for m in members:
                target = _safe_target(out, m.name)
                if m.kind == "link":
                    inside = os.path.realpath(target.parent / m.link).startswith(os.path.realpath(out) + os.sep)
                    if not m.link or not inside:
                        raise UnsafeArchive(f"link {m.name!r} -> {m.link!r} points outside the target")
                    continue  # corpora need no links; an inside link is harmless but skipped
                if m.kind == "special":
                    raise UnsafeArchive(f"member {m.name!r} is a special file")
                if m.kind == "dir":
                    target.mkdir(parents=True, exist_ok=True)
                else:
                    target.parent.mkdir(parents=True, exist_ok=True)
                    _copy(m, target)
    except (zipfile.BadZipFile, tarfile.TarError, EOFError, lzma.LZMAError, zlib.error) as e:
        raise CorruptArchive(f"corrupt archive ({e})") from None


def _below(name: str, tops: list[str]) -> bool:
    parts = PurePosixPath(name.removeprefix("./")).parts
    return bool(parts) and any(parts[:len(PurePosixPath(t).parts)] == PurePosixPath(t).parts for t in tops)


DECOMPRESSORS = {"gzip": gzip.open, "bz2": bz2.open, "xz": lzma.open}


def decompress(path: Path, dest: Path, compression: str, limits: Limits = LIMITS) -> None:
    """Decompress a single-file stream, under the same caps as an archive member (its size is only
    known while reading, so the caps are counted as it goes)."""
    packed = path.stat().st_size
    cap = min(limits.member_bytes, limits.total_bytes, max(limits.ratio * packed, limits.floor_bytes))
    written = 0
    try:
        with DECOMPRESSORS[compression](path, "rb") as fin, open(dest, "wb") as fout:
            while chunk := fin.read(CHUNK):
                written += len(chunk)
                if written > cap:
                    raise UnsafeArchive(f"{compression} stream expands beyond {cap:,.0f} bytes ({packed:,} packed; "
                                        f"caps: {limits.ratio:g}-fold, {limits.member_bytes:,} bytes)")
                fout.write(chunk)
    except (gzip.BadGzipFile, EOFError, lzma.LZMAError, zlib.error, ValueError) as e:
        raise CorruptArchive(f"corrupt {compression} stream ({e})") from None
    except OSError as e:
        if e.errno is not None:  # the disk (full, read-only), not the stream
            raise
        raise CorruptArchive(f"corrupt {compression} stream ({e})") from None
