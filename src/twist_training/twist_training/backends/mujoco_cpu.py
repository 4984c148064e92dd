"""MuJoCo (C engine, CPU) backend: one MjModel + MjData per env, substeps in C.

* PD runs inside MuJoCo: the scene uses ``<position>`` actuators (force = kp (target - q) - kd qdot,
  clipped to ``torque_scale`` x the URDF effort, TWIST's training clip), so one policy step is a
  single ``mj_step(model, data, nstep=decimation)`` call per env: no Python per substep.
* Each env has its own MjModel copy, so friction, pelvis mass/COM and per-joint Kp/Kd factors
  (motor strength) are randomised per env by editing model fields.
* ``threads > 1`` steps chunks of envs in a thread pool (the bindings release the GIL inside
  ``mj_step``; on a shared 2-core box the gain is small, see docs/training.md).
* Foot/torso contact forces come from ``cfrc_ext`` (``mj_rnePostConstraint`` once per policy step).
* ``stepper="rollout"`` steps all envs with one ``mujoco.rollout`` call (C threads, persistent pool):
  the state of every env lives in one numpy array (``mjSTATE_FULLPHYSICS``), so resets and pushes are
  array writes and ``state()`` is slicing; key-body/foot positions and actuator torques come from
  sensors added to the model (values of the last substep's forward pass, as ``xpos`` /
  ``actuator_force`` after ``mj_step``); foot/torso contact forces from contact sensors (net force,
  equal to ``cfrc_ext`` of the pool up to the sign convention, handled here); hand forces ride in
  the first substep's control vector (``mjSTATE_XFRC_APPLIED``).
  ``qacc_warmstart`` is not carried between policy steps (rollout cannot return it): the first
  substep of each policy step starts the solver cold (Newton converges to the same tolerance).
* ``contact_model="feet"`` replaces each foot's 7 sole capsules by 4 spheres at the sole's corners.
"""

from __future__ import annotations

import copy
from concurrent.futures import ThreadPoolExecutor

import numpy as np

from twist_controller import robot

from .base import BatchState, PhysicsParams

FOOT_SPHERE_RADIUS = 0.01  # m, the sole capsules' radius


def _feet_as_spheres(spec) -> None:
    """Replace the sole capsules of each foot by 4 spheres at the corners of their axis endpoints'
    bounding rectangle (same radius, friction, solref/solimp, priority and collision bits)."""
    import mujoco

    for side in ("left", "right"):
        caps = [
            g
            for g in spec.geoms
            if g.name.startswith(f"{side}_foot")
            and g.name.endswith("_collision")
            and g.type == mujoco.mjtGeom.mjGEOM_CAPSULE
        ]
        if not caps:
            raise ValueError(f"no {side} foot capsules in the scene")
        body = caps[0].parent
        ends = np.concatenate([np.asarray(g.fromto).reshape(2, 3) for g in caps])
        proto = caps[0]
        props = {
            "friction": np.array(proto.friction),
            "condim": proto.condim,
            "priority": proto.priority,
            "solref": np.array(proto.solref),
            "solimp": np.array(proto.solimp),
            "contype": proto.contype,
            "conaffinity": proto.conaffinity,
            "group": proto.group,
        }
        z = float(ends[:, 2].mean())
        xs, ys = (ends[:, 0].min(), ends[:, 0].max()), (ends[:, 1].min(), ends[:, 1].max())
        for g in caps:
            spec.delete(g)
        k = 0
        for x in xs:
            for y in ys:
                k += 1
                body.add_geom(
                    name=f"{side}_foot_corner{k}_collision",
                    type=mujoco.mjtGeom.mjGEOM_SPHERE,
                    size=[FOOT_SPHERE_RADIUS, 0, 0],
                    pos=[x, y, z],
                    mass=0.0,
                    **props,
                )


