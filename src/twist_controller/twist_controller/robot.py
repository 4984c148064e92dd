"""The one Unitree G1 specification every other part of the stack reads.

Pure Python + numpy (no rclpy, no mujoco), so training, tests and nodes share it.

Layouts
-------
* **29-DOF** (``G1_JOINT_NAMES``): the robot's motor order, identical to the MuJoCo model's
  qpos[7:] order and to Unitree's ``LowCmd_.motor_cmd[i]`` index ``i`` (slots 29..34 unused).
* **23-DOF policy set** (``POLICY_JOINT_NAMES``): TWIST's action/observation order = the 29-DOF
  order without the six wrist joints (wrists are held by PD, not by the policy).
* **25-DOF deploy set** (``DEPLOY25_JOINT_NAMES``): TWIST's Redis layout = the 23 policy joints with
  each wrist roll inserted right after its elbow.

Gains are TWIST's (policy joints) and TWIST's real-robot wrist gains (kp 20, kd 1). Armature values
are TWIST's training values (rotor inertia x gear^2). Torque and position limits are the G1 29-DOF
URDF/MJCF values; a test checks them against the compiled MuJoCo model.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

NUM_JOINTS = 29
NUM_POLICY_JOINTS = 23
NUM_MOTOR_SLOTS = 35  # unitree_hg LowCmd_/LowState_ carry 35 motor slots; the G1 uses 0..28


@dataclass(frozen=True)
class JointSpec:
    """Static facts about one G1 joint (units: rad, N*m, N*m/rad, N*m*s/rad, kg*m^2)."""

    name: str
    motor_index: int
    default_position: float
    kp: float
    kd: float
    torque_limit: float
    lower: float
    upper: float
    armature: float
    mirror: str  # joint this one maps to under a left/right mirror
    mirror_sign: float  # +1 for pitch-like joints, -1 for roll/yaw-like joints


def _j(name, motor, default, kp, kd, tau, lower, upper, arm):  # compact table rows below
    return (name, motor, default, kp, kd, tau, lower, upper, arm)


# name, motor index, default [rad], kp, kd, torque limit [N*m], lower, upper [rad], armature
_TABLE = [
    _j("left_hip_pitch_joint", 0, -0.2, 100, 2, 88, -2.5307, 2.8798, 0.0103),
    _j("left_hip_roll_joint", 1, 0.0, 100, 2, 139, -0.5236, 2.9671, 0.0251),
    _j("left_hip_yaw_joint", 2, 0.0, 100, 2, 88, -2.7576, 2.7576, 0.0103),
    _j("left_knee_joint", 3, 0.4, 150, 4, 139, -0.087267, 2.8798, 0.0251),
    _j("left_ankle_pitch_joint", 4, -0.2, 40, 2, 50, -0.87267, 0.5236, 0.003597),
    _j("left_ankle_roll_joint", 5, 0.0, 40, 2, 50, -0.2618, 0.2618, 0.003597),
    _j("right_hip_pitch_joint", 6, -0.2, 100, 2, 88, -2.5307, 2.8798, 0.0103),
    _j("right_hip_roll_joint", 7, 0.0, 100, 2, 139, -2.9671, 0.5236, 0.0251),
    _j("right_hip_yaw_joint", 8, 0.0, 100, 2, 88, -2.7576, 2.7576, 0.0103),
    _j("right_knee_joint", 9, 0.4, 150, 4, 139, -0.087267, 2.8798, 0.0251),
    _j("right_ankle_pitch_joint", 10, -0.2, 40, 2, 50, -0.87267, 0.5236, 0.003597),
    _j("right_ankle_roll_joint", 11, 0.0, 40, 2, 50, -0.2618, 0.2618, 0.003597),
    _j("waist_yaw_joint", 12, 0.0, 150, 4, 88, -2.618, 2.618, 0.0103),
    _j("waist_roll_joint", 13, 0.0, 150, 4, 50, -0.52, 0.52, 0.0103),
    _j("waist_pitch_joint", 14, 0.0, 150, 4, 50, -0.52, 0.52, 0.0103),
    _j("left_shoulder_pitch_joint", 15, 0.0, 40, 5, 25, -3.0892, 2.6704, 0.003597),
    _j("left_shoulder_roll_joint", 16, 0.4, 40, 5, 25, -1.5882, 2.2515, 0.003597),
    _j("left_shoulder_yaw_joint", 17, 0.0, 40, 5, 25, -2.618, 2.618, 0.003597),
    _j("left_elbow_joint", 18, 1.2, 40, 5, 25, -1.0472, 2.0944, 0.003597),
    _j("left_wrist_roll_joint", 19, 0.0, 20, 1, 25, -1.972222054, 1.972222054, 0.003597),
    _j("left_wrist_pitch_joint", 20, 0.0, 20, 1, 5, -1.614429558, 1.614429558, 0.00425),
    _j("left_wrist_yaw_joint", 21, 0.0, 20, 1, 5, -1.614429558, 1.614429558, 0.00425),
    _j("right_shoulder_pitch_joint", 22, 0.0, 40, 5, 25, -3.0892, 2.6704, 0.003597),
    _j("right_shoulder_roll_joint", 23, -0.4, 40, 5, 25, -2.2515, 1.5882, 0.003597),
    _j("right_shoulder_yaw_joint", 24, 0.0, 40, 5, 25, -2.618, 2.618, 0.003597),
    _j("right_elbow_joint", 25, 1.2, 40, 5, 25, -1.0472, 2.0944, 0.003597),
    _j("right_wrist_roll_joint", 26, 0.0, 20, 1, 25, -1.972222054, 1.972222054, 0.003597),
    _j("right_wrist_pitch_joint", 27, 0.0, 20, 1, 5, -1.614429558, 1.614429558, 0.00425),
    _j("right_wrist_yaw_joint", 28, 0.0, 20, 1, 5, -1.614429558, 1.614429558, 0.00425),
]

# Joints whose axis flips sign under a sagittal-plane (left/right) mirror.
_SIGN_FLIP_KEYS = ("roll", "yaw")


def _mirror_of(name: str) -> tuple[str, float]:
    if name.startswith("left_"):
        other = "right_" + name[len("left_") :]
    elif name.startswith("right_"):
        other = "left_" + name[len("right_") :]
    else:
        other = name  # waist joints map to themselves
    sign = -1.0 if any(k in name for k in _SIGN_FLIP_KEYS) else 1.0
    return other, sign


JOINTS: tuple[JointSpec, ...] = tuple(
    JointSpec(n, m, d, float(kp), float(kd), float(t), lo, hi, a, *_mirror_of(n))
    for (n, m, d, kp, kd, t, lo, hi, a) in _TABLE
)

G1_JOINT_NAMES: tuple[str, ...] = tuple(j.name for j in JOINTS)
MOTOR_INDEX = np.array([j.motor_index for j in JOINTS], dtype=np.int64)
DEFAULT_POSITION = np.array([j.default_position for j in JOINTS], dtype=np.float64)
KP = np.array([j.kp for j in JOINTS], dtype=np.float64)
KD = np.array([j.kd for j in JOINTS], dtype=np.float64)
TORQUE_LIMIT = np.array([j.torque_limit for j in JOINTS], dtype=np.float64)
POSITION_LOWER = np.array([j.lower for j in JOINTS], dtype=np.float64)
POSITION_UPPER = np.array([j.upper for j in JOINTS], dtype=np.float64)
ARMATURE = np.array([j.armature for j in JOINTS], dtype=np.float64)

# Left/right mirror: mirrored[i] = MIRROR_SIGN[i] * q[MIRROR_INDEX[i]].
MIRROR_INDEX = np.array([G1_JOINT_NAMES.index(j.mirror) for j in JOINTS], dtype=np.int64)
MIRROR_SIGN = np.array([j.mirror_sign for j in JOINTS], dtype=np.float64)

WRIST_JOINT_NAMES: tuple[str, ...] = tuple(n for n in G1_JOINT_NAMES if "wrist" in n)
POLICY_JOINT_NAMES: tuple[str, ...] = tuple(n for n in G1_JOINT_NAMES if "wrist" not in n)
# policy (23) index -> 29-DOF index, and 29-DOF index -> policy index (-1 for wrists)
POLICY_TO_FULL = np.array([G1_JOINT_NAMES.index(n) for n in POLICY_JOINT_NAMES], dtype=np.int64)
FULL_TO_POLICY = np.full(NUM_JOINTS, -1, dtype=np.int64)
FULL_TO_POLICY[POLICY_TO_FULL] = np.arange(NUM_POLICY_JOINTS)

DEPLOY25_JOINT_NAMES: tuple[str, ...] = (
    *POLICY_JOINT_NAMES[:19],
    "left_wrist_roll_joint",
    *POLICY_JOINT_NAMES[19:],
    "right_wrist_roll_joint",
)
DEPLOY25_TO_FULL = np.array([G1_JOINT_NAMES.index(n) for n in DEPLOY25_JOINT_NAMES], dtype=np.int64)
FULL_TO_DEPLOY25 = np.full(NUM_JOINTS, -1, dtype=np.int64)
FULL_TO_DEPLOY25[DEPLOY25_TO_FULL] = np.arange(len(DEPLOY25_JOINT_NAMES))
DEPLOY25_WRIST_ROLL_INDICES = (19, 24)  # positions of the wrist rolls inside the 25-DOF vector

# TWIST policy facts that depend only on the robot (used by observations and the policy node).
ACTION_SCALE = 0.5  # target = default + ACTION_SCALE * action
ACTION_CLIP = 10.0  # raw action clip (TWIST clip_actions 5.0 / action_scale)
# Gains any policy may ask the bridge for are capped at ``max_gain_scale`` x these (safety.py).
# TWIST's gains, with kd raised to >= 2.5 so that a policy trained with the armature rule (the
# locomotion expert: hip-roll/knee kd 6.31 against TWIST's hip-roll kd 2) keeps its own gains.
GAIN_CEILING_KP = KP.copy()
GAIN_CEILING_KD = np.maximum(KD, 2.5)
TRAIN_TORQUE_SCALE = 0.9  # TWIST clips training torques at 0.9 x URDF effort
ANKLE_POLICY_INDICES = (4, 5, 10, 11)  # policy-order ankles (their velocities are zeroed in proprio)
# Per-joint weights of TWIST's joint tracking reward, in policy order.
POLICY_DOF_ERROR_WEIGHTS = np.array(
    [1.0, 0.8, 0.8, 1.0, 0.5, 0.5] * 2 + [0.6] * 3 + [0.8, 0.8, 0.8, 1.0] * 2, dtype=np.float64
)

# Bodies and sites of the MuJoCo model the rest of the stack refers to.
ROOT_BODY = "pelvis"
TORSO_BODY = "torso_link"
FOOT_BODIES = ("left_ankle_roll_link", "right_ankle_roll_link")
HAND_BODIES = ("left_wrist_yaw_link", "right_wrist_yaw_link")
IMU_SITE = "imu_in_pelvis"
STANDING_PELVIS_HEIGHT = 0.793  # m, pelvis height in the default pose (TWIST's idle reference)


def full_to_policy(q_full: np.ndarray) -> np.ndarray:
    """29-DOF (..., 29) -> 23-DOF policy order (..., 23)."""
    return np.asarray(q_full)[..., POLICY_TO_FULL]


def policy_to_full(q_policy: np.ndarray, fill: np.ndarray | None = None) -> np.ndarray:
    """23-DOF policy order -> 29-DOF; wrists taken from ``fill`` (default pose when None)."""
    q_policy = np.asarray(q_policy)
    base = DEFAULT_POSITION if fill is None else np.asarray(fill)
    out = np.broadcast_to(base, (*q_policy.shape[:-1], NUM_JOINTS)).astype(np.result_type(q_policy, base))
    out[..., POLICY_TO_FULL] = q_policy
    return out


def full_to_deploy25(q_full: np.ndarray) -> np.ndarray:
    """29-DOF -> TWIST's 25-DOF deploy order (policy joints + wrist rolls)."""
    return np.asarray(q_full)[..., DEPLOY25_TO_FULL]


