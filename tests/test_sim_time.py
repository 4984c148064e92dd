"""Simulated time and lockstep through the real processes (docs/sim_time.md).

* A stalled simulator (SIGSTOP: its time stops too) trips no watchdog when the nodes run on its
  ``/clock`` (the sim graph's default); the wall-clock path, which the real robot runs, still trips
  on the same gap (``test_fault_injection.py::test_lowstate_loss_damps`` runs it with
  ``use_sim_time:=false``).
* In simulated time, LowState missing while the simulator's clock runs on still trips
  ``state_timeout``: a stand-in robot in this process publishes ``/clock`` and LowState, then only
  ``/clock``.
* Lockstep: two runs with the same scheduled commands give the same joint trajectory, bit for bit;
  a run with a different command gives a different one (so the comparison can fail); a killed
  policy makes the simulator's wait time out, which is logged and counted, and the bridge damps.
"""

from __future__ import annotations

import json
import signal
import threading
import time
from pathlib import Path

import numpy as np
import pytest

rclpy = pytest.importorskip("rclpy", reason="needs the ROS venv (source scripts/env.sh)")
pytest.importorskip("twist_msgs.msg", reason="twist_msgs not built (run scripts/setup.sh)")
pytest.importorskip("cyclonedds", reason="needs cyclonedds (scripts/setup.sh)")

import stack_harness as H  # noqa: E402  (scripts/ is on sys.path, see conftest.py)

pytestmark = pytest.mark.ros
STATE_TIMEOUT = 0.085  # pd_bridge.yaml


def feedback_policy(path: Path) -> Path:
    """1155 -> 23, small seeded random weights on every observation (state feedback, so any
    difference between runs grows) plus the reference forward velocity (index 4) on every action."""
    import torch

    from twist_controller.policy import export_policy

    torch.manual_seed(1)
    net = torch.nn.Linear(1155, 23)
    with torch.no_grad():
        net.weight.normal_(0.0, 0.01)
        net.bias.zero_()
        net.weight[:, 4] = 1.0
    path.parent.mkdir(parents=True, exist_ok=True)
    return export_policy(net, path)


class Graph:
    """Test-side ROS node: /clock, /joint_states, /controller_state, /sim/status; scheduled
    TwistStamped /cmd_vel (stamped ahead on a 20 ms grid of simulated time)."""

    def __init__(self):
        from geometry_msgs.msg import TwistStamped
        from rosgraph_msgs.msg import Clock
        from sensor_msgs.msg import JointState
        from std_msgs.msg import String

        from twist_msgs.msg import ControllerState

        rclpy.init()
        self.node = rclpy.create_node("sim_time_test")
        self.lock = threading.Lock()
        self.sim_t = 0.0
        self.js: dict[int, np.ndarray] = {}  # stamp (ns) -> joint positions
        self.modes: list[str] = []
        self.status: dict = {}
        self.TwistStamped = TwistStamped
        self.Clock = Clock
        n = self.node
        n.create_subscription(Clock, "/clock", self._on_clock, 10)
        n.create_subscription(JointState, "/joint_states", self._on_js, 1000)
        n.create_subscription(ControllerState, "/controller_state", self._on_cs, 10)
        n.create_subscription(String, "/sim/status", self._on_status, 10)
        self.pub_cmd = n.create_publisher(TwistStamped, "/cmd_vel", 200)
        self.pub_clock = n.create_publisher(Clock, "/clock", 10)
        self.ex = rclpy.executors.SingleThreadedExecutor()
        self.ex.add_node(n)
        self.thread = threading.Thread(target=self.ex.spin, daemon=True)
        self.thread.start()

    def _on_clock(self, m):
        with self.lock:
            self.sim_t = max(self.sim_t, m.clock.sec + m.clock.nanosec * 1e-9)

    def _on_js(self, m):
        with self.lock:
            self.js[m.header.stamp.sec * 1_000_000_000 + m.header.stamp.nanosec] = np.array(m.position)

    def _on_cs(self, m):
        with self.lock:
            if not self.modes or self.modes[-1] != m.mode_name:
                self.modes.append(m.mode_name)

    def _on_status(self, m):
        with self.lock:
            self.status = json.loads(m.data)

    def now(self) -> float:
        with self.lock:
            return self.sim_t

    def send_at(self, t: float, vx: float, wz: float = 0.0) -> None:
        m = self.TwistStamped()
        ns = round(t * 1e9)
        m.header.stamp.sec, m.header.stamp.nanosec = ns // 1_000_000_000, ns % 1_000_000_000
        m.twist.linear.x, m.twist.angular.z = float(vx), float(wz)
        self.pub_cmd.publish(m)

    def close(self):
        self.ex.shutdown(timeout_sec=1.0)
        self.node.destroy_node()
        rclpy.shutdown()


