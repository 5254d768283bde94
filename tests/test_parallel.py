"""`rnnlab repro --jobs N`: independent stages at once, DVC still deciding and writing dvc.lock.

A small real DVC project whose stages note when they start and end; the end-to-end pipeline
(tests/test_pipeline.py) is reproduced with the runner too, and plain `dvc repro` then finds it
up to date.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import yaml

from conftest import ROOT
from rnnlab import dvcrun, parallel, setaside, tracking
from rnnlab import params as P
from rnnlab.errors import RnnlabError

# each stage sleeps, then writes its output; the spans go to a file DVC does not track
STAGE = """import json, os, pathlib, sys, time
def ancestors(pid):  # the parent chain: a shell or an interpreter shim may sit between runner and stage
    chain = []
    while pid > 1:
        pid = int(pathlib.Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[1])
        chain.append(pid)
    return chain
name, seconds = sys.argv[1], float(sys.argv[2])
start = time.time(); time.sleep(seconds)
if pathlib.Path("fail-" + name).exists(): sys.exit(f"{name}: asked to fail")
gpu = os.environ.get("CUDA_VISIBLE_DEVICES")
with open("spans.jsonl", "a") as f: f.write(json.dumps([name, start, time.time(), ancestors(os.getpid()), gpu]) + "\\n")
inputs = "".join(pathlib.Path(p).read_text() for p in sys.argv[3:])
pathlib.Path("out").mkdir(exist_ok=True)
pathlib.Path(f"out/{name}.txt").write_text(f"{name}({inputs})")
if pathlib.Path("fail-late-" + name).exists(): sys.exit(f"{name}: asked to fail after writing")
"""
DVC_YAML = {"stages": {
    "left": {"cmd": "python stage.py left 1.0", "deps": ["stage.py"], "outs": ["out/left.txt"]},
    "right": {"cmd": "python stage.py right 1.0", "deps": ["stage.py"], "outs": ["out/right.txt"]},
    "alone": {"cmd": "python stage.py alone 0.2", "deps": ["stage.py"], "outs": ["out/alone.txt"]},
    "join": {"cmd": "python stage.py join 0.1 out/left.txt out/right.txt",
             "deps": ["stage.py", "out/left.txt", "out/right.txt"], "outs": ["out/join.txt"]},
}}


def git(path: Path, *args: str) -> None:
    subprocess.run(["git", "-c", "user.name=t", "-c", "user.email=t@t", *args], cwd=path, check=True,
                   capture_output=True)


def dvc(path: Path, *args: str) -> str:
    done = subprocess.run([sys.executable, "-m", "dvc", *args], cwd=path, capture_output=True, text=True)
    assert done.returncode == 0, done.stdout + done.stderr
    return done.stdout + done.stderr


@pytest.fixture
def project(tmp_path) -> Path:
    return sleepers(tmp_path / "p")


def sleepers(path: Path) -> Path:
    """A git + DVC project of four stages that sleep: left and right, a join of both, and one alone."""
    path.mkdir()
    (path / "stage.py").write_text(STAGE)
    (path / "dvc.yaml").write_text(yaml.safe_dump(DVC_YAML, sort_keys=False))
    (path / ".gitignore").write_text("spans.jsonl\nfail-*\n")
    git(path, "init", "-q")
    dvc(path, "init", "-q")
    git(path, "add", "-A")
    git(path, "commit", "-qm", "init")
    return path


def spans(path: Path) -> dict[str, tuple[float, float]]:
    return {name: (a, b) for name, a, b, *_ in map(json.loads, (path / "spans.jsonl").read_text().splitlines())}


def started_by(path: Path, candidates: set[int]) -> dict[str, set[int]]:
    """Which of the candidate processes (Dask workers) each stage descends from."""
    return {name: set(chain) & candidates
            for name, _, _, chain, _ in map(json.loads, (path / "spans.jsonl").read_text().splitlines())}


def overlap(a: tuple[float, float], b: tuple[float, float]) -> bool:
    return a[0] < b[1] and b[0] < a[1]


def test_independent_stages_run_at_once_and_dvc_lock_matches_a_sequential_run(project, tmp_path):
    sequential = tmp_path / "seq"
    shutil.copytree(project, sequential)
    dvc(sequential, "repro")

    seen: list[str] = []
    outcomes = parallel.reproduce(project, jobs=2, memory_gb=1, on_output=lambda s, t: None,
                                  on_outcome=lambda o: seen.append(o.stage))
    assert {o.stage: o.status for o in outcomes} == dict.fromkeys(DVC_YAML["stages"], dvcrun.RAN)
    s = spans(project)
    assert overlap(s["left"], s["right"]), s  # 2 jobs: the two 1 s stages share the time
    assert s["join"][0] >= max(s["left"][1], s["right"][1])  # and the join waits for both
    assert seen.index("join") > max(seen.index("left"), seen.index("right"))

    assert yaml.safe_load((project / "dvc.lock").read_text()) == yaml.safe_load((sequential / "dvc.lock").read_text())
    assert "Data and pipelines are up to date" in dvc(project, "status")
    again = parallel.reproduce(project, jobs=2, memory_gb=1, on_output=lambda s, t: None)
    assert {o.status for o in again} == {dvcrun.UNCHANGED}


def test_a_whole_pipeline_run_drops_lock_entries_of_stages_dvc_yaml_no_longer_has(project):
    parallel.reproduce(project, jobs=2, memory_gb=1, on_output=lambda s, t: None)
    stages = dict(DVC_YAML["stages"])
    stages["solo"] = stages.pop("alone")  # a renamed stage: its old lock entry would stay forever
    (project / "dvc.yaml").write_text(yaml.safe_dump({"stages": stages}, sort_keys=False))
    parallel.reproduce(project, ["solo"], jobs=2, memory_gb=1, on_output=lambda s, t: None)
    assert set(yaml.safe_load((project / "dvc.lock").read_text())["stages"]) == {"left", "right", "join", "alone", "solo"}
    parallel.reproduce(project, jobs=2, memory_gb=1, on_output=lambda s, t: None)  # the whole pipeline
    assert set(yaml.safe_load((project / "dvc.lock").read_text())["stages"]) == {"left", "right", "join", "solo"}
    assert "Data and pipelines are up to date" in dvc(project, "status")


def test_a_fresh_clone_gets_its_tracking_store_before_stages_start_at_once(tmp_path, monkeypatch):
    """Two stages opening a SQLite store that does not exist yet both run MLflow's migrations and
    collide; the runner of an rnnlab project creates it first."""
    path = tmp_path / "p"
    path.mkdir()
    shutil.copy(ROOT / "params.yaml", path)
    (path / "check.py").write_text(
        "import pathlib, sqlite3, sys\n"
        "with sqlite3.connect('file:mlflow.db?mode=ro', uri=True) as db:\n"  # fails when there is none
        "    (version,), = db.execute('select version_num from alembic_version')\n"
        "pathlib.Path(sys.argv[1]).write_text(version)\n")
    stages = {name: {"cmd": f"python check.py {name}.txt", "deps": ["check.py"], "outs": [f"{name}.txt"]}
              for name in ("left", "right")}
    (path / "dvc.yaml").write_text(yaml.safe_dump({"stages": stages}))
    (path / ".gitignore").write_text("mlflow.db\n")
    git(path, "init", "-q")
    dvc(path, "init", "-q")
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    elsewhere = tmp_path / "elsewhere"  # this process opened ./mlflow.db before, in another project
    elsewhere.mkdir()
    monkeypatch.chdir(elsewhere)
    tracking.ensure_store()
    monkeypatch.chdir(tmp_path)
    outcomes = parallel.reproduce(path, jobs=2, memory_gb=4, on_output=lambda s, t: None)
    assert {o.status for o in outcomes} == {dvcrun.RAN}
    assert (path / "left.txt").read_text() == (path / "right.txt").read_text() != ""


def test_one_job_runs_one_stage_at_a_time(project):
    parallel.reproduce(project, jobs=1, memory_gb=1, on_output=lambda s, t: None)
    s = sorted(spans(project).values())
    assert all(a[1] <= b[0] for a, b in zip(s, s[1:])), s


def test_a_failed_stage_stops_its_downstream_and_the_others_finish(project):
    (project / "fail-left").touch()
    lines: list[str] = []
    with pytest.raises(RnnlabError, match=r"failed: left \(their downstream stages were skipped"):
        parallel.reproduce(project, jobs=2, memory_gb=1, on_output=lambda s, t: lines.append(f"{s}: {t}"))
    assert "left: left: asked to fail\n" in lines  # the stage's own message, named by its stage
    assert sorted(p.name for p in (project / "out").glob("*.txt")) == ["alone.txt", "right.txt"]
    lock = yaml.safe_load((project / "dvc.lock").read_text())["stages"]
    assert set(lock) == {"right", "alone"}  # what finished is committed, nothing of the failed one

    (project / "fail-left").unlink()
    outcomes = {o.stage: o.status for o in parallel.reproduce(project, jobs=2, memory_gb=1,
                                                              on_output=lambda s, t: None)}
    assert outcomes == {"left": dvcrun.RAN, "right": dvcrun.UNCHANGED, "alone": dvcrun.UNCHANGED,
                        "join": dvcrun.RAN}


def test_a_failed_stage_leaves_its_previous_outputs_in_place(project):
    """DVC deletes a stage's outputs before its command runs; the runner sets them aside and puts them back
    when the command fails, so the workspace keeps what dvc.lock names; a stage that never made its output
    leaves none behind."""
    parallel.reproduce(project, jobs=2, memory_gb=1, on_output=lambda s, t: None)
    before = {p.name: p.read_text() for p in (project / "out").glob("*.txt")}
    (project / "stage.py").write_text(STAGE + "# an edit: every stage is stale\n")
    (project / "fail-late-left").touch()  # writes its output, then fails
    (project / "fail-late-alone").touch()
    (project / "out/alone.txt").unlink()  # as if it had never run
    with pytest.raises(RnnlabError, match=r"failed: left, alone"):
        parallel.reproduce(project, jobs=2, memory_gb=1, on_output=lambda s, t: None)
    after = {p.name: p.read_text() for p in (project / "out").glob("*.txt")}
    assert after == {"left.txt": before["left.txt"], "right.txt": "right()", "join.txt": before["join.txt"]}
    assert list((project / setaside.STORE).iterdir()) == []


def test_outputs_a_killed_runner_had_set_aside_are_put_back(project):
    """kill -9 of the runner while stages run, as the disk has it then: two outputs set aside, one of
    their places empty, the other holding what a command wrote and nobody committed. The next run puts
    both copies back before it decides anything (dvc.lock names them), and drops the copy of a path no
    stage outputs any more."""
    parallel.reproduce(project, jobs=2, memory_gb=1, on_output=lambda s, t: None)
    before = {p.name: p.read_text() for p in (project / "out").glob("*.txt")}
    store = project / setaside.STORE
    store.mkdir(exist_ok=True)
    os.replace(project / "out/left.txt", store / "out%2Fleft.txt")
    os.replace(project / "out/right.txt", store / "out%2Fright.txt")
    (project / "out/right.txt").write_text("written, never committed")
    (store / "out%2Fgone.txt").write_text("a stage since removed from dvc.yaml")
    lines: list[str] = []
    outcomes = {o.stage: o.status for o in parallel.reproduce(project, jobs=2, memory_gb=1,
                                                              on_output=lambda s, t: lines.append(t))}
    assert set(outcomes.values()) == {dvcrun.UNCHANGED}
    assert [t for t in lines if "put back" in t] == [f"out/{n}.txt: put back (a killed run had set it aside)\n"
                                                     for n in ("left", "right")]
    assert {p.name: p.read_text() for p in (project / "out").glob("*.txt")} == before
    assert list(store.iterdir()) == []


def test_stage_commands_call_the_runners_python_when_its_environment_is_not_on_path(project, monkeypatch):
    """`.venv/bin/rnnlab repro` without activating the environment, or with another python ahead of it on
    PATH: a stage's `python` is the runner's own, not one lacking torch and pandas (every stage failed
    with ModuleNotFoundError)."""
    impostor = project.parent / "impostor"
    impostor.mkdir()
    (impostor / "python").write_text("#!/bin/sh\nmkdir -p out && echo impostor > out/py.txt\n")
    (impostor / "python").chmod(0o755)
    monkeypatch.setenv("PATH", f"{impostor}{os.pathsep}{Path(sys.executable).parent}{os.pathsep}/usr/bin:/bin")
    cmd = "python -c \"import sys, pathlib; pathlib.Path('out').mkdir(); pathlib.Path('out/py.txt').write_text(sys.prefix)\""
    (project / "dvc.yaml").write_text(yaml.safe_dump({"stages": {"which": {"cmd": cmd, "outs": ["out/py.txt"]}}}))
    parallel.reproduce(project, jobs=1, memory_gb=1, on_output=lambda s, t: None)
    assert (project / "out/py.txt").read_text() == sys.prefix


def test_the_flows_put_their_own_python_ahead_of_another(monkeypatch, tmp_path):
    """The Prefect flows run DVC themselves too: their stage commands' `python` must be the flow's own."""
    import shutil

    from pipelines import settings

    impostor = tmp_path / "impostor"
    impostor.mkdir()
    (impostor / "python").write_text("#!/bin/sh\nexit 3\n")
    (impostor / "python").chmod(0o755)
    monkeypatch.setattr(os, "environ", {**os.environ, "PATH": f"{impostor}{os.pathsep}{Path(sys.executable).parent}{os.pathsep}/usr/bin"})
    settings.apply_defaults()
    assert Path(shutil.which("python")).parent == Path(sys.executable).parent
    assert os.environ["PATH"].split(os.pathsep)[1:] == [str(impostor), "/usr/bin"]
    settings.apply_defaults()  # once is enough: a second call changes nothing
    assert os.environ["PATH"].split(os.pathsep)[1:] == [str(impostor), "/usr/bin"]


def test_a_stage_seen_before_is_restored_from_the_run_cache(project):
    parallel.reproduce(project, jobs=2, memory_gb=1, on_output=lambda s, t: None)
    before = (project / "out/join.txt").read_text()
    stage = project / "stage.py"
    stage.write_text(STAGE + "# an edit\n")
    moved = {o.stage: o.status for o in parallel.reproduce(project, jobs=2, memory_gb=1, on_output=lambda s, t: None)}
    assert set(moved.values()) == {dvcrun.RAN}
    stage.write_text(STAGE)
    back = {o.stage: o.status for o in parallel.reproduce(project, jobs=2, memory_gb=1, on_output=lambda s, t: None)}
    assert set(back.values()) == {dvcrun.RESTORED}
    assert (project / "out/join.txt").read_text() == before
    assert "Data and pipelines are up to date" in dvc(project, "status")


def test_the_longest_chains_start_first_once_their_times_are_known(project):
    """First run: DVC's order (here the short independent stage first). The next run starts the two
    1-s stages, which the join waits on, before the short one: no long chain left to run alone at the end."""
    stages = DVC_YAML["stages"]
    (project / "dvc.yaml").write_text(yaml.safe_dump({"stages": {"alone": stages["alone"], **stages}}, sort_keys=False))
    parallel.reproduce(project, jobs=1, memory_gb=1, on_output=lambda s, t: None)
    first = spans(project)
    assert first["alone"][0] < min(first["left"][0], first["right"][0])
    timed = json.loads((project / parallel.SECONDS_FILE).read_text())
    assert set(timed) == set(stages) and timed["left"] >= 1.0

    (project / "spans.jsonl").unlink()
    parallel.reproduce(project, force=True, jobs=1, memory_gb=1, on_output=lambda s, t: None)
    again = spans(project)
    assert again["alone"][0] > max(again["left"][0], again["right"][0]), again


def test_a_fresh_clone_orders_by_the_committed_times_until_it_has_its_own(project):
    stages = DVC_YAML["stages"]
    (project / "dvc.yaml").write_text(yaml.safe_dump({"stages": {"alone": stages["alone"], **stages}}, sort_keys=False))
    committed = project / parallel.COMMITTED_SECONDS
    committed.parent.mkdir(parents=True)
    committed.write_text(json.dumps({"left": 60.0, "right": 60.0, "join": 1.0, "alone": 1.0}))
    parallel.reproduce(project, jobs=1, memory_gb=1, on_output=lambda s, t: None)
    first = spans(project)
    assert first["alone"][0] > max(first["left"][0], first["right"][0]), first  # not DVC's order
    assert json.loads((project / parallel.SECONDS_FILE).read_text())["left"] < 60  # this run's own times now


def test_a_stage_this_machine_has_not_timed_is_ordered_by_its_committed_time(project):
    """This machine timed only some stages (a partial run): the others keep their committed times, so a
    long chain new to it does not wait until the end."""
    stages = DVC_YAML["stages"]
    (project / "dvc.yaml").write_text(yaml.safe_dump({"stages": {"alone": stages["alone"], **stages}}, sort_keys=False))
    for path, times in ((parallel.COMMITTED_SECONDS, {"left": 60.0, "right": 60.0}),
                        (parallel.SECONDS_FILE, {"alone": 1.0, "join": 1.0})):
        (project / path).parent.mkdir(parents=True, exist_ok=True)
        (project / path).write_text(json.dumps(times))
    parallel.reproduce(project, jobs=1, memory_gb=1, on_output=lambda s, t: None)
    first = spans(project)
    assert first["alone"][0] > max(first["left"][0], first["right"][0]), first


def test_a_stage_that_needs_two_threads_is_not_starved_by_one_thread_stages(tmp_path):
    """2 jobs; `wide` needs both threads and comes second in the order, after a 1-thread stage that
    starts at once. The 1-thread stages after it wait until it got its two threads, rather than taking
    each thread that frees up (which would leave it to run last, alone)."""
    path = sleepers(tmp_path / "p")
    narrow = {f"narrow{i}": {"cmd": f"python stage.py narrow{i} 0.3", "deps": ["stage.py"],
                             "outs": [f"out/narrow{i}.txt"]} for i in range(4)}
    wide = {"cmd": "python stage.py wide 0.6", "deps": ["stage.py"], "outs": ["out/wide.txt"]}
    stages = {"narrow0": narrow.pop("narrow0"), "wide": wide, **narrow}
    (path / "dvc.yaml").write_text(yaml.safe_dump({"stages": stages}, sort_keys=False))
    needs = {name: parallel.Needs(2 if name == "wide" else 1, 0) for name in stages}
    parallel.reproduce(path, jobs=2, memory_gb=1, on_output=lambda s, t: None, needs_of=needs.__getitem__)
    s = spans(path)
    assert all(not overlap(s["wide"], s[f"narrow{i}"]) for i in range(4)), s  # nothing shared its two threads
    assert s["wide"][1] <= min(s[f"narrow{i}"][0] for i in (1, 2, 3)), s  # and it was not left for last


def test_a_short_stage_fills_the_core_a_waiting_two_thread_stage_cannot_use_yet(tmp_path):
    """2 jobs; `long` (1 thread) starts first, `wide` (2 threads) must wait for it. `short`, timed at
    0.3 s by the last run, ends long before `long` does, so it runs on the idle core meanwhile
    (backfilling): it delays `wide` not at all."""
    path = sleepers(tmp_path / "p")
    stage = {name: {"cmd": f"python stage.py {name} {t}", "deps": ["stage.py"], "outs": [f"out/{name}.txt"]}
             for name, t in (("long", 2.0), ("wide", 0.3), ("short", 0.3))}
    (path / "dvc.yaml").write_text(yaml.safe_dump({"stages": stage}, sort_keys=False))
    (path / parallel.SECONDS_FILE).parent.mkdir(parents=True, exist_ok=True)
    (path / parallel.SECONDS_FILE).write_text(json.dumps({"long": 2.0, "wide": 0.3, "short": 0.3}))
    needs = {name: parallel.Needs(2 if name == "wide" else 1, 0) for name in stage}
    parallel.reproduce(path, jobs=2, memory_gb=1, on_output=lambda s, t: None, needs_of=needs.__getitem__)
    s = spans(path)
    assert overlap(s["short"], s["long"]) and s["short"][1] <= s["wide"][0], s  # it ran beside long, before wide
    assert s["wide"][0] >= s["long"][1], s  # wide got both threads, after long
    assert parallel.backfills(1, None, 1, 2, [(5.0, 1)]) is False  # a stage never timed does not backfill


def test_gpu_stages_get_a_gpu_each_and_wait_for_a_free_one(project):
    """Two GPUs, three stages that each need one, four threads: two start at once on GPUs 0 and 1, the
    third waits for one of them to finish and then sees that GPU alone; the CPU-only join sees none."""
    needs = {name: parallel.Needs(1, 0, gpus=int(name != "join")) for name in DVC_YAML["stages"]}
    parallel.reproduce(project, jobs=4, memory_gb=1, on_output=lambda s, t: None, needs_of=needs.__getitem__,
                       gpus=["0", "1"])
    rows = {name: (a, b, gpu) for name, a, b, _, gpu in map(json.loads, (project / "spans.jsonl").read_text().splitlines())}
    assert rows["join"][2] is None and {rows[n][2] for n in ("left", "right", "alone")} <= {"0", "1"}
    for x, y in (("left", "right"), ("left", "alone"), ("right", "alone")):
        if overlap(rows[x][:2], rows[y][:2]):
            assert rows[x][2] != rows[y][2], rows  # never two stages on one GPU
    assert not all(overlap(rows["alone"][:2], rows[n][:2]) for n in ("left", "right")), rows


def test_without_gpus_a_gpu_step_runs_as_a_cpu_stage():
    assert parallel._clamp(parallel.Needs(1, 2, gpus=1), jobs=2, memory_gb=8, gpus=0) == parallel.Needs(1, 2, 0)
    params = P.load(ROOT / "params.yaml").model_copy(update={"device": "auto"})
    assert parallel.stage_needs("python -m stages.classification.train sms lstm learned packed", params).gpus == 1
    assert parallel.stage_needs("python -m stages.classification.report sms", params).gpus == 0
    assert parallel.stage_needs("python -m stages.charlm.train poetry lstm", P.load(ROOT / "params.yaml")).gpus == 0


def test_the_packer_reserves_the_threads_entry_the_stage_itself_reads():
    """register@sms is no stage *of* the task sms (its argument is a registered name), and a seeds stage
    computes on its task's train entry: the packer, dvc.yaml and the stage read one entry (params.stage_compute)."""
    from rnnlab import entry

    params = P.load(ROOT / "params.yaml").model_copy(update={"threads": {"default": 1, "sms_register": 2, "imdb_full_train": 2}})
    assert parallel.stage_needs("python -m stages.register sms", params).threads == 1
    assert parallel.stage_needs("python -m stages.classification.seeds imdb_full bilstm-max-glove-bucketed", params).threads == 2
    assert entry._module(str(ROOT / "stages" / "register.py")) == "stages.register"
    assert P.stage_compute(entry._module(str(ROOT / "stages/classification/seeds.py")), ["imdb_full", "x"]) == ("seeds", "imdb_full")


