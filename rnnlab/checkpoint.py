"""A trained classifier on disk (rnnlab.modeldir's format): weights, architecture and vocabulary side by side.

A model directory holds everything a prediction needs, so it can be copied, pulled with
DVC or logged to MLflow as one unit.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import torch

from rnnlab import modeldir
from rnnlab.batching import pad
from rnnlab.errors import RnnlabError
from rnnlab.models import RecurrentClassifier
from rnnlab.vocab import Vocabulary

WEIGHTS, CONFIG, VOCAB = modeldir.WEIGHTS, modeldir.CONFIG, "vocab.json"


def save(model: RecurrentClassifier, config: dict, vocab_path: Path, out: Path) -> None:
    modeldir.save(model, {"kind": "classification", **config}, out)
    shutil.copyfile(vocab_path, out / VOCAB)


def build(config: dict) -> RecurrentClassifier:
    shape = (config["vocab_size"], config["embedding_dim"])
    return RecurrentClassifier(torch.zeros(shape), config["variant"], len(config["labels"]),
                               hidden=config["hidden"], layers=config["layers"], dropout=config["dropout"],
                               input_mode=config["input_mode"], conv_channels=config.get("conv_channels", 128),
                               conv_kernel=config.get("conv_kernel", 5))


def load(model_dir: Path) -> tuple[RecurrentClassifier, dict, Vocabulary]:
    model_dir = Path(model_dir)
    config = modeldir.read_config(model_dir, also=(VOCAB,))
    vocab = Vocabulary.load(model_dir / VOCAB)
    if len(vocab) != config.get("vocab_size"):
        raise RnnlabError(f"{model_dir / VOCAB}: {len(vocab)} tokens but the checkpoint expects {config.get('vocab_size')}")
    model, config = modeldir.load(model_dir, build, f"a {config.get('variant')} model", also=(VOCAB,))
    return model, config, vocab


class Predictor:
    """Texts in, class probabilities out; any text length (longer texts are cut at max_len)."""

    def __init__(self, model_dir: Path):
        self.model, self.config, self.vocab = load(model_dir)
        self.labels = self.config["labels"]

    @torch.no_grad()
    def predict_proba(self, texts: list[str]) -> np.ndarray:
        seqs = [self.vocab.encode(t, self.config["max_len"]) for t in texts]
        pad_to = self.config["max_len"] if self.config["input_mode"] == "padded" else None
        tokens, lengths = pad(seqs, pad_to)
        return torch.softmax(self.model(tokens, lengths), dim=1).numpy()

    def predict(self, texts: list[str]) -> list[dict]:
        probs = self.predict_proba(texts)
        return [{"label": self.labels[int(p.argmax())], **{l: float(v) for l, v in zip(self.labels, p)}} for p in probs]
