"""The benchmark scripts run end to end at sizes that take seconds on any CPU (AVX2 without native bf16
included: CI runs this file again with the dispatch limited to AVX2): they must not rot between measurements.
No assertion here depends on the machine's speed."""

import json
import os
import subprocess
import sys
from pathlib import Path

BENCH = Path(__file__).resolve().parents[2] / "bench"


def test_throughput_prints_a_table_and_json(tmp_path):
    out = tmp_path / "tp.json"
    r = subprocess.run([sys.executable, str(BENCH / "throughput.py"), "--presets", "mlp-adam,dcgan-28-cond",
                        "--steps", "1", "--warmup", "1", "--repeats", "1", "--sample-batch", "8", "--batch-size", "8",
                        "--ceiling-size", "256", "--json", str(out)], capture_output=True, text=True, timeout=300,
                       cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    assert "| mlp-adam | cpu | 8 |" in r.stdout
    assert "| dcgan-28-cond | cpu | 8 |" in r.stdout  # a conditional G samples with labels
    row = json.loads(out.read_text())["results"][0]
    assert row["train_images_per_sec"] > 0 and row["gflop_per_image"] > 0.02
    assert 0 < row["fraction_of_matmul_ceiling"] < 10


def test_throughput_counts_the_models_flops_and_what_ran(tmp_path):
    # dcgan-28's first layer takes the Fourier route and its two losses share D's backward: fewer FLOPs
    # run than the model's count (accel off), unless accel is off for the run too.
    rows = {}
    for setting in ("fourier,col2im,fast_dropout,shared_backward", "off", "col2im,fast_dropout,shared_backward"):
        out = tmp_path / f"tp{len(rows)}.json"
        r = subprocess.run([sys.executable, str(BENCH / "throughput.py"), "--presets", "dcgan-28", "--steps", "1",
                            "--warmup", "1", "--repeats", "1", "--sample-batch", "8", "--batch-size", "8",
                            "--ceiling-size", "0", "--accel", setting, "--json", str(out)],
                           capture_output=True, text=True, timeout=300)
        assert r.returncode == 0, r.stderr
        rows[setting] = json.loads(out.read_text())["results"][0]
    fast, as_written, shared_only = rows.values()
    assert as_written["accel"] == [] and "fourier" in fast["accel"] and "fourier" not in shared_only["accel"]
    assert fast["gflop_per_image"] == as_written["gflop_per_image"] == as_written["run_gflop_per_image"]
    assert fast["run_gflop_per_image"] < 0.75 * fast["gflop_per_image"]
    # The shared backward alone saves D's input gradient on the fakes (its 64 -> 128 convolution: 4.6%).
    assert shared_only["run_gflop_per_image"] < 0.97 * shared_only["gflop_per_image"]


def test_accel_bench_prints_each_trick_on_and_off(tmp_path):
    out = tmp_path / "accel.json"
    r = subprocess.run([sys.executable, str(BENCH / "accel.py"), "--quick", "--json", str(out)], capture_output=True,
                       text=True, timeout=300)
    assert r.returncode == 0, r.stderr
    rows = json.loads(out.read_text())["results"]
    assert [row["trick"] for row in rows] == ["fourier", "col2im", "fast_dropout", "shared_backward", "allocator"]
    for row in rows:
        assert row["on_ms"] > 0 and row["off_ms"] > 0 and row["ratio"] > 0
        assert f"| {row['trick']} | {row['timed']} |" in r.stdout


def test_throughput_in_bf16_measures_against_a_bf16_ceiling_only_where_bf16_is_native(tmp_path):
    import torch

    from ganforge.accel.settings import native_bf16

    out = tmp_path / "tp.json"
    r = subprocess.run([sys.executable, str(BENCH / "throughput.py"), "--presets", "mlp-adam", "--steps", "1",
                        "--warmup", "1", "--repeats", "1", "--sample-batch", "8", "--batch-size", "8",
                        "--precision", "bf16", "--ceiling-size", "256", "--json", str(out)],
                       capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stderr
    assert "GFLOP/s (bf16)" in r.stdout and "| mlp-adam | cpu | 8 | bf16 |" in r.stdout
    ceiling = json.loads(out.read_text())["info"]["matmul_ceiling_gflops"]
    if native_bf16(torch.device("cpu")):
        assert ceiling > 0 and "measured 256^3 matmul" in r.stdout
    else:  # an emulated bf16 product is slow and meaningless: skipped, and the output says so
        assert ceiling is None and "no native bf16 on this CPU" in r.stdout


def test_compare_peers_runs_each_side_at_each_precision(tmp_path):
    # A stand-in for the peers' python: it records how it was called and reports a fixed speed.
    calls = tmp_path / "calls.txt"
    fake = tmp_path / "peer-python"
    fake.write_text(f'#!/bin/sh\necho "$@" >> {calls}\necho \'{{"images_per_sec": 100.0}}\'\n')
    fake.chmod(0o755)
    peers = tmp_path / "peers"
    peers.mkdir()
    out = tmp_path / "cmp.json"
    r = subprocess.run([sys.executable, str(BENCH / "compare_peers.py"), "--peer-python", str(fake), "--peers",
                        str(peers), "--only", "keras_mlp_adam", "--precisions", "fp32,bf16", "--rounds", "1",
                        "--steps", "1", "--warmup", "1", "--batch", "8", "--json", str(out)],
                       capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stderr
    fp32_call, bf16_call = calls.read_text().splitlines()
    assert "mixed_bfloat16" not in fp32_call and fp32_call.split()[0].endswith("keras_mlp_adam.py")
    assert "mixed_bfloat16" in bf16_call and "keras_mlp_adam.py" in bf16_call  # the peer under Keras' policy
    assert "--batch 8" in fp32_call  # both sides at the one batch size asked for
    rows = {row["precision"]: row for row in json.loads(out.read_text())}
    assert set(rows) == {"fp32", "bf16"}
    for row in rows.values():
        assert row["peer_images_per_sec"] == 100.0
        assert row["ratio"] == row["ganforge_images_per_sec"] / 100.0 > 0
    assert "ganforge bf16 against the peer as the tutorial wrote it" in r.stdout


def test_compare_peers_refuses_an_unknown_precision(tmp_path):
    r = subprocess.run([sys.executable, str(BENCH / "compare_peers.py"), "--peer-python", "python",
                        "--precisions", "fp16"], capture_output=True, text=True, timeout=60)
    assert r.returncode != 0 and "unknown precision 'fp16'" in r.stderr


def test_gpu_check_script_dry_runs_on_the_cpu(tmp_path):
    # The prepared GPU run (bench/gpu_check.sh) meets a GPU rarely: its plumbing must not rot.
    env = {**os.environ, "OUT": str(tmp_path / "out"), "GPU_CHECK_DEVICE": "cpu", "GPU_CHECK_QUICK": "1",
           "PYTHON": sys.executable, "GANFORGE_DATA_DIR": str(tmp_path / "no-data")}
    r = subprocess.run(["bash", str(BENCH / "gpu_check.sh")], capture_output=True, text=True, timeout=600, env=env)
    assert r.returncode == 0, r.stdout + r.stderr
    out = tmp_path / "out"
    assert sorted(p.name for p in out.iterdir()) == ["env.txt", "results.json", "samples.png", "steps.log",
                                                      "summary.txt"]
    summary = (out / "summary.txt").read_text()
    for name in ("train_fp32", "resume_fp32", "sample", "train_bf16_compiled", "throughput_fp32_b16",
                 "throughput_bf16_b16"):
        assert f"{name}: rc 0" in summary
    assert "time_to_quality: skipped" in summary
    results = json.loads((out / "results.json").read_text())
    assert results["throughput_bf16_b16"]["results"][0]["dtype"] == "bf16"


def test_gpu_quality_script_dry_runs_on_the_cpu(tmp_path):
    # bench/gpu_quality.sh (the long run for a GPU): time the first steps, train on with a decay,
    # bring the run back. With no time left after 4 first steps it trains to the minimum, twice that.
    env = {**os.environ, "OUT": str(tmp_path / "out"), "GPU_QUALITY_DEVICE": "cpu",
           "GPU_QUALITY_DATASET": "mnist-sample", "GPU_QUALITY_TRAIN_S": "0", "GPU_QUALITY_FIRST_STEPS": "4",
           "PYTHON": sys.executable,
           "GANFORGE_DATA_DIR": str(tmp_path / "no-data")}
    r = subprocess.run(["bash", str(BENCH / "gpu_quality.sh")], capture_output=True, text=True, timeout=600, env=env)
    assert r.returncode == 0, r.stdout + r.stderr
    out = tmp_path / "out"
    assert sorted(p.name for p in out.iterdir()) == ["config.json", "env.txt", "final_grid.png", "last.safetensors",
                                                      "log.jsonl", "steps.log", "summary.txt"]
    summary = (out / "summary.txt").read_text()
    assert "first: rc 0" in summary and "decay: rc 0" in summary and "eval: skipped" in summary
    assert "training to 8 steps, the last 4 decaying" in summary
    config = json.loads((out / "config.json").read_text())
    assert (config["preset"], config["steps"], config["lr_schedule"], config["lr_decay_steps"]) == (
        "dcgan-28-cond-wide", 8, "linear", 4)
    assert json.loads((out / "log.jsonl").read_text().splitlines()[-1])["step"] == 8


def test_folder_data_prints_a_row_per_folder(tmp_path):
    sys.path.insert(0, str(BENCH.parent / "tests"))
    from helpers import shapes_folder

    shapes_folder(tmp_path / "shapes", 12, (20, 20))
    r = subprocess.run([sys.executable, str(BENCH / "folder_data.py"), str(tmp_path / "shapes"), "--size", "16",
                        "--batch-size", "4", "--batches", "2", "--workers", "1"],
                       capture_output=True, text=True, timeout=300, cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    assert "| shapes | 12 |" in r.stdout and r.stdout.count("img/s") == 2


def test_gpu_colour_script_dry_runs_on_the_cpu(tmp_path):
    # bench/gpu_colour.sh (the colour quality presets on a folder, for a GPU): the timed first steps, the run,
    # the pretrained export, and at most the 8 files the device brings back (4 per preset pair); one tiny preset.
    from PIL import Image

    folder = tmp_path / "shapes"
    folder.mkdir()
    for i in range(24):
        Image.new("RGB", (64, 64), ((i * 40) % 256, (i * 90) % 256, 200)).save(folder / f"{i:02d}.png")
    env = {**os.environ, "OUT": str(tmp_path / "out"), "GPU_COLOUR_DEVICE": "cpu", "GPU_COLOUR_TRAIN_S": "0",
           "GPU_COLOUR_FIRST_STEPS": "2", "GPU_COLOUR_FOLDER": str(folder), "PYTHON": sys.executable,
           "GPU_COLOUR_ARGS": "--width 2 --batch-size 8", "GPU_COLOUR_PRESETS": "r3gan-64-rgb"}
    r = subprocess.run(["bash", str(BENCH / "gpu_colour.sh")], capture_output=True, text=True, timeout=600, env=env)
    assert r.returncode == 0, r.stdout + r.stderr
    names = sorted(p.name for p in (tmp_path / "out").iterdir())
    assert names == ["r3gan-64-rgb-generator.safetensors", "r3gan-64-rgb-run.tar", "steps.log", "summary.txt"]
    summary = (tmp_path / "out" / "summary.txt").read_text()
    assert "r3gan-64-rgb: 2 steps timed; training 2 steps" in summary and "r3gan-64-rgb-export: rc 0" in summary
    import tarfile

    with tarfile.open(tmp_path / "out" / "r3gan-64-rgb-run.tar") as tar:
        assert {"config.json", "run-config.json", "log.jsonl", "final_grid.png"} <= set(tar.getnames())


def test_compare_dcgan_peer_runs_both_sides_for_the_same_time(tmp_path):
    import pytest
    from PIL import Image

    peer = BENCH.parents[1] / "shared" / "peers" / "pytorch_examples_dcgan" / "main.py"
    if not peer.is_file():
        pytest.skip(f"pytorch/examples' dcgan is not at {peer}")
    folder = tmp_path / "shapes"
    folder.mkdir()
    for i in range(70):  # one batch of 64 and a bit
        Image.new("RGB", (64, 64), ((i * 40) % 256, (i * 90) % 256, 200)).save(folder / f"{i:02d}.png")
    out = tmp_path / "cmp.json"
    r = subprocess.run([sys.executable, str(BENCH / "compare_dcgan_peer.py"), "--folder", str(folder),
                        "--seconds", "15", "--presets", "dcgan-32-rgb-fast", "--n", "0", "--work",
                        str(tmp_path / "work"), "--json", str(out)], capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stderr
    peer_row, ours = json.loads(out.read_text())["rows"]
    assert peer_row["side"] == "pytorch/examples dcgan" and ours["side"] == "dcgan-32-rgb-fast"
    # How far each side gets in 15 s depends on the machine; that each ran and was stopped does not.
    assert ours["steps"] >= 0 and (tmp_path / "work" / "dcgan-32-rgb-fast").is_dir()
    assert (tmp_path / "work" / "peer-out").is_dir()
    assert "| pytorch/examples dcgan |" in r.stdout and "| dcgan-32-rgb-fast |" in r.stdout
