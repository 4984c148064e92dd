"""TWIST's Redis layouts <-> our reference and robot state (pure Python; no redis, no rclpy).

TWIST's deployment (``deploy_real/``) talks through Redis (db 0, values are JSON lists of floats):

=================  ============================  ==================================================
key                writer                        payload
=================  ============================  ==================================================
``action_mimic_g1``  high-level motion server      33 floats = [root z, roll, pitch, yaw,
                                                 v_local x, y, z, yaw rate, dof_pos (25)]
``action_hand_g1``   high-level motion server      14 zeros (two 7-DOF hands)
``state_body_g1``    low-level servers             74-float proprio (TWIST student layout)
``state_hand_g1``    low-level sim server          14 zeros
=================  ============================  ==================================================

The 25 joints are TWIST's deploy order (``twist_controller.robot.DEPLOY25_JOINT_NAMES``): the 23
policy joints with each wrist roll right after its elbow (indices 19 and 24). Root velocities are in
the reference pelvis frame, yaw is the reference's own heading: exactly our ReferenceFrame fields.
Converting to 29 joints fills wrist pitch/yaw (not in the layout) from the default pose (0 rad).

``state_body_g1`` is built with ``twist_controller.observations.proprio_obs``: gyro x 0.25, roll and
pitch from the IMU quaternion, q - q_default (23), dq x 0.05 with the four ankle entries zeroed, and
the last raw policy action (23). Our stack does not publish the raw action; :func:`action_from_targets`
recovers it from ``/joint_targets`` (a = (target - default) / 0.5, i.e. the action after TWIST's
+-10 clip); without targets the action part is zeros.
"""

from __future__ import annotations

import json
import math

import numpy as np

from twist_controller import robot
from twist_controller.observations import RobotInput, proprio_obs

from .mux_core import Frame, validate_frame

KEY_ACTION_MIMIC = "action_mimic_g1"
KEY_ACTION_HAND = "action_hand_g1"
KEY_STATE_BODY = "state_body_g1"
KEY_STATE_HAND = "state_hand_g1"

MIMIC_SIZE = 33
NUM_DEPLOY = len(robot.DEPLOY25_JOINT_NAMES)  # 25
ROOT_SIZE = 8  # z, roll, pitch, yaw, v(3), yaw rate
PROPRIO_SIZE = 74
HAND_SIZE = 14

# TWIST's idle/default mimic vector (deploy_real/data_utils/params.py, "g1"): standing at 0.793 m, at
# rest, default legs, shoulder roll +-0.2 (not the policy's +-0.4), elbows 1.2, wrists 0.
TWIST_DEFAULT_DOF25 = np.array(
    [-0.2, 0.0, 0.0, 0.4, -0.2, 0.0] * 2 + [0.0] * 3 + [0.0, 0.2, 0.0, 1.2, 0.0] + [0.0, -0.2, 0.0, 1.2, 0.0]
)
TWIST_DEFAULT_MIMIC = np.concatenate([[0.793, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0], TWIST_DEFAULT_DOF25])


class LayoutError(ValueError):
    """A Redis payload that does not have the expected layout (never forwarded)."""


# ------------------------------------------------------------------------------- action_mimic_g1


def frame_to_mimic(f: Frame) -> np.ndarray:
    """Our reference frame -> the 33-float ``action_mimic_g1`` vector."""
    q25 = robot.full_to_deploy25(np.asarray(f.joint_positions, dtype=np.float64))
    return np.concatenate([f.root_vector(), q25])


def mimic_to_frame(vec, joint_velocities=None) -> Frame:
    """33-float ``action_mimic_g1`` vector -> our frame (wrist pitch/yaw from the default pose).

    Raises :class:`LayoutError` for a wrong size, NaN/inf or values our validation rejects (joints far
    outside the limits, implausible root values); joints slightly outside the limits are clipped.
    """
    v = np.asarray(vec, dtype=np.float64).reshape(-1)
    if v.shape != (MIMIC_SIZE,):
        raise LayoutError(f"{KEY_ACTION_MIMIC} must have {MIMIC_SIZE} floats, got {v.size}")
    if not np.all(np.isfinite(v)):
        raise LayoutError(f"{KEY_ACTION_MIMIC} contains NaN/inf")
    q = robot.deploy25_to_full(v[ROOT_SIZE:])
    dq = (
        np.zeros(robot.NUM_JOINTS)
        if joint_velocities is None
        else np.asarray(joint_velocities, dtype=np.float64)
    )
    f = Frame(q, dq, float(v[0]), float(v[1]), float(v[2]), float(v[3]), v[4:7].copy(), float(v[7]))
    good, err = validate_frame(f)
    if good is None:
        raise LayoutError(f"{KEY_ACTION_MIMIC}: {err}")
    return good


