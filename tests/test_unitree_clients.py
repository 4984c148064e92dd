"""Unitree's own SDK clients, unmodified, in a separate process, against our simulator and our stack.

* ``MotionSwitcherClient`` against ``mujoco_sim``: the start-up sequence of Unitree's G1 low-level
  example (``CheckMode``, then ``ReleaseMode`` until the name is empty), then LowState in / LowCmd out
  with the SDK's own IDL objects and CRC in both ankle modes (PR, AB); malformed requests; and
  pd_bridge's real-robot gate (twist_controller.motion_switcher) reading the same service.
* ``LocoClient`` against the whole simulated stack + ``loco_api``: stand up, start, walk, turn, stop,
  damp, all checked on ``/controller_state``, ``/cmd_vel`` and the CMG's reference command; unknown API
  ids, bad JSON, NaN and huge speeds answered with errors while nothing crashes and the robot stops.

The CMG and the policy are tiny untrained models (plumbing, never walking). Each test has its own ROS
domain (``ros_env``) and a robot-link DDS domain from 60..99, apart from the ROS domains (100..199)
and the other tests' robot-link domains (150..232).
"""

from __future__ import annotations

import json
import queue
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

rclpy = pytest.importorskip("rclpy", reason="needs the ROS venv (source scripts/env.sh)")
pytest.importorskip("twist_msgs.msg", reason="twist_msgs not built (run scripts/setup.sh)")
pytest.importorskip("unitree_sdk2py", reason="needs unitree_sdk2py (scripts/setup.sh)")

import stack_harness as H  # noqa: E402  (scripts/ is on sys.path, see conftest.py)

pytestmark = pytest.mark.ros
REPO = Path(__file__).resolve().parents[1]
SIM = REPO / "install" / "lib" / "g1_bringup" / "mujoco_sim"


def dds_domain_for(env) -> int:
    return 60 + int(env["ROS_DOMAIN_ID"]) % 40


def _start(cmd, env, log: Path) -> subprocess.Popen:
    from g1_bringup.stack import die_with_parent

    f = open(log, "w")
    return subprocess.Popen(
        [str(c) for c in cmd],
        env=env,
        stdout=f,
        stderr=subprocess.STDOUT,
        cwd=REPO,
        preexec_fn=die_with_parent(),
    )


