"""Stage `<task>_train`: one encoder (rnn | lstm | bilstm ...) on one input kind, two heads, joint loss.

Static kinds: the paragraph's sentence vector is a sequence of length 1 (the deck's setup); the
sparse `chars` rows are first projected to `project` dimensions (trained with the rest).
`finetuned`: token ids (first max_len tokens) through an embedding layer initialised from GloVe
and trained with the rest. Early stopping on the validation joint loss; best epoch kept;
resumable from .rnnlab/resume/ if the process is killed (rnnlab/letterstraining.py).
"""

from __future__ import annotations

import sys

from rnnlab import atomic, layout, tracking, training
from rnnlab import letters as L
from rnnlab import params as P
from rnnlab.entry import run_stage
from rnnlab.letterstraining import check_run, train_run
from rnnlab.models import count_parameters


def run(task: str, feature: str, variant: str) -> None:
    params = P.load()
    cfg = P.task(params, task, "letters")
    check_run(cfg, task, feature, variant)
    name = L.run_name(feature, variant)
    t = cfg.finetuned if feature == "finetuned" else cfg.static
    with tracking.training_run(task, name, params.seed, t.model_dump()) as live:
        tr = train_run(cfg, task, feature, variant, params.seed, desc=f"letters/{name}")
        with atomic.output_dir(layout.model_dir(task, name)) as out:
            L.save_model(tr.model, tr.config, out)
            if feature == "finetuned":
                atomic.write_bytes(out / "vocab.json", (L.features_dir(task, feature) / "vocab.json").read_bytes())
            atomic.write_json(out / "train.json", {
                "history": tr.result.history, "best_epoch": tr.result.best_epoch, "epochs_run": len(tr.result.history),
                "parameters": count_parameters(tr.model), "lr": t.lr, "batch": t.batch, "max_epochs": t.max_epochs,
                "patience": t.patience, "letters_head_fit": tr.head_fit})
        live.trained(layout.model_dir(task, name))
    atomic.write_json(layout.timing(task, name), training.timing(tr.result))
    tr.resume.unlink(missing_ok=True)
    print(f"letters/{name}: best epoch {tr.result.best_epoch} of {len(tr.result.history)}, "
          f"{tr.result.train_seconds:.1f} s training, {count_parameters(tr.model):,} trainable parameters")


if __name__ == "__main__":
    run_stage(run, sys.argv[1:])