@pytest.mark.parametrize("to_one_thread", [False, True], ids=["to-the-process", "to-another-thread"])
def test_ctrl_c_stops_every_stage_process(project, to_one_thread):
    """SIGINT to the runner alone (its stages run in their own process groups): all of them stop, also when
    the kernel hands it to a thread other than the one that waits (any thread not blocking it may take it)."""
    stages = {name: {**stage, "cmd": stage["cmd"].replace(" 1.0", " 120")} for name, stage in DVC_YAML["stages"].items()}
    (project / "dvc.yaml").write_text(yaml.safe_dump({"stages": stages}, sort_keys=False))  # both long
    # Ctrl-C as a foreground job has it: a suite started in the background (`pytest ... &`) hands every process
    # SIGINT ignored, and Python keeps it so (the runner then never stopped: the failures under the full suite)
    code = ("import faulthandler, signal, sys; faulthandler.register(signal.SIGUSR1, all_threads=True);"
            "signal.signal(signal.SIGINT, signal.default_int_handler);"
            "from rnnlab import parallel; parallel.reproduce(sys.argv[1], jobs=2, memory_gb=1)")
    background = ["sh", "-c", 'trap "" INT; exec "$0" "$@"']  # started as there, however this suite was started
    proc = subprocess.Popen([*background, sys.executable, "-c", code, str(project)], cwd=ROOT, stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, text=True)
    deadline, running = time.monotonic() + 120, {}
    while set(running.values()) != {"left", "right"} and time.monotonic() < deadline:
        time.sleep(0.05)
        running = stage_processes(project)
    assert set(running.values()) == {"left", "right"}, f"two stages should be running: {running}"
    if to_one_thread:
        tgkill(proc.pid, max(int(t.name) for t in Path(f"/proc/{proc.pid}/task").iterdir()), signal.SIGINT)
    else:
        proc.send_signal(signal.SIGINT)
    try:
        out, _ = proc.communicate(timeout=120)  # seconds, not minutes: its stages would run for 120 s
    except subprocess.TimeoutExpired:  # seen twice under a full suite on 2 cores: say where it stood
        proc.send_signal(signal.SIGUSR1)  # every thread's stack, to its output
        time.sleep(2)
        proc.kill()
        out, _ = proc.communicate()
        pytest.fail(f"the runner did not stop after SIGINT; stages still running: {stage_processes(project)}; "
                    f"it printed: {out[-6000:]}")
    assert proc.returncode != 0 and "KeyboardInterrupt" in out
    time.sleep(0.5)
    assert stage_processes(project) == {}
    assert not (project / "dvc.lock").exists()


