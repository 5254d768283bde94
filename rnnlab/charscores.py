"""Each held-out character's bits under a character LM, summed per line: what a paired comparison of two
models needs (rnnlab/significance.py's bootstrap), where bits per character alone gives one number.

The models read the text as rnnlab/charlm.py's bits_per_char does (the whole stream, or the deck's
windows); that function stays the one that makes the reported bits/char, this one only splits them."""

from __future__ import annotations

import csv
import math
from pathlib import Path

import numpy as np
import torch
from torch import nn

from rnnlab import device


@torch.no_grad()
def char_bits(model, ids: torch.Tensor, window: int | None, chunk: int = 256, batch: int = 1024) -> np.ndarray:
    """Bits of each character after the first, predicted from the text before it (float64)."""
    model.eval()
    ids = device.to(ids)
    parts = []
    if window:  # the deck's model: the `window` characters before each target, UNK-padded at the start
        padded = torch.cat([torch.zeros(window - 1, dtype=torch.long, device=ids.device), ids])
        for start in range(0, len(ids) - 1, batch):
            idx = torch.arange(start, min(start + batch, len(ids) - 1), device=ids.device)
            logits, _ = model(padded[idx.unsqueeze(1) + torch.arange(window, device=ids.device)])
            parts.append(nn.functional.cross_entropy(logits[:, -1], ids[idx + 1], reduction="none"))
    else:  # a stream model: state carried through the whole text
        state = None
        for start in range(0, len(ids) - 1, chunk):
            x, y = ids[start: start + chunk], ids[start + 1: start + chunk + 1]
            logits, state = model(x[: len(y)].unsqueeze(0), state)
            parts.append(nn.functional.cross_entropy(logits[0], y, reduction="none"))
    return torch.cat(parts).double().cpu().numpy() / math.log(2)


def per_line(text: str, bits: np.ndarray) -> list[tuple[int, int, float]]:
    """(line number, characters scored, their bits) for each line of `text`; a character counts on the
    line it belongs to (a newline ends its line). The first character of the text is never scored."""
    if len(bits) != len(text) - 1:
        raise ValueError(f"{len(bits)} scores for a text of {len(text)} characters")
    line_of = np.cumsum([0] + [c == "\n" for c in text[:-1]])[1:]  # the line of characters 1..n-1
    lines = np.bincount(line_of)
    sums = np.bincount(line_of, weights=bits)
    return [(i, int(n), float(s)) for i, (n, s) in enumerate(zip(lines, sums)) if n]


def lines_csv(rows) -> str:
    """(line, characters, bits) rows as the evaluate stage writes them beside its curves."""
    return "line,chars,bits\n" + "".join(f"{i},{n},{x:.6f}\n" for i, n, x in rows)


def read_lines(path: Path) -> list[tuple[int, float]]:
    """(characters, bits) per line, in text order, from lines_csv's file."""
    with open(path, newline="", encoding="utf-8") as f:
        return [(int(r["chars"]), float(r["bits"])) for r in csv.DictReader(f)]
