"""Copy the generated result tables (results/*.md) into README.md between markers.

Run `python -m rnnlab.readme` after `dvc repro`; tests/test_readme.py fails while the
README shows other numbers than results/.
"""

from __future__ import annotations

import os
import re
from pathlib import Path

README, RESULTS = Path("README.md"), Path("results")
BLOCK = re.compile(r"(<!-- results:(\w+) -->\n).*?(<!-- /results:\2 -->)", re.S)


# the report pages link plots as seen from results/ (`../plots/…`); from the README that is `plots/…`
LINK = re.compile(r"(\]\()(\.\./[^)\s]+)\)")


def _table(task: str) -> str:
    text = (RESULTS / f"{task}.md").read_text(encoding="utf-8")
    text = text.split("\n", 1)[1].strip() + "\n"  # drop the file's own title
    return LINK.sub(lambda m: f"{m.group(1)}{os.path.normpath(RESULTS / m.group(2))})", text)


def render(readme: str) -> str:
    return BLOCK.sub(lambda m: m.group(1) + _table(m.group(2)) + m.group(3), readme)


if __name__ == "__main__":
    README.write_text(render(README.read_text(encoding="utf-8")), encoding="utf-8")
