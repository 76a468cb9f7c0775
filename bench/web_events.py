"""``bench/web_load.py --events``: many pages watching one run in progress, over the studio's event stream.

A real run (dcgan-28-fast on the bundled digits, 200 steps, a log line every step and a grid every 20) is made
first; its lines and grids are then written again, at ``--rate`` lines a second, into a run folder that
``ganforge serve`` (its own process) watches, while ``--clients`` streams read the events. Writing the lines
here, rather than training here, is what lets each line's write time be known exactly.
"""

from __future__ import annotations

import asyncio
import json
import math
import os
import platform
import shutil
import tempfile
import threading
import time
from pathlib import Path

import httpx

from ganforge.web.loadtest import iter_events


def source_run(folder: Path, lines: int) -> Path:
    import torch

    import ganforge

    torch.set_num_threads(1)
    out = folder / "source"
    ganforge.Trainer(ganforge.TrainConfig(preset="dcgan-28-fast", dataset="mnist-sample", steps=lines, batch_size=16,
                                          log_every=1, grid_every=20, extra={"width": 8}, out=str(out),
                                          progress=False), log=lambda _: None).train()
    return out


def percentile(values: list[float], q: float) -> float:
    """Nearest rank, as the request load test reports it."""
    ordered = sorted(values)
    return ordered[max(1, math.ceil(q / 100 * len(ordered))) - 1] if ordered else float("nan")


def events_bench(args, *, start_server) -> int:
    with tempfile.TemporaryDirectory() as tmp:
        source = source_run(Path(tmp), args.lines)
        records = [json.loads(x) for x in (source / "log.jsonl").read_text().splitlines()]
        grids = {int(p.stem.split("_")[1]): p for p in (source / "grids").glob("step_*.png")}
        live = Path(tmp) / "runs" / "in-progress"
        (live / "grids").mkdir(parents=True)
        shutil.copy(source / "config.json", live)
        proc, base = start_server(live, args.server_threads)
        try:
            result = asyncio.run(watch(base, records, grids, live, args))
        finally:
            proc.terminate()
            proc.wait(timeout=10)

    latencies = [lat for per in result["latencies"] for lat in per]
    got = result["events"]
    want = len(records) + len(grids)
    cpu = platform.processor() or platform.machine()
    print(f"studio event stream: {args.clients} clients watching one run; {len(records)} log lines and {len(grids)} "
          f"grids written at {args.rate:g} lines/s; loopback; {os.cpu_count()} CPU cores ({cpu})")
    print("\n| clients | events each (expected) | all delivered | p50 ms | p99 ms | max ms |")
    print("| ---: | ---: | :---: | ---: | ---: | ---: |")
    ok = all(n == want for n in got)
    print(f"| {args.clients} | {min(got)}-{max(got)} ({want}) | {'yes' if ok else 'NO'} | "
          f"{1000 * percentile(latencies, 50):.0f} | {1000 * percentile(latencies, 99):.0f} | "
          f"{1000 * max(latencies):.0f} |")
    if args.json:
        Path(args.json).write_text(json.dumps({"clients": args.clients, "lines": len(records), "grids": len(grids),
                                               "rate": args.rate, "events_each": got, "expected": want,
                                               "p50_ms": 1000 * percentile(latencies, 50),
                                               "p99_ms": 1000 * percentile(latencies, 99),
                                               "max_ms": 1000 * max(latencies)}, indent=2))
    return 0 if ok else 1


async def watch(base: str, records: list[dict], grids: dict[int, Path], live: Path, args) -> dict:
    url = f"{base}/events"
    written: dict[int, float] = {}
    arrived: list[dict[int, float]] = [{} for _ in range(args.clients)]
    counts = [0] * args.clients
    want = len(records) + len(grids)
    histories = 0

    async def page(i: int, client: httpx.AsyncClient) -> None:
        nonlocal histories
        async for event in iter_events(client, url):
            if event.event == "history":
                histories += 1
                continue
            if event.event in ("log", "grid"):
                counts[i] += 1
                if event.event == "log":
                    arrived[i][event.data["step"]] = event.arrived
            if counts[i] >= want:
                return

    def grid(step: int) -> None:  # written as the trainer writes one: complete, then renamed into place
        shutil.copy(grids[step], live / "grids" / f".tmp-{step}")
        os.replace(live / "grids" / f".tmp-{step}", live / "grids" / grids[step].name)

    def writer() -> None:
        if 0 in grids:
            grid(0)  # the trainer's grid before the first step
        with open(live / "log.jsonl", "a", encoding="utf-8") as f:
            for rec in records:
                f.write(json.dumps(rec) + "\n")
                f.flush()
                written[rec["step"]] = time.time()
                if rec["step"] in grids:
                    grid(rec["step"])
                time.sleep(1 / args.rate)

    limits = httpx.Limits(max_connections=args.clients + 2)
    async with httpx.AsyncClient(timeout=httpx.Timeout(60, read=60), limits=limits) as client:
        tasks = [asyncio.create_task(page(i, client)) for i in range(args.clients)]
        while histories < args.clients:  # every page is open before the run writes its first line
            await asyncio.sleep(0.05)
        thread = threading.Thread(target=writer)
        thread.start()
        deadline = len(records) / args.rate + 60
        _, pending = await asyncio.wait(tasks, timeout=deadline)
        for t in pending:
            t.cancel()
        thread.join()
    latencies = [[at - written[step] for step, at in per.items()] for per in arrived]
    return {"events": counts, "latencies": latencies}
