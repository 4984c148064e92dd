"""TWIST Redis layouts against hand-built vectors (indices written out by hand, not via the code)."""

import json
import math

import numpy as np
import pytest

from g1_bringup.mux_core import Frame
from g1_bringup.redis_layouts import (
    TWIST_DEFAULT_MIMIC,
    LayoutError,
    action_from_targets,
    decode_mimic,
    encode,
    exit_blend,
    frame_to_mimic,
    mimic_to_frame,
    policy_mimic31,
    state_body,
)
from twist_controller import robot

# 29-DOF index (G1 motor order) of each of TWIST's 25 deploy joints, written out by hand:
# legs 0-11, waist 12-14, L shoulder p/r/y + elbow 15-18, L wrist roll 19,
# R shoulder p/r/y + elbow 22-25, R wrist roll 26.
HAND_25_TO_29 = [0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16, 17, 18, 19, 22, 23, 24, 25, 26]


def hand_frame() -> Frame:
    q = np.array([0.01 * (i + 1) for i in range(29)])  # joint i holds 0.01*(i+1): all within limits
    return Frame(q, np.zeros(29), 0.71, 0.05, -0.04, 2.9, np.array([0.6, -0.1, 0.02]), 0.33)


def test_frame_to_mimic_hand_built():
    v = frame_to_mimic(hand_frame())
    expected = [0.71, 0.05, -0.04, 2.9, 0.6, -0.1, 0.02, 0.33] + [0.01 * (j + 1) for j in HAND_25_TO_29]
    np.testing.assert_allclose(v, expected, atol=1e-12)
    assert v.shape == (33,)
    # wrist rolls at 8+19 and 8+24 (values of 29-DOF joints 19 and 26)
    assert v[27] == pytest.approx(0.20) and v[32] == pytest.approx(0.27)
    mimic31, wrists = policy_mimic31(v)
    assert mimic31.shape == (31,) and list(wrists) == pytest.approx([0.20, 0.27])
    assert 0.20 not in list(np.round(mimic31, 6)) and mimic31[-1] == pytest.approx(0.26)  # R elbow last


def test_mimic_to_frame_hand_built_and_round_trip():
    vec = [0.7, 0.1, -0.05, -1.2, 0.3, 0.2, 0.0, -0.4] + [0.02 * (k + 1) - 0.1 for k in range(25)]
    f = mimic_to_frame(vec)
    assert f.root_height == pytest.approx(0.7) and f.root_yaw == pytest.approx(-1.2)
    np.testing.assert_allclose(f.root_linear_velocity, [0.3, 0.2, 0.0])
    assert f.root_yaw_rate == pytest.approx(-0.4)
    for k, j in enumerate(HAND_25_TO_29):
        assert f.joint_positions[j] == pytest.approx(vec[8 + k])
    # wrist pitch/yaw (20, 21, 27, 28) are not in the layout: default pose (0)
    for j in (20, 21, 27, 28):
        assert f.joint_positions[j] == 0.0
    np.testing.assert_allclose(frame_to_mimic(f), vec, atol=1e-12)


def test_twist_default_vector_matches_the_spec():
    v = TWIST_DEFAULT_MIMIC
    assert v.shape == (33,) and v[0] == pytest.approx(0.793) and not np.any(v[1:8])
    assert list(v[8:14]) == [-0.2, 0, 0, 0.4, -0.2, 0] and list(v[14:20]) == [-0.2, 0, 0, 0.4, -0.2, 0]
    assert list(v[23:28]) == [0, 0.2, 0, 1.2, 0] and list(v[28:33]) == [0, -0.2, 0, 1.2, 0]
    f = mimic_to_frame(v)  # valid for our side too
    assert f.joint_positions[16] == pytest.approx(0.2) and f.joint_positions[23] == pytest.approx(-0.2)


