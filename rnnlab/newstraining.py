"""One training run of a news variant with a given seed, and its test scores (stages/news/).

The train stage (params' seed) and the seed sweep (tasks.<task>.extra_seeds) train the same way
(train_variant); the evaluate stage and the sweep predict the test split the same way (predict_test_split).
Adam on cross-entropy, ReduceLROnPlateau and early stopping on validation loss, best epoch kept
(training.fit_loop), resumable after a kill from a checkpoint under .rnnlab/resume/.
"""

from __future__ import annotations

import copy
import json
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import numpy as np
import torch
from torch import nn
from tqdm import tqdm

from rnnlab import device, layout, news, sbert, training
from rnnlab import params as P
from rnnlab.batching import bucketed_order
from rnnlab.errors import RnnlabError
from rnnlab.models import count_parameters


def check_variant(variant: str) -> None:
    if variant not in news.VARIANTS:
        raise RnnlabError(f"unknown news variant {variant!r} (expected one of {', '.join(news.VARIANTS)})")


@dataclass
class Trained:
    model: nn.Module
    config: dict         # the model directory's config.json
    result: training.FitResult
    summary: dict        # its train.json: what a rerun reproduces bit for bit
    clock: dict          # seconds of the run's parts, for timings/ (never in the model directory)
    resume: Path         # the run's resume state: the caller deletes it once its outputs are written


def train_variant(task: str, variant: str, seed: int, desc: str) -> Trained:
    """Train `variant` of a news task from `seed` (every random draw follows from it)."""
    cfg = P.task(P.load(), task, "news")
    training.seed_everything(seed)
    labels = news.corpus_info(task)["labels"]
    tables = {s: news.split_table(task, s) for s in ("train", "val")}
    y = {s: torch.as_tensor(news.label_ids(df, labels)) for s, df in tables.items()}
    x = {s: news.sentence_vectors(task, s) for s in ("train", "val")}
    inputs = [layout.prepared(task) / f for f in ("train.csv", "val.csv", "corpus.json")]
    inputs += [layout.embedding(task, "sbert") / f"{s}.npy" for s in ("train", "val")]
    if variant == "finetuned":
        inputs.append(layout.raw(cfg.encoder) / "model.safetensors")
    settings = {"seed": seed, "variant": variant, "news": cfg.model_dump()}
    # named by the seed too: the sweep's runs of one variant never delete each other's state
    resume = training.resume_path(task, f"{variant}-s{seed}", settings, inputs)
    if variant == "frozen":
        model = device.to(news.Head(x["train"].shape[1], len(labels), **news.head_settings(cfg)))
        result, extra, clock = fit_head(model, x, y, cfg, seed, resume, desc), {}, {}
        input_dim, max_epochs = int(x["train"].shape[1]), cfg.max_epochs
    else:
        model, result, extra, clock = _finetune(cfg, labels, tables, x, y, seed, resume, desc)
        input_dim, max_epochs = model.sbert.dim, cfg.finetune.max_epochs
    config = {"kind": "news", "task": task, "variant": variant, "labels": labels, "encoder": cfg.encoder,
              "encoder_source": _source(layout.raw(cfg.encoder)), "input_dim": input_dim,
              "head": news.head_settings(cfg), "max_tokens": cfg.max_tokens,
              "trainable_layers": cfg.finetune.layers if variant == "finetuned" else 0}
    summary = {"history": result.history, "best_epoch": result.best_epoch, "epochs_run": len(result.history),
               "max_epochs": max_epochs, "parameters": count_parameters(model),
               "parameters_total": count_parameters(model, trainable_only=False),
               "threads": torch.get_num_threads(), **extra}
    return Trained(model, config, result, summary, clock, resume)


