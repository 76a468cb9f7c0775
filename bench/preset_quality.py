"""What each preset reaches in a fixed time budget: train it, then evaluate it.

For every preset asked for, on its dataset, the script times a few training steps to find the step
rate, trains a run (``ganforge train``) for the steps that fit ``--budget-s`` (so a preset whose
learning rate decays over the run decays fully), and evaluates it with ``ganforge eval``: the
domain metrics on ``--n`` samples, and Inception FID and KID on ``--n-inception`` when weights are
given. It prints one table, writes the figures to ``--out``/results.json, and records each run in
ganforge's ``presets/quality.json`` (``--quality-file``), which ``ganforge presets`` reads: a new run of
a preset on the same data set and budget replaces that measurement, every other stays.

Equal time, not equal steps, because time is what a user spends: a ResNet step costs 14-62 times
a lean DCGAN step on a CPU. KID is unbiased in the sample size, so KID from 2,000 samples compares
with KID from 10,000; FID is not (it falls as n grows), so FIDs compare only at the same n.

    OMP_NUM_THREADS=1 python bench/preset_quality.py --data-dir DATA --budget-s 600 \\
        --presets mlp-sgd,dcgan-28 --out runs/pq --inception-weights weights-inception-2015-12-05-6726825d.pth
    python bench/preset_quality.py --presets resnet-28-fashion --calibrate-only
"""

from __future__ import annotations

import argparse
import json
import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import torch

from ganforge import TrainConfig, Trainer
from ganforge.errors import GanforgeError
from ganforge.fileio import atomic_write_text
from ganforge.metrics.registry import METRICS, Target, default_metric_names
from ganforge.presets import PRESETS, get_preset
from ganforge.presets.quality import QUALITY_FILE, Figure, Measurement, record

# The data set a preset is for, where it is not MNIST. The 64x64 RGB presets are for a folder of
# colour images; on MNIST (resized, grey copied to RGB) the domain metrics can still judge them.
PRESET_DATASET = {"resnet-28-fashion": "fashion-mnist", "resnet-28-stacked": "stacked-mnist",
                  "dcgan-28-stacked": "stacked-mnist"}


def preset_dataset(name: str) -> str:
    return PRESET_DATASET.get(name, "mnist")


def parse_presets(spec: str) -> list[tuple[str, str]]:
    """'a,b:fashion-mnist' -> [(a, a's dataset), (b, 'fashion-mnist')]; unknown presets fail early."""
    out = []
    for item in filter(None, (s.strip() for s in spec.split(","))):
        name, _, dataset = item.partition(":")
        get_preset(name)
        out.append((name, dataset or preset_dataset(name)))
    return out


def seconds_per_step(preset: str, dataset: str, data_dir: str | None, *, min_seconds: float,
                     min_steps: int, precision: str | None) -> float:
    """Time training steps of a throwaway run, after two warm-up steps."""
    with tempfile.TemporaryDirectory(prefix="gf-pq-") as tmp:
        cfg = TrainConfig(preset=preset, dataset=dataset, data_dir=data_dir, steps=10**6, device="cpu",
                          progress=False, out=str(Path(tmp) / "run"), precision=precision)
        trainer = Trainer(cfg, log=lambda *a: None)
        for _ in range(2):
            trainer.train_step()
            trainer.step += 1
        t0, n = time.perf_counter(), 0
        while n < min_steps or time.perf_counter() - t0 < min_seconds:
            trainer.train_step()
            trainer.step += 1
            n += 1
        return (time.perf_counter() - t0) / n


def run(cmd: list[str], log: Path) -> str:
    """Run a ganforge command, keeping its output in ``log``; a failure stops the script with it."""
    proc = subprocess.run(cmd, capture_output=True, text=True)
    log.write_text(proc.stdout + proc.stderr)
    if proc.returncode:
        sys.exit(f"{' '.join(cmd)} failed ({proc.returncode}); see {log}:\n{(proc.stdout + proc.stderr)[-2000:]}")
    return proc.stdout + proc.stderr


