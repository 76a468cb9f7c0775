"""Live events of a run in progress, over a real server: the history first, then each line as it is written;
reconnecting does not repeat; 20 pages share one reader; grids and history by id and step only."""

from __future__ import annotations

import asyncio
import json
import os
import shutil
import time

import httpx
import pytest

from ganforge.web.catalog import Catalog
from ganforge.web.live import GridScan, LogTail
from ganforge.web.loadtest import iter_events, read_events
from ganforge.web.studio import StudioOptions

POLL_S = 0.05


def record(step: int) -> dict:
    return {"step": step, "epoch": step / 100, "images": 8 * step, "time": step / 10, "images_per_sec": 800.0,
            "loss_g": 1 + 1 / step, "loss_d": 0.5, "d_real": 0.7, "d_fake": 0.3}


def append(folder, *records, raw: str = "") -> None:
    with open(folder / "log.jsonl", "a", encoding="utf-8") as f:
        f.write("".join(json.dumps(r) + "\n" for r in records) + raw)


def add_grid(folder, step: int, source) -> None:
    shutil.copy(source, folder / "grids" / f"step_{step:06d}.png")


@pytest.fixture
def run_dir(tiny_run_dir, tmp_path):
    """A run folder in progress: its config, no log yet; the tests write its log and grids."""
    folder = tmp_path / "runs" / "in-progress"
    (folder / "grids").mkdir(parents=True)
    shutil.copy(tiny_run_dir / "config.json", folder)
    return folder


@pytest.fixture
def server(run_dir, make_live_server):
    root = run_dir.parent
    with make_live_server(Catalog(runs_root=root, scan_root=True), StudioOptions(poll_s=POLL_S)) as s:
        s.events_url = f"{s.url}/api/runs/in-progress/events"
        yield s


def test_history_first_then_each_record_and_grid_as_written(server, run_dir, tiny_run_dir):
    append(run_dir, record(1), record(2), record(3))
    add_grid(run_dir, 0, tiny_run_dir / "final_grid.png")
    wrote = []

    def until(events) -> bool:
        if len(events) == 1:  # the history is in: now the run writes more
            append(run_dir, record(4), record(5))
            add_grid(run_dir, 5, tiny_run_dir / "final_grid.png")
            append(run_dir, {"step": 5, "time": 0.6, "metric": "domain-fid", "domain_fid": 123.4})
            wrote.append(time.time())
        return sum(e.event in ("log", "eval", "grid") for e in events) >= 4

    events = read_events(server.events_url, until, timeout_s=30)
    history = events[0]
    assert history.event == "history"
    assert [r["step"] for r in history.data["records"]] == [1, 2, 3]
    assert [g["step"] for g in history.data["grids"]] == [0]
    assert history.data["status"]["state"] == "training"  # written a moment ago, by a process not the server's
    live = [e for e in events[1:] if e.event != "status"]
    assert [(e.event, e.data["step"]) for e in live] == [("log", 4), ("log", 5), ("eval", 5), ("grid", 5)]
    assert live[2].data["domain_fid"] == 123.4
    seqs = [int(e.id.split(".")[1]) for e in events[1:]]
    assert seqs == sorted(seqs) and len(set(seqs)) == len(seqs)
    grid = httpx.get(server.url + live[3].data["url"])
    assert grid.status_code == 200 and grid.content == (tiny_run_dir / "final_grid.png").read_bytes()


def test_reconnecting_with_last_event_id_repeats_nothing(server, run_dir):
    append(run_dir, record(1))

    def first_two_live(events) -> bool:
        if len(events) == 1:
            append(run_dir, record(2), record(3))
        return sum(e.event == "log" for e in events) >= 2

    events = read_events(server.events_url, first_two_live, timeout_s=30)
    seen = [e for e in events if e.event == "log"][0]  # a page that got step 2, then lost its connection
    append(run_dir, record(4))
    time.sleep(5 * POLL_S)  # the watcher has read step 4 while the page was away
    again = read_events(server.events_url, lambda ev: sum(e.event == "log" for e in ev) >= 2, last_event_id=seen.id,
                        timeout_s=30)
    assert [e.event for e in again[:2]] == ["log", "log"]
    assert [e.data["step"] for e in again[:2]] == [3, 4]
    # an id from another server (or a stale one) gets the whole history instead
    for stale in ("deadbeef.3", "nonsense", seen.id.split(".")[0] + ".999999"):
        fresh = read_events(server.events_url, lambda ev: True, last_event_id=stale, timeout_s=30)
        assert fresh[0].event == "history" and [r["step"] for r in fresh[0].data["records"]] == [1, 2, 3, 4]


