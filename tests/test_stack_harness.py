"""scripts/stack_harness.py: per-node parameter overrides reach the node.

``Stack(node_params=...)`` used to accept overrides and drop them, so the bench's
``max_accel:=[100.0,100.0,100.0]`` for cmg_node never took effect and its /cmd_vel -> LowCmd figure
timed cmg_node's 1 m/s^2 command ramp instead of the pipeline.
"""

from __future__ import annotations

import threading
import time

import pytest

rclpy = pytest.importorskip("rclpy", reason="needs the ROS venv (source scripts/env.sh)")
pytest.importorskip("twist_msgs.msg", reason="twist_msgs not built (run scripts/setup.sh)")

import stack_harness as H  # noqa: E402  (scripts/ is on sys.path, see conftest.py)

pytestmark = pytest.mark.ros
FAST = ["max_accel:=[100.0,100.0,100.0]"]


def _stack_at(tmp_path, sub, domain=0, node_params=None):
    # cmg_node alone, no simulator to publish /clock: the wall clock
    return H.Stack(
        tmp_path / sub,
        tmp_path / "cmg.pt",
        tmp_path / "pol.pt",
        domain,
        0,
        extra_args={"use_sim_time": "false"},
        node_params=node_params,
    )


def _stack(tmp_path, node_params=None):
    return _stack_at(tmp_path, "logs", node_params=node_params)


def test_node_params_are_passed_after_the_parameter_files(tmp_path):
    plain = _stack(tmp_path).commands["cmg_node"]
    cmd = _stack(tmp_path, {"cmg_node": FAST}).commands["cmg_node"]
    assert cmd[: len(plain)] == plain  # the graph's command line, unchanged
    assert cmd[len(plain) :] == ["-p", FAST[0]]
    assert "--params-file" in plain  # cmg_node.yaml sets max_accel too: the -p override must win
    assert (
        _stack(tmp_path, {"cmg_node": FAST}).commands["policy_node"]
        == _stack(tmp_path).commands["policy_node"]
    )
    with pytest.raises(ValueError):
        _stack(tmp_path, {"no_such_node": FAST})
    with pytest.raises(ValueError):
        _stack(tmp_path, {"cmg_node": ["max_accel=[1.0]"]})


def _first_command_change(stack, timeout: float = 60.0) -> float:
    """Start cmg_node, stream /cmd_vel vx = 0.5 and return the first nonzero command it publishes."""
    from geometry_msgs.msg import Twist

    from twist_msgs.msg import ReferenceMotion

    seen: list[float] = []
    node = rclpy.create_node("harness_params_probe")
    node.create_subscription(
        ReferenceMotion, "/reference_motion/cmg", lambda m: seen.append(m.command.linear.x), 50
    )
    pub = node.create_publisher(Twist, "/cmd_vel", 10)
    ex = rclpy.executors.SingleThreadedExecutor()
    ex.add_node(node)
    spin = threading.Thread(target=ex.spin, daemon=True)
    spin.start()
    try:
        stack.start("cmg_node")
        end = time.monotonic() + timeout
        while not seen and time.monotonic() < end:  # standing first (command 0)
            assert stack.alive("cmg_node"), stack.log("cmg_node")[-2000:]
            time.sleep(0.1)
        assert seen, "cmg_node published nothing:\n" + stack.log("cmg_node")[-2000:]
        tw = Twist()
        tw.linear.x = 0.5
        end = time.monotonic() + 10
        while time.monotonic() < end:
            pub.publish(tw)
            moved = [x for x in seen if abs(x) > 1e-6]
            if moved:
                return moved[0]
            time.sleep(0.05)
        raise AssertionError("the command never reached /reference_motion/cmg")
    finally:
        stack.close()
        ex.shutdown(timeout_sec=1.0)
        node.destroy_node()


def test_max_accel_override_takes_effect_in_cmg_node(ros_env, tmp_path):
    H.tiny_cmg(tmp_path / "cmg.pt")
    domain = int(ros_env["ROS_DOMAIN_ID"])
    rclpy.init()
    try:
        # default ramp (cmg_node.yaml: 1 m/s^2): the first published command is one 20 ms step of it
        ramped = _first_command_change(_stack_at(tmp_path, "a", domain))
        assert ramped == pytest.approx(0.02, abs=1e-3)
        fast = _first_command_change(_stack_at(tmp_path, "b", domain, {"cmg_node": FAST}))
        assert fast == pytest.approx(0.5, abs=1e-3)  # the whole step in one tick
    finally:
        rclpy.shutdown()


def test_nodes_die_with_a_crashed_harness(tmp_path):
    """A segfaulted test process never runs its teardown: its nodes must not outlive it."""
    import os
    import subprocess

    from g1_bringup.stack import die_with_parent

    marker = tmp_path / "child_pid"
    pid = os.fork()
    if pid == 0:  # the "test process": start a node-like child the harness way, then crash hard
        p = subprocess.Popen(["sleep", "30"], preexec_fn=die_with_parent())
        marker.write_text(str(p.pid))
        os.kill(os.getpid(), 9)
    os.waitpid(pid, 0)
    child = int(marker.read_text())
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline and os.path.exists(f"/proc/{child}"):
        state = open(f"/proc/{child}/stat").read().rsplit(")", 1)[1].split()[0]
        if state == "Z":  # killed, waiting for its reaper (init)
            break
        time.sleep(0.05)
    assert not os.path.exists(f"/proc/{child}") or state == "Z", "the child outlived its parent"
