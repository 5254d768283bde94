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
        barrier.wait()  # all processes create the experiment at the same moment
        tracking.log_run(experiment=experiment, run_name=f"{experiment}/{index}", params={"i": index}, history=[],
                         metrics={"m": index}, tags={}, artifacts=[], model_dir=None)


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
