import pandas as pd
import pytest

from rnnlab import split
from rnnlab.errors import RnnlabError


def test_stratified_split_keeps_class_balance_and_is_deterministic(sms_table):
    parts = split.stratified(sms_table, val=0.1, test=0.2, seed=7, source="sms")
    sizes = {k: len(v) for k, v in parts.items()}
    assert sum(sizes.values()) == len(sms_table)
    assert sizes["test"] == pytest.approx(0.2 * len(sms_table), abs=1)
    overall = (sms_table["label"] == "spam").mean()
    for df in parts.values():
        assert (df["label"] == "spam").mean() == pytest.approx(overall, abs=0.01)
    again = split.stratified(sms_table, val=0.1, test=0.2, seed=7, source="sms")
    assert all(parts[k].equals(again[k]) for k in parts)
    other = split.stratified(sms_table, val=0.1, test=0.2, seed=8, source="sms")
    assert not parts["test"].equals(other["test"])


def test_splits_do_not_share_rows(sms_table):
    table = sms_table.assign(id=range(len(sms_table)))
    parts = split.stratified(table, 0.1, 0.2, 0, "sms")
    ids = [set(df["id"]) for df in parts.values()]
    assert not (ids[0] & ids[1] or ids[0] & ids[2] or ids[1] & ids[2])


def test_one_class_and_tiny_class_are_refused():
    one = pd.DataFrame({"text": list("abcdef"), "label": ["ham"] * 6})
    with pytest.raises(RnnlabError, match="only one class"):
        split.stratified(one, 0.1, 0.2, 0, "x.tsv")
    tiny = pd.DataFrame({"text": list("abcdef"), "label": ["ham"] * 5 + ["spam"]})
    with pytest.raises(RnnlabError, match="'spam' has 1 row"):
        split.stratified(tiny, 0.1, 0.2, 0, "x.tsv")


def test_clean_drops_empty_texts_and_folds_whitespace():
    df = pd.DataFrame({"text": ["  a \t b ", "", "   "], "label": ["ham"] * 3})
    assert split.clean(df, "x").to_dict("list") == {"text": ["a b"], "label": ["ham"]}
    with pytest.raises(RnnlabError, match="x: no non-empty texts"):
        split.clean(df.iloc[1:], "x")


def test_sample_is_stratified(sms_table):
    small = split.sample(sms_table, 500, seed=0)
    assert len(small) == 500
    assert (small["label"] == "spam").mean() == pytest.approx((sms_table["label"] == "spam").mean(), abs=0.01)


def test_given_test_split_is_kept_and_validation_carved_from_the_rest():
    df = pd.DataFrame({"text": [f"t{i}" for i in range(200)], "label": ["pos", "neg"] * 100,
                       "split": ["train"] * 100 + ["test"] * 100})
    parts = split.stratified(df, val=0.1, test="given", seed=0, source="imdb")
    assert len(parts["test"]) == 100 and set(parts["test"]["split"]) == {"test"}
    assert len(parts["val"]) == 20 and len(parts["train"]) == 80  # val = 10% of the whole corpus
    assert (parts["val"]["label"] == "pos").mean() == 0.5


def test_given_split_without_test_rows_is_refused():
    df = pd.DataFrame({"text": list("abcdef"), "label": ["a", "b"] * 3, "split": ["train"] * 6})
    with pytest.raises(RnnlabError, match="no rows with split == 'test'"):
        split.stratified(df, 0.1, "given", 0, "corpus.csv")


def test_html_line_breaks_are_removed():
    df = pd.DataFrame({"text": ["Great film.<br /><br />Loved it", "ok<BR>fine"], "label": ["pos", "neg"]})
    assert split.clean(df, "x")["text"].tolist() == ["Great film. Loved it", "ok fine"]
