"""Stage `download`: fetch one catalog entry into data/raw/<name>."""

from __future__ import annotations

from rnnlab import fetch, layout, params as P


def run(name: str) -> None:
    params = P.load()
    record = fetch.fetch(name, layout.raw(name), fetch.Settings.from_params(params.download))
    note = f" (stand-in for {record['requested']})" if record["corpus"] != name else ""
    print(f"{name}: {record['corpus']}{note} from {record['source']} -> {layout.raw(name)}")
