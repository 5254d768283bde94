"""Stage `train`: one recurrent variant on one embedding kind and input mode; keeps the best epoch."""

from __future__ import annotations

import hashlib
import json

import numpy as np
import pandas as pd

from rnnlab import atomic, checkpoint, fetch, layout, params as P, training
from rnnlab.batching import encode
from rnnlab.models import RecurrentClassifier, count_parameters
from rnnlab.vocab import Vocabulary


def load_split(task: str, name: str, vocab: Vocabulary, labels: list[str], max_len: int) -> training.Split:
    df = pd.read_csv(layout.prepared(task) / f"{name}.csv", keep_default_na=False)
    index = {l: i for i, l in enumerate(labels)}
    return training.Split(encode(df["text"], vocab, max_len), df["label"].map(index).to_numpy())


def labels_of(task: str) -> list[str]:
    return json.loads((layout.prepared(task) / "corpus.json").read_text(encoding="utf-8"))["labels"]


def _resume_path(task: str, run: str, settings: dict, inputs: list) -> "Path":
    """A checkpoint file keyed by everything the result depends on, so stale state is never resumed."""
    h = hashlib.sha256(json.dumps(settings, sort_keys=True).encode())
    for path in inputs:
        h.update(fetch.sha256_file(path).encode())
    return layout.resume_dir() / f"{task}-{run}-{h.hexdigest()[:16]}.pt"


def run(task: str, variant: str, kind: str, input_mode: str) -> None:
    params = P.load()
    cfg, t = P.task(params, task), P.task(params, task).train
    training.seed_everything(params.seed)
    name = layout.run_name(variant, kind, input_mode)
    labels, vocab = labels_of(task), Vocabulary.load(layout.vocab(task))
    train, val = (load_split(task, s, vocab, labels, cfg.max_len) for s in ("train", "val"))
    matrix_path = layout.embedding(task, kind) / "matrix.npy"
    matrix = np.load(matrix_path)
    freeze = cfg.embeddings.freeze and kind != "learned"
    model = RecurrentClassifier(matrix, variant, len(labels), hidden=t.hidden, layers=t.layers,
                                dropout=t.dropout, input_mode=input_mode, freeze=freeze)
    pad_to = cfg.max_len if input_mode == "padded" else None
    settings = {"seed": params.seed, "task": cfg.model_dump(), "run": name}
    inputs = [matrix_path, layout.vocab(task), *(layout.prepared(task) / f"{s}.csv" for s in ("train", "val"))]
    resume = _resume_path(task, name, settings, inputs)
    result = training.fit(model, train, val, lr=t.lr, batch_size=t.batch_size, max_epochs=t.max_epochs,
                          patience=t.patience, seed=params.seed, pad_to=pad_to, resume=resume, desc=f"{task}/{name}")
    config = {"task": task, "variant": variant, "embedding": kind, "input_mode": input_mode, "labels": labels,
              "vocab_size": len(vocab), "embedding_dim": int(matrix.shape[1]), "hidden": t.hidden,
              "layers": t.layers, "dropout": t.dropout, "max_len": cfg.max_len}
    with atomic.output_dir(layout.model_dir(task, name)) as out:
        checkpoint.save(model, config, layout.vocab(task), out)
        atomic.write_json(out / "train.json", {
            "history": result.history, "best_epoch": result.best_epoch, "epochs_run": len(result.history),
            "train_seconds": round(result.train_seconds, 3), "tokens_per_s": round(result.tokens_per_s, 1),
            "parameters": count_parameters(model), "frozen_embedding": freeze})
    resume.unlink(missing_ok=True)
    print(f"{task}/{name}: best epoch {result.best_epoch} of {len(result.history)}, "
          f"{result.tokens_per_s:,.0f} tokens/s, {count_parameters(model):,} trainable parameters")
