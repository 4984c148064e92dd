"""The TWIST student observation, built by one code path for training envs and the policy node.

Layout ``twist_student_v1`` (1155 floats = 105 x 11), identical to upstream TWIST's student:

* mimic (31): reference root height z, roll, pitch, yaw, root linear velocity in the reference root
  frame (3), reference yaw rate (1), reference joint positions (23, policy order)
* proprio (74): base angular velocity in the base frame x 0.25 (3), base roll and pitch (2),
  q - q_default (23), dq x 0.05 with the four ankle entries zeroed (23), last raw action (23)
* history (10 x 105): the previous ten [mimic, proprio] vectors, oldest first; the current step is
  not included.

History initialisation (a deliberate choice; upstream differs between training and deployment):
on the first ``build`` after a reset, the whole history is filled with copies of the current
105-vector. Upstream TWIST copy-fills in training but zero-fills at deploy time; we copy-fill in
both, because that is the distribution the policy was trained on.

Everything is numpy and batched over one leading axis, so training envs pass (N, ...) arrays and the
policy node passes (1, ...) arrays through the very same functions.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from twist_controller import robot
from twist_controller.rotations import quat_to_rpy

ANG_VEL_SCALE = 0.25
DOF_VEL_SCALE = 0.05


@dataclass(frozen=True)
class ObservationLayout:
    """Sizes of one observation layout; exported policies carry ``name`` and ``size``."""

    name: str = "twist_student_v1"
    n_mimic: int = 8 + robot.NUM_POLICY_JOINTS  # 31
    n_proprio: int = 3 + 2 + 3 * robot.NUM_POLICY_JOINTS  # 74
    history: int = 10

    @property
    def n_step(self) -> int:
        return self.n_mimic + self.n_proprio  # 105

    @property
    def size(self) -> int:
        return self.n_step * (self.history + 1)  # 1155

    def slices(self) -> dict[str, slice]:
        """Named slices of the flat observation (for docs, tests and debugging tools)."""
        m, p = self.n_mimic, self.n_proprio
        return {
            "mimic": slice(0, m),
            "proprio": slice(m, m + p),
            "history": slice(m + p, self.size),
        }


STUDENT_LAYOUT = ObservationLayout()


@dataclass
class ReferenceInput:
    """One reference frame per env (batched): what the policy is asked to track."""

    root_height: np.ndarray  # (N,) m
    root_rpy: np.ndarray  # (N, 3) rad; yaw is the reference's absolute heading
    root_lin_vel_local: np.ndarray  # (N, 3) m/s in the reference root frame
    root_yaw_rate: np.ndarray  # (N,) rad/s
    joint_pos: np.ndarray  # (N, 29) rad, G1 29-DOF order


@dataclass
class RobotInput:
    """Measured robot state per env (batched)."""

    base_ang_vel: np.ndarray  # (N, 3) rad/s in the base (pelvis IMU) frame
    base_quat_wxyz: np.ndarray  # (N, 4)
    joint_pos: np.ndarray  # (N, 29) rad, G1 29-DOF order
    joint_vel: np.ndarray  # (N, 29) rad/s
    last_action: np.ndarray  # (N, 23) raw policy output of the previous step


def mimic_obs(ref: ReferenceInput) -> np.ndarray:
    """(N, 31) mimic block."""
    n = np.asarray(ref.joint_pos).shape[0]
    return np.concatenate(
        [
            np.asarray(ref.root_height, dtype=np.float64).reshape(n, 1),
            np.asarray(ref.root_rpy, dtype=np.float64).reshape(n, 3),
            np.asarray(ref.root_lin_vel_local, dtype=np.float64).reshape(n, 3),
            np.asarray(ref.root_yaw_rate, dtype=np.float64).reshape(n, 1),
            robot.full_to_policy(np.asarray(ref.joint_pos, dtype=np.float64)),
        ],
        axis=-1,
    )


def proprio_obs(state: RobotInput) -> np.ndarray:
    """(N, 74) proprioception block."""
    rp = quat_to_rpy(state.base_quat_wxyz)[..., :2]
    q = robot.full_to_policy(np.asarray(state.joint_pos, dtype=np.float64))
    dq = robot.full_to_policy(np.asarray(state.joint_vel, dtype=np.float64)) * DOF_VEL_SCALE
    dq[..., list(robot.ANKLE_POLICY_INDICES)] = 0.0  # upstream zeroes ankle velocities
    default = robot.full_to_policy(robot.DEFAULT_POSITION)
    return np.concatenate(
        [
            np.asarray(state.base_ang_vel, dtype=np.float64) * ANG_VEL_SCALE,
            rp,
            q - default,
            dq,
            np.asarray(state.last_action, dtype=np.float64),
        ],
        axis=-1,
    )


class StudentObservationBuilder:
    """Stateful builder: owns the 10-step history of ``num_envs`` envs."""

    def __init__(self, num_envs: int = 1, layout: ObservationLayout = STUDENT_LAYOUT):
        self.layout = layout
        self.num_envs = num_envs
        self._history = np.zeros((num_envs, layout.history, layout.n_step))
        self._fresh = np.ones(num_envs, dtype=bool)  # next build copy-fills the history

    def reset(self, env_ids: np.ndarray | slice | None = None) -> None:
        """Forget the history of some (default: all) envs; their next build copy-fills it."""
        idx = slice(None) if env_ids is None else env_ids
        self._history[idx] = 0.0
        self._fresh[idx] = True

    def build(self, ref: ReferenceInput, state: RobotInput) -> np.ndarray:
        """(N, 1155) float32 observation; advances the history by one step."""
        current = np.concatenate([mimic_obs(ref), proprio_obs(state)], axis=-1)
        if current.shape != (self.num_envs, self.layout.n_step):
            raise ValueError(
                f"observation step has shape {current.shape}, expected "
                f"({self.num_envs}, {self.layout.n_step})"
            )
        if self._fresh.any():
            self._history[self._fresh] = current[self._fresh, None, :]
            self._fresh[:] = False
        obs = np.concatenate([current, self._history.reshape(self.num_envs, -1)], axis=-1)
        # shift left, append the current step (history never contains the step it is built with)
        self._history[:, :-1] = self._history[:, 1:]
        self._history[:, -1] = current
        return obs.astype(np.float32)
