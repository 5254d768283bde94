"""The README and docs/: current numbers, links that resolve, commands that exist as printed.

The commands themselves run on small data elsewhere: the `dvc exp run` example in
tests/test_pipeline.py, the added task in tests/test_new_task.py, the servers and flows in
tests/test_servers.py and tests/test_flows.py.
"""

import importlib.util
import re
import shlex
from pathlib import Path

import pytest
import yaml

from conftest import ROOT

from rnnlab import cli, readme

PAGES = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]


def test_readme_shows_the_committed_results(monkeypatch):
    monkeypatch.chdir(ROOT)
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    assert "<!-- summary -->" in text
    assert readme.render(text) == text, "README summary is stale: run `python -m rnnlab.readme`"


def test_readme_is_short_and_names_the_commands_ci_runs():
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    assert len(text.splitlines()) <= 250
    assert "make test" in text and "make run" in text
    assert "make test" in (ROOT / ".ci/run").read_text()


def anchor(heading: str) -> str:
    """GitHub's anchor of a heading: lower case, punctuation dropped, spaces to hyphens."""
    text = re.sub(r"[^\w\- ]", "", heading.strip().lower())
    return text.replace(" ", "-")


def headings(page: Path) -> set[str]:
    return {anchor(h) for h in re.findall(r"^#{1,6} (.+)$", page.read_text(encoding="utf-8"), flags=re.M)}


@pytest.mark.parametrize("page", PAGES, ids=lambda p: p.relative_to(ROOT).as_posix())
def test_every_link_resolves(page):
    """Anchors name a heading of their page; relative links name a file of this repository, or one
    that `dvc pull` brings (an output in dvc.lock, such as a plot)."""
    text = re.sub(r"`[^`\n]*`", "", page.read_text(encoding="utf-8"))  # code is not a link
    links = re.findall(r"\]\(([^)\s]+)\)", text)
    outs = {o["path"] for stage in yaml.safe_load((ROOT / "dvc.lock").read_text())["stages"].values()
            for o in stage.get("outs", [])}
    broken = []
    for link in links:
        if re.match(r"[a-z]+:", link):
            continue
        target, _, fragment = link.partition("#")
        path = (page.parent / target).resolve() if target else page
        relative = path.relative_to(ROOT).as_posix() if path.is_relative_to(ROOT) else None
        pulled = relative is not None and any(relative == o or relative.startswith(o.rstrip("/") + "/") for o in outs)
        if not (path.exists() or pulled) or (fragment and path.suffix == ".md" and fragment not in headings(path)):
            broken.append(link)
    assert not broken, broken


def commands(page: Path) -> list[str]:
    """The command lines of the page's bash blocks, continuation lines joined, comments dropped."""
    blocks = re.findall(r"```bash\n(.*?)```", page.read_text(encoding="utf-8"), flags=re.S)
    lines = "\n".join(b.replace("\\\n", " ") for b in blocks)
    out = []
    for line in lines.splitlines():
        if line.strip() and not line.lstrip().startswith("#"):
            out += [c.strip() for c in re.split(r"&&|;|\|", line.split(" #")[0]) if c.strip()]
    return out


def _unknown(command: str) -> str | None:
    words = shlex.split(re.sub(r"^(\w+=\S+ )+", "", command))  # VAR=value prefixes
    tool, rest = words[0], words[1:]
    if tool == "make":
        targets = set(re.findall(r"^([a-z][\w-]*):", (ROOT / "Makefile").read_text(), flags=re.M))
        return next((t for t in rest if not t.startswith("-") and "=" not in t and t not in targets), None)
    if tool == "rnnlab":
        sub = next(a for a in cli.parser()._actions if a.dest == "command")
        return None if not rest or rest[0] in sub.choices or rest[0].startswith("-") else rest[0]
    if tool == "dvc":
        from dvc.cli.parser import get_main_parser

        sub = next(a for a in get_main_parser()._actions if a.dest == "cmd")
        return None if rest[0] in sub.choices else rest[0]
    if tool in ("python", "python3") and rest[:1] == ["-m"]:
        return None if importlib.util.find_spec(rest[1]) else rest[1]
    return None  # other tools (mlflow, prefect, dask, source, export) are theirs to document


@pytest.mark.parametrize("page", PAGES, ids=lambda p: p.relative_to(ROOT).as_posix())
def test_every_command_names_a_target_subcommand_or_module_that_exists(page, monkeypatch):
    monkeypatch.chdir(ROOT)
    unknown = {c: u for c in commands(page) if (u := _unknown(c))}
    assert not unknown, unknown


def test_the_summary_names_each_champion_with_its_numbers_over_seeds(monkeypatch):
    """The registered champion's row carries its seeds stage's mean ± std; a champion registered under
    another name (imdb_full as `sentiment`) still shows in its task's row."""
    import json

    monkeypatch.chdir(ROOT)
    rows = {re.search(r"\(`(\w+)`\)", line)[1]: line for line in readme.table().splitlines() if line.startswith("| ") and "(`" in line}
    news = json.loads((ROOT / "metrics/news/seeds/finetuned.json").read_text())
    assert f"macro F1 {news['macro_f1_mean']:.4f} ± {news['macro_f1_std']:.4f}" in rows["news"]
    assert "(seeds 42, 1, 2)" in rows["news"]
    assert "| bilstm-max-glove-bucketed (accuracy " in rows["imdb_full"]
    assert "| — | — |" in rows["imdb_deck"]  # not registered: no champion, so no seeds column either
    champion = json.loads((ROOT / "results/champions/sms.json").read_text())["best_variant"]
    sms = json.loads((ROOT / f"metrics/sms/seeds/{champion}.json").read_text())
    assert f"spam F1 {sms['spam_f1_mean']:.4f} ± {sms['spam_f1_std']:.4f}" in rows["sms"]  # the goal's second number
    poetry = json.loads((ROOT / "metrics/poetry/seeds/pretrained.json").read_text())
    assert f"test bits/char {poetry['test_bpc_mean']:.4f} ± {poetry['test_bpc_std']:.4f}" in rows["poetry"]
