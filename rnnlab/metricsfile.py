"""Reading a run's metrics file (metrics/<task>/<run>.json): the whole report, or one dotted key."""

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


def value(metrics: dict, key: str) -> float | None:
    """'macro_avg.f1_score' -> metrics["macro_avg"]["f1_score"] as a float; None where there is no such number."""
    for part in key.split("."):
        if not isinstance(metrics, dict) or part not in metrics:
            return None
        metrics = metrics[part]
    return float(metrics) if isinstance(metrics, (int, float)) and not isinstance(metrics, bool) else None
