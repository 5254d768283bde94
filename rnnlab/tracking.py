"""MLflow logging: one run per trained model, tagged with the code and data it came from.

The train stage opens the run as training starts and logs every epoch as it ends, so `mlflow ui`
shows training live (training_run). The evaluate stage finds that run again by the digest of
the model directory it evaluates and adds the test metrics, plots, datasets and the model
(log_or_warn); a model restored by DVC rather than trained here gets a new run with its history.

Tracking goes to $MLFLOW_TRACKING_URI when set, else to the SQLite file mlflow.db at the
project root (artifacts under ./mlruns). `mlflow ui` in the project root shows them.
"""

from __future__ import annotations

import contextlib
import functools
import hashlib
import json
import logging
import os
import re
import queue
import subprocess
import sys
import threading
import time
import warnings
from pathlib import Path
from typing import Callable

import yaml

_YamlLoader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)  # the C parser: dvc.lock runs to megabytes

DEFAULT_URI = "sqlite:///mlflow.db"
KIND_TAG, KIND = "mlflow.experimentKind", "custom_model_development"
# what makes results: a change elsewhere (dvc.lock, metrics, pages the stages rewrite) is not "dirty" code
CODE_PATHS = ("rnnlab", "stages", "pipelines", "params.yaml", "dvc.yaml", "catalog.yaml", "pyproject.toml")
# what a logged model needs beside rnnlab's own code (rnnlab.registry adds the news encoder's)
PIP_REQUIREMENTS = ["torch==2.13.0", "numpy==2.4.6", "pandas==3.1.1", "pyyaml==6.0.3", "tqdm==4.70.1"]


def configure() -> str:
    os.environ.setdefault("MLFLOW_DISABLE_TELEMETRY", "true")
    os.environ.setdefault("MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR", "false")
    # MLflow prints "View run at <tracking URI>" with any user:password in it; the stages name the run id
    os.environ.setdefault("MLFLOW_SUPPRESS_PRINTING_URL_TO_STDOUT", "true")
    # a server that goes away mid-run should cost seconds: MLflow's own default (7 retries, backoff
    # factor 2, 120 s timeout) keeps a finished stage waiting about four minutes per request
    for name, value in (("MLFLOW_HTTP_REQUEST_MAX_RETRIES", "3"), ("MLFLOW_HTTP_REQUEST_BACKOFF_FACTOR", "1"),
                        ("MLFLOW_HTTP_REQUEST_TIMEOUT", "60")):
        os.environ.setdefault(name, value)
    # the pyfunc wrapper is ours (logged as models-from-code) and takes untyped DataFrames
    warnings.filterwarnings("ignore", category=UserWarning, module=r"mlflow\.pyfunc\.utils\.data_validation")
    warnings.filterwarnings("ignore", message=".*Add type hints to the `predict` method", category=UserWarning)
    for name in ("mlflow.pyfunc", "mlflow.tracking._model_registry", "mlflow.store.db.utils", "alembic"):
        logging.getLogger(name).setLevel(logging.WARNING if name != "mlflow.pyfunc" else logging.ERROR)
    uri = os.environ.get("MLFLOW_TRACKING_URI") or DEFAULT_URI
    import mlflow

    _skip_requirement_check()
    mlflow.set_tracking_uri(uri)
    return uri


def _skip_requirement_check() -> None:
    """Turn off MLflow's check of a model's pins against the installed distributions.

    log_model runs it twice: saving the model (mlflow.utils.environment) and loading it back to check
    the input example (mlflow.pyfunc.load_model); each looks up every installed distribution's file
    list: 1 s of an evaluate stage on an idle machine here, 3.7 s under load. The pins are pyproject's
    own, so the check could only repeat what the install enforced. MLflow has no setting for it
    (MLFLOW_SKIP_PIP_REQUIREMENTS_CHECK skips another one, pip's dry run), and its callers import the
    function by name, so every name bound to it in a loaded MLflow module is rebound here, the defining
    module's too: a module imported later copies the no-op from there. tests/test_tracking.py fails if
    log_model still runs the check."""
    from mlflow.utils import requirements_utils

    check = getattr(requirements_utils, "warn_dependency_requirement_mismatches", None)
    if check is None or check is _no_requirement_check:
        return
    for name, module in list(sys.modules.items()):
        if name == "mlflow" or name.startswith("mlflow."):
            for attr, value in list(getattr(module, "__dict__", {}).items()):  # sys.modules may hold None
                if value is check:
                    setattr(module, attr, _no_requirement_check)


