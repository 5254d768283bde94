"""A run retrained with extra seeds: each seed's headline numbers and their spread (the `<task>_seeds` stages)."""

from __future__ import annotations

import statistics

KEYS = ("accuracy", "macro_f1")


def summary(report: dict) -> dict:
    """A test report's headline numbers (evaluation.report's shape)."""
    return {"accuracy": report["accuracy"], "macro_f1": report["macro_avg"]["f1_score"]}


def spread(per_seed: dict[int, dict], keys: tuple[str, ...] = KEYS) -> dict:
    """The seeds in order, each seed's numbers, and every number's mean and sample standard deviation."""
    out = {"seeds": list(per_seed), "per_seed": {str(s): v for s, v in per_seed.items()}}
    for key in keys:
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
