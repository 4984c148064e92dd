# Source this file to use the workspace: `source scripts/env.sh`.
# It activates the venv (the venv is the ROS 2 prefix: the Kilted wheels live there) and overlays
# the colcon install space. Pass --no-workspace to skip the overlay (used by the build itself).
_ws_root="$(cd "$(dirname "${BASH_SOURCE[0]:-$0}")/.." && pwd)"
_ws_venv="${VENV:-$_ws_root/.venv}"
if [ ! -f "$_ws_venv/bin/activate" ]; then
  echo "env.sh: no venv at $_ws_venv; run scripts/setup.sh first" >&2
  return 1 2>/dev/null || exit 1
fi
# shellcheck source=/dev/null
source "$_ws_venv/bin/activate"
# The build needs the venv on both prefix paths (rosidl finds its generators through them).
case ":${AMENT_PREFIX_PATH:-}:" in *":$_ws_venv:"*) ;; *) export AMENT_PREFIX_PATH="$_ws_venv${AMENT_PREFIX_PATH:+:$AMENT_PREFIX_PATH}";; esac
case ":${CMAKE_PREFIX_PATH:-}:" in *":$_ws_venv:"*) ;; *) export CMAKE_PREFIX_PATH="$_ws_venv${CMAKE_PREFIX_PATH:+:$CMAKE_PREFIX_PATH}";; esac
export RMW_IMPLEMENTATION=rmw_fastrtps_cpp
export CYCLONEDDS_HOME="$_ws_venv/cyclonedds_home"
# Keep discovery on this machine unless the user says otherwise (the real robot sets its own).
export ROS_AUTOMATIC_DISCOVERY_RANGE="${ROS_AUTOMATIC_DISCOVERY_RANGE:-LOCALHOST}"
if [ "${1:-}" != "--no-workspace" ] && [ -f "$_ws_root/install/setup.bash" ]; then
  # colcon's setup scripts reference unset variables; relax nounset while sourcing.
  case $- in *u*) _ws_u=1; set +u;; *) _ws_u=;; esac
  # shellcheck source=/dev/null
  COLCON_CURRENT_PREFIX="$_ws_root/install" source "$_ws_root/install/local_setup.bash"
  [ -n "$_ws_u" ] && set -u
fi
unset _ws_root _ws_venv _ws_u
