"""The pd_bridge safety state machine, driven with an injected clock (no ROS, no DDS)."""

from __future__ import annotations

import math

import numpy as np
import pytest

from twist_controller import robot
from twist_controller.safety import (
    Mode,
    Request,
    SafetyConfig,
    SafetyStateMachine,
    TargetError,
    parse_targets,
    sim_now,
    tilt_of,
)

UPRIGHT = np.array([1.0, 0.0, 0.0, 0.0])
NAMES = list(robot.G1_JOINT_NAMES)
PERIOD = 0.005  # 200 Hz bridge loop


def make(**kw) -> SafetyStateMachine:
    return SafetyStateMachine(SafetyConfig(**kw))


def feed_state(sm, now, q=None, quat=UPRIGHT):
    q = robot.DEFAULT_POSITION * 0.2 if q is None else q
    sm.update_state(q, np.zeros(29), quat, now)


def feed_targets(sm, now, q=None):
    q = robot.DEFAULT_POSITION if q is None else q
    return sm.update_targets(NAMES, q, now=now)


def run(sm, t0, t1, state=True, targets=False):
    """Step the machine from t0 to t1 at the bridge rate, feeding fresh state/targets each tick."""
    t = t0
    cmd = None
    while t < t1 - 1e-12:
        if state:
            feed_state(sm, t)
        if targets:
            feed_targets(sm, t)
        cmd = sm.step(t)
        t += PERIOD
    return t, cmd


def to_policy(sm, t=0.0):
    """ZERO_TORQUE -> DAMPING -> STAND_UP (finished) -> POLICY; returns the time reached."""
    feed_state(sm, t)
    assert sm.request(Request.ENABLE, t)[0]
    assert sm.request(Request.STAND, t)[0]
    t, _ = run(sm, t, t + sm.cfg.stand_duration + 0.05, targets=True)
    ok, msg = sm.request(Request.POLICY, t)
    assert ok, msg
    assert sm.mode == Mode.POLICY
    return t


# ------------------------------------------------------------------------------- basic ladder
def test_starts_in_zero_torque_with_zero_gains():
    sm = make()
    feed_state(sm, 0.0)
    cmd = sm.step(0.0)
    assert sm.mode == Mode.ZERO_TORQUE
    assert np.all(cmd.kp == 0) and np.all(cmd.kd == 0) and np.all(cmd.tau == 0)


def test_enable_gives_damping_kd_only():
    sm = make(damping_kd_scale=2.0)
    feed_state(sm, 0.0)
    assert sm.request(Request.ENABLE, 0.0) == (True, "enabled: DAMPING")
    cmd = sm.step(0.0)
    assert sm.mode == Mode.DAMPING
    assert np.all(cmd.kp == 0)
    np.testing.assert_allclose(cmd.kd, 2.0 * robot.KD)


def test_stand_needs_enable_and_state():
    sm = make()
    ok, msg = sm.request(Request.STAND, 0.0)
    assert not ok and "ENABLE" in msg
    sm.request(Request.ENABLE, 0.0)
    ok, msg = sm.request(Request.STAND, 0.0)
    assert not ok and "no LowState" in msg
    feed_state(sm, 0.0)
    ok, _ = sm.request(Request.STAND, 0.05)
    assert ok and sm.mode == Mode.STAND_UP


