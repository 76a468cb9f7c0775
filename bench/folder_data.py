"""How fast a folder of images reaches the training loop: probe, first decode, cached load, and batches per second
from memory and streamed from disk by worker processes.

    python bench/folder_data.py COLOUR/icons64 COLOUR/emoji64 --workers 2

For each folder, in a fresh temporary cache: ``probe_folder``; ``load_dataset`` twice (the first decodes and
writes the cache, the second reads it); then ``--batches`` batches of ``--batch-size`` delivered by the in-memory
sampler and by the streaming one (forced by a tiny memory budget), after one warm-up batch each, checking on
the way that both give the same batches. Times are wall-clock on whatever else the machine is doing.
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time

import torch

from ganforge.data import load_dataset, probe_folder
from ganforge.training.sampler import StreamingSampler, make_sampler


def quiet(*_: object) -> None:
    pass


def measure(folder: str, *, size: int, batch_size: int, batches: int, workers: int) -> dict[str, float]:
    name = f"folder:{folder}"
    start = time.perf_counter()
    probe = probe_folder(folder)
    row: dict[str, float] = {"images": probe.count, "probe_s": time.perf_counter() - start}
    for key in ("decode_s", "cached_s"):
        start = time.perf_counter()
        memory = load_dataset(name, channels=3, size=size, log=quiet)
        row[key] = time.perf_counter() - start
    os.environ["GANFORGE_MEMORY_BUDGET_MB"] = "0.001"
    try:
        stream = load_dataset(name, channels=3, size=size, streaming=True, log=quiet)
    finally:
        del os.environ["GANFORGE_MEMORY_BUDGET_MB"]
    cpu = torch.device("cpu")
    samplers = {"memory": make_sampler(memory, batch_size, 0, device=cpu, labelled=False),
                "stream": StreamingSampler(stream, batch_size, 0, device=cpu, labelled=False, workers=workers)}
    for kind, sampler in samplers.items():
        sampler.batch(0)  # the workers start; the first permutation is drawn
        start = time.perf_counter()
        for i in range(1, batches + 1):
            sampler.batch(i)
        row[f"{kind}_images_per_s"] = batches * batch_size / (time.perf_counter() - start)
    for i in (batches + 1, batches + 2):
        assert torch.equal(samplers["memory"].batch(i), samplers["stream"].batch(i)), f"batch {i} differs"
    samplers["stream"].close()
    return row


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("folders", nargs="+")
    parser.add_argument("--size", type=int, default=64)
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--batches", type=int, default=50)
    parser.add_argument("--workers", type=int, default=2)
    args = parser.parse_args()
    print("| folder | images | probe | first load (decode + write cache) | cached load | batches from memory | "
          f"streamed, {args.workers} workers |")
    print("| --- | --- | --- | --- | --- | --- | --- |")
    with tempfile.TemporaryDirectory() as cache:
        os.environ["GANFORGE_CACHE_DIR"] = cache
        for folder in args.folders:
            r = measure(folder, size=args.size, batch_size=args.batch_size, batches=args.batches,
                        workers=args.workers)
            print(f"| {os.path.basename(folder.rstrip('/'))} | {r['images']:,.0f} | {r['probe_s']:.2f} s | "
                  f"{r['decode_s']:.2f} s | {r['cached_s']:.3f} s | {r['memory_images_per_s']:,.0f} img/s | "
                  f"{r['stream_images_per_s']:,.0f} img/s |")


if __name__ == "__main__":
    main()
