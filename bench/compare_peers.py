"""ganforge against the Keras/TensorFlow tutorial programs in ../shared/peers, side by side in one run.

Each round runs every peer and then ganforge's same model at the same batch size, one process at a time
(never in parallel: they would share the cores); the figure per side is the median over the rounds,
and the ratio is ganforge / peer.

    python bench/compare_peers.py --peer-python ~/.venvs/peers/bin/python --rounds 3
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

HERE = Path(__file__).resolve().parent
DEFAULT_PEERS = HERE.parent.parent / "shared" / "peers"
# peer script -> (ganforge preset, tutorial batch size)
PAIRS = {"keras_dcgan": ("dcgan-28", 256), "keras_mlp_sgd": ("mlp-sgd", 32), "keras_mlp_adam": ("mlp-adam", 128)}


def run_peer(python: str, peers: Path, name: str, batch: int, steps: int, data: str | None) -> float:
    cmd = [python, str(peers / f"{name}.py"), "--steps", str(steps), "--batch", str(batch)]
    if data:
        cmd += ["--data", data]
    r = subprocess.run(cmd, capture_output=True, text=True, cwd=peers)
    if r.returncode != 0:
        sys.exit(f"peer {name} failed:\n{r.stderr[-2000:]}")
    return json.loads(r.stdout.strip().splitlines()[-1])["images_per_sec"]


def run_ganforge(preset: str, batch: int, steps: int) -> float:
    out = Path(tempfile.mkdtemp()) / "tp.json"
    cmd = [sys.executable, str(HERE / "throughput.py"), "--presets", preset, "--batch-size", str(batch),
           "--steps", str(steps), "--repeats", "1", "--json", str(out)]
    subprocess.run(cmd, check=True, capture_output=True, text=True)
    return json.loads(out.read_text())["results"][0]["train_images_per_sec"]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--peer-python", required=True, help="python of a venv with ../shared/peers/requirements.txt")
    ap.add_argument("--peers", default=str(DEFAULT_PEERS))
    ap.add_argument("--data", help="MNIST train-images-idx3-ubyte.gz for the peers (default: theirs)")
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--peer-steps", type=int, default=60, help="peer steps per run (first 5 are warm-up)")
    ap.add_argument("--steps", type=int, default=30, help="ganforge timed steps per run")
    ap.add_argument("--only", help="comma-separated peer names")
    ap.add_argument("--json")
    args = ap.parse_args()

    names = args.only.split(",") if args.only else list(PAIRS)
    figures: dict[str, dict[str, list[float]]] = {n: {"peer": [], "ganforge": []} for n in names}
    for r in range(args.rounds):
        for name in names:
            preset, batch = PAIRS[name]
            figures[name]["peer"].append(run_peer(args.peer_python, Path(args.peers), name, batch,
                                                  args.peer_steps, args.data))
            figures[name]["ganforge"].append(run_ganforge(preset, batch, args.steps))
            print(f"round {r + 1}: {name} {figures[name]['peer'][-1]:.0f} img/s, "
                  f"{preset} {figures[name]['ganforge'][-1]:.0f} img/s", flush=True)
    rows = []
    print("\n| model | batch | peer img/s | ganforge img/s | ratio |")
    print("| --- | ---: | ---: | ---: | ---: |")
    for name in names:
        preset, batch = PAIRS[name]
        p, g = statistics.median(figures[name]["peer"]), statistics.median(figures[name]["ganforge"])
        rows.append({"peer": name, "preset": preset, "batch": batch, "peer_images_per_sec": p,
                     "ganforge_images_per_sec": g, "ratio": g / p, "runs": figures[name]})
        print(f"| {preset} vs {name} | {batch} | {p:,.0f} | {g:,.0f} | {g / p:.2f}x |")
    if args.json:
        Path(args.json).write_text(json.dumps(rows, indent=2))


if __name__ == "__main__":
    main()
