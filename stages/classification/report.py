"""Stage `<task>_report`: one markdown table comparing every trained variant, beside published figures."""

from __future__ import annotations

import sys

from rnnlab import atomic, layout, reports
from rnnlab import params as P
from rnnlab.classification import labels_of
from rnnlab.entry import run_stage


def run(task: str) -> None:
    cfg = P.task(P.load(), task)
    text = reports.table(task, cfg, reports.positive_label(cfg, labels_of(task)))
    atomic.write_text(layout.RESULTS / f"{task}.md", text)
    print(text)


if __name__ == "__main__":
    run_stage(run, sys.argv[1:])
