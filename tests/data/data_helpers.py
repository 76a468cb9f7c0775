"""Helpers for the data tests: a misbehaving local HTTP server and synthetic IDX files."""

from __future__ import annotations

import hashlib
import os
import re
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import numpy as np

from ganforge.data.idx import write_idx

SHARED_DATA = Path(os.environ.get("GANFORGE_TEST_SHARED_DATA")
                   or Path(__file__).resolve().parents[2].parent / "shared" / "data")



class FileServer:
    """Serves ``files`` (URL path -> bytes) on 127.0.0.1 and records each request's path and Range header.

    Misbehaviour on demand: ``drops`` responses cut after ``drop_after`` bytes, ``ignore_range`` answers
    200 to Range requests, ``corrupt`` serves the right number of wrong bytes.
    """

    def __init__(self) -> None:
        self.files: dict[str, bytes] = {}
        self.requests: list[tuple[str, str | None]] = []
        self.drops = 0
        self.drop_after = 0
        self.ignore_range = False
        self.corrupt = False
        self._httpd = ThreadingHTTPServer(("127.0.0.1", 0), _make_handler(self))
        self._thread = threading.Thread(target=self._httpd.serve_forever, args=(0.02,), daemon=True)
        self._thread.start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self._httpd.server_address[1]}"

    def ranges(self) -> list[str | None]:
        return [r for _, r in self.requests]

    def close(self) -> None:
        self._httpd.shutdown()
        self._httpd.server_close()


def _make_handler(server: FileServer) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:  # the name http.server calls
            range_header = self.headers.get("Range")
            server.requests.append((self.path, range_header))
            data = server.files.get(self.path)
            if data is None:
                self.send_error(404)
                return
            if server.corrupt:
                data = bytes(b ^ 0x5A for b in data)
            start, status = 0, 200
            if range_header and not server.ignore_range:
                start, status = int(re.fullmatch(r"bytes=(\d+)-", range_header).group(1)), 206
                if start >= len(data):
                    self.send_response(416)
                    self.send_header("Content-Range", f"bytes */{len(data)}")
                    self.send_header("Content-Length", "0")
                    self.end_headers()
                    return
            body = data[start:]
            self.send_response(status)
            self.send_header("Content-Length", str(len(body)))
            if status == 206:
                self.send_header("Content-Range", f"bytes {start}-{len(data) - 1}/{len(data)}")
            self.end_headers()
            if server.drops > 0:
                server.drops -= 1
                body = body[:server.drop_after]
                self.close_connection = True
            self.wfile.write(body)

        def log_message(self, *args: object) -> None:
            pass

    return Handler


def md5(data: bytes) -> str:
    return hashlib.md5(data).hexdigest()


def synthetic_digits(n: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    return rng.integers(0, 256, (n, 28, 28), dtype=np.uint8), rng.integers(0, 10, n, dtype=np.uint8)


def write_mnist_like(folder: Path, n_train: int, n_test: int = 0, *, gz: bool = True, seed: int = 0) -> Path:
    """IDX files for the train (and, if n_test, test) split in ``folder``; returns ``folder``."""
    suffix = ".gz" if gz else ""
    for prefix, n in (("train", n_train), ("t10k", n_test)):
        if n:
            images, labels = synthetic_digits(n, seed)
            write_idx(folder / f"{prefix}-images-idx3-ubyte{suffix}", images)
            write_idx(folder / f"{prefix}-labels-idx1-ubyte{suffix}", labels)
    return folder
