"""Run the independent stale stages of a DVC pipeline at once, with DVC still in charge.

DVC (3.67) runs one stage at a time (its issue #755). Here DVC's own objects decide everything
they decide in `dvc repro`, one stage at a time in this thread, under the repository lock: the
order and the DAG, whether a stage changed, a restore from the run-cache, hashing and caching
the outputs, the run-cache entry and dvc.lock. Only the stage commands run concurrently, each in
its own process group, as `dvc repro` would start them (its shell, environment and DVC_STAGE).

Stages are packed by the threads and memory params.yaml gives their step (rnnlab/params.py): a
stage never gets fewer threads than its result was made with, so packing never changes a number;
it only decides which stages share the cores. A failed stage stops its downstream stages; the
others finish, and nothing of the failed one is committed (its outputs are written atomically);
its previous outputs are back in place (rnnlab/setaside.py), where `dvc repro` leaves none.
"""

from __future__ import annotations

import codecs
import contextvars
import json
import os
import shlex
import signal
import subprocess
import sys
import threading
import time
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from contextlib import chdir
from dataclasses import dataclass
from graphlib import TopologicalSorter
from pathlib import Path
from typing import Callable

import yaml

from rnnlab import atomic, device, setaside, tracking
from rnnlab.capture import LineSplitter
from rnnlab.dvcrun import RAN, RESTORED, UNCHANGED, StageOutcome
from rnnlab.interpreter import own_python_first
from rnnlab.errors import RnnlabError

FAILED, SKIPPED = "failed", "skipped (an upstream stage failed)"
# how long each stage took when it last ran: the next run starts the longest chains first; a fresh
# clone starts from the times of the committed results' run (a stage's share of the work is much
# the same on any host; the local file replaces them after the first run)
SECONDS_FILE = Path(".rnnlab/stage-seconds.json")
COMMITTED_SECONDS = Path("benchmarks/results/stage-seconds.json")


@dataclass(frozen=True)
class Needs:
    threads: int
    memory_gb: float
    gpus: int = 0  # 1 for a step that computes on the device (rnnlab/device.py) when it may be a GPU


def stage_needs(cmd: str, params) -> Needs:
    """Threads, memory and GPU of a `python -m stages.<kind>.<step> [TASK ...]` command, from params."""
    from rnnlab import params as P

    words = shlex.split(cmd)
    step, task = P.stage_compute(words[2], words[3:]) if words[:2] == ["python", "-m"] and len(words) > 2 else ("default", None)
    gpus = int(step in device.STEPS and params.device != "cpu")
    return Needs(P.threads_for(params, step, task), P.memory_for(params, step, task), gpus)


def tails(seconds: dict[str, float], upstream: dict[str, list[str]]) -> dict[str, float]:
    """For each stage: its time plus the longest chain of stages that need it (its priority)."""
    downstream: dict[str, list[str]] = {s: [] for s in upstream}
    for stage, ups in upstream.items():
        for u in ups:
            downstream.setdefault(u, []).append(stage)
    out: dict[str, float] = {}
    for stage in reversed(list(TopologicalSorter(upstream).static_order())):
        out[stage] = seconds.get(stage, 0.0) + max((out[d] for d in downstream.get(stage, [])), default=0.0)
    return out


def backfills(need: int, expected: float | None, free: int, waiting: int, releases: list[tuple[float, int]]) -> bool:
    """May a stage of `need` threads, expected to take `expected` s, start beside the first waiting
    stage, which needs `waiting` threads? (EASY backfilling.) Only if it delays that stage not at
    all: it ends before enough threads are free for it, or leaves it enough threads when they are.
    `releases`: (seconds until it ends, threads) of each running stage. A stage never timed
    (expected None) does not backfill: it could hold the waiting one back for any length of time."""
    if need > free or expected is None:
        return False
    available, shadow = free, 0.0
    for remaining, threads in sorted(releases):
        if available >= waiting:
            break
        available, shadow = available + threads, remaining
    return expected <= shadow or available - need >= waiting


def _load_seconds(root: Path) -> dict[str, float]:
    """Each stage's last measured seconds: this machine's, else the committed ones (a fresh clone, or a
    stage this machine has not run yet), else none (the plan's order)."""
    return {**committed_seconds(root), **_read_seconds(root / SECONDS_FILE)}


def committed_seconds(root: Path = Path(".")) -> dict[str, float]:
    """Each stage's seconds as the last full run committed them (also the README's stage times)."""
    return _read_seconds(root / COMMITTED_SECONDS)


