"""The MLflow model registry: each task's best model as PREFIX-TASK, the best version under an alias.

A task's candidates are its variants with a metrics file and a model directory. The best one by
the task's metric (the number its result table ranks by) is registered when it beats the
version the alias points to, or when no version does yet. A registered version is a pyfunc
model holding the model directory (weights, vocabulary or tokenizer, and for news the sentence
encoder), logged as models-from-code (rnnlab/pyfunc.py). rnnlab's own `load` reads only that
directory, weights-only; `mlflow.pyfunc.load_model("models:/rnnlab-sms@champion")` works too.
"""

from __future__ import annotations

import json
import re
from fnmatch import fnmatchcase
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

from rnnlab import kinds, layout, metricsfile, tracking
from rnnlab.errors import RnnlabError

TASK_TAG = "rnnlab_task"
PIP_REQUIREMENTS = [*tracking.PIP_REQUIREMENTS, "transformers==5.23.0", "tokenizers==0.23.3", "safetensors"]


@dataclass(frozen=True)
class Task:
    name: str  # registered as PREFIX-<name>; results/champions/<name>.json
    runs_of: str  # the task in params.yaml: its metrics/ and models/ folders hold the variants
    metric: str  # dotted key in the metrics file
    higher_is_better: bool = True
    pattern: str = "*"  # variants that predict from raw text
    runs: tuple[str, ...] = ()  # every variant the task's settings train

    @property
    def experiment(self) -> str:
        return f"rnnlab-{self.runs_of}"


def tasks() -> dict[str, Task]:
    """Registered name -> Task, for every task of params.yaml whose champion is registered."""
    return {t.registered_as: Task(t.registered_as, t.name, t.metric, t.kind.higher_is_better, t.kind.servable, t.runs)
            for t in kinds.trained_tasks().values() if t.registered_as}


def task(name: str) -> Task:
    known = tasks()
    if name not in known:
        raise RnnlabError(f"unknown task {name!r} (registered tasks in params.yaml: {', '.join(known)})")
    return known[name]


def _metric(path: Path, key: str) -> float:
    found = metricsfile.value(metricsfile.read(path), key)
    if found is None:
        raise RnnlabError(f"{path}: no {key!r}")
    return found


def candidates(t: Task) -> dict[str, float]:
    """variant -> score, for every variant the task's settings train, from the versioned metrics files.

    Model directories play no part: a workspace holding a few of them (after a partial `dvc pull`,
    say) ranks the same variants as the one that committed the metrics."""
    expected = [r for r in t.runs if fnmatchcase(r, t.pattern)]
    missing = [r for r in expected if not layout.metrics(t.runs_of, r).is_file()]
    if missing or not expected:
        shown = ", ".join(missing[:4]) + (f" and {len(missing) - 4} more" if len(missing) > 4 else "")
        raise RnnlabError(f"{layout.METRICS / t.runs_of}: no metrics for {len(missing)} of the {len(expected)} variants "
                          f"params.yaml trains ({shown or 'none to rank'}); run `dvc repro` or check out the committed metrics")
    return {r: _metric(layout.metrics(t.runs_of, r), t.metric) for r in expected}


def beats(score: float, current: float, t: Task) -> bool:
    return score > current if t.higher_is_better else score < current


def best(t: Task) -> tuple[str, float, dict[str, float]]:
    scores = candidates(t)
    order = sorted(scores, key=lambda v: (-scores[v] if t.higher_is_better else scores[v], v))
    return order[0], scores[order[0]], scores


def selection(t: Task, prefix: str) -> dict:
    """What the pipeline's numbers say, independent of any tracking store (the stage's output)."""
    variant, score, scores = best(t)
    return {"task": t.name, "registered_model": f"{prefix}-{t.name}", "metric": t.metric,
            "higher_is_better": t.higher_is_better, "best_variant": variant, "score": score,
            "model_dir": str(layout.model_dir(t.runs_of, variant)), "candidates": scores}


def _registered(client, name: str, t: Task):
    from mlflow.exceptions import MlflowException

    try:
        model = client.get_registered_model(name)
    except MlflowException as e:
        if e.error_code == "RESOURCE_DOES_NOT_EXIST":
            return None
        raise
    if model.tags.get(TASK_TAG) != t.name:
        raise RnnlabError(f"MLflow registry at {tracking.redacted(tracking.configure())}: a model named {name!r} "
                          f"exists but was not registered by rnnlab for task {t.name!r} (tag {TASK_TAG} is "
                          f"{model.tags.get(TASK_TAG)!r}); set registry.prefix in params.yaml to another name")
    return model