def test_ctrl_c_in_the_middle_of_dvcs_bookkeeping_waits_for_its_end(project):
    """Ctrl-C that lands while DVC writes .dvc/tmp/rwlock (the runner checks a stage in its main thread):
    the write finishes, then the run stops. Raised in the middle, it left half a JSON file, and every DVC
    command after it failed (RWLockFileCorruptedError, seen once in CI)."""
    code = """import json, os, signal, sys, time
import dvc.rwlock
class HalfThenCtrlC:  # DVC's json, except that the first rwlock write is cut by Ctrl-C halfway
    load, loads, JSONDecodeError, sent = json.load, json.loads, json.JSONDecodeError, False
    @classmethod
    def dump(cls, obj, f):
        text = json.dumps(obj)
        f.write(text[: len(text) // 2]); f.flush()
        if not cls.sent:
            cls.sent = True
            os.kill(os.getpid(), signal.SIGINT); time.sleep(0.2)  # Python runs the handler here
        f.write(text[len(text) // 2:])
dvc.rwlock.json = HalfThenCtrlC
signal.signal(signal.SIGINT, signal.default_int_handler)  # Ctrl-C as a foreground job has it (see the test above)
from rnnlab import parallel
parallel.reproduce(sys.argv[1], jobs=2, memory_gb=1)
"""
    done = subprocess.run([sys.executable, "-c", code, str(project)], cwd=ROOT, capture_output=True, text=True,
                          timeout=120)
    assert done.returncode != 0 and "KeyboardInterrupt" in done.stderr, done.stdout + done.stderr
    assert "RWLock" not in done.stderr, done.stderr
    json.loads((project / ".dvc/tmp/rwlock").read_text())  # whole
    assert "left" in dvc(project, "status")  # DVC still works in the project; nothing ran
    assert not (project / "spans.jsonl").exists()


