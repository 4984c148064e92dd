"""MJX (MuJoCo XLA, JAX) GPU backend - UNVERIFIED.

Status: written against the ``mujoco.mjx`` API of mujoco 3.x/4.x without access to a GPU. It has
NOT been run on a GPU; on this CPU box MJX compiles the G1 step in ~40 s and then steps far too
slowly to test (see shared/spec/sim_perf.md). Treat the first GPU run as its test: run
``scripts/bench_training.py --backend mjx --num-envs 4096`` and ``pytest -k backend`` with
``--backend mjx`` on the GPU machine, and compare a short rollout against ``mujoco_cpu``.

Design: the same training MjModel as the CPU backend (position actuators, 0.9 x effort clip) is put
on the device once; per-env domain randomization batches the affected model fields (friction,
pelvis mass/COM, actuator gains, gravity) and vmaps over them. One policy step is a jitted
``fori_loop`` of ``decimation`` ``mjx.step`` calls (the first with the end-effector push forces).
The task stays in numpy: the state is copied to the host once per policy step (N x ~200 floats).
Contact forces: ``mjx.rne_postconstraint`` when the installed MJX provides it; otherwise foot
forces are estimated from penetration (flagged in ``self.contact_force_exact``).
"""

from __future__ import annotations

import numpy as np

from twist_controller import robot

from .base import BatchState, PhysicsParams
from .mujoco_cpu import build_training_model

_BATCHED_FIELDS = ("geom_friction", "body_mass", "body_ipos", "actuator_gainprm", "actuator_biasprm")


