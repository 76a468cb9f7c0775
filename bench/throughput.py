"""Training and sampling throughput of every preset on the current device.

One training image = one real and one generated sample through a full D and G update, so
images/s = batch_size / seconds per step. FLOPs are counted with torch's FlopCounterMode over one
step, twice: the model's (ganforge.accel off: every convolution direct and two backward passes through D
in a simultaneous step, as the peers compute it) and what the run executed with its accel plan (fewer
where a layer takes the Fourier route, see ganforge.accel.fourier, and where both losses share D's
backward, see ganforge.accel.shared_backward). The executed rate is
reported as a fraction of the device's peak in the run's precision (pass --peak-gflops to override
the guess) and of a measured ceiling, the best large matrix product in that precision; the model's
rate ("effective") can exceed both.

    python bench/throughput.py                      # every preset, its own batch size
    python bench/throughput.py --presets dcgan-28 --batch-size 256 --json out.json
    python bench/throughput.py --presets dcgan-28 --compile default --precision bf16   # on a GPU
    python bench/throughput.py --presets dcgan-28 --batch-size 256 --accel off        # plain PyTorch
    python bench/throughput.py --presets dcgan-28 --batch-size 256 --accel col2im,fast_dropout,shared_backward
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import platform
import statistics
import tempfile
import time

import torch
from torch.utils.flop_counter import FlopCounterMode

from ganforge import PRESETS, TrainConfig, Trainer, accel
from ganforge.accel.settings import compiled, native_bf16, with_precision


def cpu_peak_gflops(precision: str = "fp32") -> float | None:
    """Nominal FMA peak of this CPU: cores x base GHz x FLOP/cycle: in fp32 32 with two 256-bit FMA pipes
    (AVX2, and AMD Zen 4, which runs AVX-512 on them in two halves), 64 with two 512-bit ones (Intel
    server cores with AVX-512); in bf16 twice that with AVX512_BF16 (a dot product of bf16 pairs per fp32
    lane), None with AMX (its tile unit is another scale) or without native bf16. A VM reports the base
    clock; boost clocks can exceed it."""
    flags, mhz, vendor, family = "", 0.0, "", 0
    with open("/proc/cpuinfo") as f:
        for line in f:
            key, _, value = line.partition(":")
            key = key.strip()
            if key == "flags" and not flags:
                flags = value
            elif key == "cpu MHz" and not mhz:
                mhz = float(value)
            elif key == "vendor_id" and not vendor:
                vendor = value.strip()
            elif key == "cpu family" and not family:
                family = int(value)
    wide = "avx512f" in flags.split() and not (vendor == "AuthenticAMD" and family <= 25)  # Zen 5 is family 26
    per_cycle = 64 if wide else 32 if "fma" in flags.split() else 16
    if precision == "bf16":
        if "avx512_bf16" not in flags.split() or "amx_bf16" in flags.split():
            return None
        per_cycle *= 2
    return torch.get_num_threads() * mhz / 1000 * per_cycle


def measured_matmul_gflops(n: int = 2048, repeats: int = 5, precision: str = "fp32") -> float:
    """The best rate this device reaches on one large matrix product in ``precision``, with torch's matmul
    (MKL on the CPU, cuBLAS on a GPU) or, on the CPU, oneDNN's (AVX-512 on AMD CPUs, where MKL keeps to
    AVX2): a ceiling measured here, beside the nominal peak, which a VM's base clock can understate."""
    device = torch.device("cuda" if torch.cuda.is_available() else "cpu")
    dtype = torch.bfloat16 if precision == "bf16" else torch.float32
    a, b = torch.randn(n, n, device=device, dtype=dtype), torch.randn(n, n, device=device, dtype=dtype)
    kernels = [lambda: a @ b]
    onednn = getattr(torch.ops.mkldnn, "_linear_pointwise", None)
    if device.type == "cpu" and onednn is not None and torch.backends.mkldnn.is_available():
        kernels.append(lambda: onednn(a, b, None, "none", [], ""))
    best = float("inf")
    for mm in kernels:
        for _ in range(repeats + 1):
            sync(device)
            t0 = time.perf_counter()
            mm()
            sync(device)
            best = min(best, time.perf_counter() - t0)
    return 2 * n ** 3 / best / 1e9


