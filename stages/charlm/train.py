"""Stage `<task>_train`: one character language model (lstm, gru or the deck's formulation)."""

from __future__ import annotations

import sys

from rnnlab import atomic, charlm, device, layout, lmtraining, tracking, training
from rnnlab import params as P
from rnnlab.entry import run_stage
from rnnlab.models import count_parameters


def run(task: str, variant: str) -> None:
    params = P.load()
    cfg = P.task(params, task, "charlm")
    training.seed_everything(params.seed)
    vocab, text = charlm.load_texts(task, ("train", "val"))
    d = layout.prepared(task)
    inputs = [d / "train.txt", d / "val.txt", d / "chars.json"]
    with tracking.training_run(task, variant, params.seed, cfg.model_dump()) as live:
        if variant == "deck":
            c = cfg.deck
            config = {"kind": "charlm", "cell": "lstm", "hidden": c.hidden, "layers": 1, "embed_dim": None, "dropout": 0.0,
                      "window": c.window, "variant": "deck"}
            model = device.to(charlm.CharLM(len(vocab), "lstm", c.hidden))
            resume = training.resume_path(task, variant, {"seed": params.seed, **c.model_dump()}, inputs)
            result = lmtraining.fit_windows(model, text["train"], text["val"], lr=c.lr, batch=c.batch, window=c.window,
                                            max_epochs=c.max_epochs, patience=c.patience, seed=params.seed,
                                            resume=resume, desc=f"{task}/{variant}")
        else:
            c = cfg.stream
            config = {"kind": "charlm", "cell": variant, "hidden": c.hidden, "layers": 1, "embed_dim": c.embed_dim, "dropout": c.dropout,
                      "window": None, "variant": variant}
            model = device.to(charlm.CharLM(len(vocab), variant, c.hidden, 1, c.embed_dim, c.dropout))
            resume = training.resume_path(task, variant, {"seed": params.seed, **c.model_dump()}, inputs)
            result = lmtraining.fit_streams(model, text["train"], text["val"], lr=c.lr, batch=c.batch, bptt=c.bptt,
                                            clip=c.clip, max_epochs=c.max_epochs, patience=c.patience,
                                            seed=params.seed, resume=resume, desc=f"{task}/{variant}")
        with atomic.output_dir(layout.model_dir(task, variant)) as out:
            charlm.save(model, config, vocab, out)
            atomic.write_json(out / "train.json", {
                "history": result.history, "best_epoch": result.best_epoch, "epochs_run": len(result.history),
                "parameters": count_parameters(model)})
        live.trained(layout.model_dir(task, variant))
    atomic.write_json(layout.timing(task, variant), training.timing(result))
    resume.unlink(missing_ok=True)
    print(f"{task}/{variant}: best epoch {result.best_epoch} of {len(result.history)}, "
          f"val {min(h['val_bpc'] for h in result.history):.3f} bits/char, {result.tokens_per_s:,.0f} chars/s")


if __name__ == "__main__":
    run_stage(run, sys.argv[1:])
