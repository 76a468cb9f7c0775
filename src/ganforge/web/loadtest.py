"""A bounded load test of a studio server: a fixed number of requests, a fixed concurrency, latencies; and a
reader of its server-sent events.

Used by ``bench/web_load.py`` (the figures) and by the tests (that they all succeed, that events arrive).
"""

from __future__ import annotations

import asyncio
import math
import statistics
import time
from collections.abc import AsyncIterator, Callable
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


@dataclass
class ServerEvent:
    """One server-sent event as a client read it, with the time it arrived (``time.time()``)."""

    id: str | None
    event: str
    data: dict
    arrived: float


async def iter_events(client, url: str, last_event_id: str | None = None) -> AsyncIterator[ServerEvent]:
    """The events of a ``text/event-stream`` answer, as EventSource reads them (comments skipped)."""
    import json
    import time

    headers = {"Accept": "text/event-stream"}
    if last_event_id:
        headers["Last-Event-ID"] = last_event_id
    async with client.stream("GET", url, headers=headers) as response:
        response.raise_for_status()
        fields: dict[str, str] = {}
        async for line in response.aiter_lines():
            if not line:
                if "data" in fields:
                    yield ServerEvent(fields.get("id"), fields.get("event", "message"), json.loads(fields["data"]),
                                      time.time())
                fields = {}
                continue
            if line.startswith(":"):
                continue
            name, _, value = line.partition(":")
            fields[name] = value[1:] if value.startswith(" ") else value


def read_events(url: str, until: Callable[[list[ServerEvent]], bool], *, last_event_id: str | None = None,
                timeout_s: float = 60.0) -> list[ServerEvent]:
    """Read one stream until ``until(events so far)`` holds (or ``timeout_s`` passes: TimeoutError)."""
    import httpx

    async def run() -> list[ServerEvent]:
        got: list[ServerEvent] = []
        async with httpx.AsyncClient(timeout=httpx.Timeout(timeout_s, read=timeout_s)) as client:
            async for event in iter_events(client, url, last_event_id):
                got.append(event)
                if until(got):
                    return got
        return got

    async def bounded() -> list[ServerEvent]:
        return await asyncio.wait_for(run(), timeout_s)

    return asyncio.run(bounded())
