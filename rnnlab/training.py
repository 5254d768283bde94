"""Training loop: Adam, early stopping on validation loss, best weights kept, resumable."""

from __future__ import annotations

import copy
import hashlib
import io
import json
import random
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

import numpy as np
import torch
from torch import nn
from tqdm import tqdm

from rnnlab import atomic, determinism, device, layout, tracking
from rnnlab.batching import batches


def seed_everything(seed: int) -> None:
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)
    deterministic_algorithms()


def deterministic_algorithms() -> None:
    """torch.use_deterministic_algorithms(True), without its import of torch._inductor (sympy and
    more: 2-4 s of every training stage here) that only sets the compiler's flag; nothing here compiles."""
    setter = getattr(torch._C, "_set_deterministic_algorithms", None)
    if setter is None or "torch._inductor" in sys.modules:
        torch.use_deterministic_algorithms(True)
    else:
        setter(True, warn_only=False)


def adam(params, lr: float) -> torch.optim.Adam:
    """Adam with the single fused kernel: 0.9-1.3 ms a step for these models against 4.5-7 ms for the
    default multi-tensor one, which made the optimizer the largest cost of a step (benchmarks/step.py)."""
    return torch.optim.Adam(params, lr=lr, fused=True)


def resume_path(task: str, run: str, settings: dict, inputs: list) -> Path:
    """A checkpoint file keyed by everything the result depends on, so stale state is never resumed.

    The run's files under other keys are deleted: their settings or inputs are gone, so nothing
    can resume them (a killed run whose stage DVC later restored from its run-cache, say)."""
    # the threads and kernel mode shape the floats too: state from another setting is never resumed
    identity = {**settings, "_threads": torch.get_num_threads(), "_kernels": determinism.kernels(),
                "_device": device.current().type}
    h = hashlib.sha256(json.dumps(identity, sort_keys=True).encode())
    for path in inputs:
        h.update(atomic.sha256_file(path).encode())
    path = layout.resume_dir() / f"{task}-{run}-{h.hexdigest()[:16]}.pt"
    for stale in layout.resume_dir().glob(f"{task}-{run}-" + "?" * 16 + ".pt"):
        if stale != path:
            stale.unlink(missing_ok=True)
    return path


@dataclass
class Split:
    seqs: list[list[int]]
    labels: np.ndarray

    def __post_init__(self):
        self.labels = np.array(self.labels, dtype=np.int64)  # a writable copy torch can wrap

    @property
    def tokens(self) -> int:
        return sum(len(s) for s in self.seqs)


@dataclass
class FitResult:
    best_state: dict
    history: list[dict] = field(default_factory=list)
    best_epoch: int = 0
    train_seconds: float = 0.0
    tokens_per_s: float = 0.0


@torch.no_grad()
def predict_proba(model: nn.Module, data: Split, batch_size: int = 256, pad_to: int | None = None) -> np.ndarray:
    """Class probabilities in input order; unpadded inputs are batched by length (less padding, same result)."""
    model.eval()
    order = np.arange(len(data.seqs)) if pad_to else np.argsort([len(s) for s in data.seqs], kind="stable")
    seqs = [data.seqs[i] for i in order]
    out = torch.cat([torch.softmax(model(*device.to(t, n)), dim=1).cpu()
                     for t, n, _ in batches(seqs, data.labels[order], batch_size, pad_to)])
    probs = np.empty((len(order), out.shape[1]), dtype=np.float32)
    probs[order] = out.numpy()
    return probs


def _evaluate(model, data: Split, batch_size: int, pad_to: int | None) -> tuple[float, float]:
    probs = predict_proba(model, data, batch_size, pad_to)
    loss = nn.functional.nll_loss(torch.log(torch.as_tensor(probs).clamp_min(1e-12)), torch.as_tensor(data.labels))
    return float(loss), float((probs.argmax(1) == data.labels).mean())


def timing(result: FitResult, **more) -> dict:
    """The clock side of a run, written to layout.timing() rather than into the model directory."""
    return {"train_seconds": round(result.train_seconds, 3), "tokens_per_s": round(result.tokens_per_s, 1), **more}


def _save_state(path: Path, state: dict) -> None:
    buf = io.BytesIO()
    torch.save(state, buf)
    atomic.write_bytes(path, buf.getvalue())


