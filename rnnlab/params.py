"""Typed schema for params.yaml, checked once at every stage start.

Unknown keys, wrong types and out-of-range values fail with one line naming the key.
"""

from __future__ import annotations

import re
import typing
from pathlib import Path
from typing import Annotated, Literal, Union

import yaml
from pydantic import AfterValidator, BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from rnnlab.errors import RnnlabError

PARAMS_FILE = Path("params.yaml")



def _variant(name: str) -> str:
    from rnnlab.variants import parse_variant

    parse_variant(name)  # ValueError with the grammar, which pydantic reports under the key
    return name


Variant = Annotated[str, AfterValidator(_variant)]
# letters: `linear` (the heads straight on the input, no recurrent layer) is the reference the encoders must beat
LettersModel = Annotated[str, AfterValidator(lambda name: name if name == "linear" else _variant(name))]
TaskName = Annotated[str, Field(pattern=r"^[a-z][a-z0-9_]*$")]  # a folder name under data/, models/, metrics/


def _catalog_name(name: str) -> str:
    from rnnlab import catalog

    if catalog.CATALOG_FILE.exists() and name not in catalog.load():
        raise ValueError(f"{name!r} is not in {catalog.CATALOG_FILE} (`rnnlab corpora list` lists them)")
    return name


CatalogName = Annotated[str, AfterValidator(_catalog_name)]  # a corpus, vectors or model named in catalog.yaml
InputMode = Literal["packed", "padded", "bucketed"]
EmbeddingKind = Literal["learned", "word2vec", "glove"]
Fraction = Annotated[float, Field(gt=0, lt=0.5)]
PosInt = Annotated[int, Field(gt=0, le=10_000_000)]  # counts, lengths, epochs, vocabulary sizes
# model sizes: far above anything a CPU trains here, far below an allocation that takes the machine down
Width = Annotated[int, Field(gt=0, le=8192)]          # hidden units, vector dimensions, conv channels
Depth = Annotated[int, Field(gt=0, le=16)]            # recurrent layers
Batch = Annotated[int, Field(gt=0, le=65536)]


class _Strict(BaseModel):
    # strict: `hidden: true` is not 1, `lr: "1e-3"` is not a number
    model_config = ConfigDict(extra="forbid", frozen=True, strict=True)


class Download(_Strict):
    source_order: list[Literal["mirror", "url", "registry"]] = Field(min_length=1)
    mirror_dir: str | None = None
    allow_standins: bool = False  # a stand-in only when asked for
    timeout_s: Annotated[float, Field(gt=0)] = 30
    retries: Annotated[int, Field(ge=0, le=10)] = 3


class Split(_Strict):
    val: Fraction
    test: Fraction | Literal["given"]  # "given": the corpus's own test split


class Vocab(_Strict):
    min_freq: PosInt = 1
    max_size: PosInt = 20000
    lowercase: bool = True
    digits: Literal["keep", "zero"] = "keep"  # zero: every digit reads 0 (numbers of one shape share a token)


class Word2Vec(_Strict):
    dim: Width = 100
    window: PosInt = 5
    epochs: PosInt = 30
    min_count: PosInt = 1


class Embeddings(_Strict):
    kinds: list[EmbeddingKind] = Field(min_length=1)
    learned_dim: Width = 100
    word2vec: Word2Vec = Word2Vec()
    glove: CatalogName | None = None  # the pretrained vectors of the `glove` kind
    oov_scale: Annotated[float, Field(ge=0)] = 0.6
    freeze: bool = False

    @model_validator(mode="after")
    def _vectors_named(self):
        if "glove" in self.kinds and self.glove is None:
            raise ValueError("the glove kind needs `glove:` (a catalog entry of pretrained vectors, e.g. glove_6b_50d)")
        return self


class Train(_Strict):
    hidden: Width = 64
    layers: Depth = 1
    dropout: Annotated[float, Field(ge=0, lt=1)] = 0.3
    lr: Annotated[float, Field(gt=0, le=1)] = 1e-3
    batch_size: Batch = 512
    max_epochs: PosInt = 20
    patience: PosInt = 3
    conv_channels: Width = 128  # cnn-* variants: Conv1d width and kernel
    conv_kernel: PosInt = 5
    embed_dropout: Annotated[float, Field(ge=0, lt=1)] = 0.0  # dropout on the word vectors


