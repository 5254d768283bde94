"""End to end: the real `dvc repro` of every task in a temporary copy of the project, on small params.

The SMS-only behaviours (tracking, registry aliases, resume, prediction input) are in tests/test_sms_pipeline.py,
on a project of their own, so that the two modules run side by side on the two test workers.
"""

from __future__ import annotations

import csv
import json
import re
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest

from project_fixtures import KINDS, MODELS, load_small_params, make_project, project_env, run, runs
from rnnlab import kinds, params as P, significance


def trained(path: Path) -> dict[str, kinds.TrainedTask]:
    """The project's tasks that train models (params order), from its params.yaml."""
    return kinds.trained_tasks(P.load(path / "params.yaml"))


@pytest.fixture(scope="module")
def project(tmp_path_factory, mirror):
    """A git + DVC project copy, reproduced once from the mirror; yields (path, env, first repro output)."""
    path = tmp_path_factory.mktemp("project")
    env = project_env(path, mirror)
    params = load_small_params()
    params["tasks"]["sms"].update(seed_runs=[], extra_seeds=[])  # the seed sweep: tests/test_sms_pipeline.py
    params["tasks"]["news"]["variants"] = ["frozen"]  # the fine-tuned encoder: tests/test_news.py
    out = make_project(path, params, env, jobs=2)  # the parallel runner; plain `dvc repro` then runs nothing
    return path, env, out


def registry_client(path: Path):
    import mlflow

    return mlflow.MlflowClient(f"sqlite:///{path / 'mlflow.db'}")


def test_every_stage_wrote_its_outputs(project):
    path, _, out = project
    source = json.loads((path / "data/raw/sms_spam/source.json").read_text())
    assert source["corpus"] == "sms_spam" and source["source"].startswith("mirror")
    for split in ("train", "val", "test"):
        assert (path / "data/prepared/sms" / f"{split}.csv").stat().st_size > 0
    balance = json.loads((path / "metrics/sms/balance.json").read_text())
    assert sum(balance[s]["rows"] for s in ("train", "val", "test")) == 700
    for kind in KINDS:
        info = json.loads((path / f"data/embeddings/sms/{kind}/info.json").read_text())
        assert info["kind"] == kind
    assert 0 < json.loads((path / "data/embeddings/sms/glove/info.json").read_text())["coverage"] < 1
    for run_name in runs():
        metrics = json.loads((path / f"metrics/sms/{run_name}.json").read_text())
        assert 0.5 < metrics["accuracy"] <= 1 and set(metrics) >= {"ham", "spam", "macro_avg", "weighted_avg"}
        assert metrics["corpus"] == "sms_spam"
        for name in ("confusion.png", "curves.png", "history.csv"):
            assert (path / f"plots/sms/{run_name}" / name).stat().st_size > 0
        assert (path / f"models/sms/{run_name}/model.pt").exists()
    table = (path / "results/sms.md").read_text()
    for m in MODELS:
        for k in KINDS:
            assert f"| {m} | {k} | packed |" in table
    assert "deck: SimpleRNN, ragged" in table and "sms_spam" in table
    assert not list(path.rglob("*.tmp")), "temporary files were left behind"
    poetry = json.loads((path / "metrics/poetry/lstm.json").read_text())
    assert poetry["corpus"] == "leopardi_canti" and 1 < poetry["test_bpc"] < 7
    assert "Ognuno sta solo sul cuor della terra" in (path / "results/poetry-samples/lstm.md").read_text()
    assert "| lstm: LSTM(32), every next character" in (path / "results/poetry.md").read_text()  # small params' width


