"""Stage `news_evaluate@<variant>`: test-set report, confusion matrix, learning curves; MLflow run."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import numpy as np
import torch

from rnnlab import atomic, evaluation, layout, tracking, training
from rnnlab.errors import RnnlabError
from rnnlab.steps.news_common import (TASK, corpus_info, label_ids, load, logits_from_ids, sentence_vectors,
                                      settings, split_table)
from rnnlab.steps.news_train import VARIANTS

EXPERIMENT = "rnnlab-news"


def plot_confusion(y_true, y_pred, labels: list[str], title: str, path: Path) -> None:
    """Counts, shaded by the share of each true class (rows): readable with thirty classes."""
    import matplotlib.pyplot as plt

    cm = evaluation.confusion_matrix(y_true, y_pred, len(labels))
    share = cm / np.maximum(cm.sum(1, keepdims=True), 1)
    size = max(4.5, 0.32 * len(labels) + 2)
    fig, ax = plt.subplots(figsize=(size + 1, size))
    im = ax.imshow(share, cmap="Blues", vmin=0, vmax=1)
    font = 8 if len(labels) <= 12 else 6
    for (i, j), v in np.ndenumerate(cm):
        if v:
            ax.text(j, i, str(v), ha="center", va="center", fontsize=font,
                    color="white" if share[i, j] > 0.5 else "black")
    ax.set_xticks(range(len(labels)), labels, rotation=90, fontsize=font + 1)
    ax.set_yticks(range(len(labels)), labels, fontsize=font + 1)
    ax.set(xlabel="Predicted label", ylabel="True label", title=title)
    fig.colorbar(im, ax=ax, fraction=0.04, label="share of the true class")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def run(variant: str) -> None:
    if variant not in VARIANTS:
        raise RnnlabError(f"unknown news variant {variant!r} (expected one of {', '.join(VARIANTS)})")
    params, cfg = settings()
    training.deterministic_algorithms()
    model_dir = layout.model_dir(TASK, variant)
    model, config = load(model_dir)
    info = corpus_info()
    labels = info["labels"]
    if labels != config["labels"]:
        raise RnnlabError(f"{model_dir}: trained on other classes than data/prepared/news has (rerun news_train)")
    test = split_table("test")
    y = label_ids(test, labels)
    with torch.no_grad():
        if variant == "frozen":
            logits = model(sentence_vectors("test"))
        else:
            logits = logits_from_ids(model, model.sbert.token_ids(test["text"].tolist()))
    pred = logits.argmax(1).numpy()
    report = evaluation.report(y, pred, labels)
    metrics_path = layout.metrics(TASK, variant)
    atomic.write_json(metrics_path, {"corpus": info["corpus"], "variant": variant, "classes": len(labels),
                                     "test_rows": len(test), "macro_f1": report["macro_avg"]["f1_score"], **report})

    trained = json.loads((model_dir / "train.json").read_text(encoding="utf-8"))
    plots = layout.plots(TASK, variant)
    title = f"news {variant} ({config['encoder']})"
    with atomic.output_dir(plots) as out:
        plot_confusion(y, pred, labels, title, out / "confusion.png")
        evaluation.plot_curves(trained["history"], title, out / "curves.png")
        atomic.write_text(out / "history.csv", evaluation.history_csv(trained["history"]))
    print(f"{TASK}/{variant}: test accuracy {report['accuracy']:.4f}, macro F1 {report['macro_avg']['f1_score']:.4f} "
          f"({len(labels)} classes, {len(test)} texts)")
    _track(variant, config, cfg, params.seed, trained, report, info, plots, metrics_path)


def _track(variant, config, cfg, seed, trained, report, info, plots, metrics_path) -> None:
    """Log to MLflow after the outputs are safely written: a tracking failure loses nothing."""
    flat = {"test_accuracy": report["accuracy"], "test_macro_f1": report["macro_avg"]["f1_score"],
            "test_weighted_f1": report["weighted_avg"]["f1_score"]}
    ft = variant == "finetuned"
    run_params = {"variant": variant, "encoder": config["encoder"], "encoder_source": config["encoder_source"],
                  "head": config["head"]["variant"], "hidden": config["head"]["hidden"],
                  "dropout": config["head"]["dropout"], "max_tokens": config["max_tokens"],
                  "trainable_layers": config["trainable_layers"], "seed": seed,
                  "lr": cfg.finetune.lr if ft else cfg.head.lr, "head_lr": cfg.finetune.head_lr if ft else cfg.head.lr,
                  "batch": cfg.finetune.batch if ft else cfg.head.batch,
                  "max_epochs": trained["max_epochs"], "patience": cfg.patience,
                  "scheduler_factor": cfg.scheduler.factor, "scheduler_patience": cfg.scheduler.patience,
                  "corpus": info["corpus"], "classes": len(config["labels"]), "parameters": trained["parameters"]}
    try:
        run_id = tracking.log_run(
            experiment=EXPERIMENT, run_name=f"{TASK}/{variant}", params=run_params, history=trained["history"],
            metrics={**flat, "train_seconds": trained["train_seconds"], "best_epoch": trained["best_epoch"]},
            tags={"task": TASK, "variant": variant, "encoder": config["encoder"], "corpus": info["corpus"],
                  "dvc_data_md5": tracking.dvc_hash(str(layout.prepared(TASK))),
                  "dvc_model_md5": tracking.dvc_hash(str(layout.model_dir(TASK, variant)))},
            artifacts=[plots / "confusion.png", plots / "curves.png", metrics_path], model_dir=None)
        print(f"{TASK}/{variant}: logged to MLflow run {run_id} (experiment {EXPERIMENT})")
    except Exception as e:  # noqa: BLE001 - tracking must never cost the stage its outputs
        print(f"warning: {TASK}/{variant}: MLflow logging failed ({type(e).__name__}: {str(e).splitlines()[0]}); "
              f"outputs are kept, rerun `dvc repro -f news_evaluate@{variant}` once the tracking server is back",
              file=sys.stderr)
