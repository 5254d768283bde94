"""Real servers on loopback for the orchestration tests: free ports, process groups, a Prefect
server in a temporary PREFECT_HOME, a tiny DVC project. No Prefect import here: the servers run
as subprocesses, so the test process keeps whatever Prefect settings other tests use."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import textwrap
import time
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PYTHON = sys.executable
BIN = Path(PYTHON).parent


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def port_free(port: int, host: str = "127.0.0.1") -> bool:
    """Whether a server could bind host:port now (as uvicorn does, with SO_REUSEADDR)."""
    with socket.socket() as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((host, port))
        except OSError:
            return False
    return True


def group_alive(pgid: int) -> bool:
    try:
        os.killpg(pgid, 0)
    except ProcessLookupError:
        return False
    return True


def stop_group(proc: subprocess.Popen, sig: int = signal.SIGTERM, grace: float = 10.0) -> None:
    """Signal proc's whole process group (it must lead one), SIGKILL it after `grace` seconds."""
    for signum in (sig, signal.SIGKILL):
        try:
            os.killpg(proc.pid, signum)
        except ProcessLookupError:
            return
        deadline = time.monotonic() + grace
        while time.monotonic() < deadline:
            proc.poll()  # reap the leader: its zombie would keep the group alive
            if not group_alive(proc.pid):
                return
            time.sleep(0.1)


def env(**extra: str) -> dict[str, str]:
    """The environment for a subprocess: venv first on PATH, no analytics, no inherited Prefect API."""
    values = {k: v for k, v in os.environ.items() if k not in ("PREFECT_API_URL", "PREFECT_PROFILE")}
    values.update(PATH=f"{BIN}{os.pathsep}{os.environ.get('PATH', '')}", PREFECT_SERVER_ANALYTICS_ENABLED="false",
                  MLFLOW_DISABLE_TELEMETRY="true", DVC_NO_ANALYTICS="1", PYTHONUNBUFFERED="1")
    values.update(extra)
    return values


def get_json(url: str, body: dict | None = None, timeout: float = 10, retries: int = 5):
    """The answer of a Prefect (or MLflow) API call; a busy server's 503 is retried, as their clients do."""
    data = None if body is None else json.dumps(body).encode()
    request = urllib.request.Request(url, data=data, headers={"Content-Type": "application/json"})
    for attempt in range(retries + 1):
        try:
            with urllib.request.urlopen(request, timeout=timeout) as response:
                return json.loads(response.read() or b"null")
        except urllib.error.HTTPError as e:
            if e.code != 503 or attempt == retries:
                raise
            time.sleep(2 ** attempt)


def wait_http(url: str, timeout: float, proc: subprocess.Popen | None = None, log: Path | None = None) -> float:
    """Seconds until url answers 200; fails early if proc dies."""
    start = time.monotonic()
    while time.monotonic() - start < timeout:
        if proc is not None and proc.poll() is not None:
            raise AssertionError(f"{proc.args} exited with {proc.returncode}: {tail(log)}")
        try:
            with urllib.request.urlopen(url, timeout=2) as response:
                if response.status == 200:
                    return time.monotonic() - start
        except (OSError, urllib.error.URLError):
            pass
        time.sleep(0.5)
    raise AssertionError(f"{url} did not answer within {timeout:.0f} s: {tail(log)}")


def tail(log: Path | None, lines: int = 30) -> str:
    if log is None or not log.exists():
        return ""
    return "\n" + "\n".join(log.read_text(errors="replace").splitlines()[-lines:])


@dataclass
class PrefectServer:
    port: int
    home: Path
    log: Path
    proc: subprocess.Popen
    startup_seconds: float

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def api(self) -> str:
        return f"{self.url}/api"


def start_prefect_server(home: Path, timeout: float = 180) -> PrefectServer:
    """`prefect server start` on a free loopback port, its own process group, PREFECT_HOME=home."""
    home.mkdir(parents=True, exist_ok=True)
    port, log = free_port(), home / "server.log"
    with open(log, "w") as out:
        proc = subprocess.Popen([str(BIN / "prefect"), "server", "start", "--host", "127.0.0.1", "--port", str(port)],
                                stdin=subprocess.DEVNULL, stdout=out, stderr=subprocess.STDOUT,
                                # without these the UI calls the API on port 4200 (see pipelines/servers.py)
                                env=env(PREFECT_HOME=str(home), PREFECT_SERVER_API_PORT=str(port),
                                        PREFECT_SERVER_UI_API_URL=f"http://127.0.0.1:{port}/api"),
                                start_new_session=True)
    try:
        seconds = wait_http(f"http://127.0.0.1:{port}/api/health", timeout, proc, log)
    except BaseException:
        stop_group(proc)
        raise
    return PrefectServer(port, home, log, proc, seconds)


DVC_YAML = textwrap.dedent("""\
    stages:
      prepare:
        cmd: >-
          python -c "open('data.txt', 'w').write('1 2 3 4')"
        outs: [data.txt]
      train:
        cmd: >-
          python -c "open('model.txt', 'w').write(str(sum(map(int, open('data.txt').read().split()))))"
        deps: [data.txt]
        outs: [model.txt]
      evaluate:
        cmd: >-
          python -c "import json; json.dump({'total': int(open('model.txt').read())}, open('metrics.json', 'w'))"
        deps: [model.txt]
        metrics:
          - metrics.json:
              cache: false
    """)
TINY_STAGES = ["prepare", "train", "evaluate"]
TINY_OUTPUTS = {"data.txt": "1 2 3 4", "model.txt": "10", "metrics.json": '{"total": 10}'}


def tiny_dvc_project(path: Path) -> Path:
    """A git + DVC project with three one-line stages (prepare -> train -> evaluate)."""
    path.mkdir(parents=True, exist_ok=True)
    run = dict(cwd=path, check=True, capture_output=True, env=env())
    subprocess.run(["git", "init", "-q"], **run)
    subprocess.run([str(BIN / "dvc"), "init", "-q"], **run)
    subprocess.run([str(BIN / "dvc"), "config", "core.analytics", "false"], **run)
    subprocess.run([str(BIN / "dvc"), "config", "core.check_update", "false"], **run)
    (path / "dvc.yaml").write_text(DVC_YAML)
    return path
