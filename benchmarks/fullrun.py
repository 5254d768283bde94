"""The full default pipeline from nothing, one stage at a time and in parallel, side by side.

For each --jobs value, clones this checkout's HEAD into WORKDIR/jobs-N (its own empty DVC cache, so
nothing is restored from a cache or run-cache), runs `rnnlab repro --jobs N` there with the corpora
mirror ($RNNLAB_MIRROR), and watches every stage process: its wall time (the runner's per-stage
lines) and its peak resident memory (the kernel's high-water mark VmHWM, read from /proc while the
process lives, attributed by the DVC_STAGE variable DVC gives each command). Prints the wall times
and speedups, the slowest stages, the time per experiment, the largest peaks, the critical path and
the simulated wall time for more workers.

    RNNLAB_MIRROR=../shared/corpora .venv/bin/python -m benchmarks.fullrun WORKDIR [--jobs 1 2] [--json PATH]

Targets: <= 60 minutes for all five experiments, <= 4 GB peak for any stage. An experiment is a task
of params.yaml with its stages (`<task>_<step>`), except that the classification tasks an attribution
task shows (its `tables`) count with it: imdb_deck + imdb_full + sentiment are one experiment.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import subprocess
import sys
import threading
import time
from collections import defaultdict
from pathlib import Path

from benchmarks import common

TARGET_MINUTES, TARGET_GB = 60, 4
FINISHED = re.compile(r"^-- (\S+): (ran|restored from run-cache|unchanged) \(([\d.]+) s")


def experiments(params=None) -> dict[str, str]:
    """Task name -> the experiment it is timed under (an attribution task's tables count with it)."""
    from rnnlab import params as P

    params = params or P.load(common.ROOT / "params.yaml")
    out = {name: name for name in params.tasks}
    for name, t in P.tasks_of(params, "attribution").items():
        out.update({table: name for table in t.tables})
    return out


def registered(params=None) -> dict[str, str]:
    """Registered name (stage register@NAME) -> the task whose champion it is."""
    from rnnlab import params as P

    params = params or P.load(common.ROOT / "params.yaml")
    return {P.registered_name(n, t): n for n, t in params.tasks.items() if t.register_as is not False}


def stage_peaks(project: Path, peaks: dict[str, int], stop: threading.Event) -> None:
    """Sample /proc every 0.2 s: the largest VmHWM (kB) of any stage process running in `project`."""
    while not stop.is_set():
        for pid in filter(str.isdigit, os.listdir("/proc")):
            try:
                if os.readlink(f"/proc/{pid}/cwd") != str(project) or int(pid) == os.getpid():
                    continue
                env = dict(v.split(b"=", 1) for v in Path(f"/proc/{pid}/environ").read_bytes().split(b"\0") if b"=" in v)
                status = Path(f"/proc/{pid}/status").read_text()
            except OSError:  # gone, or not ours to read
                continue
            stage = env.get(b"DVC_STAGE", b"").decode()
            if stage:
                hwm = int(re.search(r"VmHWM:\s+(\d+)", status).group(1))
                peaks[stage] = max(peaks.get(stage, 0), hwm)
        stop.wait(0.2)


def run(project: Path, jobs: int, targets: list[str]) -> tuple[float, list[tuple[str, float]], dict[str, int]]:
    env = {**os.environ, "DVC_NO_ANALYTICS": "1", "PYTHONUNBUFFERED": "1",
           "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}"}
    stages: list[tuple[str, float]] = []
    peaks: dict[str, int] = {}
    stop = threading.Event()
    watcher = threading.Thread(target=stage_peaks, args=(project, peaks, stop), daemon=True)
    watcher.start()
    t0 = time.perf_counter()
    proc = subprocess.Popen([sys.executable, "-m", "rnnlab.cli", "repro", "--jobs", str(jobs), *targets], cwd=project,
                            env=env, text=True, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, bufsize=1)
    for line in proc.stdout:
        m = FINISHED.search(line)
        if m:
            stages.append((m.group(1), float(m.group(3))))
            print(f"[{(time.perf_counter() - t0) / 60:5.1f} min, {jobs} jobs] {m.group(1)}: {m.group(3)} s", flush=True)
        elif "error" in line.lower():
            print(line.rstrip(), flush=True)
    proc.wait()
    total = time.perf_counter() - t0
    stop.set()
    watcher.join()
    if proc.returncode:
        raise SystemExit(f"rnnlab repro failed in {project} (exit {proc.returncode})")
    return total, stages, peaks


def experiment(stage: str, tasks: dict[str, str] | None = None, champions: dict[str, str] | None = None) -> str:
    """'imdb_full_train@x' -> 'sentiment', 'register@sentiment' -> 'sentiment', 'sms_train@lstm-glove-packed' -> 'sms'.

    tasks: experiments(); champions: registered() (default: from params.yaml).
    """
    tasks = experiments() if tasks is None else tasks
    champions = registered() if champions is None else champions
    head, _, key = stage.partition("@")
    if head == "download":
        return "download"
    if head == "register":
        return tasks.get(champions.get(key, key), key)
    owner = max((t for t in tasks if head.startswith(f"{t}_")), key=len, default=None)
    # runs recorded before every stage carried its task's name: the SMS stages had no prefix
    return tasks[owner] if owner else "sms"


def report(info: dict, total: float, stages: list[tuple[str, float]], peaks: dict[str, int]) -> None:
    tasks, champions = experiments(), registered()
    group = {name: experiment(name, tasks, champions) for name, _ in stages}
    by_experiment: dict[str, float] = defaultdict(float)
    for name, seconds in stages:
        by_experiment[group[name]] += seconds
    slowest = sorted(stages, key=lambda s: -s[1])[:15]
    print(common.plain_table(["experiment", "stages", "minutes"],
                             [[e, sum(group[n] == e for n, _ in stages), f"{s / 60:.1f}"]
                              for e, s in sorted(by_experiment.items(), key=lambda kv: -kv[1])],
                             f"Full default pipeline from an empty cache: {total / 60:.1f} min, {len(stages)} stages"))
    print()
    print(common.plain_table(["stage", "minutes", "peak RSS MB"],
                             [[n, f"{s / 60:.2f}", f"{peaks.get(n, 0) / 1024:.0f}"] for n, s in slowest], "Slowest stages"))
    print()
    biggest = sorted(peaks.items(), key=lambda kv: -kv[1])[:8]
    print(common.plain_table(["stage", "peak RSS MB"], [[n, f"{kb / 1024:.0f}"] for n, kb in biggest], "Largest peaks"))
    print()
    scaling(dict(stages))
    print(common.machine_line(info))
    peak_gb = max(peaks.values(), default=0) / 1024 ** 2
    print(f"target <= {TARGET_MINUTES} min: {'met' if total <= TARGET_MINUTES * 60 else 'NOT met'} ({total / 60:.1f} min); "
          f"target <= {TARGET_GB} GB per stage: {'met' if peak_gb <= TARGET_GB else 'NOT met'} ({peak_gb:.2f} GB)")


def stage_threads(project: Path = common.ROOT) -> dict[str, int]:
    """Every stage of dvc.yaml -> the threads the runner gives its command (params.yaml's `threads`)."""
    from contextlib import chdir

    from dvc.repo import Repo

    from rnnlab import params as P
    from rnnlab.parallel import stage_needs

    params = P.load(project / "params.yaml")
    with chdir(project), Repo(".") as repo:
        return {s.addressing: stage_needs(s.cmd if isinstance(s.cmd, str) else " ".join(s.cmd), params).threads
                for s in repo.index.stages if s.cmd}


def scaling(seconds: dict[str, float], project: Path = common.ROOT) -> None:
    """The critical path and the simulated wall time on 1-16 cores, from these stage times, their threads and dvc.yaml's DAG."""
    from benchmarks import schedule
    from rnnlab.dvcrun import stage_graph

    upstream = stage_graph(project)
    # runs recorded before every stage carried its task's name: the SMS stages had no prefix
    seconds = {(n if n in upstream or f"sms_{n}" not in upstream else f"sms_{n}"): t for n, t in seconds.items()}
    unmeasured = sorted(set(upstream) - set(seconds))
    threads = stage_threads(project)
    floor, path = schedule.critical_path(seconds, upstream)
    core_minutes = sum(seconds.get(s, 0.0) * threads.get(s, 1) for s in upstream) / 60
    print(common.plain_table(["cores", "simulated minutes", "speedup"], schedule.table(seconds, upstream, threads=threads),
                             "Simulated wall time from the measured stage times (list scheduling, longest chain first, "
                             "each stage on its threads' cores)"))
    print(f"critical path, {floor / 60:.1f} min: {' -> '.join(path)}")
    print(f"{sum(seconds.get(s, 0.0) for s in upstream) / 60:.1f} stage-minutes, {core_minutes:.1f} core-minutes "
          f"(stages with 2 threads count twice): on 2 cores at best {core_minutes / 2:.1f} min")
    if unmeasured:
        print(f"{len(unmeasured)} stage(s) of dvc.yaml not in the measurement count 0 s: {', '.join(unmeasured[:6])}"
              + (" ..." if len(unmeasured) > 6 else ""))


def side_by_side(walls: dict[int, float]) -> None:
    base = walls.get(1)
    print(common.plain_table(["jobs", "wall minutes", "speedup vs 1 job"],
                             [[j, f"{t / 60:.1f}", f"{base / t:.2f}x" if base else "—"] for j, t in sorted(walls.items())],
                             "The same pipeline from an empty cache, one invocation"))
    if base and 2 in walls:
        ratio = base / walls[2]
        print(f"target >= 1.6x with 2 jobs on 2 cores: {'met' if ratio >= 1.6 else 'NOT met'} ({ratio:.2f}x)")


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("workdir", type=Path, nargs="?", help="an empty or new directory for the clones")
    p.add_argument("--jobs", type=int, nargs="+", default=[1, 2], help="runs to compare (default: 1 2)")
    p.add_argument("--targets", nargs="*", default=[], help="dvc.yaml stages (default: the whole pipeline)")
    p.add_argument("--json", type=Path, help="also write the figures here")
    p.add_argument("--from-json", type=Path, help="print the tables of an earlier run's --json file instead of running")
    p.add_argument("--simulate", type=Path, metavar="SECONDS_JSON",
                   help="only simulate the scaling from a {stage: seconds} file (e.g. benchmarks/results/stage-seconds.json)")
    args = p.parse_args()
    if args.simulate:
        saved = json.loads(args.simulate.read_text())
        return scaling(saved.get("stages", saved))
    if args.from_json:
        saved = json.loads(args.from_json.read_text())
        runs = saved.get("runs") or [{"jobs": 1, **saved}]  # files written before --jobs hold one sequential run
        for r in runs:
            report(saved["machine"], r["total_seconds"], [tuple(s) for s in r["stages"]], r["peak_kb"])
        return side_by_side({r["jobs"]: r["total_seconds"] for r in runs})
    if args.workdir is None or not os.environ.get("RNNLAB_MIRROR"):
        raise SystemExit("give WORKDIR and set RNNLAB_MIRROR to the corpora mirror (the run is timed without network)")
    info, runs = common.machine(), []
    for jobs in args.jobs:
        project = args.workdir.resolve() / f"jobs-{jobs}"
        subprocess.run(["git", "clone", "-q", str(common.ROOT), str(project)], check=True)
        total, stages, peaks = run(project, jobs, args.targets)
        runs.append({"jobs": jobs, "total_seconds": total, "stages": stages, "peak_kb": peaks})
        print()
        report(info, total, stages, peaks)
    side_by_side({r["jobs"]: r["total_seconds"] for r in runs})
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps({"machine": info, "runs": runs}, indent=1))


if __name__ == "__main__":
    main()
