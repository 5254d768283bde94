"""Training on a GPU against the CPU: the SMS grid and the whole-review IMDB model, side by side.

Ready for a machine with a CUDA GPU and a CUDA build of torch; this project's machines have
neither. Each run trains exactly as its train stage does (rnnlab.classification.train_model), once
with device cpu at the threads params.yaml gives the step and once with device cuda, and prints
seconds, the speedup and the test accuracy of both (a GPU's floats differ from the CPU's, so the
accuracies may differ in the last digits; each device on its own is deterministic: --repeat-gpu
trains the first run twice on the GPU and checks the weights are identical).

Needs the runs' inputs in the workspace (`dvc pull` or `dvc repro sms_embeddings imdb_full_embeddings`):

    .venv/bin/python -m benchmarks.gpu [--tasks sms imdb_full] [--limit N] [--json PATH]
"""

from __future__ import annotations

import argparse
import itertools
import json
import sys
import time
from pathlib import Path


def runs(params, tasks: list[str], limit: int | None) -> list[tuple[str, str, str, str]]:
    """(task, variant, embedding, input) of every train stage of the tasks, limit per task."""
    from rnnlab import params as P

    out = []
    for task in tasks:
        t = P.task(params, task)
        grid = list(itertools.product(t.models, t.embeddings.kinds, t.inputs))
        out += [(task, *run) for run in grid[:limit]]
    return out


def train_on(dev: str, run: tuple[str, str, str, str], seed: int) -> tuple[float, float, dict]:
    """(seconds, test accuracy, weights) of one run trained on dev."""
    import torch

    from rnnlab import device, layout
    from rnnlab.classification import test_report, train_model
    from rnnlab.vocab import Vocabulary

    device.use(dev)
    start = time.perf_counter()
    trained = train_model(*run, seed)
    if dev == "cuda":
        torch.cuda.synchronize()
    seconds = time.perf_counter() - start
    trained.resume.unlink(missing_ok=True)
    _, _, report = test_report(run[0], trained.model, Vocabulary.load(layout.vocab(run[0])), run[3])
    weights = {k: v.detach().cpu().clone() for k, v in trained.model.state_dict().items()}
    return seconds, report["accuracy"], weights


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--tasks", nargs="+", default=["sms", "imdb_full"])
    p.add_argument("--limit", type=int, default=None, help="at most this many runs per task")
    p.add_argument("--repeat-gpu", action="store_true", help="train the first run twice on the GPU, compare weights")
    p.add_argument("--json", type=Path, default=None)
    args = p.parse_args()

    import torch

    from rnnlab import params as P
    from rnnlab.determinism import use_threads

    if not torch.cuda.is_available():
        sys.exit(f"error: no CUDA GPU visible to this torch ({torch.__version__}); run this on a machine with one")
    params = P.load()
    rows = []
    print(f"GPU: {torch.cuda.get_device_name(0)}; torch {torch.__version__}", flush=True)
    print(f"{'run':<42} {'cpu s':>8} {'gpu s':>8} {'speedup':>8} {'cpu acc':>8} {'gpu acc':>8}")
    for run in runs(params, args.tasks, args.limit):
        use_threads(P.threads_for(params, "train", run[0]))
        cpu_s, cpu_acc, _ = train_on("cpu", run, params.seed)
        gpu_s, gpu_acc, gpu_weights = train_on("cuda", run, params.seed)
        name = f"{run[0]}/{'-'.join(run[1:])}"
        print(f"{name:<42} {cpu_s:8.1f} {gpu_s:8.1f} {cpu_s / gpu_s:7.2f}x {cpu_acc:8.4f} {gpu_acc:8.4f}", flush=True)
        rows.append({"run": name, "cpu_seconds": cpu_s, "gpu_seconds": gpu_s, "cpu_accuracy": cpu_acc,
                     "gpu_accuracy": gpu_acc})
        if args.repeat_gpu and len(rows) == 1:
            again = train_on("cuda", run, params.seed)[2]
            same = all(torch.equal(again[k], gpu_weights[k]) for k in gpu_weights)
            print(f"{name}: a second GPU run gives {'identical' if same else 'DIFFERENT'} weights", flush=True)
            rows[-1]["gpu_repeat_identical"] = same
    total_cpu, total_gpu = sum(r["cpu_seconds"] for r in rows), sum(r["gpu_seconds"] for r in rows)
    print(f"all {len(rows)} runs: cpu {total_cpu:.0f} s, gpu {total_gpu:.0f} s, {total_cpu / total_gpu:.2f}x")
    if args.json:
        args.json.write_text(json.dumps({"gpu": torch.cuda.get_device_name(0), "rows": rows}, indent=2))


if __name__ == "__main__":
    main()
