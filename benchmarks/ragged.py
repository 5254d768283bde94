"""Issue 7, item 4: ragged input on IMDB at full length — padded vs packed vs length-bucketed batches.

The project's training step (BiLSTM-max, 50-d embeddings, hidden 128, batch 64, reviews up to 1,000
tokens) over the same real reviews, in three input modes; throughput counts real (non-padding)
tokens per second. Baseline: padded batches (every review padded to 1,000).

    padded    pad to max_len, random batches: the recurrence runs over padding too (inexact for
              the last state; the max-pool masks nothing)
    packed    PackedSequence, random batches: exact, PyTorch's packed kernels
    bucketed  MaskedRecurrent on padded tensors, batches of similar length: exact, the pipeline's default

Needs the prepared data (`dvc pull` or `dvc repro imdb_full_vocab`). Run from the project root:
    .venv/bin/python -m benchmarks.ragged [--quick]
Test accuracies come from the pipeline's metrics files where the pipeline trained that mode.
"""

from __future__ import annotations

import json

import numpy as np
import torch
from torch import nn

from benchmarks import common
from rnnlab import layout
from rnnlab.batching import batches
from rnnlab.models import RecurrentClassifier
from rnnlab.classification import load_split
from rnnlab.vocab import Vocabulary

MAX_LEN, BATCH, VARIANT = 1000, 64, "bilstm-max"


def step_fn(model: nn.Module, optimizer, loss_fn, groups: list):
    """One training step per call, cycling over prepared batches."""
    state = {"i": 0}

    def step() -> None:
        tokens, lengths, y = groups[state["i"] % len(groups)]
        state["i"] += 1
        optimizer.zero_grad()
        loss_fn(model(tokens, lengths), y).backward()
        optimizer.step()

    return step


def mode_batches(split, mode: str, n_batches: int, seed: int = 0) -> list:
    gen = torch.Generator().manual_seed(seed)
    pad_to = MAX_LEN if mode == "padded" else None
    out = []
    for b in batches(split.seqs, split.labels, BATCH, pad_to, gen, bucket=(mode == "bucketed")):
        out.append(b)
        if len(out) == n_batches:
            break
    return out


def accuracy(mode: str) -> float | None:
    path = layout.metrics("imdb_full", layout.run_name(VARIANT, "glove", mode))
    return json.loads(path.read_text(encoding="utf-8"))["accuracy"] if path.is_file() else None


def main() -> None:
    args = common.setup(common.parser(__doc__.splitlines()[0], repeats=5, quick_repeats=2).parse_args())
    info = common.machine()
    vocab = Vocabulary.load(layout.vocab("imdb_full"))
    labels = json.loads((layout.prepared("imdb_full") / "corpus.json").read_text(encoding="utf-8"))["labels"]
    split = load_split("imdb_full", "train", vocab, labels, MAX_LEN)
    n_batches = 3 if args.quick else 8
    torch.manual_seed(0)
    matrix = np.random.default_rng(0).normal(0, 0.3, (len(vocab), 50)).astype(np.float32)
    fns, tokens = {}, {}
    for mode in ("padded", "packed", "bucketed"):
        model = RecurrentClassifier(matrix, VARIANT, len(labels), hidden=128, input_mode=mode)
        groups = mode_batches(split, mode, n_batches)
        tokens[mode] = sum(int(lengths.sum()) for _, lengths, _ in groups) / len(groups)
        optimizer = torch.optim.Adam(model.parameters(), lr=1e-3)
        fns[mode] = step_fn(model, optimizer, nn.CrossEntropyLoss(), groups)
    t = common.interleaved(fns, args.repeats * n_batches, warmup=1)
    rate = {mode: tokens[mode] / t[mode] for mode in fns}
    rows = [common.row(f"{mode}: real tokens/s", rate[mode], rate["padded"], "tok/s",
                       note=f"test accuracy {acc:.4f} (pipeline)" if (acc := accuracy(mode)) else "")
            for mode in fns]
    common.report(rows, args, f"IMDB at full length ({VARIANT}, batch {BATCH}, max_len {MAX_LEN}), one training step",
                  info, {"seconds_per_step": t, "real_tokens_per_batch": tokens})


if __name__ == "__main__":
    main()
