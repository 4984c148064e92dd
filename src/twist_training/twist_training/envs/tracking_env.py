"""The TWIST motion-tracking task, written once against :mod:`twist_training.backends`.

Numpy, batched over ``num_envs``. One ``step(raw_actions)`` = one 50 Hz policy step:

1. action pipeline: the raw policy output is what the next observation reports as "last action";
   the applied action is clipped to +-10, optionally delayed by one step (one draw for all envs,
   after ``action_delay_start_steps``), and turned into joint targets by
   ``twist_controller.policy.actions_to_targets`` (the deployment function; wrists follow the
   reference);
2. physics (``decimation`` substeps inside the backend), end-effector pushes for one substep, root
   velocity pushes every 4 s;
3. rewards (:mod:`.rewards`), terminations (C.1), curriculum update and resets (C.2) of done envs;
4. observations: ``teacher`` (1318, B.2) and ``student`` (1155, B.3, built by
   ``twist_controller.observations.StudentObservationBuilder``, the policy node's builder).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from twist_controller import robot
from twist_controller.observations import (
    STUDENT_LAYOUT,
    ReferenceInput,
    RobotInput,
    StudentObservationBuilder,
    mimic_obs,
    proprio_obs,
)
from twist_controller.policy import actions_to_targets
from twist_controller.rotations import quat_rotate, quat_rotate_inverse, quat_to_rpy, rpy_to_quat, yaw_quat

from ..backends.base import PhysicsParams, make_backend
from .config import TaskConfig
from .motion_lib import MotionLibrary, ReferenceFrames
from .rewards import RewardInputs, compute_rewards

N_ACT = robot.NUM_POLICY_JOINTS
TEACHER_FRAME = 8 + N_ACT + 27  # 58
N_PRIV_INFO = 3 + 1 + 27 + 2 + 4 + 1 + 2 * N_ACT  # 84
P = robot.POLICY_TO_FULL


def teacher_obs_size(num_future: int = 20, num_key_bodies: int = 9) -> int:
    return num_future * (8 + N_ACT + 3 * num_key_bodies) + STUDENT_LAYOUT.n_proprio + N_PRIV_INFO


def reference_input(ref: ReferenceFrames) -> ReferenceInput:
    """ReferenceFrames -> the observation builder's ReferenceInput (what cmg/policy node sends)."""
    rpy = ref.root_rpy
    return ReferenceInput(
        root_height=ref.root_pos[:, 2],
        root_rpy=rpy,
        root_lin_vel_local=ref.root_lin_vel_local,
        root_yaw_rate=ref.root_ang_vel_local[:, 2],
        joint_pos=ref.joint_pos,
    )


@dataclass
class StepOutput:
    obs: dict[str, np.ndarray]
    reward: np.ndarray
    done: np.ndarray
    time_out: np.ndarray
    log: dict[str, float]


