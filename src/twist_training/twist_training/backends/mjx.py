"""MJX (MuJoCo XLA, JAX) GPU backend - runs; verified on one H200 on 2026-12-04.

Versions: mujoco 4.0.0 (the project's) + mujoco-mjx 3.17.0 (the newest on PyPI; it requires
mujoco>=3.17 and works with 4.0.0, which ships no ``mujoco.mjx`` of its own), jax/jaxlib 0.11.2 with
the CUDA 13 plugin, Python 3.12 (``scripts/gpu_check_mjx.sh``). The same code passed
``test_envs_mjx.py`` on CPU JAX 0.10.2 (Python 3.11), only much slower.

Measured on the H200 (``bench_training.py --backend mjx --no-policy``; env steps = 50 Hz policy
steps; task.motions = real clips + standing; details in docs/training.md):

* test_envs_mjx.py passed (10 policy steps vs mujoco_cpu); first-call compile: reset 38 s, step 34 s;
* 0.005 s x 4, all contacts: physics alone 9,103 env-steps/s at 1024 envs, 10,380 at 4096;
  TrackingEnv.step (numpy task on the host) 4,891 / 5,299;
* 0.002 s x 10 (TWIST), 4096 envs: physics 4,443, TrackingEnv 3,160 env-steps/s;
* ``sim.self_collision=False`` (floor contacts only), 0.005 s x 4: physics 42,706 (4096 envs) and
  48,420 (16384); TrackingEnv 11,047 / 8,751 - the host-side numpy task is then the bottleneck.

Why all-contacts is slow: MJX has no broad phase and keeps a slot for every geom pair that may
collide: 533 contacts / 1699 constraint rows per env with self-collision (the CPU engine sees ~18
contacts standing), 64 / 285 floor-only. Not verified: a training run on the GPU (PPO/DAgger
learning with this backend), rollouts longer than 10 steps against the CPU backend, the push forces
and per-env randomisation under load, whether floor-only contacts train an equally good policy.

Design: the same training MjModel as the CPU backend (position actuators, 0.9 x effort clip) is put
on the device once; per-env domain randomization batches the affected model fields (friction,
pelvis mass/COM, actuator gains, gravity) and vmaps over them. One policy step is one jitted, vmapped
``fori_loop`` of ``decimation`` ``mjx.step`` calls (one traced copy; the end-effector push acts in
the first substep), then ``mjx.rne_postconstraint`` for the contact forces. Resets run one jitted
kernel over the whole batch with a mask (fixed shapes: one compile for any number of resets).
Every kernel argument is committed to the device (a committed/uncommitted mix made jit compile the
step a second time). The task stays in numpy: the state is copied to the host once per policy step.
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
                "the mjx backend needs jax and mujoco-mjx (verified: mujoco-mjx==3.17.0 with mujoco 4.0.0, "
                "jax 0.11.2 + CUDA 13 plugin); "
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
        mx = mjx.put_model(m, impl="jax")
        # batched copies of the randomised fields (leading axis = env)
        self._fields = {
            f: jnp.tile(jnp.asarray(getattr(m, f))[None], (num_envs,) + (1,) * getattr(m, f).ndim)
            for f in _BATCHED_FIELDS
        }
        self._gravity = jnp.tile(jnp.asarray(m.opt.gravity)[None], (num_envs, 1))
        self._mx = mx
        d0 = mjx.put_data(m, _keyframe_data(m), impl="jax")
        self._d = jax.tree_util.tree_map(lambda x: jnp.tile(x[None], (num_envs,) + (1,) * x.ndim), d0)
        self._kp0 = np.asarray(m.actuator_gainprm[:, 0]).copy()
        self._kd0 = -np.asarray(m.actuator_biasprm[:, 2]).copy()
        self.contact_force_exact = hasattr(mjx, "rne_postconstraint")
        self._dtype = self._d.qpos.dtype
        # Every kernel argument is committed to this device: jit caches committed and uncommitted
        # arrays separately, and a mix recompiled the step kernel (minutes) mid-run.
        self._dev = jax.devices()[0]
        self._no_push = self._put(np.zeros((num_envs, 2, 3)))
        self.compile_s: dict[str, float] = {}  # first-call seconds of each jitted kernel (compile)
        self._build_fns()

    # ------------------------------------------------------------------ jitted kernels
    def _model_for(self, fields, gravity):
        mx = self._mx.tree_replace({k: v for k, v in fields.items()})
        return mx.tree_replace({"opt.gravity": gravity})

    def _build_fns(self):
        jax, jnp, mjx = self.jax, self.jnp, self.mjx
        dec, hand_ids = self.decimation, jnp.asarray(self.hand_ids)
        exact = self.contact_force_exact

        def one_env(fields, gravity, d, ctrl, hand_force):
            m = self._model_for(fields, gravity)
            push = jnp.zeros_like(d.xfrc_applied).at[hand_ids, :3].set(hand_force)
            d = d.replace(ctrl=ctrl)

            # one traced copy of mjx.step (compile time): the push acts in the first substep only
            def sub(i, dd):
                dd = dd.replace(xfrc_applied=jnp.where(i == 0, push, jnp.zeros_like(push)))
                return mjx.step(m, dd)

            d = jax.lax.fori_loop(0, dec, sub, d)
            d = d.replace(xfrc_applied=jnp.zeros_like(d.xfrc_applied))
            if exact:
                d = mjx.rne_postconstraint(m, d)
            return d

        def reset_one(fields, gravity, d, hit, qpos, qvel):
            # fixed shapes (all envs, a mask) so that any number of resets reuses one compiled kernel
            sel = lambda new, old: jnp.where(hit, new.astype(old.dtype), old)  # noqa: E731
            d = d.replace(
                qpos=sel(qpos, d.qpos),
                qvel=sel(qvel, d.qvel),
                ctrl=sel(qpos[7:], d.ctrl),
                qacc_warmstart=sel(jnp.zeros_like(d.qacc_warmstart), d.qacc_warmstart),
            )
            df = mjx.forward(self._model_for(fields, gravity), d)  # as mj_forward on the CPU backend
            return jax.tree_util.tree_map(lambda a, b: jnp.where(hit, a, b), df, d)

        self._step = jax.jit(jax.vmap(one_env))
        self._reset = jax.jit(jax.vmap(reset_one))

    def _put(self, x):
        """Commit ``x`` (array or pytree) to the backend's device, float64 host arrays as float32."""
        jax = self.jax

        def one(a):
            if isinstance(a, np.ndarray) and a.dtype == np.float64:
                a = a.astype(self._dtype)
            return jax.device_put(a, self._dev)

        return jax.tree_util.tree_map(one, x)

    def _timed_first(self, name, fn, *args):
        """Run a jitted kernel; the first call of each is timed (trace + XLA compile + one run)."""
        if name in self.compile_s:
            return fn(*args)
        import time

        t0 = time.perf_counter()
        out = fn(*args)
        self.jax.block_until_ready(out)
        self.compile_s[name] = time.perf_counter() - t0
        return out

    # ------------------------------------------------------------------ interface
    def reset_envs(self, env_ids, qpos, qvel) -> None:
        n = self.num_envs
        ids = np.asarray(env_ids)
        hit = np.zeros(n, dtype=bool)
        hit[ids] = True
        qp = np.zeros((n, self.base_model.nq))
        qv = np.zeros((n, self.base_model.nv))
        qp[ids], qv[ids] = qpos, qvel
        p = self._put
        self._fields, self._gravity = p(self._fields), p(self._gravity)
        self._d = self._timed_first(
            "reset", self._reset, self._fields, self._gravity, self._d, p(hit), p(qp), p(qv)
        )

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
        p = self._put
        hf = self._no_push if hand_forces is None else p(np.asarray(hand_forces, dtype=np.float64))
        self._fields, self._gravity = p(self._fields), p(self._gravity)
        self._d = self._timed_first(
            "step", self._step, self._fields, self._gravity, self._d, p(np.asarray(targets, np.float64)), hf
        )

    def physics_step_rate(self, seconds: float = 3.0) -> float:
        """Env policy steps/s of the jitted batched physics alone (no task, no host copies; benchmark).

        Steps a copy of the current batch with the current controls; compiles first if needed."""
        import time

        self._fields, self._gravity = self._put(self._fields), self._put(self._gravity)
        d, ctrl = self._d, self._put(self._d.ctrl)
        d = self._timed_first("step", self._step, self._fields, self._gravity, d, ctrl, self._no_push)
        self.jax.block_until_ready(d)
        n, t0 = 0, time.perf_counter()
        while time.perf_counter() - t0 < seconds:
            for _ in range(5):
                d = self._step(self._fields, self._gravity, d, ctrl, self._no_push)
            self.jax.block_until_ready(d)
            n += 5
        return n * self.num_envs / (time.perf_counter() - t0)

    def state(self) -> BatchState:
        d = self._d
        # one device->host transfer of the few fields the task reads
        host = self.jax.device_get(
            (d.qpos, d.qvel, d.xpos, d.actuator_force, _cfrc_ext(d) if self.contact_force_exact else d.qpos)
        )
        qpos, qvel, xpos, torque, cf = (np.asarray(x, dtype=np.float64) for x in host)
        if self.contact_force_exact:
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
            joint_torque=torque,
        )


def _cfrc_ext(d):
    """``cfrc_ext``: MJX >= 3.3 keeps it in ``Data._impl`` (reading ``d.cfrc_ext`` is deprecated)."""
    impl = getattr(d, "_impl", None)
    if impl is not None and hasattr(impl, "cfrc_ext"):
        return impl.cfrc_ext
    return d.cfrc_ext


def _keyframe_data(m):
    import mujoco

    d = mujoco.MjData(m)
    mujoco.mj_resetDataKeyframe(m, d, 0)
    d.ctrl[:] = robot.DEFAULT_POSITION
    mujoco.mj_forward(m, d)
    return d
