"""Sentence-BERT encoders from a local model directory (no hub access).

A model directory is what `stages/download.py all_minilm_l6_v2` writes: the transformer
(config.json, model.safetensors, tokenizer files) plus the sentence-transformers module list
(modules.json) and pooling settings (1_Pooling_config.json, or 1_Pooling/config.json in a
hub-style layout). Pooling and normalisation follow those files, so the vectors are the ones
`SentenceTransformer(...).encode` gives for the same model.

    encode(texts, model_dir)       -> float32 [n, dim] sentence vectors (frozen encoder)
    SentenceEncoder(model_dir)     -> a torch module (tokenize -> transformer -> pooled vector)
                                      whose weights can be fine-tuned
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Sequence

# set before transformers is imported anywhere: the model is local, never fetched
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")  # no extra threads; no fork warnings

import numpy as np
import torch
from torch import nn
from tqdm import tqdm

from rnnlab.errors import RnnlabError

POOLING_MODES = {"pooling_mode_cls_token": "cls", "pooling_mode_mean_tokens": "mean",
                 "pooling_mode_max_tokens": "max", "pooling_mode_mean_sqrt_len_tokens": "mean_sqrt_len"}


@dataclass(frozen=True)
class Settings:
    pooling: str      # cls | mean | max | mean_sqrt_len
    normalize: bool   # modules.json lists a Normalize module
    dim: int
    max_seq_length: int


def settings(model_dir: Path | str) -> Settings:
    """Pooling, normalisation and length limit as the model directory's sentence-transformers files say."""
    model_dir = Path(model_dir)
    if not (model_dir / "config.json").is_file():
        raise RnnlabError(f"{model_dir}: no config.json (fetch the model: python stages/download.py all_minilm_l6_v2)")
    modules = _read_json(model_dir / "modules.json", [])
    types = [m.get("type", "") for m in modules]
    pooling_file = next((p for p in (model_dir / "1_Pooling_config.json", model_dir / "1_Pooling" / "config.json")
                         if p.is_file()), None)
    pool = _read_json(pooling_file, {}) if pooling_file else {}
    modes = [name for key, name in POOLING_MODES.items() if pool.get(key)]
    if len(modes) > 1:
        raise RnnlabError(f"{pooling_file}: combined pooling modes {modes} are not supported")
    config = _read_json(model_dir / "config.json", {})
    st = _read_json(model_dir / "sentence_bert_config.json", {})
    return Settings(pooling=modes[0] if modes else "mean",  # sentence-transformers' default
                    normalize=any(t.endswith("Normalize") for t in types),
                    dim=int(pool.get("word_embedding_dimension") or config.get("hidden_size")),
                    max_seq_length=int(st.get("max_seq_length") or config.get("max_position_embeddings", 512)))


def _read_json(path: Path, default):
    if not path.is_file():
        return default
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as e:
        raise RnnlabError(f"{path}: not JSON ({e.msg})") from None


def pool(hidden: torch.Tensor, mask: torch.Tensor, mode: str) -> torch.Tensor:
    """Token states [B, T, D] + attention mask [B, T] -> sentence vectors [B, D]."""
    m = mask.unsqueeze(-1).to(hidden.dtype)
    if mode == "cls":
        return hidden[:, 0]
    if mode == "max":
        return hidden.masked_fill(m == 0, -1e9).max(1).values
    summed, count = (hidden * m).sum(1), m.sum(1).clamp(min=1e-9)
    return summed / (count.sqrt() if mode == "mean_sqrt_len" else count)


