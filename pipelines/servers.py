"""Start the Prefect server (UI + API) and the MLflow tracking server together; Ctrl-C stops both.

    python -m pipelines.servers [--host 127.0.0.1] [--prefect-port 4200] [--mlflow-port 5000]

Each server runs in its own process group with its output in a log file under
$PREFECT_HOME/logs (default .prefect/logs): both spawn children (uvicorn workers, MLflow's job
consumer) that outlive a plain kill of the parent, so stopping means signalling the whole group.
"""

from __future__ import annotations

import argparse
import os
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path

import pipelines  # noqa: F401  (environment defaults: PREFECT_HOME, analytics/telemetry off)
from pipelines.settings import PROJECT

STOP_GRACE_SECONDS = 5.0      # SIGTERM, then SIGKILL for whatever is left in the group
START_TIMEOUT_SECONDS = 180.0  # Prefect needs ~19 s on a new database, MLflow ~11 s; both at once on 2 cores: more


class ServerError(Exception):
    """A server that died or never answered; the message is the one line shown to the user."""


class _Stop(Exception):
    """SIGINT/SIGTERM arrived: stop both servers and exit 0."""


# Set by the signal handler and checked by the wait loops, rather than raising from the handler:
# an exception at an arbitrary point (say between Popen and storing its result) could leak a server.
STOP = threading.Event()


def _request_stop(signum, frame) -> None:
    STOP.set()


def _pause(seconds: float) -> None:
    if STOP.wait(seconds):
        raise _Stop


@dataclass
class Server:
    name: str           # "Prefect" / "MLflow", used in every message
    command: list[str]
    port: int
    health_url: str     # answers 200 once the server is ready
    log: Path
    env: dict[str, str] = field(default_factory=dict, repr=False)  # added to ours for this server
    proc: subprocess.Popen | None = field(default=None, repr=False)
    ready_after: float | None = None  # seconds from start until the health URL answered

    def fail(self, what: str) -> ServerError:
        return ServerError(f"{self.name} server {what} (port {self.port}, log {self.log}){_last_line(self.log)}")


def _last_line(log: Path) -> str:
    """The log's last non-empty line, the usual reason ("Port 4200 is already in use ..."), as a suffix."""
    try:
        lines = [line.strip() for line in log.read_text(errors="replace").splitlines() if line.strip()]
    except OSError:
        return ""
    return f": {lines[-1][:200]}" if lines else ""


def url_host(host: str) -> str:
    # a wildcard bind is reachable on loopback; "http://0.0.0.0:..." is not a URL to hand out
    return "127.0.0.1" if host in ("0.0.0.0", "::", "") else host


def port_in_use(host: str, port: int) -> bool:
    """Whether binding host:port fails, checked the way uvicorn binds (SO_REUSEADDR: TIME_WAIT is fine)."""
    family, socktype, proto, _, address = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)[0]
    with socket.socket(family, socktype, proto) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind(address)
        except OSError:
            return True
    return False


def build_servers(args: argparse.Namespace, log_dir: Path) -> list[Server]:
    bin_dir = Path(sys.executable).parent  # the venv's prefect/mlflow, whatever PATH says
    base = f"http://{url_host(args.host)}"
    artifacts = Path(args.mlflow_artifacts).resolve()
    prefect = Server("Prefect", [str(bin_dir / "prefect"), "server", "start", "--host", args.host,
                                 "--port", str(args.prefect_port)],
                     args.prefect_port, f"{base}:{args.prefect_port}/api/health", log_dir / "prefect-server.log")
    mlflow = Server("MLflow", [str(bin_dir / "mlflow"), "server", "--backend-store-uri", args.mlflow_backend_store_uri,
                               "--artifacts-destination", str(artifacts), "--host", args.host,
                               "--port", str(args.mlflow_port), "--workers", "1"],
                    args.mlflow_port, f"{base}:{args.mlflow_port}/health", log_dir / "mlflow-server.log")
    prefect.env = prefect_ui_env(args.host, args.prefect_port)
    return [prefect, mlflow]


def prefect_ui_env(host: str, port: int) -> dict[str, str]:
    """Point the UI's browser code at this server's API.

    `prefect server start --port P` does not tell the UI: it takes its API address from
    PREFECT_API_URL (maybe another server's) or else PREFECT_SERVER_API_PORT (4200), and on any
    other port the UI only says "Can't connect to Server API at http://127.0.0.1:4200/api".
    """
    if os.environ.get("PREFECT_SERVER_UI_API_URL") or os.environ.get("PREFECT_UI_API_URL"):
        return {}  # set by the user, e.g. the address other machines reach a --host 0.0.0.0 server at
    return {"PREFECT_SERVER_UI_API_URL": f"http://{url_host(host)}:{port}/api",
            "PREFECT_SERVER_API_HOST": host, "PREFECT_SERVER_API_PORT": str(port)}


def start(server: Server) -> None:
    with open(server.log, "w") as log:  # the child keeps its own copy of the descriptor
        # own session = own process group: the terminal's Ctrl-C reaches only us, and we stop the group
        server.proc = subprocess.Popen(server.command, stdin=subprocess.DEVNULL, stdout=log,
                                       stderr=subprocess.STDOUT, start_new_session=True, cwd=PROJECT,
                                       env={**os.environ, **server.env})


def answers(url: str) -> bool:
    try:
        with urllib.request.urlopen(url, timeout=2) as response:
            return response.status == 200
    except OSError:  # refused, reset, timeout, HTTP error
        return False


