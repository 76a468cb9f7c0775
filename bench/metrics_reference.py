"""Reference values of every metric: the floor (real vs real) and the ceiling (noise) of each number.

For each dataset, three stand-in "generators" are scored against the test split, exactly like a run:
- real (train split): n train images, a random subset (seed 1): what a perfect generator would score;
- one class: train images of class 0 only, a fully mode-collapsed generator;
- uniform noise: uint8 noise, the worst case.

Usage (domain metrics only, the README table):
    python bench/metrics_reference.py --data-dir DATA --n 10000
Inception metrics too (about 9 images/s on 2 CPU cores, so keep --n-inception small there):
    python bench/metrics_reference.py --data-dir DATA --n 10000 --n-inception 1000 \\
        --inception-weights weights-inception-2015-12-05-6726825d.pth
"""

from __future__ import annotations

import argparse
import sys
import time

import torch

from ganforge.data import load_dataset
from ganforge.metrics.evaluate import Evaluation
from ganforge.metrics.inception import resolve_inception_weights
from ganforge.metrics.registry import METRICS

DOMAIN_METRICS = ["domain-fid", "domain-is", "class-kl", "confident"]
STACKED_METRICS = ["modes"]  # stacked-mnist is scored by its modes (PacGAN's protocol, 26,000 samples)
INCEPTION_METRICS = ["fid", "kid", "pr"]


def log(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def stand_ins(dataset: str, n: int, data_dir: str | None) -> dict[str, torch.Tensor]:
    train = load_dataset(dataset, split="train", data_dir=data_dir, log=log)
    perm = torch.randperm(len(train), generator=torch.Generator().manual_seed(1))
    one_class = train.images[train.labels == 0]
    gen = torch.Generator().manual_seed(1)
    return {
        "real (train split)": train.images[perm[:n]],
        "one class (train, class 0)": one_class[torch.randint(0, len(one_class), (n,), generator=gen)],
        "uniform noise": torch.randint(0, 256, (n, *train.images.shape[1:]), generator=gen, dtype=torch.uint8),
    }


def cell(name: str, result: dict) -> str:
    keys = METRICS[name].keys
    if name == "class-kl":
        return f"{result['class_kl']:.4f}" + (" (alarm)" if result["mode_collapse"] else "")
    if name in ("kid", "domain-is"):
        return f"{result[keys[0]]:.4g} ± {result[keys[1]]:.2g}"
    if name == "modes":
        return f"{result['modes']} modes, KL {result['modes_kl']:.4f}"
    if name == "pr":
        return f"{result['precision']:.3f} / {result['recall']:.3f}"
    return f"{result[keys[0]]:.4g}"


def header(name: str) -> str:
    arrow = "↓" if METRICS[name].lower_is_better else "↑"
    return {"pr": "precision / recall ↑", "class-kl": "class-kl ↓"}.get(name, f"{name} {arrow}")


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--datasets", default="mnist,fashion-mnist",
                   help="comma-separated, of mnist, fashion-mnist, stacked-mnist (default mnist,fashion-mnist)")
    p.add_argument("--n", type=int, default=10_000, help="samples per side for the domain metrics (default 10000)")
    p.add_argument("--n-inception", type=int, default=0, help="samples per side for FID/KID/PR (default 0: skip)")
    p.add_argument("--inception-weights", help="Inception weights file (else the usual lookup)")
    p.add_argument("--data-dir", help="folder holding mnist/ and fashion-mnist/")
    p.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    args = p.parse_args(argv)

    weights = None
    if args.n_inception > 0:
        weights = resolve_inception_weights(args.inception_weights, log=log)
    tables: dict[tuple[str, ...], list[list[str]]] = {}  # one table per metric list
    for dataset in args.datasets.split(","):
        names = list(STACKED_METRICS if dataset == "stacked-mnist" else DOMAIN_METRICS)
        if weights is not None:
            names += INCEPTION_METRICS
        evaluation = Evaluation(names, dataset=dataset, data_dir=args.data_dir, split="test", device=args.device,
                                n=args.n, n_inception=args.n_inception or None, weights=weights, log=log)
        for label, images in stand_ins(dataset, max(args.n, args.n_inception), args.data_dir).items():
            start = time.perf_counter()
            results = evaluation.compute(images)
            log(f"{dataset} / {label}: {time.perf_counter() - start:.0f}s")
            tables.setdefault(tuple(names), []).append([dataset, label] + [cell(name, results[name]) for name in names])

    sizes = f"n = {args.n:,} per side for domain metrics"
    if args.n_inception:
        sizes += f", {args.n_inception:,} for Inception metrics"
    print(f"Generated side vs the test split; {sizes}.\n")
    for names, group in tables.items():
        print("| dataset | samples | " + " | ".join(header(name) for name in names) + " |")
        print("|---|---|" + "---|" * len(names))
        for row in group:
            print("| " + " | ".join(row) + " |")
        print()
    return 0


if __name__ == "__main__":
    sys.exit(main())
