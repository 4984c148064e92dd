"""TWIST reward terms (upstream_facts C), each a pure function of batched numpy arrays.

Every term returns an (N,) array of the *unscaled* value; :func:`compute_rewards` multiplies by
the configured weight (and by the policy dt, as upstream) and sums. Errors are reference - robot.
Joint arrays are in the 23-DOF policy order.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from twist_controller import robot

from .config import RewardConfig

ANKLES = list(robot.ANKLE_POLICY_INDICES)


@dataclass
class RewardInputs:
    q: np.ndarray  # (N, 23)
    dq: np.ndarray  # (N, 23)
    q_ref: np.ndarray  # (N, 23)
    dq_ref: np.ndarray  # (N, 23)
    root_height: np.ndarray  # (N,)
    ref_root_height: np.ndarray  # (N,)
    root_quat: np.ndarray  # (N, 4) wxyz
    ref_root_quat: np.ndarray  # (N, 4)
    base_lin_vel: np.ndarray  # (N, 3) robot, base frame
    base_ang_vel: np.ndarray  # (N, 3) robot, base frame
    ref_lin_vel_local: np.ndarray  # (N, 3) reference, reference root frame
    ref_ang_vel_local: np.ndarray  # (N, 3)
    key_body: np.ndarray  # (N, K, 3) robot key bodies, root-relative, yaw-only root frame
    ref_key_body: np.ndarray  # (N, K, 3) reference, same convention
    foot_force: np.ndarray  # (N, 2, 3) world
    foot_vel: np.ndarray  # (N, 2, 3) world
    torque: np.ndarray  # (N, 23)
    last_dq: np.ndarray  # (N, 23)
    action: np.ndarray  # (N, 23) applied (post-delay, clipped) action
    last_action: np.ndarray  # (N, 23) previously applied action
    first_contact: np.ndarray  # (N, 2) bool: foot touched down this step
    air_time: np.ndarray  # (N, 2) s: swing duration that just ended (valid where first_contact)
    ref_speed_xy: np.ndarray  # (N,) reference root horizontal speed
    dt: float = 0.02


def _policy(a):
    return robot.full_to_policy(np.asarray(a))


def soft_limits(fraction: float) -> tuple[np.ndarray, np.ndarray]:
    lo, hi = _policy(robot.POSITION_LOWER), _policy(robot.POSITION_UPPER)
    mid, half = 0.5 * (lo + hi), 0.5 * (hi - lo) * fraction
    return mid - half, mid + half


def quat_angle_between(q1: np.ndarray, q2: np.ndarray) -> np.ndarray:
    """Rotation angle (rad) of q1^-1 q2 for wxyz quaternions."""
    d = np.abs(np.sum(q1 * q2, axis=-1))
    return 2.0 * np.arccos(np.clip(d, -1.0, 1.0))


def tracking_joint_dof(x: RewardInputs, c: RewardConfig) -> np.ndarray:
    err = np.sum(robot.POLICY_DOF_ERROR_WEIGHTS * (x.q_ref - x.q) ** 2, axis=-1)
    return np.exp(-c.k_joint_dof * err)


def tracking_joint_vel(x: RewardInputs, c: RewardConfig) -> np.ndarray:
    err = np.sum(robot.POLICY_DOF_ERROR_WEIGHTS * (x.dq_ref - x.dq) ** 2, axis=-1)
    return np.exp(-c.k_joint_vel * err)


def tracking_root_pose(x: RewardInputs, c: RewardConfig) -> np.ndarray:
    dz = x.ref_root_height - x.root_height
    th = quat_angle_between(x.root_quat, x.ref_root_quat)
    return np.exp(-c.k_root_pose * (dz**2 + 0.1 * th**2))


def tracking_root_vel(x: RewardInputs, c: RewardConfig) -> np.ndarray:
    lin = np.sum((x.ref_lin_vel_local - x.base_lin_vel) ** 2, axis=-1)
    ang = np.sum((x.ref_ang_vel_local - x.base_ang_vel) ** 2, axis=-1)
    return np.exp(-c.k_root_vel * (lin + 0.5 * ang))


def tracking_keybody_pos(x: RewardInputs, c: RewardConfig) -> np.ndarray:
    err = np.sum((x.key_body - x.ref_key_body) ** 2, axis=(-1, -2))
    return np.exp(-c.k_keybody * err)


def _contact(x: RewardInputs, c: RewardConfig) -> np.ndarray:
    return x.foot_force[..., 2] > c.contact_force_threshold


def feet_slip(x: RewardInputs, c: RewardConfig) -> np.ndarray:
    v = np.linalg.norm(x.foot_vel[..., :2], axis=-1)
    return np.sum(_contact(x, c) * np.sqrt(v), axis=-1)


def feet_contact_forces(x: RewardInputs, c: RewardConfig) -> np.ndarray:
    f = np.linalg.norm(x.foot_force[..., 2], axis=-1)
    return np.maximum(f - c.max_contact_force, 0.0)


def feet_stumble(x: RewardInputs, c: RewardConfig) -> np.ndarray:
    fxy = np.linalg.norm(x.foot_force[..., :2], axis=-1)
    return np.any(fxy > 4.0 * np.abs(x.foot_force[..., 2]), axis=-1).astype(np.float64)


def dof_pos_limits(x: RewardInputs, c: RewardConfig) -> np.ndarray:
    lo, hi = soft_limits(c.soft_dof_pos_limit)
    return np.sum(np.clip(lo - x.q, 0.0, None) + np.clip(x.q - hi, 0.0, None), axis=-1)


def dof_torque_limits(x: RewardInputs, c: RewardConfig, torque_scale: float = robot.TRAIN_TORQUE_SCALE):
    clip = _policy(robot.TORQUE_LIMIT) * torque_scale
    return np.sum(np.clip(np.abs(x.torque) / clip - c.soft_torque_limit, 0.0, None), axis=-1)


def dof_vel(x: RewardInputs, c: RewardConfig) -> np.ndarray:
    return np.sum(x.dq**2, axis=-1)


def dof_acc(x: RewardInputs, c: RewardConfig) -> np.ndarray:
    return np.sum(((x.last_dq - x.dq) / x.dt) ** 2, axis=-1)


def action_rate(x: RewardInputs, c: RewardConfig) -> np.ndarray:
    return np.linalg.norm(x.last_action - x.action, axis=-1)


def feet_air_time(x: RewardInputs, c: RewardConfig) -> np.ndarray:
    r = np.sum(np.minimum(x.air_time - c.air_time_target, 0.0) * x.first_contact, axis=-1)
    return r * (x.ref_speed_xy > 0.05)


def ang_vel_xy(x: RewardInputs, c: RewardConfig) -> np.ndarray:
    return np.sum(x.base_ang_vel[:, :2] ** 2, axis=-1)


def ankle_dof_acc(x: RewardInputs, c: RewardConfig) -> np.ndarray:
    return np.sum(((x.last_dq[:, ANKLES] - x.dq[:, ANKLES]) / x.dt) ** 2, axis=-1)


def ankle_dof_vel(x: RewardInputs, c: RewardConfig) -> np.ndarray:
    return np.sum(x.dq[:, ANKLES] ** 2, axis=-1)


TERMS = {
    f.__name__: f
    for f in (
        tracking_joint_dof,
        tracking_joint_vel,
        tracking_root_pose,
        tracking_root_vel,
        tracking_keybody_pos,
        feet_slip,
        feet_contact_forces,
        feet_stumble,
        dof_pos_limits,
        dof_torque_limits,
        dof_vel,
        dof_acc,
        action_rate,
        feet_air_time,
        ang_vel_xy,
        ankle_dof_acc,
        ankle_dof_vel,
    )
}


def compute_rewards(x: RewardInputs, cfg: RewardConfig) -> tuple[np.ndarray, dict[str, np.ndarray]]:
    """(total (N,), {term: weighted (N,)}) ; weights x dt when ``cfg.scale_by_dt``."""
    scale_dt = x.dt if cfg.scale_by_dt else 1.0
    total = np.zeros(x.q.shape[0])
    parts = {}
    for name, fn in TERMS.items():
        w = getattr(cfg.scales, name)
        if w == 0.0:
            continue
        r = w * scale_dt * fn(x, cfg)
        parts[name] = r
        total += r
    return total, parts
