"""Stage `<task>_vocab`: the vocabulary of the training split."""

from __future__ import annotations

import sys

import pandas as pd

from rnnlab import layout
from rnnlab import params as P
from rnnlab.entry import run_stage
from rnnlab.vocab import Vocabulary


def run(task: str) -> None:
    cfg = P.task(P.load(), task)
    train = pd.read_csv(layout.prepared(task) / "train.csv", keep_default_na=False)
    vocab = Vocabulary.build(train["text"], cfg.vocab.min_freq, cfg.vocab.max_size, cfg.vocab.lowercase)
    vocab.save(layout.vocab(task))
    print(f"{task}: vocabulary of {len(vocab)} tokens (incl. padding and unknown)")


if __name__ == "__main__":
    run_stage(run, sys.argv[1:])