def test_a_line_being_written_waits_for_its_newline_and_a_cut_line_is_skipped(server, run_dir):
    append(run_dir, record(1), raw='{"step": 2, "loss_g": 0.5, "lo')  # a crash cut this line, or it is half-written

    def until(events) -> bool:
        if len(events) == 1:
            append(run_dir, raw='ss_d": 1}\n')  # the rest of the line
            append(run_dir, record(3))
        return sum(e.event == "log" for e in events) >= 2

    events = read_events(server.events_url, until, timeout_s=30)
    assert [r["step"] for r in events[0].data["records"]] == [1]
    assert [e.data["step"] for e in events if e.event == "log"] == [2, 3]


def test_a_rewritten_log_sends_a_new_history(server, run_dir):
    append(run_dir, record(1), record(2), record(3))

    def until(events) -> bool:
        if len(events) == 1:  # what a resume does: the lines after its checkpoint go, atomically
            tmp = run_dir / ".log.jsonl.tmp"
            tmp.write_text(json.dumps(record(1)) + "\n")
            os.replace(tmp, run_dir / "log.jsonl")
        return len(events) >= 2 and events[-1].event == "history"

    events = read_events(server.events_url, until, timeout_s=30)
    assert [r["step"] for r in events[-1].data["records"]] == [1]


def test_twenty_pages_watching_one_run_cost_one_reader(server, run_dir):
    append(run_dir, record(1))
    clients, lines = 20, 10

    async def page(client, out: list) -> None:
        async for event in iter_events(client, server.events_url):
            out.append(event)
            if sum(e.event == "log" for e in out) >= lines:
                return

    async def main() -> tuple[list[list], float]:
        got: list[list] = [[] for _ in range(clients)]
        async with httpx.AsyncClient(timeout=30, limits=httpx.Limits(max_connections=clients + 2)) as client:
            tasks = [asyncio.create_task(page(client, got[i])) for i in range(clients)]
            while not all(got):  # every page has its history
                await asyncio.sleep(0.02)
            start = time.monotonic()
            for step in range(2, 2 + lines):
                append(run_dir, record(step))
                await asyncio.sleep(POLL_S)
            await asyncio.wait_for(asyncio.gather(*tasks), 30)
            return got, time.monotonic() - start

    got, seconds = asyncio.run(main())
    for events in got:
        assert events[0].event == "history"
        assert [e.data["step"] for e in events if e.event == "log"] == list(range(2, 2 + lines))
    watchers = server.studio.hub.watchers
    assert list(watchers) == ["in-progress"]
    # one read per poll interval, not one per page
    assert watchers["in-progress"].polls < (seconds + 2) / POLL_S + 10


def test_history_and_grids_are_reached_by_id_and_step_only(server, run_dir, tiny_run_dir):
    append(run_dir, record(1), record(2))
    add_grid(run_dir, 2, tiny_run_dir / "final_grid.png")
    history = httpx.get(f"{server.url}/api/runs/in-progress/history").json()
    assert [r["step"] for r in history["records"]] == [1, 2] and [g["step"] for g in history["grids"]] == [2]
    assert httpx.get(f"{server.url}/api/runs/in-progress/grids/2.png").status_code == 200
    missing = httpx.get(f"{server.url}/api/runs/in-progress/grids/3.png")
    assert missing.status_code == 404 and "step 3" in missing.json()["detail"]
    for bad in ("-1", "1e3", "..%2f..%2fconfig.json", "000002"):
        r = httpx.get(f"{server.url}/api/runs/in-progress/grids/{bad}.png")
        assert r.status_code in (404, 422) or r.content == (tiny_run_dir / "final_grid.png").read_bytes(), bad
    assert httpx.get(f"{server.url}/api/runs/nope/events").status_code == 404


def test_a_run_folder_not_written_for_a_while_is_stopped_and_one_with_a_final_grid_finished(server, run_dir,
                                                                                           tiny_run_dir):
    append(run_dir, record(1))
    old = time.time() - 3600
    os.utime(run_dir / "log.jsonl", (old, old))
    assert httpx.get(f"{server.url}/api/runs/in-progress").json()["status"]["state"] == "stopped"
    shutil.copy(tiny_run_dir / "final_grid.png", run_dir / "final_grid.png")
    assert httpx.get(f"{server.url}/api/runs/in-progress").json()["status"]["state"] == "finished"


