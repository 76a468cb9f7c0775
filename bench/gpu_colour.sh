#!/usr/bin/env bash
# The colour quality presets on a folder of one's own images, on a GPU, in one call: resnet-64-rgb and
# the R3GAN-style r3gan-64-rgb each train for about TRAIN_S seconds of the device (a short timed run first sets
# the step count, so each preset's learning-rate schedule runs to its end), then bring back what measures them.
#
#   mkdir -p shared/colour && cp -r /path/to/folder shared/colour/icons64   # here, once (shared/ is ignored)
#   device run: bash bench/gpu_colour.sh          (timeout_s 570)
#   GPU_COLOUR_DEVICE=cpu GPU_COLOUR_TRAIN_S=0 GPU_COLOUR_FOLDER=DIR GPU_COLOUR_ARGS="--width 4 --batch-size 8" \
#       bash bench/gpu_colour.sh                   # dry run of the plumbing on a CPU
#
# The folder travels with the working tree (64 MiB in all); `python bench/colour_folders.py shared/colour
# --only icons64` builds one from Debian's icon themes. Comes back in $OUT (at most 8 files): summary.txt,
# steps.log, and per preset P its sampling generator P-generator.safetensors and P-run.tar (the pretrained
# folder's config.json, the run's config.json, log.jsonl and final grid). Inception FID is measured here (its
# weights are over what travels), from the repo root, where the folder sits at the same path:
#   mkdir -p runs/P && tar -xf OUT/P-run.tar -C runs/P && cp OUT/P-generator.safetensors runs/P/model.safetensors
#   ganforge eval runs/P --metrics fid,kid,pr --n 10000 --n-inception 10000 \
#       --inception-weights weights-inception-2015-12-05-6726825d.pth
set -uo pipefail
cd "$(dirname "$0")/.."
export PYTHONPATH="$PWD/src${PYTHONPATH:+:$PYTHONPATH}" PYTHONUNBUFFERED=1
OUT=${OUT:-gpu-colour-out}
DEVICE=${GPU_COLOUR_DEVICE:-cuda}
PY=${PYTHON:-python3}
FOLDER=${GPU_COLOUR_FOLDER:-shared/colour/icons64}
PRESETS=${GPU_COLOUR_PRESETS:-resnet-64-rgb,r3gan-64-rgb}
TRAIN_S=${GPU_COLOUR_TRAIN_S:-220}      # training seconds per preset, after its timed first steps
FIRST=${GPU_COLOUR_FIRST_STEPS:-200}    # steps that time the device (compile and warm-up included)
read -r -a ARGS <<< "${GPU_COLOUR_ARGS:-}"
mkdir -p "$OUT"
WORK=$(mktemp -d)
status=0

# shellcheck source=bench/steps.sh
source bench/steps.sh

{ date -u; nvidia-smi 2>/dev/null; $PY -c "import torch; print('torch', torch.__version__, 'cuda', torch.version.cuda,
'device', torch.cuda.get_device_name() if torch.cuda.is_available() else 'none')"; } >> "$OUT/summary.txt" 2>&1
[ -d "$FOLDER" ] || { echo "no image folder at $FOLDER (see the header)" | tee -a "$OUT/summary.txt"; exit 1; }

for P in ${PRESETS//,/ }; do
    # 1. A throwaway run of FIRST steps; the trainer's own clock times them.
    step "$P-time" 300 $PY -m ganforge train --preset "$P" --dataset "folder:$FOLDER" --device "$DEVICE" \
        --steps "$FIRST" --log-every 10 --no-progress --out "$WORK/$P-time" "${ARGS[@]}" || continue
    TOTAL=$($PY - "$WORK/$P-time/log.jsonl" "$FIRST" "$TRAIN_S" <<'PYEOF'
import json, statistics, sys
log, first, budget = sys.argv[1], int(sys.argv[2]), float(sys.argv[3])
rows = [r for r in map(json.loads, open(log)) if "images_per_sec" in r]
steps_per_s = statistics.median(r["images_per_sec"] for r in rows[len(rows) // 2:]) / (rows[-1]["images"] / rows[-1]["step"])
print(max(first, int(steps_per_s * budget)))
PYEOF
)
    echo "$P: $FIRST steps timed; training $TOTAL steps" | tee -a "$OUT/summary.txt"
    # 2. The run itself, its schedule over TOTAL steps; then its sampling generator as a pretrained folder.
    step "$P-train" $((TRAIN_S + 120)) $PY -m ganforge train --preset "$P" --dataset "folder:$FOLDER" \
        --device "$DEVICE" --steps "$TOTAL" --no-progress --out "$WORK/$P" "${ARGS[@]}" || continue
    step "$P-export" 60 $PY -m ganforge export "$WORK/$P" --format pretrained --out "$WORK/$P-pretrained"
    cp "$WORK/$P-pretrained/model.safetensors" "$OUT/$P-generator.safetensors"
    cp "$WORK/$P/config.json" "$WORK/$P-pretrained/run-config.json"
    tar -cf "$OUT/$P-run.tar" -C "$WORK/$P-pretrained" config.json README.md samples.png run-config.json \
        -C "$WORK/$P" log.jsonl final_grid.png
    grep -h "^done" "$WORK/$P-train.log" | sed "s/^/$P: /" | tee -a "$OUT/summary.txt"
done
rm -rf "$WORK"
exit $status