def deploy25_to_full(q25: np.ndarray, fill: np.ndarray | None = None) -> np.ndarray:
    """TWIST's 25-DOF deploy order -> 29-DOF; wrist pitch/yaw from ``fill`` (default pose when None)."""
    q25 = np.asarray(q25)
    base = DEFAULT_POSITION if fill is None else np.asarray(fill)
    out = np.broadcast_to(base, (*q25.shape[:-1], NUM_JOINTS)).astype(np.result_type(q25, base))
    out[..., DEPLOY25_TO_FULL] = q25
    return out


def mirror_joints(q_full: np.ndarray) -> np.ndarray:
    """Left/right mirror of 29-DOF joint positions or velocities (..., 29)."""
    return np.asarray(q_full)[..., MIRROR_INDEX] * MIRROR_SIGN


def clip_to_limits(q_full: np.ndarray, margin: float = 0.0) -> np.ndarray:
    """Clip 29-DOF joint positions into the position limits shrunk by ``margin`` rad."""
    return np.clip(q_full, POSITION_LOWER + margin, POSITION_UPPER - margin)


def joint_index(name: str) -> int:
    """29-DOF index of a joint name, with a helpful error for typos."""
    try:
        return G1_JOINT_NAMES.index(name)
    except ValueError:
        raise KeyError(f"unknown G1 joint {name!r}; known joints: {', '.join(G1_JOINT_NAMES)}") from None


def spec_summary() -> dict:
    """Metadata dict (JSON/YAML-friendly) embedded in exported policies and checked on load."""
    return {
        "robot": "unitree_g1_29dof",
        "joint_names": list(G1_JOINT_NAMES),
        "policy_joint_names": list(POLICY_JOINT_NAMES),
        "default_position": DEFAULT_POSITION.tolist(),
        "kp": KP.tolist(),
        "kd": KD.tolist(),
        "torque_limit": TORQUE_LIMIT.tolist(),
        "action_scale": ACTION_SCALE,
    }