def _finetune(cfg: P.NewsTask, labels: list[str], tables: dict, x: dict[str, torch.Tensor], y: dict[str, torch.Tensor],
              seed: int, resume: Path, desc: str) -> tuple[news.FineTuned, training.FitResult, dict, dict]:
    """Encoder + head, the head warm-started on the frozen vectors where finetune.warm_start says so."""
    ft, extra, clock = cfg.finetune, {}, {}
    model = device.to(news.FineTuned(layout.raw(cfg.encoder), len(labels), news.head_settings(cfg), ft.layers,
                                     cfg.max_tokens))
    warm = None
    if ft.warm_start:  # the head first learns on the frozen vectors, so fine-tuning starts from a working classifier
        t0 = time.perf_counter()
        w = fit_head(model.head, x, y, cfg, seed, None, f"{desc}: head warm start")
        best = w.history[w.best_epoch - 1]
        extra["warm_start"] = {"best_epoch": w.best_epoch, "epochs_run": len(w.history),
                               "val_loss": best["val_loss"], "val_accuracy": best["val_accuracy"]}
        clock["warm_start_seconds"] = round(time.perf_counter() - t0, 1)
        warm = copy.deepcopy(model.state_dict())
    ids = {s: model.sbert.token_ids(df["text"].tolist()) for s, df in tables.items()}
    lengths = [len(i) for i in ids["train"]]
    cached = ft.layers is not None
    if cached:
        t0 = time.perf_counter()
        states = {s: lower_states(model, ids[s], desc=f"{desc}: frozen layers ({s})") for s in ids}
        clock["cache_seconds"] = round(time.perf_counter() - t0, 1)
        print(f"{desc}: {model.frozen_layers} frozen layers run once over "
              f"{sum(len(v) for v in ids.values())} texts in {clock['cache_seconds']:.0f} s", flush=True)

    def logits(split: str, rows: list[int]) -> torch.Tensor:
        if cached:
            return model.from_lower(*device.to(*pad_states([states[split][i] for i in rows])))
        return model(*device.to(*sbert.pad([ids[split][i] for i in rows], model.sbert.tokenizer.pad_token_id or 0)))

    optimizer = training.adam([
        {"params": [p for p in model.sbert.parameters() if p.requires_grad], "lr": ft.lr},
        {"params": list(model.head.parameters()), "lr": ft.head_lr}], ft.lr)
    val_order = sorted(range(len(ids["val"])), key=lambda i: (len(ids["val"][i]), i))
    result = _fit(model, optimizer, logits, y, lambda g: bucketed_order(lengths, ft.batch, g), val_order,
                  cfg, ft.max_epochs, torch.Generator().manual_seed(seed), resume, desc)
    if warm is not None and extra["warm_start"]["val_loss"] <= min(r["val_loss"] for r in result.history):
        print(f"{desc}: no fine-tuned epoch beat the warm-started head on validation loss; keeping that")
        model.load_state_dict(warm)
        result.best_epoch = 0
    return model, result, extra, clock


def predict_test_split(task: str, variant: str, model: nn.Module, labels: list[str]) -> tuple[np.ndarray, np.ndarray]:
    """The test split's true and predicted class ids, for one trained model (scored by evaluation.report,
    which is left to the caller: the train stage need not depend on the scoring and plotting code)."""
    test = news.split_table(task, "test")
    y = news.label_ids(test, labels)
    model.eval()  # a model straight from training may still be in training mode (dropout)
    with torch.no_grad():
        if variant == "frozen":
            logits = model(device.to(news.sentence_vectors(task, "test"))).cpu()
        else:
            logits = news.logits_from_ids(model, model.sbert.token_ids(test["text"].tolist()))
    return y, logits.argmax(1).numpy()


def run_params(config: dict, cfg: P.NewsTask, seed: int, trained: dict, corpus: dict) -> dict:
    """A run's MLflow params: its model's config, the training settings, its train.json's counts."""
    ft = config["variant"] == "finetuned"
    return {"variant": config["variant"], "encoder": config["encoder"], "encoder_source": config["encoder_source"],
            "head": config["head"]["variant"], "hidden": config["head"]["hidden"],
            "dropout": config["head"]["dropout"], "max_tokens": config["max_tokens"],
            "trainable_layers": config["trainable_layers"], "seed": seed,
            "lr": cfg.finetune.lr if ft else cfg.head.lr, "head_lr": cfg.finetune.head_lr if ft else cfg.head.lr,
            "batch": cfg.finetune.batch if ft else cfg.head.batch,
            "max_epochs": trained["max_epochs"], "patience": cfg.patience,
            "scheduler_factor": cfg.scheduler.factor, "scheduler_patience": cfg.scheduler.patience,
            "corpus": corpus["corpus"], "classes": len(config["labels"]), "parameters": trained["parameters"]}


def pad_states(states: list[torch.Tensor]) -> tuple[torch.Tensor, torch.Tensor]:
    """Token states [len_i, D] -> zero-padded [B, T, D] and the attention mask [B, T]."""
    width = max(len(s) for s in states)
    hidden = torch.zeros((len(states), width, states[0].shape[1]), device=states[0].device)
    mask = torch.zeros((len(states), width), dtype=torch.long, device=states[0].device)
    for i, s in enumerate(states):
        hidden[i, :len(s)] = s
        mask[i, :len(s)] = 1
    return hidden, mask