# Dense peak of NVIDIA data-centre GPUs (SXM), GFLOP/s: bf16 tensor cores, and plain fp32.
GPU_PEAKS = {"H200": {"bf16": 989_000, "fp32": 67_000}, "H100": {"bf16": 989_000, "fp32": 67_000},
             "A100": {"bf16": 312_000, "fp32": 19_500}}


def gpu_peak_gflops(precision: str) -> float | None:
    name = torch.cuda.get_device_name()
    return next((peaks[precision] for key, peaks in GPU_PEAKS.items() if key in name), None)


def sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def bench_preset(name: str, batch_size: int | None, steps: int, warmup: int, device: str,
                 sample_batch: int, repeats: int, speed: dict) -> dict:
    out = os.path.join(tempfile.mkdtemp(prefix="gf-bench-"), "run")
    cfg = TrainConfig(preset=name, dataset="mnist-sample", steps=10**9, batch_size=batch_size, device=device,
                      progress=False, out=out, **speed)
    t = Trainer(cfg, log=lambda *a: None)
    for _ in range(warmup):
        t.train_step()
        t.step += 1
    # FLOPs of one eager step (compiled code does not go through the op dispatcher that counts them)
    gan = t.gan
    runs, pair = (gan.G_run, gan.D_run), gan.backward_pair
    gan.G_run, gan.D_run = with_precision(t.G, t.precision, t.device), with_precision(t.D, t.precision, t.device)
    counts = []
    for as_written in (True, False):  # accel off (the model as written), then the run's own plan
        accel.apply(accel.AccelPlan() if as_written else dataclasses.replace(t.accel, allocator=False), t.G, t.D)
        gan.backward_pair = None if as_written else pair
        with FlopCounterMode(display=False) as fc:
            t.train_step()
        t.step += 1
        counts.append(fc.get_total_flops() / t.cfg.batch_size)
    gan.G_run, gan.D_run = runs
    flops_per_image, run_flops_per_image = counts
    times = []
    for _ in range(repeats):
        sync(t.device)
        t0 = time.perf_counter()
        for _ in range(steps):
            t.train_step()
            t.step += 1
        sync(t.device)
        times.append((time.perf_counter() - t0) / steps)
    sec_per_step = statistics.median(times)
    ips = t.cfg.batch_size / sec_per_step
    sample_ips = sample_rate(t, sample_batch) if sample_batch else None
    return {"preset": name, "batch_size": t.cfg.batch_size, "device": str(t.device), "dtype": t.precision,
            "accel": list(t.accel.names()),
            "compile": t.compile_mode, "channels_last": any(
                p.dim() == 4 and p.shape[1] > 1 and p.is_contiguous(memory_format=torch.channels_last)
                and not p.is_contiguous() for p in t.D.parameters()),
            "sec_per_step": sec_per_step, "train_images_per_sec": ips, "mnist_epoch_seconds": 60000 / ips,
            "sample_images_per_sec": sample_ips, "gflop_per_image": flops_per_image / 1e9,
            "run_gflop_per_image": run_flops_per_image / 1e9, "effective_gflops": ips * flops_per_image / 1e9,
            "train_gflops": ips * run_flops_per_image / 1e9}


