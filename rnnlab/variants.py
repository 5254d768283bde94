"""The variant grammar: one name per recurrent architecture, shared by the schema and the models.

    [cnn-][bi](rnn|lstm|gru)[xN][-attn|-max|-mean]
    lstm           one LSTM layer, the last hidden state classifies
    bigru          bidirectional GRU, forward and backward final states concatenated
    lstmx2         two stacked LSTM layers
    cnn-lstm       Conv1d + max-pool over the embeddings, then an LSTM (deck 000's CNN-LSTM)
    bilstm-attn    attention pooling over all time steps instead of the last state (deck 000, "Erweiterungen")
"""

from __future__ import annotations

import re
from dataclasses import dataclass

VARIANTS = ("rnn", "lstm", "gru", "birnn", "bilstm", "bigru")  # the plain ones; the grammar allows more
GRAMMAR = re.compile(r"^(?P<cnn>cnn-)?(?P<bi>bi)?(?P<cell>rnn|lstm|gru)(?:x(?P<layers>[1-4]))?(?:-(?P<pool>attn|max|mean))?$")


@dataclass(frozen=True)
class Architecture:
    cell: str
    bidirectional: bool = False
    layers: int | None = None  # None: the task's train.layers
    cnn: bool = False
    pooling: str = "last"


def parse_variant(variant: str) -> Architecture:
    """'cnn-bilstmx2-attn' -> Architecture('lstm', True, 2, True, 'attn')."""
    m = GRAMMAR.match(variant)
    if not m:
        raise ValueError(f"unknown variant {variant!r}: expected [cnn-][bi](rnn|lstm|gru)[xN][-attn|-max|-mean], "
                         f"e.g. {', '.join(VARIANTS)}, lstmx2, cnn-lstm, bilstm-attn")
    return Architecture(m["cell"], bool(m["bi"]), int(m["layers"]) if m["layers"] else None, bool(m["cnn"]),
                        m["pool"] or "last")
