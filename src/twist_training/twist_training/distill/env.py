"""The batched velocity task of the distillation: G1s in MuJoCo under the expert's control interface.

Per env: random command segments (standing included), the CMG reference generated from them, random
foot friction per episode, random root-velocity kicks, reset on a fall or at the episode's end. The
PD runs in MuJoCo's C step (position actuators) with **the expert's** kp/kd and the full torque
limits, i.e. the gains the student will be deployed with. The env does not decide who acts: the
caller passes the 29-DOF raw actions (expert action space: target = default + 0.25 a).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from twist_controller import robot
from twist_controller.observations import RobotInput, StudentObservationBuilder
from twist_controller.policy import PolicyMetadata, actions_to_targets
from twist_controller.rotations import quat_rotate_inverse, quat_to_rpy

from ..backends.base import PhysicsParams
from ..backends.mujoco_cpu import MujocoCpuBackend
from ..envs.config import SimConfig
from .config import DistillConfig
from .reference import BatchedReference

FALL_HEIGHT = 0.5  # m pelvis height
FALL_TILT = 1.0  # rad


@dataclass
class StepInfo:
    fell: np.ndarray  # (N,) bool: envs that fell this step (they were reset)
    timed_out: np.ndarray  # (N,) bool: envs whose episode ended this step (they were reset)
    velocity: np.ndarray  # (N, 3) pelvis vx, vy in the heading frame and yaw rate, before resets
    command: np.ndarray  # (N, 3) the user command of this step


class VelocityDistillEnv:
    def __init__(self, cfg: DistillConfig, interface: PolicyMetadata, seed: int = 0):
        self.cfg = cfg
        self.num_envs = n = cfg.num_envs
        self.interface = interface
        self.rng = np.random.default_rng(seed)
        sim = SimConfig(
            timestep=cfg.timestep,
            decimation=cfg.decimation,
            threads=cfg.threads,
            torque_scale=1.0,
            stepper=cfg.stepper,
            contact_model=cfg.contact_model,
        )
        self.backend = MujocoCpuBackend(n, sim, key_bodies=(robot.TORSO_BODY,))
        self.dt = sim.policy_dt
        all_ids = np.arange(n)
        kp_f = np.asarray(interface.kp) / robot.KP
        kd_f = np.asarray(interface.kd) / robot.KD
        self.backend.set_params(
            all_ids, PhysicsParams(kp_factor=np.tile(kp_f, (n, 1)), kd_factor=np.tile(kd_f, (n, 1)))
        )
        self.reference = BatchedReference(n, cfg.cmg_model, seed=seed, pipeline=cfg.pipeline_reference)
        self.student_obs = StudentObservationBuilder(n)
        self.init_qpos = self._standing_qpos(interface.default_array)
        self.command = np.zeros((n, 3))  # the user command (what /cmd_vel would say)
        self.step_count = np.zeros(n, dtype=np.int64)
        self.segment_end = np.zeros(n, dtype=np.int64)
        self.next_push = np.zeros(n, dtype=np.int64)
        self.last_action = np.zeros((n, robot.NUM_JOINTS))  # raw 29-DOF action of the last step
        # this episode's targets reach the motors delay_ticks periods late: a FIFO of the targets
        # computed in the last max_ticks periods, newest last
        self.delay_ticks = np.zeros(n, dtype=np.int64)
        self._target_fifo = np.tile(interface.default_array, (self.cfg.action_delay_max_ticks + 1, n, 1))
        self.segment_started = np.zeros(n, dtype=bool)  # set on the step a new segment begins
        self.reset(all_ids)

    # ------------------------------------------------------------------ set-up
    def _standing_qpos(self, pose: np.ndarray) -> np.ndarray:
        """Free joint + ``pose``, pelvis lowered until the feet touch the floor."""
        import mujoco

        m = self.backend.base_model
        d = mujoco.MjData(m)
        d.qpos[:] = m.key_qpos[0]
        d.qpos[7:] = pose
        mujoco.mj_kinematics(m, d)
        feet = [
            g
            for g in range(m.ngeom)
            if "_foot" in (m.geom(g).name or "") and m.geom(g).name.endswith("_collision")
        ]
        lowest = min(d.geom_xpos[g][2] - m.geom_size[g][0] for g in feet)
        q = d.qpos.copy()
        q[2] -= lowest - 0.002
        return q

    def _draw_commands(self, k: int) -> np.ndarray:
        c = self.cfg
        cmd = np.stack(
            [
                self.rng.uniform(*c.vx_range, k),
                self.rng.uniform(*c.vy_range, k),
                self.rng.uniform(*c.yaw_range, k),
            ],
            axis=1,
        )
        single = self.rng.random(k) < c.p_single_axis
        keep = self.rng.integers(0, 3, k)
        mask = np.ones((k, 3), dtype=bool)
        mask[single] = False
        mask[single, keep[single]] = True
        cmd = cmd * mask
        cmd[self.rng.random(k) < c.p_stand] = 0.0
        return cmd

    def _new_segments(self, ids: np.ndarray) -> None:
        if len(ids) == 0:
            return
        self.command[ids] = self._draw_commands(len(ids))
        lo, hi = self.cfg.segment_s
        self.segment_end[ids] = self.step_count[ids] + (self.rng.uniform(lo, hi, len(ids)) / self.dt).astype(
            int
        )
        self.reference.set_target(ids, self.command[ids])
        self.segment_started[ids] = True

    def _schedule_push(self, ids: np.ndarray) -> None:
        lo, hi = self.cfg.push_interval_s
        if hi <= 0:
            self.next_push[ids] = np.iinfo(np.int64).max
        else:
            self.next_push[ids] = self.step_count[ids] + (
                self.rng.uniform(lo, hi, len(ids)) / self.dt
            ).astype(int)

    def reset(self, ids: np.ndarray) -> None:
        ids = np.asarray(ids, dtype=np.int64)
        if len(ids) == 0:
            return
        k = len(ids)
        qpos = np.tile(self.init_qpos, (k, 1))
        qpos[:, 7:] += self.rng.uniform(-1, 1, (k, robot.NUM_JOINTS)) * self.cfg.init_joint_noise
        qpos[:, 7:] = robot.clip_to_limits(qpos[:, 7:])
        yaw = self.rng.uniform(-np.pi, np.pi, k)
        qpos[:, 3] = np.cos(yaw / 2)
        qpos[:, 4:6] = 0.0
        qpos[:, 6] = np.sin(yaw / 2)
        self.backend.reset_envs(ids, qpos, np.zeros((k, self.backend.base_model.nv)))
        lo, hi = self.cfg.friction_range
        self.backend.set_params(ids, PhysicsParams(friction=self.rng.uniform(lo, hi, k)))
        self.reference.reset(ids)
        self.student_obs.reset(ids)
        self.last_action[ids] = 0.0
        delayed = self.rng.random(k) < self.cfg.action_delay_prob
        ticks = self.rng.integers(1, max(1, self.cfg.action_delay_max_ticks) + 1, k)
        self.delay_ticks[ids] = np.where(delayed, ticks, 0)
        self._target_fifo[:, ids] = qpos[None, :, 7:]
        self.step_count[ids] = 0
        # every episode starts standing for 1-2 s (as a deployed robot does after the hand-over)
        self.command[ids] = 0.0
        self.reference.set_target(ids, self.command[ids])
        self.segment_end[ids] = (self.rng.uniform(1.0, 2.0, k) / self.dt).astype(int)
        self.segment_started[ids] = True
        self._schedule_push(ids)

    # ------------------------------------------------------------------ observation
    def robot_input(self) -> RobotInput:
        st = self.backend.state()
        return RobotInput(
            base_ang_vel=st.qvel[:, 3:6].copy(),
            base_quat_wxyz=st.qpos[:, 3:7].copy(),
            joint_pos=st.qpos[:, 7:].copy(),
            joint_vel=st.qvel[:, 6:].copy(),
            last_action=self.last_action.copy(),
        )

    def tick_reference(self) -> None:
        """Start of a control period: segment changes, then one CMG tick (the reference for now)."""
        self.segment_started[:] = False
        self._new_segments(np.flatnonzero(self.step_count >= self.segment_end))
        self.reference.step()

    def student_observation(self, state: RobotInput) -> np.ndarray:
        s = RobotInput(
            state.base_ang_vel,
            state.base_quat_wxyz,
            state.joint_pos,
            state.joint_vel,
            state.last_action[:, robot.POLICY_TO_FULL],
        )
        return self.student_obs.build(self.reference.reference_input(), s)

    # ------------------------------------------------------------------ step
    def step(self, raw_actions: np.ndarray) -> StepInfo:
        """Apply raw 29-DOF actions (expert action space) for one control period."""
        raw = np.asarray(raw_actions, dtype=np.float64)
        targets = actions_to_targets(raw, metadata=self.interface)  # all 29 actuated (wrists: policy's own)
        push = np.flatnonzero(self.step_count >= self.next_push)
        if len(push):
            st = self.backend.state()
            kick = self.rng.uniform(-1, 1, (len(push), 2)) * self.cfg.push_vxy
            self.backend.set_root_velocity_xy(push, st.qvel[push, :2] + kick)
            self._schedule_push(push)
        self._target_fifo = np.roll(self._target_fifo, -1, axis=0)
        self._target_fifo[-1] = targets
        depth = len(self._target_fifo)
        applied = self._target_fifo[depth - 1 - self.delay_ticks, np.arange(len(targets))]
        self.backend.step(applied)
        self.last_action = raw.copy()
        self.step_count += 1
        st = self.backend.state()
        quat = st.qpos[:, 3:7]
        rpy = quat_to_rpy(quat)
        up = quat_rotate_inverse(quat, np.array([0.0, 0.0, 1.0]))
        tilt = np.arccos(np.clip(up[:, 2], -1, 1))
        fell = (st.qpos[:, 2] < FALL_HEIGHT) | (tilt > FALL_TILT)
        c, s = np.cos(rpy[:, 2]), np.sin(rpy[:, 2])
        v = st.qvel[:, :2]
        vel = np.stack([c * v[:, 0] + s * v[:, 1], -s * v[:, 0] + c * v[:, 1], st.qvel[:, 5]], axis=1)
        # qvel[3:6] is the body-frame angular velocity; near upright its z is the yaw rate
        timed_out = ~fell & (self.step_count * self.dt >= self.cfg.episode_s)
        info = StepInfo(fell, timed_out, vel, self.command.copy())
        self.reset(np.flatnonzero(fell | timed_out))
        return info

    def close(self) -> None:
        """Stop the rollout stepper's and the reference pipeline's threads."""
        self.reference.close()
        self.backend.close()
