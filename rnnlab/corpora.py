"""Turn fetched corpus files into the project's table: columns id, text, label (+ extras).

How to read each corpus is data in catalog.yaml (`parser`), so a corpus in a known format
needs a catalog entry, not code. Extra columns a corpus brings (split, lang, book, ...) are
kept when the parser lists them.

Packaged corpora often ship one record per file (`json_files`, `text_files`): the label and an
optional `group` (a thread, a sender: records that must stay in one split) come from a field,
the parent folder or a regular expression on the file name. `email_body` keeps only the body
of an RFC-822 message and `strip` cuts regular expressions out of every text.
"""

from __future__ import annotations

import codecs
import csv
import email
import html
import json
import re
from pathlib import Path

import pandas as pd

from rnnlab import archives, catalog
from rnnlab.errors import RnnlabError

DECLARED = re.compile(r"^Character set encoding:\s*([\w.-]+)", re.M | re.I)


WESTERN_8BIT = {"cp1250", "cp1252", "latin_1", "iso8859_2", "iso8859_3", "iso8859_15", "mac_roman"}


def read_text(path: Path, encoding: str = "utf-8") -> tuple[str, str]:
    """(text, encoding used). encoding 'auto': BOM, else UTF-8, else the detected charset."""
    data = path.read_bytes()
    if encoding != "auto":
        try:
            return data.decode(encoding), encoding
        except UnicodeDecodeError:
            raise _undecodable(path, encoding) from None
    if data.startswith(codecs.BOM_UTF8):
        return data[3:].decode("utf-8"), "utf-8-sig"
    try:
        return data.decode("utf-8"), "utf-8"
    except UnicodeDecodeError:
        pass
    declared = DECLARED.search(data[:10_000].decode("ascii", "ignore"))
    if declared:  # Project Gutenberg headers name their charset
        guess = declared.group(1)
    else:
        from charset_normalizer import from_bytes  # ships with requests

        best = from_bytes(data[:200_000]).best()
        guess = best.encoding if best else "latin-1"
        if guess in WESTERN_8BIT:  # the detector cannot tell these apart on short texts
            guess = "cp1252" if re.search(rb"[\x80-\x9f]", data) else "latin-1"
    try:
        return data.decode(guess), guess
    except (UnicodeDecodeError, LookupError):
        raise RnnlabError(f"{path}: neither UTF-8 nor a detectable encoding") from None


def _files(spec: dict) -> dict[str, str | None]:
    """File name -> split name (or None when the corpus has no split of its own)."""
    if "files" in spec:
        return dict(spec["files"]) if isinstance(spec["files"], dict) else {f: None for f in spec["files"]}
    return {spec["file"]: None}


def _undecodable(path: Path, encoding: str) -> RnnlabError:
    """Where exactly a file stops being `encoding`: byte offset and line."""
    data = path.read_bytes()
    try:
        data.decode(encoding)
        return RnnlabError(f"{path}: not {encoding}")
    except UnicodeDecodeError as e:
        line = data[:e.start].count(b"\n") + 1
        return RnnlabError(f"{path}: not {encoding} at byte {e.start} (line {line})")


def _frames(raw_dir: Path, spec: dict, read_one) -> pd.DataFrame:
    parts = []
    for name, split in _files(spec).items():
        try:
            df = read_one(raw_dir / name)
        except UnicodeDecodeError:
            raise _undecodable(raw_dir / name, spec.get("encoding", "utf-8")) from None
        except pd.errors.ParserError as e:  # "Expected 2 fields in line 23, saw 3": a stray separator
            raise RnnlabError(f"{raw_dir / name}: {str(e).strip().splitlines()[-1]}") from None
        if split is not None:
            df["split"] = split
        # where each row came from, for error messages (dropped before the table is returned)
        df["_file"], df["_record"] = str(raw_dir / name), range(1, len(df) + 1)
        parts.append(df)
    return pd.concat(parts, ignore_index=True)


def _tsv(raw_dir: Path, spec: dict) -> pd.DataFrame:
    # QUOTE_NONE: SMS texts contain bare quotes that belong to the message
    return _frames(raw_dir, spec, lambda p: pd.read_csv(
        p, sep="\t", header=None, names=spec["columns"], skiprows=spec.get("skip_rows", 0),
        quoting=csv.QUOTE_NONE, dtype=str, keep_default_na=False, encoding=spec.get("encoding", "utf-8")))


