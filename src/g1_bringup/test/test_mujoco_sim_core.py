"""MuJoCo G1 simulator core: motor PD law, zero torque, elastic band, LowState filling (no DDS/ROS)."""

from __future__ import annotations

import math

import mujoco
import numpy as np
import pytest

from g1_bringup.simulator.sim_core import MotorCommand, SimConfig, SimCore, command_from_lowcmd, quat_to_rpy
from twist_controller import robot, unitree_io
from twist_controller.safety import Mode, Request, SafetyConfig, SafetyStateMachine

N = robot.NUM_JOINTS


@pytest.fixture(scope="module")
def core():
    return SimCore(SimConfig())


def pd_reference(cmd: MotorCommand, q, dq):
    tau = cmd.tau + cmd.kp * (cmd.q - q) + cmd.kd * (cmd.dq - dq)
    return np.where(cmd.enabled, np.clip(tau, -robot.TORQUE_LIMIT, robot.TORQUE_LIMIT), 0.0)


def test_pd_law_with_limits_and_disabled_motors(core):
    core.reset()
    core.step(50)  # get some velocity
    rng = np.random.default_rng(1)
    cmd = MotorCommand(
        q=rng.uniform(-1, 1, N),
        dq=rng.uniform(-2, 2, N),
        tau=rng.uniform(-5, 5, N),
        kp=rng.uniform(0, 300, N),
        kd=rng.uniform(0, 5, N),
        enabled=rng.random(N) > 0.3,
    )
    core.set_command(cmd)
    for _ in range(3):  # the law holds at every physics step, not only when a command arrives
        mujoco.mj_forward(core.model, core.data)
        expected = pd_reference(cmd, core.q.copy(), core.dq.copy())
        np.testing.assert_allclose(core.motor_torque(), expected, atol=1e-9)
        core.step(1)
    assert np.any(np.abs(expected) >= robot.TORQUE_LIMIT - 1e-9), "some motors hit their limit"
    assert np.all(core.motor_torque()[~cmd.enabled] == 0.0)


def test_zero_torque_before_any_command_and_nan_motor(core):
    core.reset()
    mujoco.mj_forward(core.model, core.data)
    assert np.all(core.motor_torque() == 0.0)
    q = robot.DEFAULT_POSITION.copy()
    q[5] = math.nan
    core.set_command(MotorCommand(q, np.zeros(N), np.zeros(N), robot.KP, robot.KD, np.ones(N, bool)))
    core.data.qpos[7:] += 0.1
    mujoco.mj_forward(core.model, core.data)
    assert core.motor_torque()[5] == 0.0
    assert abs(core.motor_torque()[3]) > 1.0


def test_band_holds_and_no_band_falls():
    hung = SimCore(SimConfig(elastic_band=True))
    hung.step(1000)  # 2 s limp in the band
    assert abs(hung.pelvis_height - (robot.STANDING_PELVIS_HEIGHT + hung.cfg.band_lift)) < 0.06
    limp = SimCore(SimConfig(elastic_band=False))
    limp.step(1000)
    assert limp.pelvis_height < 0.5, "a limp robot without the band collapses"
    hung.set_band(False)
    hung.step(1000)
    assert hung.pelvis_height < 0.5, "switching the band off at run time drops it"


def test_lowstate_roundtrip(core):
    core.reset()
    core.step(20)
    msg = unitree_io.LowState()
    core.fill_lowstate(msg)
    data = msg.finalize()
    back = unitree_io.LowState(bytearray(data))
    assert back.crc_ok()
    np.testing.assert_allclose(back.motor("q"), core.q, atol=1e-6)
    np.testing.assert_allclose(back.motor("tau_est"), core.motor_torque(), atol=1e-4)
    assert int(back.get("mode_machine")[0]) == 5
    assert int(back.get("tick")[0]) == round(core.time * 1000)
    quat = back.imu("quaternion")
    assert abs(np.linalg.norm(quat) - 1) < 1e-5
    np.testing.assert_allclose(back.imu("rpy"), quat_to_rpy(*quat), atol=1e-5)
    # accelerometer measures the specific force: about +g along z when (nearly) upright
    assert 5 < back.imu("accelerometer")[2] < 15


def test_command_from_lowcmd_mode_zero_is_disabled():
    c = unitree_io.LowCmd()
    c.fill(robot.DEFAULT_POSITION, np.zeros(N), np.zeros(N), robot.KP, robot.KD, mode=1)
    modes = c.get("motor_cmd.mode")
    modes[4] = 0
    c.set("motor_cmd.mode", modes)
    cmd = command_from_lowcmd(unitree_io.LowCmd(bytearray(c.finalize())))
    assert not cmd.enabled[4] and cmd.enabled[3]
    np.testing.assert_allclose(cmd.kp, robot.KP, rtol=1e-6)


