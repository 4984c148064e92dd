"""Fault injection through the real DDS simulator and the real node processes (loopback only).

The sim graph's control nodes (mujoco_sim, pd_bridge, cmg_node, reference_mux, policy_node) run
with the command lines of ``g1_bringup.graph``; an untrained tiny CMG and a zero-action policy
stand in for the trained models (the faults are about plumbing, not skill), the elastic band holds
the robot. A cyclonedds reader in this process (``WireProbe``) timestamps every LowCmd and
LowState, so "time to DAMPING" is measured on the wire: from the instant the fault is injected
to the first LowCmd with kp = 0 and kd > 0.

Faults: LowState stops (simulator frozen), a NaN /joint_targets message, delayed targets (policy
process stalled), kill -9 of policy_node, of cmg_node and of pd_bridge (twice: the simulator
holding the last LowCmd, its default, and with its LowCmd watchdog ``lowcmd_timeout:=0.085``),
each followed by recovery (the restarted node resumes and the bridge returns to POLICY). During
every transition the joint velocities and torques reported by the simulator are checked against
bounds.

``test_lowstate_loss_damps`` (sim + bridge, ~10 s) runs in the default suite; the full campaign
is slow and writes its numbers to ``runs/reliability/faults.json`` (read by docs/reliability.md).
"""

from __future__ import annotations

import json
import math
import signal
import threading
import time
from pathlib import Path

import numpy as np
import pytest

rclpy = pytest.importorskip("rclpy", reason="needs the ROS venv (source scripts/env.sh)")
pytest.importorskip("twist_msgs.msg", reason="twist_msgs not built (run scripts/setup.sh)")
pytest.importorskip("cyclonedds", reason="needs cyclonedds (scripts/setup.sh)")

REPO = Path(__file__).resolve().parents[1]
import stack_harness as H  # noqa: E402  (scripts/ is on sys.path, see conftest.py)

pytestmark = pytest.mark.ros
STATE_TIMEOUT = TARGET_TIMEOUT = 0.085  # pd_bridge.yaml defaults
LOWCMD_TIMEOUT = 0.085  # s, the simulator's LowCmd watchdog in the "bridge dies" case (off by default)
DETECT_SLACK = 0.1  # s allowed beyond the configured timeout: bridge tick 5 ms + scheduling on a shared,
# loaded 2-core box (measured 3-5 ms beyond at load ~4; the slack catches a broken timeout, not jitter)
MAX_DQ = 10.0  # rad/s: a thrown robot shows tens of rad/s; a damped or held one stays far below
MAX_TAU_RATIO = 1.0  # |tau| <= the spec torque limit (the simulator also clips there)
RESULTS = REPO / "runs" / "reliability" / "faults.json"


class Ros:
    """rclpy side of the test: /controller_state, /reference_motion, NaN targets, SetMode."""

    def __init__(self):
        from twist_msgs.msg import ControllerState, JointTargets, ReferenceMotion
        from twist_msgs.srv import SetMode

        rclpy.init()
        self.node = rclpy.create_node("fault_injector")
        self.lock = threading.Lock()
        self.modes: list[tuple[float, str]] = []
        self.sources: list[tuple[float, str]] = []
        self.node.create_subscription(ControllerState, "/controller_state", self._on_cs, 10)
        self.node.create_subscription(ReferenceMotion, "/reference_motion", self._on_ref, 10)
        self.pub_targets = self.node.create_publisher(JointTargets, "/joint_targets", 10)
        self.cli = self.node.create_client(SetMode, "/pd_bridge/set_mode")
        self.SetMode, self.JointTargets = SetMode, JointTargets
        self.ex = rclpy.executors.SingleThreadedExecutor()
        self.ex.add_node(self.node)
        self.thread = threading.Thread(target=self.ex.spin, daemon=True)
        self.thread.start()

    def _on_cs(self, m):
        with self.lock:
            self.modes.append((time.monotonic(), m.mode_name))

    def _on_ref(self, m):
        with self.lock:
            self.sources.append((time.monotonic(), m.source))

    def forget_mode(self) -> None:
        """Drop the modes seen so far: after a bridge restart ``mode()`` is None until the new
        process reports (the killed one's last POLICY must not count as the new one's)."""
        with self.lock:
            self.modes.clear()

    def mode(self) -> str | None:
        with self.lock:
            return self.modes[-1][1] if self.modes else None

    def source(self) -> str | None:
        with self.lock:
            return self.sources[-1][1] if self.sources else None

    def first_source_after(self, t0: float, pred) -> float | None:
        with self.lock:
            for t, s in self.sources:
                if t >= t0 and pred(s):
                    return t
        return None

    def set_mode(self, request: int, timeout: float = 10.0) -> tuple[bool, str]:
        if not self.cli.wait_for_service(timeout_sec=timeout):
            return False, "no service"
        req = self.SetMode.Request()
        req.request = request
        fut = self.cli.call_async(req)
        end = time.monotonic() + timeout
        while not fut.done() and time.monotonic() < end:
            time.sleep(0.01)
        if not fut.done():
            return False, "timeout"
        return fut.result().success, fut.result().message

    def publish_nan_targets(self) -> float:
        from twist_controller import robot

        m = self.JointTargets()
        m.header.stamp = self.node.get_clock().now().to_msg()
        m.joint_names = list(robot.G1_JOINT_NAMES)
        q = robot.DEFAULT_POSITION.copy()
        q[3] = math.nan
        m.position = q.tolist()
        t = time.monotonic()
        self.pub_targets.publish(m)
        return t

    def close(self):
        self.ex.shutdown(timeout_sec=1.0)
        self.node.destroy_node()
        rclpy.shutdown()


