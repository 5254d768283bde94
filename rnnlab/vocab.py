"""Tokenizer and vocabulary, built from the training split only."""

from __future__ import annotations

import json
import re
from collections import Counter
from pathlib import Path
from typing import Iterable

from rnnlab import atomic
from rnnlab.errors import RnnlabError

PAD, UNK = "<pad>", "<unk>"
# words (with inner apostrophes), numbers, and single punctuation marks
TOKEN_RE = re.compile(r"\w+(?:'\w+)?|[^\w\s]")


def tokenize(text: str, lowercase: bool = True) -> list[str]:
    return TOKEN_RE.findall(text.lower() if lowercase else text)


class Vocabulary:
    """Token <-> id mapping; id 0 is padding, id 1 stands for every unknown token."""

    def __init__(self, tokens: list[str], lowercase: bool = True):
        self.itos = [PAD, UNK, *tokens]
        self.stoi = {t: i for i, t in enumerate(self.itos)}
        self.lowercase = lowercase

    pad_id, unk_id = 0, 1

    @classmethod
    def build(cls, texts: Iterable[str], min_freq: int = 1, max_size: int = 20000, lowercase: bool = True) -> "Vocabulary":
        counts = Counter(t for text in texts for t in tokenize(text, lowercase))
        # most frequent first; ties broken alphabetically so the order is deterministic
        ranked = sorted((t for t, c in counts.items() if c >= min_freq), key=lambda t: (-counts[t], t))
        return cls(ranked[:max_size], lowercase)

    def __len__(self) -> int:
        return len(self.itos)

    def encode(self, text: str, max_len: int | None = None) -> list[int]:
        ids = [self.stoi.get(t, self.unk_id) for t in tokenize(text, self.lowercase)][:max_len]
        return ids or [self.unk_id]  # an empty text still gets one step

    def save(self, path: Path) -> None:
        atomic.write_json(path, {"lowercase": self.lowercase, "itos": self.itos})

    @classmethod
    def load(cls, path: Path) -> "Vocabulary":
        """A saved vocabulary; anything else (not UTF-8, not JSON, other keys) is one line naming the file."""
        try:
            data = json.loads(Path(path).read_text(encoding="utf-8"))
            itos, lowercase = data["itos"], data["lowercase"]
            if not (isinstance(itos, list) and all(isinstance(t, str) for t in itos) and isinstance(lowercase, bool)):
                raise TypeError("itos must be a list of strings and lowercase a boolean")
        except (UnicodeDecodeError, json.JSONDecodeError, KeyError, TypeError) as e:
            raise RnnlabError(f"{path}: not a vocabulary file ({type(e).__name__}: {str(e).splitlines()[0] if str(e) else ''})") from None
        return cls(itos[2:], lowercase)
