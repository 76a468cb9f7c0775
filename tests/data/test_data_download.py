"""Resumable, verified downloads against a local HTTP server."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from data_helpers import FileServer, md5

from ganforge.data import download
from ganforge.data.download import DownloadError, download_file, fetch_dataset_files
from ganforge.errors import GanforgeError

PAYLOAD = os.urandom(50_000)  # bigger than one read chunk, so a cut lands mid-file
MD5 = md5(PAYLOAD)


@pytest.fixture
def served(server: FileServer) -> FileServer:
    server.files["/f.gz"] = PAYLOAD
    return server


def test_download_checks_md5_and_renames(served: FileServer, tmp_path: Path) -> None:
    lines: list[str] = []
    dest = download_file([served.url + "/f.gz"], tmp_path / "f.gz", MD5, log=lines.append)
    assert dest.read_bytes() == PAYLOAD
    assert not (tmp_path / "f.gz.part").exists()
    assert served.ranges() == [None]
    assert len(lines) == 1 and lines[0].startswith("downloading f.gz")


def test_dropped_connection_resumes_with_range(served: FileServer, tmp_path: Path) -> None:
    served.drops, served.drop_after = 1, 12_345
    download_file([served.url + "/f.gz"], tmp_path / "f.gz", MD5, log=lambda _: None)
    assert (tmp_path / "f.gz").read_bytes() == PAYLOAD
    assert served.ranges() == [None, "bytes=12345-"]


def test_server_ignoring_range_restarts(served: FileServer, tmp_path: Path) -> None:
    served.drops, served.drop_after, served.ignore_range = 1, 12_345, True
    download_file([served.url + "/f.gz"], tmp_path / "f.gz", MD5, log=lambda _: None)
    assert (tmp_path / "f.gz").read_bytes() == PAYLOAD
    assert served.ranges() == [None, "bytes=12345-"]  # asked for a range, got the whole file: 200


def test_part_left_by_a_killed_run_is_resumed(served: FileServer, tmp_path: Path) -> None:
    (tmp_path / "f.gz.part").write_bytes(PAYLOAD[:20_000])
    download_file([served.url + "/f.gz"], tmp_path / "f.gz", MD5, log=lambda _: None)
    assert (tmp_path / "f.gz").read_bytes() == PAYLOAD
    assert served.ranges() == ["bytes=20000-"]


def test_complete_part_answered_416_is_kept(served: FileServer, tmp_path: Path) -> None:
    (tmp_path / "f.gz.part").write_bytes(PAYLOAD)
    download_file([served.url + "/f.gz"], tmp_path / "f.gz", MD5, log=lambda _: None)
    assert (tmp_path / "f.gz").read_bytes() == PAYLOAD
    assert served.ranges() == [f"bytes={len(PAYLOAD)}-"]


def test_stale_wrong_part_gets_one_clean_retry(served: FileServer, tmp_path: Path) -> None:
    (tmp_path / "f.gz.part").write_bytes(b"x" * 1000)
    download_file([served.url + "/f.gz"], tmp_path / "f.gz", MD5, log=lambda _: None)
    assert (tmp_path / "f.gz").read_bytes() == PAYLOAD
    assert served.ranges() == ["bytes=1000-", None]


def test_md5_mismatch_moves_to_next_mirror(make_server, tmp_path: Path) -> None:
    bad, good = make_server(), make_server()
    for s in (bad, good):
        s.files["/f.gz"] = PAYLOAD
    bad.corrupt = True
    download_file([bad.url + "/f.gz", good.url + "/f.gz"], tmp_path / "f.gz", MD5, log=lambda _: None)
    assert (tmp_path / "f.gz").read_bytes() == PAYLOAD
    assert len(bad.requests) == 1 and len(good.requests) == 1


def test_all_mirrors_failing_is_one_line_error(served: FileServer, closed_port_url: str,
                                               tmp_path: Path) -> None:
    served.corrupt = True
    urls = [closed_port_url + "/f.gz", served.url + "/f.gz", served.url + "/missing.gz"]
    with pytest.raises(DownloadError) as info:
        download_file(urls, tmp_path / "f.gz", MD5, log=lambda _: None)
    message = str(info.value)
    assert isinstance(info.value, GanforgeError) and "\n" not in message
    assert all(url in message for url in urls)
    assert "md5 mismatch" in message and "HTTP 404" in message
    assert not (tmp_path / "f.gz").exists() and not (tmp_path / "f.gz.part").exists()


def test_connection_that_keeps_dropping_leaves_no_final_file(served: FileServer, tmp_path: Path) -> None:
    served.drops, served.drop_after = 100, 1000
    with pytest.raises(DownloadError, match="connection closed early"):
        download_file([served.url + "/f.gz"], tmp_path / "f.gz", MD5, log=lambda _: None)
    assert not (tmp_path / "f.gz").exists()
    assert (tmp_path / "f.gz.part").stat().st_size < len(PAYLOAD)  # kept, to be resumed next time
    assert len(served.requests) == 1 + download._MAX_RESUMES


def test_fetch_uses_env_mirrors_with_dataset_subpath(served: FileServer, monkeypatch, tmp_path: Path) -> None:
    served.files["/mnist/f.gz"] = PAYLOAD
    monkeypatch.setenv("GANFORGE_MIRRORS", f" {served.url}/ , http://127.0.0.1:9/unused")
    assert download.default_mirrors("mnist") == [f"{served.url}/mnist/", "http://127.0.0.1:9/unused/mnist/"]
    (path,) = fetch_dataset_files("mnist", ["f.gz"], tmp_path, md5s={"f.gz": MD5}, log=lambda _: None)
    assert path.read_bytes() == PAYLOAD
    fetch_dataset_files("mnist", ["f.gz"], tmp_path, md5s={"f.gz": MD5}, log=lambda _: None)
    assert len(served.requests) == 1  # present already: not fetched again


def test_file_url_mirror(tmp_path: Path) -> None:
    (tmp_path / "mirror").mkdir()
    (tmp_path / "mirror" / "f.gz").write_bytes(PAYLOAD)
    (path,) = fetch_dataset_files("x", ["f.gz"], tmp_path / "out", mirrors=[(tmp_path / "mirror").as_uri()],
                                  md5s={"f.gz": MD5}, log=lambda _: None)
    assert path.read_bytes() == PAYLOAD


def test_offline_switch(monkeypatch, tmp_path: Path) -> None:
    monkeypatch.setenv("GANFORGE_OFFLINE", "1")
    with pytest.raises(GanforgeError, match="GANFORGE_OFFLINE"):
        fetch_dataset_files("mnist", ["f.gz"], tmp_path, mirrors=["http://127.0.0.1:9/"], md5s={"f.gz": MD5})


def test_no_mirror_or_unknown_file_is_an_error(tmp_path: Path) -> None:
    with pytest.raises(GanforgeError, match="no mirror"):
        fetch_dataset_files("mnist", ["f.gz"], tmp_path, md5s={"f.gz": MD5})
    with pytest.raises(GanforgeError, match="no md5"):
        fetch_dataset_files("mnist", ["other.gz"], tmp_path, mirrors=["http://127.0.0.1:9/"])


def test_md5_table_covers_public_datasets() -> None:
    for dataset in ("mnist", "fashion-mnist"):
        assert len(download.MD5S[dataset]) == 4
        assert all(len(v) == 32 for v in download.MD5S[dataset].values())
