"""Training on a GPU against the CPU: the SMS grid and the whole-review IMDB model, side by side.

For a machine with a CUDA GPU and a CUDA build of torch. Every run trains exactly as its train
stage does (rnnlab.classification.train_model) on both devices of the same machine, at the same
time: the GPU runs one after another in this process, while the CPU runs go to a pool of worker
processes, each at the threads params.yaml gives the train step, so a grid that takes half an
hour on one core fits in minutes. The speedup is training tokens per second, GPU against CPU
(validation and test excluded), so a CPU run may train on a sample: `--cpu-fraction imdb_full=0.1`
trains the CPU side of that task on a tenth of its texts (its accuracy is then not comparable,
and shown as -). Each device is deterministic on its own, but their floats differ, so accuracies
differ; `--repeat` trains the first run of every task twice on the GPU and checks that the
weights are bit-identical (rnnlab/device.py's settings). Results: docs/benchmarks.md, item 9.

Needs the runs' inputs in the workspace (`dvc pull` or `dvc repro sms_embeddings imdb_full_embeddings`):

    python -m benchmarks.gpu [--tasks imdb_full sms] [--limit N] [--cpu-fraction imdb_full=0.1] [--repeat] [--json PATH]
    python -m benchmarks.gpu --report benchmarks/results/gpu-h200.json    # the table of a saved run

`--device cpu` runs the GPU side on the CPU too: a check of this script on a machine without a GPU.
"""

from __future__ import annotations

import argparse
import concurrent.futures as cf
import hashlib
import itertools
import json
import multiprocessing
import os
import sys
import time
from pathlib import Path

Run = tuple[str, str, str, str]  # task, variant, embedding, input


def runs(params, tasks: list[str], limit: int | None) -> list[Run]:
    """(task, variant, embedding, input) of every train stage of the tasks, limit per task."""
    from rnnlab import params as P

    out = []
    for task in tasks:
        t = P.task(params, task)
        grid = list(itertools.product(t.models, t.embeddings.kinds, t.inputs))
        out += [(task, *run) for run in grid[:limit]]
    return out


def name(run: Run) -> str:
    return f"{run[0]}/{'-'.join(run[1:])}"


def train_on(dev: str, run: Run, fraction: float | None = None) -> dict:
    """Train one run on dev as its stage does: seconds, tokens per second, test accuracy, a digest of the weights.

    With a fraction, the run trains on that share of its training and validation texts (a random
    sample): its tokens per second stand for the whole run's, but its accuracy does not, so it is not scored."""
    import torch

    from rnnlab import classification, device, layout, training
    from rnnlab import params as P
    from rnnlab.vocab import Vocabulary

    params = P.load()
    device.use(dev)
    # no resume state: the CPU and GPU sides train the same runs at once, and a sample is not the run
    training.resume_path = lambda *_, **__: None
    whole = classification.load_split
    if fraction is not None:  # for this run only: a pool process trains several runs
        classification.load_split = lambda *args, **kwargs: _sample(whole(*args, **kwargs), fraction)
    try:
        start = time.perf_counter()
        trained = classification.train_model(*run, params.seed)
        if dev == "cuda":
            torch.cuda.synchronize()
        seconds = time.perf_counter() - start
    finally:
        classification.load_split = whole
    accuracy = None  # a sampled run is not scored
    if fraction is None:
        vocab = Vocabulary.load(layout.vocab(run[0]))
        accuracy = classification.test_report(run[0], trained.model, vocab, run[3])[2]["accuracy"]
    digest = hashlib.sha256()
    for key, value in trained.model.state_dict().items():
        digest.update(key.encode() + value.detach().cpu().contiguous().numpy().tobytes())
    return {"seconds": seconds, "epochs": len(trained.result.history), "train_seconds": trained.result.train_seconds,
            "tokens_per_s": trained.result.tokens_per_s, "accuracy": accuracy, "weights": digest.hexdigest(),
            "fraction": fraction}


def _sample(split, fraction: float):
    """A random share of a split's texts (the same share for every run), in their order."""
    import numpy as np

    from rnnlab import training

    keep = np.sort(np.random.default_rng(0).permutation(len(split.seqs))[: max(1, int(len(split.seqs) * fraction))])
    return training.Split([split.seqs[i] for i in keep], split.labels[keep])


def cpu_worker(run: Run, threads: int, fraction: float | None) -> dict:
    """One CPU run in a pool process, at the threads of its train stage."""
    from rnnlab.determinism import use_threads

    use_threads(threads)
    return train_on("cpu", run, fraction)


def parse_fractions(items: list[str]) -> dict[str, float]:
    out = {}
    for item in items:
        task, _, f = item.partition("=")
        try:
            out[task] = float(f)
        except ValueError:
            out[task] = 0.0
        if not 0 < out[task] <= 1:
            sys.exit(f"error: --cpu-fraction {item}: expected TASK=F with 0 < F <= 1")
    return out


