"""Data-parallel training with torchrun on the CPU (gloo, 2 processes): one set of outputs, the
same weights as one process with the same global batch, and resumes across process counts."""

import json
import os
import subprocess
import sys

import pytest
import torch
from safetensors.torch import load_file

from ganforge import TrainConfig, Trainer
from ganforge.errors import GanforgeError
from ganforge.training.distributed import Context

# BatchNorm in G (synchronised over the processes), Adam, the concat D update.
CONFIG = {"preset": "dcgan-28-fast", "dataset": "mnist-sample", "batch_size": 16, "extra": {"width": 4},
          "progress": False, "grid_every": 2, "log_every": 1}
TOLERANCE = 1e-5  # float sums in another order; measured 6e-7 after 4 steps


def quiet(*args, **kwargs):
    pass


def torchrun(args: list[str], cwd, nproc: int = 2) -> subprocess.CompletedProcess:
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone", f"--nproc_per_node={nproc}",
           "-m", "ganforge", "train", *args]
    return subprocess.run(cmd, cwd=cwd, env=env, capture_output=True, text=True, timeout=300)


def write_config(path, **overrides) -> str:
    import yaml

    path.write_text(yaml.safe_dump({**CONFIG, **overrides}))
    return str(path)


def weights(run_dir) -> dict[str, torch.Tensor]:
    tensors = load_file(str(run_dir / "checkpoints" / "last.safetensors"))
    return {k: v for k, v in tensors.items() if not k.startswith("rng/")}


def assert_close(a: dict, b: dict) -> None:
    assert a.keys() == b.keys()
    worst = max((a[k].double() - b[k].double()).abs().max().item() for k in a)
    assert worst <= TOLERANCE, worst


@pytest.fixture(scope="module")
def single(tmp_path_factory):
    out = tmp_path_factory.mktemp("single") / "run"
    with torch.random.fork_rng():
        Trainer(TrainConfig(**CONFIG, steps=4, out=str(out)), log=quiet).train()
    return out


def test_two_processes_match_one_and_write_one_set_of_outputs(tmp_path, single):
    cfg = write_config(tmp_path / "cfg.yaml", steps=4)
    proc = torchrun(["--config", cfg, "--out", "run"], cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr[-3000:]
    run = tmp_path / "run"
    assert_close(weights(run), weights(single))
    # One writer: each step logged once, one grid per grid step, one checkpoint, no temporary files.
    steps = [json.loads(line)["step"] for line in (run / "log.jsonl").read_text().splitlines()]
    assert steps == [1, 2, 3, 4]
    assert sorted(p.name for p in (run / "grids").iterdir()) == [
        "step_000000.png", "step_000002.png", "step_000004.png"]
    assert [p.name for p in (run / "checkpoints").iterdir()] == ["last.safetensors"]
    assert not list(run.rglob("*.tmp"))
    assert proc.stdout.count("done: 4 steps") == 1  # only the main process talks
    assert "x 2 processes" in proc.stdout


def test_resume_with_another_number_of_processes(tmp_path, single):
    # Two steps in one process, two more in two processes: the same as four steps in one.
    run = tmp_path / "run"
    with torch.random.fork_rng():
        Trainer(TrainConfig(**CONFIG, steps=2, out=str(run)), log=quiet).train()
    proc = torchrun(["--resume", str(run), "--steps", "4"], cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert_close(weights(run), weights(single))
    steps = [json.loads(line)["step"] for line in (run / "log.jsonl").read_text().splitlines()]
    assert steps == [1, 2, 3, 4]


def test_global_batch_must_divide_among_processes(tmp_path, monkeypatch):
    import ganforge.training.build as build

    monkeypatch.setattr(build, "init_from_env", lambda device: (Context(rank=0, world=3), device))
    with pytest.raises(GanforgeError, match=r"batch size 16 .* 3 processes"):
        Trainer(TrainConfig(**CONFIG, steps=1, out=str(tmp_path / "run")), log=quiet)
