"""policy_node as a real process: fresh inputs -> /joint_targets; garbage or stale inputs -> silence,
never a crash."""

import subprocess
import time
from pathlib import Path

import numpy as np
import pytest

rclpy = pytest.importorskip("rclpy", reason="needs the ROS venv (source scripts/env.sh)")
pytest.importorskip("twist_msgs.msg", reason="twist_msgs not built (run scripts/setup.sh)")

from sensor_msgs.msg import Imu, JointState  # noqa: E402

from twist_controller import robot  # noqa: E402
from twist_msgs.msg import JointTargets, ReferenceFrame, ReferenceMotion  # noqa: E402

pytestmark = pytest.mark.ros
EXE = Path(__file__).resolve().parents[1] / "install" / "lib" / "twist_controller" / "policy_node"


@pytest.fixture
def policy_file(tmp_path):
    import torch

    from twist_controller.policy import export_policy

    torch.manual_seed(0)
    net = torch.nn.Sequential(torch.nn.Linear(1155, 32), torch.nn.Tanh(), torch.nn.Linear(32, 23))
    return export_policy(net, tmp_path / "untrained_plumbing_policy.pt")


def _inputs(node):
    js = JointState()
    js.header.stamp = node.get_clock().now().to_msg()
    js.name = list(robot.G1_JOINT_NAMES)
    js.position = robot.DEFAULT_POSITION.tolist()
    js.velocity = [0.0] * 29
    imu = Imu()
    imu.orientation.w = 1.0
    ref = ReferenceMotion()
    frame = ReferenceFrame()
    frame.joint_positions = robot.DEFAULT_POSITION.astype(np.float32)
    frame.root_height = 0.78
    ref.frames = [frame]
    ref.dt = 0.02
    return js, imu, ref


def _tester(name: str, on_targets):
    """A test node: /joint_targets -> on_targets, publishers for the policy's three inputs, returned
    once the policy node has subscribed to the reference (node, joint states, IMU, reference)."""
    node = rclpy.create_node(name)
    node.create_subscription(JointTargets, "/joint_targets", on_targets, 50)
    pubs = [node.create_publisher(t, n, 10) for t, n in ((JointState, "/joint_states"), (Imu, "/imu"))]
    pub_ref = node.create_publisher(ReferenceMotion, "/reference_motion", 10)
    deadline = time.monotonic() + 30
    while pub_ref.get_subscription_count() == 0 and time.monotonic() < deadline:
        rclpy.spin_once(node, timeout_sec=0.05)
    assert pub_ref.get_subscription_count() > 0, "policy_node never subscribed"
    return node, *pubs, pub_ref


def start_policy_node(ros_env, *params: str) -> subprocess.Popen:
    """policy_node as a separate process with -p NAME:=VALUE parameters (output captured)."""
    args = [str(EXE), "--ros-args"]
    for p in params:
        args += ["-p", p]
    return subprocess.Popen(args, env=ros_env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)


def test_policy_node_commands_on_fresh_inputs_and_goes_quiet_on_stale_or_bad(ros_env, policy_file):
    proc = start_policy_node(ros_env, f"policy_path:={policy_file}")
    rclpy.init()
    try:
        got: list[tuple[float, JointTargets]] = []
        node, pub_js, pub_imu, pub_ref = _tester(
            "policy_node_tester", lambda m: got.append((time.monotonic(), m))
        )

        def pump(seconds, send_ref=True, bad=False):
            end = time.monotonic() + seconds
            while time.monotonic() < end:
                js, imu, ref = _inputs(node)
                if bad:
                    ref.frames[0].root_height = float("nan")
                    js.position = js.position[:10]  # mismatched lengths
                pub_js.publish(js)
                pub_imu.publish(imu)
                if send_ref:
                    pub_ref.publish(ref)
                rclpy.spin_once(node, timeout_sec=0.02)

        pump(3.0)
        assert len(got) > 20, f"only {len(got)} targets in 3 s"
        last = got[-1][1]
        assert list(last.joint_names) == list(robot.G1_JOINT_NAMES)
        q = np.asarray(last.position)
        assert np.all(np.isfinite(q)) and np.all(q <= robot.POSITION_UPPER + 1e-5)
        np.testing.assert_allclose(np.asarray(last.kp), robot.KP, rtol=1e-6)

        t_stop = time.monotonic()
        pump(1.0, send_ref=False)  # reference stream stops
        after = [t for t, _ in got if t > t_stop + 0.3]
        assert not after, "targets kept coming 300 ms after the reference stopped"

        n_before = len(got)
        pump(1.0, bad=True)  # garbage everywhere
        assert len(got) == n_before, "garbage input produced targets"
        assert proc.poll() is None, "policy_node died on garbage input"

        pump(2.0)  # recovers when good data returns
        assert len(got) > n_before + 10
    finally:
        proc.terminate()
        out, _ = proc.communicate(timeout=10)
        rclpy.shutdown()
    assert "stale" in out or "rejected" in out, out[-2000:]


