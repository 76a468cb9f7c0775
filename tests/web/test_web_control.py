"""Starting, stopping and resuming runs over HTTP: the form's lists, every refusal naming its field, requests
from other sites turned away, no path from a request, and real `ganforge train` children."""

from __future__ import annotations

import json
import time
import warnings

import httpx
import pytest

from ganforge.checkpoint import Checkpoint
from ganforge.web.app import create_app
from ganforge.web.catalog import Catalog
from ganforge.web.loadtest import read_events
from ganforge.web.studio import StudioOptions

with warnings.catch_warnings():  # starlette's notice about httpx2 is not ours to act on
    warnings.simplefilter("ignore")
    from fastapi.testclient import TestClient

TINY = {"preset": "dcgan-28-fast", "dataset": "mnist-sample", "batch_size": 8, "width": 4, "log_every": 2,
        "grid_every": 10}


@pytest.fixture
def roots(tmp_path, monkeypatch):
    monkeypatch.setenv("OMP_NUM_THREADS", "1")  # the children share the test machine's cores
    runs, data = tmp_path / "runs", tmp_path / "data"
    for name in ("cats", "dogs", ".hidden", "mnist"):
        (data / name).mkdir(parents=True)
    (data / "notes.txt").write_text("not a folder")
    return runs, data


@pytest.fixture
def client(roots):
    runs, data = roots
    app = create_app(Catalog(runs_root=runs, scan_root=True), StudioOptions(runs_root=runs, data_root=data))
    return TestClient(app)


def test_the_form_lists_presets_and_the_data_roots_folders(client):
    presets = {p["name"]: p for p in client.get("/api/presets").json()["presets"]}
    assert presets["dcgan-28-fast"]["steps"] == 3000 and presets["dcgan-28-fast"]["width"] == 32
    assert presets["dcgan-28-cond"]["conditional"] is True
    datasets = client.get("/api/datasets").json()
    assert [d["name"] for d in datasets["named"]] == ["mnist", "fashion-mnist", "mnist-sample"]
    assert datasets["folders"] == ["folder:cats", "folder:dogs"]  # not hidden ones, files, or mnist's own files
    body = client.get("/api/runs").json()
    assert body["runs"] == [] and body["training"]["enabled"] and body["training"]["max_runs"] == 1


@pytest.mark.parametrize("change, words", [
    ({"steps": 0}, ["'steps'", "greater than or equal to 1"]),
    ({"steps": "ten"}, ["'steps'", "integer", "ten"]),
    ({"steps": 10**8}, ["'steps'", "10000000"]),
    ({"batch_size": 0}, ["'batch_size'"]),
    ({"width": 0}, ["'width'"]),
    ({"lr_g": -0.1}, ["'lr_g'", "greater than 0"]),
    ({"lr_d": 2}, ["'lr_d'"]),
    ({"seed": -1}, ["'seed'"]),
    ({"eval_every": 0}, ["'eval_every'"]),
    ({"preset": "nope"}, ["'preset'", "unknown preset", "dcgan-28-fast"]),
    ({"dataset": "imagenet"}, ["'dataset'", "mnist-sample", "folder:NAME"]),
    ({"dataset": "folder:birds"}, ["'dataset'", "folder:cats, folder:dogs"]),
    ({"dataset": "folder:../data/cats"}, ["'dataset'", "folder:cats"]),
    ({"dataset": "folder:/etc"}, ["'dataset'"]),
    ({"dataset": "folder:.hidden"}, ["'dataset'"]),
    ({"dataset": "/etc/passwd"}, ["'dataset'"]),
    ({"name": "../escape"}, ["'name'", "pattern"]),
    ({"name": "a/b"}, ["'name'"]),
    ({"out": "/tmp/x"}, ["'out'", "Extra inputs are not permitted"]),
    ({"data_dir": "/etc"}, ["'data_dir'"]),
])
def test_a_bad_form_value_is_a_422_naming_the_field(client, roots, change, words):
    r = client.post("/api/runs", json={**TINY, "steps": 10, **change})
    assert r.status_code == 422, r.text
    detail = r.json()["detail"]
    for word in words:
        assert word in detail, detail
    assert not roots[0].exists() or not any(roots[0].iterdir())  # nothing was started


