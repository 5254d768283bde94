"""Whether two runs scored on the same test rows really differ: McNemar's exact test.

Two accuracies on one test set are paired, and only the rows where exactly one run is right say
anything about which is better. With no real difference each such row is a fair coin, so the count
of rows only the first run gets right is binomial(n discordant, 1/2); the two-sided p-value is twice
the smaller tail, at most 1. This exact form is the test Dietterich (1998) recommends for comparing
two classifiers on one test set; it needs no retraining, so every row of a table gets one.
"""

from __future__ import annotations

import csv
from math import comb
from pathlib import Path
from typing import Sequence


def mcnemar(a_right: Sequence[bool], b_right: Sequence[bool]) -> tuple[int, int, float]:
    """(rows only A gets right, rows only B gets right, two-sided exact p-value)."""
    if len(a_right) != len(b_right):
        raise ValueError(f"McNemar needs the same test rows: {len(a_right)} vs {len(b_right)} predictions")
    only_a = sum(1 for a, b in zip(a_right, b_right) if a and not b)
    only_b = sum(1 for a, b in zip(a_right, b_right) if b and not a)
    n, k = only_a + only_b, min(only_a, only_b)
    if n == 0:
        return 0, 0, 1.0
    return only_a, only_b, min(1.0, 2 * sum(comb(n, i) for i in range(k + 1)) / 2 ** n)  # exact integers


def correct(pairs_csv: Path) -> list[bool]:
    """Per test row, in the test split's order: did the run get it right? Read from the (actual,
    predicted) pairs that the evaluate stage writes beside its confusion matrix."""
    with open(pairs_csv, newline="", encoding="utf-8") as f:
        return [row["actual"] == row["predicted"] for row in csv.DictReader(f)]


def p_text(p: float) -> str:
    return "< 0.001" if p < 0.001 else f"{p:.3f}"
