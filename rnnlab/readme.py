"""The README's summary table: each task's headline numbers from metrics/<task>.json (written by its
report stage), its registered champion and what its stages cost (the committed stage times: each
stage as the run that made its committed outputs timed it), between the `<!-- summary -->` markers.

Run `python -m rnnlab.readme` after `dvc repro`; tests/test_readme.py fails while the README shows
other numbers than metrics/ and results/champions/.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

from rnnlab import goals, kinds, layout, metricsfile, parallel, reports
from rnnlab import params as P

README = Path("README.md")
BLOCK = re.compile(r"(<!-- summary -->\n).*?(<!-- /summary -->)", re.S)


def _champions() -> dict[str, dict]:
    """Task (its folder) -> its registry record (results/champions/): the variant registered as its
    champion and the score that chose it. The registry ranks the variants it can serve from text,
    which need not hold the best test row (letters)."""
    out = {}
    for path in sorted((layout.RESULTS / "champions").glob("*.json")):
        c = json.loads(path.read_text(encoding="utf-8"))
        out[Path(c["model_dir"]).parts[1]] = c  # its "task" is the registered name (sentiment for imdb_full)
    return out


def _over_seeds(name: str, task, variant: str, columns: dict[str, str]) -> str:
    """The champion's headline numbers as mean ± std over the seeds its seeds stage trained, or — without one.
    Only a run the settings still sweep: DVC leaves the file of a run dropped from seed_runs behind."""
    path = layout.METRICS / name / "seeds" / f"{variant}.json"
    if not (variant in reports.swept_runs(task) and path.is_file()):
        return "—"
    spread = metricsfile.read(path)
    numbers = []
    for heading, key in columns.items():
        k = reports._summary_key(key)
        if k + "_mean" in spread:
            numbers.append(f"{heading} {spread[k + '_mean']:.4f} ± {spread[k + '_std']:.4f}")
    return f"{' · '.join(numbers)} (seeds {', '.join(map(str, spread['seeds']))})" if numbers else "—"


def _stage_minutes() -> dict[str, float]:
    """Stage -> minutes, as the runs behind the committed results measured them (what `rnnlab repro` orders by on a fresh clone)."""
    return {k: v / 60 for k, v in parallel.committed_seconds().items()}


def _task_minutes(minutes: dict[str, float], task: str) -> float:
    return sum(m for stage, m in minutes.items() if stage.startswith(f"{task}_") or stage == f"register@{task}")


def table() -> str:
    params = P.load()
    champions, minutes = _champions(), _stage_minutes()
    lines = ["| task | headline numbers (best variant) | champion in the registry | champion over seeds (mean ± std) | "
             "stage time | full results |", "|---|---|---|---|---|---|"]
    for name, t in kinds.trained_tasks(params).items():
        path = layout.summary(name)
        if not path.is_file():
            continue
        summary = metricsfile.read(path)
        numbers = " · ".join(f"{heading} {summary[reports._summary_key(key)]:.4f}"
                             for heading, key in t.columns.items() if reports._summary_key(key) in summary)
        page = layout.RESULTS / f"{name}.md"
        c = champions.get(name)
        champion = f"{c['best_variant']} ({c['metric']} {c['score']:.4f})" if c else "—"
        seeds = _over_seeds(name, params.tasks[name], c["best_variant"], t.columns) if c else "—"
        lines.append(f"| {t.title} (`{name}`) | {numbers} | {champion} | {seeds} | "
                     f"{_task_minutes(minutes, name):.0f} min | [{page}]({page}) |")
    met = [f"{t.title}: {'; '.join(phrases)}" for name, t in kinds.trained_tasks(params).items()
           if (phrases := goals.summary(name, params.tasks[name], params.seed))]
    goal_line = ("\nGoals, each on the mean over seeds (the pages list them with what was tried for those not met): "
                 + " · ".join(met) + ".\n") if met else ""
    total = (f"\nStage time: a task's stages one after another, as the runs behind the committed results timed them: "
             f"{sum(minutes.values()):.0f} min for all {len(minutes)} stages (`{parallel.COMMITTED_SECONDS}`; those runs "
             "were not all on one host, and hosts differ in speed). "
             "`rnnlab repro` runs independent stages side by side.\n")
    return "\n".join(lines) + "\n" + goal_line + (total if minutes else "")


def render(readme: str) -> str:
    return BLOCK.sub(lambda m: m.group(1) + table() + m.group(2), readme)


if __name__ == "__main__":
    README.write_text(render(README.read_text(encoding="utf-8")), encoding="utf-8")
