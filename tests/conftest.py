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
