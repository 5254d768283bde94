"""Reading a run's metrics file (metrics/<task>/<run>.json), the whole report or one dotted key, and
its training record (the model directory's train.json with the run's timings/<task>/<run>.json)."""

from __future__ import annotations

import json
from pathlib import Path

from rnnlab.errors import RnnlabError


def read(path: Path) -> dict:
    try:
        data = json.loads(Path(path).read_text(encoding="utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as e:
        raise RnnlabError(f"{path}: not a valid metrics file ({str(e).splitlines()[0]})") from None
    if not isinstance(data, dict):
        raise RnnlabError(f"{path}: not a valid metrics file (not a JSON object)")
    return data


def trained(task: str, run: str) -> dict:
    """What training recorded (epochs, history, parameters) with how long it took."""
    from rnnlab import layout

    return {**read(layout.model_dir(task, run) / "train.json"), **read(layout.timing(task, run))}


def clock(task: str, run: str) -> dict:
    """How long the run trained, for MLflow: {} where the timing is not here (a model restored from
    the cache). An evaluation does not depend on it, so a retrain that gives the same weights does
    not rerun the evaluation for a clock."""
    from rnnlab import layout

    path = layout.timing(task, run)
    return read(path) if path.is_file() else {}


def value(metrics: dict, key: str) -> float | None:
    """'macro_avg.f1_score' -> metrics["macro_avg"]["f1_score"] as a float; None where there is no such number."""
    for part in key.split("."):
        if not isinstance(metrics, dict) or part not in metrics:
            return None
        metrics = metrics[part]
    return float(metrics) if isinstance(metrics, (int, float)) and not isinstance(metrics, bool) else None
