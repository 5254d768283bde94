"""Issue 7, item 5: what the pipeline machinery costs when nothing has to run.

    no-op `dvc repro` of the full pipeline   vs   no-op `dvc repro` of a one-stage project (DVC's fixed cost)
    no-op `rnnlab repro` of the full pipeline vs  the same `dvc repro` (rnnlab/noop.py's shortcut)
    per-stage cost of the check              = (full - one-stage) / stages
    Prefect's reproduce flow, no-op          vs   the same `dvc repro` (with --prefect; ~20 s a repeat)

Run from the project root after `dvc repro` (everything up to date):
    .venv/bin/python -m benchmarks.pipeline [--quick] [--prefect]
"""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
from pathlib import Path

from benchmarks import common

ENV = {**os.environ, "DVC_NO_ANALYTICS": "1", "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}"}


def dvc_repro(cwd: Path) -> None:
    done = subprocess.run([sys.executable, "-m", "dvc", "repro", "-q"], cwd=cwd, env=ENV, capture_output=True, text=True)
    if done.returncode != 0 or "Running stage" in done.stdout:
        raise SystemExit(f"{cwd}: `dvc repro` is not a no-op here:\n{done.stdout[-500:]}{done.stderr[-500:]}")


def rnnlab_repro(cwd: Path) -> None:
    done = subprocess.run([str(Path(sys.executable).parent / "rnnlab"), "repro"], cwd=cwd, env=ENV,
                          capture_output=True, text=True)
    if done.returncode != 0 or "Running stage" in done.stdout:
        raise SystemExit(f"{cwd}: `rnnlab repro` is not a no-op here:\n{done.stdout[-500:]}{done.stderr[-500:]}")


def one_stage_project(root: Path) -> Path:
    """The smallest DVC project: one stage, up to date (DVC's import, repo load and lock per call)."""
    for cmd in (["git", "init", "-q"], [sys.executable, "-m", "dvc", "init", "-q"]):
        subprocess.run(cmd, cwd=root, env=ENV, check=True, capture_output=True)
    (root / "in.txt").write_text("x\n")
    (root / "dvc.yaml").write_text("stages:\n  copy:\n    cmd: cp in.txt out.txt\n    deps: [in.txt]\n    outs: [out.txt]\n")
    subprocess.run([sys.executable, "-m", "dvc", "repro", "-q"], cwd=root, env=ENV, check=True, capture_output=True)
    return root


def stage_count() -> int:
    out = subprocess.run([sys.executable, "-m", "dvc", "stage", "list"], cwd=common.ROOT, env=ENV,
                         capture_output=True, text=True, check=True).stdout
    return len(out.splitlines())


def prefect_noop() -> None:
    done = subprocess.run([sys.executable, "-m", "pipelines.reproduce"], cwd=common.ROOT, env=ENV,
                          capture_output=True, text=True)
    if done.returncode != 0:
        raise SystemExit(f"reproduce flow failed:\n{done.stderr[-1000:]}")


def main() -> None:
    p = common.parser(__doc__.splitlines()[0], repeats=7, quick_repeats=3)
    p.add_argument("--prefect", action="store_true", help="also time the Prefect reproduce flow (slow)")
    args = common.setup(p.parse_args())
    info = common.machine()
    stages = stage_count()
    with tempfile.TemporaryDirectory() as tmp:
        small = one_stage_project(Path(tmp))
        fns = {"full": lambda: dvc_repro(common.ROOT), "one": lambda: dvc_repro(small),
               "rnnlab": lambda: rnnlab_repro(common.ROOT)}  # its warm-up run notes the verdict
        if args.prefect:
            fns["prefect"] = prefect_noop
        t = common.interleaved(fns, args.repeats, warmup=1)
    rows = [
        common.row(f"no-op dvc repro, {stages} stages (s)", t["full"], t["one"], "s", note=(
            "target: <= 1.5 s absolute; baseline = a one-stage project (DVC's own start-up)")),
        common.row("no-op check per stage (ms)", 1000 * (t["full"] - t["one"]) / (stages - 1), None, "ms"),
        common.row(f"no-op rnnlab repro, {stages} stages (s)", t["rnnlab"], t["full"], "s",
                   note="baseline = the same dvc repro; target: <= 1.5 s absolute"),
    ]
    if args.prefect:
        rows.append(common.row("reproduce flow, no-op (s)", t["prefect"], t["full"], "s",
                               note="baseline = the same dvc repro; the difference is Prefect's start + per-task cost"))
        rows.append(common.row("Prefect cost per stage (ms)", 1000 * (t["prefect"] - t["full"]) / stages, None, "ms"))
    common.report(rows, args, "Pipeline machinery, nothing to run", info, {"stages": stages, "seconds": t})
    for name, key in (("dvc repro", "full"), ("rnnlab repro", "rnnlab")):
        print(f"target no-op <= 1.5 s, {name}: {'met' if t[key] <= 1.5 else 'NOT met'} ({t[key]:.2f} s)")


if __name__ == "__main__":
    main()
