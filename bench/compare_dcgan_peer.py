"""ganforge's colour presets against pytorch/examples' ``dcgan/main.py`` on the same folder, at equal wall-clock time.

Each side trains for ``--seconds`` of wall-clock time (start-up and data loading included), one after the other,
never in parallel. The peer runs unmodified with its own defaults (batch 64, two loader workers); its images/s
come from the iteration lines it prints, and its generator is the last ``netG_epoch_N.pth`` it saved. ganforge's
runs stop on SIGTERM (checkpoint, then exit). Then every generator is measured the same way: Inception FID and
KID of ``--n`` samples against the folder's images at the run's resolution (``ganforge eval``).

The folder should hold RGB images: the peer's loader (torchvision's) drops an alpha channel, where ganforge's
composites onto white (``bench/colour_folders.py`` writes ``icons64-rgb/``, the icons on white, for this).

    python bench/compare_dcgan_peer.py --folder DIR --seconds 600 --n 2000 \\
        --inception-weights weights-inception-2015-12-05-6726825d.pth --json out.json
"""

from __future__ import annotations

import argparse
import json
import os
import re
import signal
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import torch

from ganforge.checkpoint import Checkpoint
from ganforge.config import TrainConfig
from ganforge.presets import build_generator
from ganforge.resolve import DataFacts, load_for, resolve
from ganforge.run import Run, read_log, save_pretrained

HERE = Path(__file__).resolve().parent
DEFAULT_PEER = HERE.parent.parent / "shared" / "peers" / "pytorch_examples_dcgan" / "main.py"
ITERATION = re.compile(r"^\[(\d+)/\d+\]\[(\d+)/(\d+)\] Loss_D")
PEER_PRESET = "dcgan-64-pytorch"  # the same networks, built by ganforge, to sample the peer's weights


def run_peer(peer: Path, folder: Path, seconds: float, work: Path) -> dict:
    """The unmodified peer for ``seconds``; images/s between its first and last iteration line."""
    root = work / "peer-root"
    root.mkdir()
    (root / "all").symlink_to(folder.resolve(), target_is_directory=True)  # ImageFolder wants a class folder
    out = work / "peer-out"
    cmd = [sys.executable, str(peer), "--dataset", "folder", "--dataroot", str(root), "--niter", "100000",
           "--outf", str(out), "--manualSeed", "1"]
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True, cwd=work,
                            start_new_session=True)
    seen: list[float] = []  # when each iteration line arrived

    def read() -> None:
        for line in proc.stdout:
            if ITERATION.match(line):
                seen.append(time.perf_counter())

    reader = threading.Thread(target=read, daemon=True)
    reader.start()
    try:
        proc.wait(timeout=seconds)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)  # its loader workers too
        proc.wait()
    reader.join(timeout=5)
    saved = sorted(out.glob("netG_epoch_*.pth"), key=lambda p: int(p.stem.split("_")[-1]))
    ips = 64 * (len(seen) - 1) / (seen[-1] - seen[0]) if len(seen) > 1 else 0.0
    return {"side": "pytorch/examples dcgan", "iterations": len(seen), "images_per_sec": ips,
            "weights": str(saved[-1]) if saved else None, "epochs_saved": len(saved)}


def peer_as_pretrained(weights: Path, folder: Path, dest: Path) -> Path:
    """The peer's generator (a plain state_dict, read with torch's safe loader) as a ganforge pretrained folder,
    built as ``dcgan-64-pytorch``, whose layers have the program's names."""
    request = TrainConfig(preset=PEER_PRESET, dataset=f"folder:{folder}")
    _, dataset = load_for(request, log=lambda _: None)
    cfg = resolve(request, DataFacts.of(dataset))
    g = build_generator(cfg)
    g.load_state_dict(torch.load(weights, map_location="cpu", weights_only=True))
    return save_pretrained(Run(dest, cfg, g.eval(), torch.device("cpu"), 0, weights), dest)


