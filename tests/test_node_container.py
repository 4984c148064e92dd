"""The node container: in-process hand-over between real rclpy nodes, its command line, and the
composed control chain (cmg_node + reference_mux + policy_node in one process) driving the simulated
G1 through the real simulator and bridge processes.

The hand-over tests build real nodes in this process (what the container does) and listen from a
second rclpy context, i.e. another DDS participant, as an outside tool would."""

from __future__ import annotations

import sys
import threading
import time
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "scripts"))

import stack_harness as H  # noqa: E402

from g1_bringup.composition import container  # noqa: E402


# ---------------------------------------------------------------- command line (pure)
def test_parse_splits_nodes_topics_and_process_arguments():
    argv = ["--intra-process", "/a", "--node", "cmg_node", "--ros-args", "-r", "__node:=cmg_node",
            "-p", "model_path:=", "-p", "rate_hz:=50.0", "-r", "/x:=/a", "--",
            "--node", "policy_node", "--ros-args", "-p", "policy_path:=/p.pt", "--",
            "--ros-args", "-r", "__node:=control_chain"]  # fmt: skip
    spec = container.parse(argv)
    assert spec.intra_process == ["/a"]
    assert [b.executable for b in spec.nodes] == ["cmg_node", "policy_node"]
    # an empty override (an empty launch argument) is dropped: the node keeps its default
    assert spec.nodes[0].ros_args == ["--ros-args", "-r", "__node:=cmg_node", "-p", "rate_hz:=50.0",
                                      "-r", "/x:=/a", "--"]  # fmt: skip
    assert spec.nodes[1].ros_args == ["--ros-args", "-p", "policy_path:=/p.pt", "--"]
    assert spec.process_args == ["--ros-args", "-r", "__node:=control_chain"]


@pytest.mark.parametrize(
    "argv, says",
    [
        ([], "no --node"),
        (["--node", "mujoco_sim", "--ros-args", "--"], "not composable"),
        (["--node", "cmg_node", "--ros-args", "-p", "a:=1"], "must end with '--'"),
        (["--node", "cmg_node", "--", "--node", "cmg_node", "--"], "twice"),
        (["--intra-process"], "needs a topic"),
    ],
)
def test_parse_refuses_a_malformed_command_line(argv, says):
    with pytest.raises(container.UsageError, match=says):
        container.parse(argv)


def test_container_executable_says_what_is_wrong():
    import subprocess

    exe = REPO / "install" / "lib" / "g1_bringup" / "node_container"
    p = subprocess.run([str(exe), "--node", "nope"], capture_output=True, text=True, timeout=60)
    assert p.returncode == 2 and "not composable" in p.stderr
    h = subprocess.run([str(exe), "--help"], capture_output=True, text=True, timeout=60)
    assert h.returncode == 0 and "--intra-process" in h.stdout


# ---------------------------------------------------------------- in-process hand-over (real rclpy)
@pytest.fixture
def contexts(ros_env):
    import rclpy
    from rclpy.context import Context

    inside, outside = Context(), Context()
    rclpy.init(context=inside)
    rclpy.init(context=outside)
    yield inside, outside
    rclpy.try_shutdown(context=inside)
    rclpy.try_shutdown(context=outside)


def test_a_handed_over_topic_reaches_in_process_subscribers_once_and_outside_ones_over_dds(contexts):
    from rclpy.executors import SingleThreadedExecutor
    from rclpy.node import Node
    from std_msgs.msg import String

    from twist_controller import intra_process as ip

    inside, outside = contexts
    got: list = []
    bus = ip.IntraProcessBus(["/chain"])
    with ip.composing(bus):
        # the publisher's topic name comes through a remapping, as cmg_node's does in the graph
        pub_node = Node("pub", context=inside, cli_args=["--ros-args", "-r", "/out:=/chain"],
                        use_global_arguments=False)  # fmt: skip
        sub_node = Node("sub", context=inside)
        pub = ip.create_publisher(pub_node, String, "/out", 10)
        sub = ip.create_subscription(sub_node, String, "/chain", got.append, 10)
        other = ip.create_publisher(pub_node, String, "/not_handed_over", 10)
    assert isinstance(pub, ip.HandOverPublisher) and pub.topic_name == "/chain"
    # no DDS reader: nothing is delivered twice
    assert sub is None and not [x for x in sub_node.subscriptions if x.topic_name == "/chain"]
    assert not isinstance(other, ip.HandOverPublisher)  # other topics are plain publishers

    # an outside listener (another DDS participant) still hears the topic
    heard: list[str] = []
    listener = Node("listener", context=outside)
    listener.create_subscription(String, "/chain", lambda m: heard.append(m.data), 10)
    ex = SingleThreadedExecutor(context=outside)
    ex.add_node(listener)
    spin = threading.Thread(target=ex.spin, daemon=True)
    spin.start()
    try:
        deadline = time.monotonic() + 10
        while pub.get_subscription_count() < 2 and time.monotonic() < deadline:  # 1 in-process + 1 DDS
            time.sleep(0.05)
        assert pub.get_subscription_count() == 2
        for i in range(5):
            msg = String(data=f"m{i}")
            pub.publish(msg)
            assert got[-1] is msg  # delivered synchronously, the same object
        deadline = time.monotonic() + 10
        while len(heard) < 5 and time.monotonic() < deadline:
            time.sleep(0.05)
    finally:
        ex.shutdown(timeout_sec=2.0)
    assert [m.data for m in got] == [f"m{i}" for i in range(5)]
    assert heard == [f"m{i}" for i in range(5)]
    assert bus.delivered["/chain"] == 5


