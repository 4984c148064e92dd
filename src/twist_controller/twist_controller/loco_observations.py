"""The velocity-command locomotion observation (``holosoma_loco_v1``), one code path for training
and the policy node, like :mod:`twist_controller.observations` is for the TWIST student.

This is the interface of the walking G1 expert policies shipped in the ``holosoma-inference`` wheel
(see docs/expert.md). 100 floats, the terms concatenated in **alphabetical order of their names**
(that is how the upstream config machinery orders them; the order written in its config file falls
within a second):

=================  ====  =========================================================
term               size  value
=================  ====  =========================================================
actions            29    previous raw policy output, clipped to +-100 (zeros after a reset)
base_ang_vel       3     IMU gyro in the pelvis frame x 0.25
command_ang_vel    1     yaw-rate command
command_lin_vel    2     vx, vy command
cos_phase          2     cos of the [left, right] gait phase
dof_pos            29    q - default pose of the policy (29-DOF motor order)
dof_vel            29    dq x 0.05
projected_gravity  3     R^T [0, 0, -1] (gravity in the pelvis frame)
sin_phase          2     sin of the [left, right] gait phase
=================  ====  =========================================================

The gait clock (:class:`GaitClock`): two phases, left and right, start at (0, pi); every 50 Hz tick
*before* inference both advance by 2 pi dt / period (1 s) and wrap to [-pi, pi). While the command
is zero (|v| < 0.01 and |yaw rate| < 0.01) both are frozen at pi, which is how the expert was
trained to stand still (without the freeze it stands, but turns slowly on the spot); when motion
resumes they restart from (0, pi). Training may instead drive the clock from another source (the
CMG's gait phase) with :meth:`GaitClock.set_phase`.

Everything is batched over a leading env axis, numpy only.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from twist_controller import robot
from twist_controller.rotations import quat_rotate_inverse

ANG_VEL_SCALE = 0.25
DOF_VEL_SCALE = 0.05
ACTION_OBS_CLIP = 100.0
STAND_LIN_EPS = 0.01  # m/s: below this linear command norm (and STAND_YAW_EPS) the clock freezes
STAND_YAW_EPS = 0.01  # rad/s
GAIT_PERIOD_S = 1.0  # the expert's gait period (trained on 0.8-1.2 s)

# (term, size) in concatenation order = alphabetical order of the term names
LOCO_TERMS: tuple[tuple[str, int], ...] = tuple(
    sorted(
        {
            "actions": robot.NUM_JOINTS,
            "base_ang_vel": 3,
            "command_ang_vel": 1,
            "command_lin_vel": 2,
            "cos_phase": 2,
            "dof_pos": robot.NUM_JOINTS,
            "dof_vel": robot.NUM_JOINTS,
            "projected_gravity": 3,
            "sin_phase": 2,
        }.items()
    )
)


@dataclass(frozen=True)
class LocoObservationLayout:
    name: str = "holosoma_loco_v1"
    terms: tuple[tuple[str, int], ...] = LOCO_TERMS

    @property
    def size(self) -> int:
        return sum(n for _, n in self.terms)  # 100

    def slices(self) -> dict[str, slice]:
        out, k = {}, 0
        for name, n in self.terms:
            out[name] = slice(k, k + n)
            k += n
        return out


LOCO_LAYOUT = LocoObservationLayout()


def is_standing_command(command: np.ndarray) -> np.ndarray:
    """(N,) True where the command (N, 3) counts as 'stand still' for the gait clock."""
    c = np.atleast_2d(np.asarray(command, dtype=np.float64))
    return (np.linalg.norm(c[:, :2], axis=1) < STAND_LIN_EPS) & (np.abs(c[:, 2]) < STAND_YAW_EPS)


class GaitClock:
    """The expert's [left, right] gait phase for ``num_envs`` envs."""

    def __init__(self, num_envs: int = 1, dt: float = 0.02, period: float = GAIT_PERIOD_S):
        self.num_envs = num_envs
        self.step_rad = 2.0 * np.pi * dt / period
        self.phase = np.zeros((num_envs, 2))
        self._standing = np.ones(num_envs, dtype=bool)
        self.reset()

    def reset(self, env_ids: np.ndarray | slice | None = None) -> None:
        idx = slice(None) if env_ids is None else env_ids
        self.phase[idx] = np.pi
        self._standing[idx] = True

    def tick(self, command: np.ndarray) -> np.ndarray:
        """Advance one control period under ``command`` (N, 3); returns the phase (N, 2)."""
        standing = is_standing_command(command)
        resumed = ~standing & self._standing
        moving = ~standing & ~self._standing
        self.phase[standing] = np.pi
        self.phase[resumed] = (0.0, np.pi)
        self.phase[moving] = _wrap(self.phase[moving] + self.step_rad)
        self._standing = standing
        return self.phase.copy()

    def set_phase(self, left: np.ndarray, command: np.ndarray) -> np.ndarray:
        """Drive the clock from an external left-leg phase (N,) rad (right = left + pi), keeping the
        stand freeze: envs with a zero command hold pi on both legs."""
        standing = is_standing_command(command)
        left = _wrap(np.asarray(left, dtype=np.float64))
        self.phase[:, 0] = left
        self.phase[:, 1] = _wrap(left + np.pi)
        self.phase[standing] = np.pi
        self._standing = standing
        return self.phase.copy()


