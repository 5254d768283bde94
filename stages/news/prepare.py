"""Stage `<task>_prepare`: HuffPost records -> text (headline + short description), stratified splits, balance."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pandas as pd

from rnnlab import atomic, catalog, corpora, layout, split
from rnnlab import params as P
from rnnlab.entry import run_stage
from rnnlab.errors import RnnlabError


def joined_texts(raw_dir: Path, source: dict, fields: list[str], sep: str, labels: pd.Series) -> list[str]:
    """The texts again from the raw JSON records, as `sep`.join(fields) (the parser joins with ". ").

    Records are read in the order corpora.load_table read them; the labels must agree row by row.
    """
    spec = catalog.entry(source["corpus"]).parser_of(source["source"])
    if spec.get("format") != "jsonl":
        raise RnnlabError(f"{source['corpus']}: text_fields needs a JSON-lines corpus (format is {spec.get('format')!r})")
    rows, seen = [], set()
    for name in ([spec["file"]] if "file" in spec else list(spec["files"])):
        for line in corpora.read_text(raw_dir / name)[0].splitlines():
            if line.strip():
                row = json.loads(line)
                if spec.get("id"):  # a repeated record is kept once, as corpora.load_table keeps it
                    if row.get(spec["id"]) in seen:
                        continue
                    seen.add(row.get(spec["id"]))
                rows.append(row)
    if len(rows) != len(labels):
        raise RnnlabError(f"{raw_dir}: {len(rows)} records but the corpus table has {len(labels)} rows")
    out = []
    for i, (row, label) in enumerate(zip(rows, labels), 1):
        missing = [f for f in fields if f not in row]
        if missing:
            raise RnnlabError(f"{raw_dir}: record {i} has no field {missing[0]!r} (text_fields)")
        if str(row[spec["label"]]) != label:
            raise RnnlabError(f"{raw_dir}: record {i} does not line up with the corpus table")
        out.append(sep.join(str(row[f]).strip() for f in fields if str(row[f]).strip()))
    return out


def _drop_small(table: pd.DataFrame, min_rows: int) -> tuple[pd.DataFrame, dict[str, int]]:
    counts = table["label"].value_counts()
    small = {str(k): int(v) for k, v in sorted(counts[counts < min_rows].items())}
    return table[~table["label"].isin(small)], small


def run(task: str) -> None:
    params = P.load()
    cfg = P.task(params, task, "news")
    raw_dir = layout.raw(cfg.corpus)
    table, source = corpora.load_table(raw_dir)
    table = table.assign(text=joined_texts(raw_dir, source, cfg.text_fields, cfg.text_sep, table["label"]))
    table = split.clean(table, str(raw_dir))
    n_records, n_classes = len(table), table["label"].nunique()
    # small classes go before sampling (a stratified sample needs 2 of each) and again after it
    table, dropped = _drop_small(table, cfg.min_class_rows)
    table = split.sample(table, cfg.max_rows, params.seed)
    table, dropped_after = _drop_small(table, cfg.min_class_rows)
    dropped.update(dropped_after)
    if table["label"].nunique() < 2:
        raise RnnlabError(f"params.yaml: tasks.{task}.min_class_rows={cfg.min_class_rows} leaves {table['label'].nunique()} of "
                          f"{n_classes} classes in {raw_dir} (max_rows={cfg.max_rows}); a classifier needs two")
    parts = split.stratified(table, cfg.split.val, cfg.split.test, params.seed, str(raw_dir))
    labels = sorted(table["label"].unique())
    with atomic.output_dir(layout.prepared(task)) as out:
        for name, df in parts.items():
            df.to_csv(out / f"{name}.csv", index=False)
        atomic.write_json(out / "corpus.json", {**source, "labels": labels, "records": n_records,
                                                "classes_in_corpus": n_classes, "dropped_classes": dropped,
                                                "text_fields": cfg.text_fields, "text_sep": cfg.text_sep})
    balance = {"corpus": source["corpus"], "records": n_records, "classes_in_corpus": n_classes,
               "classes": len(labels), "dropped_classes": dropped, "min_class_rows": cfg.min_class_rows,
               "duplicate_texts": int(table["text"].duplicated().sum()), **split.balance(parts)}
    atomic.write_json(layout.METRICS / task / "balance.json", balance)
    print(f"{task}: {len(table)} rows, {len(labels)} classes from {source['corpus']}"
          f"{f' (dropped {len(dropped)} with < {cfg.min_class_rows} rows)' if dropped else ''}: " +
          ", ".join(f"{k} {v['rows']}" for k, v in split.balance(parts).items()))


if __name__ == "__main__":
    run_stage(run, sys.argv[1:])