def policy_mimic31(vec33) -> tuple[np.ndarray, np.ndarray]:
    """What TWIST's low-level server does with the 33 vector: (31-float policy mimic obs, 2 wrist rolls)."""
    v = np.asarray(vec33, dtype=np.float64).reshape(-1)
    wrist = [ROOT_SIZE + i for i in robot.DEPLOY25_WRIST_ROLL_INDICES]  # 27, 32
    keep = [i for i in range(MIMIC_SIZE) if i not in wrist]
    return v[keep], v[wrist]


# ------------------------------------------------------------------------------- JSON payloads


def encode(vec) -> str:
    """JSON list of floats (what TWIST writes with json.dumps)."""
    v = np.asarray(vec, dtype=np.float64).reshape(-1)
    return json.dumps([float(x) for x in v])


def decode(payload, size: int, key: str = "payload") -> np.ndarray:
    """Parse a JSON list of exactly ``size`` finite numbers; raises :class:`LayoutError` otherwise."""
    if payload is None:
        raise LayoutError(f"{key} is missing")
    if isinstance(payload, bytes | bytearray):
        try:
            payload = payload.decode("utf-8")
        except UnicodeDecodeError as exc:
            raise LayoutError(f"{key} is not UTF-8 text ({exc})") from None
    try:
        data = json.loads(payload)
    except (TypeError, ValueError) as exc:
        raise LayoutError(f"{key} is not JSON ({exc}): {str(payload)[:60]!r}") from None
    if not isinstance(data, list):
        raise LayoutError(f"{key} must be a JSON list, got {type(data).__name__}")
    if len(data) != size:
        raise LayoutError(f"{key} must have {size} floats, got {len(data)}")
    if not all(isinstance(x, int | float) and not isinstance(x, bool) for x in data):
        raise LayoutError(f"{key} has non-numeric entries")
    v = np.asarray(data, dtype=np.float64)
    if not np.all(np.isfinite(v)):
        raise LayoutError(f"{key} contains NaN/inf")
    return v


def decode_mimic(payload) -> np.ndarray:
    return decode(payload, MIMIC_SIZE, KEY_ACTION_MIMIC)


# ------------------------------------------------------------------------------- state_body_g1


def action_from_targets(target_q29) -> np.ndarray:
    """(23,) raw policy action recovered from 29-DOF joint targets: (target - default) / action_scale."""
    q = np.asarray(target_q29, dtype=np.float64).reshape(-1)
    if q.shape != (robot.NUM_JOINTS,) or not np.all(np.isfinite(q)):
        raise LayoutError("joint targets must be 29 finite values")
    return robot.full_to_policy(q - robot.DEFAULT_POSITION) / robot.ACTION_SCALE


def state_body(gyro, quat_wxyz, joint_pos29, joint_vel29, last_action23=None) -> np.ndarray:
    """TWIST's 74-float ``state_body_g1`` from our robot state (``last_action23`` None -> zeros)."""
    act = (
        np.zeros(robot.NUM_POLICY_JOINTS)
        if last_action23 is None
        else np.asarray(last_action23, dtype=np.float64)
    )
    state = RobotInput(
        base_ang_vel=np.asarray(gyro, dtype=np.float64).reshape(1, 3),
        base_quat_wxyz=np.asarray(quat_wxyz, dtype=np.float64).reshape(1, 4),
        joint_pos=np.asarray(joint_pos29, dtype=np.float64).reshape(1, robot.NUM_JOINTS),
        joint_vel=np.asarray(joint_vel29, dtype=np.float64).reshape(1, robot.NUM_JOINTS),
        last_action=act.reshape(1, robot.NUM_POLICY_JOINTS),
    )
    out = proprio_obs(state)[0]
    if out.shape != (PROPRIO_SIZE,) or not np.all(np.isfinite(out)):
        raise LayoutError("state_body_g1 would contain NaN/inf")
    return out


# ------------------------------------------------------------------------------- exit blend


def exit_blend(last_mimic, duration: float = 2.0, dt: float = 0.02, target=None) -> np.ndarray:
    """TWIST's high-level exit: linear interpolation from the last vector to the default vector over
    ``duration`` s at ``1/dt`` Hz. Returns (n, 33), the last row being the target.

    With ``target=None`` the target is TWIST's default vector *at the last heading*: heading is a gauge
    for the policy, and turning it to 0 (as upstream's literal interpolation does) would ask for a turn.
    """
    a = np.asarray(last_mimic, dtype=np.float64).reshape(MIMIC_SIZE)
    if target is None:
        b = TWIST_DEFAULT_MIMIC.copy()
        b[3] = a[3]
    else:
        b = np.asarray(target, dtype=np.float64).reshape(MIMIC_SIZE)
    n = max(math.ceil(duration / dt - 1e-9), 1)
    s = np.arange(1, n + 1, dtype=np.float64)[:, None] / n
    d = b - a
    d[3] = math.remainder(d[3], 2.0 * math.pi)  # heading along the shortest arc
    out = a + s * d
    out[-1] = b
    return out
