"""Flow `reproduce`: the DVC pipeline with one Prefect task per dvc.yaml stage.

    python -m pipelines.reproduce [STAGE ...] [--force]

DVC decides order and what is stale (no second DAG here); each stage becomes a task run named
after it, waiting on its upstream stages, with the stage's output in the task's logs. Download
stages retry. The flow run ends with a summary artifact: stages ran / restored / unchanged, and
every metric that changed.
"""

from __future__ import annotations

import argparse
import logging
import os
import time
from pathlib import Path

import pipelines  # noqa: F401  (environment defaults before Prefect loads)
from prefect import flow, get_run_logger, task
from prefect.artifacts import create_markdown_artifact
from prefect.cache_policies import NO_CACHE
from prefect.logging.handlers import APILogHandler
from prefect.logging.loggers import PrefectLogAdapter

from pipelines.settings import PROJECT
from rnnlab import dvcrun
from rnnlab.capture import tee_output

DOWNLOAD_RETRIES = 3


def _api_only_logger(run_logger: logging.LoggerAdapter) -> logging.LoggerAdapter:
    """Send stage output to the run's logs in Prefect but not to the console (it is already there)."""
    logger = logging.getLogger("rnnlab.stage")
    logger.propagate, logger.level = False, logging.INFO
    if not any(isinstance(h, APILogHandler) for h in logger.handlers):
        logger.addHandler(APILogHandler())
    return PrefectLogAdapter(logger, extra=dict(run_logger.extra))


@task(cache_policy=NO_CACHE, retry_delay_seconds=[5, 30, 120])
def run_stage(stage: str, run) -> dvcrun.StageOutcome:
    """One DVC stage: checked, then run or restored if stale; its output goes to this task's logs."""
    logger = _api_only_logger(get_run_logger())
    outcome = None
    try:
        with tee_output(logger.info):
            outcome = run()
    finally:
        if outcome is None or outcome.changed:  # its output reaches the API before the task run is finished
            APILogHandler().flush()
    get_run_logger().info("%s: %s in %.1f s", stage, outcome.status, outcome.seconds)
    return outcome


def _to_stderr(line: str) -> None:
    """DVC's messages, written where the stage's own output goes (captured by tee_output)."""
    os.write(2, (line + "\n").encode("utf-8", errors="replace"))


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
def reproduce(targets: list[str] | None = None, force: bool = False, project: str | None = None) -> dict:
    """Run `dvc repro` (optionally --force, optionally only TARGETS and their upstream) stage by stage.

    targets: dvc.yaml stage names (e.g. `sms_report`, `sms_train@lstm-glove-packed`); empty = the whole pipeline.
    force: rerun stages even if their inputs did not change.
    project: the DVC project's directory (default: this checkout).
    """
    root = Path(project or PROJECT)
    start, before = time.monotonic(), dvcrun.metrics_snapshot(root)
    states: dict[str, object] = {}

    def on_stage(name: str, upstream: list[str], run) -> dvcrun.StageOutcome:
        options = {"task_run_name": name, "retries": DOWNLOAD_RETRIES if name.startswith("download") else 0}
        state = run_stage.with_options(**options)(name, run, return_state=True,
                                                   wait_for=[states[u] for u in upstream if u in states])
        states[name] = state
        return state.result()  # a failed stage raises here and stops the pipeline, as `dvc repro` does

    outcomes = dvcrun.reproduce(on_stage, root, targets, force, on_line=_to_stderr)
    changes = dvcrun.metrics_changes(before, dvcrun.metrics_snapshot(root))
    seconds = time.monotonic() - start
    markdown = summary_markdown(outcomes, changes, seconds)
    create_markdown_artifact(markdown, key="reproduce-summary", description="stages run vs cached, metrics changed")
    get_run_logger().info("\n%s", markdown)
    return {"seconds": round(seconds, 1), "stages": {o.stage: o.status for o in outcomes},
            "metrics_changed": [f"{f}:{k}" for f, k, _, _ in changes]}


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("targets", nargs="*", help="dvc.yaml stages (default: all)")
    parser.add_argument("--force", action="store_true", help="rerun stages whose inputs did not change")
    parser.add_argument("--project", default=None, help="DVC project directory (default: this checkout)")
    args = parser.parse_args(argv)
    reproduce(targets=args.targets or None, force=args.force, project=args.project)


if __name__ == "__main__":
    main()
