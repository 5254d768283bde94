"""Turn fetched corpus files into the project's table: columns id, text, label.

How to read each corpus is data in catalog.yaml (`parser`), so a corpus in a known
format needs a catalog entry, not code.
"""

from __future__ import annotations

import csv
import json
from pathlib import Path

import pandas as pd

from rnnlab import catalog
from rnnlab.errors import RnnlabError


def _read_tsv(path: Path, spec: dict) -> pd.DataFrame:
    # QUOTE_NONE: SMS texts contain bare quotes that are part of the message
    df = pd.read_csv(path, sep="\t", header=None, names=spec["columns"], quoting=csv.QUOTE_NONE,
                     dtype=str, keep_default_na=False, encoding="utf-8")
    return df


def _read_csv(path: Path, spec: dict) -> pd.DataFrame:
    df = pd.read_csv(path, dtype=str, keep_default_na=False, encoding="utf-8")
    missing = {spec["text"], spec["label"]} - set(df.columns)
    if missing:
        raise RnnlabError(f"{path}: missing column(s) {', '.join(sorted(missing))}")
    df = df.rename(columns={spec["text"]: "text", spec["label"]: "label"})
    return df


READERS = {"tsv": _read_tsv, "csv": _read_csv}


def load_table(raw_dir: Path) -> tuple[pd.DataFrame, dict]:
    """Read the corpus fetched into raw_dir; return (table, provenance)."""
    source = json.loads((raw_dir / "source.json").read_text(encoding="utf-8"))
    spec = catalog.entry(source["corpus"]).parser
    path = raw_dir / spec["file"]
    try:
        df = READERS[spec["format"]](path, spec)
    except UnicodeDecodeError as e:
        raise RnnlabError(f"{path}: not UTF-8 at byte {e.start}") from None
    labels = {str(k): v for k, v in spec.get("labels", {}).items()}
    if labels:
        unknown = sorted(set(df["label"]) - set(labels))
        if unknown:
            raise RnnlabError(f"{path}: unknown label(s) {unknown[:5]} (expected {sorted(labels)})")
        df["label"] = df["label"].map(labels)
    df["id"] = [f"{source['corpus']}:{i}" for i in range(len(df))]
    return df[["id", "text", "label"]], source