def _stand_with_state_machine(band: bool, seconds: float, bridge_hz: float = 200.0):
    """The bridge's state machine driving the core directly, sim time as the clock."""
    sim = SimCore(SimConfig(elastic_band=band))
    sm = SafetyStateMachine(SafetyConfig())
    if band:
        sim.step(250)  # hang limp for 0.5 s first
    nstep = round(1.0 / bridge_hz / sim.cfg.dt)
    t0 = sim.time
    heights, errs = [], []
    while sim.time - t0 < seconds:
        now = sim.time
        sm.update_state(sim.q, sim.dq, sim.imu()["quaternion"], now)
        if sm.mode == Mode.ZERO_TORQUE:
            sm.request(Request.ENABLE, now)
            sm.request(Request.STAND, now)
        c = sm.step(now)
        sim.set_command(MotorCommand(c.q, c.dq, c.tau, c.kp, c.kd, np.ones(N, bool)))
        sim.step(nstep)
        heights.append((sim.time - t0, sim.pelvis_height))
        errs.append((sim.time - t0, np.abs(sim.q - robot.DEFAULT_POSITION).max()))
    return np.array(heights), np.array(errs), sm


def test_stand_up_in_band_reaches_default_pose_within_3s():
    _, errs, sm = _stand_with_state_machine(band=True, seconds=3.0)
    assert sm.mode == Mode.STAND_UP and sm.holding
    assert errs[0, 1] > 0.3, "it really started limp"
    assert errs[-1, 1] < 0.05, f"max joint error after 3 s: {errs[-1, 1]:.3f} rad"


def test_band_off_standing_time_is_measured():
    """Band off: stand up from the keyframe and hold the default pose (no balance controller).

    A measurement, not a requirement: the time the pelvis stays above 0.6 m is printed (see
    docs/sim_and_bridge.md). Only sanity is asserted: it stands for a while, then falls.
    """
    heights, _, sm = _stand_with_state_machine(band=False, seconds=10.0)
    below = heights[heights[:, 1] < 0.6]
    t_fall = below[0, 0] if len(below) else math.inf
    print(f"\nband off: pelvis above 0.6 m for {t_fall:.2f} s (final mode {sm.mode.name})")
    assert t_fall > 1.0


def test_band_auto_release_after_legs_are_powered():
    sim = SimCore(SimConfig(elastic_band=True, band_auto_release_s=0.5))
    sim.step(250)
    assert sim.band_enabled, "no release while the motors are limp"
    kp = robot.KP.copy()
    kp[3] = 0.0  # one leg motor still unpowered: not yet
    sim.set_command(MotorCommand(sim.q.copy(), np.zeros(N), np.zeros(N), kp, robot.KD, np.ones(N, bool)))
    sim.step(500)
    assert sim.band_enabled
    sim.set_command(_hold(sim))
    t_on = sim.time
    released_at = _step_until_released(sim, 400)
    assert not sim.band_enabled
    assert released_at - t_on == pytest.approx(0.5, abs=0.005)


def test_band_release_after_policy_counts_from_the_controllers_report():
    sim = SimCore(SimConfig(elastic_band=True, band_auto_release_s=0.2, band_release_after="policy"))
    sim.set_command(_hold(sim))
    sim.step(500)  # 1 s standing with powered legs: the policy has not started, the band stays
    assert sim.band_enabled
    sim.note_policy_started()
    t_policy = sim.time
    sim.step(50)
    sim.note_policy_started()  # repeated reports do not restart the countdown
    released_at = _step_until_released(sim, 100)
    assert not sim.band_enabled
    assert released_at - t_policy == pytest.approx(0.2, abs=0.005)
    with pytest.raises(ValueError, match="band_release_after"):
        SimCore(SimConfig(band_release_after="later"))


def _step_until_released(sim: SimCore, steps: int) -> float | None:
    """Step one physics step at a time; the simulated time of the automatic band release."""
    released_at = None
    for _ in range(steps):
        if sim.step(1):
            released_at = sim.time
    return released_at


def _hold(sim: SimCore) -> MotorCommand:
    return MotorCommand(sim.q.copy(), np.zeros(N), np.zeros(N), robot.KP, robot.KD, np.ones(N, bool))


def test_lowcmd_watchdog_off_holds_the_last_command_forever():
    sim = SimCore(SimConfig())  # lowcmd_timeout 0 (default): hold, as before
    sim.set_command(_hold(sim))
    sim.step(1000)  # 2 s without a command
    assert not sim.watchdog_active and sim.watchdog_trips == 0
    np.testing.assert_allclose(sim.command.kp, robot.KP)


