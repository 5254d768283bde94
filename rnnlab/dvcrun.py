"""DVC's view of the pipeline, read in this process: stage order, the DAG, stage outcomes, metrics.

The order and the stages come from dvc.yaml through DVC itself, so an orchestrator (rnnlab/parallel.py,
the Prefect flows) keeps no second DAG. One in-process repo costs ~0.05 s a stage to check; a
`dvc repro -s STAGE` subprocess costs ~1.3 s.
"""

from __future__ import annotations

from contextlib import chdir
from dataclasses import dataclass
from pathlib import Path

RAN, RESTORED, UNCHANGED = "ran", "restored from run-cache", "unchanged"


@dataclass
class StageOutcome:
    stage: str
    status: str
    seconds: float

    @property
    def changed(self) -> bool:
        return self.status != UNCHANGED


def stage_order(project: Path | str = ".", targets: list[str] | None = None) -> list[str]:
    """The stages `dvc repro TARGETS` would visit, upstream first."""
    from dvc.repo import Repo
    from dvc.repo.reproduce import get_active_graph, plan_repro

    with chdir(project), Repo(".") as repo:  # DVC reads targets relative to the working directory
        stages = [s for t in (targets or ["dvc.yaml"]) for s in repo.stage.collect(t)]
        return [s.addressing for s in plan_repro(get_active_graph(repo.index.graph), stages)]


def stage_graph(project: Path | str = ".") -> dict[str, list[str]]:
    """Every stage of dvc.yaml -> the stages whose outputs it depends on (DVC's own DAG)."""
    from dvc.repo import Repo

    with chdir(project), Repo(".") as repo:
        graph = repo.index.graph  # an edge runs from a stage to a stage it depends on
        return {s.addressing: sorted(d.addressing for d in graph.successors(s)) for s in graph.nodes}


def _flatten(prefix: str, value, into: dict) -> None:
    if isinstance(value, dict):
        for key, inner in value.items():
            _flatten(f"{prefix}.{key}" if prefix else str(key), inner, into)
    elif isinstance(value, (int, float)) and not isinstance(value, bool):
        into[prefix] = value


def metrics_snapshot(project: Path | str = ".") -> dict[tuple[str, str], float]:
    """Every numeric metric of the workspace as {(file, dotted.key): value}: DVC's metrics (each
    task's summary) and the per-run reports under metrics/ (plain outputs DVC does not list)."""
    import json

    from dvc.repo import Repo

    with chdir(project), Repo(".") as repo:
        files = {path: entry.get("data") or {} for path, entry in repo.metrics.show().get("", {}).get("data", {}).items()}
    for report in sorted(Path(project, "metrics").rglob("*.json")):
        path = report.relative_to(project).as_posix()
        try:
            files.setdefault(path, json.loads(report.read_text(encoding="utf-8")))
        except (OSError, ValueError):
            continue
    snapshot: dict[tuple[str, str], float] = {}
    for path, data in files.items():
        flat: dict[str, float] = {}
        _flatten("", data if isinstance(data, dict) else {}, flat)
        snapshot.update({(path, key): value for key, value in flat.items()})
    return snapshot


def metrics_changes(before: dict, after: dict) -> list[tuple[str, str, float | None, float | None]]:
    """(file, key, old, new) for every metric that appeared, vanished or moved."""
    keys = sorted(set(before) | set(after))
    return [(f, k, before.get((f, k)), after.get((f, k))) for f, k in keys if before.get((f, k)) != after.get((f, k))]