@pytest.fixture
def graph(ros_env):
    g = Graph()
    try:
        yield g
    finally:
        g.close()


@pytest.fixture
def models(tmp_path_factory):
    d = tmp_path_factory.mktemp("models")
    # without root channels the reference's forward velocity is the filtered command itself
    return H.tiny_cmg(d / "tiny_cmg.pt", root_channels=False), feedback_policy(d / "feedback_policy.pt")


def _dds(offset: int) -> int:
    """A Unitree DDS domain per lockstep run (200..229; the test process itself opens none there)."""
    return 200 + (H.process_dds_domain() + offset) % 30


# ----------------------------------------------------------------------------- sim time, no lockstep
def test_stalled_simulator_trips_nothing_with_sim_time(ros_env, tmp_path, models):
    """SIGSTOP of the simulator for 300 ms (the case that damps on the wall clock in
    test_lowstate_loss_damps): with use_sim_time (the sim graph's default) no DAMPING."""
    dds = H.process_dds_domain()
    stack = H.Stack(tmp_path / "logs", *models, int(ros_env["ROS_DOMAIN_ID"]), dds)
    assert "use_sim_time:=true" in stack.commands["pd_bridge"], "the sim graph runs on /clock by default"
    probe = H.WireProbe(dds)
    try:
        stack.start("mujoco_sim", "pd_bridge")
        assert probe.wait_for(lambda: probe.cmds and probe.cmds[-1][1] == "ACTIVE", 180), (
            "bridge never stood up:\n" + stack.log("pd_bridge")[-2000:]
        )
        time.sleep(0.5)
        for _ in range(3):
            t0 = stack.signal("mujoco_sim", signal.SIGSTOP)
            time.sleep(0.3)
            stack.signal("mujoco_sim", signal.SIGCONT)
            time.sleep(0.5)
            assert probe.first_cmd_after(t0, "DAMPING") is None, "a stalled simulator tripped the bridge"
            assert probe.cmd_count(t0 + 0.35) > 0, "no LowCmd after the simulator resumed"
        assert "LowState stale" not in stack.log("pd_bridge")
    finally:
        stack.close()
        probe.close()


