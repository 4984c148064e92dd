"""Plausibility metrics of motion clips, computed by forward kinematics of the G1 model.

Used by the gait tests, ``make_dataset``'s report and the docs. All numbers are in SI units.
"""

from __future__ import annotations

import numpy as np

from twist_controller import robot

from .clip import MotionClip
from .kinematics import forward_kinematics


def _stance_intervals(flag: np.ndarray):
    T = len(flag)
    k = 0
    while k < T:
        if flag[k]:
            j = k
            while j < T and flag[j]:
                j += 1
            yield k, j
            k = j
        else:
            k += 1


def clip_plausibility(
    clip: MotionClip,
    contact: np.ndarray | None = None,
    foot_pitch: np.ndarray | None = None,
    toe_lever: float = 0.09,
    heel_lever: float = 0.09,
) -> dict[str, float]:
    """Plausibility numbers of a clip (FK on its qpos).

    * ``slip_per_stance_max`` [m]: max over stances of the summed horizontal motion of the contact
      point (sole centre; toe edge when ``foot_pitch`` > 0, heel edge when < 0), only frames where
      ``contact`` (T, 2) is set. Without ``contact``, a foot counts as down when its sole is below 1 cm.
    * ``slip_speed_p99`` / ``slip_speed_max`` [m/s] of the same points.
    * ``min_sole_z`` [m] (sole-centre site; ~-0.002 when flat on the floor), ``joint_limit_violation``
      [rad] (max over joints, 0 when inside), ``max_abs_qd`` [rad/s], ``velocity_consistency`` [rad/s]
      (max |joint_vel - central difference|), ``flight_fraction`` (no foot in contact).
    """
    fk = forward_kinematics(clip.qpos())
    site, mat = fk["site_pos"], fk["site_mat"]
    T = clip.num_frames
    if contact is None:
        contact = site[..., 2] < 0.01
    pitch = np.zeros((T, 2)) if foot_pitch is None else foot_pitch
    lever = np.where(pitch > 1e-4, toe_lever, np.where(pitch < -1e-4, -heel_lever, 0.0))  # (T, 2)
    xaxis = mat[..., :, 0]  # (T, 2, 3) foot x axis in the world
    slip_total, speeds = 0.0, []
    for f in (0, 1):
        for a, b in _stance_intervals(contact[:, f]):
            if b - a < 2:
                continue
            # pivot of frame t applied to frames t and t+1
            p0 = site[a : b - 1, f] + xaxis[a : b - 1, f] * lever[a : b - 1, f, None]
            p1 = site[a + 1 : b, f] + xaxis[a + 1 : b, f] * lever[a : b - 1, f, None]
            d = np.linalg.norm((p1 - p0)[:, :2], axis=1)
            slip_total = max(slip_total, float(d.sum()))
            speeds.append(d * clip.fps)
    sp = np.concatenate(speeds) if speeds else np.zeros(1)
    q = clip.joint_pos
    viol = np.maximum(robot.POSITION_LOWER - q, q - robot.POSITION_UPPER).max()
    fd = np.gradient(q, clip.dt, axis=0)
    return {
        "slip_per_stance_max": slip_total,
        "slip_speed_p99": float(np.percentile(sp, 99)),
        "slip_speed_max": float(sp.max()),
        "min_sole_z": float(site[..., 2].min()),
        "joint_limit_violation": float(max(viol, 0.0)),
        "max_abs_qd": float(np.abs(clip.joint_vel).max()),
        "velocity_consistency": float(np.abs(clip.joint_vel - fd).max()),
        "flight_fraction": float(np.mean(~contact.any(axis=1))),
    }


def gait_plausibility(result) -> dict[str, float]:
    """:func:`clip_plausibility` of a :class:`~twist_training.data.gait.GaitResult` plus IK errors."""
    out = clip_plausibility(result.clip, result.contact, result.foot_pitch)
    out["ik_pos_error_max"] = float(result.ik_pos_error.max())
    out["ik_pos_error_p99"] = float(np.percentile(result.ik_pos_error, 99))
    out["ik_rot_error_max"] = float(result.ik_rot_error.max())
    return out


def stride_averaged_velocity(clip: MotionClip, contact: np.ndarray, start: int, stop: int) -> np.ndarray:
    """Mean heading-frame pelvis velocity (vx, vy, yaw rate) over whole strides inside [start, stop).

    A stride = from one left-foot touch-down to the next, so sway and bob average out.
    """
    land = np.flatnonzero(contact[1:, 0] & ~contact[:-1, 0]) + 1
    land = land[(land >= start) & (land < stop)]
    if len(land) >= 2:
        start, stop = int(land[0]), int(land[-1])
    return clip.heading_velocity()[start:stop].mean(axis=0)
