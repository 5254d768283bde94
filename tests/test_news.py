"""The news stages end to end on 240 real HuffPost records and the real all-MiniLM-L6-v2, in a temp project."""

from __future__ import annotations

import json
import sqlite3

import pandas as pd
import pytest
import torch
import yaml

from conftest import ROOT, stage_module
from rnnlab import fetch, training
from rnnlab.errors import RnnlabError

news_prepare, news_embed, news_train, news_evaluate, news_report = (
    stage_module("news", step) for step in ("prepare", "embed", "train", "evaluate", "report"))
TASK = "news"

VARIANTS = ("frozen", "finetuned")
SPLITS = ("train", "val", "test")


def small(params: dict) -> dict:
    news = params["tasks"][TASK]
    news.update(max_rows=240, min_class_rows=5, max_epochs=3, patience=3)
    news["head"].update(batch=32)
    news["finetune"].update(layers=1, batch=16, max_epochs=1)
    return params


@pytest.fixture(scope="module")
def project(tmp_path_factory, mirror):
    """A temp project with both raw inputs fetched and every news stage run once, in order."""
    path = tmp_path_factory.mktemp("news")
    (path / "catalog.yaml").write_text((ROOT / "catalog.yaml").read_text())
    (path / "params.yaml").write_text(yaml.safe_dump(small(yaml.safe_load((ROOT / "params.yaml").read_text()))))
    settings = fetch.Settings(order=("mirror", "registry"), mirror_dir=mirror)
    for name in ("huffpost_sample", "all_minilm_l6_v2"):
        fetch.fetch(name, path / "data" / "raw" / name, settings)
    with pytest.MonkeyPatch.context() as mp:
        mp.chdir(path)
        mp.setenv("MLFLOW_TRACKING_URI", f"sqlite:///{path / 'mlflow.db'}")
        news_prepare.run(TASK)
        news_embed.run(TASK)
        for variant in VARIANTS:
            news_train.run(TASK, variant)
            news_evaluate.run(TASK, variant)
        news_report.run(TASK)
        yield path, mp


def read(path):
    return json.loads(path.read_text())


@pytest.mark.slow
def test_prepare_joins_headline_and_description_and_drops_tiny_classes(project, mirror):
    path, _ = project
    balance = read(path / "metrics/news/balance.json")
    assert sum(balance[s]["rows"] for s in ("train", "val", "test")) <= 240
    # 10,000 records, one of them three times over (same link, same text): kept once
    assert balance["records"] == 9998 and balance["classes_in_corpus"] == 29
    labels = read(path / "data/prepared/news/corpus.json")["labels"]
    assert "WEDDINGS" in balance["dropped_classes"] and "WEDDINGS" not in labels and balance["classes"] == len(labels)
    records, links = [], set()  # the file's records with repeats kept once, in order: what the ids number
    for line in (mirror / "huffpost/News_Category_Dataset_v3.sample.jsonl").read_text().splitlines():
        if json.loads(line)["link"] not in links:
            links.add(json.loads(line)["link"])
            records.append(line)
    assert len(records) == 9998
    rows = pd.concat([pd.read_csv(path / f"data/prepared/news/{s}.csv", keep_default_na=False) for s in SPLITS])
    for row in rows.itertuples():
        record = json.loads(records[int(row.id.split(":")[1])])
        expected = " ".join(f"{record['headline'].strip()} {record['short_description'].strip()}".split())
        assert row.text == expected and row.label == record["category"]


@pytest.mark.slow
def test_every_stage_wrote_its_outputs(project):
    path, _ = project
    info = read(path / "data/embeddings/news/sbert/info.json")
    assert info["dim"] == 384 and info["pooling"] == "mean" and info["normalized"]
    rows = sum(info["rows"].values())
    assert 150 < rows <= 240
    for variant in VARIANTS:
        m = read(path / f"metrics/news/{variant}.json")
        assert 0 < m["accuracy"] <= 1 and m["macro_f1"] == m["macro_avg"]["f1_score"] and "POLITICS" in m
        assert "train_seconds" not in m  # timings only in timings/ and the results table
        assert read(path / f"timings/news/{variant}.json")["wall_seconds"] > 0
        t = read(path / f"models/news/{variant}/train.json")
        assert "train_seconds" not in t  # the model directory holds what a rerun reproduces bit for bit
        assert 1 <= t["best_epoch"] <= t["epochs_run"] <= t["max_epochs"] and "lr_scale" in t["history"][0]
        for name in ("confusion.png", "curves.png", "history.csv"):
            assert (path / f"plots/news/{variant}" / name).stat().st_size > 0
    ft = read(path / "models/news/finetuned/config.json")
    assert ft["trainable_layers"] == 1 and ft["encoder"] == "all_minilm_l6_v2"
    assert read(path / "models/news/finetuned/train.json")["parameters"] > 1_000_000  # one transformer layer + head
    assert read(path / "models/news/frozen/train.json")["parameters"] < 100_000
    report = (path / "results/news.md").read_text()
    assert "| frozen |" in report and "| finetuned |" in report and "0.6282" in report
    assert "![confusion matrix" in report and "paraphrase-MiniLM-L6-v2" in report
    runs = sqlite3.connect(path / "mlflow.db").execute(
        "select r.name from runs r join experiments e using (experiment_id) where e.name = 'rnnlab-news'").fetchall()
    assert sorted(r[0] for r in runs) == ["news/finetuned", "news/frozen"]
    assert not list((path / ".rnnlab/resume").glob("*.pt"))


@pytest.mark.slow
def test_same_seed_same_metrics_and_an_interrupted_run_resumes_to_the_same_result(project, capsys):
    path, mp = project
    before = {v: (path / f"metrics/news/{v}.json").read_bytes() for v in VARIANTS}
    history = read(path / "models/news/frozen/train.json")["history"]
    fit_loop = training.fit_loop

    def killed_after_one_epoch(*args, **kwargs):
        fit_loop(*args, **{**kwargs, "max_epochs": 1})
        raise KeyboardInterrupt

    mp.setattr(training, "fit_loop", killed_after_one_epoch)
    with pytest.raises(KeyboardInterrupt):
        news_train.run(TASK, "frozen")
    assert len(list((path / ".rnnlab/resume").glob("news-frozen-*.pt"))) == 1
    mp.setattr(training, "fit_loop", fit_loop)
    capsys.readouterr()
    news_train.run(TASK, "frozen")
    assert "resuming from epoch 2" in capsys.readouterr().out
    assert read(path / "models/news/frozen/train.json")["history"] == history
    news_train.run(TASK, "finetuned")  # from scratch again
    for variant in VARIANTS:
        news_evaluate.run(TASK, variant)
        assert (path / f"metrics/news/{variant}.json").read_bytes() == before[variant], variant


def test_unknown_variant_is_one_clear_error():
    with pytest.raises(RnnlabError, match="unknown news variant 'bert'"):
        news_train.run(TASK, "bert")


def test_head_reads_a_sentence_vector_as_a_length_one_sequence():
    from rnnlab.news import Head

    torch.manual_seed(0)
    head = Head(384, 5, variant="rnn", hidden=128, dropout=0.0).eval()
    x = torch.randn(4, 384)
    out = head(x)
    assert out.shape == (4, 5)
    h = torch.tanh(x @ head.encoder.rnn.weight_ih_l0.T + head.encoder.rnn.bias_ih_l0 + head.encoder.rnn.bias_hh_l0)
    torch.testing.assert_close(out, head.out(h))  # nn.RNN over one step from a zero state
