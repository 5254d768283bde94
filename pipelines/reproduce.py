"""Flow `reproduce`: the DVC pipeline with one Prefect task per dvc.yaml stage.

    python -m pipelines.reproduce [STAGE ...] [--force] [--jobs N]

DVC decides order and what is stale (no second DAG here); independent stages run at once up to N
compute threads (rnnlab/parallel.py). Each stage becomes a task run named after it, waiting on its
upstream stages, with the stage's output in the task's logs; the Prefect UI shows concurrent stages
side by side. Download stages retry. The flow run ends with a summary artifact: stages ran /
restored / unchanged, and every metric that changed.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import pipelines  # noqa: F401  (environment defaults before Prefect loads)
from prefect import flow, get_run_logger, task
from prefect.artifacts import create_markdown_artifact
from prefect.cache_policies import NO_CACHE
from prefect.logging.handlers import APILogHandler

from pipelines.settings import PROJECT
from rnnlab import dvcrun, noop, parallel

DOWNLOAD_RETRIES = 3


@task(cache_policy=NO_CACHE, retry_delay_seconds=[5, 30, 120])
def run_stage(stage: str, run) -> None:
    """One stale DVC stage's command; its output goes to this task's logs (parallel.reproduce's on_output)."""
    try:
        code = run()
    finally:
        APILogHandler().flush()  # the output reaches the API before the task run is finished
    if code != 0:
        raise RuntimeError(f"{stage}: the command exited with {code}")


@task(cache_policy=NO_CACHE)
def checked_stage(stage: str, status: str) -> None:
    """A stage DVC found up to date, or restored from the run-cache without running it."""
    get_run_logger().info("%s: %s", stage, status)


class _Tasks:
    """Task runs for the stages of one flow run, each waiting on those of its upstream stages."""

    def __init__(self, upstream: dict[str, list[str]]):
        self.upstream, self.states = upstream, {}

    def waits(self, stage: str) -> list:
        return [self.states[u] for u in self.upstream.get(stage, []) if u in self.states]

    def command(self, stage: str, upstream: list[str], run) -> int:  # in a runner thread, in this flow run
        options = {"task_run_name": stage, "retries": DOWNLOAD_RETRIES if stage.startswith("download") else 0}
        state = run_stage.with_options(**options)(stage, run, return_state=True, wait_for=self.waits(stage))
        self.states[stage] = state
        return 0 if state.is_completed() else 1

    def outcome(self, outcome: dvcrun.StageOutcome) -> None:
        if outcome.stage not in self.states:  # not run: a task run says what DVC found
            self.states[outcome.stage] = checked_stage.with_options(task_run_name=outcome.stage)(
                outcome.stage, outcome.status, return_state=True, wait_for=self.waits(outcome.stage))
        get_run_logger().info("%s: %s in %.1f s", outcome.stage, outcome.status, outcome.seconds)


def _log_output(stage: str, text: str) -> None:
    """A stage's output line, into the task run it belongs to (the flow run's log for DVC's own lines)."""
    get_run_logger().info("%s", text.rstrip("\n"))


def _fmt(value: float | None) -> str:
    return "—" if value is None else f"{value:.4g}"


def summary_markdown(outcomes: list[dvcrun.StageOutcome], changes: list, seconds: float) -> str:
    counts = {status: sum(o.status == status for o in outcomes) for status in (dvcrun.RAN, dvcrun.RESTORED, dvcrun.UNCHANGED)}
    lines = [f"## reproduce: {len(outcomes)} stages in {seconds:.1f} s",
             "", " · ".join(f"**{n}** {status}" for status, n in counts.items()), ""]
    changed = [o for o in outcomes if o.changed]
    if changed:
        lines += ["| stage | outcome | seconds |", "|---|---|---:|"]
        lines += [f"| {o.stage} | {o.status} | {o.seconds:.1f} |" for o in changed]
    lines += ["", f"### metrics changed: {len(changes)}", ""]
    if changes:
        lines += ["| file | metric | before | after |", "|---|---|---:|---:|"]
        lines += [f"| {f} | {k} | {_fmt(old)} | {_fmt(new)} |" for f, k, old, new in changes]
    return "\n".join(lines) + "\n"


@flow(name="reproduce", log_prints=True)
def reproduce(targets: list[str] | None = None, force: bool = False, project: str | None = None,
              jobs: int | None = None, address: str | None = None) -> dict:
    """Run `dvc repro` (optionally --force, optionally only TARGETS and their upstream), stage by stage.

    targets: dvc.yaml stage names (e.g. `sms_report`, `sms_train@lstm-glove-packed`); empty = the whole pipeline.
    force: rerun stages even if their inputs did not change.
    project: the DVC project's directory (default: this checkout).
    jobs: compute threads to fill with independent stages at once (params.yaml's `threads` per stage);
        default 1, one stage at a time.
    address: a Dask scheduler (tcp://host:port) whose workers share the workspace run the commands;
        jobs then defaults to the cluster's threads.
    """
    root = Path(project or PROJECT)
    whole = not targets and not force
    if whole and noop.up_to_date(root):  # as `rnnlab repro`: no stage's check, nothing ran (rnnlab/noop.py)
        get_run_logger().info("%s", noop.UP_TO_DATE)
        create_markdown_artifact(f"## reproduce: up to date\n\n{noop.UP_TO_DATE}\n", key="reproduce-summary",
                                 description="stages run vs cached, metrics changed")
        return {"seconds": 0.0, "stages": {}, "metrics_changed": [], "up_to_date": True}
    noop.forget(root)
    start, before = time.monotonic(), dvcrun.metrics_snapshot(root)
    tasks = _Tasks(dvcrun.stage_graph(root))
    outcomes = parallel.reproduce(root, targets, force, jobs=jobs or (None if address else 1), address=address,
                                  hook=tasks.command, on_output=_log_output, on_outcome=tasks.outcome)
    if whole:
        noop.record(root)
    changes = dvcrun.metrics_changes(before, dvcrun.metrics_snapshot(root))
    seconds = time.monotonic() - start
    markdown = summary_markdown(outcomes, changes, seconds)
    create_markdown_artifact(markdown, key="reproduce-summary", description="stages run vs cached, metrics changed")
    get_run_logger().info("\n%s", markdown)
    APILogHandler().flush()  # a served flow's process may be stopped as soon as the run is finished
    return {"seconds": round(seconds, 1), "stages": {o.stage: o.status for o in outcomes},
            "metrics_changed": [f"{f}:{k}" for f, k, _, _ in changes]}


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("targets", nargs="*", help="dvc.yaml stages (default: all)")
    parser.add_argument("--force", action="store_true", help="rerun stages whose inputs did not change")
    parser.add_argument("--project", default=None, help="DVC project directory (default: this checkout)")
    parser.add_argument("-j", "--jobs", type=int, default=None,
                        help="compute threads to fill with independent stages (default 1: one stage at a time)")
    parser.add_argument("--address", help="run the stage commands on this Dask scheduler's workers (tcp://host:port), "
                                           "which share the workspace")
    args = parser.parse_args(argv)
    reproduce(targets=args.targets or None, force=args.force, project=args.project, jobs=args.jobs, address=args.address)


if __name__ == "__main__":
    main()
