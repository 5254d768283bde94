"""Training character language models, the project's way (streams) and the deck's (windows)."""

from __future__ import annotations

from pathlib import Path

import torch
from torch import nn
from tqdm import tqdm

from rnnlab import charlm, device
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