@pytest.fixture
def models(tmp_path_factory):
    d = tmp_path_factory.mktemp("models")
    return H.tiny_cmg(d / "tiny_cmg.pt"), H.zero_policy(d / "zero_policy.pt")


@pytest.fixture
def rig(ros_env, tmp_path, models):
    """Stack + wire probe + ROS side; every process is ended in the finally branch."""
    dds = H.process_dds_domain()
    # the wall clock, as on the real robot (robot: real never runs on simulated time): the times to
    # a safe state are wall-clock reactions; with use_sim_time a frozen simulator trips nothing
    # (tests/test_sim_time.py)
    stack = H.Stack(
        tmp_path / "logs", *models, int(ros_env["ROS_DOMAIN_ID"]), dds, extra_args={"use_sim_time": "false"}
    )
    probe = H.WireProbe(dds)
    ros = None
    try:
        ros = Ros()
        yield stack, probe, ros
    finally:
        stack.close()
        if ros is not None:
            ros.close()
        probe.close()


def _transition(probe, t0, t_safe, settle=1.0) -> dict:
    """Joint extremes from the fault until ``settle`` s after the safe state (waits for the window)."""
    t1 = (t_safe or t0) + settle
    time.sleep(max(0.0, t1 - time.monotonic()))
    ext = probe.extremes(t0, t1)
    ext["time_to_safe_ms"] = None if t_safe is None else round((t_safe - t0) * 1e3, 1)
    return ext


def _assert_not_thrown(ext, what):
    assert ext["lowstate_samples"] > 0 or what.startswith("lowstate"), f"{what}: no LowState in the window"
    if ext["lowstate_samples"]:
        assert ext["max_dq"] < MAX_DQ, f"{what}: joint velocity {ext['max_dq']:.1f} rad/s"
        assert ext["max_tau_ratio"] <= MAX_TAU_RATIO + 1e-6, (
            f"{what}: torque {ext['max_tau_ratio']:.2f} x limit"
        )


# ============================================================================ default suite
def test_lowstate_loss_damps(rig):
    """Simulator frozen (SIGSTOP: LowState stops) while the bridge stands the robot: DAMPING in
    state_timeout + slack, measured on the wire; the bridge survives and stays damped after."""
    stack, probe, _ros = rig
    stack.start("mujoco_sim", "pd_bridge")
    assert probe.wait_for(lambda: probe.cmds and probe.cmds[-1][1] == "ACTIVE", 40), (
        "bridge never stood up:\n" + stack.log("pd_bridge")[-2000:]
    )
    time.sleep(0.5)
    t0 = stack.signal("mujoco_sim", signal.SIGSTOP)
    try:
        assert probe.wait_for(lambda: probe.first_cmd_after(t0, "DAMPING") is not None, 3.0)
    finally:
        stack.signal("mujoco_sim", signal.SIGCONT)
    t_damp = probe.first_cmd_after(t0, "DAMPING")
    dt = t_damp - t0
    assert STATE_TIMEOUT - 0.01 <= dt <= STATE_TIMEOUT + DETECT_SLACK, f"time to DAMPING {dt * 1e3:.0f} ms"
    time.sleep(1.0)
    assert stack.alive("pd_bridge") and stack.alive("mujoco_sim")
    t_end = time.monotonic()
    assert probe.modes_between(t_damp, t_end) == {"DAMPING"}, "must stay damped until asked to stand"
    _assert_not_thrown(_transition(probe, t0, t_damp), "lowstate stop")
    assert "LowState stale" in stack.log("pd_bridge")


