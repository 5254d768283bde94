"""Typed schema for params.yaml, checked once at every stage start.

Unknown keys, wrong types and out-of-range values fail with one line naming the key.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from rnnlab.errors import RnnlabError

PARAMS_FILE = Path("params.yaml")

Variant = Literal["rnn", "lstm", "gru", "birnn", "bilstm", "bigru"]
InputMode = Literal["packed", "padded"]
EmbeddingKind = Literal["learned", "word2vec", "glove"]
Fraction = Annotated[float, Field(gt=0, lt=0.5)]
PosInt = Annotated[int, Field(gt=0)]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Download(_Strict):
    source_order: list[Literal["mirror", "url", "registry"]] = Field(min_length=1)
    mirror_dir: str | None = None
    allow_standins: bool = True
    timeout_s: Annotated[float, Field(gt=0)] = 30
    retries: Annotated[int, Field(ge=0, le=10)] = 3


class Split(_Strict):
    val: Fraction
    test: Fraction


class Vocab(_Strict):
    min_freq: PosInt = 1
    max_size: PosInt = 20000
    lowercase: bool = True


class Word2Vec(_Strict):
    dim: PosInt = 100
    window: PosInt = 5
    epochs: PosInt = 30
    min_count: PosInt = 1


class Embeddings(_Strict):
    kinds: list[EmbeddingKind] = Field(min_length=1)
    learned_dim: PosInt = 100
    word2vec: Word2Vec = Word2Vec()
    glove: str = "glove_6b_50d"
    oov_scale: Annotated[float, Field(ge=0)] = 0.6
    freeze: bool = False


class Train(_Strict):
    hidden: PosInt = 64
    layers: PosInt = 1
    dropout: Annotated[float, Field(ge=0, lt=1)] = 0.3
    lr: Annotated[float, Field(gt=0, le=1)] = 1e-3
    batch_size: PosInt = 512
    max_epochs: PosInt = 20
    patience: PosInt = 3


class ClassifierTask(_Strict):
    corpus: str
    split: Split
    vocab: Vocab = Vocab()
    max_len: PosInt = 50
    max_rows: PosInt | None = None  # a stratified sample, for quick runs and tests
    embeddings: Embeddings
    models: list[Variant] = Field(min_length=1)
    inputs: list[InputMode] = Field(min_length=1)
    train: Train = Train()


class StreamLM(_Strict):
    hidden: PosInt = 128
    embed_dim: PosInt | None = 32
    dropout: Annotated[float, Field(ge=0, lt=1)] = 0.3
    lr: Annotated[float, Field(gt=0, le=1)] = 3e-3
    batch: PosInt = 16
    bptt: PosInt = 64
    clip: Annotated[float, Field(gt=0)] = 1.0
    max_epochs: PosInt = 60
    patience: PosInt = 4


class WindowLM(_Strict):
    window: PosInt = 40
    hidden: PosInt = 128
    lr: Annotated[float, Field(gt=0, le=1)] = 1e-3
    batch: PosInt = 128
    max_epochs: PosInt = 10
    patience: PosInt = 2


class Generate(_Strict):
    length: PosInt = 400
    temperatures: list[Annotated[float, Field(gt=0, le=5)]] = Field(min_length=1)
    prompts: list[str] = Field(min_length=1)


class PoetryTask(_Strict):
    corpus: str
    val_poems: PosInt = 4
    test_poems: PosInt = 4
    models: list[Literal["lstm", "gru", "rnn", "deck"]] = Field(min_length=1)
    stream: StreamLM = StreamLM()
    deck: WindowLM = WindowLM()
    generate: Generate


class Params(_Strict):
    seed: int = 42
    download: Download
    sms: ClassifierTask
    poetry: PoetryTask


def _describe(err: ValidationError, source: Path) -> str:
    first = err.errors()[0]
    key = ".".join(str(p) for p in first["loc"]) or "(top level)"
    got = "" if first["type"] == "missing" else f" (got {first['input']!r})"
    return f"{source}: {key}: {first['msg']}{got}"


def load(path: Path = PARAMS_FILE) -> Params:
    try:
        raw = yaml.safe_load(Path(path).read_text(encoding="utf-8")) or {}
    except FileNotFoundError:
        raise RnnlabError(f"{path}: not found (run from the project root)") from None
    except yaml.YAMLError as e:
        raise RnnlabError(f"{path}: not valid YAML: {str(e).splitlines()[0]}") from None
    try:
        return Params.model_validate(raw)
    except ValidationError as e:
        raise RnnlabError(_describe(e, Path(path))) from None


def task(params: Params, name: str) -> ClassifierTask:
    if name not in Params.model_fields or not isinstance(getattr(params, name), ClassifierTask):
        raise RnnlabError(f"unknown task {name!r}")
    return getattr(params, name)
