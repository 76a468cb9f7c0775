"""Each ganforge.accel trick on and off, side by side in one run, on the layers or the step it affects.

- fourier: dcgan-28's G, forward and backward (its 7x7 256 -> 128 stride-1 layer takes the Fourier route).
- col2im: dcgan-28's G step, G and D forward and backward on the fakes to G's weights (G's last layer
  to 1 channel, and D's first layer's input gradient).
- fast_dropout: dcgan-28's D, forward and backward on real images (its two dropout layers).
- shared_backward: a dcgan-28 Trainer's simultaneous train_step, the layer tricks on in both arms.
- allocator: dcgan-28 train steps (every other trick on in both arms), each arm in fresh processes:
  glibc's setting is process-wide and cannot be taken back, so this process never makes it.

On and off alternate, --repeats rounds each, a round timing --iters calls; the figures are medians, and
the ratio is off / on (above 1: the trick wins).

    python bench/accel.py                     # batch 256
    python bench/accel.py --quick             # tiny sizes, seconds: a smoke test, not a measurement
    ATEN_CPU_CAPABILITY=avx2 ONEDNN_MAX_CPU_ISA=AVX2 MKL_ENABLE_INSTRUCTIONS=AVX2 python bench/accel.py  # AVX2 only
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import platform
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable

import torch

from ganforge import TrainConfig, Trainer, accel
from ganforge.training import build_models

CPU = torch.device("cpu")
LAYER_TRICKS = "fourier,col2im,fast_dropout"
ENV_VARS = ("ATEN_CPU_CAPABILITY", "ONEDNN_MAX_CPU_ISA", "MKL_ENABLE_INSTRUCTIONS")


def per_call(step: Callable[[], object], iters: int) -> float:
    t0 = time.perf_counter()
    for _ in range(iters):
        step()
    return (time.perf_counter() - t0) / iters


def side_by_side(switch: Callable[[bool], None], step: Callable[[], object], repeats: int, iters: int,
                 warmup: int) -> dict[str, float]:
    """Median seconds per call of ``step`` with the trick on and off (``switch``), rounds alternating."""
    for on in (True, False):
        switch(on)
        for _ in range(warmup):
            step()
    times: dict[bool, list[float]] = {True: [], False: []}
    for r in range(repeats):
        for on in ((True, False) if r % 2 == 0 else (False, True)):
            switch(on)
            times[on].append(per_call(step, iters))
    on, off = statistics.median(times[True]), statistics.median(times[False])
    return {"on_ms": 1e3 * on, "off_ms": 1e3 * off, "ratio": off / on}


def dcgan28(batch: int) -> tuple[torch.nn.Module, torch.nn.Module, torch.Tensor, torch.Tensor]:
    """dcgan-28's G and D as a run builds them (channels_last, train mode), noise and images."""
    torch.manual_seed(0)
    cfg = TrainConfig(preset="dcgan-28").resolved()
    g, d = (m.to(memory_format=torch.channels_last).train() for m in build_models(cfg))
    real = (torch.rand(batch, 1, 28, 28) * 2 - 1).contiguous(memory_format=torch.channels_last)
    return g, d, torch.randn(batch, cfg.z_dim), real


def layer_tricks(batch: int, repeats: int, iters: int, warmup: int) -> list[dict]:
    g, d, z, real = dcgan28(batch)
    g_params = list(g.parameters())
    grad_image = torch.randn(batch, 1, 28, 28)

    def g_alone() -> None:
        torch.autograd.backward(g(z), grad_image, inputs=g_params)

    def g_step() -> None:
        torch.autograd.backward(d(g(z)).sum(), inputs=g_params)

    def d_alone() -> None:
        d.zero_grad(set_to_none=True)
        d(real).sum().backward()

    cases = [("fourier", "dcgan-28 G forward + backward", g_alone),
             ("col2im", "dcgan-28 G step: G and D forward + backward to G", g_step),
             ("fast_dropout", "dcgan-28 D forward + backward", d_alone)]
    rows = []
    for trick, what, step in cases:
        def switch(on: bool, trick: str = trick) -> None:
            accel.apply(accel.plan(trick if on else "off", CPU), g, d)

        rows.append({"trick": trick, "timed": what, **side_by_side(switch, step, repeats, iters, warmup)})
        accel.remove(g, d)
    return rows


def trainer(batch: int, setting: str, out: str) -> Trainer:
    cfg = TrainConfig(preset="dcgan-28", dataset="mnist-sample", batch_size=batch, steps=10**9, progress=False,
                      out=out, accel=setting)
    return Trainer(cfg, log=lambda *a: None)


