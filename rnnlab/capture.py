"""Tee everything written to this process's stdout/stderr (children included) to a line callback.

DVC starts a stage's command with the parent's file descriptors, so capturing its output means
redirecting fds 1 and 2, not sys.stdout. The terminal still gets every byte; the callback gets
whole lines, and progress-bar redraws ("\\r") at most one per `progress_every` seconds.
"""

from __future__ import annotations

import os
import re
import sys
import threading
import time
from contextlib import contextmanager
from typing import Callable, Iterator

_ANSI = re.compile(r"\x1b\[[0-9;?]*[A-Za-z]")


class LineSplitter:
    """Bytes in, whole lines out; carriage-return redraws (progress bars) throttled."""

    def __init__(self, on_line: Callable[[str], None], progress_every: float):
        self.on_line, self.progress_every = on_line, progress_every
        self.buffer, self.last_progress = "", 0.0

    def feed(self, text: str) -> None:
        self.buffer += text
        while True:
            cut = min((i for i in (self.buffer.find("\n"), self.buffer.find("\r")) if i >= 0), default=-1)
            if cut < 0:
                return
            line, ending, self.buffer = self.buffer[:cut], self.buffer[cut], self.buffer[cut + 1:]
            if ending == "\r":
                self._progress(line)
            else:
                self._emit(line)

    def _progress(self, line: str) -> None:
        now = time.monotonic()
        if now - self.last_progress >= self.progress_every:
            self.last_progress = now
            self._emit(line)

    def _emit(self, line: str) -> None:
        line = _ANSI.sub("", line).rstrip()
        if line:
            self.on_line(line)

    def close(self) -> None:
        self._emit(self.buffer)
        self.buffer = ""


@contextmanager
def tee_output(on_line: Callable[[str], None], progress_every: float = 10.0) -> Iterator[None]:
    """Within the block, fds 1 and 2 go to a pipe read by a thread that forwards to on_line."""
    for stream in (sys.stdout, sys.stderr):
        stream.flush()
    terminal = os.dup(1)
    saved = {fd: os.dup(fd) for fd in (1, 2)}
    read_end, write_end = os.pipe()
    splitter = LineSplitter(on_line, progress_every)

    def pump() -> None:
        while chunk := os.read(read_end, 65536):
            os.write(terminal, chunk)
            splitter.feed(chunk.decode("utf-8", errors="replace"))
        splitter.close()

    reader = threading.Thread(target=pump, name="tee-output", daemon=True)
    reader.start()
    for fd in (1, 2):
        os.dup2(write_end, fd)
    os.close(write_end)
    try:
        yield
    finally:
        for stream in (sys.stdout, sys.stderr):
            stream.flush()
        for fd, copy in saved.items():
            os.dup2(copy, fd)  # closes the pipe's last write ends: the reader sees EOF
            os.close(copy)
        reader.join(timeout=30)
        os.close(read_end)
        os.close(terminal)
