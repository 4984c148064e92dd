"""MuJoCo (C engine, CPU) backend: one MjModel + MjData per env, substeps in C.

* PD runs inside MuJoCo: the scene uses ``<position>`` actuators (force = kp (target - q) - kd qdot,
  clipped to ``torque_scale`` x the URDF effort, TWIST's training clip), so one policy step is a
  single ``mj_step(model, data, nstep=decimation)`` call per env: no Python per substep.
* Each env has its own MjModel copy, so friction, pelvis mass/COM and per-joint Kp/Kd factors
  (motor strength) are randomised per env by editing model fields.
* ``threads > 1`` steps chunks of envs in a thread pool (the bindings release the GIL inside
  ``mj_step``; on a shared 2-core box the gain is small, see docs/training.md).
* Foot/torso contact forces come from ``cfrc_ext`` (``mj_rnePostConstraint`` once per policy step).
"""

from __future__ import annotations

import copy
from concurrent.futures import ThreadPoolExecutor

import numpy as np

from twist_controller import robot

from .base import BatchState, PhysicsParams


def build_training_model(sim_cfg):
    """The G1 scene for training: position actuators, training torque clip, implicit integration,
    no visual meshes (masses/inertias are unchanged; a test checks it)."""
    import mujoco

    from twist_controller.g1_model import SceneConfig, build_scene_spec, default_qpos

    spec = build_scene_spec(SceneConfig(actuator="position", timestep=sim_cfg.timestep, add_light=False))
    # Visual meshes (no collision, inertia is explicit in the model) cost ~64 MB per env copy: drop them.
    for g in [
        g
        for g in spec.geoms
        if g.type == mujoco.mjtGeom.mjGEOM_MESH and g.contype == 0 and g.conaffinity == 0
    ]:
        spec.delete(g)
    for mesh in list(spec.meshes):
        spec.delete(mesh)
    m = spec.compile()
    if not getattr(sim_cfg, "self_collision", True):  # robot geoms collide with the world body only
        robot_geoms = (m.geom_bodyid != 0) & ((m.geom_contype != 0) | (m.geom_conaffinity != 0))
        m.geom_contype[robot_geoms], m.geom_conaffinity[robot_geoms] = 2, 0
        m.geom_conaffinity[(m.geom_bodyid == 0) & (m.geom_contype != 0)] |= 2
    m.key_qpos[0] = default_qpos(m)
    m.actuator_forcerange[:] = (
        np.stack([-robot.TORQUE_LIMIT, robot.TORQUE_LIMIT], axis=1) * sim_cfg.torque_scale
    )
    m.opt.integrator = mujoco.mjtIntegrator.mjINT_IMPLICITFAST
    m.opt.iterations = 10
    m.opt.ls_iterations = 20
    return m


