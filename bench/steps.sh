# Sourced by the prepared device scripts (gpu_check.sh, gpu_quality.sh), which set OUT, WORK and status=0.
# step NAME SECONDS COMMAND...: run it with a time limit, so one step that hangs costs only its share;
# its output goes to $WORK/NAME.log and $OUT/steps.log, its outcome and seconds to $OUT/summary.txt.
step() {
    local name=$1 limit=$2
    shift 2
    local t0=$SECONDS
    timeout "$limit" "$@" > "$WORK/$name.log" 2>&1
    local rc=$?
    echo "$name: rc $rc, $((SECONDS - t0)) s" | tee -a "$OUT/summary.txt"
    { echo "==== $name (rc $rc)"; cat "$WORK/$name.log"; } >> "$OUT/steps.log"
    [ $rc -eq 0 ] || status=1
    return $rc
}
