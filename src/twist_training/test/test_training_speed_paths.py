"""The fast training paths (issue 22) change speed, not behaviour:

* ``stepper="rollout"`` (mujoco.rollout over all envs, state in numpy arrays) follows the per-env
  ``mj_step`` pool to solver tolerance (only the cold warm start of each policy step differs),
  contact and hand forces included;
* ``contact_model="feet"`` (4 spheres per sole instead of 7 capsules): the walking expert reaches
  the same steady speeds at the same commands as in the deployment scene's geometry at the
  deployment simulator's 2 ms step.
"""

from pathlib import Path

import numpy as np
import pytest

from twist_controller import robot
from twist_controller.policy import load_policy
from twist_training.backends import PhysicsParams, make_backend
from twist_training.distill.calibrate import _run_fixed
from twist_training.distill.config import DistillConfig
from twist_training.distill.env import VelocityDistillEnv
from twist_training.distill.teacher import ExpertTeacher
from twist_training.envs.config import KEY_BODIES, SimConfig


def _walk(stepper: str, steps: int = 60):
    cfg = DistillConfig(num_envs=4, threads=2, stepper=stepper, p_stand=0.0, push_interval_s=[0.3, 0.5])
    env = VelocityDistillEnv(cfg, load_policy("expert:fastsac").metadata, seed=1)
    teacher = ExpertTeacher("fastsac", 4, phase_offset=1.96)
    out = []
    for t in range(steps):
        env.tick_reference()
        state = env.robot_input()
        env.step(teacher.act(env.reference.command, state, env.reference.phase_angle))
        if t == 30:
            env.reset(np.array([2]))  # a reset mid-run (pose, velocity, params, sensors)
            teacher.reset(np.array([2]))
        st = env.backend.state()
        out.append(
            (
                st.qpos.copy(),
                st.qvel.copy(),
                st.foot_pos.copy(),
                st.key_body_pos.copy(),
                st.joint_torque.copy(),
            )
        )
    return out


def test_rollout_stepper_follows_the_pool():
    a, b = _walk("pool"), _walk("rollout")
    for (qa, va, fa, ka, ta), (qb, vb, fb, kb, tb) in zip(a, b, strict=True):
        np.testing.assert_allclose(qb, qa, atol=1e-4)
        np.testing.assert_allclose(vb, va, atol=1e-2)
        np.testing.assert_allclose(fb, fa, atol=1e-4)
        np.testing.assert_allclose(kb, ka, atol=1e-4)
        np.testing.assert_allclose(tb, ta, atol=0.5)  # N m, torques of stiff PD on a 1e-6 rad difference


def test_rollout_backend_interface():
    sim = SimConfig(stepper="rollout", threads=2)
    be = make_backend("mujoco_cpu", 3, sim, KEY_BODIES)
    qpos = np.tile(be.base_model.key_qpos[0], (3, 1))
    be.reset_envs(np.arange(3), qpos, np.zeros((3, 35)))
    st = be.state()
    assert st.key_body_pos.shape == (3, len(KEY_BODIES), 3) and st.foot_pos.shape == (3, 2, 3)
    assert np.all(np.isfinite(st.key_body_pos))
    be.set_root_velocity_xy(np.array([1]), np.array([[0.8, 0.0]]))
    assert be.state().qvel[1, 0] == pytest.approx(0.8)
    be.set_params(np.arange(3), PhysicsParams(friction=np.array([0.3, 1.0, 1.7])))
    assert be.models[2].geom_friction[0, 0] == pytest.approx(1.7)
    for _ in range(10):
        be.step(np.tile(robot.DEFAULT_POSITION, (3, 1)))
    st = be.state()
    assert np.all(st.qpos[:, 2] > 0.7) and st.qvel[1, 0] > 0.1  # standing; env 1 still moving
    be.close()