def _alias_version(client, name: str, alias: str):
    from mlflow.exceptions import MlflowException

    try:
        return client.get_model_version_by_alias(name, alias)
    except MlflowException:
        return None


def _run_for(client, t: Task, variant: str, md5: str) -> str:
    """The evaluation run of this very model (same DVC hash), or a new run recording its metrics."""
    import mlflow

    run_name = f"{t.runs_of}/{variant}"
    exp = client.get_experiment_by_name(t.experiment)
    if exp is not None:
        runs = client.search_runs([exp.experiment_id], max_results=1, order_by=["attributes.start_time DESC"],
                                  filter_string=f"tags.mlflow.runName = '{run_name}' and tags.dvc_model_md5 = '{md5}'")
        if runs:
            return runs[0].info.run_id
    flat = _numbers(json.loads(layout.metrics(t.runs_of, variant).read_text(encoding="utf-8")))
    with mlflow.start_run(experiment_id=tracking.experiment_id(t.experiment), run_name=run_name) as run:
        mlflow.set_tags({"task": t.runs_of, "variant": variant, "dvc_model_md5": md5,
                         "git_commit": tracking.git_commit(), "logged_by": "registry (no evaluation run here)"})
        mlflow.log_metrics(flat)
        return run.info.run_id


def _numbers(d: dict, prefix: str = "") -> dict[str, float]:
    out = {}
    for k, v in d.items():
        key = re.sub(r"[^A-Za-z0-9_.:/ -]", "_", f"{prefix}{k}")  # MLflow's allowed metric names
        if isinstance(v, dict):
            out.update(_numbers(v, key + "_"))
        elif isinstance(v, (int, float)) and not isinstance(v, bool):
            out[key] = float(v)
    return out


def _log_model(run_id: str, model_dir: Path):
    import mlflow

    import rnnlab
    from rnnlab import serving
    from rnnlab.pyfunc import CODE

    artifacts = {"model_dir": str(model_dir)}
    if serving.kind(model_dir) == "news":
        from rnnlab import news

        config = json.loads((model_dir / "config.json").read_text(encoding="utf-8"))
        artifacts["encoder_dir"] = str(news.encoder_dir(config))
    with mlflow.start_run(run_id=run_id):
        info = mlflow.pyfunc.log_model(name=f"{model_dir.parent.name}-{model_dir.name}-served",
                                       python_model=str(CODE["served"]), artifacts=artifacts,
                                       code_paths=[str(Path(rnnlab.__file__).parent)],
                                       pip_requirements=PIP_REQUIREMENTS)
    return info


def promote(task_name: str, prefix: str = "rnnlab", alias: str = "champion") -> dict:
    """Register the task's best model if it beats the aliased version; say what happened."""
    from mlflow import MlflowClient

    t = task(task_name)
    chosen = selection(t, prefix)
    name, variant, score = chosen["registered_model"], chosen["best_variant"], chosen["score"]
    model_dir = layout.model_dir(t.runs_of, variant)
    if not model_dir.is_dir():
        here = sum(layout.model_dir(t.runs_of, r).is_dir() for r in chosen["candidates"])
        raise RnnlabError(f"{model_dir}: the best variant's model directory is not in this workspace ({here} of "
                          f"{len(chosen['candidates'])} are); `dvc pull {model_dir}` or `dvc repro` the stage that "
                          "writes it, then register again")
    tracking.require_reachable(tracking.configure())
    client = MlflowClient()
    md5 = tracking.dvc_hash(str(model_dir))
    registered = _registered(client, name, t)
    current = _alias_version(client, name, alias) if registered else None
    outcome = {**chosen, "alias": alias}
    if current is not None:
        held = float(current.tags.get("score", "nan"))
        same = current.tags.get("dvc_model_md5") == md5 and md5 not in ("unlocked", "unknown")
        if same or (current.tags.get("metric") == t.metric and not beats(score, held, t)):
            return {**outcome, "action": "kept", "version": int(current.version),
                    "champion_variant": current.tags.get("variant"), "champion_score": held}
    if registered is None:
        client.create_registered_model(name, tags={TASK_TAG: t.name},
                                       description=f"rnnlab {t.name}: best variant by {t.metric}")
    run_id = _run_for(client, t, variant, md5)
    logged = _log_model(run_id, model_dir)
    version = client.create_model_version(name, logged.model_uri, run_id=run_id, model_id=logged.model_id, tags={
        "variant": variant, "metric": t.metric, "score": repr(score), "dvc_model_md5": md5,
        "git_commit": tracking.git_commit()})
    client.set_registered_model_alias(name, alias, version.version)
    return {**outcome, "action": "registered", "version": int(version.version), "run_id": run_id,
            "champion_variant": variant, "champion_score": score,
            "replaced": None if current is None else int(current.version)}


