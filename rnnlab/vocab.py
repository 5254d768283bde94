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
DIGIT_RE = re.compile(r"\d")
DIGITS = ("keep", "zero")  # zero: every digit reads 0


def tokenize(text: str, lowercase: bool = True, digits: str = "keep") -> list[str]:
    """Words, numbers and punctuation marks. digits="zero" writes every digit as 0, so that numbers of one
    shape (11-digit phone numbers, 5-digit short codes, prices) share one token that the training split
    has seen, rather than each being a rare or unknown token of its own."""
    tokens = TOKEN_RE.findall(text.lower() if lowercase else text)
    return [DIGIT_RE.sub("0", t) for t in tokens] if digits == "zero" else tokens


class Vocabulary:
    """Token <-> id mapping; id 0 is padding, id 1 stands for every unknown token."""

    def __init__(self, tokens: list[str], lowercase: bool = True, digits: str = "keep"):
        if digits not in DIGITS:
            raise ValueError(f"digits must be one of {DIGITS}, not {digits!r}")
        self.itos = [PAD, UNK, *tokens]
        self.stoi = {t: i for i, t in enumerate(self.itos)}
        self.lowercase, self.digits = lowercase, digits

    pad_id, unk_id = 0, 1

    @classmethod
    def build(cls, texts: Iterable[str], min_freq: int = 1, max_size: int = 20000, lowercase: bool = True,
              digits: str = "keep") -> "Vocabulary":
        counts = Counter(t for text in texts for t in tokenize(text, lowercase, digits))
        # most frequent first; ties broken alphabetically so the order is deterministic
        ranked = sorted((t for t, c in counts.items() if c >= min_freq), key=lambda t: (-counts[t], t))
        return cls(ranked[:max_size], lowercase, digits)

    def tokens(self, text: str) -> list[str]:
        """The text's tokens as this vocabulary was built from them."""
        return tokenize(text, self.lowercase, self.digits)

    def __len__(self) -> int:
        return len(self.itos)

    def encode(self, text: str, max_len: int | None = None) -> list[int]:
        ids = [self.stoi.get(t, self.unk_id) for t in self.tokens(text)][:max_len]
        return ids or [self.unk_id]  # an empty text still gets one step

    def save(self, path: Path) -> None:
        digits = {"digits": self.digits} if self.digits != "keep" else {}  # files of the default stay as they were
        atomic.write_json(path, {"lowercase": self.lowercase, **digits, "itos": self.itos})

    @classmethod
    def load(cls, path: Path) -> "Vocabulary":
        """A saved vocabulary; anything else (not UTF-8, not JSON, other keys) is one line naming the file."""
        try:
            data = json.loads(Path(path).read_text(encoding="utf-8"))
            itos, lowercase, digits = data["itos"], data["lowercase"], data.get("digits", "keep")
            if not (isinstance(itos, list) and all(isinstance(t, str) for t in itos) and isinstance(lowercase, bool)
                    and digits in DIGITS):
                raise TypeError(f"itos must be a list of strings, lowercase a boolean and digits one of {DIGITS}")
        except (UnicodeDecodeError, json.JSONDecodeError, KeyError, TypeError) as e:
            raise RnnlabError(f"{path}: not a vocabulary file ({type(e).__name__}: {str(e).splitlines()[0] if str(e) else ''})") from None
        return cls(itos[2:], lowercase, digits)