@pytest.mark.parametrize(
    "payload",
    [
        None,
        b"\xff\xfe",
        "not json",
        json.dumps({"a": 1}),
        json.dumps([0.0] * 32),
        json.dumps([0.0] * 34),
        json.dumps([0.7] + ["x"] * 32),
        json.dumps([True] * 33),
        "[" + ",".join(["NaN"] * 33) + "]",
        "[" + ",".join(["Infinity"] + ["0"] * 32) + "]",
    ],
)
def test_malformed_payloads_are_rejected(payload):
    with pytest.raises(LayoutError):
        mimic_to_frame(decode_mimic(payload))


def test_implausible_values_are_rejected():
    v = list(TWIST_DEFAULT_MIMIC)
    v[0] = 7.0  # 7 m pelvis height
    with pytest.raises(LayoutError, match="height"):
        mimic_to_frame(v)
    v = list(TWIST_DEFAULT_MIMIC)
    v[8 + 3] = 4.0  # left knee far beyond its limit
    with pytest.raises(LayoutError, match="knee"):
        mimic_to_frame(v)
    v = list(TWIST_DEFAULT_MIMIC)
    v[4] = 50.0  # 50 m/s
    with pytest.raises(LayoutError, match="velocity"):
        mimic_to_frame(v)


def test_encode_decode_round_trip_exact():
    v = frame_to_mimic(hand_frame())
    np.testing.assert_array_equal(decode_mimic(encode(v)), v)
    np.testing.assert_array_equal(decode_mimic(encode(v).encode()), v)  # bytes from redis-py


def test_state_body_hand_built():
    q = robot.DEFAULT_POSITION.copy()
    q[3] += 0.1  # left knee (policy index 3)
    q[19] = 0.5  # left wrist roll: not part of the 23-DOF proprio
    dq = np.zeros(29)
    dq[0] = 2.0  # left hip pitch
    dq[4] = 3.0  # left ankle pitch: zeroed by TWIST
    dq[22] = -1.0  # right shoulder pitch = policy index 19
    roll = 0.1
    quat = [math.cos(roll / 2), math.sin(roll / 2), 0.0, 0.0]
    act = np.arange(23) * 0.1
    s = state_body([0.4, -0.8, 1.2], quat, q, dq, act)
    assert s.shape == (74,)
    np.testing.assert_allclose(s[0:3], [0.1, -0.2, 0.3])  # gyro x 0.25
    np.testing.assert_allclose(s[3:5], [0.1, 0.0], atol=1e-12)  # roll, pitch
    expected_q = np.zeros(23)
    expected_q[3] = 0.1
    np.testing.assert_allclose(s[5:28], expected_q, atol=1e-12)
    expected_dq = np.zeros(23)
    expected_dq[0] = 0.1  # 2.0 x 0.05
    expected_dq[19] = -0.05
    np.testing.assert_allclose(s[28:51], expected_dq, atol=1e-12)
    np.testing.assert_allclose(s[51:74], act)
    np.testing.assert_allclose(state_body([0, 0, 0], [1, 0, 0, 0], q, dq)[51:], 0.0)  # no action: zeros


def test_action_from_targets_inverts_the_policy_target_map():
    a = np.linspace(-1, 1, 23)
    target = robot.policy_to_full(robot.full_to_policy(robot.DEFAULT_POSITION) + robot.ACTION_SCALE * a)
    np.testing.assert_allclose(action_from_targets(target), a, atol=1e-12)
    with pytest.raises(LayoutError):
        action_from_targets([0.0] * 28)


def test_exit_blend_is_linear_over_two_seconds_to_the_default():
    last = frame_to_mimic(hand_frame())
    seq = exit_blend(last)
    assert seq.shape == (100, 33)
    target = TWIST_DEFAULT_MIMIC.copy()
    target[3] = last[3]  # heading is kept
    np.testing.assert_allclose(seq[-1], target)
    np.testing.assert_allclose(seq[49], last + 0.5 * (target - last), atol=1e-12)
    steps = np.abs(np.diff(np.vstack([last, seq]), axis=0))
    np.testing.assert_allclose(steps.max(axis=0), np.abs(target - last) / 100, atol=1e-12)
