"""Headless Chromium driven over the DevTools protocol: wait, in real time, until a page shows what a test wants.

`chromium --dump-dom --virtual-time-budget=N` dumps the page when Chromium's *virtual* clock has run N ms, and
that clock does not wait for a server that is slow to answer: under the full suite the MLflow run page was
dumped before its charts were drawn (CI, 3 attempts of 60 virtual seconds). Here the test names the texts it
needs and the page is read again every half second until they are all there, or a real deadline passes.
"""

from __future__ import annotations

import base64
import itertools
import json
import os
import re
import signal
import subprocess
import tempfile
import time
from contextlib import contextmanager
from pathlib import Path
from typing import Callable, Iterator

from websockets.sync.client import connect

CHROMIUM = Path("/usr/bin/chromium")
# as root, in a closed network: no sandbox, and none of Chromium's own background connections
FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync"]


class Page:
    """One tab, attached through the browser's socket (flat session)."""

    def __init__(self, socket, session: str):
        self.socket, self.session, self.ids = socket, session, itertools.count(1)

    def send(self, method: str, **params) -> dict:
        call = next(self.ids)
        message = {"id": call, "method": method, "params": params}
        self.socket.send(json.dumps(message | ({"sessionId": self.session} if self.session else {})))
        while True:  # events of this or other tabs arrive in between: skip them
            message = json.loads(self.socket.recv(timeout=120))
            if message.get("id") == call:
                if "error" in message:
                    raise RuntimeError(f"{method}: {message['error']}")
                return message["result"]

    def dom(self) -> str:
        """The DOM once the page has loaded ("" before: a navigation is still under way)."""
        try:
            return self.send("Runtime.evaluate", returnByValue=True, expression=(
                "document.readyState == 'complete' && location.href != 'about:blank'"
                " ? document.documentElement.outerHTML : ''"))["result"]["value"]
        except RuntimeError:  # the context went away mid-navigation: ask again
            return ""

    def wait_for(self, *texts: str, timeout: float = 180) -> str:
        """The page's DOM once it contains every text (the last DOM read, if the deadline passes first)."""
        return self.wait_until(lambda dom: all(text in dom for text in texts), timeout)

    def wait_until(self, shown: Callable[[str], bool], timeout: float = 180) -> str:
        """The page's DOM once shown(dom) holds (the last DOM read, if the deadline passes first)."""
        deadline = time.monotonic() + timeout
        while True:
            dom = self.dom()
            if (dom and shown(dom)) or time.monotonic() > deadline:
                return dom
            time.sleep(0.5)

    def screenshot(self, path: Path) -> Path:
        path.write_bytes(base64.b64decode(self.send("Page.captureScreenshot", format="png")["data"]))
        return path


@contextmanager
def browser(*flags: str, width: int = 1400, height: int = 1000) -> Iterator["Browser"]:
    """A Chromium process for the test; extra flags such as --proxy-server=127.0.0.1:9 (no network at all)."""
    if not CHROMIUM.exists():
        import pytest

        pytest.skip("no /usr/bin/chromium (Debian package chromium; .ci/run installs it as root)")
    with tempfile.TemporaryDirectory(prefix="chromium-", ignore_cleanup_errors=True) as profile:
        proc = subprocess.Popen([str(CHROMIUM), *FLAGS, *flags, f"--window-size={width},{height}",
                                 f"--user-data-dir={profile}", "--remote-debugging-port=0", "about:blank"],
                                stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True, start_new_session=True)
        try:
            yield Browser(_devtools_url(proc), width, height)
        finally:  # the whole group: renderer and helper processes still write to the profile
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()


def _devtools_url(proc: subprocess.Popen) -> str:
    for line in proc.stderr:  # Chromium announces its socket on stderr once it listens
        if found := re.search(r"DevTools listening on (ws://\S+)", line):
            return found[1]
    raise RuntimeError(f"Chromium exited ({proc.wait()}) before it opened its DevTools socket")


class Browser:
    def __init__(self, url: str, width: int, height: int):
        self.url, self.width, self.height = url, width, height

    @contextmanager
    def open(self, url: str) -> Iterator[Page]:
        with connect(self.url, max_size=None, open_timeout=60) as socket:
            root = Page(socket, session=None)
            target = root.send("Target.createTarget", url="about:blank")["targetId"]
            page = Page(socket, root.send("Target.attachToTarget", targetId=target, flatten=True)["sessionId"])
            page.send("Emulation.setDeviceMetricsOverride", width=self.width, height=self.height,
                      deviceScaleFactor=1, mobile=False)
            page.send("Page.navigate", url=url)
            yield page
