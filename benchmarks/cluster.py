"""A 20-stage SMS subset on a real Dask LocalCluster: 1 worker against 2, from an empty cache each.

Clones this checkout's HEAD twice into WORKDIR (own DVC caches, so nothing is restored), starts a
LocalCluster of N single-thread worker processes, and runs `rnnlab repro --address` on the subset:
download, prepare, vocabulary, learned embeddings, then 8 variants trained and evaluated.

    RNNLAB_MIRROR=../shared/corpora .venv/bin/python -m benchmarks.cluster WORKDIR

Target: 2 workers at least 1.6x faster than 1 on 2 cores.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import time
from pathlib import Path

from benchmarks import common

VARIANTS = ["rnn", "lstm", "gru", "birnn", "bilstm", "bigru", "lstmx2", "cnn-lstm"]
TARGETS = [f"sms_evaluate@{v}-learned-packed" for v in VARIANTS]
TARGET_RATIO = 1.6


def timed_run(project: Path, workers: int) -> tuple[float, int]:
    from distributed import LocalCluster

    from rnnlab import dvcrun, parallel

    with LocalCluster(n_workers=workers, threads_per_worker=1, processes=True, dashboard_address=None) as cluster:
        start = time.perf_counter()
        outcomes = parallel.reproduce(project, TARGETS, address=cluster.scheduler_address,
                                      on_output=lambda stage, text: None,
                                      on_outcome=lambda o: print(f"  {workers} worker(s): {o.stage} {o.status} "
                                                                 f"{o.seconds:.1f} s", flush=True))
        seconds = time.perf_counter() - start
    return seconds, sum(o.status == dvcrun.RAN for o in outcomes)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("workdir", type=Path, help="an empty or new directory for the clones")
    args = p.parse_args()
    if not os.environ.get("RNNLAB_MIRROR"):
        raise SystemExit("set RNNLAB_MIRROR to the corpora mirror (the run is timed without network)")
    os.environ["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}"  # stages call `python`
    walls = {}
    for workers in (1, 2):
        project = args.workdir.resolve() / f"workers-{workers}"
        subprocess.run(["git", "clone", "-q", str(common.ROOT), str(project)], check=True)
        walls[workers], ran = timed_run(project, workers)
        print(f"{workers} worker(s): {ran} stages ran in {walls[workers]:.1f} s")
    ratio = walls[1] / walls[2]
    print(common.plain_table(["workers", "seconds", "speedup"], [[1, f"{walls[1]:.1f}", "1.00x"],
                                                                  [2, f"{walls[2]:.1f}", f"{ratio:.2f}x"]],
                             f"{len(TARGETS)} SMS variants (+ their upstream) on a Dask LocalCluster, empty caches"))
    print(common.machine_line(common.machine()))
    print(f"target >= {TARGET_RATIO}x: {'met' if ratio >= TARGET_RATIO else 'NOT met'} ({ratio:.2f}x)")


if __name__ == "__main__":
    main()