class MujocoCpuBackend:
    def __init__(self, num_envs: int, sim_cfg, key_bodies):
        import mujoco

        self._mj = mujoco
        self.num_envs = num_envs
        self.decimation = sim_cfg.decimation
        self.policy_dt = sim_cfg.timestep * sim_cfg.decimation
        self.base_model = build_training_model(sim_cfg)
        m = self.base_model
        self.models = [copy.deepcopy(m) for _ in range(num_envs)]
        self.datas = [mujoco.MjData(mm) for mm in self.models]
        self.key_ids = np.array([m.body(b).id for b in key_bodies])
        self.foot_ids = np.array([m.body(b).id for b in robot.FOOT_BODIES])
        self.hand_ids = np.array([m.body(b).id for b in robot.HAND_BODIES])
        self.torso_id = m.body(robot.TORSO_BODY).id
        self.pelvis_id = m.body(robot.ROOT_BODY).id
        self._base_mass = float(m.body_mass[self.pelvis_id])
        self._base_ipos = m.body_ipos[self.pelvis_id].copy()
        self._kp = m.actuator_gainprm[:, 0].copy()
        self._kd = -m.actuator_biasprm[:, 2].copy()
        self._geom_friction = m.geom_friction[:, 0].copy()
        self.threads = max(1, int(sim_cfg.threads))
        self._pool = ThreadPoolExecutor(self.threads) if self.threads > 1 else None
        self._chunks = np.array_split(np.arange(num_envs), self.threads)
        for mm, d in zip(self.models, self.datas, strict=True):
            mujoco.mj_resetDataKeyframe(mm, d, 0)
            d.ctrl[:] = robot.DEFAULT_POSITION
            mujoco.mj_forward(mm, d)
        self._hand_forces: np.ndarray | None = None
        self._targets = np.tile(robot.DEFAULT_POSITION, (num_envs, 1))

    # ------------------------------------------------------------------ interface
    def reset_envs(self, env_ids, qpos, qvel) -> None:
        mj = self._mj
        for k, i in enumerate(np.asarray(env_ids)):
            m, d = self.models[i], self.datas[i]
            mj.mj_resetData(m, d)
            d.qpos[:] = qpos[k]
            d.qvel[:] = qvel[k]
            d.ctrl[:] = qpos[k, 7:]
            self._targets[i] = qpos[k, 7:]
            mj.mj_forward(m, d)

    def set_params(self, env_ids, p: PhysicsParams) -> None:
        for k, i in enumerate(np.asarray(env_ids)):
            m = self.models[i]
            if p.friction is not None:
                m.geom_friction[:, 0] = p.friction[k]
            if p.base_mass_delta is not None:
                m.body_mass[self.pelvis_id] = self._base_mass + p.base_mass_delta[k]
            if p.base_com_delta is not None:
                m.body_ipos[self.pelvis_id] = self._base_ipos + p.base_com_delta[k]
            if p.kp_factor is not None:
                kp = self._kp * p.kp_factor[k]
                m.actuator_gainprm[:, 0] = kp
                m.actuator_biasprm[:, 1] = -kp
            if p.kd_factor is not None:
                m.actuator_biasprm[:, 2] = -self._kd * p.kd_factor[k]
            if p.gravity is not None:
                m.opt.gravity[:] = p.gravity[k]

    def set_root_velocity_xy(self, env_ids, vxy) -> None:
        for k, i in enumerate(np.asarray(env_ids)):
            self.datas[i].qvel[0:2] = vxy[k]

    def _step_chunk(self, ids) -> None:
        mj = self._mj
        dec = self.decimation
        hf = self._hand_forces
        for i in ids:
            m, d = self.models[i], self.datas[i]
            d.ctrl[:] = self._targets[i]
            if hf is not None and np.any(hf[i]):
                d.xfrc_applied[self.hand_ids, :3] = hf[i]
                mj.mj_step(m, d)  # the force acts for exactly one substep
                d.xfrc_applied[self.hand_ids, :3] = 0.0
                if dec > 1:
                    mj.mj_step(m, d, nstep=dec - 1)
            else:
                mj.mj_step(m, d, nstep=dec)
            mj.mj_rnePostConstraint(m, d)

    def step(self, targets, hand_forces=None) -> None:
        self._targets[:] = targets
        self._hand_forces = hand_forces
        if self._pool is None:
            self._step_chunk(range(self.num_envs))
        else:
            list(self._pool.map(self._step_chunk, self._chunks))

    def state(self) -> BatchState:
        n = self.num_envs
        qpos = np.empty((n, self.base_model.nq))
        qvel = np.empty((n, self.base_model.nv))
        kb = np.empty((n, len(self.key_ids), 3))
        fp = np.empty((n, 2, 3))
        ff = np.empty((n, 2, 3))
        tf = np.empty(n)
        tau = np.empty((n, robot.NUM_JOINTS))
        for i, d in enumerate(self.datas):
            qpos[i] = d.qpos
            qvel[i] = d.qvel
            kb[i] = d.xpos[self.key_ids]
            fp[i] = d.xpos[self.foot_ids]
            ff[i] = d.cfrc_ext[self.foot_ids, 3:]
            tf[i] = np.linalg.norm(d.cfrc_ext[self.torso_id, 3:])
            tau[i] = d.actuator_force
        return BatchState(qpos, qvel, kb, fp, ff, tf, tau)

    def raw_step_rate(self, seconds: float = 2.0) -> float:
        """Plain ``mj_step`` steps/s of one copy of this model from the standing keyframe (benchmark)."""
        import time

        mj = self._mj
        m = copy.deepcopy(self.base_model)
        d = mj.MjData(m)
        mj.mj_resetDataKeyframe(m, d, 0)
        d.ctrl[:] = robot.DEFAULT_POSITION
        n, t0 = 0, time.perf_counter()
        while time.perf_counter() - t0 < seconds:
            mj.mj_step(m, d, nstep=100)
            n += 100
        return n / (time.perf_counter() - t0)
