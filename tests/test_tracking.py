"""MLflow tracking under concurrency: several stage processes logging to one new store at once."""

import multiprocessing
import sqlite3


EXPERIMENTS = ["race-a", "race-b", "race-c"]  # three rounds: the race is lost often, not always


def _log_one(uri: str, barrier, index: int) -> None:
    import os

    os.environ["MLFLOW_TRACKING_URI"] = uri
    from rnnlab import tracking

    tracking.configure()
    for experiment in EXPERIMENTS:
        barrier.wait(timeout=120)  # all processes create the experiment at the same moment
        tracking.log_run(experiment=experiment, run_name=f"{experiment}/{index}", params={"i": index}, history=[],
                         metrics={"m": index}, tags={}, artifacts=[])


def test_runs_created_concurrently_all_land_in_their_experiment(tmp_path, monkeypatch):
    # MLflow hands the loser of an experiment-creation race the experiment without activating it;
    # without an explicit experiment id its run went to "Default" (seen in CI: a sweep lost a run)
    monkeypatch.chdir(tmp_path)
    uri = f"sqlite:///{tmp_path / 'mlflow.db'}?timeout=60"
    monkeypatch.setenv("MLFLOW_TRACKING_URI", uri)
    from rnnlab import tracking

    tracking.ensure_store()
    ctx = multiprocessing.get_context("spawn")
    barrier = ctx.Barrier(4)
    procs = [ctx.Process(target=_log_one, args=(uri, barrier, i)) for i in range(4)]
    for p in procs:
        p.start()
    for p in procs:
        p.join(120)
    assert [p.exitcode for p in procs] == [0] * 4
    with sqlite3.connect(tmp_path / "mlflow.db") as db:
        where = dict(db.execute("select r.name, e.name from runs r join experiments e using (experiment_id)"))
    assert where == {f"{e}/{i}": e for e in EXPERIMENTS for i in range(4)}


def test_the_commit_is_dirty_only_when_code_or_configuration_changed(tmp_path, monkeypatch):
    """The stages rewrite dvc.lock and metrics before they log: that must not tag the run `-dirty`."""
    import subprocess

    from rnnlab import tracking

    monkeypatch.chdir(tmp_path)
    (tmp_path / "rnnlab").mkdir()
    (tmp_path / "rnnlab/model.py").write_text("x = 1\n")
    (tmp_path / "dvc.lock").write_text("schema: '2.0'\n")
    git = ["git", "-c", "user.name=t", "-c", "user.email=t@t"]
    for cmd in (["init", "-q"], ["add", "-A"], ["commit", "-qm", "c"]):
        subprocess.run(git + cmd, check=True)
    head = subprocess.run(["git", "rev-parse", "HEAD"], capture_output=True, text=True).stdout.strip()
    (tmp_path / "dvc.lock").write_text("schema: '2.0'\nstages: {}\n")
    assert tracking.git_commit() == head
    (tmp_path / "rnnlab/model.py").write_text("x = 2\n")
    assert tracking.git_commit() == head + "-dirty"


def test_a_model_digest_names_its_contents(tmp_path):
    from rnnlab import tracking

    model = tmp_path / "m"
    (model / "sub").mkdir(parents=True)
    (model / "model.pt").write_bytes(b"weights")
    (model / "sub/config.json").write_text("{}")
    first = tracking.digest(model)
    assert len(first) == 32 and tracking.digest(model) == first
    (model / "model.pt").write_bytes(b"weightz")
    assert tracking.digest(model) != first


ECHO_MODEL = """
import mlflow


class Echo(mlflow.pyfunc.PythonModel):
    def predict(self, context, model_input, params=None):
        return model_input


mlflow.models.set_model(Echo())
"""


def test_logging_a_model_never_checks_its_requirements_against_the_installed_distributions(tmp_path, monkeypatch):
    """log_model compares the model's pins with every installed distribution's files twice: saving the model
    and loading it back to check the input example (mlflow.pyfunc.load_model). Seconds of every evaluate stage;
    configure() turns the check off wherever MLflow calls it, whatever imported it first."""
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("MLFLOW_TRACKING_URI", f"sqlite:///{tmp_path / 'mlflow.db'}")
    import mlflow.pyfunc  # loaded before configure(), as in the evaluate stages (rnnlab/pyfunc.py)
    import pandas as pd

    from rnnlab import tracking

    tracking.configure()
    from mlflow.utils import requirements_utils

    checked = []  # the per-requirement check under every caller: each call looks the distributions up
    monkeypatch.setattr(requirements_utils, "_check_requirement_satisfied", checked.append)
    (tmp_path / "echo.py").write_text(ECHO_MODEL)
    # an experiment of this database: an earlier test in the same worker leaves MLflow's active experiment
    # id pointing into its own database (failed under the full suite: "No Experiment with id=1 exists")
    mlflow.set_experiment("requirement-check")
    with mlflow.start_run():
        mlflow.pyfunc.log_model(name="echo", python_model=str(tmp_path / "echo.py"),
                                pip_requirements=["rnnlab-not-an-installed-distribution==1.0"],
                                input_example=pd.DataFrame({"text": ["a"]}))
    assert checked == []
