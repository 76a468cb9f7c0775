"""Fixtures for the metrics tests: a tiny trained evaluator, MNIST digits, fake runs.

The root conftest gives every test an empty GANFORGE_CACHE_DIR and turns downloads off.
"""

from __future__ import annotations

from types import SimpleNamespace

import pytest
import torch
from metrics_helpers import SHARED_DATA, FakeRun

from ganforge.data import load_dataset


@pytest.fixture(autouse=True)
def _one_torch_thread():
    """Run each metrics test on one thread: two threads stall badly (5-20x) whenever another process
    shares the 2 cores, and these small workloads gain little from a second one."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


@pytest.fixture(scope="session")
def mnist_test(tmp_path_factory) -> SimpleNamespace:
    if not (SHARED_DATA / "mnist" / "t10k-images-idx3-ubyte.gz").is_file():
        pytest.skip(f"real MNIST not present at {SHARED_DATA}")
    ds = load_dataset("mnist", split="test", data_dir=SHARED_DATA, download=False, log=lambda _: None)
    return SimpleNamespace(images=ds.images, labels=ds.labels, data_dir=SHARED_DATA)


@pytest.fixture(scope="session")
def tiny_model(mnist_test):
    """A DigitCNN trained for one epoch on 4,000 MNIST train digits (a few seconds; ~94% accurate)."""
    from ganforge.metrics.classifier import accuracy, train_classifier

    train = load_dataset("mnist", split="train", data_dir=mnist_test.data_dir, download=False, log=lambda _: None)
    model = train_classifier(train.images[:4000], train.labels[:4000], epochs=1, batch_size=32,
                             log=lambda _: None, progress=False)
    acc = accuracy(model, mnist_test.images[:2000], mnist_test.labels[:2000])
    return model, acc


@pytest.fixture
def tiny_evaluator(tiny_model):
    """Install the tiny model as this test's stored mnist evaluator, so get_evaluator finds it."""
    from ganforge.metrics.classifier import ARCHITECTURE
    from ganforge.metrics.evaluator import VERSION, load_evaluator, save_evaluator

    model, acc = tiny_model
    info = {"format": "ganforge-evaluator", "version": VERSION, "dataset": "mnist", "architecture": ARCHITECTURE,
            "class_names": [str(d) for d in range(10)], "test_accuracy": acc, "epochs": 1}
    save_evaluator(model, info)
    return load_evaluator("mnist")


@pytest.fixture
def fake_run(tmp_path):
    def build(make, **kwargs) -> FakeRun:
        folder = tmp_path / "run"
        folder.mkdir(exist_ok=True)
        return FakeRun(folder, make, **kwargs)

    return build


