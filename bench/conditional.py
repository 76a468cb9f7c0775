"""Conditional against unconditional MNIST at the same step budget: domain FID and, for conditional runs,
the share of samples the domain evaluator classifies as the class they were asked for.

The run trains in chunks of --every steps (a resume is exact, so the chunks make the same run as one
go) and is measured with ``ganforge eval``'s code after each chunk; the clock counts training only.
With an existing --out, the run there is carried on to --steps (measured from its next multiple of --every).

    python bench/conditional.py --data-dir DATA --preset dcgan-28-cond --steps 3000 --every 1000
    python bench/conditional.py --data-dir DATA --preset dcgan-28-fast --steps 3000 --every 1000
"""

from __future__ import annotations

import argparse
import json
import platform
import tempfile
import time
from pathlib import Path

import torch

from ganforge import TrainConfig, Trainer, load_run
from ganforge.metrics.evaluate import evaluate_run


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--preset", default="dcgan-28-cond")
    ap.add_argument("--dataset", default="mnist")
    ap.add_argument("--data-dir")
    ap.add_argument("--steps", type=int, default=3000)
    ap.add_argument("--every", type=int, default=1000, help="steps between measurements")
    ap.add_argument("--n", type=int, default=10000, help="generated images per measurement")
    ap.add_argument("--threads", type=int, default=0, help="torch threads (0: torch's default)")
    ap.add_argument("--device", default="auto")
    ap.add_argument("--out", help="run folder (default: a temporary one)")
    ap.add_argument("--json", help="also write the rows to this JSON file")
    args = ap.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)

    out = Path(args.out or tempfile.mkdtemp(prefix="ganforge-cond-")) / "run"
    rows, train_s = [], 0.0
    done = load_run(out).step if (out / "config.json").is_file() else 0
    for target in range(args.every, args.steps + 1, args.every):
        if target <= done:
            continue
        start = time.perf_counter()
        if not (out / "config.json").is_file():
            cfg = TrainConfig(preset=args.preset, dataset=args.dataset, data_dir=args.data_dir, steps=target,
                              out=str(out), progress=False, device=args.device)
            trainer = Trainer(cfg, log=lambda _: None)
        else:
            trainer = Trainer.resume(out, steps=target, log=lambda _: None)
        trainer.train()
        train_s += time.perf_counter() - start
        run = load_run(out, device=args.device)
        metrics = ["domain-fid", "confident"] + (["class-accuracy"] if run.num_classes else [])
        entries = evaluate_run(run, metrics, n=args.n, log=lambda _: None, progress=False)
        row = {"preset": args.preset, "step": target, "images": target * trainer.cfg.batch_size,
               "train_s": round(train_s, 1), "domain_fid": round(entries["domain-fid"]["domain_fid"], 2),
               "confident": round(entries["confident"]["confident"], 4)}
        if run.num_classes:
            row["class_accuracy"] = round(entries["class-accuracy"]["class_accuracy"], 4)
        rows.append(row)
        print(json.dumps(row), flush=True)
    print(f"device {trainer.device}, {torch.get_num_threads()} threads, {platform.processor() or platform.machine()}; "
          f"run folder {out}")
    if args.json:
        Path(args.json).write_text(json.dumps(rows, indent=2) + "\n")


if __name__ == "__main__":
    main()
