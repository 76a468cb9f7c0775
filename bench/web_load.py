"""A bounded load test of the studio: `ganforge serve` in its own process on loopback, then a fixed
number of sample requests at a fixed concurrency; prints success counts and latency percentiles.

    python bench/web_load.py                         # a 2-step dcgan-28-fast run made on the spot
    python bench/web_load.py runs/my-run --requests 1000 --concurrency 100 --n 64 --json web.json
    python bench/web_load.py --events                # 20 pages watching one run in progress

Each request asks for a different seed, so every one runs the generator (the server's small cache of
recent grids never answers). The client runs in this process, the server in another; on a shared
machine both compete for the same cores, so the figures are an upper bound on latency.

With ``--events``, ``--clients`` event streams (default 20, as 20 open pages) watch one run in progress: a
run's log lines and grids (a real 200-step run's, made on the spot) are written into a run folder the server
watches, one line every ``1 / --rate`` seconds, and each client notes when each line's event arrives. It
prints how many events each client got (every one, or it fails) and the latency from the line being written
to its event arriving, p50 and p99 over every (client, line).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx

from ganforge.web.loadtest import load_test
from web_events import events_bench


def make_run(folder: Path) -> Path:
    import torch

    import ganforge

    torch.set_num_threads(1)
    out = folder / "web-load-run"
    ganforge.Trainer(ganforge.TrainConfig(preset="dcgan-28-fast", dataset="mnist-sample", steps=2, out=str(out),
                                          progress=False)).train()
    return out


def start_server(run_dir: Path, threads: int, extra: tuple[str, ...] = ()) -> tuple[subprocess.Popen, str]:
    env = {**os.environ, "OMP_NUM_THREADS": str(threads)}
    proc = subprocess.Popen([sys.executable, "-m", "ganforge", "serve", str(run_dir), "--port", "0", "--device", "cpu",
                             *extra], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
    line = proc.stdout.readline()
    found = re.search(r"http://127\.0\.0\.1:\d+/", line)
    if not found:
        proc.kill()
        sys.exit(f"the server did not start: {line}{proc.stderr.read()}")
    url = found.group(0).rstrip("/")
    deadline = time.monotonic() + 60
    while True:
        try:
            runs = httpx.get(url + "/api/runs").json()["runs"]
            return proc, f"{url}/api/runs/{runs[0]['id']}"
        except httpx.ConnectError:
            if time.monotonic() > deadline:
                proc.kill()
                sys.exit("the server did not answer within 60 s")
            time.sleep(0.1)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("run_dir", nargs="?", help="run folder to serve (default: make a 2-step run)")
    ap.add_argument("--requests", type=int, default=500, help="total requests (default 500)")
    ap.add_argument("--concurrency", type=int, default=100, help="requests in flight at once (default 100)")
    ap.add_argument("--n", type=int, default=16, help="images per requested grid (default 16)")
    ap.add_argument("--warmup", type=int, default=20, help="requests before timing (default 20)")
    ap.add_argument("--server-threads", type=int, default=1, help="torch threads of the server (default 1)")
    ap.add_argument("--timeout", type=float, default=120, help="seconds before a request counts as failed")
    ap.add_argument("--json", help="also write the figures here")
    ap.add_argument("--events", action="store_true", help="measure the live event stream instead")
    ap.add_argument("--clients", type=int, default=20, help="--events: pages watching the run (default 20)")
    ap.add_argument("--lines", type=int, default=200, help="--events: log lines written (default 200)")
    ap.add_argument("--rate", type=float, default=10, help="--events: log lines a second (default 10)")
    args = ap.parse_args()
    if args.events:
        sys.exit(events_bench(args, start_server=start_server))

    with tempfile.TemporaryDirectory() as tmp:
        run_dir = Path(args.run_dir) if args.run_dir else make_run(Path(tmp))
        proc, base = start_server(run_dir, args.server_threads)
        try:
            load_test([f"{base}/samples.png?seed={10**6 + s}&n={args.n}" for s in range(args.warmup)], 4)
            urls = [f"{base}/samples.png?seed={s}&n={args.n}" for s in range(args.requests)]
            result = load_test(urls, args.concurrency, args.timeout)
        finally:
            proc.terminate()
            proc.wait(timeout=10)

    s = result.summary()
    cpu = platform.processor() or platform.machine()
    print(f"studio load test: {run_dir.name}, {args.requests} requests of {args.n}-image grids, "
          f"{args.concurrency} at once, loopback; {os.cpu_count()} CPU cores ({cpu})")
    print("\n| requests | concurrency | ok | p50 ms | p90 ms | p99 ms | max ms | req/s |")
    print("| ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |")
    print(f"| {s['requests']} | {s['concurrency']} | {s['ok']} | {s['p50_ms']:.0f} | {s['p90_ms']:.0f} | "
          f"{s['p99_ms']:.0f} | {s['max_ms']:.0f} | {s['requests_per_sec']:.1f} |")
    if result.ok != result.requests:
        print(f"\nFAILED: answers by status (0 = no answer): {result.statuses}")
    if args.json:
        Path(args.json).write_text(json.dumps({**s, "n": args.n, "statuses": result.statuses,
                                               "run": str(run_dir)}, indent=2))
    sys.exit(0 if result.ok == result.requests else 1)


if __name__ == "__main__":
    main()