# ================================================================================ motion switcher
LOW_LEVEL = r"""
# The start-up of Unitree's G1 low-level example (unitree_sdk2_python example/g1/low_level), then its
# low-level loop (LowState in, LowCmd with the SDK's CRC out, PR then AB ankle mode, wrist roll).
import json, sys, time
import numpy as np
from unitree_sdk2py.core.channel import ChannelFactoryInitialize, ChannelPublisher, ChannelSubscriber
from unitree_sdk2py.comm.motion_switcher.motion_switcher_client import MotionSwitcherClient
from unitree_sdk2py.idl.default import unitree_hg_msg_dds__LowCmd_
from unitree_sdk2py.idl.unitree_hg.msg.dds_ import LowCmd_, LowState_
from unitree_sdk2py.rpc.client import Client
from unitree_sdk2py.utils.crc import CRC

ChannelFactoryInitialize(int(sys.argv[1]), "lo")
out = {}
msc = MotionSwitcherClient()
msc.SetTimeout(5.0)
msc.Init()
status, result = msc.CheckMode()          # the example dies here (None['name']) without the service
out["first"] = [status, result]
names = [result["name"]]
while result["name"]:
    msc.ReleaseMode()
    status, result = msc.CheckMode()
    names.append(result["name"])
    time.sleep(1)
out["names"] = names

states = []
sub = ChannelSubscriber("rt/lowstate", LowState_)
sub.Init(lambda m: states.append(m), 10)
pub = ChannelPublisher("rt/lowcmd", LowCmd_)
pub.Init()
t_end = time.monotonic() + 10
while not states and time.monotonic() < t_end:
    time.sleep(0.01)
mode_machine = states[-1].mode_machine
cmd, crc, sent, t0 = unitree_hg_msg_dds__LowCmd_(), CRC(), 0, time.monotonic()
while (t := time.monotonic() - t0) < 2.0:
    s = states[-1]
    cmd.mode_machine = mode_machine
    if t < 1.0:  # stage 1: towards the zero posture, PR mode
        cmd.mode_pr = 0
        for i in range(29):
            m = cmd.motor_cmd[i]
            m.mode, m.q, m.dq, m.tau, m.kp, m.kd = 1, (1.0 - t) * s.motor_state[i].q, 0.0, 0.0, 40.0, 1.0
    else:  # stage 3: ankles in AB mode and the wrist rolls
        cmd.mode_pr = 1
        a = 0.5 * np.sin(2 * np.pi * t)
        for i in (4, 5, 10, 11, 19, 26):
            cmd.motor_cmd[i].q = a
    cmd.crc = crc.Crc(cmd)
    pub.Write(cmd)
    sent += 1
    time.sleep(0.002)
out.update(states=len(states), sent=sent, mode_machine=mode_machine)

raw = Client("motion_switcher")  # the SDK's generic client: raw parameter text, any api id
raw.SetTimeout(5.0)
raw._RegistApi(1002, 0)
raw._RegistApi(1999, 0)
out["bad_json"] = raw._Call(1002, '{"name": ')[0]
out["nan"] = raw._Call(1002, '{"name": NaN}')[0]
out["unknown_api"] = raw._Call(1999, "{}")[0]
out["bad_name"] = msc.SelectMode("turbo")[0]

# pd_bridge's real-robot gate reads the same service
from twist_controller.motion_switcher import MotionSwitcherGate, SdkSwitcherClient
probe = SdkSwitcherClient(5.0)
gate = MotionSwitcherGate(probe.check, lambda s: None, lambda s: None)
out["gate_released"] = gate.check()
out["select"] = msc.SelectMode("ai")[0]
out["gate_ai"] = gate.check()
out["check_ai"] = msc.CheckMode()[1]
msc.ReleaseMode()
out["gate_again"] = gate.check()[0]
print("RESULT " + json.dumps(out), flush=True)
"""


def test_unitree_low_level_example_sequence_runs_against_the_simulator(ros_env, tmp_path):
    domain = dds_domain_for(ros_env)
    sim = _start([SIM, "--domain", domain, "--no-ros", "--print-status"], ros_env, tmp_path / "sim.log")
    try:
        time.sleep(1.0)
        r = subprocess.run(
            [sys.executable, "-c", LOW_LEVEL, str(domain)],
            env=ros_env,
            capture_output=True,
            text=True,
            timeout=120,
        )
        # our helper command (what pd_bridge's refusal message tells users to run)
        tool = [
            str(REPO / "install/lib/g1_bringup/motion_switcher"),
            "--domain",
            str(domain),
            "--interface",
            "lo",
        ]
        run = dict(env=ros_env, capture_output=True, text=True, timeout=60)
        selected = subprocess.run([*tool, "--select", "ai"], **run)
        released = subprocess.run([*tool, "--release"], **run)
    finally:
        H.terminate(sim)
    assert selected.returncode == 0 and "active controller: 'ai'" in selected.stdout, selected
    assert released.returncode == 0 and "releasing 'ai'" in released.stdout, released
    assert "no controller active (released)" in released.stdout
    sim_log = (tmp_path / "sim.log").read_text()
    lines = [ln for ln in r.stdout.splitlines() if ln.startswith("RESULT ")]
    assert r.returncode == 0 and lines, (
        f"client failed:\n{r.stdout[-2000:]}\n{r.stderr[-3000:]}\n{sim_log[-2000:]}"
    )
    out = json.loads(lines[-1][len("RESULT ") :])
    assert out["first"] == [0, {"form": "0", "name": "ai"}]  # the robot's controller is active at boot
    assert out["names"] == ["ai", ""]  # one ReleaseMode, then released
    assert out["mode_machine"] == 5 and out["states"] > 500  # ~500 Hz LowState over > 2 s
    assert out["sent"] > 100
    status = json.loads(sim_log.strip().splitlines()[-1])
    assert status["lowcmd_bad_crc"] == 0 and status["lowcmd_malformed"] == 0
    assert status["lowcmd_received"] >= out["sent"] - 5, (status, out["sent"])
    assert (out["bad_json"], out["nan"], out["unknown_api"], out["bad_name"]) == (3204, 3204, 3203, 7004)
    assert out["gate_released"] == [True, ""]
    assert out["select"] == 0 and out["check_ai"] == {"form": "0", "name": "ai"}
    ok, why = out["gate_ai"]
    assert not ok and "'ai' is active" in why and "L2+R2" in why
    assert out["gate_again"] is True
    assert status["motion_switcher"] == ""
    assert "applied anyway" not in sim_log  # LowCmd came only after the release


