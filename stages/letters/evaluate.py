"""Stage `<task>_evaluate`: test-set reports for both heads, their confusion matrices, curves; MLflow run.

The author head is scored on the paragraphs by its seven authors only (Daudet's and Manzoni's
have no author class); the language head on every test paragraph. Accuracies are also given per
source: the Gutenberg paragraphs and the real letters.
"""

from __future__ import annotations

import json
import sys

import pandas as pd

from rnnlab import atomic, evaluation, layout, metricsfile, tracking
from rnnlab import letters as L
from rnnlab import params as P
from rnnlab.entry import run_stage
from rnnlab.errors import RnnlabError


def run(task: str, kind: str, variant: str) -> None:
    params = P.load()
    cfg = P.task(params, task, "letters")
    if kind not in cfg.features or variant not in cfg.models:
        raise RnnlabError(f"params.yaml: tasks.{task}.features x models has no {kind}-{variant}")
    name = L.run_name(kind, variant)
    model_dir = layout.model_dir(task, name)
    model, config = L.load_model(model_dir)
    info = L.corpus_info(task)
    authors, langs = config["authors"], config["langs"]
    test = L.load_data(task, kind, "test", authors, langs, config["max_len"])
    source = pd.read_csv(layout.prepared(task) / "test.csv", keep_default_na=False)["source"].to_numpy()
    pa, pl = L.predict(model, test)
    ya, yl = pa.argmax(1), pl.argmax(1)
    known = test.author != L.NO_AUTHOR
    author = evaluation.report(test.author[known], ya[known], authors)
    lang = evaluation.report(test.lang, yl, langs)
    by_source = {}
    for s in sorted(set(source)):
        rows, k = source == s, (source == s) & known
        by_source[s] = {"rows": int(rows.sum()), "author_rows": int(k.sum()),
                        "author_accuracy": round(float((ya[k] == test.author[k]).mean()), 6) if k.any() else None,
                        "author_macro_f1": (evaluation.report(test.author[k], ya[k], authors)["macro_avg"]["f1_score"]
                                            if k.any() else None),
                        "lang_accuracy": round(float((yl[rows] == test.lang[rows]).mean()), 6)}
    metrics = {"corpus": info["corpus"], "run": name, "feature": kind, "variant": variant,
               "author_accuracy": author["accuracy"], "author_macro_f1": author["macro_avg"]["f1_score"],
               "lang_accuracy": lang["accuracy"], "lang_macro_f1": lang["macro_avg"]["f1_score"],
               # the two headline scores: book paragraphs and the real letters, apart
               "books_author_macro_f1": by_source.get("gutenberg", {}).get("author_macro_f1"),
               "letters_author_accuracy": by_source.get("letters", {}).get("author_accuracy"),
               "author": author, "lang": lang, "by_source": by_source}
    atomic.write_json(layout.metrics(task, name), metrics)

    trained = json.loads((model_dir / "train.json").read_text(encoding="utf-8"))
    plots = layout.plots(task, name)
    with atomic.output_dir(plots) as out:
        evaluation.plot_confusion(test.author[known], ya[known], [L.short_name(a) for a in authors],
                                  f"author, {name}", out / "author_confusion.png")
        evaluation.plot_confusion(test.lang, yl, langs, f"language, {name}", out / "lang_confusion.png")
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
