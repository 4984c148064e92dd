"""Tracking task on the MuJoCo CPU backend: shapes, layouts, determinism, train/deploy equality."""

from __future__ import annotations

import numpy as np
import pytest

from twist_controller import robot
from twist_controller.observations import STUDENT_LAYOUT
from twist_controller.policy import LoadedPolicy, PolicyMetadata
from twist_controller.policy_runtime import PolicyRuntime, ReferenceSample
from twist_training.envs import TaskConfig, TrackingEnv
from twist_training.envs.motion_lib import MotionLibrary, builtin_clip


@pytest.fixture(scope="module")
def motions():
    return MotionLibrary([builtin_clip("stand", 6.0), builtin_clip("sway", 6.0)])


def make_env(motions, n=2, seed=1, **changes) -> TrackingEnv:
    cfg = TaskConfig(num_envs=n, seed=seed)
    for k, v in changes.items():
        obj = cfg
        *path, last = k.split("__")
        for p in path:
            obj = getattr(obj, p)
        setattr(obj, last, v)
    motions.difficulty[:] = cfg.curriculum.max_difficulty
    return TrackingEnv(cfg, motions=motions)


def test_reset_and_step_shapes(motions):
    env = make_env(motions, n=3)
    assert env.num_teacher_obs == 1318 and env.num_student_obs == 1155 == STUDENT_LAYOUT.size
    assert env.obs["teacher"].shape == (3, 1318) and env.obs["teacher"].dtype == np.float32
    assert env.obs["student"].shape == (3, 1155)
    out = env.step(np.zeros((3, 23)))
    assert out.reward.shape == (3,) and out.done.shape == (3,) and out.time_out.shape == (3,)
    assert np.all(np.isfinite(out.reward))
    assert "Tracking/joint_pos_err_rad" in out.log and "Reward/tracking_joint_dof" in out.log


def test_same_seed_same_rollout_different_seed_differs(motions):
    acts = np.random.default_rng(5).normal(scale=0.5, size=(15, 2, 23))
    runs = []
    for seed in (7, 7, 8):
        env = make_env(motions, n=2, seed=seed)
        rew = []
        for a in acts:
            rew.append(env.step(a).reward)
        runs.append((np.array(rew), env.obs["teacher"].copy()))
    np.testing.assert_array_equal(runs[0][0], runs[1][0])
    np.testing.assert_array_equal(runs[0][1], runs[1][1])
    assert not np.array_equal(runs[0][1], runs[2][1])


def test_teacher_layout_blocks(motions):
    env = make_env(motions, n=2, noise__enabled=False)
    env.step(np.zeros((2, 23)))
    t, s = env.obs["teacher"], env.obs["student"]
    ref = env.last_reference_input
    # frame 1 of the 20 future frames: [z, roll, pitch, yaw, v(3), yaw rate, q23, key bodies 27]
    np.testing.assert_allclose(t[:, 0], ref.root_height, atol=1e-6)
    np.testing.assert_allclose(t[:, 8:31], robot.full_to_policy(ref.joint_pos), atol=1e-6)
    np.testing.assert_allclose(t[:, 0:31], s[:, 0:31], atol=1e-6)  # same mimic block as the student
    np.testing.assert_allclose(t[:, 1160:1234], s[:, 31:105], atol=1e-6)  # same proprio block
    priv = t[:, 1234:]
    assert priv.shape[1] == 84
    np.testing.assert_allclose(priv[:, 3], env.backend.state().qpos[:, 2], atol=1e-5)  # root height
    np.testing.assert_allclose(priv[:, 37], env.friction, atol=1e-6)  # after mass (1) + com (3)
    np.testing.assert_allclose(priv[:, 38:61], env.kp_factor[:, robot.POLICY_TO_FULL] - 1, atol=1e-6)


def test_train_deploy_observation_equality(motions):
    """The env's student observation equals what the policy node's runtime builds from the same
    reference and robot state (noise off) - over several steps, i.e. including the history."""
    env = make_env(motions, n=1, noise__enabled=False, domain_rand__enabled=False)
    seen = []
    actions = np.random.default_rng(3).normal(scale=0.1, size=(6, 1, 23))
    k = {"i": 0}

    def stub(obs):
        seen.append(obs.copy())
        return actions[k["i"]].astype(np.float32)

    runtime = PolicyRuntime(LoadedPolicy(stub, PolicyMetadata(), None, "stub"))
    for i in range(6):
        k["i"] = i
        ref, rin = env.last_reference_input, env.last_robot_input
        sample = ReferenceSample(
            joint_pos=ref.joint_pos[0],
            root_height=float(ref.root_height[0]),
            root_rpy=ref.root_rpy[0],
            root_lin_vel_local=ref.root_lin_vel_local[0],
            root_yaw_rate=float(ref.root_yaw_rate[0]),
        )
        now = float(i) * 0.02
        assert runtime.set_reference(sample, now) is None
        assert runtime.set_joint_state(rin.joint_pos[0], rin.joint_vel[0], now) is None
        assert runtime.set_imu(rin.base_quat_wxyz[0], rin.base_ang_vel[0], now) is None
        res = runtime.step(now)
        assert res.reason == "ok"
        np.testing.assert_allclose(seen[-1][0], env.obs["student"][0], atol=1e-5)
        out = env.step(actions[i])
        assert not out.done[0], out.log


def test_noise_ramp_and_student_full_noise(motions):
    env = make_env(motions, n=1)
    assert env.noise_scale() == 0.0
    env.total_steps = env.cfg.noise.ramp_steps // 2
    assert env.noise_scale() == pytest.approx(0.5)
    env2 = make_env(motions, n=1, noise__start_full=True)
    assert env2.noise_scale() == 1.0


def test_falling_robot_terminates_and_resets(motions):
    env = make_env(motions, n=2, domain_rand__enabled=False)
    done_any, reasons = False, 0.0
    for _ in range(60):
        out = env.step(np.full((2, 23), 10.0))  # saturated actions: the robot collapses
        done_any |= bool(np.any(out.done & ~out.time_out))
        reasons += sum(v for k, v in out.log.items() if k.startswith("Termination/"))
    assert done_any
    assert reasons > 0  # the per-reason termination rates are logged
    assert np.all(env.episode_length < 60)


def test_motion_library_lookup_and_curriculum(motions):
    ml = motions
    f = ml.frames(np.array([1, 1]), np.array([0.0, 0.5]))
    np.testing.assert_allclose(f.joint_pos[1], ml.joint_pos[ml.start[1] + 25], atol=1e-9)
    mid = ml.frames(np.array([1]), np.array([0.51]))
    np.testing.assert_allclose(
        mid.joint_pos[0], 0.5 * (ml.joint_pos[ml.start[1] + 25] + ml.joint_pos[ml.start[1] + 26]), atol=1e-9
    )
    ml.difficulty[:] = 5.0
    ml.update_curriculum(np.array([0, 1]), np.array([0.1, 1.0]))
    assert ml.difficulty[0] == pytest.approx(5.05) and ml.difficulty[1] == pytest.approx(4.95)
    p = ml.probabilities()
    assert p[0] > p[1] and p.sum() == pytest.approx(1.0)
    ml.difficulty[:] = 9.0
