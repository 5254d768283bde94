"""Stage `<task>_train`: one character language model (lstm, gru, the deck's formulation, or pretrained:
an LSTM that reads prose of the same language before the task's text)."""

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
    fit = {"deck": _deck, "pretrained": _pretrained}.get(variant, _stream)
    with tracking.training_run(task, variant, params.seed, cfg.model_dump()) as live:
        model, config, result, resumes = fit(task, variant, cfg, params.seed, len(vocab), text, inputs)
        pretraining = config.pop("pretraining", {})  # train.json's, not the model's
        with atomic.output_dir(layout.model_dir(task, variant)) as out:
            charlm.save(model, {**config, "variant": variant}, vocab, out)
            atomic.write_json(out / "train.json", {
                "history": result.history, "best_epoch": result.best_epoch, "epochs_run": len(result.history),
                "parameters": count_parameters(model), **pretraining})
        live.trained(layout.model_dir(task, variant))
    atomic.write_json(layout.timing(task, variant), training.timing(result))
    for resume in resumes:  # only once the model is saved: a failed save resumes instead of starting again
        resume.unlink(missing_ok=True)
    print(f"{task}/{variant}: best epoch {result.best_epoch} of {len(result.history)}, "
          f"val {min(h['val_bpc'] for h in result.history):.3f} bits/char, {result.tokens_per_s:,.0f} chars/s")


def _deck(task, variant, cfg, seed, n_chars, text, inputs):
    c = cfg.deck
    config = {"kind": "charlm", "cell": "lstm", "hidden": c.hidden, "layers": 1, "embed_dim": None, "dropout": 0.0,
              "window": c.window}
    model = device.to(charlm.CharLM(n_chars, "lstm", c.hidden))
    resume = training.resume_path(task, variant, {"seed": seed, **c.model_dump()}, inputs)
    result = lmtraining.fit_windows(model, text["train"], text["val"], lr=c.lr, batch=c.batch, window=c.window,
                                    max_epochs=c.max_epochs, patience=c.patience, seed=seed,
                                    resume=resume, desc=f"{task}/{variant}")
    return model, config, result, [resume]


def _stream(task, variant, cfg, seed, n_chars, text, inputs, pretrained=None):
    """Every next character of the task's text (TBPTT); `pretrained` = (model, lr, its key) continues a model."""
    c = cfg.stream
    model, lr, key = pretrained or (device.to(charlm.CharLM(n_chars, variant, c.hidden, 1, c.embed_dim, c.dropout)), c.lr, {})
    config = {"kind": "charlm", "cell": model.cell, "hidden": model.rnn.hidden_size, "layers": model.rnn.num_layers,
              "embed_dim": c.embed_dim, "dropout": c.dropout, "window": None}
    resume = training.resume_path(task, variant, {"seed": seed, **c.model_dump(), **key}, inputs)
    result = lmtraining.fit_streams(model, text["train"], text["val"], lr=lr, batch=c.batch, bptt=c.bptt,
                                    clip=c.clip, max_epochs=c.max_epochs, patience=c.patience, seed=seed,
                                    resume=resume, desc=f"{task}/{variant}")
    return model, config, result, [resume]


def _pretrained(task, variant, cfg, seed, n_chars, text, inputs):
    """`pretrain.epochs` over the prose (validated on the task's held-out text), then the task's text."""
    p, c = cfg.pretrain, cfg.stream
    _, prose = charlm.load_texts(task, (charlm.PROSE.removesuffix(".txt"),))
    model = device.to(charlm.CharLM(n_chars, "lstm", p.hidden, p.layers, c.embed_dim, c.dropout))
    key = {"pretrain": p.model_dump()}
    inputs = [*inputs, layout.prepared(task) / charlm.PROSE]
    resume = training.resume_path(task, f"{variant}-prose", {"seed": seed, **c.model_dump(), **key}, inputs)
    first = lmtraining.fit_streams(model, prose["prose"], text["val"], lr=p.lr, batch=p.batch, bptt=c.bptt, clip=c.clip,
                                   max_epochs=p.epochs, patience=p.epochs, seed=seed, resume=resume,
                                   desc=f"{task}/{variant}: prose")
    model, config, result, resumes = _stream(task, variant, cfg, seed, n_chars, text, inputs, (model, p.finetune_lr, key))
    result.train_seconds += first.train_seconds  # its chars/s stays the fine-tuning's
    config["pretraining"] = {"prose_history": first.history, "prose_chars": len(prose["prose"])}
    return model, config, result, [resume, *resumes]


if __name__ == "__main__":
    run_stage(run, sys.argv[1:])
