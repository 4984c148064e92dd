"""The policy node's core without ROS: latest inputs in, joint targets out, safety on staleness.

``PolicyRuntime`` keeps the newest reference frame, joint state and IMU sample with their receive
times. ``step(now)`` builds the observation of the policy's layout (the same builders training
uses: ``twist_student_v1`` from the reference frame, ``holosoma_loco_v1`` from the command the
reference was generated from), runs the policy and turns actions into 29-DOF position targets
with **the policy's own** interface (gains, default pose, action scale from its metadata). When any input is
missing, stale or non-finite it returns no targets and a reason: the node then publishes nothing,
the bridge sees its target stream go stale and damps. That keeps one place (the bridge's state
machine) in charge of what the motors do when something is wrong.
"""

from __future__ import annotations

import copy
import time
from dataclasses import dataclass

import numpy as np

from twist_controller import robot
from twist_controller.loco_observations import LOCO_LAYOUT, LocoObservationBuilder
from twist_controller.observations import ReferenceInput, RobotInput, StudentObservationBuilder
from twist_controller.policy import LoadedPolicy, actions_to_targets


@dataclass
class PolicyRuntimeConfig:
    reference_timeout: float = 0.1  # s; older reference -> no targets
    state_timeout: float = 0.1  # s; older joint state / IMU -> no targets


@dataclass
class ReferenceSample:
    """One reference frame as plain arrays (29-DOF joint order)."""

    joint_pos: np.ndarray  # (29,)
    root_height: float
    root_rpy: np.ndarray  # (3,)
    root_lin_vel_local: np.ndarray  # (3,)
    root_yaw_rate: float
    command: np.ndarray | None = None  # (3,) vx, vy, yaw rate the reference was generated from


@dataclass
class StepResult:
    targets: np.ndarray | None  # (29,) rad, or None when the policy must not command anything
    kp: np.ndarray
    kd: np.ndarray
    reason: str  # "ok" or why no targets were produced
    compute_time: float  # s spent in observation + inference


def _finite(*arrays) -> bool:
    return all(np.all(np.isfinite(np.asarray(a, dtype=np.float64))) for a in arrays)