def lower_states(model: news.FineTuned, ids: list[list[int]], batch_size: int = 64, desc: str = "") -> list[torch.Tensor]:
    """Each text's token states after the frozen layers (computed once; they never change)."""
    order = sorted(range(len(ids)), key=lambda i: (len(ids[i]), i))
    out: list[torch.Tensor] = [None] * len(ids)  # type: ignore[list-item]
    pad_id = model.sbert.tokenizer.pad_token_id or 0
    for start in tqdm(range(0, len(order), batch_size), desc=desc, unit="batch", leave=False, disable=None):
        rows = order[start:start + batch_size]
        x, m = sbert.pad([ids[i] for i in rows], pad_id)
        hidden = model.sbert.lower(*device.to(x, m), model.frozen_layers)
        for j, i in enumerate(rows):
            out[i] = hidden[j, :len(ids[i])].to("cpu", copy=True)  # kept in host memory, a batch at a time on the device
    return out


def _fit(model: nn.Module, optimizer: torch.optim.Optimizer, logits: Callable[[str, list[int]], torch.Tensor],
         y: dict[str, torch.Tensor], groups: Callable[[torch.Generator], list[torch.Tensor]], val_order: list[int],
         cfg, max_epochs: int, shuffle: torch.Generator, resume, desc: str) -> training.FitResult:
    """Cross-entropy epochs through training.fit_loop, ReduceLROnPlateau stepped on each validation loss."""
    scheduler = torch.optim.lr_scheduler.ReduceLROnPlateau(optimizer, mode="min", factor=cfg.scheduler.factor,
                                                           patience=cfg.scheduler.patience)
    base_lr = optimizer.param_groups[0]["lr"]
    loss_fn = nn.CrossEntropyLoss()

    def train_epoch() -> dict:
        seen, total, correct = 0, 0.0, 0
        bar = tqdm(groups(shuffle), desc=desc, unit="batch", leave=False, disable=None)
        for idx in bar:
            optimizer.zero_grad()
            out = logits("train", idx.tolist())
            target = device.to(y["train"][idx])
            loss = loss_fn(out, target)
            loss.backward()
            optimizer.step()
            total += loss.item() * len(idx)
            correct += int((out.argmax(1) == target).sum())
            seen += len(idx)
            bar.set_postfix(loss=f"{total / seen:.4f}")
        return {"train_loss": total / seen, "train_accuracy": correct / seen, "tokens": seen}

    @torch.no_grad()
    def validate() -> dict:
        model.eval()
        parts = [(rows, logits("val", rows)) for rows in (val_order[i:i + 128] for i in range(0, len(val_order), 128))]
        out = torch.empty((len(val_order), parts[0][1].shape[1]))
        for rows, part in parts:
            out[rows] = part.cpu()
        loss = float(loss_fn(out, y["val"]))
        scale = optimizer.param_groups[0]["lr"] / base_lr  # the learning rate this epoch trained with
        scheduler.step(loss)
        return {"val_loss": loss, "val_accuracy": float((out.argmax(1) == y["val"]).float().mean()), "lr_scale": scale}

    if resume is not None:
        _replay_scheduler(resume, scheduler.step)
    return training.fit_loop(model, optimizer, train_epoch=train_epoch, validate=validate, monitor="val_loss",
                             max_epochs=max_epochs, patience=cfg.patience, shuffle=shuffle, resume=resume, desc=desc)


def fit_head(head: news.Head, x: dict[str, torch.Tensor], y: dict[str, torch.Tensor], cfg, seed: int, resume,
             desc: str) -> training.FitResult:
    """The head alone on fixed sentence vectors (the frozen variant; the fine-tuned one's warm start)."""
    optimizer = training.adam(head.parameters(), cfg.head.lr)
    n = len(y["train"])
    threads = torch.get_num_threads()
    # one thread: a 68k-parameter head gains nothing from more, and on a busy machine the
    # threads' waiting for each other made its batches ~15x slower (72 vs 5 ms, measured)
    torch.set_num_threads(1)
    try:
        return _fit(head, optimizer, lambda split, rows: head(device.to(x[split][rows])), y,
                    lambda g: list(torch.split(torch.randperm(n, generator=g), cfg.head.batch)),
                    list(range(len(y["val"]))), cfg, cfg.max_epochs, torch.Generator().manual_seed(seed), resume, desc)
    finally:
        torch.set_num_threads(threads)


def _replay_scheduler(resume, step: Callable[[float], None]) -> None:
    """fit_loop restores weights, optimizer and RNG; the plateau counter is replayed from the saved history."""
    if resume.exists():
        for row in torch.load(resume, weights_only=True, map_location="cpu")["history"]:
            step(row["val_loss"])


def _source(encoder_dir) -> str | None:
    path = encoder_dir / "source.json"
    return json.loads(path.read_text(encoding="utf-8")).get("source") if path.is_file() else None
