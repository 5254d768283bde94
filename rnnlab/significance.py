"""Whether two runs scored on the same test rows really differ: McNemar's exact test for classifiers,
a paired bootstrap over lines for language models (bits per character).

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

from rnnlab.errors import RnnlabError


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
    return outcomes(pairs_csv)[1]


def outcomes(pairs_csv: Path) -> tuple[list[str], list[bool]]:
    """Each test row's true label and whether the run got it right, from an evaluate stage's pairs file."""
    with open(pairs_csv, newline="", encoding="utf-8") as f:
        rows = list(csv.DictReader(f))
    return [r["actual"] for r in rows], [r["actual"] == r["predicted"] for r in rows]


def versus(files: dict[str, Path], reference: str) -> dict[str, tuple[int, int, float]]:
    """mcnemar() of the reference run against every other run, from their pairs files, each read once;
    refused unless all hold the same test rows in the same order (a stale or differently split run would
    pair unrelated rows)."""
    read = {name: outcomes(path) for name, path in files.items()}
    actual, right = read[reference]
    out = {}
    for name, (their_actual, hits) in read.items():
        if their_actual != actual:
            raise RnnlabError(f"{files[reference]} and {files[name]}: not the same test rows (rerun their evaluate stages)")
        if name != reference:
            out[name] = mcnemar(right, hits)
    return out


def mcnemar_files(a_csv: Path, b_csv: Path) -> tuple[int, int, float]:
    """mcnemar() of two evaluate stages' pairs files (rows only A gets right, only B, p)."""
    return versus({"a": a_csv, "b": b_csv}, "a")["b"]


def p_text(p: float) -> str:
    return "< 0.001" if p < 0.001 else f"{p:.3f}"


def p_phrase(p: float) -> str:
    """'p < 0.001' or 'p = 0.042', for prose."""
    return f"p {'' if p < 0.001 else '= '}{p_text(p)}"


def paired_bootstrap(a: Sequence[tuple[int, float]], b: Sequence[tuple[int, float]], seed: int,
                     resamples: int = 10_000) -> tuple[float, float, float, float]:
    """Bits per character of A minus B on the same text, from each line's (characters, bits) under each
    model: (difference, 95% interval low, high, two-sided p). Lines, not characters, are resampled:
    neighbouring characters' losses are correlated, a line much less so with the next. p is twice the
    smaller share of resampled differences on either side of zero (at least 1 / resamples)."""
    import numpy as np

    if [n for n, _ in a] != [n for n, _ in b]:
        raise ValueError("the paired bootstrap needs both models' scores of the same lines")
    chars = np.array([n for n, _ in a], dtype=np.float64)
    diff = np.array([x for _, x in a]) - np.array([x for _, x in b])
    picks = np.random.default_rng(seed).integers(0, len(chars), size=(resamples, len(chars)))
    stats = diff[picks].sum(1) / chars[picks].sum(1)
    low, high = np.quantile(stats, [0.025, 0.975])
    p = min(1.0, 2 * min((stats <= 0).mean(), (stats >= 0).mean()))
    return float(diff.sum() / chars.sum()), float(low), float(high), max(p, 1 / resamples)