def shared_backward(batch: int, repeats: int, iters: int, warmup: int) -> dict:
    with tempfile.TemporaryDirectory(prefix="gf-accel-") as tmp:
        t = trainer(batch, f"{LAYER_TRICKS},shared_backward", os.path.join(tmp, "run"))
        plan = t.accel

        def switch(on: bool) -> None:
            t.accel = dataclasses.replace(plan, shared_backward=on)

        def step() -> None:
            t.train_step()
            t.step += 1

        return {"trick": "shared_backward", "timed": "dcgan-28 train_step (simultaneous)",
                **side_by_side(switch, step, repeats, iters, warmup)}


def allocator_child(on: bool, batch: int, steps: int, warmup: int) -> dict[str, float]:
    """Seconds and page faults per train step, with every other trick on and the allocator ``on``."""
    with tempfile.TemporaryDirectory(prefix="gf-accel-") as tmp:
        setting = f"{LAYER_TRICKS},shared_backward" + (",allocator" if on else "")
        t = trainer(batch, setting, os.path.join(tmp, "run"))
        for _ in range(warmup):
            t.train_step()
            t.step += 1
        faults = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
        seconds = per_call(lambda: (t.train_step(), setattr(t, "step", t.step + 1)), steps)
        faults = (resource.getrusage(resource.RUSAGE_SELF).ru_minflt - faults) / steps
    return {"seconds": seconds, "faults": faults}


def allocator(batch: int, repeats: int, steps: int, warmup: int, in_process: bool) -> dict:
    runs: dict[bool, list[dict[str, float]]] = {True: [], False: []}
    if in_process:  # --quick: off, then on, here (the setting stays for the rest of this process)
        for on in (False, True):
            runs[on].append(allocator_child(on, batch, steps, warmup))
    else:
        for r in range(repeats):
            for on in ((True, False) if r % 2 == 0 else (False, True)):
                cmd = [sys.executable, __file__, "--allocator-child", "on" if on else "off", "--batch-size",
                       str(batch), "--iters", str(steps), "--warmup", str(warmup)]
                runs[on].append(json.loads(subprocess.run(cmd, capture_output=True, text=True, check=True).stdout))
    on, off = ({k: statistics.median(r[k] for r in runs[arm]) for k in ("seconds", "faults")} for arm in (True, False))
    return {"trick": "allocator", "timed": "dcgan-28 train_step, fresh process per round", "on_ms": 1e3 * on["seconds"],
            "off_ms": 1e3 * off["seconds"], "ratio": off["seconds"] / on["seconds"],
            "faults_per_step_on": on["faults"], "faults_per_step_off": off["faults"]}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--quick", action="store_true", help="tiny sizes, one round: checks the script, measures nothing")
    ap.add_argument("--batch-size", type=int, default=256)
    ap.add_argument("--repeats", type=int, default=7, help="rounds per arm (allocator: fresh processes per arm)")
    ap.add_argument("--iters", type=int, default=3, help="timed calls per round")
    ap.add_argument("--warmup", type=int, default=2)
    ap.add_argument("--json", help="also write the results to this JSON file")
    ap.add_argument("--allocator-child", choices=["on", "off"], help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.allocator_child:
        print(json.dumps(allocator_child(args.allocator_child == "on", args.batch_size, args.iters, args.warmup)))
        return
    if args.quick:
        args.batch_size, args.repeats, args.iters, args.warmup = 8, 1, 1, 0

    capability = torch.backends.cpu.get_cpu_capability()
    info = {"torch": torch.__version__, "threads": torch.get_num_threads(), "cpu_capability": capability,
            "machine": platform.processor() or platform.machine(), "batch_size": args.batch_size,
            "env": {k: os.environ[k] for k in ENV_VARS if k in os.environ},
            "auto": list(accel.plan("auto", CPU).names())}
    env = " ".join(f"{k}={v}" for k, v in info["env"].items()) or "native dispatch"
    print(f"torch {info['torch']}, {info['threads']} threads, CPU capability {capability} ({env}), "
          f"batch {args.batch_size}; auto here: {', '.join(info['auto']) or 'nothing'}", flush=True)

    rows = layer_tricks(args.batch_size, args.repeats, args.iters, args.warmup)
    rows.append(shared_backward(args.batch_size, args.repeats, args.iters, args.warmup))
    rows.append(allocator(args.batch_size, max(1, args.repeats // 2), args.iters + 2, args.warmup, args.quick))
    print("| trick | timed | on ms | off ms | off / on |")
    print("| --- | --- | ---: | ---: | ---: |")
    for r in rows:
        print(f"| {r['trick']} | {r['timed']} | {r['on_ms']:.1f} | {r['off_ms']:.1f} | {r['ratio']:.2f}x |")
    alloc = rows[-1]
    print(f"allocator: {alloc['faults_per_step_on']:,.0f} page faults per step on, "
          f"{alloc['faults_per_step_off']:,.0f} off")
    if args.json:
        with open(args.json, "w") as f:
            json.dump({"info": info, "results": rows}, f, indent=2)


if __name__ == "__main__":
    main()
