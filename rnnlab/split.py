"""Clean a corpus table and split it into stratified train/validation/test sets.

A table with a `group` column (a thread, a sender; catalog parser `group`) is split by whole
groups, so near-copies within a group cannot sit in train and test at once. Without that column
the split is exactly what it always was.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from sklearn.model_selection import train_test_split

from rnnlab.errors import RnnlabError

SPLITS = ("train", "val", "test")


def clean(df: pd.DataFrame, source: str) -> pd.DataFrame:
    # IMDB reviews carry HTML line breaks; they are layout, not words
    text = df["text"].str.replace(r"<br\s*/?>", " ", regex=True, case=False)
    df = df.assign(text=text.str.strip().str.replace(r"\s+", " ", regex=True))
    df = df[df["text"] != ""]
    if df.empty:
        raise RnnlabError(f"{source}: no non-empty texts")
    return df.reset_index(drop=True)


def sample(df: pd.DataFrame, max_rows: int | None, seed: int) -> pd.DataFrame:
    """A stratified subset of at most max_rows rows (for quick runs)."""
    if max_rows is None or max_rows >= len(df):
        return df
    keep, _ = train_test_split(df, train_size=max_rows, stratify=df["label"], random_state=seed)
    return keep.sort_index()


def stratified(df: pd.DataFrame, val: float, test: float | str, seed: int, source: str) -> dict[str, pd.DataFrame]:
    """Stratified train/val/test; test="given" keeps the corpus's own test split (IMDB's 25,000)."""
    counts = df["label"].value_counts()
    if len(counts) < 2:
        raise RnnlabError(f"{source}: only one class ({counts.index[0]!r}); a classifier needs two or more")
    if counts.min() < 3:
        raise RnnlabError(f"{source}: class {counts.idxmin()!r} has {counts.min()} row(s); each needs 3 to be split")
    if "group" in df.columns:
        return _by_group(df, val, test, seed, source)
    if test == "given":
        if "split" not in df.columns or not (df["split"] == "test").any():
            raise RnnlabError(f"{source}: split.test is 'given' but the corpus has no rows with split == 'test'")
        rest, test_df = df[df["split"] != "test"], df[df["split"] == "test"]
        if rest.empty:
            raise RnnlabError(f"{source}: the train and val splits are empty (every row is in the corpus's test split)")
        val = val * len(df) / len(rest)  # val stays a fraction of the whole corpus
    else:
        rest, test_df = _cut(df, test, seed, source, "test")
        val = val / (1 - test)
    train_df, val_df = _cut(rest, val, seed, source, "val")
    parts = {"train": train_df, "val": val_df, "test": test_df}
    for name, part in parts.items():  # a class only in the corpus's own test split, say
        missing = sorted(set(df["label"]) - set(part["label"]))
        if missing:
            raise RnnlabError(f"{source}: class {missing[0]!r} has no row in the {name} split; every class must "
                              "be in every split (check the corpus's labels or its test split)")
    return {k: v.sort_index().reset_index(drop=True) for k, v in parts.items()}


def _cut(df: pd.DataFrame, fraction: float, seed: int, source: str, name: str) -> tuple[pd.DataFrame, pd.DataFrame]:
    """(rest, split) with every class in both, or one line saying why the rows left cannot give that."""
    classes = df["label"].nunique()
    n = len(df)
    counts = df["label"].value_counts()
    if counts.min() < 2:  # a stratified cut needs two rows of each class, one for each side
        raise RnnlabError(f"{source}: class {counts.idxmin()!r} has {counts.min()} row(s) left for the {name} split "
                          f"and the rest; each class needs 2 (check the corpus's own test split or max_rows)")
    size = -(-fraction * n // 1)  # sklearn rounds the held-out part up
    if size < classes or n - size < classes:
        raise RnnlabError(f"{source}: {n} rows left after filtering cannot give the {name} split (split.{name}) and "
                          f"the rest one row of each of {classes} classes; raise max_rows or relax the filters")
    rest, held = train_test_split(df, test_size=fraction, stratify=df["label"], random_state=seed)
    # sklearn may round a small class's share of one side down to nothing: one row crosses over
    for label in sorted(set(df["label"]) - set(held["label"])):
        row = rest.index[rest["label"] == label].min()
        rest, held = rest.drop(row), pd.concat([held, rest.loc[[row]]])
    for label in sorted(set(df["label"]) - set(rest["label"])):
        row = held.index[held["label"] == label].min()
        rest, held = pd.concat([rest, held.loc[[row]]]), held.drop(row)
    return rest, held


def _by_group(df: pd.DataFrame, val: float, test: float | str, seed: int, source: str) -> dict[str, pd.DataFrame]:
    """stratified() for a table with groups: every group lands whole in one split."""
    if test == "given":
        if "split" not in df.columns or not (df["split"] == "test").any():
            raise RnnlabError(f"{source}: split.test is 'given' but the corpus has no rows with split == 'test'")
        given = df["split"] == "test"
        both = sorted(set(df.loc[given, "group"]) & set(df.loc[~given, "group"]))
        if both:
            raise RnnlabError(f"{source}: group {both[0]!r} has rows in the corpus's test split and outside it "
                              f"({len(both)} such group(s)); a group must stay in one split")
        rest = df[~given]
        held = _deal(rest, {"val": val * len(df) / len(rest)}, seed)
        parts = {"train": rest.drop(held["val"]), "val": rest.loc[held["val"]], "test": df[given]}
    else:
        held = _deal(df, {"test": test, "val": val}, seed)
        parts = {"train": df.drop(held["test"] + held["val"]), "val": df.loc[held["val"]], "test": df.loc[held["test"]]}
    for name, part in parts.items():
        missing = sorted(set(df["label"]) - set(part["label"]))
        if missing:
            raise RnnlabError(f"{source}: {df['group'].nunique()} groups cannot give the {name} split a row of class "
                              f"{missing[0]!r} without splitting a group; relax split.val/split.test or the grouping")
    return {k: v.sort_index().reset_index(drop=True) for k, v in parts.items()}


def _deal(df: pd.DataFrame, fractions: dict[str, float], seed: int) -> dict[str, list]:
    """Row labels of the held-out splits, dealt whole groups at a time.

    Groups are stratified by their most common label: within each stratum, in a seeded order, each
    held-out split takes the groups that bring its row count closest to its fraction (at least one).
    """
    sizes = df.groupby("group").size().to_dict()
    counts = df.groupby(["group", "label"]).size().reset_index(name="n")
    # a group's stratum: its most common label, ties to the first label in sort order
    major = counts.sort_values(["group", "n", "label"], ascending=[True, False, True]).drop_duplicates("group")
    rng = np.random.RandomState(seed)
    chosen: dict[str, list] = {name: [] for name in fractions}
    for label, stratum in major.groupby("label", sort=True):
        groups = sorted(stratum["group"])
        left = [groups[i] for i in rng.permutation(len(groups))]
        total = sum(sizes[g] for g in left)
        for name, fraction in fractions.items():
            taken = set(_take(left, sizes, fraction * total))
            chosen[name] += [g for g in left if g in taken]
            left = [g for g in left if g not in taken]
    return {name: df.index[df["group"].isin(groups)].tolist() for name, groups in chosen.items()}


def _take(groups: list, sizes: dict, quota: float) -> list:
    taken, rows = [], 0
    for g in groups:
        if not taken or abs(rows + sizes[g] - quota) < abs(rows - quota):
            taken.append(g)
            rows += sizes[g]
    return taken


def balance(parts: dict[str, pd.DataFrame]) -> dict:
    return {name: {"rows": len(df), **{str(k): int(v) for k, v in df["label"].value_counts().sort_index().items()}}
            for name, df in parts.items()}
