"""Stage `download@NAME`: fetch one catalog entry into data/raw/<name>."""

from __future__ import annotations

import sys

from rnnlab import fetch, layout
from rnnlab import params as P
from rnnlab.entry import run_stage


def run(name: str) -> None:
    params = P.load()
    record = fetch.fetch(name, layout.raw(name), fetch.Settings.from_params(params.download))
    note = f" (stand-in for {record['requested']})" if record["corpus"] != name else ""
    print(f"{name}: {record['corpus']}{note} from {record['source']} -> {layout.raw(name)}")


if __name__ == "__main__":
    run_stage(run, sys.argv[1:])
