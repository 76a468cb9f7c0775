"""A bounded load test of a studio server: a fixed number of requests, a fixed concurrency, latencies.

Used by ``bench/web_load.py`` (the figures) and by the tests (that they all succeed).
"""

from __future__ import annotations

import asyncio
import math
import statistics
import time
from dataclasses import dataclass


@dataclass
class LoadResult:
    requests: int
    concurrency: int
    ok: int
    statuses: dict[int, int]
    latencies_s: list[float]  # of every request, in completion order
    wall_s: float

    def percentile(self, q: float) -> float:
        """The ``q``-th percentile latency (nearest rank), in seconds."""
        ordered = sorted(self.latencies_s)
        return ordered[max(1, math.ceil(q / 100 * len(ordered))) - 1]

    def summary(self) -> dict[str, float | int]:
        return {"requests": self.requests, "concurrency": self.concurrency, "ok": self.ok,
                "p50_ms": 1000 * self.percentile(50), "p90_ms": 1000 * self.percentile(90),
                "p99_ms": 1000 * self.percentile(99), "max_ms": 1000 * max(self.latencies_s),
                "mean_ms": 1000 * statistics.fmean(self.latencies_s), "requests_per_sec": self.requests / self.wall_s}


async def _run(urls: list[str], concurrency: int, timeout_s: float) -> LoadResult:
    import httpx

    gate = asyncio.Semaphore(concurrency)
    statuses: dict[int, int] = {}
    latencies: list[float] = []
    limits = httpx.Limits(max_connections=concurrency, max_keepalive_connections=concurrency)

    async with httpx.AsyncClient(limits=limits, timeout=timeout_s) as client:
        async def one(url: str) -> None:
            async with gate:
                t0 = time.perf_counter()
                try:
                    response = await client.get(url)
                    status = response.status_code
                except httpx.HTTPError:
                    status = 0  # connection refused, reset or timed out
                latencies.append(time.perf_counter() - t0)
                statuses[status] = statuses.get(status, 0) + 1

        start = time.perf_counter()
        await asyncio.gather(*(one(u) for u in urls))
        wall = time.perf_counter() - start
    return LoadResult(len(urls), concurrency, statuses.get(200, 0), statuses, latencies, wall)


def load_test(urls: list[str], concurrency: int, timeout_s: float = 60.0) -> LoadResult:
    """GET every URL, at most ``concurrency`` at a time; status 0 counts a request that got no answer."""
    return asyncio.run(_run(urls, concurrency, timeout_s))