def build_training_model(sim_cfg, sensor_bodies: tuple[str, ...] = ()):
    """The G1 scene for training: position actuators, training torque clip, implicit integration,
    no visual meshes (masses/inertias are unchanged; a test checks it).

    ``sim_cfg.contact_model`` "feet": the sole capsules become 4 corner spheres per foot.
    ``sensor_bodies``: a framepos sensor per body (world position of the body frame), a contact
    sensor (net force) per foot and the torso, and an actuatorfrc sensor per actuator (the rollout
    stepper reads them)."""
    import mujoco

    from twist_controller.g1_model import SceneConfig, build_scene_spec, default_qpos

    spec = build_scene_spec(SceneConfig(actuator="position", timestep=sim_cfg.timestep, add_light=False))
    contact_model = getattr(sim_cfg, "contact_model", "full")
    if contact_model == "feet":
        _feet_as_spheres(spec)
    elif contact_model != "full":
        raise ValueError(f"contact_model must be 'full' or 'feet', got {contact_model!r}")
    for b in sensor_bodies:
        spec.add_sensor(
            name=f"pos_{b}",
            type=mujoco.mjtSensor.mjSENS_FRAMEPOS,
            objtype=mujoco.mjtObj.mjOBJ_XBODY,
            objname=b,
        )
    if sensor_bodies:
        for b in (*robot.FOOT_BODIES, robot.TORSO_BODY):  # net contact force on the body (-cfrc_ext)
            sens = spec.add_sensor(
                name=f"con_{b}",
                type=mujoco.mjtSensor.mjSENS_CONTACT,
                objtype=mujoco.mjtObj.mjOBJ_BODY,
                objname=b,
            )
            sens.intprm[0] = 1 << int(mujoco.mjtConDataField.mjCONDATA_FORCE)
            sens.intprm[1] = 3  # reduce: net force
            sens.intprm[2] = 1
        for a in spec.actuators:
            spec.add_sensor(
                name=f"frc_{a.name}",
                type=mujoco.mjtSensor.mjSENS_ACTUATORFRC,
                objtype=mujoco.mjtObj.mjOBJ_ACTUATOR,
                objname=a.name,
            )
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
        self.stepper = getattr(sim_cfg, "stepper", "pool")
        if self.stepper not in ("pool", "rollout"):
            raise ValueError(f"stepper must be 'pool' or 'rollout', got {self.stepper!r}")
        key_bodies = tuple(key_bodies)
        # one framepos sensor per distinct body (key bodies may include the feet)
        sensor_bodies = (
            tuple(dict.fromkeys((*key_bodies, *robot.FOOT_BODIES))) if self.stepper == "rollout" else ()
        )
        self.base_model = build_training_model(sim_cfg, sensor_bodies=sensor_bodies)
        m = self.base_model
        self.models = [copy.deepcopy(m) for _ in range(num_envs)]
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
        self._hand_forces: np.ndarray | None = None
        self._targets = np.tile(robot.DEFAULT_POSITION, (num_envs, 1))
        if self.stepper == "rollout":
            self._init_rollout(sensor_bodies, key_bodies)
            return
        self.datas = [mujoco.MjData(mm) for mm in self.models]
        self._pool = ThreadPoolExecutor(self.threads) if self.threads > 1 else None
        self._chunks = np.array_split(np.arange(num_envs), self.threads)
        for mm, d in zip(self.models, self.datas, strict=True):
            mujoco.mj_resetDataKeyframe(mm, d, 0)
            d.ctrl[:] = robot.DEFAULT_POSITION
            mujoco.mj_forward(mm, d)

    # ------------------------------------------------------------------ rollout stepper
    def _init_rollout(self, sensor_bodies, key_bodies) -> None:
        mj, m, n = self._mj, self.base_model, self.num_envs
        from mujoco import rollout

        self._spec = mj.mjtState.mjSTATE_FULLPHYSICS
        ns = mj.mj_stateSize(m, self._spec)
        d = mj.MjData(m)
        mj.mj_resetDataKeyframe(m, d, 0)
        d.ctrl[:] = robot.DEFAULT_POSITION
        mj.mj_forward(m, d)
        s0 = np.empty(ns)
        mj.mj_getState(m, d, s0, self._spec)
        # layout of mjSTATE_FULLPHYSICS: time, qpos, qvel, then act/history/mocap/userdata/plugin
        if ns < 1 + m.nq + m.nv or s0[0] != d.time or not np.array_equal(s0[1 : 1 + m.nq], d.qpos):
            raise RuntimeError("unexpected mjSTATE_FULLPHYSICS layout")
        self._q0, self._v0 = 1, 1 + m.nq
        self._S = np.tile(s0, (n, 1))  # the authoritative state of every env
        self._out = np.empty((n, self.decimation, ns))
        self._sens = np.empty((n, self.decimation, m.nsensordata))
        self._ctrl = np.empty((n, self.decimation, m.nu))
        self._last_sens = np.tile(d.sensordata, (n, 1))
        adr = [m.sensor(f"pos_{b}").adr[0] for b in sensor_bodies]
        self._pos_adr = np.array(adr)[:, None] + np.arange(3)  # (bodies, 3)
        self._frc_adr = np.array([m.sensor(f"frc_{m.actuator(a).name}").adr[0] for a in range(m.nu)])
        con = [m.sensor(f"con_{b}").adr[0] for b in (*robot.FOOT_BODIES, robot.TORSO_BODY)]
        self._con_adr = np.array(con)[:, None] + np.arange(3)  # (3, 3): feet, torso
        # hand forces ride in the control vector (ctrl + xfrc_applied) of the first substep only
        self._xfrc_spec = mj.mjtState.mjSTATE_CTRL | mj.mjtState.mjSTATE_XFRC_APPLIED
        self._ctrl_x = np.zeros((n, self.decimation, m.nu + 6 * m.nbody))
        self._key_rows = np.array([sensor_bodies.index(b) for b in key_bodies], dtype=np.int64)
        self._foot_rows = np.array([sensor_bodies.index(b) for b in robot.FOOT_BODIES], dtype=np.int64)
        self._thread_datas = [mj.MjData(m) for _ in range(self.threads)]
        self._rollout = rollout.Rollout(nthread=self.threads if self.threads > 1 else 0)
        self._chunk = max(1, n // (self.threads * 4))
        self._cold_start = np.zeros((n, m.nv))  # qacc warm start: always cold (rollout cannot return it)

    def close(self) -> None:
        r = getattr(self, "_rollout", None)
        if r is not None:
            r.close()
            self._rollout = None

    def __del__(self):
        try:
            self.close()
        except Exception:
            pass

    # ------------------------------------------------------------------ interface
    def reset_envs(self, env_ids, qpos, qvel) -> None:
        env_ids = np.asarray(env_ids)
        if self.stepper == "rollout":
            S = self._S
            S[env_ids] = 0.0
            S[env_ids, self._q0 : self._v0] = qpos
            S[env_ids, self._v0 : self._v0 + self.base_model.nv] = qvel
            self._targets[env_ids] = qpos[:, 7:]
            d, mj = self._thread_datas[0], self._mj
            for i in env_ids:  # positions/torques of the new pose (resets are rare: a loop is fine)
                mj.mj_setState(self.models[i], d, S[i], self._spec)
                d.ctrl[:] = self._targets[i]
                mj.mj_forward(self.models[i], d)
                self._last_sens[i] = d.sensordata
            return
        mj = self._mj
        for k, i in enumerate(env_ids):
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
        if self.stepper == "rollout":
            self._S[np.asarray(env_ids), self._v0 : self._v0 + 2] = vxy
            return
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
        if self.stepper == "rollout":
            m = self.base_model
            if hand_forces is not None and np.any(hand_forces):
                ctrl, spec = self._ctrl_x, int(self._xfrc_spec)
                ctrl[:] = 0.0
                ctrl[:, :, : m.nu] = self._targets[:, None, :]
                xfrc = ctrl[:, 0, m.nu :].reshape(self.num_envs, m.nbody, 6)
                xfrc[:, self.hand_ids, :3] = hand_forces  # the force acts for exactly one substep
            else:
                ctrl, spec = self._ctrl, int(self._mj.mjtState.mjSTATE_CTRL)
                ctrl[:] = self._targets[:, None, :]
            self._rollout.rollout(
                self.models,
                self._thread_datas,
                self._S,
                ctrl,
                control_spec=spec,
                nstep=self.decimation,
                initial_warmstart=self._cold_start,
                state=self._out,
                sensordata=self._sens,
                chunk_size=self._chunk,
                skip_checks=True,
            )
            self._S[:] = self._out[:, -1]
            self._last_sens[:] = self._sens[:, -1]
            return
        self._hand_forces = hand_forces
        if self._pool is None:
            self._step_chunk(range(self.num_envs))
        else:
            list(self._pool.map(self._step_chunk, self._chunks))

    def state(self) -> BatchState:
        n = self.num_envs
        if self.stepper == "rollout":
            m, S, sd = self.base_model, self._S, self._last_sens
            pos = sd[:, self._pos_adr]  # (N, bodies, 3)
            con = sd[:, self._con_adr]  # (N, 3, 3): the force each body exerts = -cfrc_ext[3:]
            return BatchState(
                S[:, self._q0 : self._v0].copy(),
                S[:, self._v0 : self._v0 + m.nv].copy(),
                pos[:, self._key_rows],
                pos[:, self._foot_rows],
                -con[:, :2],
                np.linalg.norm(con[:, 2], axis=1),
                sd[:, self._frc_adr],
            )
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
