"""Run folders written by ganforge 0.1.0 keep working, bit for bit on the machine that recorded them.

``fixtures/runs-0.1.0/`` holds five tiny runs made by ganforge 0.1.0 on mnist-sample (a conditional run,
the MLP tutorial's ``separate`` scheme, EMA with lazy R1 and DiffAugment, a ``simultaneous`` step, and a
ResNet with WGAN-GP and two D steps), and ``expected.json`` what 0.1.0 computed from them: 16 samples
(seed 3), the weights after resuming each run for a few steps, and that run's samples. Float results
depend on the CPU's kernels, so each record is keyed by torch version, CPU model, the instruction sets
torch, oneDNN and MKL may use, and threads; on a machine with a record the test demands identical bytes,
elsewhere the samples must agree with the reference arrays to within float rounding (a broken loop misses
by far more).
"""

from __future__ import annotations

import hashlib
import json
import os
import platform
import shutil
from pathlib import Path

import numpy as np
import pytest
import torch
from safetensors import safe_open

from ganforge.cli import main

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "runs-0.1.0"
EXPECTED = json.loads((FIXTURES / "expected.json").read_text())
RESUME_TO = {"conditional": 10, "mlp-sgd-separate": 10, "ema-r1-augment": 10, "simultaneous": 10,
             "resnet-gp-nsteps": 6}


@pytest.fixture(autouse=True)
def _recorded_threads():
    """The records were made with two threads, and the sums of a matrix product depend on the thread count."""
    before = torch.get_num_threads()
    torch.set_num_threads(min(2, os.cpu_count() or 1))
    yield
    torch.set_num_threads(before)


def cpu_model() -> str:
    """Vendor, family and model of the CPU: two CPUs with the same instruction sets (say AVX-512 on an Intel
    Xeon and on an AMD Zen 4) still run different kernels, so a record holds on its own CPU model only."""
    try:
        info = dict(line.split(":", 1) for line in Path("/proc/cpuinfo").read_text().splitlines() if ":" in line)
        return " ".join(info.get(k, "?").strip() for k in ("vendor_id", "cpu family", "model"))
    except OSError:
        return platform.processor() or platform.machine()


def machine_key() -> str:
    return (f"torch {torch.__version__.split('+')[0]}, {cpu_model()}, {torch.backends.cpu.get_cpu_capability()}, "
            f"onednn {os.environ.get('ONEDNN_MAX_CPU_ISA', 'native')}, "
            f"mkl {os.environ.get('MKL_ENABLE_INSTRUCTIONS', 'native')}, {torch.get_num_threads()} threads")


def sha(array: np.ndarray) -> str:
    return hashlib.sha256(np.ascontiguousarray(array).tobytes()).hexdigest()


def sample(run: Path, out: Path, *args: str) -> np.ndarray:
    assert main(["sample", str(run), "--seed", "3", "--n", "16", "--format", "npz", "--out", str(out), *args]) == 0
    with np.load(out) as z:
        return z["images"]


def close_enough(got: np.ndarray, want: np.ndarray) -> None:
    """uint8 images from the same weights on another instruction set: a few pixels may round the other way."""
    diff = np.abs(got.astype(np.int16) - want.astype(np.int16))
    # Rounding moves a resumed run's samples by at most 1 level, 0.03-0.15 on average (AVX-512 against AVX2,
    # two threads against one); four more training steps move them by 1.9-17.9 on average, 5-70 at most.
    assert diff.max() <= 4 and diff.mean() < 0.5, (diff.max(), diff.mean())


@pytest.mark.parametrize("name", sorted(RESUME_TO))
def test_an_old_run_samples_and_resumes_as_0_1_0_did(tmp_path, name, capsys):
    record = EXPECTED.get(machine_key(), {}).get(name)
    reference = np.load(FIXTURES / f"{name}.reference.npz")
    run = tmp_path / name
    shutil.copytree(FIXTURES / name, run)  # the fixture stays untouched

    images = sample(run, tmp_path / "s.npz")
    if record:
        assert sha(images) == record["sample_sha256"]
    else:
        close_enough(images, reference["sample"])
    if name == "conditional" and record:
        sevens = sample(run, tmp_path / "c.npz", "--class", "7", "--n", "8", "--seed", "1")
        assert sha(sevens) == record["sample_class7_sha256"]

    assert main(["train", "--resume", str(run), "--steps", str(RESUME_TO[name]), "--no-progress"]) == 0
    resumed = sample(run, tmp_path / "r.npz")
    if record:
        with safe_open(str(run / "checkpoints" / "last.safetensors"), "pt") as f:
            got = {k: hashlib.sha256(f.get_tensor(k).contiguous().numpy().tobytes()).hexdigest()
                   for k in sorted(f.keys())}
        assert got == record["resumed_tensors_sha256"]
        assert sha(resumed) == record["resumed_sample_sha256"]
    else:
        close_enough(resumed, reference["resumed_sample"])
