"""Wall-clock seconds from the start of training until the default preset draws recognisable digits.

"Recognisable" is measured with the domain evaluator (ganforge eval's MNIST classifier): domain FID on
N generated images against the MNIST test split at or below --threshold (default 200; real digits
score 2.1 and uniform noise 8,360 at n=10,000; the default run's grids read as digits from about 200
on). The clock counts training only: it stops while the metric is computed, and startup (data load,
model build, the evaluator's real features) is reported apart.

    python bench/time_to_quality.py --data-dir DATA
    python bench/time_to_quality.py --preset dcgan-28 --batch-size 256 --check-every 100
    python bench/time_to_quality.py --preset dcgan-28 --check-every 500 --max-steps 1500 --accel off
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from pathlib import Path

import torch

from ganforge import TrainConfig, Trainer
from ganforge.metrics.training import make_training_evaluator


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--preset", default="dcgan-28-fast")
    ap.add_argument("--dataset", default="mnist")
    ap.add_argument("--data-dir")
    ap.add_argument("--batch-size", type=int)
    ap.add_argument("--device", default="auto")
    ap.add_argument("--precision", choices=["fp32", "bf16"], help="default: the preset's (fp32)")
    ap.add_argument("--threshold", type=float, default=200.0, help="domain FID at or below which digits count")
    ap.add_argument("--check-every", type=int, default=250, help="steps between checks")
    ap.add_argument("--n", type=int, default=5000, help="generated images per check")
    ap.add_argument("--max-steps", type=int, default=20000)
    ap.add_argument("--accel", help="ganforge.accel setting: auto (default), off, or a comma list of tricks")
    ap.add_argument("--json", help="also write the result to this JSON file")
    args = ap.parse_args()

    t0 = time.perf_counter()
    out = Path(tempfile.mkdtemp(prefix="gf-ttq-")) / "run"
    cfg = TrainConfig(preset=args.preset, dataset=args.dataset, data_dir=args.data_dir, steps=args.max_steps,
                      batch_size=args.batch_size, device=args.device, progress=False, out=str(out),
                      precision=args.precision, accel=args.accel)
    trainer = Trainer(cfg, log=lambda *a: None)
    evaluator = make_training_evaluator("domain-fid", dataset=trainer.cfg.dataset, data_dir=trainer.cfg.data_dir,
                                        device=trainer.device, n=args.n, log=lambda *a: None)

    startup = time.perf_counter() - t0
    train_secs, reached, history = 0.0, None, []
    while trainer.step < args.max_steps:
        if trainer.device.type == "cuda":
            torch.cuda.synchronize()
        t = time.perf_counter()
        for _ in range(args.check_every):
            trainer.train_step()
            trainer.step += 1
        if trainer.device.type == "cuda":
            torch.cuda.synchronize()
        train_secs += time.perf_counter() - t
        fid = evaluator(trainer.generate_for_eval)["domain_fid"]
        history.append({"step": trainer.step, "train_seconds": round(train_secs, 2), "domain_fid": round(fid, 1)})
        print(f"step {trainer.step:6d}  {train_secs:7.1f} s  domain FID {fid:8.1f}", flush=True)
        if fid <= args.threshold:
            reached = history[-1]
            break
    result = {"preset": args.preset, "dataset": trainer.cfg.dataset, "batch_size": trainer.cfg.batch_size,
              "device": str(trainer.device), "threads": torch.get_num_threads(), "precision": trainer.precision,
              "accel": list(trainer.accel.names()), "threshold": args.threshold,
              "startup_seconds": round(startup, 1), "reached": reached, "history": history}
    if reached:
        print(f"{args.preset} reached domain FID <= {args.threshold:g} after {reached['step']} steps, "
              f"{reached['train_seconds']:.1f} s of training ({startup:.1f} s startup) on {trainer.device}, "
              f"{trainer.precision}")
    else:
        print(f"{args.preset} did not reach domain FID <= {args.threshold:g} in {args.max_steps} steps")
    if args.json:
        Path(args.json).write_text(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
