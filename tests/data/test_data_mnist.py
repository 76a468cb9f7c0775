"""Finding, downloading and falling back for mnist and fashion-mnist."""

from __future__ import annotations

from pathlib import Path

import pytest
from data_helpers import FileServer, md5, write_mnist_like

from ganforge.data import download, load_dataset
from ganforge.errors import GanforgeError


def quiet(_: str) -> None:
    pass


def test_lookup_order_data_dir_then_env_then_cache(tmp_path: Path, isolated_env: Path, monkeypatch) -> None:
    write_mnist_like(tmp_path / "arg" / "mnist", 3)
    write_mnist_like(tmp_path / "env" / "mnist", 4)
    write_mnist_like(isolated_env / "data" / "mnist", 5)
    monkeypatch.setenv("GANFORGE_DATA_DIR", str(tmp_path / "env"))
    assert len(load_dataset("mnist", data_dir=tmp_path / "arg", log=quiet)) == 3
    assert len(load_dataset("mnist", data_dir=str(tmp_path / "nothing"), log=quiet)) == 4
    monkeypatch.delenv("GANFORGE_DATA_DIR")
    dataset = load_dataset("mnist", log=quiet)
    assert len(dataset) == 5 and str(isolated_env / "data" / "mnist") in dataset.source


def test_uncompressed_idx_and_test_split(tmp_path: Path) -> None:
    write_mnist_like(tmp_path / "mnist", 6, 2, gz=False)
    train = load_dataset("mnist", data_dir=tmp_path, log=quiet)
    test = load_dataset("mnist", split="test", data_dir=tmp_path, log=quiet)
    assert train.images.shape == (6, 1, 28, 28) and test.images.shape == (2, 1, 28, 28)
    assert train.class_names == [str(d) for d in range(10)] and train.labels.dtype.is_floating_point is False


def test_fashion_mnist_class_names(tmp_path: Path) -> None:
    write_mnist_like(tmp_path / "fashion-mnist", 4)
    dataset = load_dataset("fashion-mnist", data_dir=tmp_path, log=quiet)
    assert dataset.name == "fashion-mnist" and dataset.num_classes == 10
    assert dataset.class_names[0] == "T-shirt/top" and dataset.class_names[9] == "Ankle boot"


def test_broken_file_is_an_error_not_a_fallback(tmp_path: Path) -> None:
    write_mnist_like(tmp_path / "mnist", 3)
    (tmp_path / "mnist" / "train-images-idx3-ubyte.gz").write_bytes(b"\x1f\x8bjunk")
    lines: list[str] = []
    with pytest.raises(GanforgeError, match="train-images-idx3-ubyte.gz"):
        load_dataset("mnist", data_dir=tmp_path, log=lines.append)
    assert lines == []


def test_downloads_into_cache(server: FileServer, tmp_path: Path, isolated_env: Path, monkeypatch) -> None:
    write_mnist_like(tmp_path / "src", 7)
    md5s = {}
    for name in ("train-images-idx3-ubyte.gz", "train-labels-idx1-ubyte.gz"):
        data = (tmp_path / "src" / name).read_bytes()
        server.files[f"/mnist/{name}"] = data
        md5s[name] = md5(data)
    monkeypatch.setitem(download.MD5S, "mnist", md5s)
    monkeypatch.setenv("GANFORGE_MIRRORS", server.url)
    lines: list[str] = []
    dataset = load_dataset("mnist", log=lines.append)
    assert dataset.name == "mnist" and len(dataset) == 7
    assert sorted(p.name for p in (isolated_env / "data" / "mnist").iterdir()) == sorted(md5s)
    assert len(lines) == 2 and all(line.startswith("downloading") for line in lines)
    load_dataset("mnist", log=lines.append)  # now found in the cache
    assert len(server.requests) == 2


def test_falls_back_to_sample_with_one_line(closed_port_url: str, monkeypatch) -> None:
    monkeypatch.setenv("GANFORGE_MIRRORS", closed_port_url)
    lines: list[str] = []
    dataset = load_dataset("mnist", log=lines.append)
    assert dataset.name == "mnist-sample" and dataset.images.shape == (5000, 1, 28, 28)
    assert len(lines) == 1 and "\n" not in lines[0]
    for words in ("mnist not found", "mnist-sample", "5,000", "GANFORGE_DATA_DIR", "--data-dir", "network"):
        assert words in lines[0]


@pytest.mark.parametrize("how", ["download=False", "GANFORGE_OFFLINE"])
def test_falls_back_without_trying_to_download(how: str, monkeypatch) -> None:
    if how == "GANFORGE_OFFLINE":
        monkeypatch.setenv("GANFORGE_OFFLINE", "1")
    lines: list[str] = []
    dataset = load_dataset("mnist", download=how != "download=False", log=lines.append)
    assert dataset.name == "mnist-sample" and len(lines) == 1
    assert ("downloading is off" if how == "download=False" else "GANFORGE_OFFLINE") in lines[0]


def test_test_split_cannot_fall_back(closed_port_url: str, monkeypatch) -> None:
    monkeypatch.setenv("GANFORGE_MIRRORS", closed_port_url)
    with pytest.raises(GanforgeError, match="mnist test split not found.*no 'test' split"):
        load_dataset("mnist", split="test", log=quiet)


def test_fashion_mnist_has_no_fallback(closed_port_url: str, monkeypatch) -> None:
    monkeypatch.setenv("GANFORGE_MIRRORS", closed_port_url)
    lines: list[str] = []
    expected = "fashion-mnist train split not found.*could not download"
    with pytest.raises(GanforgeError, match=expected) as info:
        load_dataset("fashion-mnist", log=lines.append)
    assert "\n" not in str(info.value) and lines == []