def _no_requirement_check(*args, **kwargs) -> None:
    return None


def redacted(uri: str) -> str:
    """The URI with every credential masked, for messages and logs: user:password@, a token alone
    before the @ (http://TOKEN@host), and secret-looking query values (?token=, ?access_key=, ...)."""
    from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

    parts = original = urlsplit(uri)
    if "@" in parts.netloc:
        userinfo, host = parts.netloc.rsplit("@", 1)
        masked = f"{userinfo.split(':', 1)[0]}:***" if ":" in userinfo else "***"
        parts = parts._replace(netloc=f"{masked}@{host}")
    if parts.query:
        query = [(k, "***" if _SECRET_KEY.search(k) else v) for k, v in parse_qsl(parts.query, keep_blank_values=True)]
        parts = parts._replace(query=urlencode(query, safe="*"))
    return uri if parts == original else urlunsplit(parts)  # urlunsplit would drop sqlite:///'s empty host


_SECRET_KEY = re.compile(r"token|secret|pass|pwd|key|auth|signature|credential|sig$", re.I)


def _health_request(uri: str):
    """GET <uri>/health; credentials in the URI go into a Basic header (urllib cannot take them in the URL)."""
    import base64
    import urllib.request
    from urllib.parse import unquote, urlsplit, urlunsplit

    parts = urlsplit(uri)
    host = (parts.hostname or "") + (f":{parts.port}" if parts.port else "")
    request = urllib.request.Request(urlunsplit(parts._replace(netloc=host)).rstrip("/") + "/health")
    if parts.username is not None:
        pair = f"{unquote(parts.username)}:{unquote(parts.password or '')}"
        request.add_header("Authorization", "Basic " + base64.b64encode(pair.encode()).decode())
    return request


def require_reachable(uri: str, timeout: float = 5.0) -> None:
    """Fail in seconds, in one line, when a tracking server does not answer (MLflow itself retries for minutes)."""
    import urllib.error
    import urllib.request

    from rnnlab.errors import RnnlabError

    if not uri.startswith(("http://", "https://")):
        return
    try:
        with urllib.request.urlopen(_health_request(uri), timeout=timeout):
            return
    except urllib.error.HTTPError as e:
        if e.code in (401, 403):
            raise RnnlabError(f"MLflow tracking server {redacted(uri)} refused the credentials (HTTP {e.code}); "
                              "set MLFLOW_TRACKING_USERNAME and MLFLOW_TRACKING_PASSWORD") from None
        return  # answering: an old server without /health
    except (OSError, ValueError) as e:
        reason = getattr(e, "reason", e)
        raise RnnlabError(f"MLflow tracking server {redacted(uri)} is not answering ({reason}); start it "
                          "(`make servers`) or unset MLFLOW_TRACKING_URI to track into ./mlflow.db") from None


def ensure_store() -> str:
    """Create the tracking store's tables now, in one process.

    Several workers opening a new SQLite store at once each run MLflow's schema migrations and
    collide ("table _alembic_tmp_latest_metrics already exists"), leaving the file half-migrated.
    """
    uri = configure()
    import mlflow

    mlflow.search_experiments(max_results=1)
    return uri


def experiment_id(name: str) -> str:
    """The id of experiment `name`, created if needed, safe when several processes create it at once.

    When two processes create the same experiment, MLflow's `set_experiment` returns it to the loser
    without making it active (mlflow 3.17 fluent.py), so a following `start_run()` lands in "Default".
    Passing the id explicitly avoids that.
    """
    import mlflow

    experiment = mlflow.set_experiment(name)
    if experiment.tags.get(KIND_TAG) != KIND:  # else the UI opens it on the GenAI overview
        client = mlflow.MlflowClient()
        try:
            client.set_experiment_tag(experiment.experiment_id, KIND_TAG, KIND)
        except Exception:  # noqa: BLE001 - another process set it at the same moment: fine if it is there
            if client.get_experiment(experiment.experiment_id).tags.get(KIND_TAG) != KIND:
                raise
    return experiment.experiment_id