class TrackingEnv:
    def __init__(self, cfg: TaskConfig, motions: MotionLibrary | None = None, backend=None):
        self.cfg = cfg
        self.num_envs = n = cfg.num_envs
        self.rng = np.random.default_rng(cfg.seed)
        self.motions = motions or MotionLibrary.from_config(cfg.motions, cfg.key_bodies, cfg.curriculum)
        self.backend = backend or make_backend(cfg.sim.backend, n, cfg.sim, cfg.key_bodies, cfg.seed)
        self.dt = cfg.sim.policy_dt
        self.future = np.asarray(cfg.teacher_future_steps)
        self.num_teacher_obs = teacher_obs_size(len(self.future), len(cfg.key_bodies))
        self.num_student_obs = STUDENT_LAYOUT.size
        self.num_actions = N_ACT
        self.max_episode_length = int(np.ceil(cfg.terminations.max_episode_s / self.dt))
        self.student_builder = StudentObservationBuilder(n)
        self.total_steps = 0  # vectorized env steps (drives noise/delay ramps)
        if cfg.noise.start_full:
            self.total_steps = max(cfg.noise.ramp_steps, cfg.domain_rand.action_delay_start_steps)
        self.motion_ids = np.zeros(n, dtype=np.int64)
        self.motion_t0 = np.zeros(n)
        self.episode_length = np.zeros(n, dtype=np.int64)
        self.last_raw_action = np.zeros((n, N_ACT))
        self.action_hist = np.zeros((n, 8, N_ACT))
        self.last_applied = np.zeros((n, N_ACT))
        self.last_dq = np.zeros((n, N_ACT))
        self.air_time = np.zeros((n, 2))
        self.last_contact = np.zeros((n, 2), dtype=bool)
        self.prev_foot_pos = np.zeros((n, 2, 3))
        self._init_domain_rand()
        self.obs: dict[str, np.ndarray] = {}
        self.reset()

    # ------------------------------------------------------------------ domain randomization
    def _init_domain_rand(self) -> None:
        dr, n, rng = self.cfg.domain_rand, self.num_envs, self.rng
        self.kp_factor = np.ones((n, robot.NUM_JOINTS))
        self.kd_factor = np.ones((n, robot.NUM_JOINTS))
        self.friction = np.ones(n)
        self.mass_delta = np.zeros(n)
        self.com_delta = np.zeros((n, 3))
        if not dr.enabled:
            return
        buckets = rng.uniform(*dr.friction_range, size=dr.friction_buckets)
        self.friction = buckets[rng.integers(0, dr.friction_buckets, size=n)]
        self.mass_delta = rng.uniform(*dr.base_mass_range, size=n)
        self.com_delta = rng.uniform(*dr.base_com_range, size=(n, 3))
        self.kp_factor = rng.uniform(*dr.motor_strength_range, size=(n, robot.NUM_JOINTS))
        self.kd_factor = rng.uniform(*dr.motor_strength_range, size=(n, robot.NUM_JOINTS))
        gravity = None
        if dr.randomize_gravity:
            gravity = np.array([0.0, 0.0, -9.81]) + rng.uniform(-dr.gravity_range, dr.gravity_range, (n, 3))
        self.backend.set_params(
            np.arange(n),
            PhysicsParams(
                self.friction, self.mass_delta, self.com_delta, self.kp_factor, self.kd_factor, gravity
            ),
        )

    # ------------------------------------------------------------------ helpers
    @property
    def time(self) -> np.ndarray:
        return self.motion_t0 + self.episode_length * self.dt

    def noise_scale(self) -> float:
        nc = self.cfg.noise
        if not nc.enabled:
            return 0.0
        return 1.0 if nc.ramp_steps <= 0 else min(self.total_steps / nc.ramp_steps, 1.0)

    def _robot_input(self, st, noise: float) -> RobotInput:
        quat = st.qpos[:, 3:7]
        ang = st.qvel[:, 3:6].copy()
        q = st.qpos[:, 7:].copy()
        dq = st.qvel[:, 6:].copy()
        if noise > 0.0:
            nc, rng, n = self.cfg.noise, self.rng, self.num_envs
            ang += rng.uniform(-1, 1, (n, 3)) * nc.ang_vel * noise / 0.25
            rpy = quat_to_rpy(quat)
            rpy[:, :2] += rng.uniform(-1, 1, (n, 2)) * nc.imu * noise
            quat = rpy_to_quat(rpy)
            q += rng.uniform(-1, 1, q.shape) * nc.dof_pos * noise
            dq += rng.uniform(-1, 1, dq.shape) * nc.dof_vel * noise / 0.05
        return RobotInput(ang, quat, q, dq, self.last_raw_action)

    # ------------------------------------------------------------------ reset
    def reset(self) -> dict[str, np.ndarray]:
        self._reset_envs(np.arange(self.num_envs))
        self.obs = self._observations(self.backend.state())
        return self.obs

    def _reset_envs(self, ids: np.ndarray) -> None:
        if len(ids) == 0:
            return
        rc, rng, k = self.cfg.reset, self.rng, len(ids)
        mids, t0 = self.motions.sample(k, rng)
        ref = self.motions.frames(mids, t0)
        qpos = np.zeros((k, 36))
        qpos[:, :2] = ref.root_pos[:, :2] + rng.uniform(-rc.root_xy_noise, rc.root_xy_noise, (k, 2))
        qpos[:, 2] = ref.root_pos[:, 2] + rc.root_z_offset
        qpos[:, 3:7] = ref.root_quat
        qpos[:, 7:] = robot.clip_to_limits(
            ref.joint_pos * rng.uniform(*rc.dof_scale_range, (k, robot.NUM_JOINTS))
        )
        qvel = np.zeros((k, 35))
        qvel[:, 0:3] = rc.root_vel_scale * ref.root_lin_vel
        qvel[:, 3:6] = rc.root_vel_scale * ref.root_ang_vel_local
        qvel[:, 6:] = rc.dof_vel_scale * ref.joint_vel
        self.backend.reset_envs(ids, qpos, qvel)
        self.motion_ids[ids] = mids
        self.motion_t0[ids] = t0
        self.episode_length[ids] = 0
        self.last_raw_action[ids] = 0.0
        self.action_hist[ids] = 0.0
        self.last_applied[ids] = 0.0
        self.last_dq[ids] = qvel[:, 6:][:, P]
        self.air_time[ids] = 0.0
        self.last_contact[ids] = False
        self.student_builder.reset(ids)
        self._reset_foot_pos_ids = ids

    # ------------------------------------------------------------------ observations
    def _observations(self, st) -> dict[str, np.ndarray]:
        n, nf = self.num_envs, len(self.future)
        if getattr(self, "_reset_foot_pos_ids", None) is not None:
            self.prev_foot_pos[self._reset_foot_pos_ids] = st.foot_pos[self._reset_foot_pos_ids]
            self._reset_foot_pos_ids = None
        noise = self.noise_scale()
        rin = self._robot_input(st, noise)
        t = self.time
        ids = np.repeat(self.motion_ids, nf)
        times = (t[:, None] + self.future[None, :] * self.dt).reshape(-1)
        fut = self.motions.frames(ids, times)
        mim = mimic_obs(reference_input(fut))  # (n*nf, 31)
        kb = fut.key_body_local.reshape(n * nf, -1)
        priv_mimic = np.concatenate([mim, kb], axis=-1).reshape(n, -1)
        proprio = proprio_obs(rin)
        priv = self._priv_info(st)
        teacher = np.concatenate([priv_mimic, proprio, priv], axis=-1)
        first = ReferenceFrames(
            *(
                getattr(fut, f).reshape(n, nf, *getattr(fut, f).shape[1:])[:, 0]
                for f in (
                    "root_pos",
                    "root_quat",
                    "root_lin_vel",
                    "root_ang_vel",
                    "joint_pos",
                    "joint_vel",
                    "key_body_local",
                )
            )
        )
        self.last_reference_input = reference_input(first)  # what the student saw (tests, tools)
        self.last_robot_input = rin
        student = self.student_builder.build(self.last_reference_input, rin)
        c = self.cfg.obs_clip
        self._wrist_ref = first.joint_pos
        return {
            "teacher": np.clip(teacher, -c, c).astype(np.float32),
            "student": np.clip(student, -c, c).astype(np.float32),
        }

    def _priv_info(self, st) -> np.ndarray:
        quat = st.qpos[:, 3:7]
        lin = quat_rotate_inverse(quat, st.qvel[:, 0:3])
        kb = quat_rotate_inverse(quat[:, None], st.key_body_pos - st.qpos[:, None, 0:3]).reshape(
            self.num_envs, -1
        )
        contact = (st.foot_force[..., 2] > self.cfg.rewards.contact_force_threshold).astype(np.float64)
        return np.concatenate(
            [
                lin,
                st.qpos[:, 2:3],
                kb,
                contact,
                self.mass_delta[:, None],
                self.com_delta,
                self.friction[:, None],
                self.kp_factor[:, P] - 1.0,
                self.kd_factor[:, P] - 1.0,
            ],
            axis=-1,
        )

    # ------------------------------------------------------------------ step
    def step(self, raw_actions: np.ndarray) -> StepOutput:
        cfg, dr, n = self.cfg, self.cfg.domain_rand, self.num_envs
        raw = np.asarray(raw_actions, dtype=np.float64).reshape(n, N_ACT)
        self.last_raw_action = raw.copy()
        clipped = np.clip(raw, -robot.ACTION_CLIP, robot.ACTION_CLIP)
        self.action_hist = np.roll(self.action_hist, -1, axis=1)
        self.action_hist[:, -1] = clipped
        delay = 0
        if dr.enabled and dr.action_delay and self.total_steps >= dr.action_delay_start_steps:
            delay = int(self.rng.integers(0, dr.action_delay_max + 1))
        applied = self.action_hist[:, -1 - delay]
        targets = actions_to_targets(applied, wrist_targets=self._wrist_ref)

        self.total_steps += 1
        hand_forces = None
        if dr.enabled and dr.push_end_effector:
            every = max(1, round(dr.push_end_effector_interval_s / self.dt))
            if self.total_steps % every == 0:
                f = dr.max_push_force_end_effector
                hand_forces = self.rng.uniform(-f, f, (n, 2, 3))
        self.backend.step(targets, hand_forces)
        self.episode_length += 1
        if dr.enabled and dr.push_robots:
            every = max(1, round(dr.push_interval_s / self.dt))
            if self.total_steps % every == 0:
                v = dr.max_push_vel_xy
                self.backend.set_root_velocity_xy(np.arange(n), self.rng.uniform(-v, v, (n, 2)))

        st = self.backend.state()
        ref = self.motions.frames(self.motion_ids, self.time)
        x, extra = self._reward_inputs(st, ref, applied)
        reward, parts = compute_rewards(x, cfg.rewards)
        self.last_applied = applied.copy()
        self.last_dq = x.dq.copy()

        # terminations (C.1)
        tc = cfg.terminations
        rpy = quat_to_rpy(st.qpos[:, 3:7])
        reasons = {
            "torso_contact": st.torso_force > tc.torso_contact_force,
            "root_height": np.abs(x.root_height - x.ref_root_height) > tc.root_height_diff,
            "roll_pitch": (np.abs(rpy[:, 0]) > tc.max_roll) | (np.abs(rpy[:, 1]) > tc.max_pitch),
            "root_speed": np.linalg.norm(st.qvel[:, 0:3], axis=-1) > tc.max_root_speed,
        }
        if tc.pose_termination:
            reasons["pose"] = extra["pose_err_max"] > tc.pose_termination_dist**2
        fail = np.zeros(self.num_envs, dtype=bool)
        for r in reasons.values():
            fail |= r
        fail &= self.episode_length > 1
        fail |= ~np.all(np.isfinite(st.qpos), axis=-1)
        length = self.motions.length[self.motion_ids]
        time_out = (self.time >= length) | (self.episode_length >= self.max_episode_length)
        time_out &= ~fail
        done = fail | time_out

        log = {f"Reward/{k}": float(v.mean()) for k, v in parts.items()}
        log.update(
            {
                "Tracking/joint_pos_err_rad": float(np.abs(x.q_ref - x.q).mean()),
                "Tracking/keybody_pos_err_m": float(extra["kb_err"].mean()),
                "Tracking/root_vel_err_mps": float(
                    np.linalg.norm(x.ref_lin_vel_local - x.base_lin_vel, axis=-1).mean()
                ),
                "Tracking/root_height_err_m": float(np.abs(x.root_height - x.ref_root_height).mean()),
                "Env/noise_scale": self.noise_scale(),
                "Env/fail_rate": float(fail.mean()),
                "Curriculum/mean_difficulty": float(self.motions.difficulty.mean()),
            }
        )
        first = self.episode_length > 1
        log.update({f"Termination/{k}": float((v & first).mean()) for k, v in reasons.items()})
        ids = np.flatnonzero(done)
        if len(ids):
            elapsed = self.episode_length[ids] * self.dt
            remaining = np.maximum(length[ids] - self.motion_t0[ids], self.dt)
            self.motions.update_curriculum(self.motion_ids[ids], np.clip(elapsed / remaining, 0.0, 1.0))
            self._reset_envs(ids)
            st = self.backend.state()
        self.obs = self._observations(st)
        self.prev_foot_pos = st.foot_pos.copy()
        return StepOutput(self.obs, reward, done, time_out, log)

    def _reward_inputs(self, st, ref: ReferenceFrames, applied: np.ndarray):
        n = self.num_envs
        quat = st.qpos[:, 3:7]
        q = st.qpos[:, 7:][:, P]
        dq = st.qvel[:, 6:][:, P]
        root = st.qpos[:, 0:3]
        kb_rel = st.key_body_pos - root[:, None]
        kb_yaw = quat_rotate_inverse(yaw_quat(quat)[:, None], kb_rel)
        ref_world = quat_rotate(ref.root_quat[:, None], ref.key_body_local)
        ref_yaw = quat_rotate_inverse(yaw_quat(ref.root_quat)[:, None], ref_world)
        kb_full = quat_rotate_inverse(quat[:, None], kb_rel)
        pose_err = np.sum((kb_full - ref.key_body_local) ** 2, axis=-1)
        foot_vel = (st.foot_pos - self.prev_foot_pos) / self.dt
        contact = st.foot_force[..., 2] > self.cfg.rewards.contact_force_threshold
        contact_filt = contact | self.last_contact
        first_contact = (self.air_time > 0) & contact_filt
        self.air_time += self.dt
        air_at_contact = self.air_time.copy()
        self.air_time *= ~contact_filt
        self.last_contact = contact
        x = RewardInputs(
            q=q,
            dq=dq,
            q_ref=ref.joint_pos[:, P],
            dq_ref=ref.joint_vel[:, P],
            root_height=root[:, 2],
            ref_root_height=ref.root_pos[:, 2],
            root_quat=quat,
            ref_root_quat=ref.root_quat,
            base_lin_vel=quat_rotate_inverse(quat, st.qvel[:, 0:3]),
            base_ang_vel=st.qvel[:, 3:6],
            ref_lin_vel_local=ref.root_lin_vel_local,
            ref_ang_vel_local=ref.root_ang_vel_local,
            key_body=kb_yaw,
            ref_key_body=ref_yaw,
            foot_force=st.foot_force,
            foot_vel=foot_vel,
            torque=st.joint_torque[:, P],
            last_dq=self.last_dq,
            action=applied,
            last_action=self.last_applied,
            first_contact=first_contact,
            air_time=air_at_contact,
            ref_speed_xy=np.linalg.norm(ref.root_lin_vel[:, :2], axis=-1),
            dt=self.dt,
        )
        extra = {"pose_err_max": pose_err.max(axis=-1), "kb_err": np.sqrt(pose_err).mean(axis=-1)}
        assert x.q.shape == (n, N_ACT)
        return x, extra