def _read_seconds(path: Path) -> dict[str, float]:
    try:
        saved = json.loads(path.read_text())
        return {k: float(v) for k, v in saved.items()} if isinstance(saved, dict) else {}
    except (OSError, ValueError, TypeError, AttributeError):  # none yet, or not ours
        return {}


def default_jobs() -> int:
    """Compute threads to fill: the cores this process may use."""
    return len(os.sched_getaffinity(0))


def memory_available_gb() -> float:
    with open("/proc/meminfo") as f:
        info = {line.split(":")[0]: line.split()[1] for line in f}
    return int(info.get("MemAvailable", info["MemTotal"])) / 2**20


# run(stage name, upstream names, command runner) -> return code; a hook may wrap it (a Prefect task)
CommandHook = Callable[[str, list[str], Callable[[], int]], int]


def run_command(argv: list[str], cwd: str, env: dict, on_line: Callable[[str], None],
                on_start: Callable[[int], None] = lambda pid: None) -> int:
    """One stage command in its own process group; its output to on_line line by line; its exit code."""
    proc = subprocess.Popen(argv, cwd=cwd, env=env, close_fds=True, stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, start_new_session=True)
    on_start(proc.pid)
    lines = LineSplitter(on_line, progress_every=10.0)
    text = codecs.getincrementaldecoder("utf-8")(errors="replace")  # a character may span two reads
    while chunk := proc.stdout.read1(65536):
        lines.feed(text.decode(chunk))
    lines.feed(text.decode(b"", final=True))
    lines.close()
    return proc.wait()


def run_on_worker(argv: list[str], cwd: str, env: dict) -> tuple[int, list[str]]:
    """On a Dask worker that shares the workspace: the command's exit code and its output lines."""
    out: list[str] = []
    return run_command(argv, cwd, env, out.append), out


class _Commands:
    """The stage commands running now, here (each in its own process group) or on a Dask cluster;
    stopped together when the run stops."""

    def __init__(self, on_output: Callable[[str, str], None], client=None):
        self.groups: dict[str, int] = {}
        self.stopping = False  # set by stop_all: a command that starts after it is stopped at once
        self.futures: dict[str, object] = {}
        self.abandoned: set[str] = set()  # stages whose commands a stop left running on Dask workers
        self.lock = threading.Lock()
        self.on_output, self.client = on_output, client

    def run(self, stage, gpu: str | None = None) -> int:
        from dvc.stage.run import _enforce_cmd_list, _make_cmd, get_executable, prepare_kwargs

        kwargs = prepare_kwargs(stage)
        # stage commands call `python`: this one, with the project's packages, also when the runner was
        # started as .venv/bin/rnnlab without the environment on PATH (else another python, no torch)
        kwargs["env"] = {**kwargs["env"], "PATH": own_python_first(kwargs["env"].get("PATH", os.defpath))}
        if gpu is not None:  # the stage sees its own GPU only
            kwargs["env"] = {**kwargs["env"], "CUDA_VISIBLE_DEVICES": gpu}
        name = stage.addressing
        for cmd in _enforce_cmd_list(stage.cmd):
            self.on_output(name, f"> {cmd}\n")
            argv = _make_cmd(get_executable(), cmd)
            code = self._remote(name, argv, kwargs) if self.client else self._local(name, argv, kwargs)
            if code != 0:
                return code
        return 0

    def _local(self, name: str, argv, kwargs: dict) -> int:
        def started(pid: int) -> None:
            with self.lock:
                self.groups[name] = pid
                if self.stopping:  # Ctrl-C came while this command was starting (its exec seen, not yet noted)
                    _terminate(pid)

        try:
            return run_command(argv, kwargs["cwd"], kwargs["env"], lambda line: self.on_output(name, line + "\n"), started)
        finally:
            with self.lock:
                self.groups.pop(name, None)

    def _remote(self, name: str, argv, kwargs: dict) -> int:
        future = self.client.submit(run_on_worker, argv, kwargs["cwd"], kwargs["env"], pure=False,
                                    key=f"stage-{name}-{time.time_ns()}")
        with self.lock:
            self.futures[name] = future
        try:
            code, lines = future.result()
        finally:
            with self.lock:
                self.futures.pop(name, None)
        for line in lines:
            self.on_output(name, line + "\n")
        return code

    def stop_all(self) -> None:
        with self.lock:
            self.stopping = True
            groups, futures = list(self.groups.values()), list(self.futures.values())
            self.abandoned = set(self.futures)
        for pgid in groups:
            _terminate(pgid)
        for future in futures:  # queued stages never start; one already running on a worker finishes
            future.cancel()


