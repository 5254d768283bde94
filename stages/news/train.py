"""Stage `<task>_train@<variant>`: the frozen-encoder head or the fine-tuned encoder + head.

Trained with params' seed by rnnlab/newstraining.py (the seed sweep trains the same way),
resumable after a kill from a checkpoint under .rnnlab/resume/.
"""

from __future__ import annotations

import sys
import time

from rnnlab import atomic, layout, news, newstraining, tracking, training
from rnnlab import params as P
from rnnlab.entry import run_stage


def run(task: str, variant: str) -> None:
    newstraining.check_variant(variant)
    wall0 = time.perf_counter()
    params = P.load()
    cfg = P.task(params, task, "news")
    desc = f"{task}/{variant}"
    with tracking.training_run(task, variant, params.seed, cfg.model_dump()) as live:
        tr = newstraining.train_variant(task, variant, params.seed, desc)
        with atomic.output_dir(layout.model_dir(task, variant)) as out:
            news.save(tr.model, tr.config, out)
            atomic.write_json(out / "train.json", tr.summary)
        live.trained(layout.model_dir(task, variant))
    result = tr.result
    atomic.write_json(layout.timing(task, variant), training.timing(
        result, rows_per_s=round(result.tokens_per_s, 1), wall_seconds=round(time.perf_counter() - wall0, 1),
        **tr.clock))
    tr.resume.unlink(missing_ok=True)
    print(f"{desc}: best epoch {result.best_epoch} of {len(result.history)}, {result.train_seconds:.0f} s training, "
          f"{result.tokens_per_s:,.1f} rows/s, {tr.summary['parameters']:,} trainable parameters")


if __name__ == "__main__":
    run_stage(run, sys.argv[1:])
