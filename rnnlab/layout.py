"""Where every stage reads and writes: the one place that knows the project's file layout."""

from __future__ import annotations

from pathlib import Path

DATA, MODELS, METRICS, PLOTS, RESULTS = Path("data"), Path("models"), Path("metrics"), Path("plots"), Path("results")
TIMINGS = Path("timings")


def raw(corpus: str) -> Path:
    return DATA / "raw" / corpus


def prepared(task: str) -> Path:
    return DATA / "prepared" / task


def vocab(task: str) -> Path:
    return DATA / "vocab" / task / "vocab.json"


def embedding(task: str, kind: str) -> Path:
    return DATA / "embeddings" / task / kind


def run_name(variant: str, embedding_kind: str, input_mode: str) -> str:
    return f"{variant}-{embedding_kind}-{input_mode}"


def model_dir(task: str, run: str) -> Path:
    return MODELS / task / run


def timing(task: str, run: str) -> Path:
    """How long a run trained: beside its model directory, not in it, so that a rerun that gives the
    same weights gives the same directory hash (and its evaluation is not rerun for a clock)."""
    return TIMINGS / task / f"{run}.json"


def summary(task: str) -> Path:
    """The task's few headline numbers, beside its folder of per-variant reports."""
    return METRICS / f"{task}.json"


def metrics(task: str, run: str) -> Path:
    return METRICS / task / f"{run}.json"


def plots(task: str, run: str) -> Path:
    return PLOTS / task / run


def attributions(task: str) -> Path:
    return RESULTS / "attributions" / task


def attribution_metrics(task: str) -> Path:
    return METRICS / task / "attributions.json"


def samples(task: str, variant: str) -> Path:
    """Generated text of a character LM: results/<task>-samples/<variant>.md."""
    return RESULTS / f"{task}-samples" / f"{variant}.md"


def resume_dir() -> Path:
    # outside every DVC output: DVC deletes a stage's outputs before it runs it again
    return Path(".rnnlab") / "resume"
