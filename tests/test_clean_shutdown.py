"""Stopping is clean: no traceback from any node on Ctrl-C, SIGTERM or ``stack --duration``, and the
status line says what the CMG executes and when the client's command has timed out.

Real processes over real DDS. The busy node publishes ~5 kHz so that a signal lands inside a
publishing callback most of the time: with rclpy's own SIGINT handler (which shuts the context down
from the signal) 6 of 12 such stops ended in an ``RCLError`` traceback; here none may.
"""

from __future__ import annotations

import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

rclpy = pytest.importorskip("rclpy", reason="needs the ROS venv (source scripts/env.sh)")
pytest.importorskip("twist_msgs.msg", reason="twist_msgs not built (run scripts/setup.sh)")

import stack_harness as H  # noqa: E402  (scripts/ is on sys.path, see conftest.py)

pytestmark = pytest.mark.ros
STACK = Path(__file__).resolve().parents[1] / "install" / "lib" / "g1_bringup" / "stack"

BUSY_NODE = """
import sys
import time
from rclpy.node import Node
from std_msgs.msg import Float64MultiArray
from twist_controller.node_main import run_node


class Busy(Node):
    def __init__(self):
        super().__init__("busy")
        if "--slow-start" in sys.argv:  # like a node loading a model for a while
            print("busy: starting", flush=True)
            time.sleep(30)
        self.pub = self.create_publisher(Float64MultiArray, "/busy", 10)
        self.create_subscription(Float64MultiArray, "/busy", lambda m: None, 10)
        self.create_timer(0.001, self.tick)
        self.msg = Float64MultiArray(data=[0.0] * 2000)
        print("busy: up", flush=True)

    def tick(self):
        for _ in range(5):
            self.pub.publish(self.msg)


sys.exit(run_node(Busy))
"""


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM], ids=["SIGINT", "SIGTERM"])
def test_run_node_stops_without_traceback_inside_a_publishing_callback(ros_env, tmp_path, sig):
    script = tmp_path / "busy_node.py"
    script.write_text(BUSY_NODE)
    for i in range(5):
        proc = subprocess.Popen(
            [sys.executable, str(script)],
            env=ros_env,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        assert proc.stdout.readline().strip() == "busy: up"
        time.sleep(0.5)  # timers running, DDS matched with its own subscription
        proc.send_signal(sig)
        out, _ = proc.communicate(timeout=20)
        assert proc.returncode == 0 and "Traceback" not in out and "Error" not in out, (
            i,
            proc.returncode,
            out,
        )


def test_run_node_stops_while_the_node_is_still_starting(ros_env, tmp_path):
    script = tmp_path / "busy_node.py"
    script.write_text(BUSY_NODE)
    proc = subprocess.Popen(
        [sys.executable, str(script), "--slow-start"],
        env=ros_env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    assert proc.stdout.readline().strip() == "busy: starting"
    proc.send_signal(signal.SIGINT)
    out, _ = proc.communicate(timeout=10)  # not the 30 s the constructor would take
    assert proc.returncode == 0 and "Traceback" not in out, (proc.returncode, out)


def test_stack_duration_stop_is_clean_and_status_marks_a_timed_out_command(ros_env, tmp_path):
    from geometry_msgs.msg import Twist

    from twist_msgs.msg import ReferenceMotion

    cmg = H.tiny_cmg(tmp_path / "tiny_cmg.pt")
    policy = H.zero_policy(tmp_path / "untrained.onnx")
    dds_domain = 150 + int(ros_env["ROS_DOMAIN_ID"]) % 80
    duration = 30.0  # the checks below take ~10 s after start-up on 2 shared cores
    cmd = [str(STACK), "--teleop", "none", "--duration", str(duration), f"dds_domain:={dds_domain}"]
    cmd += ["foxglove:=false", f"policy_path:={policy}", f"cmg_model_path:={cmg}"]
    log_path = tmp_path / "stack.log"
    log = open(log_path, "w")
    proc = subprocess.Popen(cmd, env=ros_env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    rclpy.init()
    try:
        node = rclpy.create_node("shutdown_tester")
        cmg_vx: list[float] = []
        node.create_subscription(
            ReferenceMotion, "/reference_motion/cmg", lambda m: cmg_vx.append(m.command.linear.x), 10
        )
        pub = node.create_publisher(Twist, "/cmd_vel", 10)
        twist = Twist()
        twist.linear.x = 0.4
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline and not (cmg_vx and cmg_vx[-1] > 0.35):
            pub.publish(twist)  # a client streaming 0.4 m/s at 20 Hz until the CMG follows it
            rclpy.spin_once(node, timeout_sec=0.05)
            assert proc.poll() is None, "stack exited early:\n" + log_path.read_text()[-3000:]
        assert cmg_vx and cmg_vx[-1] > 0.35, f"CMG never followed /cmd_vel\n{log_path.read_text()[-3000:]}"
        end = time.monotonic() + 2.5
        while time.monotonic() < end:  # status lines while the client streams
            pub.publish(twist)
            rclpy.spin_once(node, timeout_sec=0.05)
        marker = time.monotonic()
        while time.monotonic() < marker + 3.5:  # the client stops: cmg_node times out and stands
            rclpy.spin_once(node, timeout_sec=0.05)
        assert abs(cmg_vx[-1]) < 0.05, cmg_vx[-5:]
    finally:
        node.destroy_node()
        rclpy.shutdown()
    code = proc.wait(timeout=duration + 30)  # ends by --duration, not by a signal from here
    log.close()
    text = log_path.read_text()
    assert code == 0, text[-3000:]
    assert "Traceback" not in text and "RCLError" not in text, text[-6000:]
    assert "[stack] stopped" in text
    status = [ln for ln in text.splitlines() if ln.startswith("[status]")]
    following = [ln for ln in status if re.search(r"cmg vx \+0\.[34]\d .*client vx \+0\.40 vy", ln)]
    # while the client streams, the CMG follows and the line says nothing of a timeout (the CMG's
    # ramp to standing runs on simulated time, so lines during the ramp may still show 0.3x)
    assert any("TIMED OUT" not in ln for ln in following), status[-10:]
    timed_out = [ln for ln in status if re.search(r"cmg vx [+-]0\.0\d .*client vx \+0\.40 .*TIMED OUT", ln)]
    assert timed_out, status[-10:]


def test_status_line_core():
    from g1_bringup.stack import StatusState, status_line

    st = StatusState(mode="POLICY", cmg_cmd=(0.5, 0.0, 0.1), source="cmg", policy_ms=0.8)
    line = status_line(st, now=10.0, cmd_timeout=0.5)
    assert "cmg vx +0.50 vy +0.00 wz +0.10 |" in line and "client none yet" in line
    st.client_cmd, st.client_cmd_at = (0.5, 0.0, 0.1), 9.8
    assert "TIMED OUT" not in status_line(st, now=10.0, cmd_timeout=0.5)
    st.cmg_cmd = (0.0, 0.0, 0.0)
    line = status_line(st, now=12.3, cmd_timeout=0.5)
    assert (
        "cmg vx +0.00" in line and "client vx +0.50 vy +0.00 wz +0.10 TIMED OUT 2.5 s ago -> standing" in line
    )
    st.source, st.faults = "player", ("targets stale",)
    line = status_line(st, now=12.3, cmd_timeout=0.5)
    assert "[player]" in line and line.endswith("faults: targets stale")
    assert "(no CMG output)" in status_line(StatusState(), now=0.0, cmd_timeout=0.5)


def test_nodes_spin_on_the_events_executor_unless_asked_otherwise(monkeypatch):
    from rclpy.executors import SingleThreadedExecutor

    from twist_controller.node_main import EXECUTOR_ENV, make_executor

    rclpy.init()
    try:
        monkeypatch.delenv(EXECUTOR_ENV, raising=False)
        default = make_executor()
        assert not isinstance(default, SingleThreadedExecutor)
        assert type(default).__name__ == "EventsExecutor"
        monkeypatch.setenv(EXECUTOR_ENV, "single")
        assert isinstance(make_executor(), SingleThreadedExecutor)
        monkeypatch.setenv(EXECUTOR_ENV, "bogus")  # an unknown value keeps the default, with a line
        assert type(make_executor()).__name__ == "EventsExecutor"
    finally:
        rclpy.try_shutdown()
