"""Stage `<task>_report`: one markdown table comparing every trained variant, beside published figures."""

from __future__ import annotations

import sys
from pathlib import Path

from rnnlab import atomic, goals, layout, reports
from rnnlab import params as P
from rnnlab.entry import run_stage

DEPENDS_ON = ("report.md",)  # the page's prose, with $placeholders for the numbers
TEMPLATE = Path(__file__).with_name("report.md")


def run(task: str) -> None:
    params = P.load()
    cfg = P.task(params, task)
    reference = [f"| {r.name} | | | {r.accuracy:.2f} | {r.precision:.2f} | {r.recall:.2f} | {r.f1:.2f} | | | "
                 f"| {r.epochs or ''} | | |" for r in cfg.reference]
    positive = reports.positive_label(cfg, reports.prepared_corpus(task)["labels"])
    runs = reports.runs_table(task, cfg, positive, reference)
    text = reports.render(TEMPLATE, task=task, corpus_line=reports.corpus_line(task), runs_table="\n".join(runs),
                          seeds_table="\n".join(reports.seeds_table(task, cfg)),
                          goals=goals.section(task, cfg, params.seed))
    atomic.write_text(layout.RESULTS / f"{task}.md", text)
    reports.write_summary(task)
    print(text)


if __name__ == "__main__":
    run_stage(run, sys.argv[1:])
