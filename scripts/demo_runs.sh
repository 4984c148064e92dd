#!/usr/bin/env bash
# Consecutive `make sim` demo runs, optionally with a busy-loop CPU hog per core (issue 21's proof:
# "on a loaded 2-core machine make sim runs the demo profile through to the end in POLICY every time").
#
#   scripts/demo_runs.sh [-n RUNS] [--hog] [--out DIR] [-- EXTRA stack ARGS]
#
# Each run starts the stack with make sim's arguments (`make sim-args`: strict lockstep, Foxglove on),
# waits for the scripted demo's "profile finished" (or the stack's end after 480 s), stops it, and
# prints one line: finished or not, wall time, load average, the bridge's mode sequence and the
# lockstep-timeout lines. The summary goes to DIR/summary.txt; exit status 1 if any run did not
# finish in POLICY without DAMPING.
set -u
RUNS=10; HOG=0; OUT=runs/demo_runs; EXTRA=()
while [ $# -gt 0 ]; do
  case "$1" in
    -n) RUNS=$2; shift 2 ;;
    --hog) HOG=1; shift ;;
    --out) OUT=$2; shift 2 ;;
    -h|--help) sed -n 2,12p "$0"; exit 0 ;;
    --) shift; EXTRA=("$@"); break ;;
    *) echo "unknown argument $1 (see --help)" >&2; exit 2 ;;
  esac
done
REPO=$(cd "$(dirname "$0")/.." && pwd)
source "$REPO/scripts/env.sh"
mkdir -p "$OUT"
read -r -a SIM_ARGS <<< "$(make -s -C "$REPO" sim-args)"   # make sim's own arguments, one source
HOGS=()
cleanup() { for p in "${HOGS[@]}"; do kill "$p" 2>/dev/null; done; }
trap cleanup EXIT
if [ "$HOG" = 1 ]; then
  for _ in $(seq 1 "$(nproc)"); do python3 -c "while True: pass" & HOGS+=($!); done
fi
DOMAIN=$(( 200 + $$ % 33 ))   # robot-link DDS domain (<= 232), apart from concurrent runs
FAILED=0
for i in $(seq 1 "$RUNS"); do
  log=$OUT/run_$i.log; t0=$(date +%s); : > "$log"
  ROS_DOMAIN_ID=$(( 80 + $$ % 20 )) "$REPO/install/lib/g1_bringup/stack" --no-status --duration 480 \
    dds_domain:=$DOMAIN "${SIM_ARGS[@]}" "${EXTRA[@]}" > "$log" 2>&1 &
  pid=$!
  while ! grep -q "profile finished" "$log" && kill -0 $pid 2>/dev/null; do sleep 2; done
  finished=$(grep -c "profile finished" "$log")
  load=$(cut -d' ' -f1-3 /proc/loadavg)
  kill -INT $pid 2>/dev/null; wait $pid 2>/dev/null
  modes=$(grep "pd_bridge.*]: mode [A-Z]" "$log" | sed 's/.*]: mode \([A-Z_]*\).*/\1/' | tr '\n' ' ')
  timeouts=$(grep -c "lockstep: no LowCmd" "$log")
  last=$(echo "$modes" | awk '{print $NF}')
  ok=1; { [ "$finished" -ge 1 ] && [ "$last" = POLICY ] && ! echo "$modes" | grep -q DAMPING; } || ok=0
  [ $ok = 1 ] || FAILED=$((FAILED + 1))
  echo "run $i: ok=$ok finished=$finished wall=$(( $(date +%s) - t0 ))s load=[$load] hog=$HOG modes=[$modes] lockstep_timeout_lines=$timeouts" | tee -a "$OUT/summary.txt"
done
echo "$(( RUNS - FAILED )) of $RUNS runs finished the demo in POLICY without DAMPING" | tee -a "$OUT/summary.txt"
[ $FAILED = 0 ]
