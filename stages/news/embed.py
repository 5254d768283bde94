"""Stage `<task>_embed`: frozen sentence vectors for every split, computed once, reused by news_train@frozen."""

from __future__ import annotations

import json
import sys
import time

import numpy as np

from rnnlab import atomic, layout, news, sbert
from rnnlab import params as P
from rnnlab.entry import run_stage


def run(task: str) -> None:
    cfg = P.task(P.load(), task, "news")
    encoder_dir = layout.raw(cfg.encoder)
    tables = {name: news.split_table(task, name) for name in news.SPLITS}
    texts = [t for name in news.SPLITS for t in tables[name]["text"]]
    t0 = time.perf_counter()
    vectors = sbert.encode(texts, encoder_dir, max_tokens=cfg.max_tokens)  # one call: one model load
    seconds = time.perf_counter() - t0
    s = sbert.settings(encoder_dir)
    source = json.loads((encoder_dir / "source.json").read_text(encoding="utf-8"))
    with atomic.output_dir(layout.embedding(task, "sbert")) as out:
        start = 0
        for name in news.SPLITS:
            n = len(tables[name])
            np.save(out / f"{name}.npy", vectors[start:start + n])
            start += n
        atomic.write_json(out / "info.json", {
            "encoder": cfg.encoder, "encoder_source": source.get("source"), "dim": int(vectors.shape[1]),
            "pooling": s.pooling, "normalized": s.normalize, "max_tokens": cfg.max_tokens,
            "rows": {name: len(tables[name]) for name in news.SPLITS}})
    print(f"{task}: {len(texts)} sentence vectors ({vectors.shape[1]}-d, {s.pooling} pooling) "
          f"in {seconds:.0f} s, {len(texts) / max(seconds, 1e-9):.0f} texts/s")


if __name__ == "__main__":
    run_stage(run, sys.argv[1:])
