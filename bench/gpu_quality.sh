#!/usr/bin/env bash
# The long run on a GPU: the recipe that gave the best CPU FIDs (dcgan-28-cond-wide: a
# constant learning rate, then a linear decay to 0 over the last half) for as many steps as fit
# TRAIN_S seconds of the device. On the CPU a longer decay kept paying (Fashion-MNIST 13.05, 12.41,
# 11.80, 10.08 for 6,000, 10,000, 20,000, 80,000 decay steps), and one core runs ~7 steps/s: the
# GPU's steps are what the FID targets need.
#
#   mkdir -p shared/data && cp -r DATA/mnist shared/data/    # here, once (shared/ is ignored)
#   device run: bash bench/gpu_quality.sh           (timeout_s 570; GPU_QUALITY_DATASET=fashion-mnist too)
#   GPU_QUALITY_DEVICE=cpu GPU_QUALITY_DATASET=mnist-sample GPU_QUALITY_TRAIN_S=0 GPU_QUALITY_FIRST_STEPS=4 \
#       bash bench/gpu_quality.sh                   # dry run of the plumbing on a CPU
#
# The Inception weights (95 MB) are over what travels to the device (64 MiB), so the device trains
# and measures the domain metrics; the run comes back in $OUT (config.json, log.jsonl,
# last.safetensors, final_grid.png, metrics.json) and the Inception FID is measured here, from the
# repo root (the run's data_dir is shared/data):
#   mkdir -p RUN/checkpoints && cp OUT/{config.json,log.jsonl,metrics.json} RUN/ \
#       && cp OUT/last.safetensors RUN/checkpoints/
#   ganforge eval RUN --metrics fid,kid,domain-fid,class-accuracy --n 10000 --n-inception 10000 \
#       --inception-weights weights-inception-2015-12-05-6726825d.pth
set -uo pipefail
cd "$(dirname "$0")/.."
export PYTHONPATH="$PWD/src${PYTHONPATH:+:$PYTHONPATH}" PYTHONUNBUFFERED=1
OUT=${OUT:-gpu-quality-out}
DEVICE=${GPU_QUALITY_DEVICE:-cuda}
PY=${PYTHON:-python3}
DATA=${GANFORGE_DATA_DIR:-shared/data}
PRESET=${GPU_QUALITY_PRESET:-dcgan-28-cond-wide}
DATASET=${GPU_QUALITY_DATASET:-mnist}
TRAIN_S=${GPU_QUALITY_TRAIN_S:-360}      # training seconds in all (calibration included)
FIRST=${GPU_QUALITY_FIRST_STEPS:-2000}   # constant-rate steps that also time the device
DECAY=${GPU_QUALITY_DECAY:-0.5}          # share of the run that decays the learning rate
mkdir -p "$OUT"
WORK=$(mktemp -d)
RUN="$WORK/run"
status=0

# shellcheck source=bench/steps.sh
source bench/steps.sh

{ date -u; nvidia-smi 2>/dev/null; $PY -c "import torch; print('torch', torch.__version__, 'cuda', torch.version.cuda,
'device', torch.cuda.get_device_name() if torch.cuda.is_available() else 'none')"; } > "$OUT/env.txt" 2>&1

# The domain metrics need the data set's evaluator, which trains on demand from the data set itself.
EVAL=()
[ -d "$DATA/$DATASET" ] && EVAL=(--eval-every 5000)

# 1. The first steps at the constant rate; the trainer's own clock times them.
step first 300 $PY -m ganforge train --preset "$PRESET" --dataset "$DATASET" --data-dir "$DATA" --device "$DEVICE" \
    --steps "$FIRST" --checkpoint-every "$FIRST" --no-progress --out "$RUN" "${EVAL[@]}" || { rm -rf "$WORK"; exit 1; }

# 2. As many steps as fit the rest of TRAIN_S (at least as many again), the last DECAY of them decaying.
read -r TOTAL DECAY_STEPS < <($PY - "$RUN/log.jsonl" "$FIRST" "$TRAIN_S" "$DECAY" <<'PYEOF'
import json, statistics, sys
log, first, budget, decay = sys.argv[1], int(sys.argv[2]), float(sys.argv[3]), float(sys.argv[4])
rows = [json.loads(line) for line in open(log)]
speed = [r for r in rows if "images_per_sec" in r]
per_step = statistics.median(r["images_per_sec"] for r in speed[len(speed) // 2:]) / (speed[-1]["images"] / speed[-1]["step"])
elapsed = speed[-1]["time"]  # compile and warm-up included
total = first + max(first, int(per_step * (budget - elapsed)))
print(total, min(int(decay * total), total - first))
PYEOF
)
echo "first $FIRST steps timed; training to $TOTAL steps, the last $DECAY_STEPS decaying" | tee -a "$OUT/summary.txt"
step decay $((TRAIN_S + 180)) $PY -m ganforge train --resume "$RUN" --steps "$TOTAL" --lr-schedule linear \
    --lr-decay-steps "$DECAY_STEPS" --device "$DEVICE" --no-progress

# 3. The domain metrics on 10,000 samples (Inception ones only if weights happen to be there).
if [ ${#EVAL[@]} -gt 0 ]; then
    step eval 240 $PY -m ganforge eval "$RUN" --n 10000 --device "$DEVICE" --no-progress
else
    echo "eval: skipped, no $DATASET under $DATA" | tee -a "$OUT/summary.txt"
fi
grep -h "^done\|^metric\|^domain-fid\|^class-\|^fid\|^kid" "$WORK"/decay.log "$WORK"/eval.log 2>/dev/null \
    | tee -a "$OUT/summary.txt"
for f in config.json log.jsonl checkpoints/last.safetensors final_grid.png metrics.json; do
    [ -f "$RUN/$f" ] && cp "$RUN/$f" "$OUT/"
done
rm -rf "$WORK"
exit $status
