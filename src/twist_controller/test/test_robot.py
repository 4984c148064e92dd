"""The G1 spec is internally consistent: layouts, maps, mirror, limits."""

import numpy as np
import pytest

from twist_controller import robot


def test_sizes_and_motor_indices():
    assert len(robot.G1_JOINT_NAMES) == robot.NUM_JOINTS == 29
    assert len(set(robot.G1_JOINT_NAMES)) == 29
    assert len(robot.POLICY_JOINT_NAMES) == robot.NUM_POLICY_JOINTS == 23
    assert len(robot.DEPLOY25_JOINT_NAMES) == 25
    # The G1 29-DOF motor order is the joint order.
    np.testing.assert_array_equal(robot.MOTOR_INDEX, np.arange(29))
    for arr in (robot.DEFAULT_POSITION, robot.KP, robot.KD, robot.TORQUE_LIMIT, robot.ARMATURE):
        assert arr.shape == (29,)
        assert np.all(np.isfinite(arr))


def test_policy_subset_is_twist_order():
    # TWIST's 23-DOF order: legs, waist, arms without wrists.
    assert robot.POLICY_JOINT_NAMES[:6] == (
        "left_hip_pitch_joint",
        "left_hip_roll_joint",
        "left_hip_yaw_joint",
        "left_knee_joint",
        "left_ankle_pitch_joint",
        "left_ankle_roll_joint",
    )
    assert robot.POLICY_JOINT_NAMES[12:15] == ("waist_yaw_joint", "waist_roll_joint", "waist_pitch_joint")
    assert robot.POLICY_JOINT_NAMES[18] == "left_elbow_joint"
    assert robot.POLICY_JOINT_NAMES[22] == "right_elbow_joint"
    assert not any("wrist" in n for n in robot.POLICY_JOINT_NAMES)
    # TWIST defaults and gains on the policy set.
    np.testing.assert_allclose(
        robot.full_to_policy(robot.DEFAULT_POSITION),
        [-0.2, 0, 0, 0.4, -0.2, 0] * 2 + [0, 0, 0] + [0, 0.4, 0, 1.2] + [0, -0.4, 0, 1.2],
    )
    np.testing.assert_allclose(
        robot.full_to_policy(robot.KP), [100, 100, 100, 150, 40, 40] * 2 + [150] * 3 + [40] * 8
    )
    np.testing.assert_allclose(robot.full_to_policy(robot.KD), [2, 2, 2, 4, 2, 2] * 2 + [4] * 3 + [5] * 8)


def test_maps_round_trip():
    rng = np.random.default_rng(0)
    q = rng.uniform(robot.POSITION_LOWER, robot.POSITION_UPPER, size=(5, 29))
    np.testing.assert_array_equal(robot.policy_to_full(robot.full_to_policy(q), fill=q), q)
    np.testing.assert_array_equal(robot.deploy25_to_full(robot.full_to_deploy25(q), fill=q), q)
    # Unfilled wrists come from the default pose.
    full = robot.policy_to_full(np.zeros(23))
    wrist = [robot.joint_index(n) for n in robot.WRIST_JOINT_NAMES]
    np.testing.assert_array_equal(full[wrist], robot.DEFAULT_POSITION[wrist])
    assert np.all(robot.FULL_TO_POLICY[robot.POLICY_TO_FULL] == np.arange(23))
    assert sorted(robot.FULL_TO_POLICY[wrist]) == [-1] * 6


def test_deploy25_has_wrist_rolls_after_elbows():
    names = robot.DEPLOY25_JOINT_NAMES
    assert names[18] == "left_elbow_joint" and names[19] == "left_wrist_roll_joint"
    assert names[23] == "right_elbow_joint" and names[24] == "right_wrist_roll_joint"
    assert tuple(n for n in names if "wrist" not in n) == robot.POLICY_JOINT_NAMES
    assert robot.DEPLOY25_WRIST_ROLL_INDICES == (19, 24)


def test_mirror_is_an_involution_and_maps_default_pose_to_itself():
    rng = np.random.default_rng(1)
    q = rng.normal(size=(3, 29))
    np.testing.assert_allclose(robot.mirror_joints(robot.mirror_joints(q)), q)
    np.testing.assert_allclose(robot.mirror_joints(robot.DEFAULT_POSITION), robot.DEFAULT_POSITION)
    li, ri = robot.joint_index("left_hip_roll_joint"), robot.joint_index("right_hip_roll_joint")
    assert robot.MIRROR_INDEX[li] == ri and robot.MIRROR_SIGN[li] == -1
    kp = robot.joint_index("left_knee_joint")
    assert robot.MIRROR_SIGN[kp] == 1
    # Mirrored limits: the mirror of the left range is the right range.
    lo_m = np.where(robot.MIRROR_SIGN > 0, robot.POSITION_LOWER, -robot.POSITION_UPPER)[robot.MIRROR_INDEX]
    np.testing.assert_allclose(lo_m, robot.POSITION_LOWER, atol=1e-6)


def test_default_pose_inside_limits_and_clip():
    assert np.all(robot.DEFAULT_POSITION > robot.POSITION_LOWER)
    assert np.all(robot.DEFAULT_POSITION < robot.POSITION_UPPER)
    big = np.full(29, 10.0)
    np.testing.assert_allclose(robot.clip_to_limits(big, margin=0.01), robot.POSITION_UPPER - 0.01)


def test_joint_index_error_lists_names():
    with pytest.raises(KeyError, match="left_knee_joint"):
        robot.joint_index("left_kne_joint")


def test_spec_summary_is_plain_data():
    s = robot.spec_summary()
    assert s["joint_names"] == list(robot.G1_JOINT_NAMES)
    assert len(s["kp"]) == 29 and isinstance(s["kp"][0], float)
