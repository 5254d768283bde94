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
from pathlib import Path, PurePosixPath

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


def extract_members(path: Path, wanted: dict[str, str], out: Path) -> None:
    """Copy archive members to out/<name> for each name -> member in wanted."""
    arch = open_archive(path)
    try:
        with arch:
            for name, member in wanted.items():
                if isinstance(arch, zipfile.ZipFile):
                    info = arch.getinfo(member)
                    size, fin = info.file_size, arch.open(info)
                else:
                    info = arch.getmember(member)
                    if not info.isfile():
                        raise UnsafeArchive(f"member {member} is not a regular file")
                    size, fin = info.size, arch.extractfile(info)
                if size > MAX_BYTES:
                    raise UnsafeArchive(f"member {member} claims {size} bytes")
                with fin, open(out / name, "wb") as fout:
                    shutil.copyfileobj(fin, fout, CHUNK)
    except KeyError as e:
        raise CorruptArchive(f"archive has no member {e}") from None
    except (zipfile.BadZipFile, tarfile.TarError, EOFError, lzma.LZMAError, zlib.error) as e:
        raise CorruptArchive(f"corrupt archive ({e})") from None


def _safe_target(out: Path, name: str) -> Path:
    p = PurePosixPath(name)
    if p.is_absolute() or ".." in p.parts or name.startswith(("/", "\\")):
        raise UnsafeArchive(f"unsafe member path {name!r} (path traversal)")
    return out / p


def extract_all(path: Path, out: Path, max_bytes: int = MAX_BYTES) -> None:
    """Extract every member into out, refusing anything that could land outside it."""
    arch = open_archive(path)
    total = 0
    try:
        with arch:
            if isinstance(arch, zipfile.ZipFile):
                for info in arch.infolist():
                    target = _safe_target(out, info.filename)
                    if (info.external_attr >> 16) & 0o170000 == 0o120000:
                        raise UnsafeArchive(f"member {info.filename!r} is a symbolic link")
                    total += info.file_size
                    if total > max_bytes:
                        raise UnsafeArchive(f"archive expands beyond {max_bytes} bytes")
                    if info.is_dir():
                        target.mkdir(parents=True, exist_ok=True)
                        continue
                    target.parent.mkdir(parents=True, exist_ok=True)
                    with arch.open(info) as fin, open(target, "wb") as fout:
                        shutil.copyfileobj(fin, fout, CHUNK)
            else:
                for info in arch.getmembers():
                    target = _safe_target(out, info.name)
                    if info.issym() or info.islnk():
                        link = (target.parent / info.linkname) if info.issym() else out / info.linkname
                        if not os.path.realpath(link).startswith(os.path.realpath(out) + os.sep):
                            raise UnsafeArchive(f"link {info.name!r} -> {info.linkname!r} points outside the target")
                        continue  # links inside the target are not needed for corpora; skip them
                    if not (info.isfile() or info.isdir()):
                        raise UnsafeArchive(f"member {info.name!r} is a special file")
                    total += info.size
                    if total > max_bytes:
                        raise UnsafeArchive(f"archive expands beyond {max_bytes} bytes")
                    if info.isdir():
                        target.mkdir(parents=True, exist_ok=True)
                        continue
                    target.parent.mkdir(parents=True, exist_ok=True)
                    with arch.extractfile(info) as fin, open(target, "wb") as fout:
                        shutil.copyfileobj(fin, fout, CHUNK)
    except (zipfile.BadZipFile, tarfile.TarError, EOFError, lzma.LZMAError, zlib.error) as e:
        raise CorruptArchive(f"corrupt archive ({e})") from None


DECOMPRESSORS = {"gzip": gzip.open, "bz2": bz2.open, "xz": lzma.open}


def decompress(path: Path, dest: Path, compression: str) -> None:
    try:
        with DECOMPRESSORS[compression](path, "rb") as fin, open(dest, "wb") as fout:
            shutil.copyfileobj(fin, fout, CHUNK)
    except (OSError, EOFError, lzma.LZMAError, zlib.error) as e:
        raise CorruptArchive(f"corrupt {compression} stream ({e})") from None
