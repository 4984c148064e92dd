"""MJX backend against the MuJoCo CPU backend (skipped where JAX/MJX are not installed).

Status: PASSED on one NVIDIA H200 on 2026-12-04 (mujoco 4.0.0 + mujoco-mjx 3.17.0, jax 0.11.2 with
the CUDA 13 plugin, Python 3.12; 83 s, of which ~72 s are the first-call compiles of the reset and
step kernels) via ``scripts/gpu_check_mjx.sh``, and on CPU JAX 0.10.2 (Python 3.11; 4-10 min on a
busy 2-core box, mostly XLA compile). It checks 10 policy steps only; longer rollouts and training
with this backend are not verified (docs/training.md).
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
