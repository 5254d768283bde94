"""A task's goals and what was tried for them, on its results page (params `tasks.<task>.goals` / `tried`).

A goal is met when a seed run's mean over every seed reaches it (metrics/<task>/seeds/<run>.json): one
lucky seed does not meet it. An attempt is a change that was tried and not kept; its numbers were
measured by whoever tried it and are quoted, not recomputed, so the page says so."""

from __future__ import annotations

from rnnlab import params as P
from rnnlab import reports
from rnnlab.errors import RnnlabError


def section(task: str, cfg) -> str:
    """The goals table and the attempts table (either may be empty; then so is the section)."""
    parts = [_goals(task, cfg), _tried(cfg)]
    return "\n\n".join(p for p in parts if p)


def verdict(goal, mean: float) -> bool:
    """Met or not; rounded to the seeds file's 6 digits so that 0.995 - 1e-17 counts as 0.995."""
    mean = round(mean, 6)
    return mean >= goal.at_least if goal.at_least is not None else mean <= goal.at_most


def _goals(task: str, cfg) -> str:
    if not cfg.goals:
        return ""
    seeds = [P.load().seed, *cfg.extra_seeds]
    lines = ["Goals, each on a seed run's mean over seeds " + ", ".join(map(str, seeds)) + ":", "",
             "| goal | run | mean ± std | per seed | verdict | set by |", "|---|---|---|---|---|---|"]
    for goal in cfg.goals:
        bound = f"≥ {goal.at_least:g}" if goal.at_least is not None else f"≤ {goal.at_most:g}"
        if goal.run not in _swept(cfg):  # a narrowed grid (a quick experiment): say so rather than refuse to run
            lines.append(f"| `{goal.metric}` {bound} | {goal.run} | — | — | not measured: not a seed run here | {goal.source} |")
            continue
        sweep = reports.seed_sweep(task, goal.run, seeds)
        if f"{goal.metric}_mean" not in sweep:
            raise RnnlabError(f"params.yaml: tasks.{task}.goals: {goal.run} has no {goal.metric!r} in its seeds file "
                              f"(it has {', '.join(k[:-5] for k in sweep if k.endswith('_mean'))})")
        mean, std = sweep[f"{goal.metric}_mean"], sweep[f"{goal.metric}_std"]
        per = ", ".join(f"{sweep['per_seed'][str(s)][goal.metric]:.4f}" for s in sweep["seeds"])
        met = "**met**" if verdict(goal, mean) else "**not met**"
        lines.append(f"| `{goal.metric}` {bound} | {goal.run} | {mean:.4f} ± {std:.4f} | {per} | {met} | {goal.source} |")
    return "\n".join(lines)


def _swept(cfg) -> list[str]:
    """The runs the task's seeds stage retrains (news sweeps every variant)."""
    if not cfg.extra_seeds:
        return []
    return list(getattr(cfg, "seed_runs", None) or getattr(cfg, "variants", []))


def _tried(cfg) -> str:
    if not cfg.tried:
        return ""
    columns = list(dict.fromkeys(k for a in cfg.tried for k in a.results))
    lines = ["Tried for the goals and not kept (numbers as measured when tried; the settings above are the ones kept):", "",
             "| change from the settings above | seeds | " + " | ".join(columns) + " | note |",
             "|---|---|" + "---|" * len(columns) + "---|"]
    for a in cfg.tried:
        cells = [_cell(a.results.get(c)) for c in columns]
        lines.append(f"| {a.change} | {', '.join(map(str, a.seeds))} | " + " | ".join(cells) + f" | {a.note} |")
    return "\n".join(lines)


def _cell(value) -> str:
    if value is None:
        return "—"
    return f"{value:.4f}" if isinstance(value, float) else str(value)