def _terminate(pgid: int) -> None:
    try:
        os.killpg(pgid, signal.SIGTERM)
    except ProcessLookupError:
        pass


def _print_output(stage: str, text: str) -> None:
    print(f"[{stage}] {text}", end="" if text.endswith("\n") else "\n", flush=True)


def reproduce(project: Path | str = ".", targets: list[str] | None = None, force: bool = False,
              jobs: int | None = None, memory_gb: float | None = None, address: str | None = None,
              hook: CommandHook | None = None, on_output: Callable[[str, str], None] = _print_output,
              on_outcome: Callable[[StageOutcome], None] | None = None,
              needs_of: Callable[[str], Needs] | None = None, gpus: list[str] | None = None) -> list[StageOutcome]:
    """`dvc repro [--force] TARGETS` with up to `jobs` compute threads of stage commands at once.

    address: a Dask scheduler (tcp://host:port) whose workers share this workspace; the commands
    run there, and jobs and memory default to the cluster's threads and memory.
    needs_of: a stage's threads, memory and GPU by its name (default: params.yaml's, by its command).
    gpus: the GPU ids to hand out, one stage each (default: nvidia-smi's where params.device is not
    cpu; none on a Dask cluster, whose workers bring their own).
    """
    from dvc.lock import LockError
    from dvc.repo import Repo

    client = _dask_client(address) if address else None
    try:
        if client is not None:
            workers = client.scheduler_info()["workers"].values()
            jobs = jobs or sum(w["nthreads"] for w in workers)
            memory_gb = memory_gb or sum(w["memory_limit"] for w in workers) / 2**30
        jobs, memory_gb = jobs or default_jobs(), memory_gb or memory_available_gb()
        commands = _Commands(on_output, client)
        with chdir(project), Repo(".") as repo:
            try:
                repo.lock.lock()
            except LockError:
                raise RnnlabError(f"{Path(project).resolve()}: another DVC process holds the repository lock "
                                  "(.dvc/tmp/lock); wait for it, or remove the file if none runs") from None
            try:
                return _reproduce_locked(repo, targets, force, jobs, memory_gb, hook, commands, on_outcome,
                                         needs_of, gpus if gpus is not None or client is None else [])
            finally:
                repo.lock.unlock()
    finally:
        if client is not None:
            client.close()


def _dask_client(address: str):
    from distributed import Client

    try:
        return Client(address, timeout=10)
    except OSError as e:
        raise RnnlabError(f"Dask scheduler {address}: not reachable ({e})") from None


def _reproduce_locked(repo, targets, force, jobs, memory_gb, hook, commands, on_outcome,
                      needs_of, gpus) -> list[StageOutcome]:
    from dvc.repo.reproduce import get_active_graph, plan_repro

    from rnnlab import params as P

    graph = get_active_graph(repo.index.graph)
    stages = [s for t in (targets or ["dvc.yaml"]) for s in repo.stage.collect(t)]
    plan = plan_repro(graph, stages)
    params_file = Path(repo.root_dir) / "params.yaml"
    params = P.load(params_file) if params_file.is_file() else None  # a DVC project that is not rnnlab's
    if gpus is None:
        gpus = device.gpus_for(params.device) if params else []
    if params and plan:
        _ensure_tracking_store()
    if needs_of is None:
        by_name = {s.addressing: s for s in plan}

        def needs_of(name: str) -> Needs:
            cmd = by_name[name].cmd
            return stage_needs(cmd, params) if params and isinstance(cmd, str) else Needs(1, 0)

    outcomes = _Scheduler(repo, graph, plan, force, jobs, memory_gb, gpus, needs_of, hook, commands,
                          on_outcome).run()
    if not targets:
        _drop_stale_lock_entries(repo, {s.addressing for s in graph.nodes})
    return outcomes


def _ensure_tracking_store() -> None:
    """Create a SQLite tracking store that does not exist yet (a fresh clone) before stages start at
    once: each would run MLflow's schema migrations on it and they collide ("Online migration
    expected to match one row"). Nothing for a tracking server or a store already there."""
    uri = os.environ.get("MLFLOW_TRACKING_URI") or tracking.DEFAULT_URI
    if uri.startswith("sqlite:///") and not Path(uri.removeprefix("sqlite:///")).exists():
        # in a process of its own: MLflow keeps one store per URI string for the life of a process,
        # so a relative sqlite URI opened here before (in another project) would name that file
        done = subprocess.run([sys.executable, "-c", "from rnnlab import tracking; tracking.ensure_store()"],
                              capture_output=True, text=True)
        if done.returncode:
            raise RnnlabError(f"MLflow tracking store {uri}: could not be created ({done.stderr.strip()[-300:]})")