def test_lowstate_gap_trips_in_sim_time(ros_env, tmp_path, graph):
    """A stand-in robot (real MuJoCo core in this process) publishes LowState and /clock paced at
    real time. Both stop: no trip. Only LowState stops while /clock runs on: DAMPING after
    state_timeout of simulated time."""
    from g1_bringup.simulator.sim_core import SimConfig, SimCore
    from twist_controller import unitree_io

    dds = H.process_dds_domain()
    stack = H.Stack(
        tmp_path / "logs", Path("unused.pt"), Path("unused.pt"), int(ros_env["ROS_DOMAIN_ID"]), dds
    )
    core = SimCore(SimConfig())
    cmds: list[tuple[float, str, float]] = []  # (wall, mode, the stand-in's simulated time)
    lock = threading.Lock()

    def on_cmd(msg):
        kp, kd = msg.motor("kp"), msg.motor("kd")
        mode = "DAMPING" if not kp.any() and kd.any() else ("ACTIVE" if kp.any() else "ZERO")
        with lock:
            cmds.append((time.monotonic(), mode, core.time))

    robot = unitree_io.DdsEndpoint("robot", dds, "lo", on_cmd)
    msg = unitree_io.LowState()
    state = {"lowstate": True, "clock": True, "run": True}

    def run():
        t_next = time.monotonic()
        while state["run"]:
            if state["clock"]:
                core.step(1)
                if state["lowstate"]:
                    core.fill_lowstate(msg)
                    robot.write(msg.finalize())
                if round(core.time * 1000) % 20 == 0:  # /clock at 50 Hz, as mujoco_sim
                    ns = round(core.time * 1e9)
                    c = graph.Clock()
                    c.clock.sec, c.clock.nanosec = ns // 1_000_000_000, ns % 1_000_000_000
                    graph.pub_clock.publish(c)
            t_next += 0.002
            time.sleep(max(0.0, t_next - time.monotonic()))

    th = threading.Thread(target=run, daemon=True)
    try:
        th.start()
        stack.start("pd_bridge")

        def last_mode():
            with lock:
                return cmds[-1][1] if cmds else None

        def first_after(t0, mode, sim=False):
            with lock:
                return next(((ts if sim else t) for t, m, ts in cmds if t >= t0 and m == mode), None)

        assert H.wait_for(lambda: last_mode() == "ACTIVE", 180), "bridge never stood up:\n" + stack.log(
            "pd_bridge"
        )
        time.sleep(0.5)
        # 1) the whole simulator stops (time stops): nothing trips
        state["clock"] = False
        t0 = time.monotonic()
        time.sleep(0.4)
        state["clock"] = True
        time.sleep(0.5)
        assert first_after(t0, "DAMPING") is None, "stopped simulated time tripped the bridge"
        # 2) LowState stops, /clock runs on: DAMPING after state_timeout of simulated time
        sim_gap = core.time
        state["lowstate"] = False
        t_gap = time.monotonic()
        assert H.wait_for(lambda: first_after(t_gap, "DAMPING") is not None, 30.0), stack.log("pd_bridge")[
            -1500:
        ]
        # in simulated time (the stand-in's clock when the DAMPING command reached it): 85 ms plus the
        # bridge's tick and /clock's 4 ms steps, whatever the machine's load
        dt = first_after(t_gap, "DAMPING", sim=True) - sim_gap
        assert STATE_TIMEOUT - 0.005 <= dt <= STATE_TIMEOUT + 0.1, (
            f"simulated time to DAMPING {dt * 1e3:.0f} ms"
        )
        assert "LowState stale" in stack.log("pd_bridge")
    finally:
        state["run"] = False
        th.join(2)
        stack.close()
        robot.close()


def test_real_robot_refuses_sim_time():
    """use_sim_time is for simulation only: pd_bridge with robot: real refuses to start with it."""
    from twist_controller.pd_bridge import PARAMS, check_params

    p = dict(PARAMS, robot="real", network_interface="eth0", use_sim_time=True)
    assert any("use_sim_time" in e for e in check_params(p))
    assert not check_params(dict(p, use_sim_time=False))


# ----------------------------------------------------------------------------- lockstep
LOCKSTEP_T = 2.0  # s of simulated time compared


def _schedule(t: float, vx_walk: float) -> tuple[float, float]:
    if t < 0.8:  # POLICY from about 0.5 s (stand_duration 0.5 s below)
        return 0.0, 0.0
    if t < 1.4:
        return vx_walk, 0.0
    return vx_walk, 0.5


