"""twist_msgs builds, imports, and a ReferenceMotion crosses process boundaries over real DDS."""

import json
import subprocess
import sys
import textwrap
import time

import numpy as np
import pytest

rclpy = pytest.importorskip("rclpy", reason="needs the ROS venv (source scripts/env.sh)")
msgs = pytest.importorskip("twist_msgs.msg", reason="twist_msgs not built (run scripts/setup.sh)")

pytestmark = pytest.mark.ros

SUBSCRIBER = textwrap.dedent(
    """
    import json, sys, time
    import rclpy
    from twist_msgs.msg import ReferenceMotion
    want = int(sys.argv[1])
    rclpy.init()
    node = rclpy.create_node("ref_listener")
    got = []
    node.create_subscription(ReferenceMotion, "/reference_motion", got.append, 10)
    deadline = time.monotonic() + 30
    while len(got) < want and time.monotonic() < deadline:
        rclpy.spin_once(node, timeout_sec=0.1)
    out = [
        {"seq": int(m.header.frame_id), "n_frames": len(m.frames),
         "q0": [float(x) for x in m.frames[0].joint_positions],
         "height": float(m.frames[0].root_height), "vx": m.command.linear.x, "dt": float(m.dt),
         "source": m.source, "version": m.version}
        for m in got
    ]
    print(json.dumps(out))
    """
)


def test_message_layout():
    from twist_msgs.msg import ControllerState, JointTargets, ReferenceFrame, ReferenceMotion
    from twist_msgs.srv import SetMode

    frame = ReferenceFrame()
    assert len(frame.joint_positions) == 29 and len(frame.joint_velocities) == 29
    assert ReferenceMotion.VERSION == 1
    jt = JointTargets()
    for field in ("joint_names", "position", "velocity", "effort", "kp", "kd"):
        assert hasattr(jt, field)
    assert ControllerState.MODE_ZERO_TORQUE == 0 and ControllerState.MODE_ESTOP == 4
    assert SetMode.Request.ESTOP == 4 and hasattr(SetMode.Response(), "message")
    # NB: rclpy (kilted) does not check the length of fixed-size arrays on assignment, so publishers
    # must validate sizes themselves (the nodes do, through their pure cores).


def test_reference_motion_cross_process(ros_env):
    from twist_msgs.msg import ReferenceFrame, ReferenceMotion

    n = 20
    child = subprocess.Popen(
        [sys.executable, "-c", SUBSCRIBER, str(n)], env=ros_env, stdout=subprocess.PIPE, text=True
    )
    rclpy.init()
    try:
        node = rclpy.create_node("ref_talker")
        pub = node.create_publisher(ReferenceMotion, "/reference_motion", 10)
        deadline = time.monotonic() + 20
        while pub.get_subscription_count() == 0 and time.monotonic() < deadline:
            rclpy.spin_once(node, timeout_sec=0.05)
        assert pub.get_subscription_count() > 0, "subscriber never matched"
        time.sleep(0.3)  # let the reliable reader finish matching before counting
        rng = np.random.default_rng(0)
        sent = []
        for seq in range(n):
            msg = ReferenceMotion()
            msg.version = ReferenceMotion.VERSION
            msg.header.frame_id = str(seq)
            msg.dt = 0.02
            msg.source = "test"
            msg.command.linear.x = 0.1 * seq
            frame = ReferenceFrame()
            q = rng.uniform(-1, 1, 29).astype(np.float32)
            frame.joint_positions = q
            frame.root_height = 0.79
            msg.frames = [frame, ReferenceFrame()]
            pub.publish(msg)
            sent.append(q)
            time.sleep(0.02)
        out, _ = child.communicate(timeout=40)
    finally:
        child.kill()
        rclpy.shutdown()
    got = json.loads(out)
    assert [g["seq"] for g in got] == list(range(n))
    for g, q in zip(got, sent, strict=True):
        np.testing.assert_allclose(g["q0"], q)
        assert g["n_frames"] == 2 and g["source"] == "test" and g["version"] == 1
        assert g["dt"] == pytest.approx(0.02)
        assert g["height"] == pytest.approx(0.79)
    assert got[5]["vx"] == pytest.approx(0.5)
