"""The compiled G1 MuJoCo model (from the registry wheel) agrees with the robot spec, and the scene
builder adds what the spec says: floor, actuators with torque limits, armature, foot contacts."""

import mujoco
import numpy as np
import pytest

from twist_controller import g1_model, robot


@pytest.fixture(scope="module")
def model():
    return g1_model.build_scene()


def test_raw_model_joint_order_and_ranges_match_spec():
    raw = mujoco.MjModel.from_xml_path(str(g1_model.g1_xml_path()))
    assert raw.nq == 36 and raw.nv == 35
    names = [raw.joint(i).name for i in range(1, raw.njnt)]
    assert tuple(names) == robot.G1_JOINT_NAMES
    np.testing.assert_allclose(raw.jnt_range[1:, 0], robot.POSITION_LOWER, atol=1e-4)
    np.testing.assert_allclose(raw.jnt_range[1:, 1], robot.POSITION_UPPER, atol=1e-4)
    assert raw.nu == 0  # the wheel's xml has no actuators: the scene builder must add them
    for body in (robot.ROOT_BODY, robot.TORSO_BODY, *robot.FOOT_BODIES, *robot.HAND_BODIES):
        raw.body(body)  # raises KeyError when missing
    raw.site(robot.IMU_SITE)


def test_scene_adds_floor_actuators_armature(model):
    assert model.opt.timestep == pytest.approx(0.002)
    floor = model.geom("floor")
    assert floor.type[0] == mujoco.mjtGeom.mjGEOM_PLANE
    assert model.nu == 29
    for i, js in enumerate(robot.JOINTS):
        assert model.actuator_trnid[i, 0] == model.joint(js.name).id
        np.testing.assert_allclose(model.actuator_ctrlrange[i], [-js.torque_limit, js.torque_limit])
        np.testing.assert_allclose(model.actuator_forcerange[i], [-js.torque_limit, js.torque_limit])
    np.testing.assert_allclose(model.dof_armature[6:], robot.ARMATURE)
    foot = [g for g in range(model.ngeom) if model.geom(g).name.startswith("left_foot")]
    assert len(foot) == 7 and all(model.geom_condim[g] == 3 for g in foot)


def test_position_actuator_variant_uses_spec_gains():
    m = g1_model.build_scene(g1_model.SceneConfig(actuator="position"))
    np.testing.assert_allclose(m.actuator_gainprm[:, 0], robot.KP)
    np.testing.assert_allclose(m.actuator_biasprm[:, 1], -robot.KP)
    np.testing.assert_allclose(m.actuator_biasprm[:, 2], -robot.KD)


def test_stand_keyframe_puts_feet_on_floor_and_pd_holds_briefly(model):
    data = mujoco.MjData(model)
    mujoco.mj_resetDataKeyframe(model, data, model.key("stand").id)
    mujoco.mj_forward(model, data)
    np.testing.assert_allclose(data.qpos[7:], robot.DEFAULT_POSITION)
    z0 = data.qpos[2]
    # Motor-level PD with the spec's gains keeps the robot up for at least half a second.
    for _ in range(250):
        tau = robot.KP * (robot.DEFAULT_POSITION - data.qpos[7:]) - robot.KD * data.qvel[6:]
        data.ctrl[:] = np.clip(tau, -robot.TORQUE_LIMIT, robot.TORQUE_LIMIT)
        mujoco.mj_step(model, data)
    assert data.qpos[2] > z0 - 0.05
    assert data.ncon >= 4  # both feet in contact


def test_missing_model_gives_clear_error(monkeypatch, tmp_path):
    monkeypatch.setenv(g1_model.G1_MODEL_ENV, str(tmp_path))
    monkeypatch.setenv("VIRTUAL_ENV", str(tmp_path))
    monkeypatch.setattr(g1_model.sys, "prefix", str(tmp_path))
    with pytest.raises(g1_model.G1ModelNotFound, match=r"scripts/setup\.sh"):
        g1_model.find_g1_model_dir()


def test_bad_actuator_kind_rejected():
    with pytest.raises(ValueError, match="motor"):
        g1_model.build_scene_spec(g1_model.SceneConfig(actuator="velocity"))