def sample_rate(t: Trainer, sample_batch: int) -> float:
    """Images/s of G in inference mode on large batches, with the run's compile mode and precision."""
    g = with_precision(compiled(t.G.eval(), t.compile_mode), t.precision, t.device)
    z = torch.randn(sample_batch, t.cfg.z_dim, device=t.device)
    k = t.cfg.num_classes
    args = (z,) if k is None else (z, torch.arange(sample_batch, device=t.device) % k)
    with torch.no_grad():
        for _ in range(2):
            g(*args)
        sync(t.device)
        t0 = time.perf_counter()
        n_rep = 5
        for _ in range(n_rep):
            g(*args)
        sync(t.device)
    return sample_batch * n_rep / (time.perf_counter() - t0)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--presets", default=",".join(PRESETS), help="comma-separated preset names")
    ap.add_argument("--batch-size", type=int, help="override every preset's batch size")
    ap.add_argument("--steps", type=int, default=20, help="timed steps per repeat")
    ap.add_argument("--warmup", type=int, default=5)
    ap.add_argument("--repeats", type=int, default=3, help="median over this many timed repeats")
    ap.add_argument("--device", default="auto")
    ap.add_argument("--sample-batch", type=int, default=1024, help="images per sampling batch (0: no sampling figure)")
    ap.add_argument("--ceiling-size", type=int, default=2048,
                    help="side of the square matmul that measures the ceiling (0: not measured)")
    ap.add_argument("--peak-gflops", type=float, help="device peak in the run's precision (default: guessed)")
    ap.add_argument("--compile", help="torch.compile mode (default: the trainer's, auto = GPU only)")
    ap.add_argument("--precision", choices=["fp32", "bf16"])
    ap.add_argument("--channels-last", choices=["auto", "on", "off"])
    ap.add_argument("--accel", help="ganforge.accel setting: auto (default), off, or a comma list of tricks")
    ap.add_argument("--json", help="also write the results to this JSON file")
    args = ap.parse_args()

    speed = {k: v for k, v in {"compile": args.compile, "precision": args.precision,
                               "channels_last": args.channels_last, "accel": args.accel}.items() if v is not None}
    rows = [bench_preset(p, args.batch_size, args.steps, args.warmup, args.device, args.sample_batch, args.repeats,
                         speed) for p in args.presets.split(",")]
    dtype = rows[0]["dtype"]
    peak = args.peak_gflops or (cpu_peak_gflops(dtype) if rows[0]["device"] == "cpu" else gpu_peak_gflops(dtype))
    device = torch.device(rows[0]["device"])
    ceiling, why = None, ""
    if not args.ceiling_size:
        why = "not measured (--ceiling-size 0)"
    elif dtype == "bf16" and not native_bf16(device):
        # An emulated 2048^3 bf16 product takes minutes and says nothing about a bf16 run's hardware.
        why = "not measured: no native bf16 on this CPU (emulated)"
    else:
        ceiling = measured_matmul_gflops(args.ceiling_size, precision=dtype)
        why = f"measured {args.ceiling_size}^3 matmul {ceiling:.0f} GFLOP/s"
    for r in rows:
        r["fraction_of_peak"] = r["train_gflops"] / peak if peak else None
        r["fraction_of_matmul_ceiling"] = r["train_gflops"] / ceiling if ceiling else None
    info = {"torch": torch.__version__, "threads": torch.get_num_threads(), "machine": platform.processor()
            or platform.machine(), "peak_gflops": peak, "matmul_ceiling_gflops": ceiling}
    print(f"torch {info['torch']}, {info['threads']} threads, nominal peak {peak and round(peak)} GFLOP/s ({dtype}), "
          f"matmul ceiling {why}, accel: {', '.join(rows[0]['accel']) or 'off'}")
    print("| preset | device | batch | dtype | compile | NHWC | train img/s | MNIST epoch s | sample img/s "
          "| GFLOP/img model | GFLOP/img run | effective GFLOP/s | run GFLOP/s | of peak | of matmul |")
    print("| --- | --- | ---: | --- | --- | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |")
    for r in rows:
        frac = f"{100 * r['fraction_of_peak']:.0f}%" if r["fraction_of_peak"] else "-"
        of_ceiling = f"{100 * r['fraction_of_matmul_ceiling']:.0f}%" if r["fraction_of_matmul_ceiling"] else "-"
        sampled = f"{r['sample_images_per_sec']:,.0f}" if r["sample_images_per_sec"] else "-"
        print(f"| {r['preset']} | {r['device']} | {r['batch_size']} | {r['dtype']} | {r['compile']} | "
              f"{'yes' if r['channels_last'] else 'no'} | {r['train_images_per_sec']:,.0f} | "
              f"{r['mnist_epoch_seconds']:.2f} | {sampled} | {r['gflop_per_image']:.3f} | "
              f"{r['run_gflop_per_image']:.3f} | {r['effective_gflops']:.1f} | {r['train_gflops']:.1f} | {frac} | "
              f"{of_ceiling} |")
    if args.json:
        with open(args.json, "w") as f:
            json.dump({"info": info, "results": rows}, f, indent=2)


if __name__ == "__main__":
    main()