class MjxBackend:
    def __init__(self, num_envs: int, sim_cfg, key_bodies, seed: int = 0):
        try:
            import jax
            import jax.numpy as jnp
            from mujoco import mjx
        except ImportError as exc:  # pragma: no cover - depends on the machine
            raise ImportError(
                "the mjx backend needs jax and mujoco-mjx (pip install mujoco-mjx jax[cuda12]); "
                "use --backend mujoco_cpu on machines without a GPU"
            ) from exc
        self.jax, self.jnp, self.mjx = jax, jnp, mjx
        self.num_envs = num_envs
        self.decimation = sim_cfg.decimation
        self.policy_dt = sim_cfg.timestep * sim_cfg.decimation
        m = build_training_model(sim_cfg)
        self.base_model = m
        self.key_ids = np.array([m.body(b).id for b in key_bodies])
        self.foot_ids = np.array([m.body(b).id for b in robot.FOOT_BODIES])
        self.hand_ids = np.array([m.body(b).id for b in robot.HAND_BODIES])
        self.torso_id = m.body(robot.TORSO_BODY).id
        self.pelvis_id = m.body(robot.ROOT_BODY).id
        mx = mjx.put_model(m)
        # batched copies of the randomised fields (leading axis = env)
        self._fields = {
            f: jnp.tile(jnp.asarray(getattr(m, f))[None], (num_envs,) + (1,) * getattr(m, f).ndim)
            for f in _BATCHED_FIELDS
        }
        self._gravity = jnp.tile(jnp.asarray(m.opt.gravity)[None], (num_envs, 1))
        self._mx = mx
        d0 = mjx.put_data(m, _keyframe_data(m))
        self._d = jax.tree_util.tree_map(lambda x: jnp.tile(x[None], (num_envs,) + (1,) * x.ndim), d0)
        self._kp0 = np.asarray(m.actuator_gainprm[:, 0]).copy()
        self._kd0 = -np.asarray(m.actuator_biasprm[:, 2]).copy()
        self.contact_force_exact = hasattr(mjx, "rne_postconstraint")
        self._build_fns()

    # ------------------------------------------------------------------ jitted kernels
    def _model_for(self, fields, gravity):
        mx = self._mx.tree_replace({k: v for k, v in fields.items()})
        return mx.tree_replace({"opt.gravity": gravity})

    def _build_fns(self):
        jax, jnp, mjx = self.jax, self.jnp, self.mjx
        dec, hand_ids = self.decimation, jnp.asarray(self.hand_ids)

        def one_env(fields, gravity, d, ctrl, hand_force):
            m = self._model_for(fields, gravity)
            d = d.replace(ctrl=ctrl, xfrc_applied=d.xfrc_applied.at[hand_ids, :3].set(hand_force))
            d = mjx.step(m, d)
            d = d.replace(xfrc_applied=jnp.zeros_like(d.xfrc_applied))
            d = jax.lax.fori_loop(0, dec - 1, lambda _, dd: mjx.step(m, dd), d)
            if self.contact_force_exact:
                d = mjx.rne_postconstraint(m, d)
            return d

        def fwd(fields, gravity, d):
            return mjx.forward(self._model_for(fields, gravity), d)

        self._step = jax.jit(jax.vmap(one_env))
        self._forward = jax.jit(jax.vmap(fwd))

    # ------------------------------------------------------------------ interface
    def reset_envs(self, env_ids, qpos, qvel) -> None:
        jnp = self.jnp
        ids = jnp.asarray(np.asarray(env_ids))
        d = self._d
        d = d.replace(
            qpos=d.qpos.at[ids].set(jnp.asarray(qpos, dtype=d.qpos.dtype)),
            qvel=d.qvel.at[ids].set(jnp.asarray(qvel, dtype=d.qvel.dtype)),
            ctrl=d.ctrl.at[ids].set(jnp.asarray(qpos[:, 7:], dtype=d.ctrl.dtype)),
            qacc_warmstart=d.qacc_warmstart.at[ids].set(0.0),
        )
        self._d = self._forward(self._fields, self._gravity, d)

    def set_params(self, env_ids, p: PhysicsParams) -> None:
        jnp = self.jnp
        ids = jnp.asarray(np.asarray(env_ids))
        f = self._fields
        if p.friction is not None:
            f["geom_friction"] = f["geom_friction"].at[ids, :, 0].set(jnp.asarray(p.friction)[:, None])
        if p.base_mass_delta is not None:
            base = float(self.base_model.body_mass[self.pelvis_id])
            f["body_mass"] = f["body_mass"].at[ids, self.pelvis_id].set(base + jnp.asarray(p.base_mass_delta))
        if p.base_com_delta is not None:
            base = jnp.asarray(self.base_model.body_ipos[self.pelvis_id])
            f["body_ipos"] = f["body_ipos"].at[ids, self.pelvis_id].set(base + jnp.asarray(p.base_com_delta))
        if p.kp_factor is not None:
            kp = jnp.asarray(self._kp0 * p.kp_factor)
            f["actuator_gainprm"] = f["actuator_gainprm"].at[ids, :, 0].set(kp)
            f["actuator_biasprm"] = f["actuator_biasprm"].at[ids, :, 1].set(-kp)
        if p.kd_factor is not None:
            f["actuator_biasprm"] = (
                f["actuator_biasprm"].at[ids, :, 2].set(jnp.asarray(-self._kd0 * p.kd_factor))
            )
        if p.gravity is not None:
            self._gravity = self._gravity.at[ids].set(jnp.asarray(p.gravity))

    def set_root_velocity_xy(self, env_ids, vxy) -> None:
        ids = self.jnp.asarray(np.asarray(env_ids))
        self._d = self._d.replace(qvel=self._d.qvel.at[ids, 0:2].set(self.jnp.asarray(vxy)))

    def step(self, targets, hand_forces=None) -> None:
        jnp = self.jnp
        hf = np.zeros((self.num_envs, 2, 3)) if hand_forces is None else hand_forces
        self._d = self._step(self._fields, self._gravity, self._d, jnp.asarray(targets), jnp.asarray(hf))

    def state(self) -> BatchState:
        d = self._d
        qpos, qvel = np.asarray(d.qpos, dtype=np.float64), np.asarray(d.qvel, dtype=np.float64)
        xpos = np.asarray(d.xpos, dtype=np.float64)
        if self.contact_force_exact:
            cf = np.asarray(d.cfrc_ext, dtype=np.float64)
            foot_force, torso = cf[:, self.foot_ids, 3:], np.linalg.norm(cf[:, self.torso_id, 3:], axis=-1)
        else:  # crude estimate: body weight shared by feet below 5 cm
            low = xpos[:, self.foot_ids, 2] < 0.05
            foot_force = np.zeros((self.num_envs, 2, 3))
            foot_force[..., 2] = low * 350.0 / np.maximum(low.sum(axis=1, keepdims=True), 1)
            torso = np.zeros(self.num_envs)
        return BatchState(
            qpos=qpos,
            qvel=qvel,
            key_body_pos=xpos[:, self.key_ids],
            foot_pos=xpos[:, self.foot_ids],
            foot_force=foot_force,
            torso_force=torso,
            joint_torque=np.asarray(d.actuator_force, dtype=np.float64),
        )


def _keyframe_data(m):
    import mujoco

    d = mujoco.MjData(m)
    mujoco.mj_resetDataKeyframe(m, d, 0)
    d.ctrl[:] = robot.DEFAULT_POSITION
    mujoco.mj_forward(m, d)
    return d