def _csv(raw_dir: Path, spec: dict) -> pd.DataFrame:
    def one(path: Path) -> pd.DataFrame:
        if spec.get("header", True):
            df = pd.read_csv(path, dtype=str, keep_default_na=False, encoding=spec.get("encoding", "utf-8"))
        else:
            df = pd.read_csv(path, header=None, names=spec["columns"], dtype=str, keep_default_na=False,
                             encoding=spec.get("encoding", "utf-8"))
        missing = {spec.get("text", "text"), spec.get("label", "label")} - set(df.columns)
        if missing:
            raise RnnlabError(f"{path}: missing column(s) {', '.join(sorted(missing))}")
        return df.rename(columns={spec.get("text", "text"): "text", spec.get("label", "label"): "label"})
    return _frames(raw_dir, spec, one)


def _records(rows: list[dict], path: Path, spec: dict) -> pd.DataFrame:
    fields = spec["text"]
    group = [spec["group"]] if spec.get("group") else []
    out = []
    for i, row in enumerate(rows, 1):
        missing = [f for f in [*fields, spec["label"], *group] if f not in row]
        if missing:
            raise RnnlabError(f"{path}: record {i} has no field {missing[0]!r}")
        text = ". ".join(str(row[f]).strip() for f in fields if str(row[f]).strip())
        ident = {spec["id"]: row.get(spec["id"])} if spec.get("id") else {}
        out.append({"text": text, "label": str(row[spec["label"]]), **ident, **{k: row.get(k) for k in spec.get("keep", [])},
                    **{g: row[g] for g in group}})
    return pd.DataFrame(out)


def _jsonl(raw_dir: Path, spec: dict) -> pd.DataFrame:
    def one(path: Path) -> pd.DataFrame:
        rows = []
        for n, line in enumerate(read_text(path)[0].splitlines(), 1):
            if line.strip():
                try:
                    rows.append(json.loads(line))
                except json.JSONDecodeError as e:
                    raise RnnlabError(f"{path}: line {n} is not JSON ({e.msg})") from None
        return _records(rows, path, spec)
    return _frames(raw_dir, spec, one)


def _json_records(raw_dir: Path, spec: dict) -> pd.DataFrame:
    return _frames(raw_dir, spec, lambda p: _records(json.loads(read_text(p)[0]), p, spec))


def _tree_files(root: Path, spec: dict) -> list[Path]:
    """The record files below parser `dir` that match `glob` (default: all), in path order."""
    if not root.is_dir():
        raise RnnlabError(f"{root}: missing (fetch the corpus again)")
    pattern = spec.get("glob", "**")
    rels = sorted(p.relative_to(root).as_posix() for p in root.rglob("*") if p.is_file())
    return [root / rel for rel in rels if archives.glob_match(pattern, rel)]


def _pick(spec: dict, what: str, path: Path, root: Path, fields: dict) -> str:
    """A one-record file's label or group: from a field, its parent folder, or a regex on its name (group 1 if any)."""
    how = spec.get(f"{what}_from", "field")
    if how == "folder":
        if path.parent == root:
            raise RnnlabError(f"{path}: no folder below {root.name}/ to take the {what} from ({what}_from: folder)")
        return path.parent.name
    if how == "filename":
        found = re.search(spec[what], path.name)
        if not found:
            raise RnnlabError(f"{path}: the file name does not match the {what} pattern '{spec[what]}'")
        return found.group(1) if found.re.groups else found.group(0)
    if spec[what] not in fields:
        raise RnnlabError(f"{path}: no field {spec[what]!r} (the {what})")
    return _field_text(fields[spec[what]], path, spec[what])


def _field_text(value, path: Path, field: str) -> str:
    if value is None:
        return ""
    if isinstance(value, (str, int, float, bool)):
        return str(value)
    if isinstance(value, list) and all(isinstance(v, (str, int, float)) for v in value):
        return "\n".join(str(v) for v in value)
    raise RnnlabError(f"{path}: field {field!r} is not text (a JSON {type(value).__name__})")


def _one_per_file(raw_dir: Path, spec: dict, read) -> pd.DataFrame:
    """One record per file; read(path) -> (text, fields of the record)."""
    root = raw_dir / spec["dir"]
    grouped = "group" in spec or "group_from" in spec
    rows = []
    for path in _tree_files(root, spec):
        text, fields = read(path)
        # _record 0: the file is the record, so messages name the file alone
        row = {"text": text, "label": _pick(spec, "label", path, root, fields), "_file": str(path), "_record": 0}
        if grouped:
            row["group"] = _pick(spec, "group", path, root, fields)
        if spec.get("id"):
            row[spec["id"]] = fields.get(spec["id"])
        rows.append({**row, **{k: fields.get(k) for k in spec.get("keep", [])}})
    if not rows:
        raise RnnlabError(f"{root}: no file matches {spec.get('glob', '**')!r}")
    return pd.DataFrame(rows)


