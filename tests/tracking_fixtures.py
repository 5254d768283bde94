"""Real tracking servers for tests: `mlflow server` on loopback over SQLite or over a PostgreSQL
cluster initialised from Debian's postgresql into a temporary directory."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
from contextlib import contextmanager
from pathlib import Path

import pytest

from prefect_fixtures import free_port, stop_group, wait_http

PG_BIN = Path("/usr/lib/postgresql/15/bin")


@contextmanager
def mlflow_server(backend_uri: str, workdir: Path):
    port, log = free_port(), workdir / "mlflow.log"
    with open(log, "w") as out:
        proc = subprocess.Popen([str(Path(sys.executable).parent / "mlflow"), "server", "--backend-store-uri",
                                 backend_uri, "--artifacts-destination", str(workdir / "art"),
                                 "--host", "127.0.0.1", "--port", str(port), "--workers", "1"],
                                stdout=out, stderr=subprocess.STDOUT, start_new_session=True)
    try:
        wait_http(f"http://127.0.0.1:{port}/health", 120, proc, log)
        yield f"http://127.0.0.1:{port}"
    finally:
        stop_group(proc)


def _pg_command(args: list[str]) -> list[str]:
    # PostgreSQL refuses to run as root: as root, run it as Debian's `postgres` user
    if os.geteuid() == 0:
        return ["runuser", "-u", "postgres", "--", *args]
    return args


@contextmanager
def postgres():
    """A PostgreSQL cluster on 127.0.0.1 and a free port; yields the SQLAlchemy URI of database `mlflow`.

    Its directory is a fresh one under the system temp dir (pytest's are private to the test user).
    """
    initdb = PG_BIN / "initdb"
    if not initdb.exists():
        pytest.skip(f"PostgreSQL backend: {initdb} missing (install Debian's postgresql)")
    if os.geteuid() == 0 and shutil.which("runuser") is None:
        pytest.skip("PostgreSQL backend: running as root without runuser to drop to the postgres user")
    workdir = Path(tempfile.mkdtemp(prefix="rnnlab-pg-"))
    data, sockets = workdir / "pgdata", workdir / "pgsock"
    sockets.mkdir()
    if os.geteuid() == 0:
        for path in (workdir, sockets):
            shutil.chown(path, "postgres")
    port = free_port()
    done = subprocess.run(_pg_command([str(initdb), "-D", str(data), "-U", "postgres", "--auth=trust", "-E", "UTF8"]),
                          capture_output=True, text=True)
    if done.returncode != 0:
        shutil.rmtree(workdir, ignore_errors=True)
        pytest.skip(f"PostgreSQL backend: initdb could not create a cluster: {done.stderr.strip()[-300:]}")
    start = subprocess.run(_pg_command([str(PG_BIN / "pg_ctl"), "-D", str(data), "-w", "-t", "60", "-l",
                                        str(workdir / "pg.log"), "-o",
                                        f"-c listen_addresses=127.0.0.1 -p {port} -k {sockets}", "start"]),
                           capture_output=True, text=True)
    if start.returncode != 0:
        log = (workdir / "pg.log").read_text(errors="replace")[-500:] if (workdir / "pg.log").exists() else ""
        shutil.rmtree(workdir, ignore_errors=True)
        pytest.skip(f"PostgreSQL backend: the server did not start: {start.stderr.strip()[-300:]} {log}")
    try:
        subprocess.run([str(PG_BIN / "createdb"), "-h", "127.0.0.1", "-p", str(port), "-U", "postgres", "mlflow"],
                       check=True, capture_output=True)
        yield f"postgresql+psycopg2://postgres@127.0.0.1:{port}/mlflow"
    finally:
        subprocess.run(_pg_command([str(PG_BIN / "pg_ctl"), "-D", str(data), "-m", "immediate", "-w", "stop"]),
                       capture_output=True)
        shutil.rmtree(workdir, ignore_errors=True)