def inception_applies(name: str, dataset: str) -> bool:
    """Inception FID/KID only for 28x28 grey runs of MNIST and Fashion-MNIST, whose published FIDs they
    compare with: any other shape needs its own Inception features of the 10,000 real images (30 min on one
    core)."""
    return get_preset(name).image_shape == (1, 28, 28) and dataset in ("mnist", "fashion-mnist")


def eval_metrics(dataset: str, conditional: bool, inception: bool) -> list[str]:
    cheap = default_metric_names(Target(dataset, conditional), inception=False)
    names = [m for m in cheap if m != "domain-is"]
    return names + (["fid", "kid"] if inception else [])


def machine(threads: int, precision: str) -> str:
    """The CPU's model name (Linux), the torch threads, the precision and torch's version."""
    try:
        cpu = next(line.split(":", 1)[1].strip() for line in Path("/proc/cpuinfo").read_text().splitlines()
                   if line.startswith("model name"))
    except (OSError, StopIteration):
        cpu = "unknown CPU"
    return f"{cpu}, {threads} torch thread{'s' if threads > 1 else ''}, {precision}, torch {torch.__version__}"


def command(args: argparse.Namespace, name: str, dataset: str, threads: int, inception: bool) -> str:
    """The command that measures ``name`` again as this run did; DATA stands for the user's data folder."""
    item = name if dataset == preset_dataset(name) else f"{name}:{dataset}"
    cmd = f"OMP_NUM_THREADS={threads} python bench/preset_quality.py --presets {item} --budget-s {args.budget_s:g}"
    cmd += " --data-dir DATA" if args.data_dir else ""
    cmd += f" --precision {args.precision}" if args.precision else ""
    cmd += f" --n {args.n}" if args.n else ""
    if inception:
        cmd += f" --n-inception {args.n_inception} --inception-weights {Path(args.inception_weights).name}"
    return cmd