def test_a_letters_headline_run_is_retrained_with_each_extra_seed(project):
    """letters_seeds@chars-lstm: seed 42's numbers are the evaluate stage's, seed 1 is trained anew, and the
    page shows the spread."""
    path, _, _ = project
    sweep = json.loads((path / "metrics/letters/seeds/chars-lstm.json").read_text())
    base = json.loads((path / "metrics/letters/chars-lstm.json").read_text())
    assert sweep["seeds"] == [42, 1]
    keys = ("books_author_macro_f1", "letters_author_accuracy", "lang_accuracy", "author_macro_f1")
    assert sweep["per_seed"]["42"] == {k: base[k] for k in keys}
    for k in keys:
        values = [sweep["per_seed"][s][k] for s in ("42", "1")]
        assert sweep[f"{k}_mean"] == round(sum(values) / 2, 6) and 0 <= values[1] <= 1
        assert sweep[f"{k}_std"] == round(abs(values[0] - values[1]) / 2 ** 0.5, 6)
    # the letters' own head on the n-grams is a convex fit before the network: no seed in its score
    assert sweep["per_seed"]["1"]["letters_author_accuracy"] == base["letters_author_accuracy"]
    page = (path / "results/letters.md").read_text()
    fit = json.loads((path / "models/letters/chars-lstm/train.json").read_text())["letters_head_fit"]
    assert fit["l2"] in (0.001, 0.00001) and f"L2 strength {fit['l2']:g}, the strongest with the best 5-fold" in page
    assert "## Headline runs over seeds 42, 1" in page
    assert f"| TF-IDF character n-grams | lstm | {sweep['books_author_macro_f1_mean']:.4f} ± " in page
    # McNemar of each run's author predictions against the best run's, on the same test paragraphs
    best = "chars-lstm" if "| p vs chars-lstm² |" in page else "finetuned-lstm"
    other = {"chars-lstm": "finetuned-lstm", "finetuned-lstm": "chars-lstm"}[best]
    p = significance.mcnemar(*(significance.correct(path / f"plots/letters/{r}/author_confusion.csv") for r in (other, best)))[2]
    assert f"| p vs {best}² |" in page and f"| {significance.p_text(p)} |" in page


def test_a_poetry_model_is_retrained_with_each_extra_seed(project):
    """poetry_seeds@lstm: seed 42's bits per character are the evaluate stage's, seed 1 trains anew
    (another offset of every epoch's streams, other weights), and the page shows the spread."""
    path, _, _ = project
    sweep = json.loads((path / "metrics/poetry/seeds/lstm.json").read_text())
    base = json.loads((path / "metrics/poetry/lstm.json").read_text())
    assert sweep["seeds"] == [42, 1] and sweep["per_seed"]["42"] == {"test_bpc": base["test_bpc"], "val_bpc": base["val_bpc"]}
    other = sweep["per_seed"]["1"]
    assert 1 < other["test_bpc"] < 7 and other["test_bpc"] != base["test_bpc"]
    assert sweep["test_bpc_mean"] == round((base["test_bpc"] + other["test_bpc"]) / 2, 6)
    page = (path / "results/poetry.md").read_text()
    assert "Over seeds 42, 1 (stage `poetry_seeds`" in page
    assert f"| lstm | {sweep['test_bpc_mean']:.3f} ± {sweep['test_bpc_std']:.3f} |" in page
    # each test line's bits, for the paired bootstrap against the deck's model (not in this grid: no column)
    with open(path / "plots/poetry/lstm/test_lines.csv", newline="") as f:
        lines = list(csv.DictReader(f))
    chars = sum(int(r["chars"]) for r in lines)
    assert sum(float(r["bits"]) for r in lines) / chars == pytest.approx(base["test_bpc"], abs=1e-5)
    assert "vs deck" not in page


def test_the_pretrained_poetry_model_reads_the_prose_then_the_poems(project):
    path, _, _ = project
    split = json.loads((path / "metrics/poetry/split.json").read_text())
    assert split["prose_corpus"] == "gutenberg_letter_authors" and split["prose_chars"] == 20_000
    prose = (path / "data/prepared/poetry/prose.txt").read_text()
    assert "Renzo" in prose  # Manzoni's novel (its preface names the hero) ...
    test = (path / "data/prepared/poetry/test.txt").read_text()
    assert not [line for line in test.splitlines() if len(line) > 30 and line in prose]  # ... never the held-out poems
    trained = json.loads((path / "models/poetry/pretrained/train.json").read_text())
    assert [h["epoch"] for h in trained["prose_history"]] == [1] and trained["prose_chars"] == 20_000
    assert trained["history"][0]["val_bpc"] < trained["prose_history"][0]["val_bpc"]  # the poems' own epochs help
    config = json.loads((path / "models/poetry/pretrained/config.json").read_text())
    assert (config["cell"], config["hidden"], config["layers"], config["variant"]) == ("lstm", 16, 2, "pretrained")
    assert 1 < json.loads((path / "metrics/poetry/pretrained.json").read_text())["test_bpc"] < 7
    row = ("| pretrained: LSTM(16) x 2 layers, 1 epoch over 20,000 characters of gutenberg_letter_authors "
           "(Alessandro Manzoni), then the poems at lr 0.001 |")
    assert row in (path / "results/poetry.md").read_text()