def test_lowcmd_watchdog_damps_after_timeout_until_lowcmd_resumes():
    from twist_controller.safety import Mode, damping_kd

    sim = SimCore(SimConfig(lowcmd_timeout=0.085))
    sim.step(100)
    assert not sim.watchdog_active, "no command yet: zero torque, the watchdog is not armed"
    assert np.all(sim.command.kp == 0) and np.all(sim.command.kd == 0)
    sim.set_command(_hold(sim))
    t_cmd = sim.time
    fired_at = None
    for _ in range(100):  # one physics step per call = 2 ms resolution
        sim.step(1)
        if sim.watchdog_active and fired_at is None:
            fired_at = sim.time
    # checked before each step: fires on the first call at which the age reached the timeout
    assert fired_at - t_cmd == pytest.approx(0.085 + sim.cfg.dt, abs=sim.cfg.dt + 1e-9)
    assert sim.watchdog_trips == 1, "one trip per silence"
    # the bridge's DAMPING command, from the same definition (kp 0, kd = damping_kd_scale x spec kd)
    assert np.all(sim.command.kp == 0) and np.all(sim.command.enabled)
    np.testing.assert_allclose(sim.command.kd, damping_kd())
    sm = SafetyStateMachine(SafetyConfig())
    sm.update_state(robot.DEFAULT_POSITION, np.zeros(N), [1, 0, 0, 0], 0.0)
    sm.request(Request.ENABLE, 0.0)
    assert sm.mode == Mode.DAMPING
    np.testing.assert_allclose(sim.command.kd, sm.command(0.0).kd)
    # the motors apply tau = -kd * dq (no position term)
    sim.data.qvel[6:] = 0.3
    mujoco.mj_forward(sim.model, sim.data)
    np.testing.assert_allclose(sim.motor_torque(), np.clip(-damping_kd() * 0.3, -robot.TORQUE_LIMIT,
                                                           robot.TORQUE_LIMIT), atol=1e-9)  # fmt: skip
    # LowState carries the simulator-only marker while it damps
    msg = unitree_io.LowState()
    sim.fill_lowstate(msg)
    assert int(msg.get("reserve")[0]) == 1
    # LowCmd resumes: that command is applied, the marker clears; a new silence trips again
    sim.set_command(_hold(sim))
    assert not sim.watchdog_active
    np.testing.assert_allclose(sim.command.kp, robot.KP)
    sim.fill_lowstate(msg)
    assert int(msg.get("reserve")[0]) == 0
    sim.step(30)  # checked at age 0, then 60 ms pass
    sim.step(1)  # checked at 60 ms: still fresh
    assert not sim.watchdog_active
    sim.step(30)  # checked at 62 ms (a call of many steps is checked only at its start)
    assert not sim.watchdog_active
    sim.step(1)  # checked at 122 ms: fires
    assert sim.watchdog_active and sim.watchdog_trips == 2


def test_lowcmd_watchdog_reset_disarms_and_bad_timeout_is_refused():
    sim = SimCore(SimConfig(lowcmd_timeout=0.01))
    sim.set_command(_hold(sim))
    sim.step(10)
    sim.step(1)
    assert sim.watchdog_active
    sim.reset()
    sim.step(50)
    assert not sim.watchdog_active and sim.lowcmd_age() is None
    for bad in (-0.1, math.nan, math.inf):
        with pytest.raises(ValueError, match="lowcmd_timeout"):
            SimCore(SimConfig(lowcmd_timeout=bad))


def test_sim_clock_stays_on_the_lowstate_tick_for_hours_of_simulated_time():
    """/clock and the stamps derived from it must equal the LowState tick (whole ms) at every step:
    the policy compares them. MuJoCo's data.time is a float sum of timesteps whose error passes half
    a nanosecond after 2^17 steps of 2 ms, so a nanosecond rounding drifted 1 ns off the tick."""
    from g1_bringup.simulator.mujoco_sim import sim_time_ns

    model = mujoco.MjModel.from_xml_string('<mujoco><option timestep="0.002"/><worldbody/></mujoco>')
    data = mujoco.MjData(model)
    ns_rounding_off = 0
    for k in range(1, 400_001):  # 800 s of simulated time
        mujoco.mj_step(model, data)
        tick_ms = round(data.time * 1000)  # what LowState carries
        assert tick_ms == 2 * k
        assert sim_time_ns(data.time) == tick_ms * 1_000_000, (k, data.time)
        ns_rounding_off += round(data.time * 1e9) != tick_ms * 1_000_000
    assert ns_rounding_off > 0  # the old stamp formula does drift here: the test can tell