def test_rollout_contact_and_hand_forces_equal_the_pool():
    """Foot contact forces (cfrc_ext in the pool, contact sensors in rollout), torso force, torques
    and a hand force applied for one substep: same results from both steppers (tracking task)."""
    out = {}
    for stepper in ("pool", "rollout"):
        be = make_backend("mujoco_cpu", 2, SimConfig(stepper=stepper, threads=2), KEY_BODIES)
        qpos = np.tile(be.base_model.key_qpos[0], (2, 1))
        be.reset_envs(np.arange(2), qpos, np.zeros((2, 35)))
        rec = []
        for t in range(30):
            hf = None
            if t in (10, 11):
                hf = np.zeros((2, 2, 3))
                hf[0, 0] = [40.0, 0.0, 0.0]  # env 0, left hand, pushed for one substep twice
            be.step(np.tile(robot.DEFAULT_POSITION, (2, 1)), hf)
            st = be.state()
            rec.append((st.qpos.copy(), st.foot_force.copy(), st.torso_force.copy(), st.joint_torque.copy()))
        out[stepper] = rec
        if stepper == "rollout":
            be.close()
    fz = np.array([r[1][..., 2] for r in out["pool"]])
    assert np.all(fz[-1] > 30.0)  # standing on both feet
    moved = np.abs(out["pool"][-1][0][0] - out["pool"][-1][0][1]).max()
    assert moved > 1e-3  # the hand force made env 0 differ from env 1
    for (qa, fa, ta, ja), (qb, fb, tb, jb) in zip(out["pool"], out["rollout"], strict=True):
        np.testing.assert_allclose(qb, qa, atol=1e-5)
        np.testing.assert_allclose(fb, fa, atol=0.5)  # N, of ~150 N per foot
        np.testing.assert_allclose(tb, ta, atol=0.5)
        np.testing.assert_allclose(jb, ja, atol=0.5)


# steady speeds of the expert (second half of 6 s at each command, from standing)
COMMANDS = np.array(
    [
        [0.5, 0, 0],
        [1.0, 0, 0],
        [-0.4, 0, 0],
        [0, 0.3, 0],
        [0, -0.3, 0],
        [0, 0, 0.6],
        [0, 0, -0.6],
        [0, 0, 0],
        [0.6, 0, 0.5],
    ]
)
SPEED_TOL = 0.03  # m/s, vx and vy
YAW_TOL = 0.03  # rad/s


def test_feet_contact_model_walks_like_the_deployment_scene():
    """Deployment scene geometry at the simulator's 2 ms step (0.002 x 10) vs the training model
    (feet spheres, 0.005 x 4): same commands, same steady speeds within SPEED_TOL / YAW_TOL, no falls."""
    deploy, fell_d = _run_fixed(
        DistillConfig(threads=2, contact_model="full", timestep=0.002, decimation=10), COMMANDS, 6.0, seed=0
    )
    train, fell_t = _run_fixed(
        DistillConfig(threads=2, contact_model="feet", stepper="rollout"), COMMANDS, 6.0, seed=0
    )
    assert not fell_d.any() and not fell_t.any()
    np.testing.assert_allclose(train[:, :2], deploy[:, :2], atol=SPEED_TOL)
    np.testing.assert_allclose(train[:, 2], deploy[:, 2], atol=YAW_TOL)
    # and it really walks: the commanded direction is followed
    assert deploy[1, 0] > 0.6 and deploy[3, 1] > 0.1 and deploy[5, 2] > 0.4


def test_overlapped_update_run_checkpoints_resumes_and_exports(tiny_distill_run):
    """overlap_update=True: the update of one iteration runs during the next collection; the run
    still writes every iteration's row, checkpoints, resumes and exports a student that loads."""
    from twist_training.distill.dagger import train

    cfg = tiny_distill_run(
        threads=2, stepper="rollout", contact_model="feet", overlap_update=True, iterations=3
    )
    run = Path(cfg.run_dir)
    logs = []
    train(cfg, log=logs.append)
    rows = (run / "progress.csv").read_text().strip().splitlines()
    assert len(rows) == 4 and any("it   2/3" in line for line in logs)
    assert sorted(p.name for p in run.glob("ckpt_*.pt")) == ["ckpt_1.pt", "ckpt_2.pt"]
    cfg.iterations = 4
    train(cfg, resume="auto", log=logs.append)
    assert any("resumed" in line for line in logs)
    assert load_policy(run / "student.onnx").act(np.zeros((2, 1155), np.float32)).shape == (2, 23)
