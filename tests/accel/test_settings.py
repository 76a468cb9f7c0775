"""Speed settings: fused optimisers, channels_last, torch.compile and bf16 autocast, and the allocator
setting. Each is checked to be in effect and (but for bf16) to leave the results as they were."""

import json
import subprocess
import sys

import pytest
import torch

from ganforge import TrainConfig, Trainer
from ganforge.accel.settings import (
    CHANNELS_LAST,
    COMPILE_MODES,
    PRECISIONS,
    use_channels_last,
    use_compile,
    with_precision,
)
from ganforge.errors import GanforgeError
from helpers import resolved

BASE = {"preset": "dcgan-28-fast", "dataset": "mnist-sample", "batch_size": 8, "extra": {"width": 4},
        "progress": False}


def quiet(*args, **kwargs):
    pass


def trained(tmp_path, name: str, steps: int = 3, **overrides) -> Trainer:
    t = Trainer(TrainConfig(**{**BASE, **overrides}, steps=steps, out=str(tmp_path / name)), log=quiet)
    t.train()
    return t


def max_diff(a: Trainer, b: Trainer) -> float:
    return max((x - y).abs().max().item() for x, y in zip(a.G.state_dict().values(), b.G.state_dict().values())
               if x.is_floating_point())


def test_optimisers_are_fused_on_cpu(tmp_path):
    t = Trainer(TrainConfig(**BASE, steps=1, out=str(tmp_path / "r")), log=quiet)
    assert t.opt_g.defaults["fused"] and t.opt_d.defaults["fused"]
    sgd = Trainer(TrainConfig(**{**BASE, "preset": "mlp-sgd", "extra": {}}, steps=1, out=str(tmp_path / "s")),
                  log=quiet)
    assert isinstance(sgd.opt_g, torch.optim.SGD) and sgd.opt_g.defaults["fused"]


def test_channels_last_is_on_for_conv_nets_and_changes_nothing_but_rounding(tmp_path):
    on, off = trained(tmp_path, "on"), trained(tmp_path, "off", channels_last="off")
    def second_conv(t: Trainer) -> torch.nn.Conv2d:  # one with several input channels: NHWC != NCHW
        return [m for m in t.D.modules() if isinstance(m, torch.nn.Conv2d)][1]

    assert second_conv(on).weight.is_contiguous(memory_format=torch.channels_last)
    assert not second_conv(off).weight.is_contiguous(memory_format=torch.channels_last)
    assert max_diff(on, off) < 1e-5
    assert not use_channels_last("auto", [torch.nn.Linear(2, 2)])  # nothing to gain for an MLP


def test_compiled_step_matches_eager_and_checkpoints_the_same_keys(tmp_path, monkeypatch):
    # aot_eager: the same graph capture and autograd as inductor, without generating C++ (minutes on 2 cores).
    monkeypatch.setenv("GANFORGE_COMPILE_BACKEND", "aot_eager")
    torch._dynamo.reset()
    eager, comp = trained(tmp_path, "eager", compile="none"), trained(tmp_path, "comp", compile="default")
    assert comp.compile_mode == "default" and comp.G_run is not comp.G
    assert max_diff(eager, comp) < 1e-6
    from safetensors import safe_open

    keys = []
    for name in ("eager", "comp"):
        with safe_open(str(tmp_path / name / "checkpoints" / "last.safetensors"), "pt") as f:
            keys.append(sorted(f.keys()))
    assert keys[0] == keys[1]  # no '_orig_mod.' prefixes: a compiled run resumes and samples like any other
    Trainer.resume(tmp_path / "comp", steps=4, log=quiet).train()


def test_compile_auto_means_gpu_only():
    assert use_compile("auto", torch.device("cpu")) == "none"
    assert use_compile("auto", torch.device("cuda")) == "default"
    with pytest.raises(GanforgeError, match="compile must be one of"):
        use_compile("fast", torch.device("cpu"))