def _lockstep_run(ros_env, tmp_path: Path, models, graph: Graph, vx_walk: float, run: int, kill_policy=False):
    dds = _dds(run)
    stack = H.Stack(
        tmp_path / f"logs{run}",
        *models,
        int(ros_env["ROS_DOMAIN_ID"]),
        dds,
        extra_args={"lockstep": "true", "cmd_vel_stamped": "true"},
        # a timeout advances with the last command (by design not reproducible): generous for the
        # compared runs (a loaded box ran one period in > 0.3 s), short for the killed policy
        node_params={
            "mujoco_sim": [f"lockstep_timeout:={0.3 if kill_policy else 10.0}"],
            "pd_bridge": ["stand_duration:=0.5"],
        },
    )
    with graph.lock:
        graph.js.clear()
        graph.modes.clear()
        graph.sim_t = 0.0
        graph.status = {}
    sent = 0  # grid index of the next command to schedule
    try:
        stack.start()
        deadline = time.monotonic() + 240
        while graph.now() < LOCKSTEP_T + 0.1:
            assert time.monotonic() < deadline, "lockstep run too slow:\n" + stack.log("mujoco_sim")[-1500:]
            while sent * 0.02 <= graph.now() + 0.5:  # 0.5 s ahead, on the 20 ms grid
                graph.send_at(sent * 0.02, *_schedule(sent * 0.02, vx_walk))
                sent += 1
            time.sleep(0.005)
        log = stack.log("mujoco_sim")
        assert "lockstep: holding at t = 0" in log and "first LowCmd arrived" in log
        assert "POLICY" in graph.modes, f"the policy never drove the robot: modes {graph.modes}"
        status = dict(graph.status)
        if kill_policy:
            stack.kill9("policy_node")
            assert H.wait_for(lambda: graph.status.get("lockstep_timeouts", 0) >= 3, 20), graph.status
            assert H.wait_for(lambda: "DAMPING" in graph.modes, 20), graph.modes
            assert "lockstep: no LowCmd for t =" in stack.log("mujoco_sim")
            t1 = graph.now()
            time.sleep(1.0)
            assert graph.now() > t1 + 0.3, "simulation did not go on after the bridge damped"
        with graph.lock:
            js = {k: v for k, v in graph.js.items() if k <= LOCKSTEP_T * 1e9}
        return js, status
    finally:
        stack.close()


@pytest.mark.timeout(900)  # three stacks one after the other; minutes on a loaded machine
def test_lockstep_same_commands_same_trajectory(ros_env, tmp_path, models, graph):
    a, st_a = _lockstep_run(ros_env, tmp_path, models, graph, 0.6, 0)
    b, st_b = _lockstep_run(ros_env, tmp_path, models, graph, 0.6, 1)
    c, _ = _lockstep_run(ros_env, tmp_path, models, graph, 0.3, 2, kill_policy=True)
    assert st_a.get("lockstep") is True and st_a.get("lockstep_timeouts") == 0, st_a
    assert st_b.get("lockstep_timeouts") == 0, st_b
    # /joint_states: the bridge republishes LowState by its tick, at least every control boundary
    # (20 ms, exact in lockstep); which states between boundaries it catches varies, but a state's
    # values at a given simulated time must not
    common = sorted(set(a) & set(b))
    assert len(common) >= 0.95 * LOCKSTEP_T / 0.02, f"only {len(common)} common joint-state stamps"
    assert all(k in a and k in b for k in range(0, round(LOCKSTEP_T * 1e9), 20_000_000)), (
        "a boundary is missing"
    )
    moved = max(float(np.max(np.abs(a[k] - a[common[0]]))) for k in common)
    assert moved > 1e-3, "the robot did not move: nothing to compare"
    diff = max(float(np.max(np.abs(a[k] - b[k]))) for k in common)
    assert diff == 0.0, f"same seed, different trajectory: max joint difference {diff:.3g} rad"
    common_c = sorted(set(a) & set(c))
    diff_c = max(float(np.max(np.abs(a[k] - c[k]))) for k in common_c)
    assert diff_c > 1e-6, "a different command gave the same trajectory: the comparison cannot fail"