def test_stand_up_interpolates_smoothly_to_default():
    sm = make(stand_duration=2.0)
    q0 = robot.DEFAULT_POSITION * 0.0 + 0.1
    sm.update_state(q0, np.zeros(29), UPRIGHT, 0.0)
    sm.request(Request.ENABLE, 0.0)
    sm.request(Request.STAND, 0.0)
    qs = []
    for t in np.arange(0.0, 2.5, PERIOD):
        sm.update_state(q0, np.zeros(29), UPRIGHT, t)
        qs.append(sm.step(t).q)
    qs = np.array(qs)
    np.testing.assert_allclose(qs[0], q0, atol=1e-12)
    np.testing.assert_allclose(qs[-1], robot.DEFAULT_POSITION, atol=1e-12)
    frac = (qs[:, 3] - q0[3]) / (robot.DEFAULT_POSITION[3] - q0[3])  # knee progress
    assert np.all(np.diff(frac) >= -1e-12), "monotone"
    steps = np.diff(frac)
    assert steps[0] < 0.2 * steps.max() and steps[len(frac) * 2 // 5] > 0.8 * steps.max(), "eases in"
    assert sm.holding
    cmd = sm.step(2.5)
    np.testing.assert_allclose(cmd.kp, robot.KP * sm.cfg.stand_kp_scale)


def test_policy_needs_finished_stand_and_fresh_targets():
    sm = make()
    feed_state(sm, 0.0)
    sm.request(Request.ENABLE, 0.0)
    assert not sm.request(Request.POLICY, 0.0)[0]
    sm.request(Request.STAND, 0.0)
    t, _ = run(sm, 0.0, 1.0)
    ok, msg = sm.request(Request.POLICY, t)
    assert not ok and "STAND_UP finished" in msg
    t, _ = run(sm, t, 2.1)
    ok, msg = sm.request(Request.POLICY, t)
    assert not ok and "no joint targets" in msg
    feed_targets(sm, t)
    assert sm.request(Request.POLICY, t)[0]
    assert sm.mode == Mode.POLICY


def test_policy_forwards_targets_with_caps():
    sm = make(max_gain_scale=2.0)
    t = to_policy(sm)
    q = robot.DEFAULT_POSITION.copy()
    q[3] = 10.0  # beyond the knee limit
    kp = robot.KP * 5
    sm.update_targets(NAMES, q, effort=np.full(29, 1e4), kp=kp, kd=robot.KD * 0.5, now=t)
    feed_state(sm, t)
    cmd = sm.step(t)
    assert sm.mode == Mode.POLICY
    assert cmd.q[3] == pytest.approx(robot.POSITION_UPPER[3])
    np.testing.assert_allclose(cmd.kp, 2.0 * robot.KP)
    np.testing.assert_allclose(cmd.kd, 0.5 * robot.KD)
    np.testing.assert_allclose(cmd.tau, robot.TORQUE_LIMIT)


# ------------------------------------------------------------------------------- faults
def test_stale_targets_switch_to_damping_within_100ms():
    sm = make(target_timeout=0.1)
    t = to_policy(sm)
    last_target = t
    feed_targets(sm, last_target)
    switched = None
    while t < last_target + 1.0:
        t += PERIOD
        feed_state(sm, t)
        sm.step(t)
        if sm.mode != Mode.POLICY:
            switched = t
            break
    assert sm.mode == Mode.DAMPING
    delay = switched - last_target
    assert 0.1 - 1e-9 < delay <= 0.1 + PERIOD + 1e-9, delay
    assert "targets stale" in sm.last_transition


@pytest.mark.parametrize("bad", [math.nan, math.inf, -math.inf])
def test_non_finite_target_switches_to_damping_at_once(bad):
    sm = make()
    t = to_policy(sm)
    q = robot.DEFAULT_POSITION.copy()
    q[7] = bad
    err = sm.update_targets(NAMES, q, now=t)
    assert "non-finite" in err
    assert sm.mode == Mode.DAMPING  # before the next tick
    assert np.all(sm.step(t).kp == 0)


def test_malformed_targets_are_rejected_without_fault_outside_policy():
    sm = make()
    feed_state(sm, 0.0)
    assert "unknown joint" in sm.update_targets(["nope"], [0.0], now=0.0)
    assert "values for" in sm.update_targets(NAMES[:2], [0.0], now=0.0)
    assert sm.rejected_targets == 2
    assert sm.mode == Mode.ZERO_TORQUE


@pytest.mark.parametrize(
    "fault",
    ["stale_state", "nan_state", "tilt", "joint_limit"],
)
@pytest.mark.parametrize("mode", [Mode.STAND_UP, Mode.POLICY])
def test_state_faults_leave_stand_and_policy(fault, mode):
    sm = make(state_timeout=0.1, max_tilt=0.8, joint_limit_margin=0.1)
    if mode == Mode.POLICY:
        t = to_policy(sm)
    else:
        feed_state(sm, 0.0)
        sm.request(Request.ENABLE, 0.0)
        sm.request(Request.STAND, 0.0)
        t = 0.5
    feed_targets(sm, t)
    q = robot.DEFAULT_POSITION.copy()
    if fault == "stale_state":
        t += 0.12  # no state for 120 ms
    elif fault == "nan_state":
        q[0] = math.nan
        sm.update_state(q, np.zeros(29), UPRIGHT, t)
    elif fault == "tilt":
        a = 0.9  # rad about x
        sm.update_state(q, np.zeros(29), [math.cos(a / 2), math.sin(a / 2), 0, 0], t)
    else:
        q[3] = robot.POSITION_UPPER[3] + 0.15
        sm.update_state(q, np.zeros(29), UPRIGHT, t)
    feed_targets(sm, t)
    sm.step(t)
    assert sm.mode == Mode.DAMPING, (fault, sm.last_transition)


def test_small_tilt_and_limit_margin_do_not_fault():
    sm = make(max_tilt=0.8, joint_limit_margin=0.1)
    t = to_policy(sm)
    q = robot.DEFAULT_POSITION.copy()
    q[3] = robot.POSITION_UPPER[3] + 0.05
    a = 0.7
    sm.update_state(q, np.zeros(29), [math.cos(a / 2), 0, math.sin(a / 2), 0], t)
    feed_targets(sm, t)
    sm.step(t)
    assert sm.mode == Mode.POLICY


def test_tilt_of():
    assert tilt_of(UPRIGHT) == pytest.approx(0.0)
    assert tilt_of([math.cos(0.25), 0, math.sin(0.25), 0]) == pytest.approx(0.5)
    assert tilt_of([0, 0, 0, 1]) == pytest.approx(0.0)  # pure yaw
    assert tilt_of([0, 0, 0, 0]) == math.inf


# ------------------------------------------------------------------------------- e-stop
def _reach(sm, mode: Mode) -> float:
    feed_state(sm, 0.0)
    if mode == Mode.ZERO_TORQUE:
        return 0.0
    sm.request(Request.ENABLE, 0.0)
    if mode == Mode.DAMPING:
        return 0.0
    if mode == Mode.STAND_UP:
        sm.request(Request.STAND, 0.0)
        return 0.0
    if mode == Mode.POLICY:
        return to_policy_from_damping(sm)
    sm.request(Request.ESTOP, 0.0)
    return 0.0


def to_policy_from_damping(sm):
    sm.request(Request.STAND, 0.0)
    t, _ = run(sm, 0.0, sm.cfg.stand_duration + 0.05, targets=True)
    assert sm.request(Request.POLICY, t)[0]
    return t


@pytest.mark.parametrize("mode", list(Mode))
def test_estop_from_every_state_latches_until_reset(mode):
    sm = make()
    t = _reach(sm, mode)
    assert sm.mode == mode
    ok, _ = sm.request(Request.ESTOP, t)
    assert ok and sm.mode == Mode.ESTOP
    cmd = sm.step(t)
    assert np.all(cmd.kp == 0) and np.all(cmd.kd > 0), "ESTOP damps"
    for req in (Request.ENABLE, Request.STAND, Request.POLICY, Request.DAMP, Request.ZERO_TORQUE):
        ok, msg = sm.request(req, t)
        assert not ok and "latched" in msg
        assert sm.mode == Mode.ESTOP
    run(sm, t, t + 0.5, targets=True)
    assert sm.mode == Mode.ESTOP, "nothing leaves ESTOP on its own"
    assert sm.request(Request.RESET, t + 0.5)[0]
    assert sm.mode == Mode.DAMPING


# ------------------------------------------------------------------------------- automation
def test_auto_stand_once_in_sim_only():
    sm = make(auto_stand=True)
    run(sm, 0.0, 0.99)
    assert sm.mode == Mode.ZERO_TORQUE, "auto_stand waits for 1 s of steady LowState"
    run(sm, 0.99, 1.01)
    assert sm.mode == Mode.STAND_UP
    sm.request(Request.DAMP, 1.01)
    run(sm, 1.01, 3.0)
    assert sm.mode == Mode.DAMPING, "auto_stand acts only at start-up"


def test_auto_stand_waits_out_a_start_up_stall():
    """A simulator whose LowState stalls right after its first message (model compile, discovery)
    must not be stood up into the stall: the settle window restarts after every gap."""
    sm = make(auto_stand=True, auto_settle=0.5)
    t, _ = run(sm, 0.0, 0.2)
    run(sm, t, t + 0.15, state=False)  # 150 ms without LowState: stale
    assert sm.mode == Mode.ZERO_TORQUE
    t, _ = run(sm, t + 0.15, t + 0.6)  # 0.45 s steady: not yet
    assert sm.mode == Mode.ZERO_TORQUE
    run(sm, t, t + 0.1)
    assert sm.mode == Mode.STAND_UP
    with pytest.raises(ValueError, match="auto_settle"):
        make(auto_settle=-1.0)


def test_auto_policy_in_sim():
    sm = make(auto_stand=True, auto_policy=True)
    run(sm, 0.0, 3.2, targets=True)
    assert sm.mode == Mode.POLICY


def test_real_robot_never_leaves_zero_torque_or_damping_on_its_own():
    sm = make(robot="real", auto_stand=True, auto_policy=True)
    run(sm, 0.0, 3.0, targets=True)
    assert sm.mode == Mode.ZERO_TORQUE
    sm.request(Request.ENABLE, 3.0)
    run(sm, 3.0, 6.0, targets=True)
    assert sm.mode == Mode.DAMPING


def test_faults_are_not_undone_automatically():
    sm = make(auto_stand=True, auto_policy=True)
    t, _ = run(sm, 0.0, 3.2, targets=True)
    assert sm.mode == Mode.POLICY
    run(sm, t, t + 1.0, targets=False)  # target stream stops
    assert sm.mode == Mode.DAMPING
    run(sm, t + 1.0, t + 4.0, targets=True)  # comes back: stays damped until asked
    assert sm.mode == Mode.DAMPING


def test_unknown_request_and_bad_config():
    sm = make()
    assert sm.request(99, 0.0) == (False, "unknown request 99")
    with pytest.raises(ValueError):
        SafetyConfig(robot="hardware")
    with pytest.raises(ValueError):
        SafetyConfig(target_timeout=0.0)


# ------------------------------------------------------------------------------- target parsing
def test_parse_targets_partial_and_errors():
    t = parse_targets(["left_knee_joint"], [0.9], kp=[120.0], stamp=1.0)
    k = robot.joint_index("left_knee_joint")
    assert t.q[k] == 0.9 and t.kp[k] == 120.0
    others = np.arange(29) != k
    np.testing.assert_allclose(t.q[others], robot.DEFAULT_POSITION[others])
    np.testing.assert_allclose(t.kd, robot.KD)
    with pytest.raises(TargetError, match="duplicate"):
        parse_targets(["left_knee_joint"] * 2, [0.1, 0.2])
    with pytest.raises(TargetError, match="empty"):
        parse_targets([], [])
    with pytest.raises(TargetError, match="position has 0"):
        parse_targets(["left_knee_joint"], [])
    with pytest.raises(TargetError) as e:
        parse_targets(["left_knee_joint"], [0.1], kd=[math.nan])
    assert e.value.non_finite


def test_bridge_parameter_checks():
    from twist_controller.pd_bridge import PARAMS, check_params

    assert check_params(dict(PARAMS)) == []
    real = dict(PARAMS, robot="real")
    assert any("network_interface" in e for e in check_params(real)), "real robot on lo is refused"
    assert check_params(dict(real, network_interface="eth0")) == []
    assert check_params(dict(PARAMS, transport="serial"))
    assert check_params(dict(PARAMS, rate_hz=0.0))


def test_parameter_coercion():
    from twist_controller.pd_bridge import coerce

    assert coerce("rate_hz", 500, 200.0) == 500.0
    assert coerce("auto_stand", "true", False) is True
    assert coerce("dds_domain", 2.0, 1) == 2
    for bad, default in (("fast", 200.0), ("maybe", False), (math.nan, 0.1)):
        with pytest.raises(ValueError, match="not a valid"):
            coerce("x", bad, default)


# ------------------------------------------------------------------------------- simulated time
def test_sim_now_does_not_age_a_queued_lowstate_backlog():
    # the bridge was descheduled 150 ms: the newest /clock is in, the LowStates are still queued
    assert sim_now(clock=10.150, newest_tick=10.000, wall_since_tick=0.002) == pytest.approx(10.002)
    sm = make()
    feed_state(sm, 10.000)
    assert not sm._state_fault(sim_now(10.150, 10.000, 0.002))


def test_sim_now_still_ages_a_stopped_lowstate_stream():
    # LowState stopped 150 ms of wall time ago while the simulator's clock ran on
    now = sim_now(clock=10.150, newest_tick=10.000, wall_since_tick=0.150)
    assert now == pytest.approx(10.150)
    sm = make()
    feed_state(sm, 10.000)
    assert "stale" in sm._state_fault(now)
    # a descheduled simulator (its clock stands still): nothing ages, however long the wall wait
    assert sim_now(clock=10.000, newest_tick=10.000, wall_since_tick=5.0) == pytest.approx(10.000)


def test_sim_time_stale_input_must_persist_for_the_confirm_steps():
    sm = make(stale_confirm_steps=3)
    t = to_policy(sm)
    t_stale = t + 0.2  # 200 ms without state or targets: both stale
    sm.step(t_stale)
    sm.step(t_stale + PERIOD)
    assert sm.mode == Mode.POLICY, "two stale looks are not enough"
    feed_state(sm, t_stale + 2 * PERIOD)  # the queued streams are delivered: the count restarts
    feed_targets(sm, t_stale + 2 * PERIOD)
    sm.step(t_stale + 2 * PERIOD)
    for k in range(3, 5):
        sm.step(t_stale + 0.2 + k * PERIOD)
    assert sm.mode == Mode.POLICY
    sm.step(t_stale + 0.2 + 5 * PERIOD)
    assert sm.mode == Mode.DAMPING and "stale" in sm.last_transition
    # other faults are not debounced: a tilt trips on the first look
    sm = make(stale_confirm_steps=3)
    t = to_policy(sm)
    feed_targets(sm, t)
    feed_state(sm, t, quat=np.array([0.0, 1.0, 0.0, 0.0]))
    sm.step(t)
    assert sm.mode == Mode.DAMPING and "tilt" in sm.last_transition
    with pytest.raises(ValueError, match="stale_confirm_steps"):
        make(stale_confirm_steps=0)


def test_auto_policy_waits_for_a_steady_target_stream():
    sm = make(auto_stand=True, auto_policy=True)
    t, _ = run(sm, 0.0, 3.1)  # stood up and holding; no targets yet
    assert sm.mode == Mode.STAND_UP and sm.holding
    t, _ = run(sm, t, t + 0.9, targets=True)
    assert sm.mode == Mode.STAND_UP, "0.9 s of targets is not yet steady"
    run(sm, t, t + 0.15, targets=True)
    assert sm.mode == Mode.POLICY
