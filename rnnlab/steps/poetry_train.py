"""Stage `poetry_train`: one character language model (lstm, gru or the deck's formulation)."""

from __future__ import annotations

import json

from rnnlab import atomic, charlm, layout, lmtraining, params as P, training
from rnnlab.models import count_parameters


def load_texts(names=("train", "val", "test")) -> tuple[charlm.CharVocab, dict]:
    d = layout.prepared("poetry")
    vocab = charlm.CharVocab(json.loads((d / "chars.json").read_text(encoding="utf-8"))[1:])
    return vocab, {n: vocab.encode((d / f"{n}.txt").read_text(encoding="utf-8")) for n in names}


def run(variant: str) -> None:
    params = P.load()
    cfg = params.poetry
    training.seed_everything(params.seed)
    vocab, text = load_texts(("train", "val"))
    d = layout.prepared("poetry")
    inputs = [d / "train.txt", d / "val.txt", d / "chars.json"]
    if variant == "deck":
        c = cfg.deck
        config = {"cell": "lstm", "hidden": c.hidden, "layers": 1, "embed_dim": None, "dropout": 0.0,
                  "window": c.window, "variant": "deck"}
        model = charlm.CharLM(len(vocab), "lstm", c.hidden)
        resume = training.resume_path("poetry", variant, {"seed": params.seed, **c.model_dump()}, inputs)
        result = lmtraining.fit_windows(model, text["train"], text["val"], lr=c.lr, batch=c.batch, window=c.window,
                                        max_epochs=c.max_epochs, patience=c.patience, seed=params.seed,
                                        resume=resume, desc=f"poetry/{variant}")
    else:
        c = cfg.stream
        config = {"cell": variant, "hidden": c.hidden, "layers": 1, "embed_dim": c.embed_dim, "dropout": c.dropout,
                  "window": None, "variant": variant}
        model = charlm.CharLM(len(vocab), variant, c.hidden, 1, c.embed_dim, c.dropout)
        resume = training.resume_path("poetry", variant, {"seed": params.seed, **c.model_dump()}, inputs)
        result = lmtraining.fit_streams(model, text["train"], text["val"], lr=c.lr, batch=c.batch, bptt=c.bptt,
                                        clip=c.clip, max_epochs=c.max_epochs, patience=c.patience,
                                        seed=params.seed, resume=resume, desc=f"poetry/{variant}")
    with atomic.output_dir(layout.model_dir("poetry", variant)) as out:
        charlm.save(model, config, vocab, out)
        atomic.write_json(out / "train.json", {
            "history": result.history, "best_epoch": result.best_epoch, "epochs_run": len(result.history),
            "train_seconds": round(result.train_seconds, 3), "tokens_per_s": round(result.tokens_per_s, 1),
            "parameters": count_parameters(model)})
    resume.unlink(missing_ok=True)
    print(f"poetry/{variant}: best epoch {result.best_epoch} of {len(result.history)}, "
          f"val {min(h['val_bpc'] for h in result.history):.3f} bits/char, {result.tokens_per_s:,.0f} chars/s")