def test_a_missing_field_and_a_bad_body_are_named(client):
    r = client.post("/api/runs", json={"preset": "dcgan-28-fast", "dataset": "mnist-sample"})
    assert r.status_code == 422 and "'steps'" in r.json()["detail"] and "required" in r.json()["detail"].lower()
    r = client.post("/api/runs", content=b"{not json", headers={"Content-Type": "application/json"})
    assert r.status_code == 422
    r = client.post("/api/runs/nope/resume", json={"steps": 0})
    assert r.status_code == 422 and "'steps'" in r.json()["detail"]


@pytest.mark.parametrize("headers, status", [
    ({"Origin": "http://evil.example"}, 403),
    ({"Sec-Fetch-Site": "cross-site"}, 403),
    ({"Content-Type": "text/plain"}, 415),
])
def test_requests_from_other_sites_and_non_json_bodies_are_refused(client, roots, headers, status):
    body = json.dumps({**TINY, "steps": 10})
    r = client.post("/api/runs", content=body, headers={"Content-Type": "application/json", **headers})
    assert r.status_code in (status, 422), r.text  # a text/plain body may fail validation first
    assert not roots[0].exists() or not any(roots[0].iterdir())
    assert client.post("/api/runs/x/stop", headers={"Origin": "http://evil.example"}).status_code in (403, 404)


def test_a_server_without_a_runs_root_starts_nothing(tiny_run):
    r = TestClient(create_app({"tiny": tiny_run})).post("/api/runs", json={**TINY, "steps": 10})
    assert r.status_code == 409 and "runs root" in r.json()["detail"]


def test_stop_and_resume_refuse_what_they_cannot_do(tiny_run, cond_run, tmp_path):
    client = TestClient(create_app({"tiny": tiny_run, "cond": cond_run},
                                   StudioOptions(runs_root=tmp_path / "runs")))
    r = client.post("/api/runs/tiny/stop")
    assert r.status_code == 409 and "not started by this server" in r.json()["detail"]
    r = client.post("/api/runs/cond/resume", json={"steps": 10})
    assert r.status_code == 409 and "without a run folder" in r.json()["detail"]
    r = client.post("/api/runs/tiny/resume", json={"steps": 2})
    assert r.status_code == 422 and "'steps'" in r.json()["detail"] and "step 2" in r.json()["detail"]
    assert client.post("/api/runs/nope/stop").status_code == 404
    assert client.post("/api/runs/..%2f..%2fetc/stop").status_code == 404
    assert client.get("/api/runs/cond/events").status_code == 404  # a generator without a log: nothing to watch


def wait_for(predicate, timeout_s: float = 120.0, what: str = "") -> None:
    deadline = time.monotonic() + timeout_s
    while not predicate():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.05)


