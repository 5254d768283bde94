"""Stage `<task>_prepare`: corpus -> cleaned, stratified train/val/test tables plus class balance."""

from __future__ import annotations

import sys

from rnnlab import atomic, corpora, layout, split
from rnnlab import params as P
from rnnlab.entry import run_stage


def run(task: str) -> None:
    params = P.load()
    cfg = P.task(params, task)
    raw_dir = layout.raw(cfg.corpus)
    table, source = corpora.load_table(raw_dir)
    table = split.sample(split.clean(table, str(raw_dir)), cfg.max_rows, params.seed)
    parts = split.stratified(table, cfg.split.val, cfg.split.test, params.seed, str(raw_dir))
    with atomic.output_dir(layout.prepared(task)) as out:
        for name, df in parts.items():
            df.to_csv(out / f"{name}.csv", index=False)
        atomic.write_json(out / "corpus.json", {**source, "labels": sorted(table["label"].unique())})
    balance = {"corpus": source["corpus"], "duplicate_texts": int(table["text"].duplicated().sum()),
               **split.balance(parts)}
    atomic.write_json(layout.METRICS / task / "balance.json", balance)
    print(f"{task}: {len(table)} rows from {source['corpus']}: " +
          ", ".join(f"{k} {v['rows']}" for k, v in split.balance(parts).items()))


if __name__ == "__main__":
    run_stage(run, sys.argv[1:])
