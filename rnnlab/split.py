"""Clean a corpus table and split it into stratified train/validation/test sets."""

from __future__ import annotations

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
    if test == "given":
        if "split" not in df.columns or not (df["split"] == "test").any():
            raise RnnlabError(f"{source}: split.test is 'given' but the corpus has no rows with split == 'test'")
        rest, test_df = df[df["split"] != "test"], df[df["split"] == "test"]
        val = val * len(df) / len(rest)  # val stays a fraction of the whole corpus
    else:
        rest, test_df = train_test_split(df, test_size=test, stratify=df["label"], random_state=seed)
        val = val / (1 - test)
    train_df, val_df = train_test_split(rest, test_size=val, stratify=rest["label"], random_state=seed)
    parts = {"train": train_df, "val": val_df, "test": test_df}
    return {k: v.sort_index().reset_index(drop=True) for k, v in parts.items()}


def balance(parts: dict[str, pd.DataFrame]) -> dict:
    return {name: {"rows": len(df), **{str(k): int(v) for k, v in df["label"].value_counts().sort_index().items()}}
            for name, df in parts.items()}
