"""How fast the pipeline could run with N workers: its critical path and a simulated schedule.

From measured stage times and the DAG (dvc.yaml through DVC): the critical path is the longest
chain of dependent stages, the floor no number of workers gets below; the simulation starts,
whenever a worker is free, the ready stage with the longest chain still behind it (list
scheduling with critical-path priority), and reports the wall time for each worker count.
Workers are cores: a stage takes as many as its threads (params.yaml), and as in the runner
(rnnlab/parallel.py) the first ready stage that does not fit waits for threads while later ones
start only if they do not delay it (EASY backfilling, `rnnlab.parallel.backfills`). A stage missing from the measurement counts 0 s
(it is named in the output).
"""

from __future__ import annotations

import heapq

from rnnlab.parallel import backfills, tails  # the runner's own priority and packing rule


def critical_path(seconds: dict[str, float], upstream: dict[str, list[str]]) -> tuple[float, list[str]]:
    """(length in seconds, the stages on it, upstream first)."""
    total = tails(seconds, upstream)
    downstream: dict[str, list[str]] = {}
    for stage, ups in upstream.items():
        for u in ups:
            downstream.setdefault(u, []).append(stage)
    roots = [s for s, ups in upstream.items() if not ups]
    if not roots:
        return 0.0, []
    stage = max(roots, key=lambda s: total[s])
    path = [stage]
    while downstream.get(stage):
        stage = max(downstream[stage], key=lambda s: total[s])
        path.append(stage)
    return total[path[0]], path


def simulate(seconds: dict[str, float], upstream: dict[str, list[str]], workers: int,
             threads: dict[str, int] | None = None) -> float:
    """Wall time of the DAG on `workers` cores, each stage taking its threads (default 1) of them."""
    def need(stage: str) -> int:
        return min((threads or {}).get(stage, 1), workers)  # the runner runs a larger stage alone

    priority = tails(seconds, upstream)
    waiting = {s: len(ups) for s, ups in upstream.items()}
    downstream: dict[str, list[str]] = {}
    for stage, ups in upstream.items():
        for u in ups:
            downstream.setdefault(u, []).append(stage)
    ready = [s for s, n in waiting.items() if n == 0]
    running: list[tuple[float, str]] = []  # a heap of (finish time, stage)
    now, free = 0.0, workers
    while ready or running:
        ready.sort(key=lambda s: (-priority[s], s))
        blocked = None  # threads of the first ready stage that does not fit
        for stage in list(ready):
            if blocked is None and need(stage) > free:
                blocked = need(stage)
            elif need(stage) <= free and (blocked is None or backfills(
                    need(stage), seconds.get(stage, 0.0), free, blocked, [(t - now, need(r)) for t, r in running])):
                ready.remove(stage)
                free -= need(stage)
                heapq.heappush(running, (now + seconds.get(stage, 0.0), stage))
        now, done = heapq.heappop(running)
        free += need(done)
        for d in downstream.get(done, []):
            waiting[d] -= 1
            if waiting[d] == 0:
                ready.append(d)
    return now


def table(seconds: dict[str, float], upstream: dict[str, list[str]], counts=(1, 2, 4, 8, 16),
          threads: dict[str, int] | None = None) -> list[list[str]]:
    """Rows: cores, simulated minutes, speedup over the stages one after another; last row the critical-path floor.

    One after another is the sum of the stage times (each measured at its own threads)."""
    one = sum(seconds.get(s, 0.0) for s in upstream)
    rows = []
    for n in counts:
        wall = simulate(seconds, upstream, n, threads)
        rows.append([str(n), f"{wall / 60:.1f}", f"{one / max(wall, 1e-9):.2f}"])
    floor, _ = critical_path(seconds, upstream)
    return rows + [["unlimited (critical path)", f"{floor / 60:.1f}", f"{one / max(floor, 1e-9):.2f}"]]
