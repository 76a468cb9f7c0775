"""Fixtures for the data tests: an isolated environment and local HTTP servers.

No test here may touch the internet: the public mirrors are emptied and every URL opened is checked to be
on 127.0.0.1 (or a file: URL).
"""

from __future__ import annotations

import socket
import urllib.parse
from collections.abc import Iterator
from pathlib import Path

import pytest
from data_helpers import SHARED_DATA, FileServer

from ganforge.data import download


@pytest.fixture(autouse=True)
def isolated_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Path:
    """No user settings leak in, the cache is a fresh temporary folder, and only loopback can be reached."""
    for var in ("GANFORGE_DATA_DIR", "GANFORGE_MIRRORS", "GANFORGE_OFFLINE", "XDG_CACHE_HOME"):
        monkeypatch.delenv(var, raising=False)
    cache = tmp_path / "cache"
    monkeypatch.setenv("GANFORGE_CACHE_DIR", str(cache))
    for var in ("no_proxy", "NO_PROXY"):  # a proxy set in the environment must not grab 127.0.0.1
        monkeypatch.setenv(var, "127.0.0.1,localhost")
    monkeypatch.setattr(download, "PUBLIC_MIRRORS", {})
    real_urlopen = download._urlopen

    def loopback_only(request, timeout):
        url = urllib.parse.urlsplit(request.full_url)
        if url.scheme != "file" and url.hostname not in ("127.0.0.1", "localhost"):
            raise AssertionError(f"a test tried to reach {request.full_url}")
        return real_urlopen(request, timeout)

    monkeypatch.setattr(download, "_urlopen", loopback_only)
    return cache


@pytest.fixture
def make_server() -> Iterator:
    """A factory of FileServers, all shut down after the test."""
    servers: list[FileServer] = []

    def make() -> FileServer:
        servers.append(FileServer())
        return servers[-1]

    yield make
    for server in servers:
        server.close()


@pytest.fixture
def server(make_server) -> FileServer:
    return make_server()


@pytest.fixture
def closed_port_url() -> str:
    """A loopback URL where nothing listens: connecting fails at once."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    return f"http://127.0.0.1:{port}"


@pytest.fixture
def shared_data() -> Path:
    if not (SHARED_DATA / "mnist").is_dir():
        pytest.skip(f"no real MNIST data at {SHARED_DATA} (set GANFORGE_TEST_SHARED_DATA)")
    return SHARED_DATA
