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