def _drop_stale_lock_entries(repo, stages: set[str]) -> None:
    """After a whole-pipeline run, dvc.lock holds the stages of dvc.yaml only: DVC never removes the
    entry of a stage that was renamed or dropped from dvc.yaml, and hundreds pile up."""
    from dvc.utils.serialize import modify_yaml

    lock = Path(repo.root_dir) / "dvc.lock"
    if not lock.is_file():
        return
    # a round-trip parse of the lock takes seconds (ruamel, 34,000 lines): only when there is work
    names = yaml.load(lock.read_text(encoding="utf-8"), Loader=getattr(yaml, "CSafeLoader", yaml.SafeLoader))
    if not set((names or {}).get("stages", {})) - stages:
        return
    with modify_yaml(lock) as data:
        for name in [n for n in data.get("stages", {}) if n not in stages]:
            del data["stages"][name]


class _Scheduler:
    def __init__(self, repo, graph, plan, force, jobs, memory_gb, gpus, needs_of, hook, commands, on_outcome):
        self.repo, self.plan, self.force = repo, plan, force
        in_plan = set(plan)
        self.upstream = {s: [u for u in graph.successors(s) if u in in_plan] for s in plan}
        self.needs = {s: _clamp(needs_of(s.addressing), jobs, memory_gb, len(gpus)) for s in plan}
        self.jobs, self.memory_gb = jobs, memory_gb
        self.free_gpus = list(gpus)  # one stage per GPU: a second would share its memory and its clock
        # start the stages with the longest chains behind them first (times of the last run; the plan's
        # order for stages never timed): a long chain started last would run alone at the end
        self.root = Path(repo.root_dir)
        self.seconds = _load_seconds(self.root)
        names = {s.addressing: [u.addressing for u in ups] for s, ups in self.upstream.items()}
        priority = tails(self.seconds, names)
        self.order = sorted(plan, key=lambda s: -priority[s.addressing])  # stable: ties keep DVC's order
        self.hook = hook or (lambda name, upstream, run: run())
        self.on_outcome = on_outcome or (lambda outcome: None)
        self.commands = commands
        self.done: dict = {}  # stage -> StageOutcome
        self.running: dict[Future, tuple] = {}  # future -> (stage, start, gpu)
        self.must_run: set = set()  # checked: changed, not in the run-cache, outputs removed
        self.unwritten: list = []  # committed stages whose dvc.lock entries are not written yet
        self.aside = setaside.SetAside(self.root)
        outputs = {os.path.relpath(out.fs_path, self.root) for s in graph.nodes for out in s.outs}
        for path in setaside.recover(self.root, outputs):
            self.commands.on_output("rnnlab", f"{path}: put back (a killed run had set it aside)\n")
        self.written_at = time.monotonic()

    def run(self) -> list[StageOutcome]:
        pool = ThreadPoolExecutor(max_workers=self.jobs, thread_name_prefix="stage")
        with _HeldInterrupt() as interrupt:  # over the wind-down too: a second Ctrl-C there waits for its end
            try:
                while len(self.done) < len(self.plan):
                    started = self._start_ready(pool, interrupt)
                    if not self.running and not started:
                        raise RnnlabError("no stage can start: a dependency cycle or a stage that needs more than "
                                          f"{self.jobs} threads and {self.memory_gb:.1f} GiB")  # cannot: _clamp
                    if self.running:
                        for future in _first_finished(list(self.running), interrupt):
                            self._finish(future)
                    self._write_lock(now=not self.running)
            except BaseException:
                self.commands.stop_all()  # Ctrl-C or an error of DVC's: no stage runs on without us
                raise
            finally:
                self._wind_down(pool)
        outcomes = [self.done[s] for s in self.plan]
        failed = [o.stage for o in outcomes if o.status == FAILED]
        if failed:
            raise RnnlabError(f"failed: {', '.join(failed)} (their downstream stages were skipped; "
                              "every other stage finished and is in dvc.lock)")
        return outcomes

    def _start_ready(self, pool, interrupt: _HeldInterrupt) -> bool:
        """Check every stage whose upstream is done; start the commands that must run, the longest
        chains first. When the first of them does not fit, it waits for threads, and a later stage
        starts only if it does not delay it (`backfills`, by the last run's stage times): 1-thread
        stages taking every freed thread would starve a stage that needs two, while a core kept
        idle for it behind a long 1-thread stage would waste the wait. A stage waiting for memory
        or a GPU stops the scan, as before."""
        progressed = False
        busy = [self.needs[s] for s, *_ in self.running.values()]
        threads, memory = sum(n.threads for n in busy), sum(n.memory_gb for n in busy)
        waiting = None  # threads of the first stage that waits for threads
        for stage in self.order:
            interrupt.raise_if_pressed()
            if stage in self.done or any(stage is s for s, *_ in self.running.values()):
                continue
            ups = self.upstream[stage]
            if any(u not in self.done for u in ups):
                continue
            if any(self.done[u].status in (FAILED, SKIPPED) for u in ups):
                self._record(stage, StageOutcome(stage.addressing, SKIPPED, 0.0))
                progressed = True
                continue
            if stage not in self.must_run:
                start = time.monotonic()
                status = self._check(stage)
                if status is not None:
                    self._record(stage, StageOutcome(stage.addressing, status, time.monotonic() - start))
                    progressed = True
                    continue
                self.must_run.add(stage)
            need = self.needs[stage]
            if memory + need.memory_gb > self.memory_gb or need.gpus > len(self.free_gpus):
                break  # it starts as soon as enough is free
            if waiting is None and threads + need.threads > self.jobs:
                waiting = need.threads
                continue
            if waiting is not None and not backfills(need.threads, self.seconds.get(stage.addressing),
                                                     self.jobs - threads, waiting, self._releases()):
                continue
            gpu = self.free_gpus.pop(0) if need.gpus else None
            self.commands.on_output(stage.addressing, f"Running stage '{stage.addressing}'\n")
            names = [u.addressing for u in ups]
            # the caller's context goes along: a Prefect hook makes its task run inside the flow run
            future = pool.submit(contextvars.copy_context().run, self.hook, stage.addressing, names,
                                 lambda s=stage, g=gpu: self.commands.run(s, g))
            self.running[future] = (stage, time.monotonic(), gpu)
            threads, memory = threads + need.threads, memory + need.memory_gb
            progressed = True
        return progressed

    def _releases(self) -> list[tuple[float, int]]:
        """(expected seconds left, threads) of each running stage; one never timed may end any moment."""
        now = time.monotonic()
        return [(max(0.0, self.seconds.get(s.addressing, 0.0) - (now - start)), self.needs[s].threads)
                for s, start, _ in self.running.values()]

    def _check(self, stage) -> str | None:
        """UNCHANGED or RESTORED when DVC says so (lock written); None: the command must run."""
        from dvc.stage.cache import RunCacheNotFoundError

        if not self.force and not stage.changed():
            return UNCHANGED
        self._set_aside_outs(stage)
        if not self.force:
            try:
                self.repo.stage_cache.restore(stage)
                self._commit(stage)
                self.aside.drop(stage.addressing)
                return RESTORED
            except RunCacheNotFoundError:
                pass
        stage.save_deps()
        return None

    def _wind_down(self, pool) -> None:
        """After the last stage, an error or a stop: the commands that ended well are committed and every
        commit recorded; what else was set aside goes back (a stage still running on a Dask worker keeps
        its copies for the next run: its command may yet write)."""
        try:
            pool.shutdown(wait=True, cancel_futures=True)
            for future in [f for f in self.running if f.done() and not f.cancelled() and f.exception() is None]:
                if future.result() == 0:  # finished while another stage failed in DVC or Ctrl-C came
                    name = self.running[future][0].addressing
                    try:
                        self._finish(future)
                    except Exception as e:  # the error on its way out is the one to report
                        self.commands.on_output(name, f"not committed: {e}\n")
            self._write_lock(now=True)  # whatever finished is recorded, even when stopped
        finally:
            self.aside.put_back_all(keep=self.commands.abandoned)
            atomic.write_json(self.root / SECONDS_FILE, self.seconds)

    def _set_aside_outs(self, stage) -> None:
        """What DVC's stage.remove_outs does, except that local outputs are moved aside, not deleted."""
        local = []
        for out in stage.outs:
            if out.persist:
                out.unprotect()  # as DVC: the command finds a persistent output where it left it
            elif out.protocol == "local":
                local.append(os.path.relpath(out.fs_path, self.root))
            else:
                out.remove()
        self.aside.take(stage.addressing, local)

    def _finish(self, future: Future) -> None:
        stage, start, gpu = self.running.pop(future)
        if gpu is not None:
            self.free_gpus.append(gpu)
        code = future.result()
        if code == 0:
            self.repo._reset()  # the command changed the workspace: DVC forgets what it had read
            self._commit(stage)
            self.aside.drop(stage.addressing)
        else:
            self.aside.put_back(stage.addressing)
        outcome = StageOutcome(stage.addressing, RAN if code == 0 else FAILED, time.monotonic() - start)
        if code == 0:
            self.seconds[stage.addressing] = round(outcome.seconds, 1)
        self._record(stage, outcome)

    def _commit(self, stage) -> None:
        """What `dvc repro` does after a stage ran: hash, cache, run-cache entry, then dvc.lock.

        One difference: `dvc repro` leaves a stage with a plain `cache: false` output (a per-run report
        kept in git) out of the run-cache, so every evaluate stage would rerun after a param round
        trip. DVC's run-cache itself stores such outputs as copies (StageCache._uncached_outs) and
        restores them, so this runner saves the entry for every stage."""
        stage.save(run_cache=True)
        stage.commit()
        self.unwritten.append(stage)

    def _write_lock(self, now: bool) -> None:
        """dvc.lock entries in batches: DVC parses and rewrites the whole file for every dump (~3 s for
        a 5,000-line lock), which would make this thread the bottleneck. A stage committed but not yet
        written when the run is killed is in the cache and run-cache: the next run restores it."""
        if not self.unwritten or not (now or time.monotonic() - self.written_at > 30):
            return
        by_file: dict[str, list] = {}
        for stage in self.unwritten:
            by_file.setdefault(stage.dvcfile.path, []).append(stage)
        for stages in by_file.values():
            stages[0].dvcfile.dump_stages(stages, update_pipeline=False)
        self.unwritten, self.written_at = [], time.monotonic()

    def _record(self, stage, outcome: StageOutcome) -> None:
        self.done[stage] = outcome
        self.on_outcome(outcome)


