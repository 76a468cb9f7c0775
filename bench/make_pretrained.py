"""Package a trained run as a generator that ships with ganforge: ``src/ganforge/pretrained/NAME/``.

Measures the run with ``ganforge eval`` (the domain metrics on 10,000 samples against the real test split),
and, for a conditional run, how often each requested class is read as that class (1,000 samples a class, the
same MNIST or Fashion-MNIST classifier); writes the pretrained folder (``run.save_pretrained``), a model card
with the figures, the training budget and the exact commands, and ``pretrained.json`` with the same.

    python bench/make_pretrained.py runs/pretrained/mnist-a mnist --data-dir DATA \\
        --command "ganforge train --preset dcgan-28-hinge ..."
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shlex
import subprocess
import sys
from pathlib import Path

import torch

from ganforge.images import save_grid
from ganforge.metrics.evaluator import get_evaluator
from ganforge.run import load_run, read_config, read_log
from ganforge.run.shipped import INFO_FILE, PREFIX, SHIPPED_DIR

HEADLINES = ("confident", "class_kl", "domain_fid", "domain_is_mean", "class_accuracy")
PER_CLASS_N = 1000


def cpu_name() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def per_class_accuracy(run, dataset: str, data_dir: str) -> list[float]:
    """For each class k: the share of PER_CLASS_N images asked for as k that the classifier reads as k."""
    evaluator = get_evaluator(dataset, data_dir=data_dir, device="cpu", log=print)
    out = []
    for k in range(run.num_classes):
        images = run.generate(PER_CLASS_N, seed=1000 + k, labels=torch.full((PER_CLASS_N,), k, dtype=torch.int64))
        predicted = evaluator(images)["logprobs"].argmax(1)
        out.append(round(float((predicted == k).double().mean()), 4))
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("run_dir")
    ap.add_argument("name", help="the generator's name: pretrained:NAME")
    ap.add_argument("--command", required=True, help="the exact command that trained the run")
    ap.add_argument("--env", default="OMP_NUM_THREADS=1", help="the environment it ran in (default OMP_NUM_THREADS=1)")
    ap.add_argument("--data-dir", required=True, help="folder holding mnist/ and fashion-mnist/ (real data)")
    ap.add_argument("--n", type=int, default=10000, help="samples for ganforge eval (default 10000)")
    ap.add_argument("--machine", help="how the training machine is described (default: the CPU's name, shared with "
                                      "other work, one torch thread)")
    args = ap.parse_args()

    run_dir = Path(args.run_dir)
    cfg = read_config(run_dir)
    eval_cmd = ["ganforge", "eval", str(run_dir), "--n", str(args.n), "--device", "cpu", "--no-progress"]
    if cfg.conditional:
        eval_cmd += ["--classes", "uniform"]
    env = {**os.environ, "GANFORGE_DATA_DIR": args.data_dir}
    subprocess.run([sys.executable, "-m", "ganforge", *eval_cmd[1:]], check=True, env=env)
    entries = json.loads((run_dir / "metrics.json").read_text())
    metrics = {k: float(f"{v:.5g}") for e in entries.values() for k, v in e.items() if k in HEADLINES}
    for e in entries.values():
        if "class_histogram" in e:
            metrics["class_shares"] = e["class_histogram"]  # of the generated samples, by the classifier
    run = load_run(run_dir, device="cpu")
    if run.num_classes:
        metrics["class_accuracy_by_class"] = per_class_accuracy(run, cfg.dataset, args.data_dir)

    out = SHIPPED_DIR / args.name
    run.save_pretrained(out)
    if run.num_classes:  # one row per class reads better than 16 random classes
        labels = torch.arange(run.num_classes).repeat_interleave(10)
        save_grid(run.generate(len(labels), seed=0, labels=labels), out / "samples.png", nrow=10)
    else:
        save_grid(run.generate(64, seed=0), out / "samples.png", nrow=8)
    records = [r for r in read_log(run_dir / "log.jsonl") if "loss_g" in r]
    budget = {"steps": records[-1]["step"], "batch_size": cfg.batch_size, "images": records[-1]["images"],
              "epochs": records[-1]["epoch"], "train_seconds": round(records[-1]["time"]),
              "machine": args.machine or f"{cpu_name()}, {os.cpu_count()} cores shared with other work, one torch "
                                         "thread"}
    info = {"name": PREFIX + args.name, "preset": cfg.preset, "dataset": cfg.dataset,
            "command": args.command, "environment": args.env,
            "eval_command": shlex.join(eval_cmd).replace(str(run_dir), "RUN_DIR"),
            "data": f"the real {cfg.dataset} train split (60,000 images)",
            "budget": budget, "metrics": metrics,
            "protocol": f"domain metrics on {args.n:,} samples (seed 0) against the {cfg.dataset} test split, the "
                        f"ganforge {cfg.dataset} classifier; class accuracy by class on {PER_CLASS_N:,} samples a "
                        "class" if run.num_classes else f"domain metrics on {args.n:,} samples (seed 0) against "
                                                         f"the {cfg.dataset} test split, the ganforge classifier",
            "size_bytes": (out / "model.safetensors").stat().st_size}
    (out / INFO_FILE).write_text(json.dumps(info, indent=2) + "\n")
    (out / "README.md").write_text(card(info, run))
    print(json.dumps(info, indent=2))


def card(info: dict, run) -> str:
    c, h, w = run.image_shape
    m = info["metrics"]
    name = info["name"]
    cond = run.num_classes is not None
    rows = [("confident (top class probability > 0.9)", m.get("confident"), "{:.1%}"),
            ("class KL to the test split", m.get("class_kl"), "{:.4f}"),
            ("domain FID", m.get("domain_fid"), "{:.2f}"), ("domain IS", m.get("domain_is_mean"), "{:.2f}"),
            ("class accuracy (all classes)", m.get("class_accuracy"), "{:.2%}")]
    if cond:
        rows += [(f"class accuracy, class {k}", v, "{:.1%}") for k, v in enumerate(m["class_accuracy_by_class"])]
    table = "\n".join(f"| {label} | {fmt.format(v)} |" for label, v, fmt in rows if v is not None)
    b = info["budget"]
    use = ("labels = torch.full((16,), 7)\n"
           f"images = run.generate(16, seed=0, labels=labels)   # 16 sevens: uint8, 16 x {c} x {h} x {w}" if cond
           else f"images = run.generate(16, seed=0)   # uint8, 16 x {c} x {h} x {w}")
    k = run.config.clusters
    selfcond = (f"\n\nIt was trained without labels, self-conditioned: G and D were conditioned on {k} clusters\n"
                f"that k-means found in the training images (`--clusters {k}`). The last of its {run.z_dim} latent\n"
                "numbers picks the cluster, each as often as it occurs in the data." if k else "")
    shell = f"ganforge sample {name} --class 7 --out sevens.png" if cond else f"ganforge sample {name} --out grid.png"
    return f"""---
