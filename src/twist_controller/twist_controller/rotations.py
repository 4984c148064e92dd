"""Quaternion helpers used by observations, the bridge and training (numpy, batched over leading axes).

Convention: quaternions are **w, x, y, z** (MuJoCo, Unitree ``imu_state.quaternion``). Euler angles
are roll/pitch/yaw of the intrinsic Z-Y-X sequence (the IMU convention TWIST uses).
"""

from __future__ import annotations

import numpy as np


def quat_to_rpy(quat_wxyz: np.ndarray) -> np.ndarray:
    """(..., 4) wxyz -> (..., 3) roll, pitch, yaw in rad."""
    q = np.asarray(quat_wxyz, dtype=np.float64)
    w, x, y, z = q[..., 0], q[..., 1], q[..., 2], q[..., 3]
    roll = np.arctan2(2.0 * (w * x + y * z), 1.0 - 2.0 * (x * x + y * y))
    pitch = np.arcsin(np.clip(2.0 * (w * y - z * x), -1.0, 1.0))
    yaw = np.arctan2(2.0 * (w * z + x * y), 1.0 - 2.0 * (y * y + z * z))
    return np.stack([roll, pitch, yaw], axis=-1)


def rpy_to_quat(rpy: np.ndarray) -> np.ndarray:
    """(..., 3) roll, pitch, yaw -> (..., 4) wxyz (inverse of ``quat_to_rpy``)."""
    r = np.asarray(rpy, dtype=np.float64)
    cr, sr = np.cos(r[..., 0] / 2), np.sin(r[..., 0] / 2)
    cp, sp = np.cos(r[..., 1] / 2), np.sin(r[..., 1] / 2)
    cy, sy = np.cos(r[..., 2] / 2), np.sin(r[..., 2] / 2)
    return np.stack(
        [
            cr * cp * cy + sr * sp * sy,
            sr * cp * cy - cr * sp * sy,
            cr * sp * cy + sr * cp * sy,
            cr * cp * sy - sr * sp * cy,
        ],
        axis=-1,
    )


def quat_rotate(quat_wxyz: np.ndarray, vec: np.ndarray) -> np.ndarray:
    """Rotate a body-frame vector (..., 3) into the world frame by ``quat_wxyz`` (..., 4)."""
    q = np.asarray(quat_wxyz, dtype=np.float64)
    v = np.asarray(vec, dtype=np.float64)
    w, u = q[..., :1], q[..., 1:]
    t = 2.0 * np.cross(u, v)  # v' = v + w t + u x t
    return v + w * t + np.cross(u, t)


def quat_rotate_inverse(quat_wxyz: np.ndarray, vec: np.ndarray) -> np.ndarray:
    """Express a world-frame vector (..., 3) in the body frame given by ``quat_wxyz`` (..., 4)."""
    q = np.asarray(quat_wxyz, dtype=np.float64)
    return quat_rotate(q * np.array([1.0, -1.0, -1.0, -1.0]), vec)


def yaw_quat(quat_wxyz: np.ndarray) -> np.ndarray:
    """The heading-only (yaw) part of a quaternion, (..., 4) wxyz."""
    yaw = quat_to_rpy(quat_wxyz)[..., 2]
    zeros = np.zeros_like(yaw)
    return np.stack([np.cos(yaw / 2), zeros, zeros, np.sin(yaw / 2)], axis=-1)


def tilt_angle(quat_wxyz: np.ndarray) -> np.ndarray:
    """Angle (rad) between the body z axis and the world z axis."""
    q = np.asarray(quat_wxyz, dtype=np.float64)
    x, y = q[..., 1], q[..., 2]
    cos_tilt = 1.0 - 2.0 * (x * x + y * y)  # world-z component of the body z axis
    return np.arccos(np.clip(cos_tilt, -1.0, 1.0))
