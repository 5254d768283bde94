"""Stage `<task>_evaluate@RUN`: test-set report, confusion matrix, learning curves; logs the run to MLflow."""

from __future__ import annotations

import json
import sys

from rnnlab import atomic, checkpoint, evaluation, layout, metricsfile, pyfunc, tracking
from rnnlab import params as P
from rnnlab.classification import labels_of, test_report
from rnnlab.entry import run_stage


def run(task: str, variant: str, kind: str, input_mode: str) -> None:
    params = P.load()
    cfg = P.task(params, task)
    name = layout.run_name(variant, kind, input_mode)
    model_dir = layout.model_dir(task, name)
    model, config, vocab = checkpoint.load(model_dir)
    labels = labels_of(task)
    test, probs, report = test_report(task, model, vocab, input_mode)
    corpus = json.loads((layout.prepared(task) / "corpus.json").read_text(encoding="utf-8"))["corpus"]
    atomic.write_json(layout.metrics(task, name), {"corpus": corpus, **report})

    trained = json.loads((model_dir / "train.json").read_text(encoding="utf-8"))
    plots = layout.plots(task, name)
    with atomic.output_dir(plots) as out:
        evaluation.plot_confusion(test.labels, probs.argmax(1), labels, f"{task} {name}", out / "confusion.png")
        evaluation.plot_curves(trained["history"], f"{task} {name}", out / "curves.png")
        atomic.write_text(out / "history.csv", evaluation.history_csv(trained["history"]))
    print(f"{task}/{name}: test accuracy {report['accuracy']:.4f}, macro F1 {report['macro_avg']['f1_score']:.4f}")
    _track(task, name, config, cfg, params.seed, trained, report, corpus, model_dir, plots)


def _track(task, name, config, cfg, seed, trained, report, corpus, model_dir, plots) -> None:
    """Log to MLflow after the outputs are safely written: a tracking failure loses nothing."""
    flat = {"test_accuracy": report["accuracy"]}
    for label, row in report.items():
        if isinstance(row, dict):
            flat.update({f"test_{label}_{k}": v for k, v in row.items() if k != "support"})
    run_params = {**{k: v for k, v in config.items() if k != "labels"}, "seed": seed, "lr": cfg.train.lr,
                  "batch_size": cfg.train.batch_size, "max_epochs": cfg.train.max_epochs,
                  "patience": cfg.train.patience, "corpus": corpus, "parameters": trained["parameters"]}
    tracking.log_or_warn(
        f"{task}/{name}", f"{task}_evaluate@{name}",
        experiment=f"rnnlab-{task}", run_name=f"{task}/{name}", params=run_params, history=trained["history"],
        metrics={**flat, **metricsfile.clock(task, name)},
        tags={"task": task, "variant": config["variant"], "embedding": config["embedding"],
              "input_mode": config["input_mode"], "corpus": corpus,
              "dvc_data_md5": tracking.dvc_hash(str(layout.prepared(task))),
              "dvc_model_md5": tracking.dvc_hash(str(model_dir))},
        artifacts=[plots / "confusion.png", plots / "curves.png", layout.metrics(task, name)],
        log_model=lambda: pyfunc.log_text_classifier(f"{task}-{name}", model_dir, _examples(task)),
        trained=model_dir, data=layout.prepared(task))


def _examples(task: str) -> list[str]:
    """Three test texts, the logged model's input example."""
    import pandas as pd

    return pd.read_csv(layout.prepared(task) / "test.csv", keep_default_na=False, nrows=3)["text"].tolist()


if __name__ == "__main__":
    run_stage(run, sys.argv[1:])
