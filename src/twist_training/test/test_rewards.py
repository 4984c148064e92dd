"""Each TWIST reward term on constructed states (values checked against hand-computed numbers)."""

from __future__ import annotations

import numpy as np
import pytest

from twist_controller import robot
from twist_training.envs import rewards as R
from twist_training.envs.config import RewardConfig

N = 3
C = RewardConfig()


def base_inputs(**kw) -> R.RewardInputs:
    z23 = np.zeros((N, 23))
    q0 = np.tile(robot.full_to_policy(robot.DEFAULT_POSITION), (N, 1))
    ident = np.tile([1.0, 0, 0, 0], (N, 1))
    d = dict(
        q=q0.copy(),
        dq=z23.copy(),
        q_ref=q0.copy(),
        dq_ref=z23.copy(),
        root_height=np.full(N, 0.78),
        ref_root_height=np.full(N, 0.78),
        root_quat=ident.copy(),
        ref_root_quat=ident.copy(),
        base_lin_vel=np.zeros((N, 3)),
        base_ang_vel=np.zeros((N, 3)),
        ref_lin_vel_local=np.zeros((N, 3)),
        ref_ang_vel_local=np.zeros((N, 3)),
        key_body=np.zeros((N, 9, 3)),
        ref_key_body=np.zeros((N, 9, 3)),
        foot_force=np.zeros((N, 2, 3)),
        foot_vel=np.zeros((N, 2, 3)),
        torque=z23.copy(),
        last_dq=z23.copy(),
        action=z23.copy(),
        last_action=z23.copy(),
        first_contact=np.zeros((N, 2), dtype=bool),
        air_time=np.zeros((N, 2)),
        ref_speed_xy=np.zeros(N),
        dt=0.02,
    )
    d.update(kw)
    return R.RewardInputs(**d)


def test_perfect_tracking_gives_one_and_no_penalties():
    x = base_inputs()
    for name in (
        "tracking_joint_dof",
        "tracking_joint_vel",
        "tracking_root_pose",
        "tracking_root_vel",
        "tracking_keybody_pos",
    ):
        np.testing.assert_allclose(R.TERMS[name](x, C), 1.0)
    for name in R.TERMS:
        if not name.startswith("tracking"):
            np.testing.assert_allclose(R.TERMS[name](x, C), 0.0, err_msg=name)


def test_joint_tracking_weighted_error():
    x = base_inputs()
    x.q[:, 0] += 0.5  # left hip pitch, weight 1.0
    x.q[:, 4] += 0.5  # left ankle pitch, weight 0.5
    np.testing.assert_allclose(R.tracking_joint_dof(x, C), np.exp(-0.15 * (0.25 * 1.0 + 0.25 * 0.5)))
    x.dq[:, 13] = 2.0  # waist roll, weight 0.6
    np.testing.assert_allclose(R.tracking_joint_vel(x, C), np.exp(-0.01 * 0.6 * 4.0))


def test_root_pose_height_and_angle():
    x = base_inputs(root_height=np.full(N, 0.68))
    ang = 0.4
    x.root_quat[:] = [np.cos(ang / 2), np.sin(ang / 2), 0, 0]  # roll 0.4 rad
    np.testing.assert_allclose(R.tracking_root_pose(x, C), np.exp(-5 * (0.01 + 0.1 * ang**2)), rtol=1e-6)


def test_root_velocity():
    x = base_inputs()
    x.ref_lin_vel_local[:, 0] = 1.0
    x.base_ang_vel[:, 2] = 2.0
    np.testing.assert_allclose(R.tracking_root_vel(x, C), np.exp(-(1.0 + 0.5 * 4.0)))


def test_keybody_position():
    x = base_inputs()
    x.key_body[:, 3, 1] = 0.1
    x.key_body[:, 8, 2] = 0.2
    np.testing.assert_allclose(R.tracking_keybody_pos(x, C), np.exp(-10 * (0.01 + 0.04)))