library_name: ganforge
tags:
- ganforge
- gan
- {"image-generation" if cond else "unconditional-image-generation"}
---

# {name}

{"A class-conditional" if cond else "An unconditional"} GAN generator that ships inside ganforge: preset
`{info["preset"]}` trained on `{info["dataset"]}`; a {run.z_dim}-number standard-normal latent to a {h}x{w}
image with {c} channel{"s" if c > 1 else ""}. It loads offline wherever a run folder is accepted.{selfcond}

![samples, seed 0](samples.png)

## Use

```python
{"import torch" + chr(10) if cond else ""}import ganforge

run = ganforge.load_run("{name}")
{use}
```

`{shell}`, `ganforge eval {name}`, `ganforge serve` (it is listed there), `ganforge report {name}`,
`ganforge export {name} --format onnx`.

## Measured

{info["protocol"]}:

| metric | value |
| --- | ---: |
{table}

Measured with `{info["eval_command"]}`{" (and the per-class check of bench/make_pretrained.py)" if cond else ""}.

## How it was made

```sh
{info["environment"] + " " if info["environment"] else ""}{info["command"]}
```

{b["steps"]:,} steps of {b["batch_size"]} ({b["images"]:,} images, {b["epochs"]:.1f} epochs), {b["train_seconds"]:,} s
of training on {b["machine"]}. Packaged by `bench/make_pretrained.py`.

## Files

- `config.json`: preset, image shape, latent size, classes and the full training config
- `model.safetensors`: the generator's weights ({info["size_bytes"]:,} bytes, float32; the EMA of G)
- `samples.png`: {"ten images of each class, one row per class" if cond else "64 samples"} from seed 0
- `pretrained.json`: the command, budget and figures above, for programs
"""


if __name__ == "__main__":
    main()
