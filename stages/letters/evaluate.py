"""Stage `<task>_evaluate`: test-set reports for both heads, their confusion matrices, curves; MLflow run.

The author head is scored on the paragraphs by its seven authors only (Daudet's and Manzoni's
have no author class); the language head on every test paragraph. Accuracies are also given per
source: the Gutenberg paragraphs and the real letters.
"""

from __future__ import annotations

import json
import sys

from rnnlab import atomic, evaluation, layout, metricsfile, tracking
from rnnlab import letters as L
from rnnlab import params as P
from rnnlab.entry import run_stage
from rnnlab.letterstraining import check_run, test_metrics


def run(task: str, kind: str, variant: str) -> None:
    params = P.load()
    check_run(P.task(params, task, "letters"), task, kind, variant)
    name = L.run_name(kind, variant)
    model_dir = layout.model_dir(task, name)
    model, config = L.load_model(model_dir)
    authors, langs = config["authors"], config["langs"]
    scored = test_metrics(task, model, config)
    metrics = {"corpus": L.corpus_info(task)["corpus"], "run": name, "feature": kind, "variant": variant,
               **scored.metrics}
    atomic.write_json(layout.metrics(task, name), metrics)

    trained = json.loads((model_dir / "train.json").read_text(encoding="utf-8"))
    plots = layout.plots(task, name)
    with atomic.output_dir(plots) as out:
        evaluation.plot_confusion(*scored.author, [L.short_name(a) for a in authors], f"author, {name}",
                                  out / "author_confusion.png")
        evaluation.plot_confusion(*scored.lang, langs, f"language, {name}", out / "lang_confusion.png")
        evaluation.plot_curves(trained["history"], f"{task} {name}", out / "curves.png",
                               metrics=("loss", "author_accuracy", "lang_accuracy"))
        atomic.write_text(out / "history.csv", evaluation.history_csv(trained["history"]))
    print(f"{task}/{name}: author accuracy {metrics['author_accuracy']:.4f} (macro F1 "
          f"{metrics['author_macro_f1']:.4f}), language accuracy {metrics['lang_accuracy']:.4f}")
    _track(task, name, config, params.seed, trained, metrics, model_dir, plots)


def _track(task, name, config, seed, trained, metrics, model_dir, plots) -> None:
    """Log to MLflow after the outputs are written: a tracking failure loses nothing."""
    flat = {k: metrics[k] for k in ("author_accuracy", "author_macro_f1", "lang_accuracy", "lang_macro_f1")}
    for head in ("author", "lang"):
        for label, row in metrics[head].items():
            if isinstance(row, dict):
                flat.update({f"{head}_{label.replace(' ', '_')}_{k}": v for k, v in row.items() if k != "support"})
    for s, row in metrics["by_source"].items():
        flat.update({f"{s}_{k}": v for k, v in row.items() if v is not None and k.endswith(("accuracy", "macro_f1"))})
    run_params = {**{k: v for k, v in config.items() if k not in ("authors", "langs")}, "seed": seed,
                  "lr": trained["lr"], "batch": trained["batch"], "max_epochs": trained["max_epochs"],
                  "patience": trained["patience"], "parameters": trained["parameters"], "corpus": metrics["corpus"]}
    tracking.log_or_warn(
        f"{task}/{name}", f"{task}_evaluate@{name}",
        experiment=f"rnnlab-{task}", run_name=f"{task}/{name}", params=run_params, history=trained["history"],
        metrics={**flat, **metricsfile.clock(task, name)},
        tags={"task": task, "feature": config["feature"], "variant": config["variant"],
              "corpus": metrics["corpus"], "dvc_data_md5": tracking.dvc_hash(str(layout.prepared(task))),
              "dvc_model_md5": tracking.dvc_hash(str(model_dir))},
        artifacts=[plots / "author_confusion.png", plots / "lang_confusion.png", plots / "curves.png",
                   layout.metrics(task, name)], trained=model_dir, data=layout.prepared(task))


if __name__ == "__main__":
    run_stage(run, sys.argv[1:])
