"""Fuzzing the running nodes: malformed messages published at the real processes.

cmg_node (Twist and, in a second instance, TwistStamped /cmd_vel), reference_mux and policy_node
(ReferenceMotion with wrong lengths, NaN, out-of-limit joints, stale stamps, empty frames),
policy_node (JointState, Imu), pd_bridge (JointTargets with wrong names/lengths, NaN, extreme
gains; raw rt/lowstate bytes with bad CRC, wrong size, NaN IMU and impossible joints) get
``budget`` messages each. Afterwards every node is still up and still doing its job (cmg_node
and the mux publish, the bridge reports its state and is not in POLICY), and its log shows the
problems rate-limited: at most ``MAX_WARN_PER_S`` warning lines per second of fuzzing.
"""

from __future__ import annotations

import math
import threading
import time
from pathlib import Path

import numpy as np
import pytest
from hypothesis import strategies as st

rclpy = pytest.importorskip("rclpy", reason="needs the ROS venv (source scripts/env.sh)")
pytest.importorskip("twist_msgs.msg", reason="twist_msgs not built (run scripts/setup.sh)")
pytest.importorskip("cyclonedds", reason="needs cyclonedds (scripts/setup.sh)")

from twist_controller import robot  # noqa: E402

REPO = Path(__file__).resolve().parents[2]
import stack_harness as H  # noqa: E402  (scripts/ is on sys.path, see conftest.py)

pytestmark = [pytest.mark.ros, pytest.mark.filterwarnings("ignore::RuntimeWarning")]
N = robot.NUM_JOINTS
F32 = 3.4e38
MAX_WARN_PER_S = 6.0  # all call sites of one node together (each is throttled to 1/s or 1/2 s)
# float32 message fields take finite values up to F32, and NaN/inf
f32 = st.one_of(
    st.sampled_from([math.nan, math.inf, -math.inf, 0.0, -0.0, F32, -F32, 1e6]), st.floats(-F32, F32)
)
f64 = st.one_of(st.sampled_from([math.nan, math.inf, -math.inf, -0.0, 1e308]), st.floats(allow_nan=True))


def _arr(elem, sizes=(0, 1, 23, 28, N, N, N, 30, 35)):
    return st.tuples(st.sampled_from(sizes), st.lists(elem, min_size=1, max_size=4), st.floats(-2, 2)).map(
        lambda t: [t[1][i % len(t[1])] if i % 5 == 0 else t[2] for i in range(t[0])]
    )


def _frame(f):
    from twist_msgs.msg import ReferenceFrame

    (q, dq, h, r, p, y, v, wz) = f
    m = ReferenceFrame()
    m.joint_positions = np.asarray(q, np.float32)
    m.joint_velocities = np.asarray(dq, np.float32)
    m.root_height, m.root_roll, m.root_pitch, m.root_yaw, m.root_yaw_rate = h, r, p, y, wz
    m.root_linear_velocity.x, m.root_linear_velocity.y, m.root_linear_velocity.z = v
    return m


# joint arrays of ReferenceFrame are float32[29]: the message type itself refuses other lengths
frames = st.tuples(_arr(f32, (N,)), _arr(f32, (N,)), f32, f32, f32, f32, st.tuples(f32, f32, f32), f32).map(
    _frame
)


@pytest.fixture
def nodes(ros_env, tmp_path):
    dds = H.process_dds_domain()
    d = tmp_path / "models"
    # no simulator here (the test writes rt/lowstate itself): the nodes run on the wall clock
    stack = H.Stack(tmp_path / "logs", H.tiny_cmg(d / "cmg.pt"), H.zero_policy(d / "pol.pt"),
                    int(ros_env["ROS_DOMAIN_ID"]), dds, extra_args={"use_sim_time": "false"})  # fmt: skip
    stamped_cmd = [
        str(H.INSTALL / "lib" / "cmg_generator" / "cmg_node"), "--ros-args", "-r", "__node:=cmg_stamped",
        "-p", f"model_path:={d / 'cmg.pt'}", "-p", "cmd_vel_stamped:=true",
        "-r", "/cmd_vel:=/cmd_vel_stamped", "-r", "/reference_motion:=/fuzz/stamped_out",
    ]  # fmt: skip
    stack.commands["cmg_stamped"] = stamped_cmd
    from twist_controller import unitree_io

    robot_side = None
    try:
        stack.start("pd_bridge", "cmg_node", "reference_mux", "policy_node", "cmg_stamped")
        robot_side = unitree_io.DdsEndpoint("robot", dds, "lo", lambda m: None)  # writes rt/lowstate
        yield stack, robot_side
    finally:
        if robot_side is not None:
            robot_side.close()
        stack.close()