def test_sentiment_tables_and_attribution_pages(project):
    path, _, _ = project
    balance = json.loads((path / "metrics/imdb_full/balance.json").read_text())
    assert balance["test"]["rows"] == pytest.approx(300, abs=2)  # the given test split keeps its share of 600
    for task, run_name in (("imdb_deck", "lstm-learned-bucketed"), ("imdb_full", "bilstm-glove-bucketed")):
        m = json.loads((path / f"metrics/{task}/{run_name}.json").read_text())
        assert set(m) >= {"pos", "neg", "accuracy"} and m["corpus"] == "imdb"
    attrs = json.loads((path / "metrics/sentiment/attributions.json").read_text())
    assert set(attrs) == {"imdb_deck/lstm-learned-bucketed", "imdb_full/bilstm-glove-bucketed"}
    for rows in attrs.values():
        assert rows[0]["text"].startswith("Masterpiece.") and rows[0]["tokens"][0] == "masterpiece"
        assert all(r["delta"] <= 0.05 and 0 <= r["prob_positive"] <= 1 for r in rows)
    page = (path / "results/attributions/sentiment/index.html").read_text()
    assert "imdb_full/bilstm-glove-bucketed" in page and "P(positive)" in page
    for name in ("comparison.png", "imdb_deck--lstm-learned-bucketed.png", "imdb_full--bilstm-glove-bucketed.html"):
        assert (path / "results/attributions/sentiment" / name).stat().st_size > 0
    table = (path / "results/sentiment.md").read_text()
    assert "| lstm | learned | bucketed |" in table and "| bilstm | glove | bucketed |" in table
    assert "deck: validation accuracy" in table and "± " in table and "comparison.png" in table
    # each classification task's own table (stage <task>_report)
    assert "| lstm | learned | bucketed |" in (path / "results/imdb_deck.md").read_text()
    assert "| bilstm | glove | bucketed |" in (path / "results/imdb_full.md").read_text()


def test_every_link_and_image_on_the_result_pages_opens_a_file_the_pipeline_made(project):
    """Relative links on results/*.md resolve from the page (the sentiment page's image once pointed at
    results/results/…, an image no viewer could show)."""
    path, _, _ = project
    pages = sorted((path / "results").glob("*.md"))
    assert pages
    broken = [f"{page.name}: {target}" for page in pages for target in re.findall(r"\]\(([^)\s]+)\)", page.read_text())
              if "://" not in target and not (page.parent / target.split("#")[0]).exists()]
    assert broken == []


def test_dvc_metrics_show_lists_a_few_headline_numbers_per_task_and_plots_overlay_the_variants(project):
    path, env, _ = project
    tasks = trained(path)
    shown = json.loads(run([sys.executable, "-m", "dvc", "metrics", "show", "--json"], path, env))
    files = shown[""]["data"]  # "" is the workspace
    assert set(files) == {f"metrics/{name}.json" for name in tasks}  # the per-variant reports are plain outputs
    assert all(1 <= len(f["data"]) <= 10 for f in files.values()), files
    sms = files["metrics/sms.json"]["data"]
    best = max(runs(), key=lambda r: (json.loads((path / f"metrics/sms/{r}.json").read_text())["macro_avg"]["f1_score"]))
    report = json.loads((path / f"metrics/sms/{best}.json").read_text())
    assert sms == {"macro_f1": report["macro_avg"]["f1_score"], "accuracy": report["accuracy"],
                   "spam_f1": report["spam"]["f1_score"]}
    assert set(files["metrics/poetry.json"]["data"]) == {"val_bpc", "test_bpc"}
    plots = json.loads(run([sys.executable, "-m", "dvc", "plots", "show", "--json"], path, env))
    assert not plots.get("errors"), plots.get("errors")
    curves = plots["data"]["sms: val_loss"][0]["content"]  # one Vega-Lite spec, every variant a line
    # DVC names each line by the part of its file's path that differs from the others'
    assert {r["filename"] for r in curves["data"]["values"]} == {f"{r}/history.csv" for r in runs()}
    confusion = plots["data"][f"plots/sms/{best}/confusion.csv"][0]["content"]
    pairs = confusion["data"]["values"]
    assert len(pairs) == 140 and {p["actual"] for p in pairs} == {"ham", "spam"}  # one row per test message


