"""Stage `<task>_evaluate@<variant>`: test-set report, confusion matrix, learning curves; MLflow run."""

from __future__ import annotations

import json
import sys

from rnnlab import atomic, evaluation, layout, metricsfile, news, newstraining, tracking, training
from rnnlab import params as P
from rnnlab.entry import run_stage
from rnnlab.errors import RnnlabError


def run(task: str, variant: str) -> None:
    newstraining.check_variant(variant)
    params = P.load()
    cfg = P.task(params, task, "news")
    training.deterministic_algorithms()
    model_dir = layout.model_dir(task, variant)
    model, config = news.load(model_dir)
    info = news.corpus_info(task)
    labels = info["labels"]
    if labels != config["labels"]:
        raise RnnlabError(f"{model_dir}: trained on other classes than {layout.prepared(task)} has (rerun {task}_train)")
    y, pred = newstraining.predict_test_split(task, variant, model, labels)
    report = evaluation.report(y, pred, labels)
    metrics_path = layout.metrics(task, variant)
    atomic.write_json(metrics_path, {"corpus": info["corpus"], "variant": variant, "classes": len(labels),
                                     "test_rows": len(y), "macro_f1": report["macro_avg"]["f1_score"], **report})

    trained = json.loads((model_dir / "train.json").read_text(encoding="utf-8"))
    plots = layout.plots(task, variant)
    title = f"{task} {variant} ({config['encoder']})"
    with atomic.output_dir(plots) as out:
        evaluation.plot_confusion(y, pred, labels, title, out / "confusion.png")
        evaluation.plot_curves(trained["history"], title, out / "curves.png")
        atomic.write_text(out / "history.csv", evaluation.history_csv(trained["history"]))
    print(f"{task}/{variant}: test accuracy {report['accuracy']:.4f}, macro F1 {report['macro_avg']['f1_score']:.4f} "
          f"({len(labels)} classes, {len(y)} texts)")
    _track(task, variant, config, cfg, params.seed, trained, report, info, plots, metrics_path)


def _track(task, variant, config, cfg, seed, trained, report, info, plots, metrics_path) -> None:
    """Log to MLflow after the outputs are safely written: a tracking failure loses nothing."""
    flat = {"test_accuracy": report["accuracy"], "test_macro_f1": report["macro_avg"]["f1_score"],
            "test_weighted_f1": report["weighted_avg"]["f1_score"]}
    tracking.log_or_warn(
        f"{task}/{variant}", f"{task}_evaluate@{variant}",
        experiment=f"rnnlab-{task}", run_name=f"{task}/{variant}",
        params=newstraining.run_params(config, cfg, seed, trained, info), history=trained["history"],
        metrics={**flat, **metricsfile.clock(task, variant), "best_epoch": trained["best_epoch"]},
        tags={"task": task, "variant": variant, "encoder": config["encoder"], "corpus": info["corpus"],
              "dvc_data_md5": tracking.dvc_hash(str(layout.prepared(task))),
              "dvc_model_md5": tracking.dvc_hash(str(layout.model_dir(task, variant)))},
        artifacts=[plots / "confusion.png", plots / "curves.png", metrics_path],
        trained=layout.model_dir(task, variant), data=layout.prepared(task))


if __name__ == "__main__":
    run_stage(run, sys.argv[1:])
