import pytest

from rnnlab import fetch
from rnnlab.corpora import load_table
from rnnlab.errors import RnnlabError


@pytest.fixture
def sms_raw(in_project, mirror):
    dest = in_project / "raw"
    fetch.fetch("sms_spam", dest, fetch.Settings(order=("mirror",), mirror_dir=mirror))
    return dest


def test_uci_collection_parses_to_5574_labelled_messages(sms_raw):
    table, source = load_table(sms_raw)
    assert len(table) == 5574
    assert table["label"].value_counts().to_dict() == {"ham": 4827, "spam": 747}
    assert list(table.columns) == ["id", "text", "label"]
    assert table["text"].iloc[0].startswith("Go until jurong point")
    assert source["corpus"] == "sms_spam"


def test_non_utf8_file_names_the_file_and_byte(sms_raw):
    (sms_raw / "SMSSpamCollection").write_bytes(b"ham\tok\nspam\t\xff\xfe win\n")
    with pytest.raises(RnnlabError, match=r"SMSSpamCollection: not utf-8 at byte 12 \(line 2\)"):
        load_table(sms_raw)