# ================================================================================ LocoClient
LOCO = r"""
# Drives an unmodified LocoClient line by line: each stdin line is a Python expression on `c` (the
# LocoClient) or `raw` (the SDK's generic Client on the same service, for raw parameter text).
import json, sys
from unitree_sdk2py.core.channel import ChannelFactoryInitialize
from unitree_sdk2py.g1.loco.g1_loco_client import LocoClient
from unitree_sdk2py.rpc.client import Client

ChannelFactoryInitialize(int(sys.argv[1]), "lo")
c = LocoClient()
c.SetTimeout(5.0)
c.Init()
raw = Client("sport")
raw.SetTimeout(5.0)
for api in range(7000, 7200):
    raw._RegistApi(api, 0)
print(json.dumps({"ready": True}), flush=True)
for line in sys.stdin:
    try:
        result = eval(line)
    except Exception as e:
        result = f"raised {type(e).__name__}: {e}"
    print(json.dumps({"result": result}, default=repr), flush=True)
"""


class Client:
    """The LocoClient process: ``call("c.Damp()")`` returns what the expression returned."""

    def __init__(self, domain: int, env, log: Path):
        self.proc = subprocess.Popen(
            [sys.executable, "-c", LOCO, str(domain)],
            env=env,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=open(log, "w"),
            text=True,
        )
        self.lines: queue.Queue = queue.Queue()
        threading.Thread(target=self._read, daemon=True).start()
        assert self._next(60) == {"ready": True}

    def _read(self):
        for line in self.proc.stdout:
            if line.startswith("{"):
                self.lines.put(json.loads(line))

    def _next(self, timeout):
        try:
            return self.lines.get(timeout=timeout)
        except queue.Empty:
            raise AssertionError(f"LocoClient process silent for {timeout} s") from None

    def call(self, expr: str):
        self.proc.stdin.write(expr + "\n")
        self.proc.stdin.flush()
        return self._next(30)["result"]

    def close(self):
        if self.proc.poll() is None:
            self.proc.stdin.close()
            H.terminate(self.proc)


class Ros:
    """The test's view of the graph: bridge mode, /cmd_vel and the CMG's reference command."""

    def __init__(self):
        from geometry_msgs.msg import Twist

        from twist_msgs.msg import ControllerState, ReferenceMotion

        rclpy.init()
        self.node = rclpy.create_node("unitree_clients_test")
        self.lock = threading.RLock()  # wait() predicates call the locked getters
        self.modes: list[tuple[float, str]] = []
        self.state_age = float("inf")  # of the bridge's LowState
        self.cmd_vel: list[tuple[float, float, float, float]] = []
        self.ref: list[tuple[float, float, float]] = []  # (t, vx, wz) of the reference command
        self.node.create_subscription(ControllerState, "/controller_state", self._on_cs, 10)
        self.node.create_subscription(Twist, "/cmd_vel", self._on_cmd, 50)
        self.node.create_subscription(ReferenceMotion, "/reference_motion", self._on_ref, 10)
        self.ex = rclpy.executors.SingleThreadedExecutor()
        self.ex.add_node(self.node)
        threading.Thread(target=self.ex.spin, daemon=True).start()

    def _on_cs(self, m):
        with self.lock:
            self.modes.append((time.monotonic(), m.mode_name))
            self.state_age = m.state_age

    def _on_cmd(self, m):
        with self.lock:
            self.cmd_vel.append((time.monotonic(), m.linear.x, m.linear.y, m.angular.z))

    def _on_ref(self, m):
        with self.lock:
            self.ref.append((time.monotonic(), m.command.linear.x, m.command.angular.z))

    def mode(self):
        with self.lock:
            return self.modes[-1][1] if self.modes else None

    def wait(self, pred, timeout: float) -> bool:
        end = time.monotonic() + timeout
        while time.monotonic() < end:
            with self.lock:
                if pred():
                    return True
            time.sleep(0.02)
        with self.lock:
            return pred()

    def cmds_since(self, t0: float):
        with self.lock:
            return [c for c in self.cmd_vel if c[0] >= t0]

    def close(self):
        self.ex.shutdown(timeout_sec=1.0)
        self.node.destroy_node()
        rclpy.shutdown()


