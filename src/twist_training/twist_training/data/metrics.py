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


SOLE_HALF_LENGTH = 0.10  # m, sole centre to toe / heel edge (collision capsules of the G1 foot)
SOLE_HALF_WIDTH = 0.035


def zmp_support(
    clip: MotionClip, contact: np.ndarray, foot_pitch: np.ndarray | None = None, g: float = 9.81
) -> dict[str, float]:
    """Dynamic plausibility without a simulator: the ZMP of the whole-body centre of mass (cart-table
    model: zmp = com_xy - com_z / (g + com_z'') * com_xy'', angular momentum neglected) against the
    support polygon of the feet in contact (sole rectangles; only the toe / heel edge while the foot is
    rolled). Returns the fraction of supported frames with the ZMP inside the polygon and percentiles
    of the signed margin [m] (> 0 inside). Frames without contact (flight) are skipped.
    """
    from scipy.spatial import ConvexHull

    fk = forward_kinematics(clip.qpos())
    com = fk["com"]
    acc = np.gradient(np.gradient(com, clip.dt, axis=0), clip.dt, axis=0)
    zmp = com[:, :2] - com[:, 2:3] / (g + acc[:, 2:3]) * acc[:, :2]
    site, mat = fk["site_pos"], fk["site_mat"]
    pitch = np.zeros_like(contact, dtype=float) if foot_pitch is None else foot_pitch
    margins = []
    for t in range(2, clip.num_frames - 2):
        pts = []
        for f in (0, 1):
            if not contact[t, f]:
                continue
            x_ax, y_ax = mat[t, f, :, 0], mat[t, f, :, 1]
            if pitch[t, f] > 1e-4:
                xs = (SOLE_HALF_LENGTH,)
            elif pitch[t, f] < -1e-4:
                xs = (-SOLE_HALF_LENGTH,)
            else:
                xs = (SOLE_HALF_LENGTH, -SOLE_HALF_LENGTH)
            for sx in xs:
                for sy in (SOLE_HALF_WIDTH, -SOLE_HALF_WIDTH):
                    pts.append((site[t, f] + sx * x_ax + sy * y_ax)[:2])
        if not pts:
            continue
        margins.append(_signed_distance(zmp[t], np.array(pts), ConvexHull))
    m = np.array(margins) if margins else np.zeros(1)
    return {
        "zmp_inside_fraction": float(np.mean(m >= 0.0)),
        "zmp_margin_p5": float(np.percentile(m, 5)),
        "zmp_margin_median": float(np.median(m)),
    }


def _signed_distance(p: np.ndarray, pts: np.ndarray, hull_cls) -> float:
    """Signed distance of point p to the convex hull of pts (> 0 inside); degenerate hulls -> segment."""
    try:
        hull = hull_cls(pts)
        eq = hull.equations  # rows (a, b, c): a x + b y + c <= 0 inside, (a, b) unit
        return float(-(eq[:, :2] @ p + eq[:, 2]).max())
    except Exception:  # collinear points (a single edge): distance to the segment, always "outside"
        a, b = pts.min(axis=0), pts.max(axis=0)
        d = b - a
        u = np.clip(np.dot(p - a, d) / max(np.dot(d, d), 1e-12), 0.0, 1.0)
        return -float(np.linalg.norm(p - (a + u * d)))