def _first_finished(futures: list[Future], interrupt: _HeldInterrupt) -> set[Future]:
    """Wait for the first of the futures to finish, a second at a time: the kernel may hand Ctrl-C to a
    stage thread (any thread not blocking SIGINT), and CPython then only marks it pending for this
    thread, whose wait it does not cut short; one endless wait would hold it until a stage ends."""
    while True:
        interrupt.raise_if_pressed()
        finished, _ = wait(futures, timeout=1.0, return_when=FIRST_COMPLETED)
        if finished:
            return finished


class _HeldInterrupt:
    """Ctrl-C (and SIGTERM, which `rnnlab repro` turns into it) held until this thread is between two of
    DVC's bookkeeping steps: raised in the middle of one, it cut DVC's write of .dvc/tmp/rwlock in half,
    and every later DVC command in the project failed on the corrupted file. Only where the signal
    would raise KeyboardInterrupt in this thread anyway (the main thread, Python's own handler)."""

    SIGNALS = (signal.SIGINT, signal.SIGTERM)

    def __init__(self):
        self.pressed = False
        self.previous: dict[int, object] = {}

    def __enter__(self) -> _HeldInterrupt:
        if threading.current_thread() is threading.main_thread():
            for signum in self.SIGNALS:
                if signal.getsignal(signum) is signal.default_int_handler:
                    self.previous[signum] = signal.signal(signum, self._press)
        return self

    def _press(self, signum, frame) -> None:
        self.pressed = True

    def raise_if_pressed(self) -> None:
        if self.pressed:
            raise KeyboardInterrupt

    def __exit__(self, exc_type, *exc) -> None:
        for signum, handler in self.previous.items():
            signal.signal(signum, handler)
        if exc_type is None:
            self.raise_if_pressed()  # a signal that came during the last steps is not lost


def _clamp(needs: Needs, jobs: int, memory_gb: float, gpus: int = 0) -> Needs:
    """A stage that asks for more than there is runs alone, with what it asked for (its threads are
    part of its result): it only waits until nothing else runs. Without GPUs its step runs where
    params.device sends it (auto: the CPU; cuda: a one-line error)."""
    return Needs(min(needs.threads, jobs), min(needs.memory_gb, memory_gb), min(needs.gpus, gpus))
