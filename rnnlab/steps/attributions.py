"""Stage `sentiment_attributions`: Integrated-Gradients pages comparing the sentiment models side by side."""

from __future__ import annotations

import sys

from rnnlab import atomic, attribution, checkpoint, layout, params as P, tracking
from rnnlab.errors import RnnlabError

OUT = layout.RESULTS / "attributions"


def run() -> None:
    cfg = P.load().sentiment
    a = cfg.attributions
    columns, per_model = [], []
    for name in cfg.attribution_runs:
        task, run_name = name.split("/", 1)
        model, config, vocab = checkpoint.load(layout.model_dir(task, run_name))
        positive = config["labels"].index("pos")
        per_model.append([_checked(name, attribution.attribute(model, config, vocab, s, positive, a.n_steps,
                                                              a.max_delta, a.max_steps), a)
                          for s in a.sentences])
        columns.append(name)
        print(f"{name}: " + ", ".join(f"P(pos)={x.prob:.3f} (delta {x.delta:.1e}, {x.n_steps} steps)"
                                      for x in per_model[-1]))
    rows = [list(r) for r in zip(*per_model)]  # a row per sentence
    with atomic.output_dir(OUT) as out:
        for name, attrs in zip(columns, per_model):
            stem = name.replace("/", "--")
            atomic.write_text(out / f"{stem}.html", attribution.page(f"Attributions: {name}", [name], [[x] for x in attrs]))
            attribution.plot([name], [[x] for x in attrs], out / f"{stem}.png")
        atomic.write_text(out / "index.html", attribution.page("Sentiment models compared: token attributions", columns, rows))
        attribution.plot(columns, rows, out / "comparison.png")
    atomic.write_json(layout.METRICS / "sentiment" / "attributions.json", {
        name: [{"text": x.text, "prob_positive": x.prob, "delta": x.delta, "n_steps": x.n_steps,
                "converged": x.converged,
                "tokens": x.tokens, "scores": x.scores} for x in attrs] for name, attrs in zip(columns, per_model)})
    print(f"wrote {OUT / 'index.html'} and {OUT / 'comparison.png'}")
    _track(columns, per_model)


def _checked(name: str, a: attribution.Attribution, cfg) -> attribution.Attribution:
    """A missed completeness bound is a warning (and a flag on the page) unless `strict` is set."""
    if not a.converged:
        if cfg.strict:
            raise RnnlabError(a.miss(name, cfg.max_delta))
        print(f"warning: {a.miss(name, cfg.max_delta)}; flagged as not converged", file=sys.stderr)
    return a


def _track(columns, per_model) -> None:
    metrics = {"max_delta": max(x.delta for attrs in per_model for x in attrs),
               "not_converged": sum(not x.converged for attrs in per_model for x in attrs)}
    for name, attrs in zip(columns, per_model):
        metrics.update({f"p_positive_{name.replace('/', '_')}_s{i}": x.prob for i, x in enumerate(attrs)})
    try:
        tracking.log_run(experiment="rnnlab-sentiment", run_name="sentiment/attributions",
                         params={"runs": ",".join(columns), "n_steps": P.load().sentiment.attributions.n_steps},
                         history=[], metrics=metrics, tags={"task": "sentiment"},
                         artifacts=[OUT / "index.html", OUT / "comparison.png"], model_dir=None)
    except Exception as e:  # noqa: BLE001 - tracking must never cost the stage its outputs
        print(f"warning: attributions: MLflow logging failed ({type(e).__name__})", file=sys.stderr)
