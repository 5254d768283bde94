"""Character-level language models: recurrent next-character predictors and text generation.

Two ways to train the same network (rnnlab/lmtraining.py):
- streams: every character predicts the next, hidden state carried across chunks
  (truncated backpropagation through time) — the project's way;
- windows: 40-character one-hot windows, one target each — the deck's formulation.
"""

from __future__ import annotations

import json
import math

import torch
from torch import nn

from rnnlab import device
from rnnlab.models import CELLS

UNK = "\ufffd"  # stands for characters the training text never showed
PROSE = "prose.txt"  # in a task's prepared data: the text the `pretrained` model reads first


class CharVocab:
    def __init__(self, chars: list[str]):
        self.itos = [UNK, *[c for c in chars if c != UNK]]
        self.stoi = {c: i for i, c in enumerate(self.itos)}

    @classmethod
    def build(cls, text: str) -> "CharVocab":
        return cls(sorted(set(text)))

    def __len__(self) -> int:
        return len(self.itos)

    def encode(self, text: str) -> torch.Tensor:
        return torch.tensor([self.stoi.get(c, 0) for c in text], dtype=torch.long)

    def decode(self, ids) -> str:
        return "".join(self.itos[int(i)] for i in ids)


class CharLM(nn.Module):
    """(one-hot or embedded) characters -> LSTM/GRU/RNN -> next-character logits at every step."""

    def __init__(self, n_chars: int, cell: str = "lstm", hidden: int = 128, layers: int = 1,
                 embed_dim: int | None = None, dropout: float = 0.0):
        super().__init__()
        self.n_chars, self.cell = n_chars, cell
        self.embed = nn.Embedding(n_chars, embed_dim) if embed_dim else None
        self.rnn = CELLS[cell](embed_dim or n_chars, hidden, num_layers=layers, batch_first=True,
                               dropout=dropout if layers > 1 else 0.0)
        self.drop = nn.Dropout(dropout)
        self.head = nn.Linear(hidden, n_chars)

    def forward(self, ids: torch.Tensor, state=None):
        x = self.embed(ids) if self.embed is not None else nn.functional.one_hot(ids, self.n_chars).float()
        out, state = self.rnn(x, state)
        return self.head(self.drop(out)), state


def detach(state):
    if state is None:
        return None
    return tuple(s.detach() for s in state) if isinstance(state, tuple) else state.detach()


@torch.no_grad()
def bits_per_char_stream(model: CharLM, ids: torch.Tensor, chunk: int = 256) -> float:
    """Each character predicted from everything before it (state carried through the text)."""
    model.eval()
    state, total, ids = None, 0.0, device.to(ids)
    for start in range(0, len(ids) - 1, chunk):
        x = ids[start: start + chunk].unsqueeze(0)
        y = ids[start + 1: start + chunk + 1].unsqueeze(0)
        logits, state = model(x[:, : y.shape[1]], state)
        total += nn.functional.cross_entropy(logits.reshape(-1, model.n_chars), y.reshape(-1), reduction="sum").item()
    return total / (len(ids) - 1) / math.log(2)


def bits_per_char(model: CharLM, ids: torch.Tensor, window: int | None) -> float:
    """Held-out bits per character as the model reads text: through `window` characters (the deck's), else
    the whole stream."""
    return bits_per_char_windows(model, ids, window) if window else bits_per_char_stream(model, ids)


@torch.no_grad()
def bits_per_char_windows(model: CharLM, ids: torch.Tensor, window: int, batch: int = 1024) -> float:
    """Each character predicted from the `window` characters before it (the deck's model sees no more)."""
    model.eval()
    ids = device.to(ids)
    padded = torch.cat([torch.zeros(window - 1, dtype=torch.long, device=ids.device), ids])  # UNK-padding at the start
    total, n = 0.0, len(ids) - 1
    for start in range(0, n, batch):
        idx = torch.arange(start, min(start + batch, n), device=ids.device)
        x = padded[idx.unsqueeze(1) + torch.arange(window, device=ids.device)]
        logits, _ = model(x)
        total += nn.functional.cross_entropy(logits[:, -1], ids[idx + 1], reduction="sum").item()
    return total / n / math.log(2)


@torch.no_grad()
def generate(model: CharLM, vocab: CharVocab, prompt: str, length: int = 400, temperature: float = 0.5,
             seed: int = 0, window: int | None = None) -> str:
    """Continue prompt by sampling; window=N feeds only the last N characters (the deck's model)."""
    model.eval()
    g = torch.Generator().manual_seed(seed)
    ids = vocab.encode(prompt or "\n")
    out = []
    if window:
        context = ids[-window:]
        context = torch.cat([vocab.encode(" " * (window - len(context))), context])  # the deck's rjust
    if window:
        context = device.to(context)
    logits, state = model(device.to(context if window else ids).unsqueeze(0))
    for _ in range(length):
        # sampled on the CPU from a CPU generator: the same draws whatever device computed the logits
        probs = torch.softmax(logits[0, -1] / max(temperature, 1e-6), dim=-1).cpu()
        nxt = device.to(torch.multinomial(probs, 1, generator=g))
        out.append(int(nxt))
        if window:
            context = torch.cat([context[1:], nxt])
            logits, _ = model(context.unsqueeze(0))
        else:
            logits, state = model(nxt.view(1, 1), state)
    return vocab.decode(out)


def save(model: CharLM, config: dict, vocab: CharVocab, out) -> None:
    from pathlib import Path

    from rnnlab import atomic, modeldir

    modeldir.save(model, {"kind": "charlm", **config}, out)
    atomic.write_json(Path(out) / "chars.json", vocab.itos)


def load(model_dir) -> tuple[CharLM, dict, CharVocab]:
    from pathlib import Path

    from rnnlab import modeldir

    d = Path(model_dir)
    modeldir.read_config(d, also=("chars.json",))  # the files are there, none of them a link
    vocab = CharVocab(json.loads((d / "chars.json").read_text(encoding="utf-8"))[1:])
    model, config = modeldir.load(d, lambda c: CharLM(len(vocab), c["cell"], c["hidden"], c["layers"], c["embed_dim"],
                                                       c["dropout"]), "a character LM", also=("chars.json",))
    return model, config, vocab


def load_texts(task: str, names=("train", "val", "test")) -> tuple[CharVocab, dict]:
    """A task's prepared character vocabulary and its encoded texts."""
    from rnnlab import layout

    d = layout.prepared(task)
    vocab = CharVocab(json.loads((d / "chars.json").read_text(encoding="utf-8"))[1:])
    return vocab, {n: vocab.encode((d / f"{n}.txt").read_text(encoding="utf-8")) for n in names}
