"""A task's goals and what was tried for them, on its results page (params `tasks.<task>.goals` / `tried`).

A goal is met when a seed run's mean over every seed reaches it (metrics/<task>/seeds/<run>.json): one
lucky seed does not meet it. An attempt is a change that was tried and not kept; its numbers were
measured by whoever tried it and are quoted, not recomputed, so the page says so."""

from __future__ import annotations

from rnnlab import layout, reports, seedstats
from rnnlab.errors import RnnlabError


def section(task: str, cfg, seed: int) -> str:
    """The goals table and the attempts table (either may be empty; then so is the section); `seed` is
    params' seed, the first of every sweep."""
    parts = [_goals(task, cfg, seed), _tried(cfg)]
    return "\n\n".join(p for p in parts if p)


def verdict(goal, mean: float) -> bool:
    """Met or not; rounded to the seeds file's 6 digits so that 0.995 - 1e-17 counts as 0.995."""
    mean = round(mean, 6)
    return mean >= goal.at_least if goal.at_least is not None else mean <= goal.at_most


def _goals(task: str, cfg, seed: int) -> str:
    if not cfg.goals:
        return ""
    seeds = [seed, *cfg.extra_seeds]
    lines = ["Goals, each on a seed run's mean over seeds " + ", ".join(map(str, seeds)) + ":", "",
             "| goal | run | mean ± std | per seed | verdict | set by |", "|---|---|---|---|---|---|"]
    for goal in cfg.goals:
        sweep = measure(task, cfg, goal, seeds)
        if sweep is None:  # a narrowed grid (a quick experiment): say so rather than refuse to run
            lines.append(f"| {bound(goal)} | {_runs(goal)} | — | — | not measured: no seed sweep of {_runs(goal)} here "
                         f"(tasks.{task}.seed_runs, extra_seeds) | {goal.source} |")
            continue
        per = ", ".join(f"{sweep['per_seed'][str(s)][goal.metric] + 0.0:{'+' if goal.minus else ''}.4f}"
                        for s in sweep["seeds"])
        verdict_text = _verdict_text(goal, sweep) + (f" ({goal.note})" if goal.note else "")
        lines.append(f"| {bound(goal)} | {_runs(goal)} | {_number(goal, sweep)} ± {_number(goal, sweep, 'std')} | {per} "
                     f"| {verdict_text} | {goal.source} |")
    return "\n".join(lines)


def summary(task: str, cfg, seed: int) -> list[str]:
    """One phrase per goal, for the README: `accuracy` of bilstm-max-glove-bucketed ≥ 0.91 not met (0.8946)."""
    out = []
    for goal in cfg.goals:
        sweep = measure(task, cfg, goal, [seed, *cfg.extra_seeds])
        what = f"`{goal.metric}` of {_runs(goal)} {_limit(goal)}"
        out.append(f"{what} not measured" if sweep is None else
                   f"{what} {_verdict_text(goal, sweep).replace('**', '')} ({_number(goal, sweep)})")
    return out


def bound(goal) -> str:
    """The goal as the table's first column: `macro_f1` finetuned − frozen ≥ 0.02."""
    return f"`{goal.metric}`" + (f" {goal.run} − {goal.minus}" if goal.minus else "") + f" {_limit(goal)}"


def _limit(goal) -> str:
    return f"≥ {goal.at_least:g}" if goal.at_least is not None else f"≤ {goal.at_most:g}"


def _number(goal, sweep: dict, key: str = "mean") -> str:
    """A sweep's mean (or std) as the page shows it: 4 digits, 6 where 4 would round onto the bound."""
    value = sweep[f"{goal.metric}_{key}"] + 0.0  # + 0.0: no "-0.0000"
    edge = goal.at_least if goal.at_least is not None else goal.at_most
    digits = 6 if key == "mean" and abs(value - edge) < 5e-5 else 4
    return f"{value:+.{digits}f}" if goal.minus and key == "mean" else f"{value:.{digits}f}"


def _runs(goal) -> str:
    return f"{goal.run} − {goal.minus}, paired by seed" if goal.minus else goal.run


def _verdict_text(goal, sweep: dict) -> str:
    n = len(sweep["seeds"])
    if n < goal.min_seeds:
        return f"not settled: {n} seed{'s' * (n > 1)}, the goal asks for {goal.min_seeds}"
    return "**met**" if verdict(goal, sweep[f"{goal.metric}_mean"]) else "**not met**"


def measure(task: str, cfg, goal, seeds: list[int]) -> dict | None:
    """The goal's run's seeds file (with `minus`: the seed-by-seed differences in the same shape), or None
    where no seeds stage retrains the runs (or has yet to)."""
    runs = [goal.run, *([goal.minus] if goal.minus else [])]
    swept = set(reports.swept_runs(cfg))
    if not all(run in swept and (layout.METRICS / task / "seeds" / f"{run}.json").is_file() for run in runs):
        return None  # not a seed run here, or its seeds stage has not run yet
    a, *b = (_sweep_with(task, run, goal, seeds) for run in runs)
    if not b:
        return a
    diffs = {s: {goal.metric: a["per_seed"][s][goal.metric] - b[0]["per_seed"][s][goal.metric]} for s in a["per_seed"]}
    return seedstats.spread({s: diffs[str(s)] for s in a["seeds"]})


def _sweep_with(task: str, run: str, goal, seeds: list[int]) -> dict:
    sweep = reports.seed_sweep(task, run, seeds)
    if f"{goal.metric}_mean" not in sweep:
        raise RnnlabError(f"params.yaml: tasks.{task}.goals: {run} has no {goal.metric!r} in its seeds file "
                          f"(it has {', '.join(k[:-5] for k in sweep if k.endswith('_mean'))})")
    return sweep


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
