"""Stage `<task>_seeds@<variant>`: a variant retrained with extra seeds, so the gap between the
frozen and the fine-tuned encoder can be told from seed noise (issue 19)."""

from __future__ import annotations

import sys
from pathlib import Path

from rnnlab import atomic, evaluation, layout, metricsfile, news, newstraining, seedstats, tracking
from rnnlab import params as P
from rnnlab.entry import run_stage



def run(task: str, variant: str) -> None:
    newstraining.check_variant(variant)
    params = P.load()
    cfg = P.task(params, task, "news")
    seedstats.check_extra_seeds(task, params.seed, cfg.extra_seeds)
    base = metricsfile.read(layout.metrics(task, variant))
    per_seed = {params.seed: seedstats.summary(base)}  # the stage `train` already trained the default seed
    corpus = news.corpus_info(task)
    resumes = []
    for seed in cfg.extra_seeds:
        per_seed[seed], resume = _retrain(task, variant, cfg, seed, corpus)
        resumes.append(resume)
    out = {"variant": variant, **seedstats.spread(per_seed)}
    atomic.write_json(layout.METRICS / task / "seeds" / f"{variant}.json", out)
    for resume in resumes:  # only now: a failed write reruns from the saved epochs
        resume.unlink(missing_ok=True)
    print(f"{task}/{variant}: macro F1 {out['macro_f1_mean']:.4f} ± {out['macro_f1_std']:.4f}, "
          f"accuracy {out['accuracy_mean']:.4f} ± {out['accuracy_std']:.4f} over {len(per_seed)} seeds")


def _retrain(task: str, variant: str, cfg, seed: int, corpus: dict) -> tuple[dict, Path]:
    """One extra seed's test numbers and its resume state (its model is freed before the next seed trains)."""
    tr = newstraining.train_variant(task, variant, seed, f"{task}/{variant}/seed {seed}")
    y, pred = newstraining.predict_test_split(task, variant, tr.model, corpus["labels"])
    summary = seedstats.summary(evaluation.report(y, pred, corpus["labels"]))
    print(f"{task}/{variant} seed {seed}: accuracy {summary['accuracy']:.4f}, macro F1 {summary['macro_f1']:.4f}")
    _track(task, variant, cfg, seed, tr, summary, corpus)
    return summary, tr.resume


def _track(task: str, variant: str, cfg, seed: int, tr: newstraining.Trained, summary: dict, corpus: dict) -> None:
    tracking.log_or_warn(
        f"{task}/{variant} seed {seed}", f"{task}_seeds@{variant}",
        experiment=f"rnnlab-{task}", run_name=f"{task}/{variant}/seed-{seed}",
        params=newstraining.run_params(tr.config, cfg, seed, tr.summary, corpus),
        history=tr.result.history, metrics={f"test_{k}": v for k, v in summary.items()},
        tags={"task": task, "variant": variant, "encoder": tr.config["encoder"], "corpus": corpus["corpus"],
              "seed_sweep": "true"},
        artifacts=[])


if __name__ == "__main__":
    run_stage(run, sys.argv[1:])
