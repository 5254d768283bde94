"""McNemar's exact test for two runs on one test set (the p-value column of the result tables)."""

from __future__ import annotations

import pytest
from scipy.stats import binomtest

from rnnlab import significance


@pytest.mark.parametrize("only_a, only_b, both", [(0, 10, 50), (3, 12, 100), (40, 41, 0), (7, 0, 3), (120, 160, 900)])
def test_mcnemar_is_the_exact_binomial_test_on_the_discordant_rows(only_a, only_b, both):
    a = [True] * only_a + [False] * only_b + [True] * both + [False] * 5
    b = [False] * only_a + [True] * only_b + [True] * both + [False] * 5
    got_a, got_b, p = significance.mcnemar(a, b)
    assert (got_a, got_b) == (only_a, only_b)
    assert p == pytest.approx(binomtest(only_a, only_a + only_b, 0.5).pvalue, rel=1e-12)
    assert significance.mcnemar(b, a)[2] == p  # symmetric


def test_equal_runs_give_one_and_unequal_lengths_an_error(tmp_path):
    rows = [True, False, True]
    assert significance.mcnemar(rows, rows) == (0, 0, 1.0)
    with pytest.raises(ValueError, match="same test rows: 3 vs 2"):
        significance.mcnemar(rows, rows[:2])
    pairs = tmp_path / "confusion.csv"
    pairs.write_text("actual,predicted\nspam,spam\nham,spam\nham,ham\n", encoding="utf-8")
    assert significance.correct(pairs) == [True, False, True]
    assert [significance.p_text(p) for p in (0.0004, 0.0312, 1.0)] == ["< 0.001", "0.031", "1.000"]


def test_a_large_test_set_does_not_overflow():
    a = [i % 7 != 0 for i in range(25_000)]  # an IMDB-sized test set
    b = [i % 5 != 0 for i in range(25_000)]
    only_a, only_b, p = significance.mcnemar(a, b)
    assert only_a + only_b > 5_000 and 0 <= p < 1e-10


def test_paired_bootstrap_over_lines():
    import numpy as np

    rng = np.random.default_rng(0)
    chars = rng.integers(20, 60, size=300)
    base = chars * rng.normal(2.5, 0.3, size=300)
    a = list(zip(chars.tolist(), base.tolist()))
    # a model 0.1 bit/char better on every line, with line-to-line noise
    better = list(zip(chars.tolist(), (base - chars * (0.1 + rng.normal(0, 0.2, size=300))).tolist()))
    d, low, high, p = significance.paired_bootstrap(better, a, seed=42, resamples=2000)
    assert d == pytest.approx(-(base.sum() - sum(x for _, x in better)) / chars.sum())
    assert low < d < high < 0 and p == pytest.approx(1 / 2000)
    assert significance.paired_bootstrap(better, a, seed=42, resamples=2000) == (d, low, high, p)  # seeded
    assert significance.paired_bootstrap(a, a, seed=1, resamples=500) == (0.0, 0.0, 0.0, 1.0)
    # a difference that is noise, nothing on the whole: p far from zero, the interval across it
    e = rng.normal(0, 0.2, size=300)
    e -= (chars * e).sum() / chars.sum()
    noise = list(zip(chars.tolist(), (base + chars * e).tolist()))
    _, low, high, p = significance.paired_bootstrap(noise, a, seed=42, resamples=2000)
    assert low < 0 < high and p > 0.05
    with pytest.raises(ValueError, match="same lines"):
        significance.paired_bootstrap(a[:-1], a, seed=1)
    rows = [(0, 12, 30.5), (1, 40, 101.25)]
    from rnnlab import charscores

    assert charscores.lines_csv(rows) == "line,chars,bits\n0,12,30.500000\n1,40,101.250000\n"
    assert significance.p_phrase(0.0004) == "p < 0.001" and significance.p_phrase(0.2) == "p = 0.200"


def test_two_runs_are_compared_only_on_the_same_test_rows(tmp_path):
    from rnnlab.errors import RnnlabError

    a, b, other = tmp_path / "a.csv", tmp_path / "b.csv", tmp_path / "other.csv"
    a.write_text("actual,predicted\nspam,spam\nham,spam\nham,ham\n", encoding="utf-8")
    b.write_text("actual,predicted\nspam,ham\nham,ham\nham,ham\n", encoding="utf-8")
    other.write_text("actual,predicted\nham,ham\nspam,spam\nham,ham\n", encoding="utf-8")  # another split's rows
    assert significance.mcnemar_files(a, b) == significance.mcnemar([True, False, True], [False, True, True])
    with pytest.raises(RnnlabError, match=r"a.csv and .*other.csv: not the same test rows"):
        significance.mcnemar_files(a, other)
