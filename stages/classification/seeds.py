"""Stage `<task>_seeds@RUN`: a headline run retrained with extra seeds, so differences can be told from noise."""

from __future__ import annotations

import sys

from rnnlab import atomic, layout, metricsfile, seedstats, tracking
from rnnlab import params as P
from rnnlab.classification import test_report, train_model
from rnnlab.entry import run_stage
from rnnlab.vocab import Vocabulary


def run(task: str, run_name: str) -> None:
    params = P.load()
    cfg = P.task(params, task)
    seedstats.check_extra_seeds(task, params.seed, cfg.extra_seeds)
    variant, kind, input_mode = run_name.rsplit("-", 2)
    base = metricsfile.read(layout.metrics(task, run_name))
    per_seed = {params.seed: seedstats.summary(base, cfg.positive)}  # the stage `train` already trained the default seed
    vocab = Vocabulary.load(layout.vocab(task))
    resumes = []
    for seed in cfg.extra_seeds:
        tr = train_model(task, variant, kind, input_mode, seed)
        resumes.append(tr.resume)
        _, _, report = test_report(task, tr.model, vocab, input_mode)
        per_seed[seed] = seedstats.summary(report, cfg.positive)
        print(f"{task}/{run_name} seed {seed}: accuracy {report['accuracy']:.4f}")
        _track(task, run_name, seed, tr, per_seed[seed])
    out = {"run": run_name, **seedstats.spread(per_seed)}
    atomic.write_json(layout.METRICS / task / "seeds" / f"{run_name}.json", out)
    for resume in resumes:  # only now: a failed write reruns from the saved epochs
        resume.unlink(missing_ok=True)
    print(f"{task}/{run_name}: accuracy {out['accuracy_mean']:.4f} ± {out['accuracy_std']:.4f} over {len(per_seed)} seeds")


def _track(task: str, run_name: str, seed: int, tr, summary: dict) -> None:
    tracking.log_or_warn(
        f"{task}/{run_name} seed {seed}", f"{task}_seeds@{run_name}",
        experiment=f"rnnlab-{task}", run_name=f"{task}/{run_name}/seed-{seed}",
        params={k: v for k, v in tr.config.items() if k != "labels"},
        history=tr.result.history, metrics={f"test_{k}": v for k, v in summary.items()},
        tags={"task": task, "variant": tr.config["variant"], "embedding": tr.config["embedding"],
              "input_mode": tr.config["input_mode"], "seed_sweep": "true"},
        artifacts=[])


if __name__ == "__main__":
    run_stage(run, sys.argv[1:])