class Ros:
    def __init__(self):
        from geometry_msgs.msg import Twist, TwistStamped
        from sensor_msgs.msg import Imu, JointState

        from twist_msgs.msg import ControllerState, JointTargets, ReferenceMotion

        rclpy.init()
        self.node = n = rclpy.create_node("node_fuzzer")
        self.count = {"/reference_motion/cmg": 0, "/reference_motion": 0, "/fuzz/stamped_out": 0}
        self.cs = []
        for topic in self.count:
            n.create_subscription(ReferenceMotion, topic, lambda m, t=topic: self._inc(t), 10)
        n.create_subscription(ControllerState, "/controller_state", self.cs.append, 10)
        self.pub = {
            "twist": n.create_publisher(Twist, "/cmd_vel", 10),
            "stamped": n.create_publisher(TwistStamped, "/cmd_vel_stamped", 10),
            "ref_mux": n.create_publisher(ReferenceMotion, "/reference_motion/cmg", 10),
            "ref_policy": n.create_publisher(ReferenceMotion, "/reference_motion", 10),
            "targets": n.create_publisher(JointTargets, "/joint_targets", 10),
            "js": n.create_publisher(JointState, "/joint_states", 10),
            "imu": n.create_publisher(Imu, "/imu", 10),
        }
        self.T = dict(Twist=Twist, TwistStamped=TwistStamped, Imu=Imu, JointState=JointState,
                      JointTargets=JointTargets, ReferenceMotion=ReferenceMotion)  # fmt: skip
        self.ex = rclpy.executors.SingleThreadedExecutor()
        self.ex.add_node(n)
        threading.Thread(target=self.ex.spin, daemon=True).start()

    def _inc(self, t):
        self.count[t] += 1

    def close(self):
        self.ex.shutdown(timeout_sec=1.0)
        self.node.destroy_node()
        rclpy.shutdown()


def _warn_lines(text: str) -> int:
    return sum(1 for line in text.splitlines() if "[WARN]" in line or "[ERROR]" in line)


def _top_warnings(text: str, n: int = 5) -> list[str]:
    import collections
    import re

    lines = [
        re.sub(r"\[\d+\.\d+\]", "", ln)[:100] for ln in text.splitlines() if "[WARN]" in ln or "[ERROR]" in ln
    ]
    return [f"{c} x {ln}" for ln, c in collections.Counter(lines).most_common(n)]


