"""Run a stage function from the command line: known problems become one line and exit 2.

A stage process also computes on the threads params.yaml gives its step (rnnlab/determinism.py),
and dies with whoever started it (an orphan would later rename its outputs over a rerun's).
"""

from __future__ import annotations

import errno
import inspect
import os
import sys
import threading
import time
from pathlib import Path
from typing import Callable

from rnnlab.allocator import keep_freed_memory
from rnnlab.errors import RnnlabError

# the causes a user can act on, said in their words rather than as a traceback
_OS_ERRORS = {errno.ENOSPC: "no space left on the device", errno.EDQUOT: "disk quota exceeded",
              errno.EROFS: "read-only file system", errno.EACCES: "permission denied",
              errno.EPERM: "operation not permitted"}
_SHELLS = {"sh", "bash", "dash", "zsh", "fish", "ksh", "mksh", "ash", "busybox"}


def run_stage(fn: Callable, argv: list[str]) -> None:
    names = list(inspect.signature(fn).parameters)
    if len(argv) != len(names):
        print(f"usage: {os.path.basename(sys.argv[0])} {' '.join(n.upper() for n in names)}", file=sys.stderr)
        sys.exit(2)
    keep_freed_memory()
    try:
        _use_params_compute(_module(sys.argv[0]), argv)
        fn(*argv)
    except RnnlabError as e:
        _fail(str(e))
    except FileNotFoundError as e:  # an input an earlier stage or the download should have made
        _fail(f"{e.filename}: missing input (rerun the stage that makes it, e.g. `dvc repro`)")
    except MemoryError:
        _fail("out of memory (lower the batch or model size in params.yaml, or free memory)")
    except OSError as e:
        if e.errno not in _OS_ERRORS:
            raise
        where = f"{e.filename}: " if e.filename else ""
        _fail(f"{where}{_OS_ERRORS[e.errno]} (previous outputs are left as they were)")


def _fail(message: str) -> None:
    print(f"error: {message}", file=sys.stderr)
    sys.exit(2)


def _module(script: str) -> str:
    """stages/<kind>/<step>.py -> 'stages.<kind>.<step>' (stages/<step>.py -> 'stages.<step>'): the name
    `python -m` ran, which params.stage_compute reads the way dvc.yaml was rendered."""
    path = Path(script).with_suffix("")
    if path.name == "__main__":  # `python -m stages.<kind>` runs the package's __main__.py
        path = path.parent
    at = max((i for i, part in enumerate(path.parts) if part == "stages"), default=len(path.parts) - 1)
    parts = path.parts[at:]  # the project's own stages folder: the last one on the path
    return ".".join(parts)


def _use_params_compute(module: str, args: list[str]) -> None:
    """The threads params.yaml gives this step, and its device where the step computes on one."""
    from rnnlab import device
    from rnnlab import params as P
    from rnnlab.determinism import use_threads

    params = P.load()
    step, task = P.stage_compute(module, args)
    _check_threads_dep(f"threads.{P.threads_key(params.threads, step, task)}")
    use_threads(P.threads_for(params, step, task))
    if step in device.STEPS:
        device.use(params.device)


def _check_threads_dep(entry: str) -> None:
    """Under DVC, refuse to compute on a `threads` entry the stage's dvc.yaml params do not name: dvc.lock
    would record another entry than the one the result depends on. It happens when a more specific key
    (`-S +threads.sms_train=2`) is added to params.yaml without rendering dvc.yaml again. The dvc.yaml is
    the one in the working directory, beside the params.yaml just read: `dvc exp run --temp` and queued
    runs work in a copy while DVC_ROOT names the original workspace."""
    stage = os.environ.get("DVC_STAGE", "")
    name = stage.split("@", 1)[0]
    if not name or ":" in name:  # not DVC, or a stage of another dvc.yaml than the generated one
        return
    import yaml

    path = Path("dvc.yaml")
    stages = yaml.load(path.read_text(encoding="utf-8"), Loader=getattr(yaml, "CSafeLoader", yaml.SafeLoader))
    body = (stages or {}).get("stages", {}).get(name, {})
    names = [p for p in body.get("do", body).get("params", []) if isinstance(p, str)]
    listed = [p for p in names if p.startswith("threads.")]
    if listed and entry not in listed:
        raise RnnlabError(f"params.yaml: {entry} applies to stage {stage}, but dvc.yaml names {listed[0]} "
                          "(run `rnnlab pipeline` to render dvc.yaml again)")


def die_with_parent(poll_s: float = 0.5) -> None:
    """Exit as soon as the process that started this stage (dvc, a flow worker) is gone.

    stages/__init__.py calls it, so the watch starts before a stage's seconds of torch imports.

    The parent is the one noted when rnnlab was first imported (rnnlab.STARTED_BY), before the
    seconds of imports in which it may already have died. DVC runs the command through `sh -c`,
    so a shell's parent is watched too. Outputs are renamed into place only when complete
    (rnnlab/atomic.py), so stopping midway loses nothing.
    """
    import rnnlab

    comm, grandparent = _proc_stat(rnnlab.STARTED_BY)
    if os.environ.get("DVC_STAGE") and (rnnlab.STARTED_BY <= 1 or (comm in _SHELLS and grandparent <= 1)):
        _orphaned()  # dvc started us (through a shell) and was gone before rnnlab could note it
    watched = _starters(rnnlab.STARTED_BY)

    def gone() -> bool:
        return os.getppid() != watched[0] or not all(_alive(p) for p in watched[1:])

    if gone():
        _orphaned()

    def watch():
        while not gone():
            time.sleep(poll_s)
        _orphaned()

    threading.Thread(target=watch, name="die-with-parent", daemon=True).start()


def _orphaned() -> None:
    print(f"error: {os.path.basename(sys.argv[0])}: the process that started this stage is gone; stopping "
          "(previous outputs are left as they were)", file=sys.stderr, flush=True)
    os._exit(143)


def _starters(parent: int) -> list[int]:
    """The parent's pid, then its parent's where the parent is a shell."""
    chain = [parent]
    comm, ppid = _proc_stat(parent)
    if comm in _SHELLS and ppid > 1:  # a shell started by init (a container's sh -c) has no starter to watch
        chain.append(ppid)
    return chain


def _proc_stat(pid: int) -> tuple[str, int]:
    """(command name, parent pid) of a live process; ("", 0) for a gone or zombie one, or without /proc."""
    try:
        text = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return "", 0
    state, ppid = text[text.rindex(")") + 2:].split()[:2]
    return ("", 0) if state == "Z" else (text[text.index("(") + 1:text.rindex(")")], int(ppid))


def _alive(pid: int) -> bool:
    return _proc_stat(pid)[1] != 0  # a killed dvc stays a zombie until its parent reaps it
