"""News tasks: prepared splits, the two classifiers, their model directories (stages/news/).

Both classifiers follow deck 000's "News dataset" model: one sentence vector per text, fed to
a recurrent layer as a sequence of length 1 (nn.RNN(384, 128)), then a linear layer.

    frozen     the head alone, on sentence vectors computed once (stage news_embed)
    finetuned  sentence encoder + head trained together (the head warm-started as in `frozen`);
               with finetune.layers = n only the top n transformer layers move, the frozen
               ones below run once per text
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import torch
from torch import nn

from rnnlab import device, layout, modeldir, sbert
from rnnlab import params as P
from rnnlab.errors import RnnlabError
from rnnlab.models import SequenceEncoder

SPLITS = ("train", "val", "test")
VARIANTS = ("frozen", "finetuned")
WEIGHTS, CONFIG, TRAIN = "model.pt", "config.json", "train.json"


def split_table(task: str, name: str) -> pd.DataFrame:
    path = layout.prepared(task) / f"{name}.csv"
    if not path.is_file():
        raise RnnlabError(f"{path}: missing (run `dvc repro {task}_prepare`)")
    return pd.read_csv(path, keep_default_na=False)


def corpus_info(task: str) -> dict:
    return json.loads((layout.prepared(task) / "corpus.json").read_text(encoding="utf-8"))


def label_ids(df: pd.DataFrame, labels: list[str]) -> np.ndarray:
    index = {l: i for i, l in enumerate(labels)}
    return np.array(df["label"].map(index), dtype=np.int64)  # a writable copy torch can wrap


def sentence_vectors(task: str, name: str) -> torch.Tensor:
    path = layout.embedding(task, "sbert") / f"{name}.npy"
    if not path.is_file():
        raise RnnlabError(f"{path}: missing (run `dvc repro {task}_embed`)")
    return torch.from_numpy(np.load(path))


class Head(nn.Module):
    """Sentence vector [B, D] -> a length-1 sequence -> recurrent layer -> dropout -> linear."""

    def __init__(self, input_dim: int, n_classes: int, variant: str = "rnn", hidden: int = 128, dropout: float = 0.2):
        super().__init__()
        self.encoder = SequenceEncoder(input_dim, variant, hidden, 1, dropout, input_mode="padded")
        self.dropout = nn.Dropout(dropout)
        self.out = nn.Linear(self.encoder.out_dim, n_classes)

    def forward(self, vectors: torch.Tensor) -> torch.Tensor:
        lengths = torch.ones(len(vectors), dtype=torch.long, device=vectors.device)
        return self.out(self.dropout(self.encoder(vectors.unsqueeze(1), lengths)))


class FineTuned(nn.Module):
    """Sentence encoder (tokens -> pooled vector) + Head, trained end to end."""

    def __init__(self, encoder_dir: Path, n_classes: int, head: dict, trainable_layers: int | None, max_tokens: int):
        super().__init__()
        self.sbert = sbert.SentenceEncoder(encoder_dir, max_tokens)
        self.frozen_layers = self.sbert.freeze(trainable_layers)
        self.head = Head(self.sbert.dim, n_classes, **head)

    def forward(self, input_ids: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
        return self.head(self.sbert(input_ids, attention_mask))

    def from_lower(self, hidden: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
        """Logits from token states of the frozen layers (sbert.lower): the same as forward(), cheaper."""
        return self.head(self.sbert.upper(hidden, attention_mask, self.frozen_layers))


def head_settings(cfg: P.NewsTask) -> dict:
    return {"variant": cfg.head.variant, "hidden": cfg.head.hidden, "dropout": cfg.head.dropout}


def encoder_dir(config: dict) -> Path:
    """Where the pipeline keeps the model's sentence encoder (a served model brings its own copy)."""
    return layout.raw(config["encoder"])


def build(config: dict, encoder: Path | None = None) -> nn.Module:
    n = len(config["labels"])
    if config["variant"] == "frozen":
        return Head(config["input_dim"], n, **config["head"])
    return FineTuned(encoder or encoder_dir(config), n, config["head"], config["trainable_layers"],
                     config["max_tokens"])


def save(model: nn.Module, config: dict, out: Path) -> None:
    modeldir.save(model, {"kind": "news", **config}, out)


def load(model_dir: Path, encoder: Path | None = None) -> tuple[nn.Module, dict]:
    # no size check: the encoder comes from its own pinned directory, through transformers' loader
    return modeldir.load(model_dir, lambda config: build(config, encoder), "a news model", size_check=False)


@torch.no_grad()
def logits_from_ids(model: FineTuned, ids: list[list[int]], batch_size: int = 64) -> torch.Tensor:
    """Logits of the full fine-tuned model, in input order; batches formed by length (deterministic)."""
    model.eval()
    order = sorted(range(len(ids)), key=lambda i: (len(ids[i]), i))
    out = torch.empty((len(ids), model.head.out.out_features))
    pad_id = model.sbert.tokenizer.pad_token_id or 0
    for start in range(0, len(order), batch_size):
        rows = order[start:start + batch_size]
        x, m = sbert.pad([ids[i] for i in rows], pad_id)
        out[rows] = model(*device.to(x, m)).cpu()
    return out
