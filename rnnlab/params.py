"""Typed schema for params.yaml, checked once at every stage start.

Unknown keys, wrong types and out-of-range values fail with one line naming the key.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Annotated, Literal

import yaml
from pydantic import AfterValidator, BaseModel, ConfigDict, Field, ValidationError, model_validator

from rnnlab.errors import RnnlabError

PARAMS_FILE = Path("params.yaml")

VARIANT_GRAMMAR = re.compile(r"^(cnn-)?(bi)?(rnn|lstm|gru)(x[1-4])?(-(attn|max|mean))?$")  # as rnnlab/models.py


def _variant(name: str) -> str:
    if not VARIANT_GRAMMAR.match(name):
        raise ValueError(f"unknown variant {name!r}: expected [cnn-][bi](rnn|lstm|gru)[xN][-attn|-max|-mean], "
                         "e.g. lstm, bigru, lstmx2, cnn-lstm, bilstm-attn")
    return name


Variant = Annotated[str, AfterValidator(_variant)]


def _catalog_name(name: str) -> str:
    from rnnlab import catalog

    if catalog.CATALOG_FILE.exists() and name not in catalog.load():
        raise ValueError(f"{name!r} is not in {catalog.CATALOG_FILE} (`rnnlab corpora list` lists them)")
    return name


CatalogName = Annotated[str, AfterValidator(_catalog_name)]  # a corpus, vectors or model named in catalog.yaml
InputMode = Literal["packed", "padded", "bucketed"]
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
    test: Fraction | Literal["given"]  # "given": the corpus's own test split


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
    glove: CatalogName = "glove_6b_50d"
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
    conv_channels: PosInt = 128  # cnn-* variants: Conv1d width and kernel
    conv_kernel: PosInt = 5
    embed_dropout: Annotated[float, Field(ge=0, lt=1)] = 0.0  # dropout on the word vectors


class ClassifierTask(_Strict):
    corpus: CatalogName
    split: Split
    vocab: Vocab = Vocab()
    max_len: PosInt = 50
    max_rows: PosInt | None = None  # a stratified sample, for quick runs and tests
    embeddings: Embeddings
    models: list[Variant] = Field(min_length=1)
    inputs: list[InputMode] = Field(min_length=1)
    train: Train = Train()
    # the headline runs retrained with extra seeds, reported as mean +- std (stage `<task>_seeds`)
    seed_runs: list[str] = []
    extra_seeds: list[int] = []

    @model_validator(mode="after")
    def _seed_runs_in_grid(self):
        grid = {f"{m}-{k}-{i}" for m in self.models for k in self.embeddings.kinds for i in self.inputs}
        for run in self.seed_runs:
            if run not in grid:
                raise ValueError(f"seed_runs: {run!r} is not a run of this task's grid (models x embeddings x inputs)")
        return self


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
    corpus: CatalogName
    val_poems: PosInt = 4
    test_poems: PosInt = 4
    models: list[Literal["lstm", "gru", "rnn", "deck"]] = Field(min_length=1)
    stream: StreamLM = StreamLM()
    deck: WindowLM = WindowLM()
    generate: Generate


class LettersCorpora(_Strict):
    books: CatalogName = "gutenberg_letter_authors"  # catalog names; both fetched by the download stage
    letters: CatalogName = "letters_sample"


class LettersSplit(_Strict):
    val: Fraction
    test: Fraction                      # the letter sample keeps its own test split
    max_per_book: PosInt | None = None  # a seeded sample of at most this many paragraphs per book


class LettersTfidf(_Strict):
    max_features: PosInt = 5000


class LettersSbert(_Strict):
    model: CatalogName = "all_minilm_l6_v2"
    batch: PosInt = 64
    max_tokens: PosInt = 128


class LettersStatic(_Strict):
    hidden: PosInt = 128
    dropout: Annotated[float, Field(ge=0, lt=1)] = 0.5
    batch: PosInt = 64
    lr: Annotated[float, Field(gt=0, le=1)] = 1e-3
    max_epochs: PosInt = 20
    patience: PosInt = 3


class LettersFinetuned(LettersStatic):  # the deck: batch 32, 5 epochs, texts cut at 50 tokens
    batch: PosInt = 32
    max_epochs: PosInt = 5
    max_len: PosInt = 50
    input: Literal["packed", "padded"] = "packed"
    vocab: Vocab = Vocab()
    oov_scale: Annotated[float, Field(ge=0)] = 0.6


class LettersTask(_Strict):
    corpora: LettersCorpora = LettersCorpora()
    glove: CatalogName = "glove_6b_50d"
    sbert: LettersSbert = LettersSbert()
    authors: list[str] = Field(min_length=2)  # the author head's classes; other authors' rows: language loss only
    lang_map: dict[str, str] = {}             # corpus language code -> label (Ibsen: no -> da)
    split: LettersSplit
    min_words: PosInt = 5
    features: list[Literal["tfidf", "word2vec", "glove", "sbert", "finetuned"]] = Field(min_length=1)
    models: list[Variant] = Field(min_length=1)
    tfidf: LettersTfidf = LettersTfidf()
    word2vec: Word2Vec = Word2Vec()
    static: LettersStatic = LettersStatic()
    finetuned: LettersFinetuned = LettersFinetuned()


class Attributions(_Strict):
    n_steps: Annotated[int, Field(ge=8, le=1000)] = 64  # Gauss-Legendre points per segment of the path
    max_steps: Annotated[int, Field(ge=8, le=65536)] = 4096  # cap on the points of one attribution
    max_delta: Annotated[float, Field(gt=0)] = 0.05    # completeness check: |sum(attr) - (F(x) - F(baseline))|
    strict: bool = False  # true: an attribution that misses max_delta fails the stage instead of being flagged
    sentences: list[str] = Field(min_length=1)


class SentimentReport(_Strict):
    """Deck 000's sentiment experiment: which runs get token attributions (task/run names)."""
    attribution_runs: list[str] = Field(min_length=1)
    attributions: Attributions


