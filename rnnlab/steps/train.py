"""Stage `train`: one recurrent variant on one embedding kind and input mode; keeps the best epoch."""

from __future__ import annotations

import json
from dataclasses import dataclass

import numpy as np
import pandas as pd

from rnnlab import atomic, checkpoint, layout, params as P, training
from rnnlab.batching import encode
from rnnlab.models import RecurrentClassifier, count_parameters
from rnnlab.vocab import Vocabulary


def load_split(task: str, name: str, vocab: Vocabulary, labels: list[str], max_len: int) -> training.Split:
    df = pd.read_csv(layout.prepared(task) / f"{name}.csv", keep_default_na=False)
    index = {l: i for i, l in enumerate(labels)}
    return training.Split(encode(df["text"], vocab, max_len), df["label"].map(index).to_numpy())


def labels_of(task: str) -> list[str]:
    return json.loads((layout.prepared(task) / "corpus.json").read_text(encoding="utf-8"))["labels"]


@dataclass
class Trained:
    model: RecurrentClassifier
    config: dict
    result: training.FitResult
    frozen: bool


def train_model(task: str, variant: str, kind: str, input_mode: str, seed: int) -> Trained:
    """Train one run of a classification task with the given seed (the stage and the seed sweep share this)."""
    cfg = P.task(P.load(), task)
    t = cfg.train
    training.seed_everything(seed)
    name = layout.run_name(variant, kind, input_mode)
    labels, vocab = labels_of(task), Vocabulary.load(layout.vocab(task))
    train, val = (load_split(task, s, vocab, labels, cfg.max_len) for s in ("train", "val"))
    matrix_path = layout.embedding(task, kind) / "matrix.npy"
    matrix = np.load(matrix_path)
    freeze = cfg.embeddings.freeze and kind != "learned"
    model = RecurrentClassifier(matrix, variant, len(labels), hidden=t.hidden, layers=t.layers, dropout=t.dropout,
                                input_mode=input_mode, freeze=freeze, conv_channels=t.conv_channels,
                                conv_kernel=t.conv_kernel, embed_dropout=t.embed_dropout)
    settings = {"seed": seed, "task": cfg.model_dump(), "run": name}
    inputs = [matrix_path, layout.vocab(task), *(layout.prepared(task) / f"{s}.csv" for s in ("train", "val"))]
    resume = training.resume_path(task, f"{name}-s{seed}", settings, inputs)
    result = training.fit(model, train, val, lr=t.lr, batch_size=t.batch_size, max_epochs=t.max_epochs,
                          patience=t.patience, seed=seed, pad_to=cfg.max_len if input_mode == "padded" else None,
                          bucket=input_mode == "bucketed", resume=resume, desc=f"{task}/{name}/seed {seed}")
    resume.unlink(missing_ok=True)
    config = {"task": task, "variant": variant, "embedding": kind, "input_mode": input_mode, "labels": labels,
              "vocab_size": len(vocab), "embedding_dim": int(matrix.shape[1]), "hidden": t.hidden,
              "layers": t.layers, "dropout": t.dropout, "max_len": cfg.max_len, "seed": seed,
              "conv_channels": t.conv_channels, "conv_kernel": t.conv_kernel}
    return Trained(model, config, result, freeze)


def run(task: str, variant: str, kind: str, input_mode: str) -> None:
    seed = P.load().seed
    name = layout.run_name(variant, kind, input_mode)
    tr = train_model(task, variant, kind, input_mode, seed)
    r = tr.result
    with atomic.output_dir(layout.model_dir(task, name)) as out:
        checkpoint.save(tr.model, tr.config, layout.vocab(task), out)
        atomic.write_json(out / "train.json", {
            "history": r.history, "best_epoch": r.best_epoch, "epochs_run": len(r.history),
            "train_seconds": round(r.train_seconds, 3), "tokens_per_s": round(r.tokens_per_s, 1),
            "parameters": count_parameters(tr.model), "frozen_embedding": tr.frozen})
    print(f"{task}/{name}: best epoch {r.best_epoch} of {len(r.history)}, "
          f"{r.tokens_per_s:,.0f} tokens/s, {count_parameters(tr.model):,} trainable parameters")