def measurement(args: argparse.Namespace, result: dict[str, Any], measured: dict[str, Any], metrics: list[str],
                conditional: bool, inception: bool) -> Measurement:
    """One run's quality.json entry: every number the metrics gave (a KID's std beside its mean)."""
    figures = []
    for m in metrics:
        for key in METRICS[m].keys:
            value = measured[m].get(key)
            if key.endswith("_std") or isinstance(value, bool) or not isinstance(value, (int, float)):
                continue  # a spread goes with its mean; flags and per-channel lists are not figures
            figures.append(Figure(metric=key, value=value, n=measured[m].get("n"),
                                  std=measured[m].get(key[:-len("_mean")] + "_std") if key.endswith("_mean") else None))
    threads, steps, batch = result["threads"], result["steps"], result["batch_size"]
    cores = "one core" if threads == 1 else f"{threads} cores"
    return Measurement(
        dataset=result["dataset"], conditional=conditional,
        budget=f"{args.budget_s:g} s of {cores}: {steps:,} steps of {batch}", steps=steps, batch_size=batch,
        machine=args.machine or machine(threads, result["precision"]),
        command=command(args, result["preset"], result["dataset"], threads, inception), figures=tuple(figures),
        train_seconds=result["train_seconds"], budget_s=args.budget_s,
        seconds_per_step=round(result["ms_per_step"] / 1000, 3))


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--presets", default=",".join(PRESETS),
                    help="comma-separated presets, each optionally NAME:DATASET (default: all, each on its data set)")
    ap.add_argument("--data-dir")
    ap.add_argument("--budget-s", type=float, default=600.0, help="training seconds per preset")
    ap.add_argument("--precision", choices=["fp32", "bf16"])
    ap.add_argument("--n", type=int, help="samples for the domain metrics (default: ganforge eval's, 10,000; "
                                          "26,000 for stacked-mnist)")
    ap.add_argument("--n-inception", type=int, default=2000, help="samples for Inception FID and KID")
    ap.add_argument("--inception-weights", help="Inception weights file; without it, only the domain metrics")
    ap.add_argument("--calibrate-only", action="store_true", help="print the step rates and the steps, train nothing")
    ap.add_argument("--out", default="runs/preset-quality", help="folder for the runs and results.json")
    ap.add_argument("--quality-file", default=str(QUALITY_FILE),
                    help="the quality.json to record each run in (default: ganforge's own, which ganforge presets "
                         "reads); an empty string records nothing")
    ap.add_argument("--machine", help="how the machine is described in quality.json (default: the CPU's model name, "
                                      "the threads, the precision and torch's version)")
    args = ap.parse_args(argv)
    try:
        presets = parse_presets(args.presets)
    except GanforgeError as e:
        sys.exit(f"--presets: {e}")
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    results_path = out / "results.json"
    results = json.loads(results_path.read_text()) if results_path.exists() else {}
    ganforge = [sys.executable, "-m", "ganforge"]

    for name, dataset in presets:
        sps = seconds_per_step(name, dataset, args.data_dir, min_seconds=min(10.0, args.budget_s / 20),
                               min_steps=3, precision=args.precision)
        steps = max(1, int(args.budget_s / sps))
        batch = get_preset(name).defaults["batch_size"]
        print(f"{name:20s} {dataset:14s} {sps * 1000:9.1f} ms/step  -> {steps} steps of {batch}", flush=True)
        if args.calibrate_only:
            continue
        run_dir = out / f"{name}-{dataset}"
        train = [*ganforge, "train", "--preset", name, "--dataset", dataset, "--steps", str(steps),
                 "--out", str(run_dir), "--no-progress", "--device", "cpu"]
        if args.data_dir:
            train += ["--data-dir", args.data_dir]
        if args.precision:
            train += ["--precision", args.precision]
        text = run(train, out / f"{name}-{dataset}.train.log")
        done = re.search(r"done: \d+ steps in ([\d.]+) s", text)
        if done is None:
            sys.exit(f"no 'done: N steps in T s' line in {out / f'{name}-{dataset}.train.log'}")
        train_s = float(done.group(1))
        conditional = bool(json.loads((run_dir / "config.json").read_text()).get("conditional"))
        inception = bool(args.inception_weights) and inception_applies(name, dataset)
        metrics = eval_metrics(dataset, conditional, inception)
        evaluate = [*ganforge, "eval", str(run_dir), "--metrics", ",".join(metrics),
                    "--n-inception", str(args.n_inception), "--no-progress", "--device", "cpu"]
        if args.n:
            evaluate += ["--n", str(args.n)]
        if inception:
            evaluate += ["--inception-weights", args.inception_weights]
        run(evaluate, out / f"{name}-{dataset}.eval.log")
        measured = json.loads((run_dir / "metrics.json").read_text())
        figures = {key: measured[m][key] for m in metrics for key in METRICS[m].keys if key in measured[m]}
        result = results[f"{name}:{dataset}"] = {
            "preset": name, "dataset": dataset, "steps": steps, "batch_size": batch, "images": steps * batch,
            "train_seconds": train_s, "ms_per_step": round(sps * 1000, 2), "precision": args.precision or "fp32",
            "threads": torch.get_num_threads(), "n": measured[metrics[0]]["n"],
            "n_inception": args.n_inception if inception else None, **figures}
        atomic_write_text(results_path, json.dumps(results, indent=2) + "\n")
        if args.quality_file:
            # Replaces this preset's earlier run on the same data at the same budget, and nothing else.
            record(name, measurement(args, result, measured, metrics, conditional, inception),
                   replaces=lambda m, d=dataset: m.dataset == d and m.budget_s == args.budget_s,
                   path=args.quality_file)
        print(f"{name:20s} {dataset:14s} {steps:7d} steps {train_s:7.0f} s  "
              + "  ".join(f"{k} {v:.4g}" for k, v in figures.items() if isinstance(v, (int, float))), flush=True)


if __name__ == "__main__":
    main()
