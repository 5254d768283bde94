"""Stage `<task>_baseline`: the linear n-gram reference (NB-LR, rnnlab/ngrams.py) on the task's split, scored as
the recurrent runs are: its report beside theirs, its test predictions for McNemar's test against the best."""

from __future__ import annotations

import json
import sys
import time

import pandas as pd

from rnnlab import atomic, evaluation, layout, ngrams, tracking
from rnnlab import params as P
from rnnlab.classification import labels_of
from rnnlab.entry import run_stage
from rnnlab.vocab import tokenize

NAME = ngrams.RUN_NAME


def run(task: str) -> None:
    cfg = P.task(P.load(), task)
    b, labels = cfg.baseline, labels_of(task)
    split = {s: pd.read_csv(layout.prepared(task) / f"{s}.csv", keep_default_na=False) for s in ("train", "test")}
    y = {s: split[s]["label"].map({l: i for i, l in enumerate(labels)}).to_numpy() for s in split}
    start = time.perf_counter()
    # the tokens the runs read: the same tokenizer, cut at max_len (the deck's IMDB setup reads 50 of them)
    words = lambda text: tokenize(text, cfg.vocab.lowercase, cfg.vocab.digits)[:cfg.max_len]  # noqa: E731
    x, (test,) = ngrams.features(split["train"]["text"].tolist(), [split["test"]["text"].tolist()], words,
                                 tuple(b.ngrams), b.min_df)
    (probs,) = ngrams.fit_scores(x, y["train"], len(labels), b.C, [test])
    seconds = time.perf_counter() - start
    report = evaluation.report(y["test"], probs.argmax(1), labels)
    atomic.write_json(layout.metrics(task, NAME), {**report, "ngram_features": x.shape[1]})
    atomic.write_json(layout.timing(task, NAME), {"train_seconds": round(seconds, 1)})  # a clock: not in the metrics
    with atomic.output_dir(layout.plots(task, NAME)) as out:
        evaluation.plot_confusion(y["test"], probs.argmax(1), labels, f"{task} {NAME} (NB-LR)", out / "confusion.png")
    print(f"{task}/{NAME}: NB-LR on {x.shape[1]:,} n-grams, test accuracy {report['accuracy']:.4f} ({seconds:.0f} s)")
    _track(task, cfg, report, x.shape[1], seconds)


def _track(task: str, cfg, report: dict, features: int, seconds: float) -> None:
    """One MLflow run beside the recurrent runs (rnnlab-<task>/<task>/baseline): after the outputs are written."""
    corpus = json.loads((layout.prepared(task) / "corpus.json").read_text(encoding="utf-8"))["corpus"]
    flat = {"test_accuracy": report["accuracy"], **{f"test_{label}_{k}": v for label, row in report.items()
                                                   if isinstance(row, dict) for k, v in row.items() if k != "support"}}
    tracking.log_or_warn(
        f"{task}/{NAME}", f"{task}_baseline", experiment=f"rnnlab-{task}", run_name=f"{task}/{NAME}",
        params={"model": "NB-LR", **cfg.baseline.model_dump(), "max_len": cfg.max_len, "ngram_features": features,
                "lowercase": cfg.vocab.lowercase, "digits": cfg.vocab.digits, "corpus": corpus},
        history=[], metrics={**flat, "train_seconds": seconds},
        tags={"task": task, "variant": "baseline", "corpus": corpus, "baseline": "true",
              "dvc_data_md5": tracking.dvc_hash(str(layout.prepared(task)))},
        artifacts=[layout.metrics(task, NAME), layout.plots(task, NAME) / "confusion.png"], data=layout.prepared(task))


if __name__ == "__main__":
    run_stage(run, sys.argv[1:])
