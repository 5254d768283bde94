"""Text in, answers out, for every task's model directory: what the registry serves and `predict` prints.

A model directory's config.json records the kind of task that trained it:
    classification  vocabulary + recurrent classifier -> label and class probabilities
    letters         fine-tuned letters models: vocabulary + encoder -> author and language
    news            SBERT encoder (its own directory) + recurrent head -> category
    charlm          character LM -> a continuation of the prompt

Each predictor takes texts of any length: classifiers cut them at the length they were trained
with (as in evaluation), the character LM carries its state across any prompt.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import torch

from rnnlab.errors import RnnlabError


def kind(model_dir: Path) -> str:
    model_dir = Path(model_dir)
    config_path = model_dir / "config.json"
    if not config_path.is_file():
        raise RnnlabError(f"{model_dir}: missing config.json; not a model directory")
    try:
        config = json.loads(config_path.read_text(encoding="utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError) as e:
        raise RnnlabError(f"{config_path}: not valid JSON ({e})") from None
    found = config.get("kind") if isinstance(config, dict) else None
    if found is None:  # model directories written before the kind was recorded
        found = ("charlm" if (model_dir / "chars.json").is_file() else "letters" if "authors" in config
                 else "news" if "encoder" in config else "classification")
    if found not in PREDICTORS:
        raise RnnlabError(f"{config_path}: unknown kind {found!r} (expected one of {', '.join(PREDICTORS)})")
    if found == "letters" and not config.get("finetuned"):
        raise RnnlabError(f"{model_dir}: a {config.get('feature')} letters model reads precomputed features, "
                          "not text; only fine-tuned letters models predict from text")
    return found


def _rows(labels: list[str], probs: np.ndarray, field: str = "label") -> list[dict]:
    return [{field: labels[int(p.argmax())], "probabilities": {l: round(float(v), 6) for l, v in zip(labels, p)}}
            for p in probs]


class Classifier:
    def __init__(self, model_dir: Path, encoder_dir: Path | None = None):
        from rnnlab.checkpoint import Predictor

        self.predictor = Predictor(model_dir)

    def predict(self, texts: list[str]) -> list[dict]:
        return _rows(self.predictor.labels, self.predictor.predict_proba(texts))


class Letters:
    def __init__(self, model_dir: Path, encoder_dir: Path | None = None):
        from rnnlab import letters
        from rnnlab.vocab import Vocabulary

        self.model, self.config = letters.load_model(Path(model_dir))
        self.vocab = Vocabulary.load(Path(model_dir) / "vocab.json")

    @torch.no_grad()
    def predict(self, texts: list[str]) -> list[dict]:
        from rnnlab import letters

        ids = [self.vocab.encode(t, self.config["max_len"]) for t in texts]
        data = letters.Data(ids, np.zeros(len(ids)), np.zeros(len(ids)))
        pa, pl = letters.predict(self.model, data)
        authors, langs = _rows(self.config["authors"], pa, "author"), _rows(self.config["langs"], pl, "language")
        return [{"author": a["author"], "language": l["language"], "probabilities": a["probabilities"],
                 "language_probabilities": l["probabilities"]} for a, l in zip(authors, langs)]


class News:
    def __init__(self, model_dir: Path, encoder_dir: Path | None = None):
        from rnnlab import news

        self.model, self.config = news.load(Path(model_dir), encoder_dir)
        self.encoder_dir = encoder_dir or news.encoder_dir(self.config)

    @torch.no_grad()
    def predict(self, texts: list[str]) -> list[dict]:
        from rnnlab import news, sbert

        if self.config["variant"] == "frozen":
            vectors = sbert.encode(texts, self.encoder_dir, max_tokens=self.config.get("max_tokens", 128))
            logits = self.model(torch.from_numpy(vectors))
        else:
            logits = news.logits_from_ids(self.model, self.model.sbert.token_ids(texts))
        return _rows(self.config["labels"], torch.softmax(logits, 1).numpy())


class Poetry:
    def __init__(self, model_dir: Path, encoder_dir: Path | None = None):
        from rnnlab import charlm

        self.model, self.config, self.vocab = charlm.load(Path(model_dir))

    def generate(self, prompt: str, length: int = 400, temperature: float = 0.5, seed: int = 0) -> str:
        from rnnlab import charlm

        return charlm.generate(self.model, self.vocab, prompt, length, temperature, seed=seed,
                               window=self.config.get("window"))


PREDICTORS = {"classification": Classifier, "letters": Letters, "news": News, "charlm": Poetry}


def load(model_dir: Path, encoder_dir: Path | None = None):
    return PREDICTORS[kind(model_dir)](Path(model_dir), Path(encoder_dir) if encoder_dir else None)
