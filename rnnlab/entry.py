"""Run a stage function from the command line: known problems become one line and exit 2."""

from __future__ import annotations

import inspect
import os
import sys
from typing import Callable

from rnnlab.allocator import keep_freed_memory
from rnnlab.errors import RnnlabError


def run_stage(fn: Callable, argv: list[str]) -> None:
    names = list(inspect.signature(fn).parameters)
    if len(argv) != len(names):
        print(f"usage: {os.path.basename(sys.argv[0])} {' '.join(n.upper() for n in names)}", file=sys.stderr)
        sys.exit(2)
    keep_freed_memory()
    try:
        fn(*argv)
    except RnnlabError as e:
        print(f"error: {e}", file=sys.stderr)
        sys.exit(2)
    except FileNotFoundError as e:  # an input an earlier stage or the download should have made
        print(f"error: {e.filename}: missing input (rerun the stage that makes it, e.g. `dvc repro`)", file=sys.stderr)
        sys.exit(2)