def git_commit() -> str:
    """HEAD, with "-dirty" when the code or configuration differs from it. The stages themselves rewrite
    dvc.lock, metrics and result pages before they log, so those never count."""
    try:
        sha = subprocess.run(["git", "rev-parse", "HEAD"], capture_output=True, text=True, check=True).stdout.strip()
        dirty = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no", "--", *CODE_PATHS],
                               capture_output=True, text=True).stdout.strip()
        return sha + ("-dirty" if dirty else "")
    except (OSError, subprocess.CalledProcessError):
        return "unknown"


def dvc_hash(path: str, lock: Path = Path("dvc.lock")) -> str:
    """The md5 DVC recorded for an output path (what `dvc pull` would fetch), if locked.

    Stages compute it for their MLflow tags after their outputs are written, so it never raises:
    an unreadable dvc.lock tags "unknown" rather than failing a finished stage."""
    try:
        return _locked_outputs(str(lock.resolve()), lock.stat().st_mtime_ns).get(path, "unlocked")
    except FileNotFoundError:
        return "unlocked"
    except (OSError, yaml.YAMLError, AttributeError, TypeError):
        return "unknown"


@functools.lru_cache(maxsize=4)
def _locked_outputs(lock: str, mtime_ns: int) -> dict[str, str]:
    """path -> md5 of every output in dvc.lock (parsed once per version of the file: it is large)."""
    stages = (yaml.load(Path(lock).read_text(encoding="utf-8"), Loader=_YamlLoader) or {}).get("stages", {})
    return {out["path"]: out.get("md5", "unknown") for stage in stages.values() for out in stage.get("outs", [])}


def dvc_experiment_tags() -> dict:
    """Inside `dvc exp run`, DVC names the experiment and its baseline commit in the environment."""
    names = {"dvc_exp": "DVC_EXP_NAME", "dvc_exp_baseline": "DVC_EXP_BASELINE_REV"}
    return {tag: os.environ[var] for tag, var in names.items() if os.environ.get(var)}


_URL = re.compile(r"[A-Za-z][A-Za-z0-9+.-]*://[^\s'\"<>()]+")


def scrub(text: str) -> str:
    """Every URL in text redacted (MLflow's error messages quote the full request URL)."""
    return _URL.sub(lambda m: redacted(m[0]), text)


class TrackingError(Exception):
    """An MLflow call failed; the message is its first line with passwords masked."""


def digest(path: Path) -> str:
    """A content digest of a file or directory (names and bytes), 32 hex digits like DVC's md5.

    It names a model across stages: the train stage tags its run with it, the evaluate stage
    finds the run by it. dvc.lock's md5 cannot serve there: the train stage runs before DVC hashes."""
    h = hashlib.sha256()
    files = sorted(p for p in path.rglob("*") if p.is_file()) if path.is_dir() else [path]
    for f in files:
        h.update(f.relative_to(path).as_posix().encode() if path.is_dir() else f.name.encode())
        h.update(b"\0")
        with f.open("rb") as stream:
            for chunk in iter(lambda: stream.read(1 << 20), b""):
                h.update(chunk)
    return h.hexdigest()[:32]


def dataset(path: Path, context: str):
    """An MLflow dataset input for a DVC-tracked data directory: its md5 in dvc.lock (else, before DVC
    has locked it, its content digest)."""
    from mlflow.entities import Dataset, DatasetInput, InputTag

    md5 = dvc_hash(str(path))
    locked = md5 not in ("unlocked", "unknown")  # DVC's md5 of a directory ends in ".dir": 36 characters
    entity = Dataset(name=path.as_posix(), digest=md5 if locked else digest(path), source_type="local",
                     source=json.dumps({"uri": path.as_posix()}))
    return DatasetInput(entity, [InputTag("mlflow.data.context", context)])


# --- the run of one model, opened by its train stage --------------------------------------------

MODEL_TAG = "model_digest"
_live: LiveRun | None = None


def epoch_done(row: dict, desc: str = "") -> None:
    """training.fit_loop reports every finished epoch here; an open training run logs it at once.

    A loop named "<run>: <part>" (the news head's warm start) logs under "<part>/<metric>"."""
    if _live is not None:
        _live.epoch(row, desc.split(": ", 1)[1] + "/" if ": " in desc else "")


