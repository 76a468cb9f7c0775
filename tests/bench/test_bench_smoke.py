"""The benchmark scripts run end to end (tiny settings): they must not rot between measurements."""

import json
import subprocess
import sys
from pathlib import Path

BENCH = Path(__file__).resolve().parents[2] / "bench"


def test_throughput_prints_a_table_and_json(tmp_path):
    out = tmp_path / "tp.json"
    r = subprocess.run([sys.executable, str(BENCH / "throughput.py"), "--presets", "mlp-adam", "--steps", "1",
                        "--warmup", "1", "--repeats", "1", "--sample-batch", "8", "--batch-size", "8",
                        "--json", str(out)], capture_output=True, text=True, timeout=300, cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    assert "| mlp-adam | cpu | 8 |" in r.stdout
    row = json.loads(out.read_text())["results"][0]
    assert row["train_images_per_sec"] > 0 and row["gflop_per_image"] > 0.02
    assert 0 < row["fraction_of_matmul_ceiling"] < 10
