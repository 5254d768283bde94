"""Classification tasks: their prepared splits, one training run, and its test report.

The train stage and the seed sweep train runs the same way (train_model); evaluation and the
seed sweep report them the same way (test_report).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import torch

from rnnlab import device, evaluation, layout, training
from rnnlab import params as P
from rnnlab.allocator import ensure_fits
from rnnlab.batching import encode
from rnnlab.models import RecurrentClassifier
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
    resume: Path  # the run's resume state: the caller deletes it once the model is safely written


def train_model(task: str, variant: str, kind: str, input_mode: str, seed: int) -> Trained:
    """Train one run of a classification task with the given seed."""
    cfg = P.task(P.load(), task)
    t = cfg.train
    training.seed_everything(seed)
    name = layout.run_name(variant, kind, input_mode)
    labels, vocab = labels_of(task), Vocabulary.load(layout.vocab(task))
    train, val = (load_split(task, s, vocab, labels, cfg.max_len) for s in ("train", "val"))
    matrix_path = layout.embedding(task, kind) / "matrix.npy"
    matrix = np.load(matrix_path)
    freeze = cfg.embeddings.freeze and kind != "learned"
    def build(embedding=matrix):
        return RecurrentClassifier(embedding, variant, len(labels), hidden=t.hidden, layers=t.layers,
                                   dropout=t.dropout, input_mode=input_mode, freeze=freeze,
                                   conv_channels=t.conv_channels, conv_kernel=t.conv_kernel,
                                   embed_dropout=t.embed_dropout)

    ensure_fits(lambda: build(torch.empty(matrix.shape)), f"params.yaml: tasks.{task}.train ({name})")
    model = device.to(build())
    settings = {"seed": seed, "task": cfg.model_dump(), "run": name}
    inputs = [matrix_path, layout.vocab(task), *(layout.prepared(task) / f"{s}.csv" for s in ("train", "val"))]
    resume = training.resume_path(task, f"{name}-s{seed}", settings, inputs)
    result = training.fit(model, train, val, lr=t.lr, batch_size=t.batch_size, max_epochs=t.max_epochs,
                          patience=t.patience, seed=seed, pad_to=cfg.max_len if input_mode == "padded" else None,
                          bucket=input_mode == "bucketed", resume=resume, desc=f"{task}/{name}/seed {seed}")
    config = {"kind": "classification", "task": task, "variant": variant, "embedding": kind, "input_mode": input_mode,
              "labels": labels, "vocab_size": len(vocab), "embedding_dim": int(matrix.shape[1]), "hidden": t.hidden,
              "layers": t.layers, "dropout": t.dropout, "max_len": cfg.max_len, "seed": seed,
              "conv_channels": t.conv_channels, "conv_kernel": t.conv_kernel}
    return Trained(model, config, result, freeze, resume)


def test_report(task: str, model, vocab, input_mode: str) -> tuple[training.Split, object, dict]:
    """The test split, its class probabilities and the classification report for one trained model."""
    cfg, labels = P.task(P.load(), task), labels_of(task)
    test = load_split(task, "test", vocab, labels, cfg.max_len)
    probs = training.predict_proba(model, test, pad_to=cfg.max_len if input_mode == "padded" else None)
    return test, probs, evaluation.report(test.labels, probs.argmax(1), labels)