def test_feet_slip_only_in_contact():
    x = base_inputs()
    x.foot_vel[:, :, 0] = 0.25
    np.testing.assert_allclose(R.feet_slip(x, C), 0.0)  # no contact
    x.foot_force[:, 0, 2] = 50.0
    np.testing.assert_allclose(R.feet_slip(x, C), np.sqrt(0.25))


def test_feet_contact_forces_and_stumble():
    x = base_inputs()
    x.foot_force[:, 0, 2] = 300.0
    x.foot_force[:, 1, 2] = 400.0
    np.testing.assert_allclose(R.feet_contact_forces(x, C), 500.0 - 100.0)
    assert np.all(R.feet_stumble(x, C) == 0)
    x.foot_force[0, 1, 0] = 4.0 * 400.0 + 1.0
    np.testing.assert_allclose(R.feet_stumble(x, C), [1.0, 0.0, 0.0])


def test_dof_position_and_torque_limits():
    _lo, hi = R.soft_limits(0.95)
    x = base_inputs()
    x.q[:, 3] = hi[3] + 0.1  # knee beyond the soft limit
    np.testing.assert_allclose(R.dof_pos_limits(x, C), 0.1, rtol=1e-9)
    tau_clip = robot.full_to_policy(robot.TORQUE_LIMIT) * 0.9
    x.torque[:, 0] = tau_clip[0]  # |tau|/clip = 1.0 -> 0.05 above the 0.95 soft limit
    np.testing.assert_allclose(R.dof_torque_limits(x, C), 0.05, atol=1e-12)


def test_velocity_acceleration_action_rate():
    x = base_inputs()
    x.dq[:, 4] = 2.0  # an ankle
    x.dq[:, 0] = 1.0
    np.testing.assert_allclose(R.dof_vel(x, C), 5.0)
    np.testing.assert_allclose(R.ankle_dof_vel(x, C), 4.0)
    np.testing.assert_allclose(R.dof_acc(x, C), (1.0 / 0.02) ** 2 + (2.0 / 0.02) ** 2)
    np.testing.assert_allclose(R.ankle_dof_acc(x, C), (2.0 / 0.02) ** 2)
    x.action[:, 0] = 3.0
    x.action[:, 1] = 4.0
    np.testing.assert_allclose(R.action_rate(x, C), 5.0)  # L2 norm, not squared
    x.base_ang_vel[:] = [1.0, 2.0, 3.0]
    np.testing.assert_allclose(R.ang_vel_xy(x, C), 5.0)


def test_feet_air_time_penalises_short_steps_only_when_moving():
    x = base_inputs()
    x.first_contact[:, 0] = True
    x.air_time[:, 0] = 0.3
    np.testing.assert_allclose(R.feet_air_time(x, C), 0.0)  # reference not moving
    x.ref_speed_xy[:] = 0.5
    np.testing.assert_allclose(R.feet_air_time(x, C), -0.2)
    x.air_time[:, 0] = 0.8
    np.testing.assert_allclose(R.feet_air_time(x, C), 0.0)  # long steps are not rewarded


def test_compute_rewards_applies_weights_times_dt():
    x = base_inputs()
    x.action[:, 0] = 1.0
    total, parts = R.compute_rewards(x, C)
    assert set(parts) == set(R.TERMS)
    np.testing.assert_allclose(parts["action_rate"], -0.01 * 0.02 * 1.0)
    np.testing.assert_allclose(parts["tracking_keybody_pos"], 2.0 * 0.02)
    np.testing.assert_allclose(total, sum(parts.values()))
    expected_tracking = (0.6 + 0.2 + 0.6 + 1.0 + 2.0) * 0.02
    np.testing.assert_allclose(total, expected_tracking - 0.01 * 0.02, rtol=1e-9)


@pytest.mark.parametrize("name", sorted(R.TERMS))
def test_every_term_has_a_seed_weight(name):
    assert getattr(C.scales, name) != 0.0
