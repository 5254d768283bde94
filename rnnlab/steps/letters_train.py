"""Stage `letters_train`: one encoder (rnn | lstm | bilstm ...) on one input kind, two heads, joint loss.

Static kinds: the paragraph's sentence vector is a sequence of length 1 (the deck's setup).
`finetuned`: token ids (first max_len tokens) through an embedding layer initialised from GloVe
and trained with the rest. Early stopping on the validation joint loss; best epoch kept;
resumable from .rnnlab/resume/ if the process is killed.
"""

from __future__ import annotations

import json

import numpy as np
import pandas as pd

from rnnlab import atomic, layout, letters as L, params as P, training
from rnnlab.errors import RnnlabError
from rnnlab.models import count_parameters
from rnnlab.vocab import Vocabulary


def corpus_info() -> dict:
    return json.loads((layout.prepared(L.TASK) / "corpus.json").read_text(encoding="utf-8"))


def load_data(kind: str, split: str, authors: list[str], langs: list[str], max_len: int) -> L.Data:
    df = pd.read_csv(layout.prepared(L.TASK) / f"{split}.csv", keep_default_na=False)
    author, lang = L.targets(df, authors, langs)
    if kind == "finetuned":
        vocab = Vocabulary.load(L.features_dir(kind) / "vocab.json")
        return L.Data([vocab.encode(t, max_len) for t in df["text"]], author, lang)
    x = np.load(L.features_dir(kind) / f"{split}.npy")
    if len(x) != len(df):
        raise RnnlabError(f"{L.features_dir(kind)}/{split}.npy: {len(x)} rows for {len(df)} paragraphs; "
                          f"rerun letters_features@{kind}")
    return L.Data(x, author, lang)


def run_name(kind: str, variant: str) -> str:
    return f"{kind}-{variant}"


def run(kind: str, variant: str) -> None:
    params = P.load()
    L.one_thread()
    cfg = params.letters
    if cfg is None or kind not in cfg.features or variant not in cfg.models:
        raise RnnlabError(f"params.yaml: letters.features x letters.models has no {kind}-{variant}")
    training.seed_everything(params.seed)
    info = corpus_info()
    authors, langs = info["authors"], info["langs"]
    t = cfg.finetuned if kind == "finetuned" else cfg.static
    max_len = cfg.finetuned.max_len
    train, val = (load_data(kind, s, authors, langs, max_len) for s in ("train", "val"))
    name = run_name(kind, variant)
    if kind == "finetuned":
        matrix_path = L.features_dir(kind) / "matrix.npy"
        matrix = np.load(matrix_path)
        model = L.MultiTaskRNN(matrix.shape[1], variant, len(authors), len(langs), t.hidden, t.dropout,
                               embedding=matrix, input_mode=cfg.finetuned.input)
        inputs, input_dim, vocab_size = [matrix_path, L.features_dir(kind) / "vocab.json"], matrix.shape[1], len(matrix)
    else:
        inputs, input_dim, vocab_size = [L.features_dir(kind) / f"{s}.npy" for s in ("train", "val")], train.x.shape[1], 0
        model = L.MultiTaskRNN(input_dim, variant, len(authors), len(langs), t.hidden, t.dropout)
    inputs += [layout.prepared(L.TASK) / f"{s}.csv" for s in ("train", "val")]
    resume = L.resume_path(name, {"seed": params.seed, "train": t.model_dump(), "run": name,
                                  "authors": authors, "langs": langs}, inputs)
    result = L.fit(model, train, val, lr=t.lr, batch_size=t.batch, max_epochs=t.max_epochs, patience=t.patience,
                   seed=params.seed, resume=resume, desc=f"letters/{name}")
    config = {"task": L.TASK, "feature": kind, "variant": variant, "finetuned": kind == "finetuned",
              "input_dim": int(input_dim), "vocab_size": int(vocab_size), "authors": authors, "langs": langs,
              "hidden": t.hidden, "dropout": t.dropout, "max_len": max_len if kind == "finetuned" else 1,
              "input_mode": cfg.finetuned.input if kind == "finetuned" else "padded"}
    with atomic.output_dir(layout.model_dir(L.TASK, name)) as out:
        L.save_model(model, config, out)
        if kind == "finetuned":
            atomic.write_bytes(out / "vocab.json", (L.features_dir(kind) / "vocab.json").read_bytes())
        atomic.write_json(out / "train.json", {
            "history": result.history, "best_epoch": result.best_epoch, "epochs_run": len(result.history),
            "train_seconds": round(result.train_seconds, 3), "tokens_per_s": round(result.tokens_per_s, 1),
            "parameters": count_parameters(model), "lr": t.lr, "batch": t.batch, "max_epochs": t.max_epochs,
            "patience": t.patience})
    resume.unlink(missing_ok=True)
    print(f"letters/{name}: best epoch {result.best_epoch} of {len(result.history)}, "
          f"{result.train_seconds:.1f} s training, {count_parameters(model):,} trainable parameters")
