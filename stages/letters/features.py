"""Stage `<task>_features`: the input of every letters run, one kind per stage.

Static kinds (tfidf, word2vec, glove, sbert) write one sentence vector per paragraph:
data/features/letters/<kind>/{train,val,test}.npy (float32 [n, dim]) and info.json; `chars` (up to
100,000 character n-grams) writes its sparse rows as {split}.{data,indices,indptr}.npy. Fitted on the
training split only (TF-IDF vocabulary and idf, word2vec). `finetuned` writes the vocabulary of
the training split and its GloVe-initialised embedding matrix (unseen words ~ N(0, oov_scale)).
"""

from __future__ import annotations

import sys
import time

import numpy as np
import pandas as pd

from rnnlab import atomic, layout
from rnnlab import letters as L
from rnnlab import params as P
from rnnlab.entry import run_stage
from rnnlab.errors import RnnlabError


def texts(task: str, split: str) -> list[str]:
    return pd.read_csv(layout.prepared(task) / f"{split}.csv", keep_default_na=False)["text"].tolist()


def run(task: str, kind: str) -> None:
    params = P.load()
    cfg = P.task(params, task, "letters")
    if kind not in cfg.features:
        raise RnnlabError(f"params.yaml: tasks.{task}.features has no {kind!r}")
    train, *others = (texts(task, s) for s in L.SPLITS)
    t0 = time.perf_counter()
    with atomic.output_dir(L.features_dir(task, kind)) as out:
        if kind == "finetuned":
            vocab, matrix, info = L.finetune_vocab(train, layout.raw(cfg.glove), cfg.finetuned, params.seed)
            vocab.save(out / "vocab.json")
            np.save(out / "matrix.npy", matrix)
        elif kind == "chars":
            matrices, info = L.chars(train, others, cfg.chars)
            for split, matrix in zip(L.SPLITS, matrices):
                L.save_sparse(out, split, matrix)
            info["rows"] = {s: m.shape[0] for s, m in zip(L.SPLITS, matrices)}
        else:
            if kind == "tfidf":
                arrays, info = L.tfidf(train, others, cfg.tfidf.max_features)
            elif kind == "word2vec":
                arrays, info = L.word2vec_mean(train, others, cfg.word2vec, params.seed)
            elif kind == "glove":
                arrays, info = L.glove_mean(train, others, layout.raw(cfg.glove))
            else:
                arrays, info = L.sbert_vectors(train, others, layout.raw(cfg.sbert.model), cfg.sbert.batch,
                                               cfg.sbert.max_tokens)
            for split, array in zip(L.SPLITS, arrays):
                np.save(out / f"{split}.npy", np.ascontiguousarray(array, dtype=np.float32))
            info["rows"] = {s: len(a) for s, a in zip(L.SPLITS, arrays)}
        info = {"kind": kind, **info}
        # no timing in the file: equal inputs give byte-equal outputs, so a rerun (say, after an edit to
        # rnnlab/sbert.py, a dependency of every kind) leaves the training stages cached
        atomic.write_json(out / "info.json", info)
    print(f"letters features {kind}: {info}; {time.perf_counter() - t0:.1f} s")


if __name__ == "__main__":
    run_stage(run, sys.argv[1:])
