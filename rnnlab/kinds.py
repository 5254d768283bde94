"""Task kinds: what a task of each kind trains, how its variants are ranked and shown.

A task in params.yaml names its kind; the kind's stages live in stages/<kind>/ (their pipeline
template in stages/<kind>/stages.yaml). A task may override `select_by` and `title`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable

from rnnlab import params as P


def _classification_runs(t) -> list[str]:
    return [f"{m}-{e}-{i}" for m in t.models for e in t.embeddings.kinds for i in t.inputs]  # layout.run_name


@dataclass(frozen=True)
class Kind:
    name: str
    select_by: str | None  # default ranking metric (dotted key in a variant's metrics file); None: trains nothing
    columns: dict[str, str] = field(default_factory=dict)  # compare page: heading -> metric key
    higher_is_better: bool = True
    servable: str = "*"  # the variants that answer from raw text (registry candidates)
    runs: Callable[[object], list[str]] = lambda t: []  # the variants a task's settings train (its metrics files)
    curves: tuple[str, ...] = ("train_loss", "val_loss")  # history.csv columns dvc.yaml's plots overlay


KINDS = {
    "classification": Kind("classification", "macro_avg.f1_score",
                           {"accuracy": "accuracy", "macro F1": "macro_avg.f1_score"}, runs=_classification_runs),
    # static-feature letters models read vectors fitted inside the features stage, not text
    "letters": Kind("letters", "author_macro_f1", {"author macro F1": "author_macro_f1",
                                                   "books: author macro F1": "books_author_macro_f1",
                                                   "letters: author accuracy": "letters_author_accuracy",
                                                   "language accuracy": "lang_accuracy"}, servable="finetuned-*",
                    runs=lambda t: [f"{f}-{m}" for f in t.features for m in t.models]),  # letters.run_name
    "news": Kind("news", "macro_f1", {"macro F1": "macro_f1", "accuracy": "accuracy"}, runs=lambda t: list(t.variants)),
    "charlm": Kind("charlm", "val_bpc", {"validation bits/char": "val_bpc", "test bits/char": "test_bpc"},
                   higher_is_better=False, runs=lambda t: list(t.models), curves=("train_bpc", "val_bpc")),
    "attribution": Kind("attribution", None),
}


@dataclass(frozen=True)
class TrainedTask:
    """A task that trains variants: where they are, how they rank, where its champion is registered."""
    name: str           # folder under models/ and metrics/
    kind: Kind
    title: str
    metric: str
    columns: dict[str, str]  # compare page: the ranking metric first
    registered_as: str | None
    runs: tuple[str, ...] = ()  # every variant its settings train, whose metrics files are versioned

    @property
    def experiment(self) -> str:
        return f"rnnlab-{self.name}"


def trained_tasks(params: P.Params | None = None) -> dict[str, TrainedTask]:
    """Every task of params.yaml that trains models, in params order."""
    params = params or P.load()
    out = {}
    for name, t in params.tasks.items():
        kind = KINDS[t.kind]
        if kind.select_by is None:
            continue
        metric = t.select_by or kind.select_by
        columns = {_heading(metric, kind): metric, **{h: k for h, k in kind.columns.items() if k != metric}}
        if getattr(t, "positive", None):
            columns[f"{t.positive} F1"] = f"{t.positive.replace(' ', '_')}.f1_score"  # as evaluation.report keys it
        out[name] = TrainedTask(name, kind, t.title or name, metric, columns,
                                None if t.register_as is False else P.registered_name(name, t), tuple(kind.runs(t)))
    return out


def _heading(metric: str, kind: Kind) -> str:
    return next((h for h, k in kind.columns.items() if k == metric), metric)


def by_registered_name(name: str, params: P.Params | None = None) -> TrainedTask:
    """The task whose champion is registered as NAME (`rnnlab predict NAME`, `rnnlab register NAME`)."""
    from rnnlab.errors import RnnlabError

    tasks = trained_tasks(params)
    found = [t for t in tasks.values() if t.registered_as == name]
    if not found:
        known = ", ".join(t.registered_as for t in tasks.values() if t.registered_as)
        raise RnnlabError(f"unknown task {name!r} (registered tasks in params.yaml: {known})")
    return found[0]