def test_policy_node_runs_the_expert_with_its_own_gains_from_the_command(ros_env):
    """controller:=expert_fastsac: the holosoma expert follows the reference's command, and every
    /joint_targets carries the gains stated in the expert's own ONNX file (read here with onnx)."""
    import json

    import onnx

    from twist_controller.expert import expert_path

    own = {p.key: p.value for p in onnx.load(str(expert_path("fastsac"))).metadata_props}
    proc = start_policy_node(ros_env, "controller:=expert_fastsac")
    rclpy.init()
    try:
        got: list[JointTargets] = []
        node, pub_js, pub_imu, pub_ref = _tester("policy_node_expert_tester", got.append)
        end = time.monotonic() + 3.0
        while time.monotonic() < end:
            js, imu, ref = _inputs(node)
            ref.command.linear.x = 0.5
            pub_js.publish(js)
            pub_imu.publish(imu)
            pub_ref.publish(ref)
            rclpy.spin_once(node, timeout_sec=0.02)
        assert len(got) > 20, f"only {len(got)} targets in 3 s"
        last = got[-1]
        np.testing.assert_allclose(np.asarray(last.kp), json.loads(own["kp"]), rtol=1e-6)
        np.testing.assert_allclose(np.asarray(last.kd), json.loads(own["kd"]), rtol=1e-6)
        assert not np.allclose(np.asarray(last.kp), robot.KP)
        assert np.all(np.isfinite(np.asarray(last.position)))
    finally:
        proc.terminate()
        out, _ = proc.communicate(timeout=10)
        rclpy.shutdown()
    assert "holosoma_loco_v1" in out, out[-2000:]


def test_event_driven_policy_steps_on_each_reference_and_covers_a_late_one(ros_env, policy_file):
    """event_driven on wall time (the launch graphs): one /joint_targets per /reference_motion as it
    arrives, whatever the (here 10 Hz) rate; when references stop, the fallback timer steps with the
    last one every 2 periods until reference_timeout, then the node goes quiet."""
    proc = start_policy_node(
        ros_env,
        f"policy_path:={policy_file}",
        "event_driven:=true",
        "rate_hz:=10.0",
        "reference_timeout:=1.0",
    )
    rclpy.init()
    try:
        got: list[float] = []
        node, pub_js, pub_imu, pub_ref = _tester(
            "policy_node_event_tester", lambda m: got.append(time.monotonic())
        )

        def pump(seconds: float, ref_hz: float | None) -> int:
            """State at ~100 Hz, references at ``ref_hz`` (None: none); returns references sent."""
            sent, next_ref = 0, time.monotonic()
            end = time.monotonic() + seconds
            while time.monotonic() < end:
                js, imu, ref = _inputs(node)
                pub_js.publish(js)
                pub_imu.publish(imu)
                if ref_hz and time.monotonic() >= next_ref:
                    pub_ref.publish(ref)
                    sent += 1
                    next_ref += 1.0 / ref_hz
                rclpy.spin_once(node, timeout_sec=0.01)
            return sent

        pump(1.0, 40.0)  # warm up (discovery, first steps)
        n0 = len(got)
        sent = pump(2.0, 40.0)
        n_event = len(got) - n0
        print(f"\n{sent} references -> {n_event} targets (10 Hz timer would give 20)")
        assert 0.8 * sent <= n_event <= sent + 5, (sent, n_event)
        t_stop = time.monotonic()
        pump(2.0, None)
        late = [t - t_stop for t in got if t > t_stop + 0.1]
        print(f"after the references stopped: targets at {[round(x, 2) for x in late]} s")
        assert 2 <= len(late) <= 8, late  # fallback every ~0.2 s while the reference is < 1 s old
        assert max(late) < 1.2, late  # quiet once reference_timeout passed
    finally:
        proc.terminate()
        out, _ = proc.communicate(timeout=10)
        rclpy.shutdown()
    assert "Traceback" not in out, out[-2000:]


def test_event_driven_policy_on_simulated_time_steps_each_stamp_once_in_order(ros_env, policy_file):
    """Simulated time (stamp-synced): a reference whose stamp is not newer than the last step's (a
    mux hold and then the CMG tick of the same boundary, or a tick arriving behind a newer one) is
    not stepped, so the policy's history stays one step per stamp, in order; a stamp more than 1 s
    back (a restarted simulator) is stepped again."""
    proc = start_policy_node(
        ros_env, f"policy_path:={policy_file}", "event_driven:=true", "use_sim_time:=true"
    )
    rclpy.init()
    try:
        got: list[int] = []
        node, pub_js, pub_imu, pub_ref = _tester(
            "policy_node_stamp_tester",
            lambda m: got.append(m.header.stamp.sec * 10**9 + m.header.stamp.nanosec),
        )
        from builtin_interfaces.msg import Time

        def stamp(ns: int) -> Time:
            return Time(sec=ns // 10**9, nanosec=ns % 10**9)

        t0 = 100 * 10**9  # 100 s of simulated time
        js, imu, ref = _inputs(node)
        js.header.stamp = imu.header.stamp = stamp(t0 + 10 * 10**9)  # a state newer than every reference

        def spin(seconds: float) -> None:
            end = time.monotonic() + seconds
            while time.monotonic() < end:
                rclpy.spin_once(node, timeout_sec=0.01)

        for _ in range(3):
            pub_js.publish(js)
            pub_imu.publish(imu)
            spin(0.1)
        ms = 10**6
        sent = [t0, t0 + 20 * ms, t0 + 40 * ms, t0 + 40 * ms, t0 + 20 * ms, t0 + 60 * ms, 20 * ms]
        for ns in sent:  # one at a time: DDS keeps one writer's order
            ref.header.stamp = stamp(ns)
            pub_ref.publish(ref)
            spin(0.3)
        spin(0.5)
        rel = [(s - t0) // ms for s in sent], [(g - t0) // ms for g in got]
        print(f"\nreference stamps {rel[0]} ms -> targets {rel[1]} (ms after 100 s)")
        assert got == [t0, t0 + 20 * ms, t0 + 40 * ms, t0 + 60 * ms, 20 * ms], got
    finally:
        proc.terminate()
        out, _ = proc.communicate(timeout=10)
        rclpy.shutdown()
    assert "Traceback" not in out, out[-2000:]
    assert "simulated time went back" in out, out[-2000:]