def test_dvc_plots_show_renders_offline_with_vega_inline(project, tmp_path):
    import shutil

    from browser import browser

    path, env, _ = project
    if shutil.which("npm") is None:
        pytest.skip("no npm: DVC keeps its CDN page")
    rnnlab = str(Path(sys.executable).parent / "rnnlab")
    built = subprocess.run([rnnlab, "offline-plots"], cwd=path, env=env, capture_output=True, text=True, timeout=600)
    if built.returncode != 0 and "npm pack" in built.stderr:
        pytest.skip(f"the npm registry is not reachable here: {built.stderr.strip()}")
    assert built.returncode == 0 and "Vega inline" in built.stdout, built.stderr
    run([sys.executable, "-m", "dvc", "plots", "show", "-o", "dvc_plots"], path, env)
    page = (path / "dvc_plots/index.html").read_text()
    assert 'src="https://cdn.jsdelivr' not in page and "/* vega-embed@" in page and "SMS spam: val loss" in page
    # no network at all: the charts draw from the inline scripts alone (an SVG or canvas per chart)
    charts = len(trained(path)) * 2
    with browser("--proxy-server=127.0.0.1:9") as chromium, chromium.open((path / "dvc_plots/index.html").as_uri()) as tab:
        dom = tab.wait_until(lambda dom: dom.count('class="marks"') >= charts, timeout=60)
        assert dom.count('class="marks"') >= charts, dom[:2000]
        tab.screenshot(tmp_path / "plots.png")


def test_second_repro_runs_nothing(project):
    path, env, _ = project
    out = run([sys.executable, "-m", "dvc", "repro"], path, env)
    assert "Running stage" not in out
    assert "Data and pipelines are up to date" in run([sys.executable, "-m", "dvc", "status"], path, env)


def test_generate_and_predict_commands_use_the_trained_models(project):
    path, env, _ = project
    rnnlab = str(Path(sys.executable).parent / "rnnlab")
    out = run([rnnlab, "generate", "models/poetry/lstm", "--prompt", "Silvia, rimembri ancora\\n", "--length", "30",
               "--seed", "1"], path, env)
    assert out.startswith("Silvia, rimembri ancora\n") and len(out.split("\n", 1)[1].rstrip("\n")) >= 20
    again = run([rnnlab, "generate", "models/poetry/lstm", "--prompt", "Silvia, rimembri ancora\\n", "--length", "30",
                 "--seed", "1"], path, env)
    assert again == out
    rows = [json.loads(line) for line in run([rnnlab, "predict", "sms", "--model-dir", "models/sms/lstm-glove-packed",
                                              "ok see you later", "WIN a FREE prize now"], path, env).splitlines()
            if line.startswith("{")]
    assert [set(r) for r in rows] == [{"text", "label", "probabilities"}] * 2
    assert [set(r["probabilities"]) for r in rows] == [{"ham", "spam"}] * 2


