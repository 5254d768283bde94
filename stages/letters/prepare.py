"""Stage `<task>_prepare`: Gutenberg paragraphs + the real letter sample -> train / val / test CSVs.

Columns: id, text, author, lang, source (gutenberg | letters), book (PG number, or "letters").
No paragraph text (compared case-, punctuation- and space-insensitively) is in two splits.
"""

from __future__ import annotations

import sys

from rnnlab import atomic, layout
from rnnlab import letters as L
from rnnlab import params as P
from rnnlab.entry import run_stage
from rnnlab.errors import RnnlabError


def _counts(df, column: str) -> dict:
    return {str(k): int(v) for k, v in df[column].value_counts().sort_index().items()}


def run(task: str) -> None:
    params = P.load()
    cfg = P.task(params, task, "letters")
    table, provenance = L.paragraphs(layout.raw(cfg.corpora.books), layout.raw(cfg.corpora.letters),
                                     cfg.lang_map, cfg.min_words)
    parts, stats = L.split_paragraphs(table, val=cfg.split.val, test=cfg.split.test,
                                      max_per_book=cfg.split.max_per_book, seed=params.seed, blocks=cfg.split.blocks)
    langs = sorted(set(parts["train"]["lang"]))
    missing = sorted(set(cfg.authors) - set(parts["train"]["author"]))
    if missing:
        raise RnnlabError(f"params.yaml: tasks.{task}.authors {missing} have no training paragraph")
    with atomic.output_dir(layout.prepared(task)) as out:
        for name, df in parts.items():
            atomic.write_text(out / f"{name}.csv", df.to_csv(index=False, lineterminator="\n"))
        atomic.write_json(out / "corpus.json", {
            "corpus": f"{cfg.corpora.books}+{cfg.corpora.letters}", "authors": list(cfg.authors), "langs": langs,
            "sources": {"books": provenance["books"], "letters": provenance["letters"]}})
    balance = {"prepare": {**provenance["stats"], **stats, "min_words": cfg.min_words}}
    for name, df in parts.items():
        balance[name] = {"rows": len(df), "author": _counts(df, "author"), "lang": _counts(df, "lang"),
                         "source": _counts(df, "source"), "book": _counts(df, "book"),
                         "author_head_rows": int(df["author"].isin(cfg.authors).sum())}
    atomic.write_json(layout.METRICS / task / "balance.json", balance)
    print("letters: " + ", ".join(f"{k} {len(v)} paragraphs" for k, v in parts.items()) +
          f"; languages {langs}; {stats['dropped_cross_split_duplicates']} cross-split duplicates dropped")


if __name__ == "__main__":
    run_stage(run, sys.argv[1:])
