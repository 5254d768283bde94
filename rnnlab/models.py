"""Recurrent text classifiers: Elman RNN, LSTM, GRU; bidirectional, stacked, CNN-LSTM, pooled.

A variant is named by the grammar in rnnlab/variants.py, so that every task's `models:` list can
ask for any architecture (lstm, bigru, lstmx2, cnn-lstm, bilstm-attn, ...).
"""

from __future__ import annotations

import numpy as np
import torch
from torch import nn
from torch.nn.utils.rnn import pack_padded_sequence, pad_packed_sequence

from rnnlab import fused
from rnnlab.variants import VARIANTS, Architecture, parse_variant  # noqa: F401 - re-exported

# GRU and Elman RNN: rnnlab.fused's drop-in layers (same parameters and results as nn.GRU / nn.RNN,
# 1.2-1.5x faster forward + backward here, benchmarks/kernels.py); PackedSequence input falls back to
# PyTorch's own. nn.LSTM's oneDNN kernel is already fast (1.2x of MKL's sgemm rate).
CELLS = {"rnn": fused.RNN, "lstm": nn.LSTM, "gru": fused.GRU}


def _mask(lengths: torch.Tensor, width: int) -> torch.Tensor:
    return torch.arange(width, device=lengths.device)[None, :] < lengths[:, None]


