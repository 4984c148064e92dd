"""Distillation from the walking expert: the batched CMG equals the node's generator, the response
inversion, and a tiny DAgger run end to end (checkpoint, resume, export that loads)."""

from pathlib import Path

import numpy as np
import pytest

from cmg_generator.runtime import CMGGenerator
from twist_controller import robot
from twist_controller.policy import load_policy
from twist_training.distill.config import DistillConfig
from twist_training.distill.reference import BatchedReference, shipped_cmg_path
from twist_training.distill.teacher import ResponseCurve


def test_batched_reference_equals_the_generator_the_node_runs():
    """Env k of the batch produces the frames CMGGenerator (cmg_node's core) produces for its commands."""
    cmds = np.array([[0.8, 0.0, 0.3], [0.0, -0.3, 0.0], [0.0, 0.0, 0.0]])
    batch = BatchedReference(3, shipped_cmg_path(), seed=0)
    batch.set_target(np.arange(3), cmds)
    gens = [CMGGenerator.load(shipped_cmg_path()) for _ in range(3)]
    for k, g in enumerate(gens):
        g.set_command(*cmds[k])
    for _ in range(60):
        batch.step()
        ref = batch.reference_input()
        for k, g in enumerate(gens):
            f = g.step().frames[0]
            np.testing.assert_allclose(ref.joint_pos[k], f.joint_positions, atol=1e-5)
            np.testing.assert_allclose(ref.root_lin_vel_local[k], f.root_linear_velocity, atol=1e-5)
            assert ref.root_yaw_rate[k] == pytest.approx(f.root_yaw_rate, abs=1e-5)
    assert np.all(np.abs(batch.phase_angle) <= np.pi)


def test_response_curve_inversion():
    curve = ResponseCurve([-1, 0, 1], [-0.6, 0, 0.7], [-1, 0, 1], [-0.5, 0, 0.5], [-1, 0, 1], [-1, 0, 1])
    out = curve.invert(np.array([[0.35, 0.25, 0.5], [0.0, 0.0, 0.0], [2.0, -0.6, 0.0]]))
    np.testing.assert_allclose(out[0], [0.5, 0.5, 0.5])
    np.testing.assert_allclose(out[1], 0.0)  # zero stays zero (the stand freeze)
    np.testing.assert_allclose(out[2], [1.0, -1.0, 0.0])  # unreachable: the largest command that way


def test_tiny_dagger_run_checkpoints_resumes_and_exports(tiny_distill_run):
    from twist_training.distill.dagger import train

    cfg = tiny_distill_run()
    run = Path(cfg.run_dir)
    logs = []
    train(cfg, log=logs.append)
    rows = (run / "progress.csv").read_text().strip().splitlines()
    assert len(rows) == 3  # header + 2 iterations
    assert any("it   1/2" in line for line in logs)
    cfg.iterations = 3
    train(cfg, resume="auto", log=logs.append)
    assert any("resumed" in line for line in logs)
    assert len((run / "progress.csv").read_text().strip().splitlines()) == 4
    pol = load_policy(run / "student.onnx")
    m = pol.metadata
    expert = load_policy("expert:fastsac").metadata
    assert m.observation_layout == "twist_student_v1"
    assert m.action_joint_names == list(robot.POLICY_JOINT_NAMES)
    np.testing.assert_allclose(m.kp, expert.kp)
    np.testing.assert_allclose(m.default_position, expert.default_position)
    assert m.action_scale == 0.25 and m.unactuated_hold == "default"
    assert pol.act(np.zeros((2, 1155), np.float32)).shape == (2, 23)


def test_delayed_episodes_apply_targets_late_by_their_own_tick_count():
    from twist_controller.policy import actions_to_targets
    from twist_training.distill.env import VelocityDistillEnv

    cfg = DistillConfig(num_envs=6, threads=1, action_delay_prob=0.7, action_delay_max_ticks=2)
    interface = load_policy("expert:fastsac").metadata
    env = VelocityDistillEnv(cfg, interface, seed=3)
    env.delay_ticks[:] = [0, 1, 2, 0, 1, 2]  # every case present, whatever the draw was
    applied = []
    real_step = env.backend.step
    env.backend.step = lambda targets: (applied.append(np.array(targets)), real_step(targets))
    rng = np.random.default_rng(0)
    raws = [rng.uniform(-0.2, 0.2, (6, robot.NUM_JOINTS)) for _ in range(4)]
    for raw in raws:
        info = env.step(raw)
        assert not (info.fell | info.timed_out).any()  # a reset would draw new delays
    targets = [actions_to_targets(r, metadata=interface) for r in raws]
    for t in range(2, 4):
        for i, k in enumerate([0, 1, 2, 0, 1, 2]):
            np.testing.assert_allclose(applied[t][i], targets[t - k][i])