@pytest.mark.timeout(900)  # the 10k run: ~2-5 min of fuzzing plus start-up on 2 cores
def test_fuzz_running_nodes(fuzz, nodes):
    from twist_controller.unitree_io import LowState

    stack, robot_side = nodes
    ros = Ros()
    try:
        # every publisher under test must be up before fuzzing: the mux publishes its built-in
        # standing reference long before cmg_node has imported torch (up to ~10 s under load)
        deadline = time.monotonic() + 90
        while time.monotonic() < deadline and not (min(ros.count.values()) > 5 and ros.cs):
            time.sleep(0.1)
        assert min(ros.count.values()) > 5 and ros.cs, f"graph did not come up: {ros.count}"
        T, P = ros.T, ros.pub
        good_state = LowState()
        good_state.set("motor_state.q", np.concatenate([robot.DEFAULT_POSITION, np.zeros(6)]))
        wire = bytes(good_state.finalize())

        deadline = time.monotonic() + 30  # the bridge must be hearing our robot-side writer first
        while time.monotonic() < deadline and not (ros.cs and ros.cs[-1].state_age >= 0):
            robot_side.write(wire)
            time.sleep(0.01)
        assert ros.cs[-1].state_age >= 0, "pd_bridge never received our LowState"
        bad_crc_sent = [0]

        def send(ex):
            kind, a, b, c, fr, names, arrs, raw = ex
            if kind == "twist":
                m = T["Twist"]()
                m.linear.x, m.linear.y, m.angular.z = a, b, c
                P["twist"].publish(m)
                s = T["TwistStamped"]()
                s.twist = m
                P["stamped"].publish(s)
            elif kind in ("ref_mux", "ref_policy"):
                m = T["ReferenceMotion"]()
                m.frames = fr
                m.dt = float(np.float32(a)) if abs(a) < F32 or not math.isfinite(a) else 0.02
                m.header.stamp.sec = int(abs(b)) % 2**31 if math.isfinite(b) else 0  # stale / future stamps
                P[kind].publish(m)
            elif kind == "targets":
                m = T["JointTargets"]()
                m.joint_names = names
                m.position, m.velocity, m.effort, m.kp, m.kd = (list(map(float, x)) for x in arrs)
                P["targets"].publish(m)
            elif kind == "js":
                m = T["JointState"]()
                m.name = names
                m.position, m.velocity = (list(map(float, x)) for x in arrs[:2])
                P["js"].publish(m)
                i = T["Imu"]()
                i.orientation.w, i.orientation.x, i.orientation.y, i.orientation.z = a, b, c, a
                i.angular_velocity.x = b
                P["imu"].publish(i)
            else:  # raw LowState bytes on the robot link
                buf = bytearray(wire)
                if raw[0] == 0:  # garbage after a valid CDR header (DdsEndpoint refuses < 4 bytes)
                    buf = bytearray(wire[:4] + raw[1])
                elif raw[0] == 1:
                    buf[4 + raw[2] % (len(buf) - 8)] ^= 0xFF  # payload byte flipped: bad CRC
                    bad_crc_sent[0] += 1
                else:
                    ls = LowState(buf)
                    ls.set("imu_state.quaternion", np.float32([a, b, c, 1.0]))
                    ls.set("motor_state.q", np.resize(np.float32(arrs[0] or [0.0]), 35))
                    buf = bytearray(ls.finalize())  # valid CRC, impossible content
                robot_side.write(bytes(buf))
            time.sleep(0.002)

        names = st.one_of(
            st.just(list(robot.G1_JOINT_NAMES)),
            st.lists(st.sampled_from(list(robot.G1_JOINT_NAMES)), max_size=31),
            st.lists(st.text(max_size=6), max_size=3),
        )
        example = st.tuples(
            st.sampled_from(["twist", "ref_mux", "ref_policy", "targets", "js", "lowstate"]),
            f64, f64, f64,
            st.lists(frames, max_size=3),
            names,
            st.tuples(*[_arr(f32)] * 5),
            st.tuples(st.integers(0, 2), st.binary(max_size=64), st.integers(0, 10**6)),
        )  # fmt: skip
        t0 = time.monotonic()
        sent = fuzz(example, send)
        fuzz_s = time.monotonic() - t0
        time.sleep(1.5)
        before = dict(ros.count)
        n_cs = len(ros.cs)
        time.sleep(1.5)
        for name in ("pd_bridge", "cmg_node", "reference_mux", "policy_node", "cmg_stamped"):
            assert stack.alive(name), f"{name} died under fuzzing:\n{stack.log(name)[-2000:]}"
            warns = _warn_lines(stack.log(name))
            assert warns <= MAX_WARN_PER_S * (fuzz_s + 5), (
                f"{name}: {warns} warnings in {fuzz_s:.0f} s, e.g.\n"
                + "\n".join(_top_warnings(stack.log(name)))
            )
        for topic in ("/reference_motion/cmg", "/reference_motion", "/fuzz/stamped_out"):
            assert ros.count[topic] > before[topic], f"{topic} went silent after fuzzing"
        assert len(ros.cs) > n_cs, "pd_bridge stopped reporting"
        assert ros.cs[-1].mode_name != "POLICY"
        assert (ros.cs[-1].bad_crc_count > 0) == (bad_crc_sent[0] > 0), (
            ros.cs[-1].bad_crc_count,
            bad_crc_sent,
        )
        print(f"node fuzz: {sent} messages in {fuzz_s:.1f} s; bad CRC counted {ros.cs[-1].bad_crc_count}")
    finally:
        ros.close()