def test_start_stop_resume_a_real_run(roots, make_live_server):
    runs, data = roots
    with make_live_server(Catalog(runs_root=runs, scan_root=True), StudioOptions(runs_root=runs, data_root=data,
                                                                                   poll_s=0.1)) as server:
        url = server.url
        r = httpx.post(f"{url}/api/runs", json={**TINY, "steps": 1_000_000, "name": "long"})
        assert r.status_code == 201, r.text
        assert r.json()["id"] == "long" and r.json()["status"]["state"] == "training"
        busy = httpx.post(f"{url}/api/runs", json={**TINY, "steps": 10})
        assert busy.status_code == 409 and "--max-runs" in busy.json()["detail"]
        events = read_events(f"{url}/api/runs/long/events", lambda ev: sum(e.event == "log" for e in ev) >= 3)
        assert [e.data["step"] for e in events if e.event == "log"][:3] == [2, 4, 6]
        assert httpx.post(f"{url}/api/runs/long/resume", json={"steps": 10}).status_code == 409  # training now
        assert httpx.post(f"{url}/api/runs/long/stop").status_code == 202
        wait_for(lambda: httpx.get(f"{url}/api/runs/long").json()["status"]["state"] == "stopped", what="stopped")
        at = int(Checkpoint(runs / "long" / "checkpoints" / "last.safetensors").meta["step"])
        assert at >= 6
        log = [json.loads(x) for x in (runs / "long" / "log.jsonl").read_text().splitlines()]
        assert log[-1]["step"] <= at
        output = (runs / "long" / "output.log").read_text()
        assert output.startswith("$ ganforge train --preset dcgan-28-fast") and "stopped by SIGTERM" in output
        r = httpx.post(f"{url}/api/runs/long/resume", json={"steps": at})
        assert r.status_code == 422 and f"step {at}" in r.json()["detail"]
        assert httpx.post(f"{url}/api/runs/long/resume", json={"steps": at + 6}).status_code == 202
        wait_for(lambda: httpx.get(f"{url}/api/runs/long").json()["status"]["state"] == "finished", what="finished")
        steps = [json.loads(x)["step"] for x in (runs / "long" / "log.jsonl").read_text().splitlines()]
        assert steps == sorted(set(steps)) and steps[-1] == at + 6  # carried on, nothing twice
        info = httpx.get(f"{url}/api/runs/long").json()
        assert info["step"] == at + 6 and info["has_generator"]
        png = httpx.get(f"{url}/api/runs/long/samples.png?n=4")
        assert png.status_code == 200 and png.headers["content-type"] == "image/png"


def test_children_do_not_outlive_the_server(roots, make_live_server):
    runs, _ = roots
    with make_live_server(Catalog(runs_root=runs, scan_root=True), StudioOptions(runs_root=runs)) as server:
        r = httpx.post(f"{server.url}/api/runs", json={**TINY, "dataset": "mnist-sample", "steps": 1_000_000})
        run_id = r.json()["id"]
        read_events(f"{server.url}/api/runs/{run_id}/events", lambda ev: any(e.event == "log" for e in ev))
        proc = server.studio.jobs.get(run_id).proc
    assert proc.poll() is not None  # stopped when the server stopped: SIGTERM, so it checkpointed first
    assert (runs / run_id / "checkpoints" / "last.safetensors").is_file()


def test_a_loopback_server_wants_a_loopback_host(roots):
    from ganforge.web.control import host_name
    from ganforge.web.server import LOOPBACK

    runs, data = roots
    client = TestClient(create_app(Catalog(runs_root=runs), StudioOptions(runs_root=runs, allowed_hosts=LOOPBACK)))
    for host in ("evil.example:7860", "evil.example", "127.0.0.1.evil.example:80"):  # a name pointed at 127.0.0.1
        r = client.post("/api/runs", json={**TINY, "steps": 10}, headers={"Host": host})
        assert r.status_code == 403, host
    r = client.post("/api/runs", json={**TINY, "steps": 10, "dataset": "folder:birds"},
                    headers={"Host": "127.0.0.1:7860"})
    assert r.status_code == 422 and "'dataset'" in r.json()["detail"]  # past the host check, refused for its data
    assert [host_name(h) for h in ("127.0.0.1:7860", "[::1]:7860", "localhost", "::1")] == [
        "127.0.0.1", "::1", "localhost", "::1"]


def test_a_folder_holding_only_the_output_of_the_run_about_to_start_counts_as_new(tmp_path):
    from ganforge.errors import GanforgeError
    from ganforge.run.folder import check_new_run_dir

    folder = tmp_path / "run"
    folder.mkdir()
    (folder / "output.log").write_text("$ ganforge train ...\n")
    check_new_run_dir(folder)  # no error: `ganforge train --out DIR > DIR/output.log` works too
    (folder / "config.json").write_text("{}")
    with pytest.raises(GanforgeError, match="already exists and is not empty"):
        check_new_run_dir(folder)
