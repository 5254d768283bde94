"""Stage `<task>_train`: one character language model (lstm, gru, the deck's formulation, or pretrained:
an LSTM that reads prose of the same language before the task's text)."""

from __future__ import annotations

import sys

from rnnlab import atomic, charlm, layout, lmtraining, tracking, training
from rnnlab import params as P
from rnnlab.entry import run_stage
from rnnlab.models import count_parameters


def run(task: str, variant: str) -> None:
    params = P.load()
    cfg = P.task(params, task, "charlm")
    with tracking.training_run(task, variant, params.seed, cfg.model_dump()) as live:
        tr = lmtraining.train_variant(task, variant, cfg, params.seed)
        pretraining = tr.config.pop("pretraining", {})  # train.json's, not the model's
        with atomic.output_dir(layout.model_dir(task, variant)) as out:
            charlm.save(tr.model, {**tr.config, "variant": variant}, tr.vocab, out)
            atomic.write_json(out / "train.json", {
                "history": tr.result.history, "best_epoch": tr.result.best_epoch, "epochs_run": len(tr.result.history),
                "parameters": count_parameters(tr.model), **pretraining})
        live.trained(layout.model_dir(task, variant))
    atomic.write_json(layout.timing(task, variant), training.timing(tr.result))
    for resume in tr.resumes:  # only once the model is saved: a failed save resumes instead of starting again
        resume.unlink(missing_ok=True)
    print(f"{task}/{variant}: best epoch {tr.result.best_epoch} of {len(tr.result.history)}, "
          f"val {min(h['val_bpc'] for h in tr.result.history):.3f} bits/char, {tr.result.tokens_per_s:,.0f} chars/s")


if __name__ == "__main__":
    run_stage(run, sys.argv[1:])
