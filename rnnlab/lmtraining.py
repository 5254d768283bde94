"""Training character language models, the project's way (streams) and the deck's (windows)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import torch
from torch import nn
from tqdm import tqdm

from rnnlab import charlm, device, layout, training
from rnnlab.training import FitResult, adam, fit_loop


def _streams(ids: torch.Tensor, batch: int) -> torch.Tensor:
    """Cut the text into `batch` equal parallel streams: [batch, length]."""
    length = (len(ids) - 1) // batch
    return ids[: batch * length + 1], length


def fit_streams(model: charlm.CharLM, train: torch.Tensor, val: torch.Tensor, *, lr: float, batch: int,
                bptt: int, clip: float, max_epochs: int, patience: int, seed: int,
                resume: Path | None = None, desc: str = "lm") -> FitResult:
    """Every character predicts the next; the state flows across chunks of `bptt` steps (TBPTT).

    Each epoch starts the streams at a different random offset so chunk borders move.
    """
    optimizer = adam(model.parameters(), lr)
    rng = torch.Generator().manual_seed(seed)
    loss_fn = nn.CrossEntropyLoss()
    train = device.to(train)

    def train_epoch() -> dict:
        offset = int(torch.randint(0, bptt, (1,), generator=rng))
        ids, length = _streams(train[offset:], batch)
        x_all = ids[:-1].view(batch, length)
        y_all = ids[1:].view(batch, length)
        state, total, n = None, 0.0, 0
        for start in tqdm(range(0, length, bptt), desc=desc, leave=False, disable=None):
            x, y = x_all[:, start:start + bptt], y_all[:, start:start + bptt]
            optimizer.zero_grad()
            logits, state = model(x, charlm.detach(state))
            loss = loss_fn(logits.reshape(-1, model.n_chars), y.reshape(-1))
            loss.backward()
            nn.utils.clip_grad_norm_(model.parameters(), clip)
            optimizer.step()
            total += loss.item() * y.numel()
            n += y.numel()
        return {"train_bpc": total / n / 0.6931471805599453, "tokens": n}

    def validate() -> dict:
        return {"val_bpc": charlm.bits_per_char_stream(model, val)}

    return fit_loop(model, optimizer, train_epoch=train_epoch, validate=validate, monitor="val_bpc",
                    max_epochs=max_epochs, patience=patience, shuffle=rng, resume=resume, desc=desc)


def fit_windows(model: charlm.CharLM, train: torch.Tensor, val: torch.Tensor, *, lr: float, batch: int,
                window: int, max_epochs: int, patience: int, seed: int, resume: Path | None = None,
                desc: str = "deck") -> FitResult:
    """The deck's formulation: every `window`-character slice (step 1) predicts the one character after it."""
    optimizer = adam(model.parameters(), lr)
    rng = torch.Generator().manual_seed(seed)
    loss_fn = nn.CrossEntropyLoss()
    train, starts, offsets = device.to(train, torch.arange(len(train) - window), torch.arange(window))

    def train_epoch() -> dict:
        order = starts[device.to(torch.randperm(len(starts), generator=rng))]
        total, n = 0.0, 0
        for i in tqdm(range(0, len(order), batch), desc=desc, leave=False, disable=None):
            idx = order[i:i + batch]
            x, y = train[idx.unsqueeze(1) + offsets], train[idx + window]
            optimizer.zero_grad()
            logits, _ = model(x)
            loss = loss_fn(logits[:, -1], y)
            loss.backward()
            optimizer.step()
            total += loss.item() * len(y)
            n += len(y)
        return {"train_bpc": total / n / 0.6931471805599453, "tokens": n * window}

    def validate() -> dict:
        return {"val_bpc": charlm.bits_per_char_windows(model, val, window)}

    return fit_loop(model, optimizer, train_epoch=train_epoch, validate=validate, monitor="val_bpc",
                    max_epochs=max_epochs, patience=patience, shuffle=rng, resume=resume, desc=desc)


@dataclass
class Trained:
    model: charlm.CharLM
    config: dict          # the model's (charlm.save), with `pretraining` for train.json
    result: FitResult
    resumes: list[Path]   # delete once the model is saved: a failed save resumes instead of starting again
    vocab: charlm.CharVocab


def train_variant(task: str, variant: str, cfg, seed: int) -> Trained:
    """One character model of the task (lstm, gru, rnn, the deck's formulation, or pretrained: an LSTM
    that reads prose of the same language before the task's text), trained with this seed on the
    prepared train text and validated on the held-out poems: the train and seeds stages."""
    training.seed_everything(seed)
    vocab, text = charlm.load_texts(task, ("train", "val"))
    d = layout.prepared(task)
    inputs = [d / "train.txt", d / "val.txt", d / "chars.json"]
    fit = {"deck": _deck, "pretrained": _pretrained}.get(variant, _stream)
    return Trained(*fit(task, variant, cfg, seed, len(vocab), text, inputs), vocab)


def _deck(task, variant, cfg, seed, n_chars, text, inputs):
    c = cfg.deck
    config = {"kind": "charlm", "cell": "lstm", "hidden": c.hidden, "layers": 1, "embed_dim": None, "dropout": 0.0,
              "window": c.window}
    model = device.to(charlm.CharLM(n_chars, "lstm", c.hidden))
    resume = training.resume_path(task, variant, {"seed": seed, **c.model_dump()}, inputs)
    result = fit_windows(model, text["train"], text["val"], lr=c.lr, batch=c.batch, window=c.window,
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
    result = fit_streams(model, text["train"], text["val"], lr=lr, batch=c.batch, bptt=c.bptt,
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
    first = fit_streams(model, prose["prose"], text["val"], lr=p.lr, batch=p.batch, bptt=c.bptt, clip=c.clip,
                        max_epochs=p.epochs, patience=p.epochs, seed=seed, resume=resume,
                        desc=f"{task}/{variant}: prose")
    model, config, result, resumes = _stream(task, variant, cfg, seed, n_chars, text, inputs, (model, p.finetune_lr, key))
    result.train_seconds += first.train_seconds  # its chars/s stays the fine-tuning's
    config["pretraining"] = {"prose_history": first.history, "prose_chars": len(prose["prose"])}
    return model, config, result, [resume, *resumes]
