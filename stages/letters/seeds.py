"""Stage `<task>_seeds@RUN`: a headline letters run retrained with extra seeds, so its book-paragraph
macro F1 and real-letter accuracy (121 test letters: one letter is 0.8 points) can be told from noise."""

from __future__ import annotations

import sys

from rnnlab import atomic, layout, metricsfile, seedstats, tracking
from rnnlab import params as P
from rnnlab.entry import run_stage
from rnnlab.letterstraining import test_metrics, train_run

KEYS = ("books_author_macro_f1", "letters_author_accuracy", "lang_accuracy", "author_macro_f1")


def run(task: str, run_name: str) -> None:
    params = P.load()
    cfg = P.task(params, task, "letters")
    seedstats.check_extra_seeds(task, params.seed, cfg.extra_seeds)
    feature, variant = run_name.split("-", 1)
    base = metricsfile.read(layout.metrics(task, run_name))
    per_seed = {params.seed: {k: base[k] for k in KEYS}}  # the stage `train` already trained the default seed
    resumes = []
    for seed in cfg.extra_seeds:
        tr = train_run(cfg, task, feature, variant, seed, desc=f"{task}/{run_name}/seed {seed}")
        resumes.append(tr.resume)
        per_seed[seed] = _headline(task, tr)
        print(f"{task}/{run_name} seed {seed}: books macro F1 {per_seed[seed]['books_author_macro_f1']:.4f}, "
              f"real letters {per_seed[seed]['letters_author_accuracy']:.4f}")
        _track(task, run_name, seed, tr, per_seed[seed])
    out = {"run": run_name, **seedstats.spread(per_seed, KEYS)}
    atomic.write_json(layout.METRICS / task / "seeds" / f"{run_name}.json", out)
    for resume in resumes:  # only now: a failed write reruns from the saved epochs
        resume.unlink(missing_ok=True)
    print(f"{task}/{run_name}: books macro F1 {out['books_author_macro_f1_mean']:.4f} ± "
          f"{out['books_author_macro_f1_std']:.4f}, real letters {out['letters_author_accuracy_mean']:.4f} ± "
          f"{out['letters_author_accuracy_std']:.4f} over {len(per_seed)} seeds")


def _headline(task: str, tr) -> dict:
    metrics = test_metrics(task, tr.model, tr.config).metrics
    return {k: metrics[k] for k in KEYS}


def _track(task: str, run_name: str, seed: int, tr, summary: dict) -> None:
    tracking.log_or_warn(
        f"{task}/{run_name} seed {seed}", f"{task}_seeds@{run_name}",
        experiment=f"rnnlab-{task}", run_name=f"{task}/{run_name}/seed-{seed}",
        params={**{k: v for k, v in tr.config.items() if k not in ("authors", "langs")}, "seed": seed},
        history=tr.result.history, metrics={f"test_{k}": v for k, v in summary.items()},
        tags={"task": task, "feature": tr.config["feature"], "variant": tr.config["variant"], "seed_sweep": "true"},
        artifacts=[])


if __name__ == "__main__":
    run_stage(run, sys.argv[1:])
