"""Fixtures for the studio tests: one tiny trained run per session, and a fake conditional run."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

import ganforge
from ganforge.errors import GanforgeError
from ganforge.images import to_uint8


def train_tiny(tmp_path_factory, preset: str, name: str) -> Path:
    """A 2-step run of ``preset`` (width 8) on the bundled digits, offline, in its own cache."""
    out = tmp_path_factory.mktemp("runs") / name
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("GANFORGE_OFFLINE", "1")
        mp.setenv("GANFORGE_CACHE_DIR", str(tmp_path_factory.mktemp("cache")))
        threads = torch.get_num_threads()
        torch.set_num_threads(1)
        try:
            ganforge.Trainer(ganforge.TrainConfig(preset=preset, dataset="mnist-sample", steps=2, batch_size=8,
                                                  extra={"width": 8}, out=str(out), progress=False)).train()
        finally:
            torch.set_num_threads(threads)  # the tests that run after these fixtures see the usual threads
    return out


@pytest.fixture(scope="session")
def tiny_run_dir(tmp_path_factory) -> Path:
    """A 2-step dcgan-28-fast run on the bundled digits (a few seconds on a CPU)."""
    return train_tiny(tmp_path_factory, "dcgan-28-fast", "tiny-mnist")


@pytest.fixture(scope="session")
def tiny_run(tiny_run_dir) -> ganforge.Run:
    return ganforge.load_run(tiny_run_dir, device="cpu")


class FakeConditionalRun:
    """A Run look-alike with 4 classes and 16x16 RGB images: a fixed random map of (z, class)."""

    image_shape = (3, 16, 16)
    z_dim = 6
    num_classes = 4
    class_names = ["zero", "one", "two", "three"]
    step = 7

    def __init__(self) -> None:
        gen = torch.Generator().manual_seed(123)
        self.weight = torch.randn(self.z_dim, 3 * 16 * 16, generator=gen)
        self.embed = torch.randn(self.num_classes, 3 * 16 * 16, generator=gen)

    def noise(self, n: int, seed: int = 0) -> torch.Tensor:
        return torch.randn(n, self.z_dim, generator=torch.Generator().manual_seed(seed))

    def random_labels(self, n: int, seed: int = 0) -> torch.Tensor:
        return torch.randint(self.num_classes, (n,), generator=torch.Generator().manual_seed(seed))

    def generate(self, n: int, *, seed: int = 0, labels: torch.Tensor | None = None,
                 z: torch.Tensor | None = None) -> torch.Tensor:
        if n <= 0:
            raise GanforgeError(f"number of images must be positive, got {n}")
        z = self.noise(n, seed) if z is None else z
        if labels is None:
            labels = self.random_labels(n, seed)
        x = torch.tanh(z @ self.weight / 3 + self.embed[labels])
        return to_uint8(x.view(n, *self.image_shape))


@pytest.fixture(scope="session")
def cond_run() -> FakeConditionalRun:
    return FakeConditionalRun()


@pytest.fixture(scope="session")
def digits_cond_run(tmp_path_factory) -> ganforge.Run:
    """A real class-conditional run: 2 steps of dcgan-28-cond on the bundled (labelled) digits."""
    if "dcgan-28-cond" not in ganforge.PRESETS:
        pytest.skip("no conditional preset in this build")
    return ganforge.load_run(train_tiny(tmp_path_factory, "dcgan-28-cond", "digits-cond"), device="cpu")


class LiveServer:
    """The studio on a real uvicorn server, 127.0.0.1 and a free port, in a background thread."""

    def __init__(self, runs, options=None) -> None:
        import threading

        from ganforge.web.app import create_app
        from ganforge.web.server import bind_socket, make_server, url_of

        self.sock = bind_socket("127.0.0.1", 0)
        self.url = url_of(self.sock).rstrip("/")
        self.port = self.sock.getsockname()[1]
        self.app = create_app(runs, options)
        self.studio = self.app.state.studio
        self.server = make_server(self.app)
        self.thread = threading.Thread(target=self.server.run, kwargs={"sockets": [self.sock]}, daemon=True)

    def __enter__(self) -> LiveServer:
        import time

        self.thread.start()
        deadline = time.monotonic() + 30
        while not self.server.started:
            if time.monotonic() > deadline or not self.thread.is_alive():
                raise RuntimeError("the studio server did not start")
            time.sleep(0.02)
        return self

    def __exit__(self, *exc) -> None:
        self.studio.hub.close()  # open event streams end, or the server would wait for them
        self.server.should_exit = True
        self.thread.join(timeout=10)
        self.sock.close()


@pytest.fixture(scope="module")
def live_server(request, tiny_run, cond_run):
    runs = {"tiny": tiny_run, "cond": cond_run}
    if "dcgan-28-cond" in ganforge.PRESETS:
        runs["digits"] = request.getfixturevalue("digits_cond_run")
    with LiveServer(runs) as server:
        yield server


@pytest.fixture(scope="session")
def make_live_server():
    """``LiveServer(runs, options)``: the studio on a real server, for tests that set their own runs and roots."""
    return LiveServer
