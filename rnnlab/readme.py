"""The README's summary table: each task's headline numbers from metrics/<task>.json (written by its
report stage) and its registered champion, between the `<!-- summary -->` markers.

Run `python -m rnnlab.readme` after `dvc repro`; tests/test_readme.py fails while the README shows
other numbers than metrics/ and results/champions/.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

from rnnlab import kinds, layout, metricsfile, reports

README = Path("README.md")
BLOCK = re.compile(r"(<!-- summary -->\n).*?(<!-- /summary -->)", re.S)


def _champions() -> dict[str, str]:
    """Task (its folder) -> the variant registered as its champion."""
    out = {}
    for path in sorted((layout.RESULTS / "champions").glob("*.json")):
        c = json.loads(path.read_text(encoding="utf-8"))
        out[c["task"]] = c["best_variant"]
    return out


def table() -> str:
    champions = _champions()
    lines = ["| task | headline numbers (best variant) | champion in the registry | full results |",
             "|---|---|---|---|"]
    for name, t in kinds.trained_tasks().items():
        path = layout.summary(name)
        if not path.is_file():
            continue
        summary = metricsfile.read(path)
        numbers = " · ".join(f"{heading} {summary[reports._summary_key(key)]:.4f}"
                             for heading, key in t.columns.items() if reports._summary_key(key) in summary)
        page = layout.RESULTS / f"{name}.md"
        lines.append(f"| {t.title} (`{name}`) | {numbers} | {champions.get(name, '—')} | [{page}]({page}) |")
    return "\n".join(lines) + "\n"


def render(readme: str) -> str:
    return BLOCK.sub(lambda m: m.group(1) + table() + m.group(2), readme)


if __name__ == "__main__":
    README.write_text(render(README.read_text(encoding="utf-8")), encoding="utf-8")