def _json_files(raw_dir: Path, spec: dict) -> pd.DataFrame:
    fields = spec["text"] if isinstance(spec["text"], list) else [spec["text"]]

    def one(path: Path) -> tuple[str, dict]:
        try:
            record = json.loads(read_text(path, spec.get("encoding", "utf-8"))[0])
        except json.JSONDecodeError as e:
            raise RnnlabError(f"{path}: not JSON ({e.msg} at line {e.lineno} column {e.colno})") from None
        if not isinstance(record, dict):
            raise RnnlabError(f"{path}: not a JSON object (a JSON {type(record).__name__})")
        missing = [f for f in fields if f not in record]
        if missing:
            raise RnnlabError(f"{path}: no field {missing[0]!r} (the text)")
        if spec.get("email_body"):  # the field holds a whole message, already decoded from the JSON
            return _email_body(_field_text(record[fields[0]], path, fields[0]).encode("utf-8"), path, "utf-8", False), record
        texts = [_field_text(record[f], path, f).strip() for f in fields]
        return ". ".join(t for t in texts if t), record
    return _one_per_file(raw_dir, spec, one)


def _text_files(raw_dir: Path, spec: dict) -> pd.DataFrame:
    encoding = spec.get("encoding", "utf-8")
    if spec.get("email_body"):  # bytes: each part is decoded with the charset it declares
        return _one_per_file(raw_dir, spec, lambda p: (_email_body(p.read_bytes(), p, encoding, True), {}))
    return _one_per_file(raw_dir, spec, lambda p: (read_text(p, encoding)[0], {}))


def _email_body(data: bytes, path: Path, charset: str, declared: bool) -> str:
    """The body of an RFC-822 message: its text/plain parts (else text/html without tags), quoted-printable
    and base64 undone, attachments left out. The stdlib parser only parses; nothing in a message runs.

    charset: for parts that declare none. declared: whether a part's declared charset describes these
    bytes (a file) or only its quoted-printable/base64 payload (a message that was a JSON string).
    """
    msg = email.message_from_bytes(data)
    parts = [p for p in msg.walk() if not p.is_multipart() and p.get_content_maintype() == "text"
             and p.get_content_disposition() != "attachment"]
    chosen = [p for p in parts if p.get_content_subtype() == "plain"] or \
        [p for p in parts if p.get_content_subtype() == "html"]
    return "\n".join(_part_text(p, path, charset, declared) for p in chosen)


def _part_text(part, path: Path, charset: str, declared: bool) -> str:
    payload = part.get_payload(decode=True) or b""
    encoded = part.get("Content-Transfer-Encoding", "").strip().lower() in ("quoted-printable", "base64")
    name = (part.get_content_charset() if declared or encoded else None) or charset
    try:
        text = payload.decode(name)
    except LookupError:
        raise RnnlabError(f"{path}: e-mail part {part.get_content_type()} declares an unknown charset {name!r}") from None
    except UnicodeDecodeError as e:
        raise RnnlabError(f"{path}: e-mail part {part.get_content_type()} is not {name} at byte {e.start} of its body") from None
    if part.get_content_subtype() == "html":
        text = html.unescape(re.sub(r"(?is)<(script|style)\b.*?</\1\s*>|<[^>]*>", " ", text))
    return text


# Modern ("*** START OF THE PROJECT GUTENBERG ...") and 1990s ("*END*THE SMALL PRINT!") headers
PG_START = re.compile(r"^(\*\*\* ?START OF (THE|THIS) PROJECT GUTENBERG.*|.*\*END\*? ?THE SMALL PRINT!.*)$", re.M | re.I)
PG_END = re.compile(r"^(\*\*\* ?END OF (THE|THIS) PROJECT GUTENBERG.*|End of (the )?Project Gutenberg.*)$", re.M | re.I)