def test_outside_a_container_the_helpers_are_plain_rclpy(contexts):
    from rclpy.node import Node
    from rclpy.publisher import Publisher
    from rclpy.subscription import Subscription
    from std_msgs.msg import String

    from twist_controller import intra_process as ip

    inside, _ = contexts
    n = Node("plain", context=inside)
    assert type(ip.create_publisher(n, String, "/chain", 10)) is Publisher
    assert type(ip.create_subscription(n, String, "/chain", lambda m: None, 10)) is Subscription


# ---------------------------------------------------------------- the composed stack
def test_composed_control_chain_drives_the_simulated_robot(ros_env, tmp_path):
    """mujoco_sim, pd_bridge and the control_chain container as processes (the graph's command
    lines, compose:=true): the bridge reaches POLICY on targets computed from references handed over
    in-process, outside listeners still get /reference_motion, and a /cmd_vel step is on the wire."""
    import rclpy
    from geometry_msgs.msg import Twist
    from rclpy.executors import SingleThreadedExecutor

    from twist_msgs.msg import ControllerState, ReferenceMotion

    cmg = H.tiny_cmg(tmp_path / "cmg58.pt", root_channels=False)
    pol = H.probe_policy(tmp_path / "probe.pt")
    dds = H.process_dds_domain()
    stack = H.Stack(tmp_path / "logs", cmg, pol, int(ros_env["ROS_DOMAIN_ID"]), dds,
                    extra_args={"use_sim_time": "false"},
                    node_params={"cmg_node": ["max_accel:=[100.0,100.0,100.0]"]}, compose=True)  # fmt: skip
    assert stack.names == ("mujoco_sim", "pd_bridge", "control_chain")
    probe = H.WireProbe(dds, lowstate=False)
    wire = H.WireSignal(probe)
    rclpy.init()
    node = rclpy.create_node("container_test")
    modes: list[str] = []
    refs: list[float] = []
    node.create_subscription(ControllerState, "/controller_state", lambda m: modes.append(m.mode_name), 10)
    node.create_subscription(
        ReferenceMotion, "/reference_motion", lambda m: refs.append(m.command.linear.x), 10
    )
    pub = node.create_publisher(Twist, "/cmd_vel", 10)
    ex = SingleThreadedExecutor()
    ex.add_node(node)
    threading.Thread(target=ex.spin, daemon=True).start()
    try:
        stack.start()
        in_policy = H.wait_for(lambda: modes and modes[-1] == "POLICY", 120)
        log = stack.log("control_chain")
        assert in_policy, f"bridge never reached POLICY (modes {set(modes)}); container log:\n{log[-3000:]}"
        assert "3 nodes in one process (cmg_node, reference_mux, policy_node)" in log
        assert "in-process: /reference_motion, /reference_motion/cmg" in log
        # a forward-speed step: the probe policy moves every policy joint target by 0.5 x vx
        t0 = time.monotonic()
        while time.monotonic() - t0 < 3.0:
            pub.publish(Twist(linear=Twist().linear.__class__(x=0.4)))
            time.sleep(0.05)
        assert refs and max(refs) == pytest.approx(0.4, abs=0.02)  # /reference_motion seen from outside
        with probe.lock:
            late = [sig for t, m, sig in wire.rows if t > t0 + 1.0 and m == "ACTIVE"]
        assert late and abs(sorted(late)[len(late) // 2] - 0.5 * 0.4) < 0.02
        assert modes[-1] == "POLICY"
        assert all(stack.alive(n) for n in stack.names)
    finally:
        ex.shutdown(timeout_sec=2.0)
        node.destroy_node()
        rclpy.try_shutdown()
        stack.close()
        probe.close()