def row_line(r: dict) -> str:
    cpu, gpu = r["cpu"], r["gpu"]
    cpu_acc = "-" if cpu["accuracy"] is None else f"{cpu['accuracy']:.4f}"
    return (f"{r['run']:<40} {cpu['tokens_per_s']:10.0f} {gpu['tokens_per_s']:10.0f} {r['speedup']:7.1f}x "
            f"{cpu['epochs']:>3}/{gpu['epochs']:<3} {cpu_acc:>8} {gpu['accuracy']:8.4f}")


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--tasks", nargs="+", default=["imdb_full", "sms"])
    p.add_argument("--limit", type=int, default=None, help="at most this many runs per task")
    p.add_argument("--cpu-fraction", nargs="*", default=[], metavar="TASK=F",
                   help="the CPU side of TASK trains on this share of its texts (the speedup is in tokens per second)")
    p.add_argument("--cpu-workers", type=int, default=None,
                   help="CPU runs at once (default: the cores left beside this process, by each run's threads)")
    p.add_argument("--repeat", action="store_true", help="train each task's first run twice on the GPU, compare weights")
    p.add_argument("--device", default="cuda", choices=["cuda", "cpu"], help="the side to compare against the CPU")
    p.add_argument("--json", type=Path, default=None, help="write the rows here (after every run)")
    p.add_argument("--report", type=Path, default=None, metavar="JSON", help="print the table of an earlier --json file")
    args = p.parse_args()
    if args.report:
        return report(json.loads(args.report.read_text()))
    fractions = parse_fractions(args.cpu_fraction)

    import torch

    from rnnlab import fused
    from rnnlab import params as P

    if args.device == "cuda" and not torch.cuda.is_available():
        sys.exit(f"error: no CUDA GPU visible to this torch ({torch.__version__}); run this on a machine with one")
    params = P.load()
    todo = runs(params, args.tasks, args.limit)
    threads = {r: P.threads_for(params, "train", r[0]) for r in todo}
    workers = args.cpu_workers or max(1, ((os.cpu_count() or 2) - 1) // max(threads.values()))
    fused.compiled_steps()  # built once here, before the pool's processes all ask for it
    gpu_name = torch.cuda.get_device_name(0) if args.device == "cuda" else "cpu (a check of this script)"
    print(f"{args.device}: {gpu_name}; torch {torch.__version__}; {len(todo)} runs; "
          f"CPU side: {workers} processes on {os.cpu_count()} cores", flush=True)
    out = {"device": gpu_name, "torch": torch.__version__, "cores": os.cpu_count(), "cpu_workers": workers,
           "cpu_fraction": fractions, "cpu": {}, "gpu": {}, "repeats": []}
    pool = cf.ProcessPoolExecutor(workers, mp_context=multiprocessing.get_context("spawn"))
    # the longest CPU runs first (an IMDB epoch is longer than a whole SMS run)
    cpu = {pool.submit(cpu_worker, r, threads[r], fractions.get(r[0])): r
           for r in sorted(todo, key=lambda r: r[0] != "imdb_full")}
    if args.device == "cpu":  # both sides would share the cores: let the CPU side finish first
        cf.wait(cpu)
    for run in todo:
        out["gpu"][name(run)] = result = train_on(args.device, run)
        print(f"{args.device} {name(run)}: {result['seconds']:.1f} s, {result['epochs']} epochs, "
              f"{result['tokens_per_s']:.0f} tokens/s, test accuracy {result['accuracy']:.4f}", flush=True)
        if args.repeat and run == next(r for r in todo if r[0] == run[0]):
            again = train_on(args.device, run)
            same = again["weights"] == result["weights"]
            print(f"{name(run)}: a second {args.device} run gives {'identical' if same else 'DIFFERENT'} weights",
                  flush=True)
            out["repeats"].append({"run": name(run), "identical": same, "weights": [result["weights"], again["weights"]]})
        write(args.json, out)
    for future in cf.as_completed(cpu):
        out["cpu"][name(cpu[future])] = c = future.result()
        print(f"cpu {name(cpu[future])}: {c['seconds']:.1f} s, {c['tokens_per_s']:.0f} tokens/s", flush=True)
        write(args.json, out)
    pool.shutdown()
    report(out)


def report(out: dict) -> None:
    """The side-by-side table of a run (or of its JSON file: runs missing a side are listed as such)."""
    print(f"\n{'run':<40} {'cpu tok/s':>10} {'gpu tok/s':>10} {'speedup':>8} {'epochs':>7} {'cpu acc':>8} {'gpu acc':>8}")
    rows = []
    for run, g in out["gpu"].items():
        c = out["cpu"].get(run)
        if c is None:
            print(f"{run:<40} {'not measured on the CPU':>21}")
            continue
        rows.append({"run": run, "cpu": c, "gpu": g, "speedup": g["tokens_per_s"] / c["tokens_per_s"]})
        print(row_line(rows[-1]))
    for task in sorted({r["run"].split("/")[0] for r in rows}):
        mine = [r for r in rows if r["run"].startswith(task + "/")]
        # each run's training as the GPU did it (its epochs and tokens), timed at either side's rate
        g = sum(r["gpu"]["train_seconds"] for r in mine)
        c = sum(r["gpu"]["train_seconds"] * r["speedup"] for r in mine)
        print(f"{task}: {len(mine)} runs' training: cpu {c:.0f} s, gpu {g:.0f} s, {c / g:.1f}x")
    for r in out["repeats"]:
        print(f"{r['run']}: trained twice on the GPU, {'identical' if r['identical'] else 'DIFFERENT'} weights")


def write(path: Path | None, out: dict) -> None:
    if path:
        path.write_text(json.dumps(out, indent=2))


if __name__ == "__main__":
    main()
