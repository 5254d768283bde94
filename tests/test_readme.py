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