@contextlib.contextmanager
def training_run(task: str, run: str, seed: int, settings: dict):
    """The MLflow run of the model `task/run`, open while its stage trains it on data/prepared/<task>;
    its params are the seed and the (nested) settings.

    Every call goes through one background thread, so neither importing MLflow nor a slow
    server holds training up, and a tracking failure costs one warning line: the evaluate stage
    logs a new run then. Leave the block with live.trained(model_dir) called; an exception marks
    the run FAILED."""
    global _live
    from rnnlab import layout

    live = _live = LiveRun(task, run, {"seed": seed, "run": run, **settings}, layout.prepared(task))
    try:
        yield live
    except BaseException:
        live.close("FAILED")
        raise
    finally:
        _live = None
    live.close("FINISHED")


class LiveRun:
    def __init__(self, task: str, run: str, params: dict, data: Path):
        self.name, self.run_id, self.failed = f"{task}/{run}", None, False
        self.calls: queue.Queue = queue.Queue()
        self.worker = threading.Thread(target=self._work, name="mlflow", daemon=True)
        self.worker.start()
        self._call(self._start, task, params, data)

    def epoch(self, row: dict, prefix: str) -> None:
        stamp = int(time.time() * 1000)
        self._call(lambda: self.client.log_batch(self.run_id, metrics=[
            self.Metric(f"{prefix}{k}", float(v), stamp, row["epoch"]) for k, v in row.items() if k != "epoch"]))

    def trained(self, model_dir: Path) -> None:
        tag = digest(model_dir)
        self._call(lambda: self.client.set_tag(self.run_id, MODEL_TAG, tag))

    def close(self, status: str, wait_s: float = 120.0) -> None:
        self._call(lambda: self.client.set_terminated(self.run_id, status))
        self.calls.put(None)
        self.worker.join(wait_s)
        if self.worker.is_alive():
            self._warn(f"the tracking server did not answer within {wait_s:.0f} s")

    def _call(self, fn, *args) -> None:
        self.calls.put(lambda: fn(*args))

    def _work(self) -> None:
        while (call := self.calls.get()) is not None:
            if self.failed:
                continue
            try:
                call()
            except Exception as e:  # noqa: BLE001 - training goes on; evaluate logs a new run
                self.failed = True
                first = (str(e).splitlines() or [""])[0]
                self._warn(scrub(f"{type(e).__name__}: {first}"))

    def _start(self, task: str, params: dict, data: Path) -> None:
        require_reachable(configure())
        from mlflow import MlflowClient
        from mlflow.entities import Metric, Param

        self.client, self.Metric = MlflowClient(), Metric
        experiment = experiment_id(f"rnnlab-{task}")
        self._mark_killed(experiment)
        run = self.client.create_run(experiment, run_name=self.name, tags={
            "task": task, "git_commit": git_commit(), "stage": "train", **dvc_experiment_tags()})
        self.run_id = run.info.run_id
        self.client.log_batch(self.run_id, params=[Param(k, str(v)[:6000]) for k, v in _flat(params).items()])
        self.client.log_inputs(self.run_id, datasets=[dataset(data, "training")])
        print(f"{self.name}: training logged live to MLflow run {self.run_id}", flush=True)

    def _mark_killed(self, experiment: str) -> None:
        """A run of this model left RUNNING by a killed stage ends as KILLED: this one replaces it."""
        for run in self.client.search_runs([experiment], max_results=20, filter_string=(
                f"tags.mlflow.runName = '{self.name}' and attributes.status = 'RUNNING' and tags.stage = 'train'")):
            self.client.set_terminated(run.info.run_id, "KILLED")

    def _warn(self, why: str) -> None:
        print(f"warning: {self.name}: live MLflow logging stopped ({why}); training goes on and the evaluate "
              "stage logs the run", file=sys.stderr, flush=True)


def _flat(settings: dict, prefix: str = "") -> dict:
    """Nested settings as MLflow params: {"train": {"lr": 0.001}} -> {"train.lr": 0.001}."""
    out = {}
    for key, value in settings.items():
        out.update(_flat(value, f"{prefix}{key}.") if isinstance(value, dict) else {f"{prefix}{key}": value})
    return out


