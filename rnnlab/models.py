"""Recurrent text classifiers: Elman RNN, LSTM, GRU, each optionally bidirectional and stacked."""

from __future__ import annotations

import numpy as np
import torch
from torch import nn
from torch.nn.utils.rnn import pack_padded_sequence

CELLS = {"rnn": nn.RNN, "lstm": nn.LSTM, "gru": nn.GRU}
VARIANTS = ("rnn", "lstm", "gru", "birnn", "bilstm", "bigru")


def parse_variant(variant: str) -> tuple[str, bool]:
    """'bilstm' -> ('lstm', True)."""
    if variant not in VARIANTS:
        raise ValueError(f"unknown variant {variant!r}; choose from {', '.join(VARIANTS)}")
    bidirectional = variant.startswith("bi")
    return variant.removeprefix("bi"), bidirectional


class RecurrentClassifier(nn.Module):
    """Embedding -> recurrent encoder -> final hidden state(s) -> dropout -> linear.

    input_mode "packed" runs each sequence only over its real tokens (the deck's ragged
    tensors); "padded" runs over the padding too, as a fixed-length Keras model does.
    """

    def __init__(self, embedding: np.ndarray, variant: str, n_classes: int, hidden: int = 64,
                 layers: int = 1, dropout: float = 0.3, input_mode: str = "packed", freeze: bool = False):
        super().__init__()
        cell, bidirectional = parse_variant(variant)
        self.variant, self.input_mode = variant, input_mode
        self.embedding = nn.Embedding.from_pretrained(torch.as_tensor(embedding), freeze=freeze, padding_idx=0)
        self.rnn = CELLS[cell](embedding.shape[1], hidden, num_layers=layers, batch_first=True,
                               bidirectional=bidirectional, dropout=dropout if layers > 1 else 0.0)
        self.directions = 2 if bidirectional else 1
        self.dropout = nn.Dropout(dropout)
        self.head = nn.Linear(hidden * self.directions, n_classes)

    def encode(self, tokens: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
        """[batch, time] token ids -> [batch, directions * hidden] sequence summary."""
        x = self.embedding(tokens)
        if self.input_mode == "packed":
            x = pack_padded_sequence(x, lengths.cpu(), batch_first=True, enforce_sorted=False)
        _, state = self.rnn(x)
        h = state[0] if isinstance(state, tuple) else state  # LSTM returns (h, c)
        # h: [layers * directions, batch, hidden]; the last layer's forward and backward states
        return torch.cat(list(h[-self.directions:]), dim=1)

    def forward(self, tokens: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
        return self.head(self.dropout(self.encode(tokens, lengths)))


def count_parameters(model: nn.Module, trainable_only: bool = True) -> int:
    return sum(p.numel() for p in model.parameters() if p.requires_grad or not trainable_only)
