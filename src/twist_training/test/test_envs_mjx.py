"""MJX backend against the MuJoCo CPU backend (skipped where JAX/MJX are not installed).

This is the check to run first on a GPU machine: ``pytest src/twist_training/test/test_envs_mjx.py``.
It has not run anywhere yet (no JAX here, no GPU in the session that wrote it).
"""

from __future__ import annotations

import importlib.util

import numpy as np
import pytest

from twist_controller import robot
from twist_training.backends import PhysicsParams, make_backend
from twist_training.envs.config import KEY_BODIES, SimConfig

pytestmark = pytest.mark.skipif(
    importlib.util.find_spec("jax") is None or importlib.util.find_spec("mujoco.mjx") is None,
    reason="JAX / MJX not installed (GPU machine check)",
)


@pytest.mark.timeout(1500)  # XLA compiles of the G1 step: ~1 min on a GPU machine, minutes on a busy CPU
def test_mjx_matches_cpu_on_a_short_standing_rollout():
    cfg = SimConfig()
    cpu = make_backend("mujoco_cpu", 2, cfg, KEY_BODIES)
    mjx = make_backend("mjx", 2, cfg, KEY_BODIES)
    qpos = np.tile(cpu.base_model.key_qpos[0], (2, 1))
    qvel = np.zeros((2, 35))
    qvel[1, 0] = 0.3
    params = PhysicsParams(kp_factor=np.stack([np.ones(29), np.full(29, 1.1)]))
    for b in (cpu, mjx):
        b.set_params(np.arange(2), params)
        b.reset_envs(np.arange(2), qpos, qvel)
    targets = np.tile(robot.DEFAULT_POSITION, (2, 1))
    targets[:, robot.joint_index("left_elbow_joint")] += 0.3
    for _ in range(10):
        cpu.step(targets)
        mjx.step(targets)
    a, b = cpu.state(), mjx.state()
    print("mjx first-call (compile) seconds:", {k: round(v, 1) for k, v in mjx.compile_s.items()})
    np.testing.assert_allclose(b.qpos[:, :3], a.qpos[:, :3], atol=0.02)
    np.testing.assert_allclose(b.qpos[:, 7:], a.qpos[:, 7:], atol=0.05)
    np.testing.assert_allclose(b.key_body_pos, a.key_body_pos, atol=0.03)
    if mjx.contact_force_exact:
        np.testing.assert_allclose(b.foot_force[..., 2].sum(1), a.foot_force[..., 2].sum(1), rtol=0.2)
