"""Stage `<task>_embeddings@KIND`: one embedding matrix per kind for the task's vocabulary."""

from __future__ import annotations

import io
import sys

import numpy as np
import pandas as pd

from rnnlab import atomic, embeddings, layout
from rnnlab import params as P
from rnnlab.entry import run_stage
from rnnlab.vocab import Vocabulary


def run(task: str, kind: str) -> None:
    params = P.load()
    cfg = P.task(params, task)
    e = cfg.embeddings
    vocab = Vocabulary.load(layout.vocab(task))
    if kind == "learned":
        matrix, info = embeddings.learned(vocab, e.learned_dim, params.seed)
    elif kind == "word2vec":
        train = pd.read_csv(layout.prepared(task) / "train.csv", keep_default_na=False)
        matrix, info = embeddings.word2vec(vocab, train["text"].tolist(), e.word2vec, params.seed, e.oov_scale)
    else:
        matrix, info = embeddings.pretrained(vocab, layout.raw(e.glove), params.seed, e.oov_scale)
    with atomic.output_dir(layout.embedding(task, kind)) as out:
        buf = io.BytesIO()
        np.save(buf, matrix)
        atomic.write_bytes(out / "matrix.npy", buf.getvalue())
        atomic.write_json(out / "info.json", {"kind": kind, **info})
    cov = f", coverage {info['coverage']:.1%}" if info.get("coverage") is not None else ""
    print(f"{task}/{kind}: {matrix.shape[0]} x {matrix.shape[1]}{cov}")


if __name__ == "__main__":
    run_stage(run, sys.argv[1:])
