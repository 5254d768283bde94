"""A run retrained with extra seeds: each seed's headline numbers and their spread (the `<task>_seeds` stages)."""

from __future__ import annotations

import statistics

def summary(report: dict, positive: str | None = None) -> dict:
    """A test report's headline numbers (evaluation.report's shape); with `positive`, that class's F1 too,
    under the key the task's summary gives it (spam -> spam_f1)."""
    out = {"accuracy": report["accuracy"], "macro_f1": report["macro_avg"]["f1_score"]}
    if positive:
        key = positive.replace(" ", "_")  # as evaluation.report keys a class
        out[f"{key}_f1"] = report[key]["f1_score"]
    return out


def spread(per_seed: dict[int, dict], keys: tuple[str, ...] | None = None) -> dict:
    """The seeds in order, each seed's numbers, and every number's mean and sample standard deviation
    (of `keys`; all the numbers the seeds have by default)."""
    out = {"seeds": list(per_seed), "per_seed": {str(s): v for s, v in per_seed.items()}}
    for key in keys or next(iter(per_seed.values())):
        values = [v[key] for v in per_seed.values()]
        out[f"{key}_mean"] = round(statistics.fmean(values), 6)
        out[f"{key}_std"] = round(statistics.stdev(values), 6) if len(values) > 1 else 0.0
    return out


def check_extra_seeds(task: str, seed: int, extra_seeds: list[int]) -> None:
    """The default seed always comes first (its run is the train stage's); no seed twice."""
    from rnnlab.errors import RnnlabError

    if seed in extra_seeds or len(set(extra_seeds)) < len(extra_seeds):
        raise RnnlabError(f"params.yaml: tasks.{task}.extra_seeds {extra_seeds} repeats a seed "
                          f"(the default seed {seed} is always the first)")