def test_each_task_has_a_registered_champion(project):
    path, env, out = project
    client = registry_client(path)
    registered = {t.registered_as: t for t in trained(path).values() if t.registered_as}
    assert set(registered) == {"sms", "sentiment", "letters", "news", "poetry"}  # imdb_deck: register_as false
    for task, t in registered.items():
        chosen = json.loads((path / f"results/champions/{task}.json").read_text())
        version = client.get_model_version_by_alias(f"rnnlab-{task}", "champion")
        assert version.tags["variant"] == chosen["best_variant"] and float(version.tags["score"]) == chosen["score"]
        assert client.get_registered_model(f"rnnlab-{task}").tags["rnnlab_task"] == task
        scores = chosen["candidates"].values()
        assert chosen["score"] == (max(scores) if t.kind.higher_is_better else min(scores))
    assert registered["poetry"].kind.higher_is_better is False  # bits per character: lower wins
    assert set(json.loads((path / "results/champions/letters.json").read_text())["candidates"]) == {"finetuned-lstm"}


def test_champions_answer_from_the_registry_with_nothing_else(project, tmp_path):
    path, env, _ = project
    # a directory without the project: the registered model brings weights, vocabulary and code
    code = ("import json, mlflow, pandas as pd; mlflow.set_tracking_uri(%r);"
            "m = mlflow.pyfunc.load_model('models:/rnnlab-sms@champion');"
            "print(m.predict(pd.DataFrame({'text': ['free', 'call now to claim your prize ' * 400, '']})).to_json(orient='records'));"
            "p = mlflow.pyfunc.load_model('models:/rnnlab-poetry@champion');"
            "print(p.predict(pd.DataFrame({'prompt': ['Silvia'], 'length': [25], 'seed': [3]})).to_json(orient='records'))"
            % f"sqlite:///{path / 'mlflow.db'}")
    done = subprocess.run([sys.executable, "-c", code], cwd=tmp_path, env={**env, "PYTHONPATH": ""},
                          capture_output=True, text=True)
    assert done.returncode == 0, done.stderr[-2000:]
    sms, poem = (json.loads(line) for line in done.stdout.strip().splitlines()[-2:])
    assert len(sms) == 3 and all(r["label"] in ("ham", "spam") for r in sms)  # 1 token, 2,400 tokens, empty
    assert all(sum(r["probabilities"].values()) == pytest.approx(1, abs=1e-4) for r in sms)
    assert poem[0]["prompt"] == "Silvia" and len(poem[0]["text"]) == 25

    rnnlab = str(Path(sys.executable).parent / "rnnlab")
    rows = [json.loads(line) for line in run([rnnlab, "predict", "letters", "Lieber Vater, ich schreibe dir"],
                                             path, env).splitlines() if line.startswith("{")]
    assert set(rows[0]) == {"text", "author", "language", "probabilities", "language_probabilities"}
    news = next(json.loads(line) for line in run([rnnlab, "predict", "news", "Stocks fell as rates rose"], path, env)
                .splitlines() if line.startswith("{"))
    assert news["label"] in news["probabilities"] and len(news["probabilities"]) > 2
    poem = run([rnnlab, "predict", "poetry", "Silvia, rimembri\\n", "--length", "30", "--seed", "1"], path, env)
    assert poem.startswith("Silvia, rimembri\n") and len(poem.rstrip("\n")) >= len("Silvia, rimembri\n") + 20


