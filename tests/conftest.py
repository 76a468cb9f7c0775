import os
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
SHARED_DATA = Path(os.environ.get("GANFORGE_TEST_SHARED_DATA", REPO.parent / "shared" / "data"))


@pytest.fixture(autouse=True)
def _isolated_cache(tmp_path_factory, monkeypatch):
    """Every test gets an empty per-user cache and no data folder from the environment, and can
    never reach a public mirror: datasets come from the package or from paths a test passes."""
    cache = tmp_path_factory.mktemp("cache")
    monkeypatch.setenv("GANFORGE_CACHE_DIR", str(cache))
    monkeypatch.delenv("GANFORGE_DATA_DIR", raising=False)
    monkeypatch.setenv("GANFORGE_OFFLINE", "1")
    yield


@pytest.fixture
def shared_data() -> Path:
    if not (SHARED_DATA / "mnist" / "train-images-idx3-ubyte.gz").is_file():
        pytest.skip(f"real MNIST not present at {SHARED_DATA}")
    return SHARED_DATA


@pytest.fixture(scope="session")
def tiny_run(tmp_path_factory) -> Path:
    """A 2-step run of the default preset (width 8) on mnist-sample, with a grid at every step and
    TensorBoard on; read-only for the tests that share it (report, export, hub, loggers)."""
    import ganforge

    out = tmp_path_factory.mktemp("tiny") / "run"
    with pytest.MonkeyPatch.context() as mp:  # the autouse isolation is function-scoped
        mp.setenv("GANFORGE_CACHE_DIR", str(tmp_path_factory.mktemp("tiny-cache")))
        mp.setenv("GANFORGE_OFFLINE", "1")
        ganforge.Trainer(ganforge.TrainConfig(
            preset="dcgan-28-fast", dataset="mnist-sample", steps=2, batch_size=8, extra={"width": 8},
            grid_every=1, log_every=1, logger="tensorboard", out=str(out), progress=False),
            log=lambda msg: None).train()
    return out