def test_bf16_autocast_runs_on_cpu_and_changes_only_the_rounding(tmp_path):
    fp32, bf16 = trained(tmp_path, "fp32"), trained(tmp_path, "bf16", precision="bf16")
    assert all(p.dtype == torch.float32 for p in bf16.G.parameters())  # weights stay fp32
    diff = max_diff(fp32, bf16)
    assert 0 < diff < 0.05  # autocast was in effect, and the run is still the same run
    out = with_precision(bf16.G, "bf16", torch.device("cpu"))(torch.randn(2, bf16.cfg.z_dim))
    assert out.dtype == torch.float32


def test_bad_speed_settings_name_the_field():
    with pytest.raises(GanforgeError, match="precision"):
        resolved(**BASE, precision="fp16")
    with pytest.raises(GanforgeError, match="channels_last"):
        resolved(**BASE, channels_last="yes")
    with pytest.raises(GanforgeError, match="accel"):
        resolved(**BASE, accel="fast")


def test_the_choices_and_their_one_line_errors():
    assert PRECISIONS == ("fp32", "bf16") and CHANNELS_LAST == ("auto", "on", "off")
    assert COMPILE_MODES[:2] == ("auto", "none")
    for call, name in ((lambda: with_precision(lambda: None, "fp16", torch.device("cpu")), "precision"),
                       (lambda: use_channels_last("yes", []), "channels_last"),
                       (lambda: use_compile("fast", torch.device("cpu")), "compile")):
        with pytest.raises(GanforgeError) as e:
            call()
        assert str(e.value).startswith(f"{name} must be one of") and "\n" not in str(e.value)


def test_keep_freed_memory_stops_page_faults_for_reallocated_activations():
    # A fresh process, so glibc's defaults are in force unless the function changes them. Each round
    # reports glibc's own accounting (mallinfo2: bytes mmapped while the tensors live, heap size while
    # they live and after they are freed) and the page faults the round cost.
    code = """
import ctypes, json, resource, sys, torch
from ganforge.accel.allocator import keep_freed_memory
class MallInfo2(ctypes.Structure):
    _fields_ = [(n, ctypes.c_size_t) for n in ("arena", "ordblks", "smblks", "hblks", "hblkhd", "usmblks",
                                              "fsmblks", "uordblks", "fordblks", "keepcost")]
libc = ctypes.CDLL("libc.so.6")
libc.mallinfo2.restype = MallInfo2
if sys.argv[1] == "1":
    assert keep_freed_memory()
rounds = []
for _ in range(4):
    f0, m0 = resource.getrusage(resource.RUSAGE_SELF).ru_minflt, libc.mallinfo2()
    ts = [torch.ones(6 << 20) for _ in range(3)]  # three 24 MiB activations, freed together
    live = libc.mallinfo2()
    del ts
    freed = libc.mallinfo2()
    rounds.append({"mmapped": live.hblkhd - m0.hblkhd, "trimmed": live.arena - freed.arena,
                   "faults": resource.getrusage(resource.RUSAGE_SELF).ru_minflt - f0})
print(json.dumps(rounds))
"""
    if not sys.platform.startswith("linux"):
        pytest.skip("glibc's malloc only")
    try:
        import ctypes
        ctypes.CDLL("libc.so.6").mallinfo2  # noqa: B018 -- glibc 2.33 or newer
    except (OSError, AttributeError):
        pytest.skip("needs glibc's mallinfo2")
    rounds = {mode: json.loads(subprocess.run([sys.executable, "-c", code, mode], capture_output=True, text=True,
                                              check=True).stdout) for mode in ("0", "1")}
    kept = rounds["1"]
    # Kept: every activation comes from the heap, never a fresh mmap, and freeing it never shrinks the heap.
    assert all(r["mmapped"] <= 0 for r in kept), kept
    assert all(r["trimmed"] <= 0 for r in kept), kept
    # Once the heap has grown to fit a step, a step costs no page faults (where the kernel counts them).
    assert kept[-1]["faults"] < 500, kept
    # The control: glibc's defaults mmap or trim at least once here (that is what costs the faults:
    # ~12,000 per round measured). Where they do neither, the two cannot be told apart on this machine.
    default = rounds["0"]
    if not any(r["mmapped"] > 0 or r["trimmed"] > 0 for r in default):
        pytest.skip(f"glibc's defaults here already keep freed memory: {default}")