def test_loco_client_stands_walks_turns_stops_and_damps_the_stack(ros_env, tmp_path):
    from g1_bringup.graph import sim_graph
    from g1_bringup.stack import node_command

    domain = dds_domain_for(ros_env)
    models = H.tiny_cmg(tmp_path / "tiny_cmg.pt"), H.zero_policy(tmp_path / "zero_policy.pt")
    # no auto stand/policy: the LocoClient script brings the robot up itself, as on the real robot
    extra = {"auto_stand": "false", "auto_policy": "false", "unitree_api": "true"}
    # generous bridge timeouts: this test is about the API, and a policy tick delayed by a busy
    # machine (2 shared cores) must not drop the bridge to DAMPING in the middle of it
    relaxed = {"pd_bridge": ["target_timeout:=1.0", "state_timeout:=1.0"]}
    stack = H.Stack(
        tmp_path / "logs",
        *models,
        int(ros_env["ROS_DOMAIN_ID"]),
        domain,
        extra_args=extra,
        node_params=relaxed,
    )
    args = {**sim_graph().argument_defaults(), "dds_domain": str(domain), **extra}
    loco_cmd = node_command(sim_graph().node("loco_api"), args, H.INSTALL)
    ros = client = loco = None
    try:
        stack.start()
        loco = _start(loco_cmd, stack.env, tmp_path / "loco_api.log")
        ros = Ros()
        assert ros.wait(lambda: ros.modes and 0 <= ros.state_age < 0.5, 60), (
            "bridge without LowState:\n" + stack.log("pd_bridge")[-2000:]
        )
        client = Client(domain, stack.env, tmp_path / "client.log")

        def loco_log():
            return (tmp_path / "loco_api.log").read_text()[-3000:]

        get_fsm_id = "json.loads(c._Call(7001, '{}')[1])['data']"  # LocoClient's registered GetFsmId
        assert ros.mode() == "ZERO_TORQUE"
        assert client.call(get_fsm_id) == 0, loco_log()
        # Move before the walking controller runs: refused with 7301, nothing published
        assert client.call("c.SetVelocity(0.3, 0, 0)") == 7301
        assert client.call("c.SetFsmId(500)") == 7302  # Start from zero torque: stand up first

        # stand up (C++ StandUp() = SetFsmId(4)), then Start(): POLICY once the stand-up finished
        assert client.call("c.SetFsmId(4)") == 0, loco_log()
        assert ros.wait(lambda: ros.modes[-1][1] == "STAND_UP", 5), ros.mode()
        assert client.call(get_fsm_id) == 4
        assert client.call("c.Start()") is None  # the SDK's Start() returns nothing: check the effect
        assert ros.wait(lambda: ros.modes[-1][1] == "POLICY", 20), f"mode {ros.mode()}\n{loco_log()}"
        assert client.call(get_fsm_id) == 200  # unitree-sdk2py-dimos' Start() sends FSM id 200

        # walk forward, continuously: /cmd_vel at 20 Hz and the CMG's reference command follows
        t0 = time.monotonic()
        assert client.call("c.Move(0.4, 0, 0, True)") is None
        assert ros.wait(lambda: ros.ref and ros.ref[-1][1] > 0.35, 10), ros.ref[-3:]
        walk = ros.cmds_since(t0)
        assert walk and all((vx, vy, wz) == (0.4, 0.0, 0.0) for _, vx, vy, wz in walk)
        assert client.call("json.loads(c._Call(7002, '{}')[1])['data']") == 1  # GetFsmMode: dynamic

        # turn: Move without continous_move lasts 1 s (SetVelocity's duration), then zeros
        t1 = time.monotonic()
        assert client.call("c.Move(0, 0, 0.5)") is None
        assert ros.wait(lambda: any(c[3] == 0.5 for c in ros.cmds_since(t1)), 5)
        assert ros.wait(lambda: ros.cmd_vel[-1][1:] == (0.0, 0.0, 0.0), 5)
        turn = [c for c in ros.cmds_since(t1) if c[3] == 0.5]
        assert all(c[1] == 0.0 for c in turn)  # the turn replaced the forward walk
        assert 0.5 <= turn[-1][0] - turn[0][0] <= 1.5, "the 1 s duration of Move"
        time.sleep(1.0)
        quiet = ros.cmds_since(time.monotonic() - 0.5)
        assert not quiet, "after a motion the node stops publishing (other teleop sources stay usable)"

        # walk, then StopMove: zero at once, the reference command returns to 0
        assert client.call("c.SetVelocity(0.3, 0, 0, 30)") == 0
        assert ros.wait(lambda: ros.ref and ros.ref[-1][1] > 0.25, 10)
        t2 = time.monotonic()
        assert client.call("c.StopMove()") is None
        assert ros.wait(lambda: any(c[1:] == (0.0, 0.0, 0.0) for c in ros.cmds_since(t2)), 2)
        assert ros.wait(lambda: ros.ref[-1][1] == 0.0, 10), ros.ref[-3:]

        # malformed requests while walking: errors, the walk stops, nothing crashes, bridge untouched
        bad = {
            "raw._Call(7105, '{\"velocity\": [0.3, 0')[0]": 3204,  # bad JSON
            'raw._Call(7105, \'{"velocity": [NaN, 0, 0], "duration": 1}\')[0]': 3204,
            'raw._Call(7105, \'{"velocity": [0.3, 0, 0], "duration": Infinity}\')[0]': 3204,
            "c.SetVelocity(1e6, 0, 0)": 3204,  # huge
            "c.SetVelocity(0.3, 0, 0, -1)": 3204,
            'raw._Call(7101, \'{"data": "damp"}\')[0]': 3204,
            "raw._Call(7150, '{}')[0]": 3203,  # unknown api id
            "raw._Call(7105, '[]')[0]": 3204,
            "c.SetTaskId(0)": 3203,  # WaveHand
            "c.SetStandHeight(0.7)": 3203,
            "c.SetFsmId(3)": 7302,  # Sit
        }
        for expr, code in bad.items():
            assert client.call("c.SetVelocity(0.3, 0, 0, 30)") == 0
            assert ros.wait(lambda: ros.cmd_vel and ros.cmd_vel[-1][1] == 0.3, 3)
            t3 = time.monotonic()
            assert client.call(expr) == code, (expr, loco_log())
            if code == 3204 and ("7105" in expr or "SetVelocity" in expr):
                stopped = lambda t=t3: any(c[1:] == (0, 0, 0) for c in ros.cmds_since(t))  # noqa: E731
                assert ros.wait(stopped, 2), expr
        client.call("c.StopMove()")
        assert loco.poll() is None, "loco_api died:\n" + loco_log()
        assert ros.mode() == "POLICY" and stack.alive("pd_bridge")
        assert client.call(get_fsm_id) == 200  # still serving

        # Damp: the bridge damps; walking is refused until the robot stands and starts again
        assert client.call("c.Damp()") is None
        assert ros.wait(lambda: ros.modes[-1][1] == "DAMPING", 5), ros.mode()
        assert client.call(get_fsm_id) == 1
        assert client.call("c.SetVelocity(0.3, 0, 0)") == 7301
        assert client.call("c.ZeroTorque()") is None
        assert ros.wait(lambda: ros.modes[-1][1] == "ZERO_TORQUE", 5), ros.mode()
        assert loco.poll() is None
        text = loco_log()
        assert "-> 3204" in text and "not supported" in text  # refusals are logged
    finally:
        if client is not None:
            client.close()
        if loco is not None:
            H.terminate(loco)
        stack.close()
        if ros is not None:
            ros.close()