def run_ganforge(preset: str, folder: Path, seconds: float, work: Path) -> dict:
    """ganforge for ``seconds`` of wall-clock time, stopped by SIGTERM (it checkpoints, then exits)."""
    out = work / preset
    cmd = [sys.executable, "-m", "ganforge", "train", "--preset", preset, "--dataset", f"folder:{folder}",
           "--steps", "10000000", "--out", str(out), "--no-progress", "--log-every", "20"]
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        proc.wait(timeout=seconds)
    except subprocess.TimeoutExpired:
        proc.send_signal(signal.SIGTERM)
        proc.wait()
    rows = [r for r in read_log(out / "log.jsonl") if "images_per_sec" in r] if (out / "log.jsonl").is_file() else []
    steady = rows[len(rows) // 4:] or rows  # past the first log intervals (allocator, caches warming up)
    ips = sum(r["images_per_sec"] for r in steady) / len(steady) if steady else 0.0
    last = out / "checkpoints" / "last.safetensors"
    steps = Checkpoint(last).meta.get("step", 0) if last.is_file() else 0  # the SIGTERM checkpoint's step
    return {"side": preset, "steps": steps, "images_per_sec": ips, "run": str(out) if steps else None}


def evaluate(path: str, n: int, weights: str) -> dict:
    cmd = [sys.executable, "-m", "ganforge", "eval", path, "--metrics", "fid,kid", "--n", str(n), "--n-inception",
           str(n), "--inception-weights", weights, "--no-progress", "--device", "cpu"]
    subprocess.run(cmd, check=True, capture_output=True, text=True)
    metrics = json.loads((Path(path) / "metrics.json").read_text())
    return {"fid": metrics["fid"]["fid"], "kid": metrics["kid"]["kid_mean"], "n": metrics["fid"]["n"]}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--folder", required=True, type=Path, help="a folder of colour images")
    ap.add_argument("--seconds", type=float, default=600, help="wall-clock time of each side")
    ap.add_argument("--presets", default="dcgan-64-pytorch,dcgan-64-rgb-fast,dcgan-32-rgb-fast")
    ap.add_argument("--peer", type=Path, default=DEFAULT_PEER, help="pytorch/examples dcgan/main.py")
    ap.add_argument("--n", type=int, default=2000, help="samples per FID (0: no FID)")
    ap.add_argument("--inception-weights")
    ap.add_argument("--work", type=Path, help="keep the runs here (default: a temporary folder)")
    ap.add_argument("--json")
    args = ap.parse_args()
    if args.n and not args.inception_weights:
        sys.exit("--inception-weights FILE is needed for the FID (or --n 0)")
    work = args.work or Path(tempfile.mkdtemp(prefix="gf-peer-"))
    work.mkdir(parents=True, exist_ok=True)
    rows = [run_peer(args.peer, args.folder, args.seconds, work)]
    rows += [run_ganforge(p, args.folder, args.seconds, work) for p in args.presets.split(",")]
    if args.n:
        if rows[0]["weights"]:
            rows[0]["run"] = str(peer_as_pretrained(Path(rows[0]["weights"]), args.folder, work / "peer-pretrained"))
        for row in rows:
            if row.get("run"):
                row.update(evaluate(row["run"], args.n, args.inception_weights))
    peer_ips = rows[0]["images_per_sec"]
    print(f"{args.seconds:.0f} s of wall-clock time each on {args.folder} ({torch.get_num_threads()} threads)")
    print("| side | trained | images/s | vs peer | Inception FID | KID |")
    print("| --- | ---: | ---: | ---: | ---: | ---: |")
    for r in rows:
        trained = f"{r['steps']:,} steps" if "steps" in r else f"{r['iterations']:,} iterations"
        ratio = f"{r['images_per_sec'] / peer_ips:.2f}x" if peer_ips else "-"
        fid = f"{r['fid']:.1f}" if "fid" in r else "-"
        kid = f"{r['kid']:.4f}" if "kid" in r else "-"
        print(f"| {r['side']} | {trained} | {r['images_per_sec']:,.0f} | {ratio} | {fid} | {kid} |")
    if args.json:
        Path(args.json).write_text(json.dumps({"seconds": args.seconds, "folder": str(args.folder), "rows": rows},
                                              indent=2))


if __name__ == "__main__":
    main()
