"""What the portable kernels cost (rnnlab/determinism.py): a training step pinned vs native, side by side.

The pins are read when MKL, oneDNN and ATen load, so each mode runs in its own worker process;
rounds alternate portable and native workers, and each figure is the median over rounds, so a
burst of other load slows both sides alike. Shapes are the pipeline's: SMS (batch 512, length
50, GloVe 50-d, hidden 64) and whole IMDB reviews (batch 64, length 400 of the 1,000 cap,
bilstm-max, hidden 128); a step is forward, backward and Adam, as rnnlab.training.fit does it.

    .venv/bin/python -m benchmarks.determinism [--quick] [--repeats N] [--threads N] [--json PATH]
"""

from __future__ import annotations

import json
import os
import statistics
import subprocess
import sys
from pathlib import Path

SHAPES = {  # name: (variants, batch, length, embedding dim, hidden)
    "sms": (["rnn", "lstm", "gru", "bilstm", "cnn-lstm"], 512, 50, 50, 64),
    "imdb_full": (["bilstm-max"], 64, 400, 50, 128),
}
VOCAB, STEPS = 20000, 5


def worker(threads: int) -> dict[str, float]:
    """Seconds per training step of every shape and variant, in this process's kernel mode."""
    import rnnlab  # noqa: F401 - first: the pins must be in place before torch loads
    from rnnlab import determinism, training

    import numpy as np
    import torch
    from torch import nn

    from rnnlab.models import RecurrentClassifier

    determinism.use_threads(threads)
    out = {}
    for shape, (variants, batch, length, dim, hidden) in SHAPES.items():
        tokens, lengths = torch.randint(2, VOCAB, (batch, length)), torch.full((batch,), length)
        y = torch.randint(0, 2, (batch,))
        for variant in variants:
            torch.manual_seed(0)
            emb = np.random.default_rng(0).normal(0, 0.1, (VOCAB, dim)).astype(np.float32)
            model = RecurrentClassifier(emb, variant, 2, hidden=hidden, input_mode="padded")
            opt = training.adam(model.parameters(), 1e-3)

            def step():
                opt.zero_grad()
                nn.functional.cross_entropy(model(tokens, lengths), y).backward()
                opt.step()

            step()  # warm-up: first-call allocations, the C++ loops' loading
            times = []
            for _ in range(STEPS):
                t0 = __import__("time").perf_counter()
                step()
                times.append(__import__("time").perf_counter() - t0)
            out[f"{shape} {variant}"] = statistics.median(times)
    return out


def _run_worker(mode: str, threads: int) -> dict[str, float]:
    env = {**os.environ, "RNNLAB_KERNELS": mode}
    done = subprocess.run([sys.executable, "-m", "benchmarks.determinism", "--worker", str(threads)], env=env,
                          cwd=Path(__file__).resolve().parents[1], capture_output=True, text=True, check=True)
    return json.loads(done.stdout.strip().splitlines()[-1])


def main() -> None:
    if sys.argv[1:2] == ["--worker"]:
        print(json.dumps(worker(int(sys.argv[2]))))
        return
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
    import rnnlab  # noqa: F401 - before torch (benchmarks.common imports it)
    from benchmarks import common

    args = common.parser(__doc__.splitlines()[0], repeats=5, quick_repeats=2).parse_args()
    args.threads = args.threads if "--threads" in sys.argv else 1  # the pipeline's default (params.yaml threads)
    args = common.setup(args)
    samples: dict[str, dict[str, list[float]]] = {"portable": {}, "native": {}}
    for i in range(args.repeats):
        for mode in ("portable", "native") if i % 2 == 0 else ("native", "portable"):
            for name, seconds in _run_worker(mode, args.threads).items():
                samples[mode].setdefault(name, []).append(seconds)
        print(f"round {i + 1}/{args.repeats} done", file=sys.stderr, flush=True)
    rows = [common.row(f"{name} step", statistics.median(samples["portable"][name]) * 1e3,
                       statistics.median(samples["native"][name]) * 1e3, "ms", higher_is_better=False,
                       note="") for name in samples["portable"]]
    title = (f"Portable kernels (MKL_CBWR=COMPATIBLE, ATen AVX2, no oneDNN) vs native, ms per training step, "
             f"{args.threads} thread(s); ratio = portable / native (the cost of the same bits on any host)")
    common.report(rows, args, title, common.machine())


if __name__ == "__main__":
    main()
