"""Stage `<task>_train@<variant>`: the frozen-encoder head or the fine-tuned encoder + head.

Adam on cross-entropy, ReduceLROnPlateau and early stopping on validation loss, best epoch
kept (training.fit_loop), resumable after a kill from a checkpoint under .rnnlab/resume/.
"""

from __future__ import annotations

import copy
import json
import sys
import time
from typing import Callable

import torch
from torch import nn
from tqdm import tqdm

from rnnlab import atomic, device, layout, news, sbert, tracking, training
from rnnlab import params as P
from rnnlab.batching import bucketed_order
from rnnlab.entry import run_stage
from rnnlab.errors import RnnlabError
from rnnlab.models import count_parameters


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


def run(task: str, variant: str) -> None:
    if variant not in news.VARIANTS:
        raise RnnlabError(f"unknown news variant {variant!r} (expected one of {', '.join(news.VARIANTS)})")
    wall0 = time.perf_counter()
    params = P.load()
    cfg = P.task(params, task, "news")
    training.seed_everything(params.seed)
    labels = news.corpus_info(task)["labels"]
    tables = {s: news.split_table(task, s) for s in ("train", "val")}
    y = {s: torch.as_tensor(news.label_ids(df, labels)) for s, df in tables.items()}
    x = {s: news.sentence_vectors(task, s) for s in ("train", "val")}
    inputs = [layout.prepared(task) / f for f in ("train.csv", "val.csv", "corpus.json")]
    inputs += [layout.embedding(task, "sbert") / f"{s}.npy" for s in ("train", "val")]
    run_settings = {"seed": params.seed, "variant": variant, "news": cfg.model_dump()}
    desc, extra, clock = f"{task}/{variant}", {}, {}

    with tracking.training_run(task, variant, params.seed, cfg.model_dump()) as live:
        if variant == "frozen":
            model = device.to(news.Head(x["train"].shape[1], len(labels), **news.head_settings(cfg)))
            resume = training.resume_path(task, variant, run_settings, inputs)
            result = fit_head(model, x, y, cfg, params.seed, resume, desc)
            input_dim, max_epochs = int(x["train"].shape[1]), cfg.max_epochs
        else:
            ft = cfg.finetune
            encoder_dir = layout.raw(cfg.encoder)
            model = device.to(news.FineTuned(encoder_dir, len(labels), news.head_settings(cfg), ft.layers, cfg.max_tokens))
            input_dim, max_epochs = model.sbert.dim, ft.max_epochs
            resume = training.resume_path(task, variant, run_settings, inputs + [encoder_dir / "model.safetensors"])
            warm = None
            if ft.warm_start:  # the head first learns on the frozen vectors, so fine-tuning starts from a working classifier
                t0 = time.perf_counter()
                w = fit_head(model.head, x, y, cfg, params.seed, None, f"{desc}: head warm start")
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
                          cfg, ft.max_epochs, torch.Generator().manual_seed(params.seed), resume, desc)
            if warm is not None and extra["warm_start"]["val_loss"] <= min(r["val_loss"] for r in result.history):
                print(f"{desc}: no fine-tuned epoch beat the warm-started head on validation loss; keeping that")
                model.load_state_dict(warm)
                result.best_epoch = 0

        config = {"kind": "news", "task": task, "variant": variant, "labels": labels, "encoder": cfg.encoder,
                  "encoder_source": _source(layout.raw(cfg.encoder)), "input_dim": input_dim,
                  "head": news.head_settings(cfg), "max_tokens": cfg.max_tokens,
                  "trainable_layers": cfg.finetune.layers if variant == "finetuned" else 0}
        trainable = count_parameters(model)
        with atomic.output_dir(layout.model_dir(task, variant)) as out:
            news.save(model, config, out)
            atomic.write_json(out / "train.json", {
                "history": result.history, "best_epoch": result.best_epoch, "epochs_run": len(result.history),
                "max_epochs": max_epochs, "parameters": trainable, "parameters_total": count_parameters(model, trainable_only=False),
                "threads": torch.get_num_threads(), **extra})
        live.trained(layout.model_dir(task, variant))
    atomic.write_json(layout.timing(task, variant), training.timing(
        result, rows_per_s=round(result.tokens_per_s, 1), wall_seconds=round(time.perf_counter() - wall0, 1), **clock))
    resume.unlink(missing_ok=True)
    print(f"{desc}: best epoch {result.best_epoch} of {len(result.history)}, {result.train_seconds:.0f} s training, "
          f"{result.tokens_per_s:,.1f} rows/s, {trainable:,} trainable parameters")


def _replay_scheduler(resume, step: Callable[[float], None]) -> None:
    """fit_loop restores weights, optimizer and RNG; the plateau counter is replayed from the saved history."""
    if resume.exists():
        for row in torch.load(resume, weights_only=True, map_location="cpu")["history"]:
            step(row["val_loss"])


def _source(encoder_dir) -> str | None:
    path = encoder_dir / "source.json"
    return json.loads(path.read_text(encoding="utf-8")).get("source") if path.is_file() else None


if __name__ == "__main__":
    run_stage(run, sys.argv[1:])