class Goal(_Strict):
    """A target for a seed run's number (rnnlab/goals.py): met when its mean over the seeds reaches it."""
    run: str                        # a seed run: metrics/<task>/seeds/<run>.json (not swept: shown unmeasured)
    metric: Annotated[str, Field(pattern=r"^[a-z][a-z0-9_]*$")]  # a number of that file (accuracy, spam_f1, test_bpc)
    minus: str | None = None        # another seed run: the goal is on run - minus, paired seed by seed
    at_least: float | None = None
    at_most: float | None = None
    min_seeds: PosInt = 3           # fewer seeds settle nothing: the page says "not settled"
    source: str = ""                # who set it (an issue, a paper)
    note: str = ""                  # shown beside the verdict (how the setting that meets it was chosen, say)

    @model_validator(mode="after")
    def _one_bound(self):
        if (self.at_least is None) == (self.at_most is None):
            raise ValueError("a goal needs exactly one of at_least and at_most")
        return self


class Attempt(_Strict):
    """A change tried for a goal and not kept: measured once by whoever tried it, shown with its numbers."""
    change: str                     # what differed from the committed settings
    seeds: list[int] = Field(min_length=1)
    results: dict[str, float | str] = {}  # column -> number (or "mean ± std"); none: stopped before a result
    note: str = ""                  # when, where, why it stopped


class _Task(_Strict):
    """What every task has besides its kind's settings."""
    title: str = ""                 # heading on the compare page; "" = the task's name
    # its best model into the MLflow registry as PREFIX-<this name> (default: the task's); false: not registered
    register_as: Literal[False] | TaskName | None = None
    select_by: str | None = None    # dotted metrics key that ranks its variants; None = the kind's (rnnlab/kinds.py)
    goals: list[Goal] = []          # shown on the task's page with met / not met
    tried: list[Attempt] = []       # what was tried for the goals, outside the committed settings


class ReferenceRow(_Strict):
    """A published result shown under a task's table (a deck's figures)."""
    name: str
    accuracy: float
    precision: float
    recall: float
    f1: float
    epochs: PosInt | None = None


class NgramBaseline(_Strict):
    """The linear reference row of a classification table (rnnlab/ngrams.py, stage `<task>_baseline`)."""
    ngrams: Annotated[list[PosInt], Field(min_length=2, max_length=2)] = [1, 2]  # shortest and longest n-gram
    min_df: PosInt = 2              # n-grams in fewer training texts are dropped
    C: Annotated[float, Field(gt=0)] = 0.1  # inverse L2 strength of the logistic regression

    @model_validator(mode="after")
    def _ordered(self):
        if self.ngrams[0] > self.ngrams[1]:
            raise ValueError(f"ngrams: {self.ngrams} is [shortest, longest]")
        return self


class ClassifierTask(_Task):
    kind: Literal["classification"]
    positive: str | None = None     # the class whose precision / recall / F1 the table shows; None = the last label
    reference: list[ReferenceRow] = []
    corpus: CatalogName
    split: Split
    vocab: Vocab = Vocab()
    max_len: PosInt = 50
    max_rows: PosInt | None = None  # a stratified sample, for quick runs and tests
    embeddings: Embeddings
    models: list[Variant] = Field(min_length=1)
    inputs: list[InputMode] = Field(min_length=1)
    train: Train = Train()
    baseline: NgramBaseline = NgramBaseline()
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
    hidden: Width = 128
    embed_dim: Width | None = 32
    dropout: Annotated[float, Field(ge=0, lt=1)] = 0.3
    lr: Annotated[float, Field(gt=0, le=1)] = 3e-3
    batch: Batch = 16
    bptt: PosInt = 64
    clip: Annotated[float, Field(gt=0)] = 1.0
    max_epochs: PosInt = 60
    patience: PosInt = 4


class WindowLM(_Strict):
    window: PosInt = 40
    hidden: Width = 128
    lr: Annotated[float, Field(gt=0, le=1)] = 1e-3
    batch: Batch = 128
    max_epochs: PosInt = 10
    patience: PosInt = 2