def _gutenberg(raw_dir: Path, spec: dict) -> pd.DataFrame:
    """Paragraphs of each book (PG header and footer cut), labelled with the book's author."""
    rows = []
    for name, book in spec["books"].items():
        text, used = read_text(raw_dir / name, spec.get("encoding", "auto"))
        text = text.replace("\r\n", "\n")
        start, end = PG_START.search(text), PG_END.search(text)
        body = text[start.end() if start else 0: end.start() if end else len(text)]
        for para in re.split(r"\n\s*\n", body):
            para = " ".join(para.split())
            if len(para) >= spec.get("min_chars", 200):
                rows.append({"text": para, "label": book["author"], "lang": book["lang"],
                             "book": book["pg_id"], "encoding": used})
    return pd.DataFrame(rows)


def _poems(raw_dir: Path, spec: dict) -> pd.DataFrame:
    """One row per poem: poems are separated by two blank lines, the first line is the title."""
    text, _ = read_text(raw_dir / spec["file"])
    poems = [p.strip("\n") for p in re.split(r"\n\s*\n\s*\n", text) if p.strip()]
    return pd.DataFrame([{"text": p.split("\n", 1)[1].strip() if "\n" in p else p,
                          "label": p.split("\n", 1)[0].strip()} for p in poems])


def _stanzas(raw_dir: Path, spec: dict) -> pd.DataFrame:
    """One row per stanza (blank-line separated) of each file, labelled with the file's poet."""
    rows = []
    for name, poet in spec["files"].items():
        for stanza in re.split(r"\n\s*\n|\n#\n", read_text(raw_dir / name)[0]):
            if stanza.strip() and stanza.strip() != "#":
                rows.append({"text": stanza.strip(), "label": poet})
    return pd.DataFrame(rows)


def _fortune(raw_dir: Path, spec: dict) -> pd.DataFrame:
    """fortune(6) files: records split by lines holding only '%'; '-- Author' lines attribute them."""
    text, _ = read_text(raw_dir / spec["file"])
    text = re.sub(".\x08", "", text)  # backspace overstrikes (underlining) in old files
    rows = []
    for record in re.split(r"^%\s*$", text, flags=re.M):
        lines = record.strip("\n").split("\n")
        at = next((i for i, ln in enumerate(lines) if re.match(r"^\s+--\s*\S", ln)), None)
        if at is None or not record.strip():
            continue  # unattributed: no label
        author = " ".join(ln.strip() for ln in lines[at:]).removeprefix("--").strip().split(",")[0].strip()
        quote = " ".join(ln.strip() for ln in lines[:at]).strip()
        if quote:
            rows.append({"text": quote, "label": author, "lang": spec.get("lang")})
    return pd.DataFrame(rows)


def _aclimdb(raw_dir: Path, spec: dict) -> pd.DataFrame:
    """The original aclImdb tree: {train,test}/{pos,neg}/<id>_<rating>.txt."""
    rows = []
    for split in ("train", "test"):
        for label in ("neg", "pos"):
            for path in sorted((raw_dir / spec["dir"] / split / label).glob("*.txt")):
                rid, rating = path.stem.split("_")
                rows.append({"text": read_text(path)[0], "label": label, "split": split, "id_": rid, "rating": rating})
    return pd.DataFrame(rows)


def _where(df: pd.DataFrame, i: int, raw_dir: Path) -> str:
    if "_file" not in df:
        return f"{raw_dir}: record {i + 1}"
    return f"{df.at[i, '_file']}: record {df.at[i, '_record']}" if df.at[i, "_record"] else str(df.at[i, "_file"])


def _texts_present(df: pd.DataFrame, raw_dir: Path) -> pd.DataFrame:
    """Every record needs a text: an empty or missing one is a broken file, not a row to drop quietly."""
    text = df["text"].fillna("").astype(str)
    blank = text.str.strip() == ""
    if blank.any():
        i = int(blank.idxmax())
        raise RnnlabError(f"{_where(df, i, raw_dir)}: {'missing' if pd.isna(df.at[i, 'text']) else 'empty'} text "
                          f"({int(blank.sum())} such record(s))")
    return df.assign(text=text)


