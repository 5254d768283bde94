"""Token-id sequences -> padded batch tensors (with their true lengths)."""

from __future__ import annotations

from typing import Iterator

import numpy as np
import torch

from rnnlab.vocab import Vocabulary


def encode(texts, vocab: Vocabulary, max_len: int) -> list[list[int]]:
    return [vocab.encode(t, max_len) for t in texts]


def pad(seqs: list[list[int]], pad_to: int | None = None) -> tuple[torch.Tensor, torch.Tensor]:
    """Right-pad with id 0 to pad_to (or the longest sequence); return (tokens, lengths)."""
    lengths = torch.tensor([len(s) for s in seqs], dtype=torch.long)
    width = pad_to or int(lengths.max())
    tokens = torch.zeros(len(seqs), width, dtype=torch.long)
    for i, s in enumerate(seqs):
        tokens[i, : len(s)] = torch.as_tensor(s[:width])
    return tokens, lengths.clamp(max=width)


BUCKET_POOL = 50  # batches whose examples are sorted together by length


def bucketed_order(lengths: list[int], batch_size: int, generator: torch.Generator) -> list[torch.Tensor]:
    """Shuffled batches of similar-length sequences: shuffle, sort within pools of 50 batches, shuffle batches.

    Long reviews then share a batch with long ones, so a packed batch wastes little on padding,
    while the pools keep each epoch's batches random.
    """
    order = torch.randperm(len(lengths), generator=generator)
    size = torch.as_tensor(lengths)
    out = []
    for start in range(0, len(order), batch_size * BUCKET_POOL):
        pool = order[start : start + batch_size * BUCKET_POOL]
        pool = pool[torch.argsort(size[pool], stable=True)]
        out += list(torch.split(pool, batch_size))
    return [out[i] for i in torch.randperm(len(out), generator=generator).tolist()]


def batches(seqs: list[list[int]], labels: np.ndarray, batch_size: int, pad_to: int | None = None,
            generator: torch.Generator | None = None, bucket: bool = False,
            ) -> Iterator[tuple[torch.Tensor, torch.Tensor, torch.Tensor]]:
    """Yield (tokens, lengths, labels); shuffled when a generator is given, length-bucketed if asked."""
    y = torch.as_tensor(labels, dtype=torch.long)
    if bucket and generator is not None:
        groups = bucketed_order([len(s) for s in seqs], batch_size, generator)
    else:
        order = torch.randperm(len(seqs), generator=generator) if generator is not None else torch.arange(len(seqs))
        groups = torch.split(order, batch_size)
    for idx in groups:
        tokens, lengths = pad([seqs[i] for i in idx.tolist()], pad_to)
        yield tokens, lengths, y[idx]
