"""DVC experiment grids run in clones, so that any machine with git, the project and a shared
DVC cache or remote can run one: clone the baseline commit, `dvc exp run -S ...`, `dvc exp push`.

The driver's repository (or any git remote the workers can push to) is `origin`; results come
back as experiment refs, read with `dvc exp show --json`.
"""

from __future__ import annotations

import itertools
import json
import os
import re
import shutil
import socket
import subprocess
import time
from contextlib import chdir
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Callable

from rnnlab.capture import LineSplitter
from rnnlab.errors import RnnlabError


@dataclass(frozen=True)
class Experiment:
    name: str
    target: str                 # a dvc.yaml stage, e.g. sms_evaluate@lstm-glove-packed
    overrides: dict[str, Any]   # params.yaml path -> value, as `dvc exp run -S path=value`

    def set_args(self) -> list[str]:
        return [arg for key, value in self.overrides.items() for arg in ("-S", f"{key}={_yaml(value)}")]


def _yaml(value: Any) -> str:
    return value if isinstance(value, str) else json.dumps(value)


def _slug(value: Any) -> str:
    return re.sub(r"[^A-Za-z0-9.]+", "_", _yaml(value)).strip("_")[:24]


def grid(sweep: str, targets: list[str], params: dict[str, list], seeds: list[int]) -> list[Experiment]:
    """targets x every combination of params x seeds, each named so a person can tell them apart."""
    if not targets:
        raise RnnlabError("sweep: give at least one target stage (e.g. sms_evaluate@lstm-glove-packed)")
    for key, values in params.items():
        if not isinstance(values, list) or not values:
            raise RnnlabError(f"sweep: params.{key} must be a non-empty list of values, got {values!r}")
    keys = list(params)
    experiments = []
    for target, combo, seed in itertools.product(targets, itertools.product(*params.values()), seeds or [None]):
        overrides = dict(zip(keys, combo))
        if seed is not None:
            overrides["seed"] = seed
        parts = [sweep, target.split("@")[-1]] + [f"{k.split('.')[-1]}{_slug(v)}" for k, v in overrides.items()]
        experiments.append(Experiment("-".join(parts), target, overrides))
    names = [e.name for e in experiments]
    if len(set(names)) != len(names):
        raise RnnlabError("sweep: two experiments of the grid would get the same name; remove duplicate values")
    return experiments


