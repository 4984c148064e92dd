"""PolicyRuntime: targets only from fresh, finite inputs; episode restarts after an interruption."""

import numpy as np
import pytest
import torch

from twist_controller import robot
from twist_controller.policy import export_policy, load_policy
from twist_controller.policy_runtime import PolicyRuntime, ReferenceSample


@pytest.fixture(scope="module")
def policy(tmp_path_factory):
    torch.manual_seed(0)
    net = torch.nn.Sequential(torch.nn.Linear(1155, 32), torch.nn.Tanh(), torch.nn.Linear(32, 23))
    return load_policy(export_policy(net, tmp_path_factory.mktemp("p") / "p.onnx"))


def _ref(**kw):
    base = dict(
        joint_pos=robot.DEFAULT_POSITION.copy(),
        root_height=0.78,
        root_rpy=np.zeros(3),
        root_lin_vel_local=np.zeros(3),
        root_yaw_rate=0.0,
    )
    base.update(kw)
    return ReferenceSample(**base)


def _feed(rt, t, ref=None):
    assert rt.set_reference(ref or _ref(), t) is None
    assert rt.set_joint_state(robot.DEFAULT_POSITION, np.zeros(29), t) is None
    assert rt.set_imu(np.array([1.0, 0, 0, 0]), np.zeros(3), t) is None


def test_no_targets_until_all_inputs_arrive(policy):
    rt = PolicyRuntime(policy)
    res = rt.step(0.0)
    assert res.targets is None and "no reference" in res.reason
    _feed(rt, 0.0)
    res = rt.step(0.01)
    assert res.reason == "ok" and res.targets.shape == (29,)
    assert np.all(res.targets >= robot.POSITION_LOWER) and np.all(res.targets <= robot.POSITION_UPPER)
    np.testing.assert_allclose(res.kp, robot.KP)


def test_stale_inputs_stop_targets_and_restart_the_episode(policy):
    rt = PolicyRuntime(policy)
    _feed(rt, 0.0)
    first = rt.step(0.0).targets
    rt.step(0.02)
    res = rt.step(0.15)  # 150 ms since the last inputs
    assert res.targets is None and "stale" in res.reason
    _feed(rt, 0.2)
    again = rt.step(0.2).targets
    # history and last action were reset, so the same inputs give the first step's targets again
    np.testing.assert_allclose(again, first)


def test_bad_inputs_are_rejected_not_stored(policy):
    rt = PolicyRuntime(policy)
    assert "NaN" in rt.set_reference(_ref(root_height=float("nan")), 0.0)
    assert "expected 29" in rt.set_reference(_ref(joint_pos=np.zeros(23)), 0.0)
    assert rt.set_joint_state(np.full(29, np.inf), np.zeros(29), 0.0) is not None
    assert rt.set_imu(np.zeros(4), np.zeros(3), 0.0) is not None  # not a unit quaternion
    assert rt.step(0.0).targets is None


def test_wrists_follow_the_reference(policy):
    rt = PolicyRuntime(policy)
    q_ref = robot.DEFAULT_POSITION.copy()
    wrist = robot.joint_index("left_wrist_roll_joint")
    q_ref[wrist] = 0.3
    _feed(rt, 0.0, _ref(joint_pos=q_ref))
    assert rt.step(0.0).targets[wrist] == pytest.approx(0.3)


def test_redo_replaces_the_last_step_without_a_history_entry(policy):
    """A revised reference redoes the step: the same targets as if it had come first, and the
    steps after it see one history entry per tick."""
    refs = [_ref(root_yaw_rate=0.1 * k, joint_pos=robot.DEFAULT_POSITION + 0.01 * k) for k in range(6)]
    revised_ref = _ref(root_yaw_rate=-0.5, root_lin_vel_local=np.array([0.8, 0.0, 0.0]))
    redone, direct = PolicyRuntime(policy), PolicyRuntime(policy)
    for k in range(3):
        _feed(redone, 0.02 * k, refs[k])
        _feed(direct, 0.02 * k, refs[k])
        redone.step(0.02 * k)
        direct.step(0.02 * k)
    _feed(redone, 0.06, refs[3])
    first = redone.step(0.06).targets
    _feed(redone, 0.065, revised_ref)
    a = redone.step(0.065, redo=True).targets
    _feed(direct, 0.065, revised_ref)
    b = direct.step(0.065).targets
    np.testing.assert_array_equal(a, b)
    assert not np.allclose(a, first)  # the revision changed something, so the test can tell
    for k in (4, 5):
        _feed(redone, 0.02 * k, refs[k])
        _feed(direct, 0.02 * k, refs[k])
        np.testing.assert_array_equal(redone.step(0.02 * k).targets, direct.step(0.02 * k).targets)
