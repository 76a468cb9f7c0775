"""ganforge against the Keras/TensorFlow tutorial programs (--peers DIR), side by side in one run.

Each round runs every peer and then ganforge's same model at the same batch size, one process at a time
(never in parallel: they would share the cores); the figure per side is the median over the rounds,
and the ratio is ganforge / peer.

--precisions fp32,bf16 measures both sides at each precision: ganforge with ``--precision bf16`` (autocast of
the forward passes), the peer under Keras' ``mixed_bfloat16`` global policy (set before the unchanged
script runs), so each ratio compares like with like; the table adds ganforge bf16 against the tutorial as
written (fp32). bf16 pays on CPUs with native bf16 arithmetic (AVX512_BF16, AMX).

    python bench/compare_peers.py --peer-python ~/.venvs/peers/bin/python --rounds 3
    python bench/compare_peers.py --peer-python ~/.venvs/peers/bin/python --only keras_dcgan --precisions fp32,bf16
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


# Runs a peer script unchanged after setting Keras' global dtype policy (the Keras way to mixed precision).
_WITH_POLICY = ("import runpy, sys, keras; keras.mixed_precision.set_global_policy(sys.argv[1]); "
                "sys.argv = sys.argv[2:]; sys.path.insert(0, '.'); runpy.run_path(sys.argv[0], run_name='__main__')")
KERAS_POLICY = {"fp32": None, "bf16": "mixed_bfloat16"}


def run_peer(python: str, peers: Path, name: str, batch: int, steps: int, data: str | None,
             precision: str = "fp32") -> float:
    cmd = [str(peers / f"{name}.py"), "--steps", str(steps), "--batch", str(batch)]
    if data:
        cmd += ["--data", data]
    policy = KERAS_POLICY[precision]
    cmd = [python, *(["-c", _WITH_POLICY, policy] if policy else []), *cmd]
    r = subprocess.run(cmd, capture_output=True, text=True, cwd=peers)
    if r.returncode != 0:
        sys.exit(f"peer {name} failed:\n{r.stderr[-2000:]}")
    return json.loads(r.stdout.strip().splitlines()[-1])["images_per_sec"]


def run_ganforge(preset: str, batch: int, steps: int, precision: str = "fp32", warmup: int = 5) -> float:
    out = Path(tempfile.mkdtemp()) / "tp.json"
    # Training figures only: no sampling rate, no matmul ceiling.
    cmd = [sys.executable, str(HERE / "throughput.py"), "--presets", preset, "--batch-size", str(batch),
           "--steps", str(steps), "--repeats", "1", "--precision", precision, "--sample-batch", "0",
           "--ceiling-size", "0", "--warmup", str(warmup), "--json", str(out)]
    subprocess.run(cmd, check=True, capture_output=True, text=True)
    return json.loads(out.read_text())["results"][0]["train_images_per_sec"]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--peer-python", required=True, help="python of a venv with the peers' requirements.txt")
    ap.add_argument("--peers", default=str(DEFAULT_PEERS))
    ap.add_argument("--data", help="MNIST train-images-idx3-ubyte.gz for the peers (default: theirs)")
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--peer-steps", type=int, default=60, help="peer steps per run (first 5 are warm-up)")
    ap.add_argument("--steps", type=int, default=30, help="ganforge timed steps per run")
    ap.add_argument("--only", help="comma-separated peer names")
    ap.add_argument("--batch", type=int, help="one batch size for both sides instead of each tutorial's (smoke runs)")
    ap.add_argument("--warmup", type=int, default=5, help="ganforge warm-up steps per run")
    ap.add_argument("--precisions", default="fp32", help="comma-separated, of fp32 and bf16: each side at each")
    ap.add_argument("--json")
    args = ap.parse_args()

    names = args.only.split(",") if args.only else list(PAIRS)
    for n in names:
        if n not in PAIRS:
            sys.exit(f"unknown peer {n!r}; known: {', '.join(PAIRS)}")
    precisions = args.precisions.split(",")
    for p in precisions:
        if p not in KERAS_POLICY:
            sys.exit(f"unknown precision {p!r}; known: {', '.join(KERAS_POLICY)}")
    keys = [(n, p) for n in names for p in precisions]
    figures: dict[tuple[str, str], dict[str, list[float]]] = {k: {"peer": [], "ganforge": []} for k in keys}
    for r in range(args.rounds):
        for name, prec in keys:
            preset, batch = PAIRS[name][0], args.batch or PAIRS[name][1]
            fig = figures[name, prec]
            fig["peer"].append(run_peer(args.peer_python, Path(args.peers), name, batch, args.peer_steps,
                                        args.data, prec))
            fig["ganforge"].append(run_ganforge(preset, batch, args.steps, prec, args.warmup))
            print(f"round {r + 1}: {name} {prec} {fig['peer'][-1]:.0f} img/s, "
                  f"{preset} {fig['ganforge'][-1]:.0f} img/s", flush=True)
    rows = []
    print("\n| model | batch | precision | peer img/s | ganforge img/s | ratio |")
    print("| --- | ---: | --- | ---: | ---: | ---: |")
    for name, prec in keys:
        preset, batch = PAIRS[name][0], args.batch or PAIRS[name][1]
        p, g = statistics.median(figures[name, prec]["peer"]), statistics.median(figures[name, prec]["ganforge"])
        rows.append({"peer": name, "preset": preset, "batch": batch, "precision": prec, "peer_images_per_sec": p,
                     "ganforge_images_per_sec": g, "ratio": g / p, "runs": figures[name, prec]})
        print(f"| {preset} vs {name} | {batch} | {prec} | {p:,.0f} | {g:,.0f} | {g / p:.2f}x |")
    if "fp32" in precisions and "bf16" in precisions:
        print("\nganforge bf16 against the peer as the tutorial wrote it (fp32):")
        for name in names:
            p = statistics.median(figures[name, "fp32"]["peer"])
            g = statistics.median(figures[name, "bf16"]["ganforge"])
            print(f"  {PAIRS[name][0]}: {g:,.0f} / {p:,.0f} img/s = {g / p:.2f}x")
    if args.json:
        Path(args.json).write_text(json.dumps(rows, indent=2))


if __name__ == "__main__":
    main()
