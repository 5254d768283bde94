"""How fast the pipeline could run with N workers: its critical path and a simulated schedule.

From measured stage times and the DAG (dvc.yaml through DVC): the critical path is the longest
chain of dependent stages, the floor no number of workers gets below; the simulation starts,
whenever a worker is free, the ready stage with the longest chain still behind it (list
scheduling with critical-path priority), and reports the wall time for each worker count.
A stage missing from the measurement counts 0 s (it is named in the output).
"""

from __future__ import annotations

import heapq

from rnnlab.parallel import tails  # the runner's own priority


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


def simulate(seconds: dict[str, float], upstream: dict[str, list[str]], workers: int) -> float:
    """Wall time of the DAG on `workers` identical workers, one stage each at a time."""
    priority = tails(seconds, upstream)
    waiting = {s: len(ups) for s, ups in upstream.items()}
    downstream: dict[str, list[str]] = {}
    for stage, ups in upstream.items():
        for u in ups:
            downstream.setdefault(u, []).append(stage)
    ready = [(-priority[s], s) for s, n in waiting.items() if n == 0]
    heapq.heapify(ready)
    running: list[tuple[float, str]] = []  # (finish time, stage)
    now = 0.0
    while ready or running:
        while ready and len(running) < workers:
            _, stage = heapq.heappop(ready)
            heapq.heappush(running, (now + seconds.get(stage, 0.0), stage))
        now, done = heapq.heappop(running)
        for d in downstream.get(done, []):
            waiting[d] -= 1
            if waiting[d] == 0:
                heapq.heappush(ready, (-priority[d], d))
    return now


def table(seconds: dict[str, float], upstream: dict[str, list[str]], counts=(1, 2, 4, 8, 16)) -> list[list[str]]:
    """Rows: workers, simulated minutes, speedup over 1 worker; last row the critical-path floor."""
    one = simulate(seconds, upstream, 1)
    rows = [[str(n), f"{simulate(seconds, upstream, n) / 60:.1f}", f"{one / max(simulate(seconds, upstream, n), 1e-9):.2f}"]
            for n in counts]
    floor, _ = critical_path(seconds, upstream)
    return rows + [["unlimited (critical path)", f"{floor / 60:.1f}", f"{one / max(floor, 1e-9):.2f}"]]
