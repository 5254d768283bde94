"""The news stages end to end on 240 real HuffPost records and the real all-MiniLM-L6-v2, in a temp project."""

from __future__ import annotations

import json
import sqlite3
import statistics

import pandas as pd
import pytest
import torch
import yaml

from conftest import ROOT, stage_module
from rnnlab import evaluation, fetch, newstraining, significance, training
from rnnlab.errors import RnnlabError

news_prepare, news_embed, news_train, news_evaluate, news_seeds, news_report = (
    stage_module("news", step) for step in ("prepare", "embed", "train", "evaluate", "seeds", "report"))
TASK = "news"

VARIANTS = ("frozen", "finetuned")
SPLITS = ("train", "val", "test")


def small(params: dict) -> dict:
    news = params["tasks"][TASK]
    news.update(max_rows=240, min_class_rows=5, max_epochs=3, patience=3, extra_seeds=[1])
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
    only_tuned, only_frozen, p = significance.mcnemar(*(significance.correct(path / f"plots/news/{v}/confusion.csv")
                                                         for v in ("finetuned", "frozen")))
    assert (f"the fine-tuned run alone is right on {only_tuned} and the frozen alone on {only_frozen}: McNemar's exact "
            f"test (rnnlab/significance.py) gives {significance.p_phrase(p)}") in report
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


@pytest.mark.slow
def test_the_sweep_trains_and_scores_a_seed_as_the_train_and_evaluate_stages_do(project):
    path, _ = project
    labels = read(path / "data/prepared/news/corpus.json")["labels"]
    tr = newstraining.train_variant(TASK, "frozen", 42, "news/frozen/seed 42")
    tr.resume.unlink()
    assert tr.summary == read(path / "models/news/frozen/train.json")
    report = evaluation.report(*newstraining.predict_test_split(TASK, "frozen", tr.model, labels), labels)
    metrics = read(path / "metrics/news/frozen.json")
    assert {k: metrics[k] for k in report} == report  # the in-memory model scores as the saved one


@pytest.mark.slow
def test_extra_seeds_retrain_each_variant_resumably_and_the_report_pairs_them(project, monkeypatch, capsys):
    path, _ = project
    monkeypatch.setenv("MLFLOW_TRACKING_URI", f"sqlite:///{path / 'seeds.db'}")  # the stages' own runs stay as they are
    fit_loop = training.fit_loop

    def killed_after_one_epoch(*args, **kwargs):
        fit_loop(*args, **{**kwargs, "max_epochs": 1})
        raise KeyboardInterrupt

    monkeypatch.setattr(training, "fit_loop", killed_after_one_epoch)
    with pytest.raises(KeyboardInterrupt):
        news_seeds.run(TASK, "frozen")
    assert len(list((path / ".rnnlab/resume").glob("news-frozen-s1-*.pt"))) == 1
    monkeypatch.setattr(training, "fit_loop", fit_loop)
    capsys.readouterr()
    for variant in VARIANTS:
        news_seeds.run(TASK, variant)
    assert "news/frozen/seed 1: resuming from epoch 2" in capsys.readouterr().out
    assert not list((path / ".rnnlab/resume").glob("*.pt"))  # deleted once the numbers are written

    sweeps = {v: read(path / f"metrics/news/seeds/{v}.json") for v in VARIANTS}
    db = sqlite3.connect(path / "seeds.db")
    runs = dict(db.execute("select r.name, r.run_uuid from runs r join experiments e using (experiment_id) "
                           "where e.name = 'rnnlab-news'").fetchall())
    assert sorted(runs) == ["news/finetuned/seed-1", "news/frozen/seed-1"]
    for variant, s in sweeps.items():
        m = read(path / f"metrics/news/{variant}.json")
        assert s["seeds"] == [42, 1] and s["per_seed"]["42"] == {"accuracy": m["accuracy"], "macro_f1": m["macro_f1"]}
        for key in ("accuracy", "macro_f1"):
            values = [s["per_seed"][seed][key] for seed in ("42", "1")]
            assert s[f"{key}_mean"] == pytest.approx(statistics.fmean(values), abs=1e-6)
            assert s[f"{key}_std"] == pytest.approx(statistics.stdev(values), abs=1e-6)
        run = runs[f"news/{variant}/seed-1"]
        logged = lambda table: dict(db.execute(f"select key, value from {table} where run_uuid = ?", (run,)))  # noqa: E731
        assert logged("tags")["seed_sweep"] == "true" and logged("params")["seed"] == "1"
        assert logged("latest_metrics")["test_macro_f1"] == pytest.approx(s["per_seed"]["1"]["macro_f1"])
        # seed 1 trained a model of its own: other validation losses than seed 42's, epoch by epoch
        val_loss = [v for (v,) in db.execute("select value from metrics where run_uuid = ? and key = 'val_loss' "
                                             "order by step", (run,))]
        seed42 = [row["val_loss"] for row in read(path / f"models/news/{variant}/train.json")["history"]]
        assert val_loss and val_loss != seed42

    news_report.run(TASK)
    report = (path / "results/news.md").read_text()
    for s in sweeps.values():
        assert (f"| {s['macro_f1_mean']:.3f} ± {s['macro_f1_std']:.3f} | {s['accuracy_mean']:.4f} ± "
                f"{s['accuracy_std']:.4f} | 42, 1 |") in report
    diffs = [sweeps["finetuned"]["per_seed"][seed]["macro_f1"] - sweeps["frozen"]["per_seed"][seed]["macro_f1"]
             for seed in ("42", "1")]
    assert f"| {statistics.fmean(diffs) * 100:+.2f} ± {statistics.stdev(diffs) * 100:.2f} |" in report
    assert "| not settled: 2 seeds, the goal asks for 3" in report

    params_file = path / "params.yaml"
    saved = params_file.read_text()
    params = yaml.safe_load(saved)
    try:
        params["tasks"][TASK]["extra_seeds"] = []  # the sweep's files are left from another configuration
        params_file.write_text(yaml.safe_dump(params))
        news_report.run(TASK)
        report = (path / "results/news.md").read_text()
        m = read(path / "metrics/news/frozen.json")
        rows = [line for line in report.splitlines() if line.startswith(("| frozen |", "| finetuned |"))]
        assert rows and not any("±" in row for row in rows) and f"| {m['macro_f1']:.3f} | {m['accuracy']:.4f} | 42 |" in report
        params["tasks"][TASK]["extra_seeds"] = [1, 2]
        params_file.write_text(yaml.safe_dump(params))
        with pytest.raises(RnnlabError, match=r"seeds/frozen.json: seeds \[42, 1\], but params.yaml asks for "
                                              r"\[42, 1, 2\] \(rerun news_seeds@frozen\)"):
            news_report.run(TASK)
    finally:
        params_file.write_text(saved)


def test_an_extra_seed_that_repeats_a_seed_is_refused(in_project):
    params = yaml.safe_load((in_project / "params.yaml").read_text())
    params["tasks"][TASK]["extra_seeds"] = [1, 42]  # 42: the default seed, trained by news_train
    (in_project / "params.yaml").write_text(yaml.safe_dump(params))
    with pytest.raises(RnnlabError, match=r"tasks.news.extra_seeds \[1, 42\] repeats a seed"):
        news_seeds.run(TASK, "frozen")


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