def _wrap(a: np.ndarray) -> np.ndarray:
    return np.mod(a + np.pi, 2.0 * np.pi) - np.pi


def build_loco_observation(
    command: np.ndarray,
    base_ang_vel: np.ndarray,
    base_quat_wxyz: np.ndarray,
    joint_pos: np.ndarray,
    joint_vel: np.ndarray,
    last_action: np.ndarray,
    phase: np.ndarray,
    default_position: np.ndarray,
) -> np.ndarray:
    """(N, 100) float32 observation; all inputs batched (N, ...), joints in 29-DOF motor order."""
    n = np.asarray(joint_pos).shape[0]
    cmd = np.asarray(command, dtype=np.float64).reshape(n, 3)
    gravity = quat_rotate_inverse(np.asarray(base_quat_wxyz, dtype=np.float64), np.array([0.0, 0.0, -1.0]))
    terms = {
        "actions": np.clip(np.asarray(last_action, dtype=np.float64), -ACTION_OBS_CLIP, ACTION_OBS_CLIP),
        "base_ang_vel": np.asarray(base_ang_vel, dtype=np.float64) * ANG_VEL_SCALE,
        "command_ang_vel": cmd[:, 2:3],
        "command_lin_vel": cmd[:, :2],
        "cos_phase": np.cos(phase),
        "dof_pos": np.asarray(joint_pos, dtype=np.float64) - default_position,
        "dof_vel": np.asarray(joint_vel, dtype=np.float64) * DOF_VEL_SCALE,
        "projected_gravity": np.broadcast_to(gravity, (n, 3)),
        "sin_phase": np.sin(phase),
    }
    obs = np.concatenate(
        [np.asarray(terms[name]).reshape(n, size) for name, size in LOCO_LAYOUT.terms], axis=-1
    )
    return obs.astype(np.float32)


class LocoObservationBuilder:
    """Stateful builder for ``num_envs`` envs: owns the gait clock. ``build`` ticks it once."""

    layout = LOCO_LAYOUT

    def __init__(self, num_envs: int, default_position: np.ndarray, dt: float = 0.02):
        self.num_envs = num_envs
        self.default_position = np.asarray(default_position, dtype=np.float64)
        self.clock = GaitClock(num_envs, dt)

    def reset(self, env_ids: np.ndarray | slice | None = None) -> None:
        self.clock.reset(env_ids)

    def build(self, command: np.ndarray, state, left_phase: np.ndarray | None = None) -> np.ndarray:
        """(N, 100) observation from ``command`` (N, 3) and ``state`` (an
        :class:`twist_controller.observations.RobotInput` whose ``last_action`` has 29 columns).

        ``left_phase`` (N,) rad drives the clock from outside (training with CMG references);
        None lets it run on its own 1 s period (deployment, and the expert's own behaviour)."""
        if left_phase is None:
            phase = self.clock.tick(command)
        else:
            phase = self.clock.set_phase(left_phase, command)
        return build_loco_observation(
            command,
            state.base_ang_vel,
            state.base_quat_wxyz,
            state.joint_pos,
            state.joint_vel,
            state.last_action,
            phase,
            self.default_position,
        )