def log_run(**run) -> str:
    try:
        return _log_run(**run)
    except Exception as e:  # noqa: BLE001 - callers keep their outputs and print this one line
        first = (str(e).splitlines() or [""])[0]
        raise TrackingError(scrub(f"{type(e).__name__}: {first}")) from None


def log_or_warn(label: str, rerun: str, **run) -> str | None:
    """Log a stage's run after its outputs are written; a tracking failure costs one warning line, never the
    outputs. `rerun` names the stage to rerun once the tracking server is back."""
    import sys

    try:
        run_id = log_run(**run)
    except TrackingError as e:
        print(f"warning: {label}: MLflow logging failed ({e}); outputs are kept, rerun `dvc repro -f {rerun}` "
              "once the tracking server is back", file=sys.stderr)
        return None
    print(f"{label}: logged to MLflow run {run_id}")
    return run_id


def _log_run(*, experiment: str, run_name: str, params: dict, history: list[dict], metrics: dict, tags: dict,
             artifacts: list[Path], log_model: Callable[[], None] | None = None, trained: Path | None = None,
             data: Path | None = None) -> str:
    """Into the training run of the model at `trained` when its train stage logged one, else a new run
    with the training history. log_model() logs the model into the active run (rnnlab/pyfunc.py; passed
    in, so that the train stages, which use this module too, do not depend on the serving code)."""
    require_reachable(configure())
    import mlflow

    exp = experiment_id(experiment)
    found = _training_run(exp, run_name, trained)
    opened = mlflow.start_run(run_id=found.info.run_id) if found else mlflow.start_run(experiment_id=exp, run_name=run_name)
    with opened as run:
        mlflow.set_tags({"git_commit": git_commit(), **dvc_experiment_tags(), **tags})
        logged = found.data.params if found else {}
        mlflow.log_params({k: v for k, v in params.items() if k not in logged})
        for row in [] if found else history:
            mlflow.log_metrics({k: v for k, v in row.items() if k != "epoch"}, step=row["epoch"])
        mlflow.log_metrics(metrics)
        if data is not None and not found:  # the train stage logged it (MLflow keeps one input per dataset)
            mlflow.MlflowClient().log_inputs(run.info.run_id, datasets=[dataset(data, "evaluation")])
        for path in artifacts:
            mlflow.log_artifact(str(path))
        if log_model is not None:
            log_model()
        return run.info.run_id


def _training_run(experiment: str, run_name: str, trained: Path | None):
    """The finished run that trained exactly this model (same digest), if its train stage logged one."""
    if trained is None:
        return None
    import mlflow

    runs = mlflow.MlflowClient().search_runs([experiment], max_results=1, order_by=["attributes.start_time DESC"],
                                             filter_string=f"tags.mlflow.runName = '{run_name}' and "
                                                           f"tags.{MODEL_TAG} = '{digest(trained)}'")
    return runs[0] if runs else None


def log_sweep(sweep: str, description: dict, rows: list[dict], metric_keys: list[str]) -> str:
    """A parent run for the sweep and a child run per experiment, in the experiment `rnnlab-sweeps`."""
    configure()
    import mlflow

    sweeps = experiment_id("rnnlab-sweeps")
    with mlflow.start_run(experiment_id=sweeps, run_name=f"sweep/{sweep}") as parent:
        mlflow.set_tags({"git_commit": git_commit(), "sweep": sweep})
        mlflow.log_params({k: str(v)[:500] for k, v in description.items()})
        for row in rows:
            with mlflow.start_run(experiment_id=sweeps, run_name=f"{sweep}/{row['experiment']}", nested=True):
                mlflow.set_tags({"sweep": sweep, "dvc_exp": row["experiment"], "dvc_exp_rev": row.get("rev", ""),
                                 "stage": row["stage"], "status": row["status"]})
                mlflow.log_params({k: v for k, v in row.items()
                                   if k not in ("experiment", "stage", "status", "rev", "seconds", *metric_keys)})
                mlflow.log_metrics({k: row[k] for k in metric_keys if isinstance(row.get(k), (int, float))})
        return parent.info.run_id