def test_log_tail_reads_only_whole_new_lines(tmp_path):
    path = tmp_path / "log.jsonl"
    tail = LogTail(path)
    assert tail.read() == (False, [])
    path.write_text('{"step": 1}\n{"step": 2')
    assert tail.read() == (False, [{"step": 1}])
    with open(path, "a") as f:
        f.write('}\nnot json\n[1, 2]\n{"step": 3}\n')
    assert tail.read() == (False, [{"step": 2}, {"step": 3}])
    assert tail.read() == (False, [])
    path.write_text('{"step": 1}\n')  # shorter: rewritten
    assert tail.read() == (True, [{"step": 1}])


def test_grid_scan_lists_a_grid_once_and_again_when_rewritten(tmp_path, tiny_run_dir):
    grids = tmp_path / "grids"
    scan = GridScan(grids)
    assert scan.read() == []
    grids.mkdir()
    shutil.copy(tiny_run_dir / "final_grid.png", grids / "step_000010.png")
    (grids / ".step_000020.png.x.tmp").write_bytes(b"half")  # being written: not a grid yet
    first = scan.read()
    assert [s for s, _ in first] == [10]
    assert scan.read() == []
    time.sleep(0.01)
    shutil.copy(tiny_run_dir / "final_grid.png", grids / "step_000020.png")
    os.utime(grids / "step_000010.png", ns=(first[0][1] + 10**9, first[0][1] + 10**9))
    assert [s for s, _ in scan.read()] == [10, 20]


def wait_for_file(path, timeout_s: float = 120.0) -> None:
    deadline = time.monotonic() + timeout_s
    while not path.is_file():
        assert time.monotonic() < deadline, f"{path} never appeared"
        time.sleep(0.05)


def steps_until(url: str, last: int) -> list[int]:
    events = read_events(url, lambda ev: any(e.event == "log" and e.data["step"] == last for e in ev)
                         or any(r["step"] == last for e in ev if e.event == "history" for r in e.data["records"]),
                         timeout_s=180)
    history = [r["step"] for r in events[0].data["records"] if "loss_g" in r]
    return history + [e.data["step"] for e in events[1:] if e.event == "log"]


def test_runs_from_python_and_from_torchrun_are_watched_too(server, run_dir, monkeypatch):
    import subprocess
    import sys
    import threading

    import ganforge

    root = run_dir.parent
    monkeypatch.setenv("OMP_NUM_THREADS", "1")
    # Python: a Trainer in this process (a thread; the server reads the same files any process writes)
    config = ganforge.TrainConfig(preset="dcgan-28-fast", dataset="mnist-sample", steps=40, batch_size=8,
                                  log_every=2, extra={"width": 4}, out=str(root / "from-python"), progress=False)
    thread = threading.Thread(target=lambda: ganforge.Trainer(config, log=lambda _: None).train())
    thread.start()
    wait_for_file(root / "from-python" / "config.json")
    steps = steps_until(f"{server.url}/api/runs/from-python/events", 40)
    thread.join()
    assert steps == list(range(2, 41, 2))
    # torchrun: two processes, rank 0 writes the run folder; each line once
    cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node=2", "-m", "ganforge",
           "train", "--preset", "dcgan-28-fast", "--dataset", "mnist-sample", "--steps", "20", "--batch-size", "16",
           "--width", "4", "--log-every", "2", "--out", str(root / "from-torchrun"), "--no-progress"]
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    try:
        wait_for_file(root / "from-torchrun" / "config.json")
        steps = steps_until(f"{server.url}/api/runs/from-torchrun/events", 20)
    finally:
        _, err = proc.communicate(timeout=180)
    assert proc.returncode == 0, err[-2000:]
    assert steps == list(range(2, 21, 2))


def test_metrics_are_the_headline_numbers_of_ganforge_eval(server, run_dir):
    (run_dir / "metrics.json").write_text(json.dumps({
        "confident": {"confident": 0.91, "n": 10000, "seed": 0, "protocol": "..."},
        "class-kl": {"class_kl": 0.012, "mode_collapse": False, "class_histogram": [0.1] * 10}}))
    body = httpx.get(f"{server.url}/api/runs/in-progress/metrics").json()
    assert body == {"measured": {"confident": 0.91, "class_kl": 0.012}, "made": None}