def _run(cmd: list[str], cwd: Path | None = None, env: dict | None = None,
         on_line: Callable[[str], None] | None = None) -> str:
    """Run a command, streaming its output lines; a failure raises with the command and its last lines."""
    proc = subprocess.Popen(cmd, cwd=cwd, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    lines: list[str] = []

    def keep(line: str) -> None:
        lines.append(line)
        if on_line:
            on_line(line)

    splitter = LineSplitter(keep, progress_every=10.0)
    while chunk := proc.stdout.read1(65536):
        splitter.feed(chunk.decode("utf-8", errors="replace"))
    splitter.close()
    if proc.wait() != 0:
        tail = "\n".join(lines[-25:])
        raise RnnlabError(f"`{' '.join(map(str, cmd))}` in {cwd} exited with {proc.returncode}:\n{tail}")
    return "\n".join(lines)


def has_default_remote(repo: Path, env: dict | None = None) -> bool:
    done = subprocess.run(["dvc", "remote", "default"], cwd=repo, env=env, capture_output=True, text=True)
    return done.returncode == 0 and bool(done.stdout.strip())


def run_in_clone(exp: Experiment, origin: str, base_rev: str, workroot: Path, cache_dir: str | None,
                 env: dict | None = None, on_line: Callable[[str], None] | None = None) -> dict:
    """Clone origin at base_rev, run the experiment there, push its ref (and cache, if a remote is set)."""
    start, clone = time.monotonic(), Path(workroot) / exp.name
    env = dict(env if env is not None else os.environ)
    # the clone's own code at base_rev, not whatever checkout installed the package
    env["PYTHONPATH"] = os.pathsep.join(p for p in (str(clone), env.get("PYTHONPATH", "")) if p)
    shutil.rmtree(clone, ignore_errors=True)
    clone.parent.mkdir(parents=True, exist_ok=True)
    _run(["git", "clone", "-q", "--no-checkout", origin, str(clone)], env=env)
    try:
        _run(["git", "checkout", "-q", base_rev], clone, env)
    except RnnlabError:
        raise RnnlabError(f"{origin} has no commit {base_rev[:10]}: push it there first (git push)") from None
    if cache_dir:  # one machine or a shared filesystem: reuse the driver's cache instead of pulling
        _run(["dvc", "cache", "dir", "--local", cache_dir], clone, env)
        _run(["dvc", "config", "--local", "cache.type", "hardlink,symlink,copy"], clone, env)
    remote = has_default_remote(clone, env)
    pull = ["--pull"] if remote and not cache_dir else []
    _run(["dvc", "exp", "run", "-n", exp.name, *pull, *exp.set_args(), exp.target], clone, env, on_line)
    push = ["--run-cache"] if remote else ["--no-cache"]  # the run-cache lets other machines skip these stages
    _run(["dvc", "exp", "push", *push, "origin", exp.name], clone, env, on_line)
    shutil.rmtree(clone, ignore_errors=True)
    return {**asdict(exp), "host": socket.gethostname(), "pid": os.getpid(),
            "seconds": round(time.monotonic() - start, 1)}


def exp_show(project: Path, names: list[str], env: dict | None = None) -> dict[str, dict]:
    """{experiment name: {"rev", "params", "metrics"}} for these experiments of the current baseline."""
    out = subprocess.run(["dvc", "exp", "show", "--json", "--no-fetch"], cwd=project, env=env,
                         capture_output=True, text=True)
    if out.returncode != 0:
        raise RnnlabError(f"`dvc exp show` in {project} failed: {out.stderr.strip().splitlines()[-1:]}")
    found: dict[str, dict] = {}
    for baseline in json.loads(out.stdout or "[]"):
        for entry in baseline.get("experiments") or []:
            for rev in entry.get("revs") or []:
                if rev.get("name") in names:
                    data = rev.get("data") or {}
                    found[rev["name"]] = {"rev": rev.get("rev"), "params": _files(data.get("params")),
                                          "metrics": _files(data.get("metrics"))}
    return found


def _files(section: dict | None) -> dict[str, dict]:
    return {path: (entry or {}).get("data") or {} for path, entry in (section or {}).items()}


def target_metric_files(project: Path, target: str) -> list[str]:
    """The metrics files a dvc.yaml stage writes (what a sweep over that stage compares): its DVC
    metrics, else its JSON outputs under metrics/ (a variant's report, a plain output since each
    task's summary became the DVC metrics)."""
    from dvc.repo import Repo

    with chdir(project), Repo(".") as repo:  # DVC reads targets relative to the working directory
        stages = repo.stage.collect(target)
        declared = [out.def_path for stage in stages for out in stage.metrics]
        return declared or [out.def_path for stage in stages for out in stage.outs
                            if out.def_path.startswith("metrics/") and out.def_path.endswith(".json")]


def with_committed_metrics(project: Path, shown: dict[str, dict], files: list[str]) -> dict[str, dict]:
    """Fill in the metrics files `dvc exp show` does not list (plain outputs) from each experiment's commit."""
    for found in shown.values():
        for path in files:
            if path in found.get("metrics", {}) or not found.get("rev"):
                continue
            done = subprocess.run(["git", "show", f"{found['rev']}:{path}"], cwd=project, capture_output=True, text=True)
            if done.returncode == 0:
                try:
                    found.setdefault("metrics", {})[path] = json.loads(done.stdout)
                except ValueError:
                    pass
    return shown


def _lookup(data: dict, dotted: str):
    for part in dotted.split("."):
        if not isinstance(data, dict) or part not in data:
            return None
        data = data[part]
    return data


def comparison_rows(experiments: list[Experiment], shown: dict[str, dict], outcomes: dict[str, dict],
                    metric_files: dict[str, list[str]], metric_keys: list[str]) -> list[dict]:
    """One row per experiment: its name, stage, overrides, status and the chosen metrics of its stage."""
    rows = []
    for exp in experiments:
        found = shown.get(exp.name, {})
        metrics = {}
        for path in metric_files.get(exp.target, []):
            metrics.update({key: _lookup(found.get("metrics", {}).get(path, {}), key) for key in metric_keys})
        rows.append({"experiment": exp.name, "stage": exp.target, **{k: _yaml(v) for k, v in exp.overrides.items()},
                     "status": outcomes.get(exp.name, {}).get("status", "missing"), **metrics,
                     "seconds": outcomes.get(exp.name, {}).get("seconds"), "rev": (found.get("rev") or "")[:10]})
    first = metric_keys[0] if metric_keys else None
    return sorted(rows, key=lambda r: -(r.get(first) if isinstance(r.get(first), (int, float)) else -1))


def _cell(column: str, value) -> str:
    if value is None:
        return "—"
    if isinstance(value, float):
        return f"{value:.1f}" if column == "seconds" else f"{value:.4f}"
    return str(value)


def comparison_markdown(title: str, rows: list[dict]) -> str:
    if not rows:
        return f"## {title}\n\nno experiments\n"
    columns = list(dict.fromkeys(key for row in rows for key in row))
    lines = [f"## {title}", "", "| " + " | ".join(columns) + " |", "|" + "---|" * len(columns)]
    lines += ["| " + " | ".join(_cell(c, row.get(c)) for c in columns) + " |" for row in rows]
    return "\n".join(lines) + "\n"
