"""The small batched physics interface the tracking task is written against.

A backend simulates ``num_envs`` G1 robots with joint-level PD (position targets in, physics
substeps inside the backend) and exposes everything the task needs as numpy arrays. The task never
touches a simulator object directly, so MuJoCo (CPU), MJX (GPU) and Isaac Gym adapters are
interchangeable.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

import numpy as np


@dataclass
class BatchState:
    """State of all envs after a step (world frame unless noted)."""

    qpos: np.ndarray  # (N, 36): root pos, root quat wxyz, 29 joints
    qvel: np.ndarray  # (N, 35): root lin vel (world), root ang vel (BODY frame), 29 joint vel
    key_body_pos: np.ndarray  # (N, K, 3) world positions of the task's key bodies
    foot_pos: np.ndarray  # (N, 2, 3) left/right foot body positions
    foot_force: np.ndarray  # (N, 2, 3) contact force on each foot body (world frame)
    torso_force: np.ndarray  # (N,) norm of the contact force on the torso body
    joint_torque: np.ndarray  # (N, 29) actuator torque applied in the last substep


@dataclass
class PhysicsParams:
    """Per-env physical parameters set by domain randomization (None = leave unchanged)."""

    friction: np.ndarray | None = None  # (k,)
    base_mass_delta: np.ndarray | None = None  # (k,) kg added to the pelvis
    base_com_delta: np.ndarray | None = None  # (k, 3) m added to the pelvis COM
    kp_factor: np.ndarray | None = None  # (k, 29)
    kd_factor: np.ndarray | None = None  # (k, 29)
    gravity: np.ndarray | None = None  # (k, 3)


class PhysicsBackend(Protocol):
    num_envs: int
    policy_dt: float

    def reset_envs(self, env_ids: np.ndarray, qpos: np.ndarray, qvel: np.ndarray) -> None:
        """Teleport envs ``env_ids`` to (qpos (k,36), qvel (k,35)); clears their forces/warm start."""

    def set_params(self, env_ids: np.ndarray, params: PhysicsParams) -> None:
        """Apply domain-randomization parameters to some envs."""

    def step(self, targets: np.ndarray, hand_forces: np.ndarray | None = None) -> None:
        """Advance one policy step (decimation substeps) with joint position targets (N, 29).

        ``hand_forces`` (N, 2, 3) world-frame forces on the two hands for the FIRST substep only.
        """

    def set_root_velocity_xy(self, env_ids: np.ndarray, vxy: np.ndarray) -> None:
        """Overwrite the root's world-frame xy velocity (pushes)."""

    def state(self) -> BatchState:
        """Current state of all envs."""


def make_backend(name: str, num_envs: int, sim_cfg, key_bodies, seed: int = 0) -> PhysicsBackend:
    """Construct a backend by name (``mujoco_cpu``, ``mjx``, ``isaacgym``)."""
    if name == "mujoco_cpu":
        from .mujoco_cpu import MujocoCpuBackend

        return MujocoCpuBackend(num_envs, sim_cfg, key_bodies)
    if name == "mjx":
        from .mjx import MjxBackend

        return MjxBackend(num_envs, sim_cfg, key_bodies, seed=seed)
    if name == "isaacgym":
        from .isaacgym import IsaacGymBackend

        return IsaacGymBackend(num_envs, sim_cfg, key_bodies)
    raise ValueError(f"unknown physics backend {name!r} (mujoco_cpu, mjx, isaacgym)")
