"""Stage `<task>_vocab`: the vocabulary of the training split."""

from __future__ import annotations

import sys

import pandas as pd

from rnnlab import layout
from rnnlab import params as P
from rnnlab.entry import run_stage
from rnnlab.errors import RnnlabError
from rnnlab.vocab import Vocabulary

MIN_COVERAGE = 0.5  # below this share of known training tokens a model sees mostly <unk> and learns a constant


def run(task: str) -> None:
    cfg = P.task(P.load(), task)
    train = pd.read_csv(layout.prepared(task) / "train.csv", keep_default_na=False)
    v = cfg.vocab
    vocab = Vocabulary.build(train["text"], v.min_freq, v.max_size, v.lowercase, v.digits)
    tokens = [t for text in train["text"] for t in vocab.tokens(text)]
    coverage = sum(t in vocab.stoi for t in tokens) / max(len(tokens), 1)
    if coverage < MIN_COVERAGE:
        raise RnnlabError(f"params.yaml: tasks.{task}.vocab: {len(vocab) - 2:,} tokens cover {coverage:.1%} of the training "
                          f"split's words (under {MIN_COVERAGE:.0%}), so most read as unknown; raise max_size or lower min_freq")
    vocab.save(layout.vocab(task))
    print(f"{task}: vocabulary of {len(vocab)} tokens (incl. padding and unknown), {coverage:.1%} of training words")


if __name__ == "__main__":
    run_stage(run, sys.argv[1:])
