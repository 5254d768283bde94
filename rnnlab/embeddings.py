"""Embedding matrices for a vocabulary: learned (random), word2vec (trained here), pretrained vectors
(GloVe; spaCy's, rnnlab/spacyvectors.py)."""

from __future__ import annotations

import json
import zlib
from pathlib import Path

import numpy as np
import pandas as pd

from rnnlab import catalog
from rnnlab.errors import RnnlabError
from rnnlab.vocab import Vocabulary


def _stable_hash(s: str) -> int:
    # gensim seeds each word vector with hash(word); Python's hash() changes per process
    return zlib.crc32(s.encode("utf-8"))


def _fill(vocab: Vocabulary, index: dict[str, int], vectors: np.ndarray, seed: int, oov_scale: float):
    """Known words get their vector, the rest N(0, oov_scale); the padding row stays zero."""
    dim = vectors.shape[1]
    matrix = np.random.default_rng(seed).normal(scale=oov_scale, size=(len(vocab), dim)).astype(np.float32)
    matrix[vocab.pad_id] = 0.0
    words = vocab.itos[2:]
    found = [(vocab.stoi[w], index[w]) for w in words if w in index]
    if found:
        rows, src = map(list, zip(*found))
        matrix[rows] = vectors[src]
    info = {"dim": dim, "vocab_size": len(vocab), "found": len(found),
            "coverage": round(len(found) / max(1, len(words)), 6),
            "oov_examples": [w for w in words if w not in index][:20]}
    return matrix, info


def learned(vocab: Vocabulary, dim: int, seed: int):
    rng = np.random.default_rng(seed)
    matrix = rng.normal(size=(len(vocab), dim)).astype(np.float32)  # as nn.Embedding initialises
    matrix[vocab.pad_id] = 0.0
    return matrix, {"dim": dim, "vocab_size": len(vocab), "coverage": None}


def word2vec(vocab: Vocabulary, train_texts: list[str], cfg, seed: int, oov_scale: float):
    from gensim.models import Word2Vec  # heavy import, only here

    sentences = [vocab.tokens(t) for t in train_texts]
    # workers=1 + a stable hash: identical vectors run to run
    model = Word2Vec(sentences, vector_size=cfg.dim, window=cfg.window, min_count=cfg.min_count,
                     epochs=cfg.epochs, workers=1, seed=seed, hashfxn=_stable_hash)
    index = {w: i for i, w in enumerate(model.wv.index_to_key)}
    return _fill(vocab, index, model.wv.vectors, seed, oov_scale)


def read_vectors(raw_dir: Path) -> tuple[dict[str, int], np.ndarray]:
    """(word -> row, matrix) from a fetched embedding resource, in the format the catalog names."""
    source = json.loads((raw_dir / "source.json").read_text(encoding="utf-8"))
    spec = catalog.entry(source["corpus"]).parser
    if spec["format"] == "vectors_npy":
        words = pd.read_parquet(raw_dir / spec["words"]).iloc[:, 0].tolist()
        return {w: i for i, w in enumerate(words)}, np.load(raw_dir / spec["matrix"], mmap_mode="r")
    if spec["format"] == "vectors_text":
        words, rows = [], []
        with open(raw_dir / spec["file"], encoding="utf-8") as f:
            for line in f:
                word, *values = line.rstrip().split(" ")
                words.append(word)
                rows.append(np.asarray(values, dtype=np.float32))
        return {w: i for i, w in enumerate(words)}, np.stack(rows)
    if spec["format"] == "spacy_vocab":
        from rnnlab import spacyvectors

        return spacyvectors.read(raw_dir)
    raise RnnlabError(f"{raw_dir}: unknown vector format {spec['format']!r}")


def pretrained(vocab: Vocabulary, raw_dir: Path, seed: int, oov_scale: float):
    index, vectors = read_vectors(raw_dir)
    matrix, info = _fill(vocab, index, vectors, seed, oov_scale)
    info["resource"] = json.loads((raw_dir / "source.json").read_text(encoding="utf-8"))["corpus"]
    return matrix, info