class Generate(_Strict):
    length: PosInt = 400
    temperatures: list[Annotated[float, Field(gt=0, le=5)]] = Field(min_length=1)
    prompts: list[str] = Field(min_length=1)


class PretrainLM(_Strict):
    """The `pretrained` model: a stream LSTM that reads prose of the same language before the task's text."""
    corpus: CatalogName               # a corpus in catalog.yaml ...
    label: str | None = None          # ... and the rows of it with this label (None: all of them)
    max_chars: PosInt | None = None   # the first N characters only (quick runs and tests)
    hidden: Width = 256
    layers: Depth = 2
    epochs: PosInt = 5                # over the prose, all of them (validation bits/char is still logged)
    lr: Annotated[float, Field(gt=0, le=1)] = 3e-3
    batch: Batch = 32
    finetune_lr: Annotated[float, Field(gt=0, le=1)] = 1e-3  # then the task's text, with `stream`'s other settings


class PoetryTask(_Task):
    kind: Literal["charlm"]
    corpus: CatalogName
    val_poems: PosInt = 4
    test_poems: PosInt = 4
    models: list[Literal["lstm", "gru", "rnn", "deck", "pretrained"]] = Field(min_length=1)
    stream: StreamLM = StreamLM()
    deck: WindowLM = WindowLM()
    pretrain: PretrainLM | None = None
    generate: Generate
    seed_runs: list[str] = []       # models retrained with extra_seeds too (stage <task>_seeds)
    extra_seeds: list[int] = []

    @model_validator(mode="after")
    def _pretraining_named(self):
        if ("pretrained" in self.models) != (self.pretrain is not None):
            raise ValueError("the pretrained model and `pretrain:` (its prose corpus) go together: set both or neither")
        return self

    @model_validator(mode="after")
    def _seed_runs_are_models(self):
        for run in self.seed_runs:
            if run not in self.models:
                raise ValueError(f"seed_runs: {run!r} is not one of this task's models {self.models}")
        return self


class LettersCorpora(_Strict):
    books: CatalogName = "gutenberg_letter_authors"  # catalog names; both fetched by the download stage
    letters: CatalogName = "letters_sample"


class LettersSplit(_Strict):
    val: Fraction
    test: Fraction                      # the letter sample keeps its own test split
    max_per_book: PosInt | None = None  # a seeded sample of at most this many paragraphs per book
    # each book cut into this many contiguous runs of paragraphs, whole runs going to val and test, so
    # that character names and a chapter's vocabulary do not leak; null = paragraphs drawn at random
    blocks: Annotated[int, Field(ge=3, le=1000)] | None = None


class LettersTfidf(_Strict):
    max_features: PosInt = 5000


class LettersChars(_Strict):  # character n-grams: the standard authorship baseline
    # char: n-grams across word bounds too (spacing and punctuation habits); char_wb: within words
    analyzer: Literal["char", "char_wb"] = "char_wb"
    ngrams: Annotated[list[PosInt], Field(min_length=2, max_length=2)] = [2, 5]  # shortest, longest
    max_features: PosInt = 100_000
    min_df: PosInt = 2
    sublinear_tf: bool = True

    @model_validator(mode="after")
    def _ordered(self):
        if self.ngrams[0] > self.ngrams[1]:
            raise ValueError(f"ngrams {list(self.ngrams)}: the first is the shortest n-gram")
        return self


class LettersSbert(_Strict):
    model: CatalogName = "all_minilm_l6_v2"
    batch: Batch = 64
    max_tokens: PosInt = 128