def test_comparison_page_links_every_row_to_its_run_and_mlflow_compares_them(project, tmp_path):
    import re

    from browser import browser
    from tracking_fixtures import mlflow_server

    path, env, _ = project
    rnnlab = str(Path(sys.executable).parent / "rnnlab")
    with mlflow_server(f"sqlite:///{path / 'mlflow.db'}", tmp_path) as ui:  # the UI on the project's own store
        out = run([rnnlab, "compare", "--mlflow-url", ui], path, env)
        page = (path / "results/compare.html").read_text()
        links = re.findall(r'<tr><td>([a-z0-9-]+)(?: <span[^>]*>★</span>)?</td>.*?<a href="([^"]+)">', page)
        folders = list(trained(path))
        assert folders == ["sms", "imdb_deck", "imdb_full", "poetry", "letters", "news"]
        variants = {f"{folder}/{p.stem}" for folder in folders
                    for p in (path / "metrics" / folder).glob("*.json") if (path / "models" / folder / p.stem).is_dir()}
        assert f"{len(variants)} variants in {len(folders)} tasks, {len(variants)} linked" in out
        assert len(links) == len(variants) and page.count("data:image/png;base64,") == len(folders)
        with sqlite3.connect(path / "mlflow.db") as db:
            names = dict(db.execute("select run_uuid, name from runs"))
        linked = {names[url.rsplit("/", 1)[1]] for _, url in links}
        assert linked == variants  # every row opens the run of that very variant
        best = json.loads((path / "results/champions/sms.json").read_text())["best_variant"]
        assert f"<tr><td>{best} <span" in page

        # the page itself, plots first, sorted in the browser by its ranking column (#sort=1), lowest first
        page_url = (path / "results/compare.html").as_uri()
        with browser() as chromium:
            with chromium.open(page_url + "#sort=1") as tab:
                dom = tab.wait_for('<section id="sms">')
                tab.screenshot(tmp_path / "compare.png")
            sms = dom.split('<section id="sms">', 1)[1].split("</section>", 1)[0]
            assert sms.index("<img") < sms.index("<table")
            shown = [float(v) for v in re.findall(r"<tr><td>[a-z0-9-]+(?: <span[^>]*>★</span>)?</td><td>([\d.]+)</td>", sms)]
            assert len(shown) == len(runs()) and shown == sorted(shown), shown
            assert (tmp_path / "compare.png").stat().st_size > 10_000
            compare = re.search(r'href="([^"]+compare-runs[^"]+)"', page)[1].replace("&amp;", "&")
            with chromium.open(compare) as tab:  # the page fills itself from the API after loading
                dom = tab.wait_for(f"Comparing {len(runs())} Runs from 1 Experiment", *(f"sms/{r}" for r in runs()))
        assert f"Comparing {len(runs())} Runs from 1 Experiment" in dom
        assert all(f"sms/{r}" in dom for r in runs()) and "test_accuracy" in dom


def test_attributions_that_miss_the_bound_are_flagged_and_the_pipeline_goes_on(project):
    """Last in this module: it reruns the attribution stages with a bound no model meets, then restores them."""
    import yaml

    path, env, _ = project
    params_file = path / "params.yaml"
    original = params_file.read_text()
    params = yaml.safe_load(original)
    params["tasks"]["sentiment"]["attributions"].update(n_steps=8, max_steps=8, max_delta=1e-12)  # one 8-point rule
    try:
        params_file.write_text(yaml.safe_dump(params, sort_keys=False))
        out = run([sys.executable, "-m", "dvc", "repro", "sentiment_report"], path, env)
        warnings = [line for line in out.splitlines() if line.startswith("warning: attributions of ")]
        attrs = [r for rows in json.loads((path / "metrics/sentiment/attributions.json").read_text()).values() for r in rows]
        # a row whose float32 sum comes out exact (delta 0.0; seen once on an Intel host) meets any bound
        missed = [r for r in attrs if r["delta"] > 1e-12]
        assert len(attrs) == 4 and len(missed) >= 3 and all(r["n_steps"] == 8 for r in attrs)
        assert all(r["converged"] == (r["delta"] <= 1e-12) for r in attrs)
        assert len(warnings) == len(missed) and all("completeness delta" in w and "8 steps" in w for w in warnings)
        assert (path / "results/attributions/sentiment/index.html").read_text().count("not converged: delta") == len(missed)
        assert f"**{len(missed)} of 4 attributions missed the bound 1e-12**" in (path / "results/sentiment.md").read_text()

        params["tasks"]["sentiment"]["attributions"]["strict"] = True  # opt in: a miss fails the stage, in one line
        params_file.write_text(yaml.safe_dump(params, sort_keys=False))
        done = subprocess.run([sys.executable, "-m", "dvc", "repro", "sentiment_attributions"], cwd=path, env=env,
                              capture_output=True, text=True)
        assert done.returncode != 0
        errors = [line for line in done.stderr.splitlines() if line.startswith("error: attributions of ")]
        assert errors == [next(e for e in errors if "imdb_deck/lstm-learned-bucketed for 'Masterpiece." in e)]
    finally:
        params_file.write_text(original)
        run([sys.executable, "-m", "dvc", "repro", "sentiment_report"], path, env)
