"""Stage `<task>_train@VARIANT-EMBEDDING-INPUT`: one recurrent variant of a classification task; keeps the best epoch."""

from __future__ import annotations

import sys

from rnnlab import atomic, checkpoint, layout, tracking, training
from rnnlab import params as P
from rnnlab.classification import train_model
from rnnlab.entry import run_stage
from rnnlab.models import count_parameters


def run(task: str, variant: str, kind: str, input_mode: str) -> None:
    params = P.load()
    name = layout.run_name(variant, kind, input_mode)
    cfg = P.task(params, task)
    settings = {"max_len": cfg.max_len, "train": cfg.train.model_dump(), "embeddings": {"freeze": cfg.embeddings.freeze}}
    with tracking.training_run(task, name, params.seed, settings) as live:
        tr = train_model(task, variant, kind, input_mode, params.seed)
        r = tr.result
        with atomic.output_dir(layout.model_dir(task, name)) as out:
            checkpoint.save(tr.model, tr.config, layout.vocab(task), out)
            atomic.write_json(out / "train.json", {
                "history": r.history, "best_epoch": r.best_epoch, "epochs_run": len(r.history),
                "parameters": count_parameters(tr.model), "frozen_embedding": tr.frozen})
        live.trained(layout.model_dir(task, name))
    atomic.write_json(layout.timing(task, name), training.timing(r))
    tr.resume.unlink(missing_ok=True)  # only now: a failed save reruns from the last epoch
    print(f"{task}/{name}: best epoch {r.best_epoch} of {len(r.history)}, "
          f"{r.tokens_per_s:,.0f} tokens/s, {count_parameters(tr.model):,} trainable parameters")


if __name__ == "__main__":
    run_stage(run, sys.argv[1:])