def _unique_records(df: pd.DataFrame, raw_dir: Path, spec: dict) -> pd.DataFrame:
    """Where the corpus has its own record ids (parser `id`), they must be unique.

    The same record repeated verbatim (HuffPost v3 has such copies) is kept once: left in, its copies
    could land in train and test alike. The same id with a different text or label is an error.
    """
    if not spec.get("id"):
        return df
    if spec["id"] not in df:
        raise RnnlabError(f"{raw_dir}: id field {spec['id']!r} (catalog parser `id`) is missing")
    ids = df[spec["id"]].astype(str)
    for _, group in df[ids.duplicated(keep=False)].groupby(ids):
        first, *others = group.index
        for i in others:
            if (df.at[i, "text"], df.at[i, "label"]) != (df.at[first, "text"], df.at[first, "label"]):
                at = (f"record {df.at[first, '_record']}" if df.at[first, "_record"] else df.at[first, "_file"]) \
                    if "_file" in df else f"record {first + 1}"
                raise RnnlabError(f"{_where(df, i, raw_dir)}: duplicate id {ids[i]!r} (first at {at}) "
                                  "with a different text or label")
    copies = int(ids.duplicated().sum())
    if copies:
        print(f"{raw_dir}: {copies} repeated record(s) with the same id kept once")
    return df[~ids.duplicated()].reset_index(drop=True)


def _stripped(df: pd.DataFrame, spec: dict) -> pd.DataFrame:
    """Parser `strip`: regular expressions cut from every text (signatures, disclaimers, markup)."""
    patterns = [re.compile(p) for p in spec.get("strip", [])]
    if not patterns:
        return df

    def cut(text):
        for pattern in patterns:
            text = pattern.sub("", text)
        return text
    return df.assign(text=df["text"].map(lambda t: cut(t) if isinstance(t, str) else t))


def _with_groups(df: pd.DataFrame, raw_dir: Path, spec: dict) -> pd.DataFrame:
    """The `group` column: records of one group are kept in one split (split.stratified)."""
    if spec["format"] in TABLE_FORMATS:  # a column or field of the record
        if spec["group"] not in df:
            raise RnnlabError(f"{raw_dir}: group field {spec['group']!r} (catalog parser `group`) is missing")
        df = df.assign(group=df[spec["group"]])
    blank = df["group"].isna() | (df["group"].astype(str).str.strip() == "")
    if blank.any():
        i = blank.idxmax()
        raise RnnlabError(f"{_where(df, i, raw_dir)}: no group ({int(blank.sum())} such record(s))")
    return df.assign(group=df["group"].astype(str))


READERS = {"tsv": _tsv, "csv": _csv, "jsonl": _jsonl, "json_records": _json_records, "json_files": _json_files,
           "text_files": _text_files, "gutenberg": _gutenberg, "poems": _poems, "stanzas": _stanzas,
           "fortune": _fortune, "aclimdb": _aclimdb}
TABLE_FORMATS = ("tsv", "csv", "jsonl", "json_records")
EXTRA = ("split", "lang", "book", "encoding", "rating", "year", "date")


def load_table(raw_dir: Path) -> tuple[pd.DataFrame, dict]:
    """Read the corpus fetched into raw_dir; return (table, provenance)."""
    source = json.loads((raw_dir / "source.json").read_text(encoding="utf-8"))
    entry = catalog.entry(source["corpus"])
    spec = entry.parser_of(source["source"])
    if spec["format"] not in READERS:
        raise RnnlabError(f"{source['corpus']}: format {spec['format']!r} is not a text corpus")
    try:
        df = READERS[spec["format"]](raw_dir, spec)
    except UnicodeDecodeError as e:
        raise RnnlabError(f"{raw_dir}: not {e.encoding} at byte {e.start}") from None
    except FileNotFoundError as e:
        raise RnnlabError(f"{e.filename}: missing (fetch the corpus again)") from None
    if df.empty:
        raise RnnlabError(f"{raw_dir}: no records")
    df = _stripped(df, spec)
    df["label"] = df["label"].astype(str)
    if spec.get("drop_labels"):
        df = df[~df["label"].isin([str(x) for x in spec["drop_labels"]])]
    labels = {str(k): v for k, v in spec.get("labels", {}).items()}
    if labels:
        unknown = ~df["label"].isin(list(labels))
        if unknown.any():
            i = unknown.idxmax()
            raise RnnlabError(f"{_where(df, i, raw_dir)}: unknown label {df.at[i, 'label']!r} (expected one of "
                              f"{sorted(labels)}; {int(unknown.sum())} such record(s))")
        df = df.assign(label=df["label"].map(labels))
    grouped = "group" in spec or "group_from" in spec
    if grouped:
        df = _with_groups(df, raw_dir, spec)
    df = _unique_records(_texts_present(df.reset_index(drop=True), raw_dir), raw_dir, spec)
    df["id"] = [f"{source['corpus']}:{i}" for i in range(len(df))]
    keep = ["id", "text", "label", *[c for c in EXTRA if c in df.columns], *(["group"] if grouped else [])]
    return df[keep], source
