"""Stage `<task>_evaluate@<variant>`: test-set report, confusion matrix, learning curves; MLflow run."""

from __future__ import annotations

import json
import sys

import torch

from rnnlab import atomic, device, evaluation, layout, metricsfile, news, tracking, training
from rnnlab import params as P
from rnnlab.entry import run_stage
from rnnlab.errors import RnnlabError


def run(task: str, variant: str) -> None:
    if variant not in news.VARIANTS:
        raise RnnlabError(f"unknown news variant {variant!r} (expected one of {', '.join(news.VARIANTS)})")
    params = P.load()
    cfg = P.task(params, task, "news")
    training.deterministic_algorithms()
    model_dir = layout.model_dir(task, variant)
    model, config = news.load(model_dir)
    info = news.corpus_info(task)
    labels = info["labels"]
    if labels != config["labels"]:
        raise RnnlabError(f"{model_dir}: trained on other classes than {layout.prepared(task)} has (rerun {task}_train)")
    test = news.split_table(task, "test")
    y = news.label_ids(test, labels)
    with torch.no_grad():
        if variant == "frozen":
            logits = model(device.to(news.sentence_vectors(task, "test"))).cpu()
        else:
            logits = news.logits_from_ids(model, model.sbert.token_ids(test["text"].tolist()))
    pred = logits.argmax(1).numpy()
    report = evaluation.report(y, pred, labels)
    metrics_path = layout.metrics(task, variant)
    atomic.write_json(metrics_path, {"corpus": info["corpus"], "variant": variant, "classes": len(labels),
                                     "test_rows": len(test), "macro_f1": report["macro_avg"]["f1_score"], **report})

    trained = json.loads((model_dir / "train.json").read_text(encoding="utf-8"))
    plots = layout.plots(task, variant)
    title = f"{task} {variant} ({config['encoder']})"
    with atomic.output_dir(plots) as out:
        evaluation.plot_confusion(y, pred, labels, title, out / "confusion.png")
        evaluation.plot_curves(trained["history"], title, out / "curves.png")
        atomic.write_text(out / "history.csv", evaluation.history_csv(trained["history"]))
    print(f"{task}/{variant}: test accuracy {report['accuracy']:.4f}, macro F1 {report['macro_avg']['f1_score']:.4f} "
          f"({len(labels)} classes, {len(test)} texts)")
    _track(task, variant, config, cfg, params.seed, trained, report, info, plots, metrics_path)


def _track(task, variant, config, cfg, seed, trained, report, info, plots, metrics_path) -> None:
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
    tracking.log_or_warn(
        f"{task}/{variant}", f"{task}_evaluate@{variant}",
        experiment=f"rnnlab-{task}", run_name=f"{task}/{variant}", params=run_params, history=trained["history"],
        metrics={**flat, **metricsfile.clock(task, variant), "best_epoch": trained["best_epoch"]},
        tags={"task": task, "variant": variant, "encoder": config["encoder"], "corpus": info["corpus"],
              "dvc_data_md5": tracking.dvc_hash(str(layout.prepared(task))),
              "dvc_model_md5": tracking.dvc_hash(str(layout.model_dir(task, variant)))},
        artifacts=[plots / "confusion.png", plots / "curves.png", metrics_path],
        trained=layout.model_dir(task, variant), data=layout.prepared(task))


if __name__ == "__main__":
    run_stage(run, sys.argv[1:])