class NewsHead(_Strict):
    variant: Variant = "rnn"
    hidden: PosInt = 128
    dropout: Annotated[float, Field(ge=0, lt=1)] = 0.2
    lr: Annotated[float, Field(gt=0, le=1)] = 1e-3
    batch: PosInt = 64


class NewsFinetune(_Strict):
    lr: Annotated[float, Field(gt=0, le=1)] = 1e-5       # encoder weights
    head_lr: Annotated[float, Field(gt=0, le=1)] = 1e-4  # the RNN head
    warm_start: bool = True                              # head first trained on the frozen vectors
    layers: PosInt | None = 1                            # top transformer layers trained; None = all weights
    batch: PosInt = 32
    max_epochs: PosInt = 1


class NewsScheduler(_Strict):
    factor: Annotated[float, Field(gt=0, lt=1)] = 0.5
    patience: Annotated[int, Field(ge=0)] = 1


class NewsTask(_Strict):
    corpus: CatalogName
    encoder: CatalogName
    split: Split
    max_rows: PosInt | None = None
    min_class_rows: Annotated[int, Field(ge=3)] = 10
    text_fields: list[str] = Field(default=["headline", "short_description"], min_length=1)
    text_sep: str = " "
    max_tokens: Annotated[int, Field(ge=8, le=512)] = 128
    variants: list[Literal["frozen", "finetuned"]] = Field(min_length=1)
    head: NewsHead = NewsHead()
    finetune: NewsFinetune = NewsFinetune()
    max_epochs: PosInt = 20
    patience: PosInt = 3
    scheduler: NewsScheduler = NewsScheduler()


class Registry(_Strict):
    # registered models are named PREFIX-TASK; the best version carries ALIAS
    prefix: Annotated[str, Field(pattern=r"^[A-Za-z0-9][A-Za-z0-9_.-]*$")] = "rnnlab"
    alias: Annotated[str, Field(pattern=r"^[A-Za-z][A-Za-z0-9_-]*$")] = "champion"


class Params(_Strict):
    seed: int = 42
    download: Download
    sms: ClassifierTask
    imdb_deck: ClassifierTask
    imdb_full: ClassifierTask
    sentiment: SentimentReport
    poetry: PoetryTask
    letters: LettersTask | None = None
    news: NewsTask
    registry: Registry = Registry()


def _describe(err: ValidationError, source: Path) -> str:
    first = err.errors()[0]
    # union members add pydantic's type tags (e.g. "constrained-float") to the path: not a key
    key = ".".join(str(p) for p in first["loc"] if not re.match(r"^(constrained-|literal\[|function-)", str(p)))
    key = key or "(top level)"
    got = "" if first["type"] == "missing" else f" (got {first['input']!r})"
    return f"{source}: {key}: {first['msg']}{got}"


class Yaml12Loader(yaml.SafeLoader):
    """YAML 1.2 booleans (only true/false), as DVC reads params.yaml.

    `dvc exp run -S` rewrites params.yaml with ruamel (YAML 1.2), which writes the key "no"
    (Norwegian) unquoted; PyYAML's 1.1 default would read it back as False.
    """


Yaml12Loader.yaml_implicit_resolvers = {
    first: [(tag, rx) for tag, rx in resolvers if tag != "tag:yaml.org,2002:bool"]
    for first, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()
}
Yaml12Loader.add_implicit_resolver("tag:yaml.org,2002:bool", re.compile(r"^(?:true|True|TRUE|false|False|FALSE)$"),
                                   list("tTfF"))


def read_yaml(text: str):
    return yaml.load(text, Loader=Yaml12Loader)  # noqa: S506 - a SafeLoader subclass


def load(path: Path = PARAMS_FILE) -> Params:
    try:
        raw = read_yaml(Path(path).read_text(encoding="utf-8")) or {}
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