class LettersStatic(_Strict):
    hidden: Width = 128
    dropout: Annotated[float, Field(ge=0, lt=1)] = 0.5
    batch: Batch = 64
    lr: Annotated[float, Field(gt=0, le=1)] = 1e-3
    max_epochs: PosInt = 20
    patience: PosInt = 3
    # author loss per row: `balanced` weighs each author by n / (7 * their rows) (Busch has one short
    # book); a real letter counts letters_weight times (159 letters beside ~7,000 book paragraphs)
    class_weight: Literal["none", "balanced"] = "none"
    letters_weight: Annotated[float, Field(gt=0, le=1000)] = 1.0
    # real letters' author head: none (the books' head scores them), add (a second head that only letters
    # train, added to the shared one: how letters differ from books, Daume's "frustratingly easy" domain
    # adaptation) or own (letters are scored by their own head alone; the books' head never sees them)
    letters_head: Literal["none", "add", "own"] = "none"
    letters_lr: Annotated[float, Field(gt=0, le=1)] | None = None  # that head's (null: lr); it sees few rows
    # on n-gram (chars) rows, an own head fitted before the network instead: L2-regularised logistic regression on
    # the training letters (convex: no seed, no epochs), its strength the value of letters_l2 with the best
    # letters_folds-fold cross-validated accuracy on them, the strongest of equals; null: trained with the network
    letters_l2: list[Annotated[float, Field(gt=0)]] | None = Field(None, min_length=1)
    letters_folds: Annotated[int, Field(ge=2, le=20)] = 5
    project: Width = 256  # sparse inputs (chars) are first projected to this many dimensions

    @model_validator(mode="after")
    def _fit_needs_own_head(self):
        if self.letters_l2 and self.letters_head != "own":
            raise ValueError(f"letters_l2 fits the letters' own head: set letters_head: own (it is {self.letters_head})")
        return self


class LettersFinetuned(LettersStatic):  # the deck: batch 32, 5 epochs, texts cut at 50 tokens
    batch: Batch = 32
    max_epochs: PosInt = 5
    max_len: PosInt = 50
    input: Literal["packed", "padded"] = "packed"
    vocab: Vocab = Vocab()
    oov_scale: Annotated[float, Field(ge=0)] = 0.6


class LettersTask(_Task):
    kind: Literal["letters"]
    corpora: LettersCorpora = LettersCorpora()
    glove: CatalogName = "glove_6b_50d"
    sbert: LettersSbert = LettersSbert()
    authors: list[str] = Field(min_length=2)  # the author head's classes; other authors' rows: language loss only
    lang_map: dict[str, str] = {}             # corpus language code -> label (Ibsen: no -> da)
    split: LettersSplit
    min_words: PosInt = 5
    features: list[Literal["tfidf", "chars", "word2vec", "glove", "sbert", "finetuned"]] = Field(min_length=1)
    models: list[LettersModel] = Field(min_length=1)
    tfidf: LettersTfidf = LettersTfidf()
    chars: LettersChars = LettersChars()
    word2vec: Word2Vec = Word2Vec()
    static: LettersStatic = LettersStatic()
    finetuned: LettersFinetuned = LettersFinetuned()
    # the headline runs (FEATURE-MODEL) retrained with extra seeds, reported as mean +- std (stage `<task>_seeds`)
    seed_runs: list[str] = []
    extra_seeds: list[int] = []

    @model_validator(mode="after")
    def _seed_runs_in_grid(self):
        grid = {f"{f}-{m}" for f in self.features for m in self.models}
        for run in self.seed_runs:
            if run not in grid:
                raise ValueError(f"seed_runs: {run!r} is not a run of this task's grid (features x models)")
        return self


class Attributions(_Strict):
    n_steps: Annotated[int, Field(ge=8, le=1000)] = 64  # Gauss-Legendre points per segment of the path
    max_steps: Annotated[int, Field(ge=8, le=65536)] = 4096  # cap on the points of one attribution
    max_delta: Annotated[float, Field(gt=0)] = 0.05    # completeness check: |sum(attr) - (F(x) - F(baseline))|
    strict: bool = False  # true: an attribution that misses max_delta fails the stage instead of being flagged
    sentences: list[str] = Field(min_length=1)


class DeckFigures(_Strict):
    validation_accuracy: dict[str, str] = {}  # variant of the first table's task -> as published
    p_positive: dict[str, float] = {}          # variant -> P(positive) of the first sentence


class AttributionTask(_Task):
    """Token attributions of trained classifiers side by side (deck 000's sentiment experiment)."""
    kind: Literal["attribution"]
    register_as: Literal[False] = False  # trains nothing
    tables: list[TaskName] = Field(min_length=1)  # the classification tasks whose tables its report shows
    attribution_runs: list[str] = Field(min_length=1)  # TASK/RUN of models in those tasks
    attributions: Attributions
    reference: DeckFigures = DeckFigures()

    @model_validator(mode="after")
    def _no_attempts(self):
        if self.tried or self.goals:
            raise ValueError("goals, tried: this page trains nothing; put them on the task in `tables` they are for")
        return self


