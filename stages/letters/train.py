"""Stage `<task>_train`: one encoder (rnn | lstm | bilstm ...) on one input kind, two heads, joint loss.

Static kinds: the paragraph's sentence vector is a sequence of length 1 (the deck's setup); the
sparse `chars` rows are first projected to `project` dimensions (trained with the rest).
`finetuned`: token ids (first max_len tokens) through an embedding layer initialised from GloVe
and trained with the rest. Early stopping on the validation joint loss; best epoch kept;
resumable from .rnnlab/resume/ if the process is killed.
"""

from __future__ import annotations

import sys

import numpy as np

from rnnlab import atomic, device, layout, tracking, training
from rnnlab import letters as L
from rnnlab import params as P
from rnnlab.entry import run_stage
from rnnlab.errors import RnnlabError
from rnnlab.models import count_parameters


def run(task: str, kind: str, variant: str) -> None:
    params = P.load()
    cfg = P.task(params, task, "letters")
    if kind not in cfg.features or variant not in cfg.models:
        raise RnnlabError(f"params.yaml: tasks.{task}.features x models has no {kind}-{variant}")
    training.seed_everything(params.seed)
    info = L.corpus_info(task)
    authors, langs = info["authors"], info["langs"]
    t = cfg.finetuned if kind == "finetuned" else cfg.static
    max_len = cfg.finetuned.max_len
    project = t.project if kind == "chars" else None  # only sparse rows are projected first
    train, val = (L.load_data(task, kind, s, authors, langs, max_len, weights=t) for s in ("train", "val"))
    name = L.run_name(kind, variant)
    if kind == "finetuned":
        matrix_path = L.features_dir(task, kind) / "matrix.npy"
        matrix = np.load(matrix_path)
        model = L.MultiTaskRNN(matrix.shape[1], variant, len(authors), len(langs), t.hidden, t.dropout,
                               embedding=matrix, input_mode=cfg.finetuned.input, letters_head=t.letters_head)
        inputs, input_dim, vocab_size = [matrix_path, L.features_dir(task, kind) / "vocab.json"], matrix.shape[1], len(matrix)
    else:
        inputs = [f for f in sorted(L.features_dir(task, kind).glob("*.npy")) if f.name.split(".")[0] in ("train", "val")]
        input_dim, vocab_size = train.x.shape[1], 0
        model = L.MultiTaskRNN(input_dim, variant, len(authors), len(langs), t.hidden, t.dropout,
                               project=project, letters_head=t.letters_head)
    model = device.to(model)
    inputs += [layout.prepared(task) / f"{s}.csv" for s in ("train", "val")]
    resume = training.resume_path(task, name, {"seed": params.seed, "train": t.model_dump(), "run": name,
                                  "authors": authors, "langs": langs}, inputs)
    with tracking.training_run(task, name, params.seed, t.model_dump()) as live:
        result = L.fit(model, train, val, lr=t.lr, batch_size=t.batch, max_epochs=t.max_epochs, patience=t.patience,
                       seed=params.seed, resume=resume, desc=f"letters/{name}", letters_lr=t.letters_lr)
        config = {"kind": "letters", "task": task, "feature": kind, "variant": variant, "finetuned": kind == "finetuned",
                  "input_dim": int(input_dim), "vocab_size": int(vocab_size), "authors": authors, "langs": langs,
                  "hidden": t.hidden, "dropout": t.dropout, "max_len": max_len if kind == "finetuned" else 1,
                  "input_mode": cfg.finetuned.input if kind == "finetuned" else "padded", "project": project,
                  "letters_head": t.letters_head}
        with atomic.output_dir(layout.model_dir(task, name)) as out:
            L.save_model(model, config, out)
            if kind == "finetuned":
                atomic.write_bytes(out / "vocab.json", (L.features_dir(task, kind) / "vocab.json").read_bytes())
            atomic.write_json(out / "train.json", {
                "history": result.history, "best_epoch": result.best_epoch, "epochs_run": len(result.history),
                "parameters": count_parameters(model), "lr": t.lr, "batch": t.batch, "max_epochs": t.max_epochs,
                "patience": t.patience})
        live.trained(layout.model_dir(task, name))
    atomic.write_json(layout.timing(task, name), training.timing(result))
    resume.unlink(missing_ok=True)
    print(f"letters/{name}: best epoch {result.best_epoch} of {len(result.history)}, "
          f"{result.train_seconds:.1f} s training, {count_parameters(model):,} trainable parameters")


if __name__ == "__main__":
    run_stage(run, sys.argv[1:])