def test_a_killed_rnnlab_repro_says_so_in_one_line(project):
    """`kill` of `rnnlab repro` (SIGTERM, as from a job control or a scheduler): its stages stop, and it
    says so in one line with exit 130, not a KeyboardInterrupt traceback; the outputs of the stages it
    stopped are back in place, also those of a stage checked but still waiting for a free core (alone)."""
    parallel.reproduce(project, jobs=2, memory_gb=1, on_output=lambda s, t: None)
    before = {p.name: p.read_text() for p in (project / "out").glob("*.txt")}
    stages = {name: {**stage, "cmd": stage["cmd"].replace(" 1.0", " 120").replace(" 0.2", " 0.3")}
              for name, stage in DVC_YAML["stages"].items()}
    (project / "dvc.yaml").write_text(yaml.safe_dump({"stages": stages}, sort_keys=False))
    rnnlab = str(Path(sys.executable).parent / "rnnlab")
    proc = subprocess.Popen([rnnlab, "repro", "--jobs", "2"], cwd=project, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 120
    while set(stage_processes(project).values()) != {"left", "right"} and time.monotonic() < deadline:
        time.sleep(0.05)  # by name: a stage's shell may show its command line for a moment before its exec
    assert set(stage_processes(project).values()) == {"left", "right"}
    proc.terminate()
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == 130 and "Traceback" not in err, err
    assert err.strip().splitlines()[-1].startswith("stopped: rnnlab repro was interrupted")
    time.sleep(0.5)
    assert stage_processes(project) == {}
    assert {p.name: p.read_text() for p in (project / "out").glob("*.txt")} == before
    assert list((project / setaside.STORE).iterdir()) == []


def tgkill(pid: int, tid: int, sig: int) -> None:
    """A signal to one thread of a process (glibc's tgkill), as the kernel may deliver a process's own."""
    import ctypes

    assert tid != pid, "the runner's main thread is not the point here"
    libc = ctypes.CDLL(None, use_errno=True)
    if libc.tgkill(pid, tid, sig) != 0:
        raise OSError(ctypes.get_errno(), f"tgkill {pid} {tid}")


def stage_processes(project: Path) -> dict[int, str]:
    """pid -> stage name of the `python stage.py NAME …` processes in this project (with a shim's
    process too, where `python` is one)."""
    found = {}
    for proc in Path("/proc").glob("[0-9]*"):
        try:
            argv = (proc / "cmdline").read_bytes().split(b"\0")
            if b"stage.py" in argv[:-1] and (proc / "cwd").readlink() == project:
                found[int(proc.name)] = argv[argv.index(b"stage.py") + 1].decode()
        except OSError:
            continue
    return found


def test_on_a_dask_cluster_the_commands_run_on_its_workers(project):
    """A real LocalCluster of two worker processes sharing the workspace: the two independent stages run
    at once on different workers, the DVC bookkeeping stays here, and dvc status is clean."""
    from distributed import Client, LocalCluster

    with LocalCluster(n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None) as cluster:
        lines: list[str] = []
        outcomes = parallel.reproduce(project, address=cluster.scheduler_address,
                                      on_output=lambda s, t: lines.append(f"{s}: {t}"))
        with Client(cluster.scheduler_address) as client:
            worker_pids = set(client.run(os.getpid).values())
    assert {o.status for o in outcomes} == {dvcrun.RAN}
    s, by = spans(project), started_by(project, worker_pids)
    assert overlap(s["left"], s["right"]), s
    assert all(len(workers) == 1 for workers in by.values()), by
    assert by["left"] != by["right"]
    assert "alone: > python stage.py alone 0.2\n" in lines
    assert "Data and pipelines are up to date" in dvc(project, "status")


def test_an_unreachable_dask_scheduler_is_one_line(project):
    with pytest.raises(RnnlabError, match=r"Dask scheduler tcp://127.0.0.1:9: not reachable"):
        parallel.reproduce(project, address="tcp://127.0.0.1:9")


def test_stages_are_packed_by_the_threads_and_memory_params_give_their_step():
    params = P.load(ROOT / "params.yaml")
    assert parallel.stage_needs("python -m stages.news.embed news", params) == parallel.Needs(
        params.threads["news_embed"], params.memory_gb["news_embed"])
    assert parallel.stage_needs("python -m stages.classification.train sms lstm learned packed", params) == \
        parallel.Needs(params.threads["default"], params.memory_gb["default"])
    assert parallel.stage_needs("python -m stages.download sms_spam", params).threads == params.threads["default"]
    # a stage that asks for more than there is runs alone, never with fewer threads than its result needs
    assert parallel._clamp(parallel.Needs(4, 64), jobs=2, memory_gb=8) == parallel.Needs(2, 8)
