"""Environment defaults every flow entry point applies before Prefect is imported.

Prefect keeps its database and profiles under PREFECT_HOME: we keep it in the project
(`.prefect/`, not in git) so runs made in ephemeral mode show up once `make servers` starts
the UI on the same database. Anything already set in the environment wins.
"""

from __future__ import annotations

import os
from pathlib import Path

from rnnlab.interpreter import own_python_first

PROJECT = Path(__file__).resolve().parents[1]

DEFAULTS = {
    "PREFECT_HOME": str(PROJECT / ".prefect"),
    "PREFECT_SERVER_ANALYTICS_ENABLED": "false",
    # the embedded API takes 11-22 s to start on 2 busy cores; Prefect's default 20 s is too tight
    "PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS": "120",
    "DVC_NO_ANALYTICS": "1",
    "MLFLOW_DISABLE_TELEMETRY": "true",
}


def apply_defaults() -> None:
    for name, value in DEFAULTS.items():
        os.environ.setdefault(name, value)
    # stage commands call `python`: the one running this flow, with the project's packages
    os.environ["PATH"] = own_python_first(os.environ.get("PATH", os.defpath))
