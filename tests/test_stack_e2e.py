"""The whole simulated graph, started by the `stack` runner as separate processes over real DDS:
/cmd_vel -> cmg_node -> reference_mux -> policy_node -> pd_bridge -> LowCmd -> mujoco_sim.

The CMG and the policy here are tiny untrained models made through our own export paths: this
proves the plumbing, never that the robot walks.
"""

import json
import os
import signal
import subprocess
import time
from pathlib import Path

import pytest

rclpy = pytest.importorskip("rclpy", reason="needs the ROS venv (source scripts/env.sh)")
pytest.importorskip("twist_msgs.msg", reason="twist_msgs not built (run scripts/setup.sh)")

import stack_harness as H  # noqa: E402  (scripts/ is on sys.path, see conftest.py)
from geometry_msgs.msg import Twist  # noqa: E402
from std_msgs.msg import String  # noqa: E402

from twist_msgs.msg import ControllerState, JointTargets, ReferenceMotion  # noqa: E402

pytestmark = pytest.mark.ros
STACK = Path(__file__).resolve().parents[1] / "install" / "lib" / "g1_bringup" / "stack"


def test_stack_runs_the_graph_end_to_end(ros_env, tmp_path):
    cmg = H.tiny_cmg(tmp_path / "tiny_cmg.pt")
    policy = H.zero_policy(tmp_path / "untrained.onnx")
    dds_domain = 150 + int(ros_env["ROS_DOMAIN_ID"]) % 80
    cmd = [
        str(STACK),
        "--teleop",
        "none",
        "--no-status",
        "--duration",
        "90",
        f"dds_domain:={dds_domain}",
        "foxglove:=false",
        f"policy_path:={policy}",
        f"cmg_model_path:={cmg}",
    ]
    log = open(tmp_path / "stack.log", "w")
    proc = subprocess.Popen(cmd, env=ros_env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    rclpy.init()
    try:
        node = rclpy.create_node("e2e_tester")
        seen = {"modes": [], "targets": 0, "ref_cmd": [], "sim": []}
        node.create_subscription(
            ControllerState, "/controller_state", lambda m: seen["modes"].append(m.mode_name), 10
        )
        node.create_subscription(
            JointTargets, "/joint_targets", lambda m: seen.__setitem__("targets", seen["targets"] + 1), 10
        )
        node.create_subscription(
            ReferenceMotion, "/reference_motion", lambda m: seen["ref_cmd"].append(m.command.linear.x), 10
        )
        node.create_subscription(String, "/sim/status", lambda m: seen["sim"].append(json.loads(m.data)), 10)
        pub = node.create_publisher(Twist, "/cmd_vel", 10)
        twist = Twist()
        twist.linear.x = 0.5
        deadline = time.monotonic() + 75
        while time.monotonic() < deadline:
            pub.publish(twist)
            rclpy.spin_once(node, timeout_sec=0.05)
            policy_mode = "POLICY" in seen["modes"][-3:]
            if policy_mode and seen["targets"] > 50 and seen["ref_cmd"] and seen["ref_cmd"][-1] > 0.45:
                break
            assert proc.poll() is None, "stack exited early:\n" + (tmp_path / "stack.log").read_text()[-3000:]
        sim_before = seen["sim"][-1]["lowcmd_received"] if seen["sim"] else 0
        end = time.monotonic() + 2.0
        while time.monotonic() < end:
            pub.publish(twist)
            rclpy.spin_once(node, timeout_sec=0.05)
    finally:
        rclpy.shutdown()
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGINT)
        try:
            code = proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            code = proc.wait()
        log.close()
    text = (tmp_path / "stack.log").read_text()
    assert "POLICY" in seen["modes"], (
        f"bridge never entered POLICY; modes {set(seen['modes'])}\n{text[-3000:]}"
    )
    assert seen["targets"] > 50, "policy_node published too few targets"
    assert seen["ref_cmd"] and seen["ref_cmd"][-1] == pytest.approx(0.5, abs=0.05), (
        "CMG did not follow /cmd_vel"
    )
    assert seen["sim"] and seen["sim"][-1]["lowcmd_received"] > sim_before > 0, (
        "LowCmd did not reach the simulator"
    )
    assert seen["sim"][-1]["lowcmd_bad_crc"] == 0
    assert code == 0, f"stack exit code {code}\n{text[-3000:]}"