class AttentionPool(nn.Module):
    """Additive attention over time steps; padding gets zero weight."""

    def __init__(self, dim: int):
        super().__init__()
        self.score = nn.Sequential(nn.Linear(dim, dim), nn.Tanh(), nn.Linear(dim, 1, bias=False))

    def forward(self, outputs: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        scores = self.score(outputs).squeeze(-1).masked_fill(~mask, float("-inf"))
        return (torch.softmax(scores, dim=1).unsqueeze(-1) * outputs).sum(1)


def reverse_within_length(x: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
    """Reverse each sequence's first `length` steps in place of time, leaving its padding at the end."""
    t = torch.arange(x.shape[1], device=x.device)[None, :]
    idx = torch.where(t < lengths[:, None], lengths[:, None] - 1 - t, t)
    return x.gather(1, idx[..., None].expand_as(x))


class MaskedRecurrent(nn.Module):
    """Exact variable-length recurrence on padded tensors (the fast path), for length-bucketed batches.

    PyTorch's PackedSequence gives exact per-sequence ends but runs 10-100x slower than a padded
    batch on this CPU (hidden 128 LSTM: ~2.7k vs ~158k tokens/s, forward + backward). Here every
    direction runs on the padded batch: the forward direction's state is read at each sequence's
    last real step (later padding steps do not reach it), and the backward direction reads each
    sequence reversed within its length, so its padding also comes after the real tokens.
    Length bucketing keeps the wasted padding steps few.
    """

    def __init__(self, cell: str, input_dim: int, hidden: int, layers: int, bidirectional: bool, dropout: float):
        super().__init__()
        dirs = 2 if bidirectional else 1
        self.cells = nn.ModuleList(
            nn.ModuleList(CELLS[cell](input_dim if l == 0 else hidden * dirs, hidden, batch_first=True)
                          for _ in range(dirs)) for l in range(layers))
        self.dropout = nn.Dropout(dropout if layers > 1 else 0.0)

    def forward(self, x: torch.Tensor, lengths: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """-> (outputs [batch, time, dirs * hidden] in original time order, last-step summary [batch, dirs * hidden])."""
        end = (lengths - 1).clamp(min=0)[:, None, None]
        for i, layer in enumerate(self.cells):
            if i:
                x = self.dropout(x)
            outs, lasts = [], []
            for d, rnn in enumerate(layer):
                out, _ = rnn(reverse_within_length(x, lengths) if d else x)
                lasts.append(out.gather(1, end.expand(-1, 1, out.shape[2])).squeeze(1))
                outs.append(reverse_within_length(out, lengths) if d else out)
            x = torch.cat(outs, dim=2)
        return x, torch.cat(lasts, dim=1)


class SequenceEncoder(nn.Module):
    """[batch, time, features] floats + true lengths -> [batch, out_dim] summary.

    input_mode "packed" runs each sequence over its real steps only with PyTorch's PackedSequence
    (the deck's ragged tensors); "bucketed" gives the same exact semantics on padded tensors
    with length-bucketed batches (MaskedRecurrent, much faster on CPU); "padded" runs over the
    padding too, as a fixed-length Keras model does.
    """

    def __init__(self, input_dim: int, variant: str, hidden: int = 64, layers: int = 1, dropout: float = 0.3,
                 input_mode: str = "packed", conv_channels: int = 128, conv_kernel: int = 5):
        super().__init__()
        arch = parse_variant(variant)
        self.arch, self.input_mode = arch, input_mode
        layers = arch.layers or layers
        self.conv = None
        if arch.cnn:  # Conv1d -> ReLU -> MaxPool1d(2): local n-gram features at half the sequence length
            self.conv = nn.Sequential(nn.Conv1d(input_dim, conv_channels, conv_kernel, padding=conv_kernel // 2),
                                      nn.ReLU(), nn.MaxPool1d(2, ceil_mode=True))
            input_dim = conv_channels
        self.directions = 2 if arch.bidirectional else 1
        if input_mode == "bucketed":
            self.rnn = MaskedRecurrent(arch.cell, input_dim, hidden, layers, arch.bidirectional, dropout)
        else:
            self.rnn = CELLS[arch.cell](input_dim, hidden, num_layers=layers, batch_first=True,
                                        bidirectional=arch.bidirectional, dropout=dropout if layers > 1 else 0.0)
        self.out_dim = hidden * self.directions
        self.attention = AttentionPool(self.out_dim) if arch.pooling == "attn" else None

    def forward(self, x: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
        if self.conv is not None:
            x = self.conv(x.transpose(1, 2)).transpose(1, 2)
            lengths = torch.div(lengths + 1, 2, rounding_mode="floor").clamp(min=1)
        width = x.shape[1]
        if self.input_mode == "bucketed":
            outputs, last = self.rnn(x, lengths)
            if self.arch.pooling == "last":
                return last
        elif self.input_mode == "padded":
            outputs, state = self.rnn(x)
        else:
            packed = pack_padded_sequence(x, lengths.cpu(), batch_first=True, enforce_sorted=False)
            outputs, state = self.rnn(packed)
            if self.arch.pooling != "last":
                outputs, _ = pad_packed_sequence(outputs, batch_first=True, total_length=width)
        if self.arch.pooling == "last":
            h = state[0] if isinstance(state, tuple) else state  # LSTM returns (h, c)
            # h: [layers * directions, batch, hidden]; the last layer's forward and backward states
            return torch.cat(list(h[-self.directions:]), dim=1)
        mask = _mask(lengths, width)
        if self.attention is not None:
            return self.attention(outputs, mask)
        if self.arch.pooling == "max":
            return outputs.masked_fill(~mask[..., None], float("-inf")).max(1).values
        return (outputs * mask[..., None]).sum(1) / lengths[:, None].clamp(min=1)


class RecurrentClassifier(nn.Module):
    """Embedding -> SequenceEncoder -> dropout -> linear head."""

    def __init__(self, embedding: np.ndarray, variant: str, n_classes: int, hidden: int = 64,
                 layers: int = 1, dropout: float = 0.3, input_mode: str = "packed", freeze: bool = False,
                 conv_channels: int = 128, conv_kernel: int = 5, embed_dropout: float = 0.0):
        super().__init__()
        self.variant, self.input_mode = variant, input_mode
        self.embedding = nn.Embedding.from_pretrained(torch.as_tensor(embedding), freeze=freeze, padding_idx=0)
        self.embed_dropout = nn.Dropout(embed_dropout)  # regularises long documents (IMDB), off by default
        self.encoder = SequenceEncoder(embedding.shape[1], variant, hidden, layers, dropout, input_mode,
                                       conv_channels, conv_kernel)
        self.dropout = nn.Dropout(dropout)
        self.head = nn.Linear(self.encoder.out_dim, n_classes)

    def encode(self, tokens: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
        """[batch, time] token ids -> [batch, out_dim] sequence summary."""
        return self.encoder(self.embed_dropout(self.embedding(tokens)), lengths)

    def forward(self, tokens: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
        return self.head(self.dropout(self.encode(tokens, lengths)))


def count_parameters(model: nn.Module, trainable_only: bool = True) -> int:
    return sum(p.numel() for p in model.parameters() if p.requires_grad or not trainable_only)
