#!/usr/bin/env bash
# The GPU checks as one prepared run, for a GPU (it fits 15 minutes of device time in
# all, a command at most 10): CUDA correctness first (training in fp32 and bf16, torch.compile,
# checkpoint and resume, sampling), then the targets: dcgan-28's MNIST epoch and sampling rate, and
# the default preset's time to recognisable digits.
#
#   mkdir -p shared/data && cp -r DATA/mnist shared/data/    # here, once (shared/ is ignored)
#   device run: bash bench/gpu_check.sh          (timeout_s 570; figures and logs come back in $OUT)
#   GPU_CHECK_DEVICE=cpu GPU_CHECK_QUICK=1 bash bench/gpu_check.sh     # dry run of the plumbing on a CPU
#
# Each step has its own time limit, so one that hangs costs only its share, and the steps after it
# still run. What comes back (the device tool returns at most 8 files): summary.txt (each step's
# outcome and seconds), env.txt, steps.log (every step's output), results.json (the benchmarks' JSON)
# and samples.png. The machine's python (with torch) is used as it is; ganforge runs from src/ without
# installing, needing none of its web or Inception extras.
set -uo pipefail
cd "$(dirname "$0")/.."
export PYTHONPATH="$PWD/src${PYTHONPATH:+:$PYTHONPATH}" PYTHONUNBUFFERED=1
OUT=${OUT:-gpu-check-out}
DEVICE=${GPU_CHECK_DEVICE:-cuda}
QUICK=${GPU_CHECK_QUICK:-0}
PY=${PYTHON:-python3}
DATA=${GANFORGE_DATA_DIR:-shared/data}
mkdir -p "$OUT"
WORK=$(mktemp -d)
status=0

# shellcheck source=bench/steps.sh
source bench/steps.sh

# QUICK (the CPU dry run in the test suite): sizes that take seconds on any CPU, bf16 included where it is
# emulated (no AVX512_BF16): a batch of 16 and a 256^3 matmul ceiling.
if [ "$QUICK" = 1 ]; then
    STEPS=4; RUNS="fp32:16 bf16:16"; SAMPLE=64; TP_STEPS=2; TTQ="--max-steps 20 --check-every 10 --n 200"
    COMPILE=none; BATCH="--batch-size 16"; CEILING=256
else
    STEPS=200; RUNS="fp32:1024 bf16:1024 bf16:4096"; SAMPLE=65536; TP_STEPS=30; TTQ="--check-every 100 --n 5000"
    COMPILE=default; BATCH=""; CEILING=2048
fi

{ date -u; nvidia-smi 2>/dev/null; $PY -c "import torch; print('torch', torch.__version__, 'cuda', torch.version.cuda,
'device', torch.cuda.get_device_name() if torch.cuda.is_available() else 'none')"; } > "$OUT/env.txt" 2>&1

# 1. Correctness on the device: train, resume, sample; bf16 and compile each on their own.
A="$WORK/fp32"
step train_fp32 180 $PY -m ganforge train --preset dcgan-28-fast --dataset mnist-sample --device "$DEVICE" \
    --steps "$STEPS" --compile none --out "$A" --checkpoint-every "$STEPS"
step resume_fp32 120 $PY -m ganforge train --resume "$A" --steps $((2 * STEPS)) --device "$DEVICE"
step sample 60 $PY -m ganforge sample "$A" --n 64 --device "$DEVICE" --out "$OUT/samples.png"
# shellcheck disable=SC2086  # BATCH is empty or one flag with its value
step train_bf16_compiled 240 $PY -m ganforge train --preset dcgan-28 --dataset mnist-sample --device "$DEVICE" \
    --steps "$STEPS" --precision bf16 --compile "$COMPILE" --out "$WORK/bf16" $BATCH

# 2. Speed: dcgan-28 at a few (precision, batch size) pairs, compiled (the trainer's GPU default).
for run in $RUNS; do
    p=${run%%:*} b=${run##*:}
    step "throughput_${p}_b$b" 150 $PY bench/throughput.py --presets dcgan-28 --device "$DEVICE" --batch-size "$b" \
        --precision "$p" --compile "$COMPILE" --steps "$TP_STEPS" --sample-batch "$SAMPLE" --ceiling-size "$CEILING" \
        --json "$WORK/throughput_${p}_b$b.json"
done

# 3. Time to quality of the default preset (needs MNIST under $DATA; the evaluator trains on demand).
if [ -d "$DATA/mnist" ]; then
    # shellcheck disable=SC2086  # TTQ holds several flags
    step time_to_quality 180 $PY bench/time_to_quality.py --device "$DEVICE" --data-dir "$DATA" $TTQ \
        --json "$WORK/time_to_quality.json"
else
    echo "time_to_quality: skipped, no MNIST under $DATA" | tee -a "$OUT/summary.txt"
fi

$PY - "$WORK" "$OUT/results.json" <<'PYEOF'
import json, pathlib, sys
work, out = pathlib.Path(sys.argv[1]), pathlib.Path(sys.argv[2])
out.write_text(json.dumps({p.stem: json.loads(p.read_text()) for p in sorted(work.glob("*.json"))}, indent=2))
PYEOF
grep -h "^| dcgan\|reached\|did not reach" "$WORK"/*.log | tee -a "$OUT/summary.txt"
rm -rf "$WORK"
exit $status