class NewsHead(_Strict):
    variant: Variant = "rnn"
    hidden: Width = 128
    dropout: Annotated[float, Field(ge=0, lt=1)] = 0.2
    lr: Annotated[float, Field(gt=0, le=1)] = 1e-3
    batch: Batch = 64


class NewsFinetune(_Strict):
    lr: Annotated[float, Field(gt=0, le=1)] = 1e-5       # encoder weights
    head_lr: Annotated[float, Field(gt=0, le=1)] = 1e-4  # the RNN head
    warm_start: bool = True                              # head first trained on the frozen vectors
    layers: Depth | None = 1                            # top transformer layers trained; None = all weights
    batch: Batch = 32
    max_epochs: PosInt = 1


class NewsScheduler(_Strict):
    factor: Annotated[float, Field(gt=0, lt=1)] = 0.5
    patience: Annotated[int, Field(ge=0)] = 1


class NewsTask(_Task):
    kind: Literal["news"]
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
    # every variant retrained with these seeds too, reported as mean +- std (stage `<task>_seeds`)
    extra_seeds: list[int] = []


class Registry(_Strict):
    # registered models are named PREFIX-TASK; the best version carries ALIAS
    prefix: Annotated[str, Field(pattern=r"^[A-Za-z0-9][A-Za-z0-9_.-]*$")] = "rnnlab"
    alias: Annotated[str, Field(pattern=r"^[A-Za-z][A-Za-z0-9_-]*$")] = "champion"


Task = Annotated[Union[ClassifierTask, AttributionTask, PoetryTask, LettersTask, NewsTask], Field(discriminator="kind")]
KINDS = ("classification", "attribution", "letters", "news", "charlm")


# A seeds stage retrains the train stage's models with other seeds: it computes on the train stage's
# threads, so that every seed's numbers come from one setting (the thread count is part of the result).
SAME_COMPUTE = {"seeds": "train"}
Threads = Annotated[int, Field(ge=1, le=256)]
StepName = Annotated[str, Field(pattern=r"^[a-z][a-z0-9_]*$")]


class Params(_Strict):
    seed: Annotated[int, Field(ge=0, le=2**32 - 1)] = 42  # what numpy and scikit-learn accept
    # compute threads of each stage process by TASK_STEP or STEP (stages/<kind>/<step>.py), `default`
    # for the rest: part of the result (rnnlab/determinism.py), never taken from the host's core count
    threads: dict[StepName, Threads] = {"default": 1}
    # memory (GiB) a stage process may use, by the same keys: a scheduler packs stages by it; not
    # part of any result, so no stage depends on it
    memory_gb: dict[StepName, Annotated[float, Field(gt=0, le=4096)]] = {"default": 2.0}
    # where training, evaluation and attributions compute (rnnlab/device.py); part of their result
    device: Literal["cpu", "cuda", "auto"] = "cpu"
    download: Download
    tasks: dict[TaskName, Task] = Field(min_length=1)
    registry: Registry = Registry()

    @field_validator("threads", "memory_gb")
    @classmethod
    def _no_entry_for_a_step_that_reads_another(cls, table: dict) -> dict:
        for key in table:
            step = next((s for s in SAME_COMPUTE if key == s or key.endswith(f"_{s}")), None)
            if step:
                raise ValueError(f"{key}: a {step} stage reads its task's {SAME_COMPUTE[step]} entry; remove this one")
        return table

    @model_validator(mode="after")
    def _references(self):
        for name, table in (("threads", self.threads), ("memory_gb", self.memory_gb)):
            if "default" not in table:
                raise ValueError(f"{name}: needs a `default` (the value of every step not named)")
        for name, t in self.tasks.items():
            if isinstance(t, AttributionTask):
                for other in t.tables:
                    if not isinstance(self.tasks.get(other), ClassifierTask):
                        raise ValueError(f"tasks.{name}.tables: {other!r} is not a classification task")
                for run in t.attribution_runs:
                    owner = run.split("/", 1)[0]
                    if "/" not in run or owner not in t.tables:
                        raise ValueError(f"tasks.{name}.attribution_runs: {run!r} is not TASK/RUN of a task in tables")
        names = [registered_name(n, t) for n, t in self.tasks.items() if t.register_as is not False]
        if len(set(names)) != len(names):
            raise ValueError(f"tasks: two tasks register under one name ({', '.join(sorted(names))})")
        return self