def fit_loop(model: nn.Module, optimizer: torch.optim.Optimizer, *, train_epoch: Callable[[], dict],
             validate: Callable[[], dict], monitor: str, max_epochs: int, patience: int, shuffle: torch.Generator,
             resume: Path | None = None, desc: str = "train") -> FitResult:
    """Epochs until `monitor` (lower is better) stops improving for `patience` epochs; best weights kept.

    train_epoch() trains one epoch and returns its metrics plus "tokens" processed; validate()
    returns validation metrics. With `resume`, the full state (weights, optimizer, RNG, history)
    is saved there after every epoch and picked up again if the process was killed, so an
    interrupted run ends with the same result as an uninterrupted one.
    """
    r = FitResult(best_state=copy.deepcopy(model.state_dict()))
    best, bad_epochs, start, tokens = float("inf"), 0, 1, 0
    if resume is not None and resume.exists():
        s = torch.load(resume, weights_only=True, map_location="cpu")  # load_state_dict places them
        model.load_state_dict(s["model"]); optimizer.load_state_dict(s["optimizer"])
        torch.set_rng_state(s["torch_rng"]); shuffle.set_state(s["shuffle_rng"])
        if "cuda_rng" in s:  # dropout on a GPU draws from its own generator
            torch.cuda.set_rng_state(s["cuda_rng"])
        r.best_state, r.history, r.best_epoch = s["best_state"], s["history"], s["best_epoch"]
        best, bad_epochs, start, r.train_seconds, tokens = s["best"], s["bad_epochs"], s["epoch"] + 1, s["seconds"], s["tokens"]
        print(f"{desc}: resuming from epoch {start} ({resume})", flush=True)
        for row in r.history:  # a live MLflow run shows the whole curve
            tracking.epoch_done(row, desc)
    for epoch in range(start, max_epochs + 1):
        if bad_epochs >= patience:
            break
        model.train()
        t0 = time.perf_counter()
        train = train_epoch()
        r.train_seconds += time.perf_counter() - t0
        tokens += train.pop("tokens")
        row = {"epoch": epoch, **train, **validate()}
        r.history.append(row)
        tracking.epoch_done(row, desc)
        print(f"{desc} epoch {epoch:2d}/{max_epochs}: " +
              " ".join(f"{k} {v:.4f}" for k, v in row.items() if k != "epoch"), flush=True)
        if row[monitor] < best:
            best, bad_epochs, r.best_epoch = row[monitor], 0, epoch
            r.best_state = copy.deepcopy(model.state_dict())
        else:
            bad_epochs += 1
        if resume is not None:
            cuda_rng = {"cuda_rng": torch.cuda.get_rng_state()} if device.current().type == "cuda" else {}
            _save_state(resume, {**cuda_rng, "model": model.state_dict(), "optimizer": optimizer.state_dict(),
                                 "torch_rng": torch.get_rng_state(), "shuffle_rng": shuffle.get_state(),
                                 "best_state": r.best_state, "history": r.history, "best_epoch": r.best_epoch,
                                 "best": best, "bad_epochs": bad_epochs, "epoch": epoch,
                                 "seconds": r.train_seconds, "tokens": tokens})
    r.tokens_per_s = tokens / max(r.train_seconds, 1e-9)
    model.load_state_dict(r.best_state)
    return r


def fit(model: nn.Module, train: Split, val: Split, *, lr: float, batch_size: int, max_epochs: int,
        patience: int, seed: int, pad_to: int | None = None, bucket: bool = False, resume: Path | None = None,
        desc: str = "train") -> FitResult:
    """Train a classifier with Adam and cross-entropy, early stopping on validation loss."""
    optimizer = adam((p for p in model.parameters() if p.requires_grad), lr)
    shuffle = torch.Generator().manual_seed(seed)
    loss_fn = nn.CrossEntropyLoss()
    steps = -(-len(train.seqs) // batch_size)

    def train_epoch() -> dict:
        seen, total_loss, correct = 0, 0.0, 0
        # disable=None: a live bar on a terminal, nothing in captured logs (the epoch line stays)
        bar = tqdm(batches(train.seqs, train.labels, batch_size, pad_to, shuffle, bucket), total=steps,
                   desc=desc, unit="batch", leave=False, disable=None)
        for tokens, lengths, y in bar:
            tokens, lengths, y = device.to(tokens, lengths, y)
            optimizer.zero_grad()
            logits = model(tokens, lengths)
            loss = loss_fn(logits, y)
            loss.backward()
            optimizer.step()
            total_loss += loss.item() * len(y)
            correct += int((logits.argmax(1) == y).sum())
            seen += len(y)
            bar.set_postfix(loss=f"{total_loss / seen:.4f}")
        return {"train_loss": total_loss / seen, "train_accuracy": correct / seen, "tokens": train.tokens}

    def validate() -> dict:
        val_loss, val_acc = _evaluate(model, val, 256, pad_to)
        return {"val_loss": val_loss, "val_accuracy": val_acc}

    return fit_loop(model, optimizer, train_epoch=train_epoch, validate=validate, monitor="val_loss",
                    max_epochs=max_epochs, patience=patience, shuffle=shuffle, resume=resume, desc=desc)
