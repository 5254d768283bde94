"""Stage `<task>_baseline`: the linear n-gram reference (NB-LR, rnnlab/ngrams.py) on the task's split, scored as
the recurrent runs are: its report beside theirs, its test predictions for McNemar's test against the best."""

from __future__ import annotations

import sys
import time

import pandas as pd

from rnnlab import atomic, evaluation, layout, ngrams
from rnnlab import params as P
from rnnlab.classification import labels_of
from rnnlab.entry import run_stage
from rnnlab.vocab import tokenize

NAME = "baseline"  # its files: metrics/<task>/baseline.json, plots/<task>/baseline/


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


if __name__ == "__main__":
    run_stage(run, sys.argv[1:])