class PolicyRuntime:
    def __init__(self, policy: LoadedPolicy, config: PolicyRuntimeConfig | None = None):
        self.policy = policy
        self.config = config or PolicyRuntimeConfig()
        meta = policy.metadata
        self.velocity_layout = meta.observation_layout == LOCO_LAYOUT.name
        if self.velocity_layout:
            self.observations = LocoObservationBuilder(1, meta.default_array, meta.control_dt)
            self.command_low = np.asarray(meta.command_low, dtype=np.float64)
            self.command_high = np.asarray(meta.command_high, dtype=np.float64)
        else:
            self.observations = StudentObservationBuilder(1)
        self.last_action = np.zeros(len(meta.action_joint_names))
        # the policy's own gains, from its artifact; nothing else sets them
        self.kp = np.asarray(meta.kp, dtype=np.float64)
        self.kd = np.asarray(meta.kd, dtype=np.float64)
        self._ref: tuple[float, ReferenceSample] | None = None
        self._joints: tuple[float, np.ndarray, np.ndarray] | None = None
        self._imu: tuple[float, np.ndarray, np.ndarray] | None = None
        self._active = False  # False -> the next good step starts a new episode (history reset)
        self._before_step: tuple | None = None  # (observation builder, last action) for a redo

    # ---- inputs (each rejects malformed data instead of storing it) -------------------------
    def set_reference(self, ref: ReferenceSample, now: float) -> str | None:
        if np.shape(ref.joint_pos) != (robot.NUM_JOINTS,):
            return f"reference has {np.size(ref.joint_pos)} joint positions, expected {robot.NUM_JOINTS}"
        fields = (ref.joint_pos, ref.root_height, ref.root_rpy, ref.root_lin_vel_local, ref.root_yaw_rate)
        if not _finite(*fields):
            return "reference contains NaN/inf"
        if ref.command is not None and (np.shape(ref.command) != (3,) or not _finite(ref.command)):
            return "reference command is not 3 finite values"
        self._ref = (now, ref)
        return None

    def set_joint_state(self, q: np.ndarray, dq: np.ndarray, now: float) -> str | None:
        if np.shape(q) != (robot.NUM_JOINTS,) or np.shape(dq) != (robot.NUM_JOINTS,):
            return f"joint state has shape {np.shape(q)}/{np.shape(dq)}, expected ({robot.NUM_JOINTS},)"
        if not _finite(q, dq):
            return "joint state contains NaN/inf"
        self._joints = (now, np.asarray(q, float), np.asarray(dq, float))
        return None

    def set_imu(self, quat_wxyz: np.ndarray, gyro: np.ndarray, now: float) -> str | None:
        quat = np.asarray(quat_wxyz, dtype=np.float64)
        if quat.shape != (4,) or np.shape(gyro) != (3,):
            return "IMU sample has the wrong shape"
        if not _finite(quat, gyro) or not 0.5 < np.linalg.norm(quat) < 1.5:
            return "IMU sample is not finite or not a unit quaternion"
        self._imu = (now, quat / np.linalg.norm(quat), np.asarray(gyro, float))
        return None

    # ---- step ---------------------------------------------------------------------------------
    def _stale_reason(self, now: float) -> str | None:
        cfg = self.config
        for name, sample, timeout in (
            ("reference", self._ref, cfg.reference_timeout),
            ("joint state", self._joints, cfg.state_timeout),
            ("IMU", self._imu, cfg.state_timeout),
        ):
            if sample is None:
                return f"no {name} received yet"
            age = now - sample[0]
            if age > timeout:
                return f"{name} stale ({age * 1000:.0f} ms > {timeout * 1000:.0f} ms)"
        return None

    def step(self, now: float, redo: bool = False) -> StepResult:
        """One control step. ``redo``: this step replaces the previous one (a revised reference for
        the same tick): the history and last action go back to before it first, so the policy's
        history keeps one entry per tick."""
        reason = self._stale_reason(now)
        if reason is not None:
            self._active = False
            return StepResult(None, self.kp, self.kd, reason, 0.0)
        t0 = time.perf_counter()
        if redo and self._active and self._before_step is not None:
            self.observations, self.last_action = self._before_step
        if not self._active:
            self.observations.reset()
            self.last_action[:] = 0.0
            self._active = True
        self._before_step = (copy.deepcopy(self.observations), self.last_action.copy())
        _, ref = self._ref
        _, q, dq = self._joints
        _, quat, gyro = self._imu
        state = RobotInput(
            base_ang_vel=gyro[None],
            base_quat_wxyz=quat[None],
            joint_pos=q[None],
            joint_vel=dq[None],
            last_action=self.last_action[None],
        )
        if self.velocity_layout:
            if ref.command is None:
                self._active = False
                return StepResult(None, self.kp, self.kd, "reference carries no command", 0.0)
            command = np.clip(np.asarray(ref.command, float), self.command_low, self.command_high)
            obs = self.observations.build(command[None], state)
        else:
            obs = self._twist_observation(ref, state)
        action = self.policy.act(obs)[0]
        if not np.all(np.isfinite(action)):
            self._active = False
            return StepResult(None, self.kp, self.kd, "policy output NaN/inf", time.perf_counter() - t0)
        self.last_action = action.copy()  # the raw, unclipped output (as both policies were trained)
        # joints the policy does not actuate follow the reference or hold its default (metadata)
        targets = actions_to_targets(
            action[None], wrist_targets=np.asarray(ref.joint_pos), metadata=self.policy.metadata
        )[0]
        return StepResult(targets, self.kp, self.kd, "ok", time.perf_counter() - t0)

    def _twist_observation(self, ref: ReferenceSample, state: RobotInput) -> np.ndarray:
        return self.observations.build(
            ReferenceInput(
                root_height=np.array([ref.root_height]),
                root_rpy=np.asarray(ref.root_rpy, float)[None],
                root_lin_vel_local=np.asarray(ref.root_lin_vel_local, float)[None],
                root_yaw_rate=np.array([ref.root_yaw_rate]),
                joint_pos=np.asarray(ref.joint_pos, float)[None],
            ),
            state,
        )