# ================================================================================ real-robot gate
def test_real_robot_bridge_sends_nothing_while_unitree_controller_is_active(ros_env, tmp_path):
    """pd_bridge configured for the real robot (``robot: real``), against the simulator's
    motion_switcher: no LowCmd and ENABLE refused while 'ai' is active; commanding once released
    (noticed by the bridge's own re-check); refused again after a controller is selected. loco_api
    with ``robot:=real`` serves ``sport`` only once the robot's controller is released."""
    from unitree_sdk2py.g1.loco.g1_loco_client import LocoClient

    from g1_bringup.graph import real_graph
    from g1_bringup.stack import node_command
    from twist_controller import pd_bridge
    from twist_controller.motion_switcher import SdkSwitcherClient

    domain = H.process_dds_domain()  # the bridge runs in this process: the SDK's DDS set-up is per process
    sim = _start([SIM, "--domain", domain, "--no-ros", "--print-status"], ros_env, tmp_path / "sim.log")
    ctx = rclpy.Context()
    rclpy.init(context=ctx, domain_id=int(ros_env["ROS_DOMAIN_ID"]))
    node = rclpy.create_node("real_gate_test", context=ctx)
    bridge = thread = loco = None
    try:
        args = {**real_graph().argument_defaults(), "network_interface": "lo", "unitree_api": "true"}
        loco_cmd = node_command(real_graph().node("loco_api"), args, H.INSTALL)
        loco_cmd[loco_cmd.index("dds_domain:=0")] = f"dds_domain:={domain}"  # the real graph's 0
        loco = _start(loco_cmd, ros_env, tmp_path / "loco_api.log")
        params = {**pd_bridge.PARAMS, "robot": "real", "dds_domain": domain, "network_interface": "lo"}
        bridge = pd_bridge.PdBridge(node, params)
        thread = threading.Thread(target=bridge.run, daemon=True)
        thread.start()

        def wait(pred, timeout):
            end = time.monotonic() + timeout
            while not pred() and time.monotonic() < end:
                time.sleep(0.05)
            return pred()

        assert wait(lambda: bridge.mode_machine is not None, 30), "no LowState reached the bridge"
        time.sleep(1.0)
        assert bridge.lowcmd_count == 0 and not bridge.switcher.allowed
        ok, why = bridge.request(0, "test")  # ENABLE
        assert not ok and "'ai' is active" in why and "L2+R2" in why
        loco_client = LocoClient()  # the robot's own sport service would answer here, not ours
        loco_client.Init()
        assert wait(lambda: "is active" in (tmp_path / "loco_api.log").read_text(), 20)
        # nobody serves sport: no reader for the request (3102, send error) or no answer (3104)
        assert loco_client._Call(7001, "{}")[0] in (3102, 3104)

        switcher = SdkSwitcherClient(5.0)
        assert switcher.release() == 0
        assert wait(lambda: bridge.switcher.allowed, 10), "the bridge did not notice the release"
        assert wait(lambda: bridge.lowcmd_count > 50, 10)
        assert bridge.request(0, "test")[0]  # ENABLE -> DAMPING
        assert wait(lambda: loco_client._Call(7001, "{}") == (0, '{"data": 1}'), 20), (
            "loco_api did not start serving after the release:\n" + (tmp_path / "loco_api.log").read_text()
        )

        assert switcher.select("ai") == 0  # someone gives the robot back to Unitree's controller
        ok, why = bridge.request(1, "test")  # STAND from DAMPING asks again
        assert not ok and "'ai' is active" in why
        n = bridge.lowcmd_count
        time.sleep(0.5)
        assert bridge.lowcmd_count == n, "LowCmd went on while Unitree's controller is active"
    finally:
        if bridge is not None:
            bridge.stop()
            bridge.switcher.close()
        if thread is not None:
            thread.join(5)
        if bridge is not None:
            bridge.link.close()
        node.destroy_node()
        rclpy.shutdown(context=ctx)
        if loco is not None:
            H.terminate(loco)
        H.terminate(sim)
    status = json.loads((tmp_path / "sim.log").read_text().strip().splitlines()[-1])
    assert status["lowcmd_bad_crc"] == 0 and status["lowcmd_received"] > 0
