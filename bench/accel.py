"""Each ganforge.accel trick on and off, side by side in one run, on the layers or the step it affects.

- fourier: dcgan-28's G, forward and backward (its 7x7 256 -> 128 stride-1 layer takes the Fourier route).
- col2im: dcgan-28's G step, G and D forward and backward on the fakes to G's weights (G's last layer
  to 1 channel, and D's first layer's input gradient).
- fast_dropout: dcgan-28's D, forward and backward on real images (its two dropout layers).
- shared_backward: a dcgan-28 Trainer's simultaneous train_step, the layer tricks on in both arms.
- allocator: dcgan-28 train steps (every other trick on in both arms), each arm in fresh processes:
  glibc's setting is process-wide and cannot be taken back, so this process never makes it.

On and off alternate call by call (--calls each way; for the allocator --processes each way, each
timing --steps steps and keeping its fastest), so both see the same machine: on a shared one other
work comes and goes. The times are each arm's fastest, the least disturbed; the ratio is off / on
(above 1: the trick wins), and "paired" is the median ratio of calls made next to each other, which
a slow spell cannot fake for one arm alone.

    python bench/accel.py                     # batch 256
    python bench/accel.py --quick             # tiny sizes, seconds: a smoke test, not a measurement
    ATEN_CPU_CAPABILITY=avx2 ONEDNN_MAX_CPU_ISA=AVX2 MKL_ENABLE_INSTRUCTIONS=AVX2 python bench/accel.py  # AVX2 only
"""

from __future__ import annotations

import argparse
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
from ganforge.presets import build_models
from ganforge.resolve import DataFacts, resolve

CPU = torch.device("cpu")
LAYER_TRICKS = "fourier,col2im,fast_dropout"
ENV_VARS = ("ATEN_CPU_CAPABILITY", "ONEDNN_MAX_CPU_ISA", "MKL_ENABLE_INSTRUCTIONS")


def seconds(step: Callable[[], object]) -> float:
    t0 = time.perf_counter()
    step()
    return time.perf_counter() - t0


def summary(on: list[float], off: list[float]) -> dict[str, float]:
    """Fastest times of paired lists of seconds, their ratio, and the median ratio of the pairs."""
    return {"on_ms": 1e3 * min(on), "off_ms": 1e3 * min(off), "ratio": min(off) / min(on),
            "paired": statistics.median(b / a for a, b in zip(on, off)),
            "on_median_ms": 1e3 * statistics.median(on), "off_median_ms": 1e3 * statistics.median(off)}


def side_by_side(switch: Callable[[bool], None], step: Callable[[], object], calls: int,
                 warmup: int) -> dict[str, float]:
    """Seconds per call of ``step`` with the trick on and off (``switch``), calls alternating."""
    for on in (True, False):
        switch(on)
        for _ in range(warmup):
            step()
    times: dict[bool, list[float]] = {True: [], False: []}
    for i in range(calls):
        for on in ((True, False) if i % 2 == 0 else (False, True)):
            switch(on)
            times[on].append(seconds(step))
    return summary(times[True], times[False])


def dcgan28(batch: int) -> tuple[torch.nn.Module, torch.nn.Module, torch.Tensor, torch.Tensor]:
    """dcgan-28's G and D as a run builds them (channels_last, train mode), noise and images."""
    torch.manual_seed(0)
    cfg = resolve(TrainConfig(preset="dcgan-28"), DataFacts("mnist", 60_000, None, None))
    g, d = (m.to(memory_format=torch.channels_last).train() for m in build_models(cfg))
    real = (torch.rand(batch, 1, 28, 28) * 2 - 1).contiguous(memory_format=torch.channels_last)
    return g, d, torch.randn(batch, cfg.z_dim), real


def layer_tricks(batch: int, calls: int, warmup: int, only: set[str]) -> list[dict]:
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
    for trick, what, step in [c for c in cases if c[0] in only]:
        def switch(on: bool, trick: str = trick) -> None:
            accel.apply(accel.plan(trick if on else "off", CPU), g, d)

        rows.append({"trick": trick, "timed": what, **side_by_side(switch, step, calls, warmup)})
        accel.remove(g, d)
    return rows


def trainer(batch: int, setting: str, out: str) -> Trainer:
    cfg = TrainConfig(preset="dcgan-28", dataset="mnist-sample", batch_size=batch, steps=10**9, progress=False,
                      out=out, accel=setting)
    return Trainer(cfg, log=lambda *a: None)


def shared_backward(batch: int, calls: int, warmup: int) -> dict:
    with tempfile.TemporaryDirectory(prefix="gf-accel-") as tmp:
        t = trainer(batch, f"{LAYER_TRICKS},shared_backward", os.path.join(tmp, "run"))
        shared = t.gan.backward_pair  # the accelerated backward the plan switched in

        def switch(on: bool) -> None:
            t.gan.backward_pair = shared if on else None

        def step() -> None:
            t.train_step()
            t.step += 1

        return {"trick": "shared_backward", "timed": "dcgan-28 train_step (simultaneous)",
                **side_by_side(switch, step, calls, warmup)}


