"""MLflow logging: one run per trained variant, tagged with the code and data it came from.

Tracking goes to $MLFLOW_TRACKING_URI when set, else to the SQLite file mlflow.db at the
project root (artifacts under ./mlruns). `mlflow ui` in the project root shows them.
"""

from __future__ import annotations

import functools
import logging
import os
import re
import subprocess
import warnings
from pathlib import Path

import yaml

_YamlLoader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)  # the C parser: dvc.lock runs to megabytes

DEFAULT_URI = "sqlite:///mlflow.db"


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
    from mlflow.utils import environment

    # log_model compares the model's pins with every installed distribution's file list, 1.3-2.6 s
    # per stage here; the pins are pyproject's own, so the check could only repeat what install enforced
    if hasattr(environment, "warn_dependency_requirement_mismatches"):
        environment.warn_dependency_requirement_mismatches = lambda requirements: None
    mlflow.set_tracking_uri(uri)
    return uri


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

    return mlflow.set_experiment(name).experiment_id


def git_commit() -> str:
    try:
        sha = subprocess.run(["git", "rev-parse", "HEAD"], capture_output=True, text=True, check=True).stdout.strip()
        dirty = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no"],
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


def _log_run(*, experiment: str, run_name: str, params: dict, history: list[dict], metrics: dict,
             tags: dict, artifacts: list[Path], model_dir: Path | None) -> str:
    require_reachable(configure())
    import mlflow

    with mlflow.start_run(experiment_id=experiment_id(experiment), run_name=run_name) as run:
        mlflow.set_tags({"git_commit": git_commit(), **dvc_experiment_tags(), **tags})
        mlflow.log_params(params)
        for row in history:
            mlflow.log_metrics({k: v for k, v in row.items() if k != "epoch"}, step=row["epoch"])
        mlflow.log_metrics(metrics)
        for path in artifacts:
            mlflow.log_artifact(str(path))
        if model_dir is not None:
            import rnnlab
            from rnnlab.pyfunc import CODE

            mlflow.pyfunc.log_model(  # models-from-code: no pickle in the artifact (rnnlab/pyfunc.py)
                name="model", python_model=str(CODE["text_classifier"]),
                artifacts={"model_dir": str(model_dir)}, code_paths=[str(Path(rnnlab.__file__).parent)],
                pip_requirements=["torch==2.13.0", "numpy==2.4.6", "pandas==3.1.1", "pyyaml==6.0.3", "tqdm==4.70.1"],
            )
        return run.info.run_id


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
