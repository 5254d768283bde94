"""The linear n-gram reference row (NB-LR, rnnlab/ngrams.py) on the real SMS Spam Collection."""

import numpy as np
import pytest

from rnnlab import ngrams
from rnnlab.vocab import tokenize


@pytest.fixture(scope="module")
def sms(sms_table):
    texts, labels = sms_table["text"].tolist(), sms_table["label"].tolist()
    y = np.array([["ham", "spam"].index(label) for label in labels])
    return texts[:4000], y[:4000], texts[4000:], y[4000:]


def test_nblr_tells_spam_from_ham_well_above_the_majority(sms):
    train, y, test, y_test = sms
    x, (x_test,) = ngrams.features(train, [test], tokenize, (1, 2), 2)
    assert x.shape[0] == 4000 and x.max() == 1  # binary presence
    (probs,) = ngrams.fit_scores(x, y, 2, 0.1, [x_test])
    assert probs.shape == (len(test), 2) and np.allclose(probs.sum(1), 1)
    accuracy = (probs.argmax(1) == y_test).mean()
    assert accuracy > 0.97 > (y_test == 0).mean() + 0.1  # the majority class (ham) is ~0.87
    again = ngrams.fit_scores(x, y, 2, 0.1, [x_test])[0]
    assert np.array_equal(probs, again)  # a convex fit, the same every run


def test_the_log_count_ratio_points_at_the_class_a_word_belongs_to(sms):
    train, y, _, _ = sms
    from sklearn.feature_extraction.text import CountVectorizer

    vec = CountVectorizer(tokenizer=tokenize, lowercase=False, token_pattern=None, binary=True)
    x = vec.fit_transform(train).astype(float)
    r = dict(zip(vec.get_feature_names_out(), ngrams.log_count_ratio(x, y == 1)))
    assert r["prize"] > 2 > 0 > -1 > r["lol"]  # spam words up, chat words down


def test_more_than_two_classes_get_one_model_each(sms):
    train, y, test, y_test = sms
    # a third class: ham messages mentioning time words, a split any n-gram model can learn
    three = lambda texts, labels: np.array([2 if l == 0 and any(w in t.lower() for w in ("tomorrow", "tonight", "today"))  # noqa: E731
                                            else l for t, l in zip(texts, labels)])
    x, (x_test,) = ngrams.features(train, [test], tokenize, (1, 1), 1)
    (probs,) = ngrams.fit_scores(x, three(train, y), 3, 1.0, [x_test])
    assert probs.shape == (len(test), 3) and np.allclose(probs.sum(1), 1)
    assert (probs.argmax(1) == three(test, y_test)).mean() > 0.9