def wait_until_ready(servers: list[Server], timeout: float) -> None:
    """Poll every health URL until all answer; raise ServerError for the first that dies or times out."""
    started, deadline = time.monotonic(), time.monotonic() + timeout
    while True:
        for server in servers:
            if server.ready_after is not None:
                continue
            # checked before the health URL: a dead server's port may be answered by someone else
            if server.proc.poll() is not None:
                raise server.fail(f"exited with code {server.proc.returncode} before answering")
            if answers(server.health_url):
                server.ready_after = time.monotonic() - started
        if all(s.ready_after is not None for s in servers):
            return
        if time.monotonic() > deadline:
            late = next(s for s in servers if s.ready_after is None)
            raise late.fail(f"did not answer {late.health_url} within {timeout:.0f} s")
        _pause(0.5)


def group_alive(pgid: int) -> bool:
    try:
        os.killpg(pgid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # exists, not ours to signal
        return True
    return True


def _signal_group(pgid: int, sig: int) -> None:
    try:
        os.killpg(pgid, sig)
    except ProcessLookupError:
        pass


def stop(servers: list[Server], grace: float = STOP_GRACE_SECONDS) -> None:
    """SIGTERM every server's whole group; SIGKILL what is left after `grace` seconds."""
    started = [s for s in servers if s.proc is not None]
    for server in started:  # pgid == pid: start_new_session made each server its group's leader
        _signal_group(server.proc.pid, signal.SIGTERM)
    left = _wait_groups_gone(started, grace)
    for server in left:
        print(f"{server.name} server still running {grace:.0f} s after SIGTERM: killing its process group",
              file=sys.stderr, flush=True)
        _signal_group(server.proc.pid, signal.SIGKILL)
    _wait_groups_gone(left, grace)


def _wait_groups_gone(servers: list[Server], timeout: float) -> list[Server]:
    """The servers whose process group still exists after `timeout` seconds."""
    deadline = time.monotonic() + timeout
    while True:
        for server in servers:
            server.proc.poll()  # reap the leader, or its zombie keeps the group "alive"
        left = [s for s in servers if group_alive(s.proc.pid)]
        if not left or time.monotonic() > deadline:
            return left
        time.sleep(0.1)


def supervise(servers: list[Server]) -> None:
    """Block until SIGINT/SIGTERM (-> _Stop) or until a server dies on its own (-> ServerError)."""
    while True:
        for server in servers:
            if server.proc.poll() is not None:
                raise server.fail(f"exited with code {server.proc.returncode}")
        _pause(1)


def print_ready(servers: list[Server], host: str, log_dir: Path) -> None:
    prefect, mlflow = servers
    base = f"http://{url_host(host)}"
    print(f"Prefect UI: {base}:{prefect.port}  (up in {prefect.ready_after:.1f} s)", flush=True)
    print(f"MLflow UI:  {base}:{mlflow.port}  (up in {mlflow.ready_after:.1f} s)", flush=True)
    print(f"Server logs: {prefect.log}, {mlflow.log}", flush=True)
    print("To send runs here from another shell:", flush=True)
    print(f"export PREFECT_API_URL={base}:{prefect.port}/api", flush=True)
    print(f"export MLFLOW_TRACKING_URI={base}:{mlflow.port}", flush=True)
    print("Ctrl-C stops both servers.", flush=True)


def run(args: argparse.Namespace) -> int:
    log_dir = Path(os.environ["PREFECT_HOME"]) / "logs"
    log_dir.mkdir(parents=True, exist_ok=True)
    Path(args.mlflow_artifacts).mkdir(parents=True, exist_ok=True)
    servers = build_servers(args, log_dir)
    # from here on SIGINT/SIGTERM end the wait loops, and `finally` stops whatever was started
    signal.signal(signal.SIGINT, _request_stop)
    signal.signal(signal.SIGTERM, _request_stop)
    try:
        for server in servers:
            # checked up front: a busy port answering /health would pass for our server
            if port_in_use(args.host, server.port):
                raise ServerError(f"{server.name} server cannot start: port {server.port} on {args.host} "
                                  f"is already in use (log {server.log})")
        print(f"Starting Prefect on port {servers[0].port} and MLflow on port {servers[1].port} "
              f"(logs in {log_dir}) ...", flush=True)
        for server in servers:
            start(server)
            _pause(0)  # a Ctrl-C during startup: stop now instead of after the health wait
        wait_until_ready(servers, args.timeout)
        print_ready(servers, args.host, log_dir)
        supervise(servers)
    except _Stop:
        print("Stopping Prefect and MLflow ...", flush=True)
        return 0
    except ServerError as error:
        print(f"error: {error}", file=sys.stderr, flush=True)
        return 1
    finally:
        stop(servers)  # the handlers only set STOP: a second Ctrl-C cannot cut this short
    return 0


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--host", default="127.0.0.1", help="address both servers bind (default: loopback only)")
    parser.add_argument("--prefect-port", type=int, default=4200)
    parser.add_argument("--mlflow-port", type=int, default=5000)
    parser.add_argument("--mlflow-backend-store-uri", default=f"sqlite:///{PROJECT / 'mlflow.db'}",
                        help="MLflow's database (default: the project's mlflow.db)")
    parser.add_argument("--mlflow-artifacts", default=str(PROJECT / "mlruns"),
                        help="where the MLflow server stores artifacts (default: the project's mlruns/)")
    parser.add_argument("--timeout", type=float, default=START_TIMEOUT_SECONDS,
                        help="seconds to wait for both servers to answer")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> None:
    sys.exit(run(parse_args(argv)))


if __name__ == "__main__":
    main()