def allocator_child(on: bool, batch: int, steps: int, warmup: int) -> dict[str, float]:
    """The fastest train step's seconds, and page faults and kernel CPU seconds per step, with every other
    trick on and the allocator ``on``."""
    with tempfile.TemporaryDirectory(prefix="gf-accel-") as tmp:
        setting = f"{LAYER_TRICKS},shared_backward" + (",allocator" if on else "")
        t = trainer(batch, setting, os.path.join(tmp, "run"))
        for _ in range(warmup):
            t.train_step()
            t.step += 1
        before = resource.getrusage(resource.RUSAGE_SELF)
        times = [seconds(lambda: (t.train_step(), setattr(t, "step", t.step + 1))) for _ in range(steps)]
        after = resource.getrusage(resource.RUSAGE_SELF)
    return {"seconds": min(times), "faults": (after.ru_minflt - before.ru_minflt) / steps,
            "sys_seconds": (after.ru_stime - before.ru_stime) / steps}


def allocator(batch: int, processes: int, steps: int, warmup: int, in_process: bool) -> dict:
    runs: dict[bool, list[dict[str, float]]] = {True: [], False: []}
    if in_process:  # --quick: off, then on, here (the setting stays for the rest of this process)
        for on in (False, True):
            runs[on].append(allocator_child(on, batch, steps, warmup))
    else:
        for r in range(processes):
            for on in ((True, False) if r % 2 == 0 else (False, True)):
                cmd = [sys.executable, __file__, "--allocator-child", "on" if on else "off", "--batch-size",
                       str(batch), "--steps", str(steps), "--warmup", str(warmup)]
                runs[on].append(json.loads(subprocess.run(cmd, capture_output=True, text=True, check=True).stdout))
    per_step = {f"{key}_per_step_{'on' if arm else 'off'}": statistics.median(r[key] for r in runs[arm])
                for key in ("faults", "sys_seconds") for arm in (True, False)}
    return {"trick": "allocator", "timed": "dcgan-28 train_step, fresh processes alternating",
            **summary([r["seconds"] for r in runs[True]], [r["seconds"] for r in runs[False]]), **per_step}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--quick", action="store_true", help="tiny sizes, one round: checks the script, measures nothing")
    ap.add_argument("--batch-size", type=int, default=256)
    ap.add_argument("--calls", type=int, default=21, help="timed calls per arm, alternating")
    ap.add_argument("--processes", type=int, default=4, help="allocator: fresh processes per arm, alternating")
    ap.add_argument("--steps", type=int, default=5, help="allocator: timed train steps per process")
    ap.add_argument("--warmup", type=int, default=2)
    ap.add_argument("--tricks", default=",".join(accel.TRICKS), help="comma list of the tricks to time (default all)")
    ap.add_argument("--json", help="also write the results to this JSON file")
    ap.add_argument("--allocator-child", choices=["on", "off"], help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.allocator_child:
        print(json.dumps(allocator_child(args.allocator_child == "on", args.batch_size, args.steps, args.warmup)))
        return
    if args.quick:
        args.batch_size, args.calls, args.processes, args.steps, args.warmup = 8, 1, 1, 1, 0

    capability = torch.backends.cpu.get_cpu_capability()
    info = {"torch": torch.__version__, "threads": torch.get_num_threads(), "cpu_capability": capability,
            "machine": platform.processor() or platform.machine(), "batch_size": args.batch_size,
            "env": {k: os.environ[k] for k in ENV_VARS if k in os.environ},
            "auto": list(accel.plan("auto", CPU).names())}
    env = " ".join(f"{k}={v}" for k, v in info["env"].items()) or "native dispatch"
    print(f"torch {info['torch']}, {info['threads']} threads, CPU capability {capability} ({env}), "
          f"batch {args.batch_size}; auto here: {', '.join(info['auto']) or 'nothing'}", flush=True)

    only = set(args.tricks.split(","))
    rows = layer_tricks(args.batch_size, args.calls, args.warmup, only)
    if "shared_backward" in only:
        rows.append(shared_backward(args.batch_size, args.calls, args.warmup))
    if "allocator" in only:
        rows.append(allocator(args.batch_size, args.processes, args.steps, args.warmup, args.quick))
    print("| trick | timed | on ms | off ms | off / on | paired | medians on / off ms |")
    print("| --- | --- | ---: | ---: | ---: | ---: | ---: |")
    for r in rows:
        print(f"| {r['trick']} | {r['timed']} | {r['on_ms']:.1f} | {r['off_ms']:.1f} | {r['ratio']:.2f}x | "
              f"{r['paired']:.2f}x | {r['on_median_ms']:.0f} / {r['off_median_ms']:.0f} |")
    for a in (r for r in rows if r["trick"] == "allocator"):
        on_ms, off_ms = 1e3 * a["sys_seconds_per_step_on"], 1e3 * a["sys_seconds_per_step_off"]
        print(f"allocator, per step: {a['faults_per_step_on']:,.0f} page faults on, {a['faults_per_step_off']:,.0f} "
              f"off; kernel CPU {on_ms:.1f} ms on, {off_ms:.1f} ms off")
    if args.json:
        with open(args.json, "w") as f:
            json.dump({"info": info, "results": rows}, f, indent=2)


if __name__ == "__main__":
    main()
