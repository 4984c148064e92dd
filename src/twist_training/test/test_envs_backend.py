"""MuJoCo CPU backend: batched stepping, domain-randomization parameters, pushes, contact forces."""

from __future__ import annotations

import numpy as np
import pytest

from twist_controller import robot
from twist_training.backends import PhysicsParams, make_backend
from twist_training.envs.config import KEY_BODIES, SimConfig


@pytest.fixture(scope="module")
def backend():
    return make_backend("mujoco_cpu", 2, SimConfig(), KEY_BODIES)


def stand(backend):
    qpos = np.tile(backend.base_model.key_qpos[0], (2, 1))
    backend.reset_envs(np.arange(2), qpos, np.zeros((2, 35)))


def test_state_shapes_and_standing_contacts(backend):
    stand(backend)
    for _ in range(25):
        backend.step(np.tile(robot.DEFAULT_POSITION, (2, 1)))
    st = backend.state()
    assert st.qpos.shape == (2, 36) and st.qvel.shape == (2, 35)
    assert st.key_body_pos.shape == (2, len(KEY_BODIES), 3)
    # standing on both feet: each foot carries a share of the ~35 kg robot's weight
    fz = st.foot_force[..., 2]
    assert np.all(fz > 30.0) and 250 < fz.sum(axis=1).mean() < 450
    assert np.all(st.torso_force < 1.0)
    assert np.all(st.qpos[:, 2] > 0.7)
    assert backend.datas[0].time == pytest.approx(25 * 0.02)


def test_params_change_models_per_env(backend):
    kp = np.ones((2, 29))
    kp[1] *= 1.2
    backend.set_params(
        np.arange(2),
        PhysicsParams(friction=np.array([0.3, 1.7]), kp_factor=kp, base_mass_delta=np.array([0.0, 2.0])),
    )
    m0, m1 = backend.models
    assert m0.geom_friction[0, 0] == pytest.approx(0.3) and m1.geom_friction[0, 0] == pytest.approx(1.7)
    assert m1.actuator_gainprm[0, 0] == pytest.approx(1.2 * m0.actuator_gainprm[0, 0])
    assert m1.actuator_biasprm[0, 1] == pytest.approx(-m1.actuator_gainprm[0, 0])
    pid = backend.pelvis_id
    assert m1.body_mass[pid] == pytest.approx(m0.body_mass[pid] + 2.0)
    # the training torque clip is 0.9 x the URDF effort
    np.testing.assert_allclose(m0.actuator_forcerange[:, 1], 0.9 * robot.TORQUE_LIMIT)


def test_push_and_hand_force(backend):
    stand(backend)
    backend.set_root_velocity_xy(np.array([1]), np.array([[0.8, 0.0]]))
    assert backend.datas[1].qvel[0] == pytest.approx(0.8)
    f = np.zeros((2, 2, 3))
    f[0, 0] = [20.0, 0, 0]
    backend.step(np.tile(robot.DEFAULT_POSITION, (2, 1)), f)
    assert np.all(backend.datas[0].xfrc_applied == 0.0)  # applied for one substep only


def test_gpu_backends_import_lazily_with_clear_errors():
    """mjx/isaacgym are optional: without their packages the error says what is missing."""
    import importlib.util

    from twist_training.envs.config import SimConfig as S

    if importlib.util.find_spec("jax") is None:
        with pytest.raises(ImportError, match="jax"):
            make_backend("mjx", 1, S(), KEY_BODIES)
    if importlib.util.find_spec("isaacgym") is None:
        with pytest.raises(ImportError, match="Isaac Gym"):
            make_backend("isaacgym", 1, S(), KEY_BODIES)
    with pytest.raises(ValueError, match="unknown physics backend"):
        make_backend("bullet", 1, S(), KEY_BODIES)


def test_training_model_without_visual_meshes_has_the_same_dynamics():
    from twist_controller.g1_model import SceneConfig, build_scene
    from twist_training.backends.mujoco_cpu import build_training_model

    full = build_scene(SceneConfig(actuator="position", timestep=0.005))
    lean = build_training_model(SimConfig())
    assert lean.nmesh == 0
    np.testing.assert_allclose(lean.body_mass, full.body_mass)
    np.testing.assert_allclose(lean.body_inertia, full.body_inertia)
    np.testing.assert_allclose(lean.key_qpos[0], full.key_qpos[0])
    assert lean.opt.timestep == 0.005


def test_self_collision_off_keeps_floor_contacts_only():
    """``sim.self_collision=False`` (MJX speed knob): robot geoms still touch the floor, not each other."""
    import mujoco

    from twist_training.backends.mujoco_cpu import build_training_model

    on, off = build_training_model(SimConfig()), build_training_model(SimConfig(self_collision=False))
    robot_geoms = (off.geom_bodyid != 0) & (off.geom_contype != 0)
    assert robot_geoms.sum() == ((on.geom_bodyid != 0) & (on.geom_contype != 0)).sum() > 20
    assert np.all(off.geom_conaffinity[robot_geoms] == 0)  # no robot-robot pair can collide
    for m in (on, off):  # standing on the floor: the same foot contacts either way
        d = mujoco.MjData(m)
        mujoco.mj_resetDataKeyframe(m, d, 0)
        mujoco.mj_forward(m, d)
        assert d.ncon > 0
        assert all(0 in (m.geom_bodyid[c.geom1], m.geom_bodyid[c.geom2]) for c in d.contact[: d.ncon])
    # arms rolled into the torso, lifted off the floor: self-contacts with self-collision, none without
    q = on.key_qpos[0].copy()
    q[2] += 1.0  # lift off the floor
    q[7 + robot.joint_index("left_shoulder_roll_joint")] = -1.5
    q[7 + robot.joint_index("right_shoulder_roll_joint")] = 1.5
    counts = []
    for m in (on, off):
        d = mujoco.MjData(m)
        d.qpos[:] = q
        mujoco.mj_forward(m, d)
        counts.append(d.ncon)
    assert counts[0] > 0 and counts[1] == 0, counts  # measured [7, 0]
