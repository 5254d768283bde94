"""`python -m pipelines.servers`: the Prefect and MLflow servers really started on loopback,
reported, and stopped with their whole process groups on Ctrl-C."""

from __future__ import annotations

import signal
import socket
import subprocess
import time
from pathlib import Path

import pytest

from prefect_fixtures import PYTHON, env, free_port, get_json, group_alive, port_free, stop_group

pytestmark = pytest.mark.slow


def start_servers(tmp_path: Path, prefect_port: int, mlflow_port: int) -> subprocess.Popen:
    return subprocess.Popen(
        [PYTHON, "-m", "pipelines.servers", "--prefect-port", str(prefect_port), "--mlflow-port", str(mlflow_port),
         "--mlflow-backend-store-uri", f"sqlite:///{tmp_path / 'mlflow.db'}", "--mlflow-artifacts", str(tmp_path / "art")],
        env=env(PREFECT_HOME=str(tmp_path / "home")), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        start_new_session=True)


def groups_listening(*ports: int) -> set[int]:
    """Process groups of every process whose command line names one of these ports."""
    out = subprocess.run(["ps", "-ww", "-eo", "pgid=,args="], capture_output=True, text=True).stdout
    return {int(line.split()[0]) for line in out.splitlines()
            if any(f"--port {p}" in line for p in ports) and "pipelines.servers" not in line}


def listening_addresses(port: int) -> set[str]:
    """The local addresses of the kernel's listening TCP sockets on this port (/proc/net/tcp and tcp6)."""
    import ipaddress

    found = set()
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        for line in Path(table).read_text().splitlines()[1:]:
            local, state = line.split()[1], line.split()[3]
            address, hex_port = local.split(":")
            if state == "0A" and int(hex_port, 16) == port:  # 0A: LISTEN
                raw = bytes.fromhex(address)
                # the kernel prints each 32-bit word in host (little-endian) order
                raw = b"".join(raw[i:i + 4][::-1] for i in range(0, len(raw), 4))
                ip = ipaddress.ip_address(raw)
                found.add(str(ip.ipv4_mapped or ip) if ip.version == 6 else str(ip))
    return found


def test_both_servers_answer_then_stop_with_their_process_groups(tmp_path):
    prefect_port, mlflow_port = free_port(), free_port()
    proc = start_servers(tmp_path, prefect_port, mlflow_port)
    try:
        lines = []
        deadline = time.monotonic() + 240
        while not any("Ctrl-C stops both" in line for line in lines):
            assert time.monotonic() < deadline and proc.poll() is None, "".join(lines) + proc.stderr.read()
            lines.append(proc.stdout.readline())
        output = "".join(lines)
        assert f"export PREFECT_API_URL=http://127.0.0.1:{prefect_port}/api" in output
        assert f"export MLFLOW_TRACKING_URI=http://127.0.0.1:{mlflow_port}" in output
        assert get_json(f"http://127.0.0.1:{prefect_port}/api/health") is True
        assert get_json(f"http://127.0.0.1:{mlflow_port}/api/2.0/mlflow/experiments/search",
                        {"max_results": 5})["experiments"][0]["name"] == "Default"
        # loopback only: no socket of either server listens on a wildcard or outside address
        assert listening_addresses(prefect_port) == {"127.0.0.1"} and listening_addresses(mlflow_port) == {"127.0.0.1"}
        groups = groups_listening(prefect_port, mlflow_port)
        assert len(groups) == 2 and proc.pid not in groups  # each server leads a group of its own

        proc.send_signal(signal.SIGINT)
        assert proc.wait(timeout=30) == 0
        assert "Stopping Prefect and MLflow" in proc.stdout.read()
        assert not any(group_alive(g) for g in groups)
        assert port_free(prefect_port) and port_free(mlflow_port)
    finally:
        stop_group(proc)


def test_a_busy_port_is_one_line_and_leaves_nothing_running(tmp_path):
    prefect_port, mlflow_port = free_port(), free_port()
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", mlflow_port))
        busy.listen()
        proc = start_servers(tmp_path, prefect_port, mlflow_port)
        try:
            assert proc.wait(timeout=60) != 0
        finally:
            stop_group(proc)
        errors = [line for line in proc.stderr.read().splitlines() if line.strip()]
    assert len(errors) == 1 and errors[0].startswith("error: MLflow server")
    assert f"port {mlflow_port}" in errors[0] and "already in use" in errors[0]
    assert groups_listening(prefect_port, mlflow_port) == set() and port_free(prefect_port)


def test_a_server_dying_at_startup_stops_the_other(tmp_path):
    """MLflow exits on a store URI it cannot open; the Prefect server already starting must be stopped too."""
    prefect_port, mlflow_port = free_port(), free_port()
    proc = subprocess.Popen(
        [PYTHON, "-m", "pipelines.servers", "--prefect-port", str(prefect_port), "--mlflow-port", str(mlflow_port),
         "--mlflow-backend-store-uri", "nosuchscheme://nowhere", "--mlflow-artifacts", str(tmp_path / "art")],
        env=env(PREFECT_HOME=str(tmp_path / "home")), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        start_new_session=True)
    try:
        assert proc.wait(timeout=120) != 0
    finally:
        stop_group(proc)
    errors = [line for line in proc.stderr.read().splitlines() if line.startswith("error:")]
    assert len(errors) == 1 and errors[0].startswith("error: MLflow server exited with code"), errors
    assert f"port {mlflow_port}" in errors[0] and "mlflow-server.log" in errors[0]
    assert groups_listening(prefect_port, mlflow_port) == set() and port_free(prefect_port)
