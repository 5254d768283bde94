"""Stage `<task>_report`: the tables of the attributed tasks (seeds too) and the attribution comparison."""

from __future__ import annotations

import json
import sys
from pathlib import Path

from rnnlab import atomic, layout, metricsfile, reports
from rnnlab import params as P
from rnnlab.entry import run_stage
from rnnlab.reports import corpus_line, positive_label, prepared_corpus, runs_table, seeds_table

DEPENDS_ON = ("report.md",)  # the page's prose, with $placeholders for the numbers
TEMPLATE = Path(__file__).with_name("report.md")


def _deck_comparison(name: str, cfg, published: dict[str, str]) -> list[str]:
    """The deck reported validation accuracy only; ours at the kept epoch, beside the test accuracy."""
    lines = ["| model | deck: validation accuracy | here: validation accuracy (kept epoch) | here: test accuracy (25,000) |",
             "|---|---|---|---|"]
    for variant in cfg.models:
        run = layout.run_name(variant, cfg.embeddings.kinds[0], cfg.inputs[0])
        t = metricsfile.read(layout.model_dir(name, run) / "train.json")
        m = metricsfile.read(layout.metrics(name, run))
        val = next(h["val_accuracy"] for h in t["history"] if h["epoch"] == t["best_epoch"])
        lines.append(f"| {variant} | {published.get(variant, '—')} | {val:.4f} (epoch {t['best_epoch']}) | {m['accuracy']:.4f} |")
    return lines + ["", "The validation reviews are drawn from the training half, whose films overlap with the "
                        "training reviews; the test half has other films, hence the gap.", ""]


def _attribution_values(task: str, cfg) -> dict:
    attrs = json.loads(layout.attribution_metrics(task).read_text(encoding="utf-8"))
    runs = list(attrs)
    lines = ["| sentence | " + " | ".join(runs) + " |", "|---|" + "---|" * len(runs)]
    for i, sentence in enumerate(cfg.attributions.sentences):
        lines.append(f"| {sentence} | " + " | ".join(_cell(attrs[r][i]) for r in runs) + " |")
    everything = [a for r in runs for a in attrs[r]]
    missed = sum(not a["converged"] for a in everything)
    check = (f"all {len(everything)} attributions within the bound {cfg.attributions.max_delta}" if not missed else
             f"**{missed} of {len(everything)} attributions missed the bound {cfg.attributions.max_delta}** "
             f"(marked ⚠: their token scores do not add up to the change in P(positive))")
    return {"attribution_table": "\n".join(lines), "check": check,
            "deck_p": " / ".join(f"{k.upper()} {v}" for k, v in cfg.reference.p_positive.items()),
            "min_steps": min(a["n_steps"] for a in everything), "max_steps": max(a["n_steps"] for a in everything),
            "worst": f"{max(a['delta'] for a in everything):.1e}"}


def _cell(a: dict) -> str:
    return f"{a['prob_positive']:.3f}" + ("" if a["converged"] else f" ⚠ delta {a['delta']:.2g}")


def _task_section(name: str, params, published: dict[str, str]) -> list[str]:
    t = P.task(params, name)
    test = "the dataset's own test split" if t.split.test == "given" else f"{t.split.test:.0%} of the corpus"
    lines = [f"**{t.title or name}** (`{name}`: max length {t.max_len}, embeddings {', '.join(t.embeddings.kinds)}, "
             f"hidden {t.train.hidden}, batch {t.train.batch_size}); test = {test}:", "",
             *runs_table(name, t, positive_label(t, prepared_corpus(name)["labels"])), ""]
    if published:
        lines += _deck_comparison(name, t, published)
    return lines + seeds_table(name, t)


def text(task: str) -> str:
    params = P.load()
    cfg = P.task(params, task, "attribution")
    sections = []
    for i, name in enumerate(cfg.tables):
        sections += _task_section(name, params, cfg.reference.validation_accuracy if i == 0 else {})
    return reports.render(TEMPLATE, task=task, tables=", ".join(cfg.tables), corpus_line=corpus_line(cfg.tables[0]),
                          task_sections="\n".join(sections), **_attribution_values(task, cfg))


def run(task: str) -> None:
    out = text(task)
    atomic.write_text(layout.RESULTS / f"{task}.md", out)
    print(out)


if __name__ == "__main__":
    run_stage(run, sys.argv[1:])
