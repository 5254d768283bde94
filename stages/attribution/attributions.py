"""Stage `<task>_attributions`: Integrated-Gradients pages comparing classifiers side by side."""

from __future__ import annotations

import sys

from rnnlab import atomic, attribution, checkpoint, layout, tracking
from rnnlab import params as P
from rnnlab.entry import run_stage
from rnnlab.errors import RnnlabError
from rnnlab.reports import positive_label


def run(task: str) -> None:
    params = P.load()
    cfg = P.task(params, task, "attribution")
    a = cfg.attributions
    out_dir = layout.attributions(task)
    columns, per_model = [], []
    for name in cfg.attribution_runs:
        task_, run_name = name.split("/", 1)
        model, config, vocab = checkpoint.load(layout.model_dir(task_, run_name))
        positive = config["labels"].index(positive_label(P.task(params, task_), config["labels"]))
        per_model.append([_checked(name, attribution.attribute(model, config, vocab, s, positive, a.n_steps,
                                                              a.max_delta, a.max_steps), a)
                          for s in a.sentences])
        columns.append(name)
        print(f"{name}: " + ", ".join(f"P(pos)={x.prob:.3f} (delta {x.delta:.1e}, {x.n_steps} steps)"
                                      for x in per_model[-1]))
    rows = [list(r) for r in zip(*per_model)]  # a row per sentence
    with atomic.output_dir(out_dir) as out:
        for name, attrs in zip(columns, per_model):
            stem = name.replace("/", "--")
            atomic.write_text(out / f"{stem}.html", attribution.page(f"Attributions: {name}", [name], [[x] for x in attrs]))
            attribution.plot([name], [[x] for x in attrs], out / f"{stem}.png")
        atomic.write_text(out / "index.html", attribution.page(f"{cfg.title or task}: token attributions, models side by side", columns, rows))
        attribution.plot(columns, rows, out / "comparison.png")
    atomic.write_json(layout.attribution_metrics(task), {
        name: [{"text": x.text, "prob_positive": x.prob, "delta": x.delta, "n_steps": x.n_steps,
                "converged": x.converged,
                "tokens": x.tokens, "scores": x.scores} for x in attrs] for name, attrs in zip(columns, per_model)})
    print(f"wrote {out_dir / 'index.html'} and {out_dir / 'comparison.png'}")
    _track(task, columns, per_model, a.n_steps)


def _checked(name: str, a: attribution.Attribution, cfg) -> attribution.Attribution:
    """A missed completeness bound is a warning (and a flag on the page) unless `strict` is set."""
    if not a.converged:
        if cfg.strict:
            raise RnnlabError(a.miss(name, cfg.max_delta))
        print(f"warning: {a.miss(name, cfg.max_delta)}; flagged as not converged", file=sys.stderr)
    return a


def _track(task: str, columns, per_model, n_steps: int) -> None:
    metrics = {"max_delta": max(x.delta for attrs in per_model for x in attrs),
               "not_converged": sum(not x.converged for attrs in per_model for x in attrs)}
    for name, attrs in zip(columns, per_model):
        metrics.update({f"p_positive_{name.replace('/', '_')}_s{i}": x.prob for i, x in enumerate(attrs)})
    out_dir = layout.attributions(task)
    tracking.log_or_warn(f"{task}/attributions", f"{task}_attributions",
                         experiment=f"rnnlab-{task}", run_name=f"{task}/attributions",
                         params={"runs": ",".join(columns), "n_steps": n_steps},
                         history=[], metrics=metrics, tags={"task": task},
                         artifacts=[out_dir / "index.html", out_dir / "comparison.png"])


if __name__ == "__main__":
    run_stage(run, sys.argv[1:])
