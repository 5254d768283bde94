"""Stage `<task>_seeds@<model>`: a character model retrained with extra seeds, so that its bits per
character can be told from seed luck (issue 19: the champion over 3 seeds)."""

from __future__ import annotations

import sys

from rnnlab import atomic, charlm, layout, lmtraining, metricsfile, seedstats, tracking
from rnnlab import params as P
from rnnlab.entry import run_stage

KEYS = ("test_bpc", "val_bpc")


def run(task: str, variant: str) -> None:
    params = P.load()
    cfg = P.task(params, task, "charlm")
    seedstats.check_extra_seeds(task, params.seed, cfg.extra_seeds)
    base = metricsfile.read(layout.metrics(task, variant))
    per_seed = {params.seed: {k: base[k] for k in KEYS}}  # the stage `train` already trained the default seed
    _, text = charlm.load_texts(task, ("test",))
    resumes = []
    for seed in cfg.extra_seeds:
        tr = lmtraining.train_variant(task, variant, cfg, seed)
        resumes += tr.resumes
        per_seed[seed] = {"test_bpc": round(charlm.bits_per_char(tr.model, text["test"], tr.config["window"]), 6),
                          "val_bpc": round(min(h["val_bpc"] for h in tr.result.history), 6)}
        print(f"{task}/{variant} seed {seed}: test {per_seed[seed]['test_bpc']:.3f} bits/char")
        _track(task, variant, seed, tr, per_seed[seed])
    out = {"run": variant, **seedstats.spread(per_seed, KEYS)}
    atomic.write_json(layout.METRICS / task / "seeds" / f"{variant}.json", out)
    for resume in resumes:  # only now: a failed write reruns from the saved epochs
        resume.unlink(missing_ok=True)
    print(f"{task}/{variant}: test {out['test_bpc_mean']:.3f} ± {out['test_bpc_std']:.3f} bits/char "
          f"over {len(per_seed)} seeds")


def _track(task: str, variant: str, seed: int, tr: lmtraining.Trained, numbers: dict) -> None:
    tracking.log_or_warn(
        f"{task}/{variant} seed {seed}", f"{task}_seeds@{variant}",
        experiment=f"rnnlab-{task}", run_name=f"{task}/{variant}/seed-{seed}",
        params={**{k: v for k, v in tr.config.items() if k != "pretraining"}, "seed": seed, "variant": variant},
        history=tr.result.history, metrics=numbers,
        tags={"task": task, "variant": variant, "seed_sweep": "true"}, artifacts=[])


if __name__ == "__main__":
    run_stage(run, sys.argv[1:])
