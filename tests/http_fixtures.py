"""A real HTTP server on 127.0.0.1 that misbehaves on purpose, for download tests."""

from __future__ import annotations

import gzip
import hashlib
import io
import tarfile
import threading
import time
import zipfile
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

GOOD = b"ham\tOk lar... Joking wif u oni...\nspam\tFree entry in 2 a wkly comp\n" * 50


def sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def _zip(members: dict[str, bytes]) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as z:
        for name, data in members.items():
            z.writestr(name, data)
    return buf.getvalue()


def _tar_with_link_out() -> bytes:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w:gz") as t:
        info = tarfile.TarInfo("corpus/evil")
        info.type, info.linkname = tarfile.SYMTYPE, "../../../../etc/passwd"
        t.addfile(info)
    return buf.getvalue()


def _acl_imdb() -> bytes:
    """A miniature aclImdb_v1.tar.gz with the real layout."""
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w:gz") as t:
        for split in ("train", "test"):
            for label, rating in (("pos", 9), ("neg", 2)):
                for i in range(3):
                    data = f"A {label} review number {i} from {split}.".encode()
                    info = tarfile.TarInfo(f"aclImdb/{split}/{label}/{i}_{rating}.txt")
                    info.size = len(data)
                    t.addfile(info, io.BytesIO(data))
    return buf.getvalue()


ZIP_GOOD = _zip({"SMSSpamCollection": GOOD, "readme": b"hi"})
FILES = {
    "/good.txt": GOOD,
    "/wrong.txt": GOOD.replace(b"spam", b"SPAM"),
    "/good.zip": ZIP_GOOD,
    "/truncated.zip": ZIP_GOOD[: len(ZIP_GOOD) // 2],
    "/slip.zip": _zip({"../../evil.txt": b"owned"}),
    "/slip.tar.gz": _tar_with_link_out(),
    "/good.txt.gz": gzip.compress(GOOD),
    "/corrupt.txt.gz": gzip.compress(GOOD)[:40] + b"\x00garbage" * 20,
    "/aclImdb_v1.tar.gz": _acl_imdb(),
    "/resumable.txt": GOOD,
    "/big.bin": __import__("random").Random(0).randbytes(300_000),  # more than a 64 KB disk holds
}


class Handler(BaseHTTPRequestHandler):
    hits: dict[str, int] = {}
    ranges: list[int] = []  # where each /slow.txt request started

    def log_message(self, *args):  # keep test output clean
        pass

    def do_GET(self):
        Handler.hits[self.path] = Handler.hits.get(self.path, 0) + 1
        if self.path == "/missing":
            return self.send_error(404, "Not Found")
        if self.path == "/broken":
            return self.send_error(500, "Internal Server Error")
        if self.path == "/stall":
            time.sleep(3)
            return self.send_error(504)
        if self.path == "/cut-short.txt":  # promises more than it sends, every time
            self.send_response(200)
            self.send_header("Content-Length", str(len(GOOD)))
            self.end_headers()
            self.wfile.write(GOOD[: len(GOOD) // 3])
            return
        if self.path == "/slow.txt":  # trickles, honouring "bytes=N-": long enough to kill a download mid-way
            return self._slow(GOOD)
        data = FILES.get(self.path)
        if data is None:
            return self.send_error(404, "Not Found")
        start = 0
        if self.path == "/resumable.txt":
            rng = self.headers.get("Range")
            if rng:  # honour "bytes=N-"
                start = int(rng.split("=")[1].rstrip("-"))
                self.send_response(206)
                self.send_header("Content-Range", f"bytes {start}-{len(data) - 1}/{len(data)}")
            else:  # the first attempt dies half way
                self.send_response(200)
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data[: len(data) // 2])
                return
        else:
            self.send_response(200)
        self.send_header("Content-Length", str(len(data) - start))
        self.end_headers()
        self.wfile.write(data[start:])


    def _slow(self, data: bytes) -> None:
        rng = self.headers.get("Range")
        start = int(rng.split("=")[1].rstrip("-")) if rng else 0
        Handler.ranges.append(start)
        self.send_response(206 if start else 200)
        if start:
            self.send_header("Content-Range", f"bytes {start}-{len(data) - 1}/{len(data)}")
        self.send_header("Content-Length", str(len(data) - start))
        self.end_headers()
        for i in range(start, len(data), 64):
            self.wfile.write(data[i:i + 64])
            self.wfile.flush()
            time.sleep(0.05)


def serve() -> tuple[ThreadingHTTPServer, str]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server, f"http://127.0.0.1:{server.server_address[1]}"