class SentenceEncoder(nn.Module):
    """Tokenizer + transformer + pooling (+ L2 normalisation) as one module.

    forward(input_ids, attention_mask) -> [B, dim]; tokenize(texts) gives those tensors.
    In train() mode the transformer's dropout is active, as when fine-tuning.
    """

    def __init__(self, model_dir: Path | str, max_tokens: int = 128):
        super().__init__()
        from transformers import AutoModel, AutoTokenizer
        from transformers.utils import logging as hf_logging

        hf_logging.set_verbosity_error()  # "some weights not used" notes about the pretraining heads
        hf_logging.disable_progress_bar()  # the per-load "Loading weights" bar
        self.model_dir = Path(model_dir)
        self.settings = settings(self.model_dir)
        self.max_tokens = min(int(max_tokens), self.settings.max_seq_length)
        try:
            self.tokenizer = AutoTokenizer.from_pretrained(str(self.model_dir), local_files_only=True)
            self.transformer = AutoModel.from_pretrained(str(self.model_dir), local_files_only=True,
                                                         use_safetensors=True, trust_remote_code=False)
        except OSError as e:
            raise RnnlabError(f"{self.model_dir}: cannot load the model ({str(e).splitlines()[0]})") from None
        self.dim = self.settings.dim

    def tokenize(self, texts: Sequence[str]) -> dict[str, torch.Tensor]:
        enc = self.tokenizer(list(texts), padding=True, truncation=True, max_length=self.max_tokens,
                             return_tensors="pt")
        return {"input_ids": enc["input_ids"], "attention_mask": enc["attention_mask"]}

    def token_ids(self, texts: Sequence[str]) -> list[list[int]]:
        """Unpadded, truncated ids per text (for length-bucketed batching)."""
        return self.tokenizer(list(texts), truncation=True, max_length=self.max_tokens)["input_ids"]

    def forward(self, input_ids: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
        hidden = self.transformer(input_ids=input_ids, attention_mask=attention_mask).last_hidden_state
        return self._pooled(hidden, attention_mask)

    def _pooled(self, hidden: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
        vec = pool(hidden, attention_mask, self.settings.pooling)
        return nn.functional.normalize(vec, p=2, dim=1) if self.settings.normalize else vec

    # Partial fine-tuning: the frozen lower part runs once per text (lower), only the top
    # layers run in every epoch (upper); upper(lower(x)) equals forward(x).

    @property
    def layers(self) -> nn.ModuleList:
        return self.transformer.encoder.layer

    def freeze(self, trainable_layers: int | None) -> int:
        """Train only the top `trainable_layers` transformer layers (None: all weights, embeddings too).

        Returns how many layers stay frozen (below them, the token embeddings are frozen as well).
        """
        n = len(self.layers)
        self.frozen_layers = 0 if trainable_layers is None else n - min(int(trainable_layers), n)
        for p in self.transformer.parameters():
            p.requires_grad = trainable_layers is None
        for i, layer in enumerate(self.layers):
            for p in layer.parameters():
                p.requires_grad = i >= self.frozen_layers
        pooler = getattr(self.transformer, "pooler", None)  # BERT's [CLS] pooler: not part of a sentence vector
        for p in pooler.parameters() if pooler is not None else ():
            p.requires_grad = False
        return self.frozen_layers

    def _mask(self, hidden: torch.Tensor, attention_mask: torch.Tensor):
        from transformers.masking_utils import create_bidirectional_mask

        return create_bidirectional_mask(config=self.transformer.config, inputs_embeds=hidden,
                                         attention_mask=attention_mask)

    @torch.no_grad()
    def lower(self, input_ids: torch.Tensor, attention_mask: torch.Tensor, upto: int) -> torch.Tensor:
        """Token states [B, T, D] after the embeddings and the first `upto` layers (no dropout, no grad)."""
        was_training = self.training
        self.eval()
        try:
            hidden = self.transformer.embeddings(input_ids=input_ids)
            mask = self._mask(hidden, attention_mask)
            for layer in self.layers[:upto]:
                hidden = layer(hidden, mask)
        finally:
            self.train(was_training)
        return hidden

    def upper(self, hidden: torch.Tensor, attention_mask: torch.Tensor, start: int) -> torch.Tensor:
        """Layers start.. on token states from lower(), then pooling (+ normalisation)."""
        mask = self._mask(hidden, attention_mask)
        for layer in self.layers[start:]:
            hidden = layer(hidden, mask)
        return self._pooled(hidden, attention_mask)


def pad(ids: Sequence[Sequence[int]], pad_id: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
    """Ragged id lists -> (input_ids, attention_mask), right-padded to the longest."""
    width = max(len(s) for s in ids)
    input_ids = torch.full((len(ids), width), pad_id, dtype=torch.long)
    mask = torch.zeros((len(ids), width), dtype=torch.long)
    for i, s in enumerate(ids):
        input_ids[i, :len(s)] = torch.as_tensor(s, dtype=torch.long)
        mask[i, :len(s)] = 1
    return input_ids, mask


def load(model_dir: Path | str, max_tokens: int = 128) -> SentenceEncoder:
    """A fresh encoder in eval mode (its own copy of the weights: safe to fine-tune)."""
    return SentenceEncoder(model_dir, max_tokens).eval()


_CACHE: dict[tuple[str, int], SentenceEncoder] = {}


def _shared(model_dir: Path | str, max_tokens: int) -> SentenceEncoder:
    key = (str(Path(model_dir).resolve()), int(max_tokens))
    if key not in _CACHE:
        _CACHE.clear()  # one model in memory at a time
        _CACHE[key] = load(model_dir, max_tokens)
    return _CACHE[key]


@torch.no_grad()
def embed_ids(encoder: SentenceEncoder, ids: Sequence[Sequence[int]], batch_size: int = 64,
              desc: str = "sbert") -> torch.Tensor:
    """Pooled vectors for tokenized texts, in their order; batches formed by length (less padding).

    Batches depend only on the texts, so equal inputs give equal vectors on every run.
    """
    order = sorted(range(len(ids)), key=lambda i: (len(ids[i]), i))
    out = torch.empty((len(ids), encoder.dim), dtype=torch.float32)
    pad_id = encoder.tokenizer.pad_token_id or 0
    was_training = encoder.training
    encoder.eval()
    try:
        for start in tqdm(range(0, len(order), batch_size), desc=desc, unit="batch", leave=False, disable=None):
            rows = order[start:start + batch_size]
            input_ids, mask = pad([ids[i] for i in rows], pad_id)
            out[rows] = encoder(input_ids, mask).float()
    finally:
        encoder.train(was_training)
    return out


def encode(texts: Sequence[str], model_dir: Path | str, batch_size: int = 64, max_tokens: int = 128) -> np.ndarray:
    """Sentence vectors float32 [n, dim] (all-MiniLM-L6-v2: 384-d, mean pooled, unit length)."""
    texts = [str(t) for t in texts]
    encoder = _shared(model_dir, max_tokens)
    if not texts:
        return np.zeros((0, encoder.dim), dtype=np.float32)
    return embed_ids(encoder, encoder.token_ids(texts), batch_size).numpy()