def load(task_name: str, prefix: str = "rnnlab", alias: str = "champion"):
    """The aliased version's predictor (rnnlab.serving), built from its model directory alone.

    Only data is read from the artifact store: the model directory (and news' encoder) are
    downloaded and loaded weights-only. The pyfunc's code files, and any pickle planted beside
    them, are never imported or unpickled here.
    """
    import tempfile

    import mlflow

    from rnnlab import serving

    t = task(task_name)
    uri = tracking.configure()
    tracking.require_reachable(uri)
    if uri.startswith("sqlite:///") and not Path(uri.removeprefix("sqlite:///").split("?")[0]).is_file():
        raise RnnlabError(f"no MLflow store at {uri} (run from the project root, or set MLFLOW_TRACKING_URI "
                          "to the team's tracking server)")
    name = f"{prefix}-{t.name}"
    client = mlflow.MlflowClient()
    version = _alias_version(client, name, alias) if _registered(client, name, t) is not None else None
    if version is None:
        raise RnnlabError(f"MLflow registry at {tracking.redacted(uri)}: no {name}@{alias} yet "
                          f"(run `dvc repro register@{t.name}` or `rnnlab register {t.name}`)")
    work = tempfile.TemporaryDirectory(prefix="rnnlab-champion-")
    parts = _download_model_files(f"models:/{name}/{version.version}", Path(work.name), f"{name} version {version.version}")
    predictor = serving.load(parts["model_dir"], parts.get("encoder_dir"))
    predictor.artifacts = work  # kept while the predictor lives (news reads its encoder when predicting)
    return predictor


def _download_model_files(root: str, work: Path, what: str) -> dict[str, Path]:
    """The pyfunc's `model_dir` (and `encoder_dir`) artifacts, found through its MLmodel file read as data."""
    import mlflow
    import yaml

    try:
        mlmodel = Path(mlflow.artifacts.download_artifacts(artifact_uri=f"{root}/MLmodel", dst_path=str(work)))
        spec = yaml.safe_load(mlmodel.read_text(encoding="utf-8"))["flavors"]["python_function"]["artifacts"]
    except Exception as e:  # noqa: BLE001 - MLflow's and YAML's many error types: one line either way
        raise RnnlabError(f"{what}: no readable MLmodel ({type(e).__name__}: {str(e).splitlines()[0] if str(e) else ''})") from None
    parts = {}
    for part in ("model_dir", "encoder_dir"):
        rel = (spec.get(part) or {}).get("path") if isinstance(spec, dict) else None
        if rel is None and part == "encoder_dir":
            continue
        if not isinstance(rel, str) or PurePosixPath(rel).is_absolute() or ".." in PurePosixPath(rel).parts:
            raise RnnlabError(f"{what}: MLmodel names no safe path for its {part} ({rel!r})")
        parts[part] = Path(mlflow.artifacts.download_artifacts(artifact_uri=f"{root}/{rel}", dst_path=str(work / part)))
    return parts


def register_champion(name: str, prefix: str, alias: str) -> dict:
    """Promote task NAME's best model, say what happened, write results/champions/<name>.json."""
    from rnnlab import atomic

    outcome = promote(name, prefix, alias)
    registered, alias = outcome["registered_model"], outcome["alias"]
    if outcome["action"] == "registered":
        was = f" (was version {outcome['replaced']})" if outcome["replaced"] else ""
        print(f"{name}: {outcome['best_variant']} ({outcome['metric']} {outcome['score']:.4f}) registered as "
              f"{registered} version {outcome['version']}, now @{alias}{was}")
    else:
        print(f"{name}: {registered}@{alias} stays version {outcome['version']} ({outcome['champion_variant']}, "
              f"{outcome['metric']} {outcome['champion_score']:.4f}); this pipeline's best is "
              f"{outcome['best_variant']} at {outcome['score']:.4f}")
    atomic.write_json(layout.RESULTS / "champions" / f"{name}.json", selection(task(name), prefix))
    return outcome
