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


def batches(seqs: list[list[int]], labels: np.ndarray, batch_size: int, pad_to: int | None = None,
            generator: torch.Generator | None = None) -> Iterator[tuple[torch.Tensor, torch.Tensor, torch.Tensor]]:
    """Yield (tokens, lengths, labels); shuffled when a generator is given."""
    order = torch.randperm(len(seqs), generator=generator) if generator is not None else torch.arange(len(seqs))
    y = torch.as_tensor(labels, dtype=torch.long)
    for start in range(0, len(seqs), batch_size):
        idx = order[start : start + batch_size]
        tokens, lengths = pad([seqs[i] for i in idx.tolist()], pad_to)
        yield tokens, lengths, y[idx]