def registered_name(name: str, t) -> str:
    """The name a task's champion is registered under (PREFIX-<this>), results/champions/<this>.json."""
    return t.register_as or name


def _describe(err: ValidationError, source: Path) -> str:
    first = err.errors()[0]
    loc = list(first["loc"])
    if len(loc) > 2 and loc[0] == "tasks" and loc[2] in KINDS:
        del loc[2]  # the kind tag pydantic adds after the task name: not a key
    # union members add pydantic's type tags (e.g. "constrained-float") to the path: not a key
    key = ".".join(str(p) for p in loc if not re.match(r"^(constrained-|literal\[|function-)", str(p)))
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
# YAML 1.2 floats without a dot before the exponent (`1e-05`, what ruamel writes for -S lr=0.00005):
# YAML 1.1 reads them as strings, and the strict schema would refuse them
Yaml12Loader.add_implicit_resolver("tag:yaml.org,2002:float",
                                   re.compile(r"^[-+]?(?:[0-9]+(?:\.[0-9]*)?|\.[0-9]+)[eE][-+]?[0-9]+$"),
                                   list("-+0123456789."))


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


def task(params: Params, name: str, kind: str | None = "classification"):
    """The settings of task NAME (of this kind, unless kind is None)."""
    t = params.tasks.get(name)
    if t is None or (kind and t.kind != kind):
        known = ", ".join(n for n, x in params.tasks.items() if not kind or x.kind == kind)
        raise RnnlabError(f"unknown {kind + ' ' if kind else ''}task {name!r} (params.yaml has: {known})")
    return t


def tasks_of(params: Params, kind: str) -> dict:
    return {n: t for n, t in params.tasks.items() if t.kind == kind}


def _names_catalog_entry(annotation) -> bool:
    if any(getattr(m, "func", None) is _catalog_name for m in getattr(annotation, "__metadata__", ())):
        return True
    return any(_names_catalog_entry(a) for a in typing.get_args(annotation))


def catalog_fields(model: BaseModel, prefix: str = "") -> list[str]:
    """Dotted paths of the settings that name a catalog entry (fields typed CatalogName) and are set."""
    paths = []
    for name, field in type(model).model_fields.items():
        value = getattr(model, name)
        if value is not None and (any(getattr(m, "func", None) is _catalog_name for m in field.metadata)
                                  or _names_catalog_entry(field.annotation)):
            paths.append(prefix + name)
        elif isinstance(value, BaseModel):
            paths += catalog_fields(value, f"{prefix}{name}.")
    return paths


def stage_compute(module: str, args: list[str]) -> tuple[str, str | None]:
    """(step, task) of the stage command `python -m MODULE ARGS`: a task kind's stage
    (stages.<kind>.<step> TASK ...) computes for its task; a project stage (stages.<step> NAME:
    download, register) for none, whatever its argument is called."""
    parts = module.split(".")
    return parts[-1], (args[0] if len(parts) == 3 and args else None)


def threads_key(threads: dict, step: str, task: str | None = None) -> str:
    """Which `threads` (or `memory_gb`) entry a stage reads: TASK_STEP, else STEP, else default."""
    step = SAME_COMPUTE.get(step, step)
    return next(k for k in (f"{task}_{step}" if task else "", step, "default") if k in threads)


def memory_for(params: Params, step: str, task: str | None = None) -> float:
    """GiB a stage process running stages/**/<step>.py (for TASK) may use."""
    return params.memory_gb[threads_key(params.memory_gb, step, task)]


def threads_for(params: Params, step: str, task: str | None = None) -> int:
    """The compute threads of a stage process running stages/**/<step>.py (for TASK)."""
    return params.threads[threads_key(params.threads, step, task)]