# ============================================================================ slow campaign
def _to_policy(stack, probe, ros, timeout=60.0) -> float:
    """Bring the bridge to POLICY (stand, then policy); returns when POLICY was reported."""
    if ros.mode() != "POLICY":
        if ros.mode() in ("DAMPING", "ZERO_TORQUE"):
            ros.set_mode(0)  # ENABLE (no-op from DAMPING)
            ok, msg = ros.set_mode(1)  # STAND
            assert ok, msg
        assert H.wait_for(lambda: _policy_ok(ros), timeout, 0.2), f"no POLICY, mode {ros.mode()}"
    return time.monotonic()


def _policy_ok(ros) -> bool:
    if ros.mode() == "POLICY":
        return True
    if ros.mode() == "STAND_UP":
        ros.set_mode(2)  # refused until the stand-up finished; retried
    return ros.mode() == "POLICY"


def _record(results, name, **kw):
    results[name] = kw
    print(name, json.dumps(kw), flush=True)


@pytest.mark.slow
def test_fault_campaign(rig):
    stack, probe, ros = rig
    results: dict = {}
    stack.start()
    assert H.wait_for(lambda: ros.mode() == "POLICY", 90, 0.2), (
        f"stack never reached POLICY (mode {ros.mode()}):\n" + stack.log("pd_bridge")[-1500:]
    )
    time.sleep(2.0)

    # 1. NaN action on /joint_targets -> DAMPING at once
    t0 = ros.publish_nan_targets()
    assert probe.wait_for(lambda: probe.first_cmd_after(t0, "DAMPING") is not None, 2.0)
    t = probe.first_cmd_after(t0, "DAMPING")
    ext = _transition(probe, t0, t)
    _record(results, "nan_joint_targets", **ext)
    assert t - t0 <= 0.1, f"NaN targets: {ext}"
    _assert_not_thrown(ext, "NaN targets")
    _to_policy(stack, probe, ros)

    # 2. delayed targets: policy_node stalled 300 ms (SIGSTOP/SIGCONT) -> DAMPING after target_timeout
    time.sleep(1.0)
    t0 = stack.signal("policy_node", signal.SIGSTOP)
    time.sleep(0.3)
    stack.signal("policy_node", signal.SIGCONT)
    t = probe.first_cmd_after(t0, "DAMPING")
    ext = _transition(probe, t0, t)
    _record(results, "policy_stalled_300ms", **ext)
    assert t is not None and t - t0 <= TARGET_TIMEOUT + DETECT_SLACK, ext
    _assert_not_thrown(ext, "delayed targets")
    time.sleep(0.5)
    assert ros.mode() == "DAMPING", "late targets must not re-enter POLICY by themselves"
    _to_policy(stack, probe, ros)

    # 3. kill -9 policy_node -> DAMPING; restart -> resumes (POLICY after stand + policy)
    time.sleep(1.0)
    t0 = stack.kill9("policy_node")
    assert probe.wait_for(lambda: probe.first_cmd_after(t0, "DAMPING") is not None, 2.0)
    t = probe.first_cmd_after(t0, "DAMPING")
    ext = _transition(probe, t0, t)
    stack.start("policy_node")
    t_pol = _to_policy(stack, probe, ros, timeout=90)
    _record(results, "kill9_policy_node", **ext, resumed_policy_s=round(t_pol - t0, 1))
    assert t - t0 <= TARGET_TIMEOUT + DETECT_SLACK, ext
    _assert_not_thrown(ext, "kill policy")

    # 4. kill -9 cmg_node -> the mux falls back to the standing default, POLICY continues
    time.sleep(1.0)
    assert ros.source() == "cmg", ros.source()
    t0 = stack.kill9("cmg_node")
    assert H.wait_for(lambda: ros.first_source_after(t0, lambda s: s != "cmg") is not None, 3.0)
    t_fb = ros.first_source_after(t0, lambda s: s != "cmg")
    time.sleep(2.0)
    t1 = time.monotonic()
    modes = probe.modes_between(t0, t1)
    ext = _transition(probe, t0, t_fb, settle=2.0)
    fallback = ros.source()
    stack.start("cmg_node")
    back = H.wait_for(lambda: ros.source() == "cmg", 60, 0.1)
    _record(results, "kill9_cmg_node", **ext, fallback_source=fallback, bridge_modes=sorted(modes),
            cmg_resumed=back)  # fmt: skip
    assert modes == {"ACTIVE"}, f"the bridge left POLICY when CMG died: {modes}"
    assert back, "restarted cmg_node never became the active source again"
    _assert_not_thrown(ext, "kill cmg")

    # 5. LowState stops for 300 ms (simulator frozen) -> DAMPING after state_timeout
    _to_policy(stack, probe, ros)  # a safety trip while cmg_node restarted would leave DAMPING here
    time.sleep(1.0)
    assert ros.mode() == "POLICY", f"bridge left POLICY before the fault: {ros.mode()}"
    t0 = stack.signal("mujoco_sim", signal.SIGSTOP)
    time.sleep(0.3)
    stack.signal("mujoco_sim", signal.SIGCONT)
    t = probe.first_cmd_after(t0, "DAMPING")
    ext = _transition(probe, t0, t)
    _record(results, "lowstate_stopped_300ms", **ext)
    assert t is not None and t - t0 <= STATE_TIMEOUT + DETECT_SLACK, ext
    _assert_not_thrown(ext, "lowstate stop")
    _to_policy(stack, probe, ros)

    # 6. kill -9 pd_bridge: nobody can damp; the simulator holds the last LowCmd. Restart:
    #    ZERO_TORQUE -> STAND_UP -> POLICY by itself (auto_stand/auto_policy, sim only)
    time.sleep(1.0)
    t0 = stack.kill9("pd_bridge")
    time.sleep(1.0)
    t_last = probe.last_cmd_before(time.monotonic())
    held = probe.extremes(t0, t0 + 1.0)
    ros.forget_mode()
    stack.start("pd_bridge")
    t_restart = time.monotonic()
    ok = H.wait_for(lambda: probe.first_cmd_after(t_restart, "ACTIVE") is not None, 60, 0.05)
    t_stand = probe.first_cmd_after(t_restart, "ACTIVE")
    ros_ok = H.wait_for(lambda: ros.mode() == "POLICY", 60, 0.2)
    ext = probe.extremes(t_restart, time.monotonic())
    first_active = None if t_stand is None else round(t_stand - t_restart, 2)
    _record(results, "kill9_pd_bridge", lowcmd_gap_after_kill_ms=round((t_last - t0) * 1e3, 1),
            held_max_dq=held["max_dq"], restart_to_first_active_cmd_s=first_active, resumed_policy=ros_ok,
            **ext)  # fmt: skip
    assert t_last - t0 < 0.05, "LowCmd kept coming after the bridge was killed?"
    assert ok and ros_ok, "restarted bridge did not resume"
    assert held["max_dq"] < MAX_DQ
    _assert_not_thrown(ext, "bridge restart")

    # 7. the same with the simulator's LowCmd watchdog (an emulated robot-side timeout; what the
    #    real G1 firmware does on a silent LowCmd stream is not verified): mujoco_sim restarted
    #    with lowcmd_timeout:=0.085; kill -9 pd_bridge -> the simulator damps by itself. Measured
    #    on the wire: kill -> first LowState whose reserve[0] carries the watchdog marker.
    from g1_bringup.simulator.sim_core import LOWSTATE_WATCHDOG_FLAG

    stack.stop("mujoco_sim")
    stack.add_params("mujoco_sim", [f"lowcmd_timeout:={LOWCMD_TIMEOUT}"])
    stack.start("mujoco_sim")
    t_sim = time.monotonic()
    assert probe.wait_for(lambda: probe.states and probe.states[-1][0] > t_sim, 60), (
        "restarted simulator sends no LowState:\n" + stack.log("mujoco_sim")[-1500:]
    )
    # the bridge went to DAMPING on the LowState gap; STAND is refused until its reader has found
    # the new simulator (DDS discovery, ~1 s here)
    assert H.wait_for(lambda: ros.mode() == "DAMPING" and ros.set_mode(1)[0], 30, 0.5), (
        "no STAND after restart"
    )
    _to_policy(stack, probe, ros, timeout=90)

    # the simulator applies the bridge's gains (its watchdog is armed only by a received LowCmd):
    # holding torques in LowState, not the zero torque of a simulator that never heard the bridge
    def holding():
        return probe.extremes(time.monotonic() - 0.2, time.monotonic())["max_tau_ratio"] > 0.01

    assert probe.wait_for(holding, 30), "the restarted simulator does not apply the bridge's LowCmd"
    time.sleep(1.0)
    assert ros.mode() == "POLICY", f"bridge left POLICY before the fault: {ros.mode()}"
    t_pre = time.monotonic()
    assert probe.first_state_flag_after(t_pre - 1.0, LOWSTATE_WATCHDOG_FLAG) is None, "watchdog fired early"
    t0 = stack.kill9("pd_bridge")
    assert probe.wait_for(
        lambda: probe.first_state_flag_after(t0, LOWSTATE_WATCHDOG_FLAG) is not None, 3.0
    ), "simulator never damped:\n" + stack.log("mujoco_sim")[-1500:]
    t_damp = probe.first_state_flag_after(t0, LOWSTATE_WATCHDOG_FLAG)
    t_last = probe.last_cmd_before(t0 + 0.05)
    ext = _transition(probe, t0, t_damp)
    ros.forget_mode()
    stack.start("pd_bridge")
    t_restart = time.monotonic()
    cleared = probe.wait_for(lambda: probe.first_state_flag_after(t_restart, 0) is not None, 60, 0.05)
    t_clear = probe.first_state_flag_after(t_restart, 0)
    ros_ok = H.wait_for(lambda: ros.mode() == "POLICY", 60, 0.2)
    _record(results, "kill9_pd_bridge_sim_watchdog", lowcmd_timeout_s=LOWCMD_TIMEOUT,
            last_lowcmd_to_damping_ms=round((t_damp - t_last) * 1e3, 1),
            restart_to_watchdog_clear_s=None if t_clear is None else round(t_clear - t_restart, 2),
            resumed_policy=ros_ok, **ext)  # fmt: skip
    assert t_damp - t0 <= LOWCMD_TIMEOUT + DETECT_SLACK, ext
    # the watchdog runs on simulated time, which may catch up on wall time in a burst after a stall
    # (up to 100 ms behind, see mujoco_sim's pacing): only a gross early trip is an error
    assert t_damp - t_last >= LOWCMD_TIMEOUT / 2, "damped while the LowCmd stream was still fresh"
    assert "no LowCmd for" in stack.log("mujoco_sim")
    assert cleared and ros_ok, "restarted bridge did not take over from the watchdog"
    _assert_not_thrown(ext, "bridge killed, simulator watchdog")

    for name in ("mujoco_sim", "reference_mux"):
        assert stack.alive(name), f"{name} died during the campaign:\n{stack.log(name)[-1500:]}"
    # every DAMPING transition of the bridge: the injected faults' and any safety trip from load
    trips = [ln.split("]: ", 1)[-1] for i in range(stack.starts["pd_bridge"]) for ln in
             stack.log("pd_bridge", i).splitlines() if "-> DAMPING:" in ln]  # fmt: skip
    results["bridge_damping_transitions"] = trips
    print("bridge DAMPING transitions:", *trips, sep="\n  ", flush=True)
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    meta = {"date_utc": time.strftime("%Y-%m-%d %H:%M", time.gmtime()), "loadavg": list(np.round(
        __import__("os").getloadavg(), 2))}  # fmt: skip
    RESULTS.write_text(json.dumps({"conditions": meta, "faults": results}, indent=1))
