import re

import yaml

from conftest import ROOT

from rnnlab import readme


def test_readme_shows_the_committed_results(monkeypatch):
    monkeypatch.chdir(ROOT)
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    assert "<!-- results:sms -->" in text
    assert readme.render(text) == text, "README results are stale: run `python -m rnnlab.readme`"


def test_readme_names_the_commands_ci_runs():
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    assert "make test" in text and "make run" in text
    assert "make test" in (ROOT / ".ci/run").read_text()


def anchor(heading: str) -> str:
    """GitHub's anchor of a heading: lower case, punctuation dropped, spaces to hyphens."""
    text = re.sub(r"[^\w\- ]", "", heading.strip().lower())
    return text.replace(" ", "-")


def test_every_link_in_the_readme_resolves():
    """In-page anchors name a heading; relative links name a file of this repository, or one that
    `dvc pull` brings (an output in dvc.lock, such as a plot)."""
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    headings = {anchor(h) for h in re.findall(r"^#{1,6} (.+)$", readme, flags=re.M)}
    text = re.sub(r"`[^`\n]*`", "", readme)  # code is not a link
    links = re.findall(r"\]\(([^)\s]+)\)", text)
    broken = [link for link in links if link.startswith("#") and link[1:] not in headings]
    outs = {o["path"] for stage in yaml.safe_load((ROOT / "dvc.lock").read_text())["stages"].values()
            for o in stage.get("outs", [])}
    for link in (link.split("#")[0] for link in links if not re.match(r"[a-z]+:|#", link)):
        pulled = any(link == o or link.startswith(o.rstrip("/") + "/") for o in outs)
        if not (ROOT / link).exists() and not pulled:
            broken.append(link)
    assert links and not broken, broken
