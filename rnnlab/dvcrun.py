"""Reproduce the DVC pipeline in this process, handing each stage to a callback.

The order and the stages come from dvc.yaml through DVC itself (its `repro_fn` hook, the one
`dvc exp run` uses), so an orchestrator wraps every stage without keeping a second DAG. One
in-process repo costs ~0.05 s a stage to check; a `dvc repro -s STAGE` subprocess costs ~1.3 s.
"""

from __future__ import annotations

import logging
import time
from contextlib import chdir, contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Iterator

RAN, RESTORED, UNCHANGED = "ran", "restored from run-cache", "unchanged"


@dataclass
class StageOutcome:
    stage: str
    status: str
    seconds: float
    log: list[str] = field(default_factory=list, repr=False)

    @property
    def changed(self) -> bool:
        return self.status != UNCHANGED


# on_stage(name, upstream names, run) -> StageOutcome; run() executes the stage (retry = call again)
StageHook = Callable[[str, list[str], Callable[[], StageOutcome]], StageOutcome]


class _DvcMessages(logging.Handler):
    """DVC's own progress lines ("Running stage", "is cached - skipping run") for one stage."""

    def __init__(self, on_line: Callable[[str], None] | None):
        super().__init__(logging.INFO)
        self.lines: list[str] = []
        self.on_line = on_line

    def emit(self, record: logging.LogRecord) -> None:
        line = record.getMessage()
        if not line.strip():
            return
        self.lines.append(line)
        if self.on_line:
            self.on_line(line)


@contextmanager
def dvc_messages(on_line: Callable[[str], None] | None = None) -> Iterator[_DvcMessages]:
    """Collect DVC's messages for one stage; with on_line, they go there instead of DVC's own handlers."""
    dvc_logger = logging.getLogger("dvc")
    saved = dvc_logger.level, dvc_logger.propagate, list(dvc_logger.handlers)
    handler = _DvcMessages(on_line)
    if on_line:
        for own in saved[2]:
            dvc_logger.removeHandler(own)
    dvc_logger.addHandler(handler)
    dvc_logger.setLevel(logging.INFO)
    dvc_logger.propagate = False  # a root handler (Prefect installs one) would print them again
    try:
        yield handler
    finally:
        dvc_logger.removeHandler(handler)
        dvc_logger.level, dvc_logger.propagate = saved[0], saved[1]
        for own in saved[2] if on_line else []:
            dvc_logger.addHandler(own)


def run_one(stage, kwargs: dict, on_line: Callable[[str], None] | None = None) -> StageOutcome:
    """Check one stage and run it (or restore it from the run-cache) if its inputs changed."""
    from dvc.repo.reproduce import _reproduce_stage  # what `dvc repro` does per stage: run, then dvc.lock

    start = time.monotonic()
    with dvc_messages(on_line) as messages:
        changed = _reproduce_stage(stage, **kwargs)
    restored = any("is cached - skipping run" in line for line in messages.lines)
    status = UNCHANGED if not changed else RESTORED if restored else RAN
    return StageOutcome(stage.addressing, status, time.monotonic() - start, messages.lines)


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


def reproduce(on_stage: StageHook, project: Path | str = ".", targets: list[str] | None = None,
              force: bool = False, on_line: Callable[[str], None] | None = None) -> list[StageOutcome]:
    """`dvc repro [--force] TARGETS`, every stage handed to on_stage in dependency order."""
    from dvc.repo import Repo

    outcomes: list[StageOutcome] = []

    def repro_fn(stage, **kwargs):
        upstream = [s.addressing for s in kwargs.get("upstream") or []]
        outcome = on_stage(stage.addressing, upstream, lambda: run_one(stage, kwargs, on_line))
        outcomes.append(outcome)
        return stage if outcome.changed else None

    with chdir(project), Repo(".") as repo:
        repo.reproduce(targets=targets or None, force=force, repro_fn=repro_fn)
    return outcomes


def _flatten(prefix: str, value, into: dict) -> None:
    if isinstance(value, dict):
        for key, inner in value.items():
            _flatten(f"{prefix}.{key}" if prefix else str(key), inner, into)
    elif isinstance(value, (int, float)) and not isinstance(value, bool):
        into[prefix] = value


def metrics_snapshot(project: Path | str = ".") -> dict[tuple[str, str], float]:
    """Every numeric metric of the workspace as {(file, dotted.key): value}."""
    from dvc.repo import Repo

    with chdir(project), Repo(".") as repo:
        files = repo.metrics.show().get("", {}).get("data", {})
    snapshot: dict[tuple[str, str], float] = {}
    for path, entry in files.items():
        flat: dict[str, float] = {}
        _flatten("", entry.get("data") or {}, flat)
        snapshot.update({(path, key): value for key, value in flat.items()})
    return snapshot


def metrics_changes(before: dict, after: dict) -> list[tuple[str, str, float | None, float | None]]:
    """(file, key, old, new) for every metric that appeared, vanished or moved."""
    keys = sorted(set(before) | set(after))
    return [(f, k, before.get((f, k)), after.get((f, k))) for f, k in keys if before.get((f, k)) != after.get((f, k))]
