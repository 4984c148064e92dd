"""The student observation: TWIST layout, history rule, and batched == single-env (train == deploy)."""

import numpy as np
import pytest

from twist_controller import robot
from twist_controller.observations import (
    STUDENT_LAYOUT,
    ReferenceInput,
    RobotInput,
    StudentObservationBuilder,
    mimic_obs,
    proprio_obs,
)
from twist_controller.rotations import rpy_to_quat


def _random_inputs(rng, n):
    ref = ReferenceInput(
        root_height=rng.uniform(0.6, 0.8, n),
        root_rpy=rng.uniform(-0.3, 0.3, (n, 3)),
        root_lin_vel_local=rng.normal(size=(n, 3)),
        root_yaw_rate=rng.normal(size=n),
        joint_pos=rng.uniform(robot.POSITION_LOWER, robot.POSITION_UPPER, (n, 29)),
    )
    state = RobotInput(
        base_ang_vel=rng.normal(size=(n, 3)),
        base_quat_wxyz=rpy_to_quat(rng.uniform(-0.3, 0.3, (n, 3))),
        joint_pos=rng.uniform(robot.POSITION_LOWER, robot.POSITION_UPPER, (n, 29)),
        joint_vel=rng.normal(size=(n, 29)),
        last_action=rng.normal(size=(n, 23)),
    )
    return ref, state


def _take(inputs, i):
    return type(inputs)(**{k: np.asarray(v)[i : i + 1] for k, v in vars(inputs).items()})


def test_layout_sizes_match_twist():
    assert STUDENT_LAYOUT.n_mimic == 31 and STUDENT_LAYOUT.n_proprio == 74
    assert STUDENT_LAYOUT.n_step == 105 and STUDENT_LAYOUT.size == 1155


def test_blocks_hold_what_twist_puts_there():
    rng = np.random.default_rng(0)
    ref, state = _random_inputs(rng, 1)
    m = mimic_obs(ref)[0]
    assert m[0] == pytest.approx(ref.root_height[0])
    np.testing.assert_allclose(m[1:4], ref.root_rpy[0])
    np.testing.assert_allclose(m[8:], robot.full_to_policy(ref.joint_pos[0]))
    p = proprio_obs(state)[0]
    np.testing.assert_allclose(p[0:3], 0.25 * state.base_ang_vel[0])
    q_err = robot.full_to_policy(state.joint_pos[0] - robot.DEFAULT_POSITION)
    np.testing.assert_allclose(p[5:28], q_err)
    dq = p[28:51]
    assert np.all(dq[[4, 5, 10, 11]] == 0.0)  # ankle velocities zeroed
    np.testing.assert_allclose(dq[0], 0.05 * robot.full_to_policy(state.joint_vel[0])[0])
    np.testing.assert_allclose(p[51:], state.last_action[0])


def test_history_copy_filled_then_shifted_oldest_first():
    rng = np.random.default_rng(1)
    b = StudentObservationBuilder(1)
    steps = [_random_inputs(rng, 1) for _ in range(3)]
    o0 = b.build(*steps[0])[0]
    cur0 = o0[:105]
    hist0 = o0[105:].reshape(10, 105)
    np.testing.assert_allclose(hist0, np.tile(cur0, (10, 1)))  # copy-filled on the first step
    o1 = b.build(*steps[1])[0]
    hist1 = o1[105:].reshape(10, 105)
    np.testing.assert_allclose(hist1[-1], cur0)  # newest history entry = previous step
    np.testing.assert_allclose(hist1[:-1], np.tile(cur0, (9, 1)))
    b.reset()
    o2 = b.build(*steps[2])[0]
    np.testing.assert_allclose(o2[105:].reshape(10, 105), np.tile(o2[:105], (10, 1)))


def test_batched_training_path_equals_single_env_deploy_path():
    """Training builds (N, 1155) for N envs; the policy node builds (1, 1155). Same state -> same vector."""
    rng = np.random.default_rng(2)
    n, steps = 4, 6
    batched = StudentObservationBuilder(n)
    singles = [StudentObservationBuilder(1) for _ in range(n)]
    for t in range(steps):
        ref, state = _random_inputs(rng, n)
        if t == 3:  # env 2 resets mid-way, in both paths
            batched.reset(np.array([2]))
            singles[2].reset()
        ob = batched.build(ref, state)
        for i in range(n):
            os_ = singles[i].build(_take(ref, i), _take(state, i))
            np.testing.assert_array_equal(ob[i : i + 1], os_)
    assert ob.dtype == np.float32 and ob.shape == (n, 1155)


def test_wrong_batch_size_is_rejected():
    rng = np.random.default_rng(3)
    ref, state = _random_inputs(rng, 2)
    with pytest.raises(ValueError, match="expected"):
        StudentObservationBuilder(1).build(ref, state)
