"""Reference sources through real nodes (separate processes, loopback only):

* motion_player: the published stream equals the file frame by frame at 50 Hz, with bounded blends in
  and out; a broken file in the playlist is skipped and nothing non-finite is ever published;
* reference_mux + motion_player + a cmg-like stream: switching (auto priority, explicit selection,
  stale fallback) never moves a joint by more than the blend allows in one step;
* redis_bridge: our reference -> Redis -> bridge -> ROS preserves values (float32 exact), state_body_g1
  is written, the exit blend to TWIST's default runs when the reference stops, and malformed payloads
  are rejected (never forwarded).
"""

from __future__ import annotations

import math
import shutil
import socket
import subprocess
import time
from itertools import pairwise
from pathlib import Path

import numpy as np
import pytest

rclpy = pytest.importorskip("rclpy", reason="needs the ROS venv (source scripts/env.sh)")
pytest.importorskip("twist_msgs.msg", reason="twist_msgs not built (run scripts/setup.sh)")
clip_mod = pytest.importorskip("twist_training.data.clip")

from sensor_msgs.msg import Imu, JointState  # noqa: E402
from std_msgs.msg import String  # noqa: E402

from g1_bringup.mux_core import DT, Frame, Motion  # noqa: E402
from g1_bringup.reference_mux import motion_to_msg, msg_to_frame  # noqa: E402
from twist_controller import robot  # noqa: E402
from twist_msgs.msg import ReferenceMotion  # noqa: E402

pytestmark = pytest.mark.ros
ROOT = Path(__file__).resolve().parents[1]
BIN = ROOT / "install" / "lib" / "g1_bringup"


# ----------------------------------------------------------------------------------------- helpers


def start(exe: str, env: dict, **params) -> subprocess.Popen:
    args = [str(BIN / exe), "--ros-args"]
    for k, v in params.items():
        if isinstance(v, bool):
            v = "true" if v else "false"
        elif isinstance(v, list | tuple):
            v = "[" + ",".join(f"'{x}'" for x in v) + "]"
        elif v == "":
            v = "''"
        args += ["-p", f"{k}:={v}"]
    return subprocess.Popen(args, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)


def stop(*procs) -> list[str]:
    outs = []
    for p in procs:
        if p.poll() is None:
            p.terminate()
        try:
            out, _ = p.communicate(timeout=15)
        except subprocess.TimeoutExpired:
            p.kill()
            out, _ = p.communicate()
        outs.append(out or "")
    return outs


class Collector:
    def __init__(self, node, topic: str):
        self.msgs: list[tuple[float, ReferenceMotion]] = []
        node.create_subscription(
            ReferenceMotion, topic, lambda m: self.msgs.append((time.monotonic(), m)), 100
        )

    def frames(self, since: float = 0.0):
        return [(t, msg_to_frame(m.frames[0]), m) for t, m in self.msgs if t >= since]


def spin(node, seconds: float, every=None) -> None:
    end = time.monotonic() + seconds
    next_t = time.monotonic()
    while time.monotonic() < end:
        if every is not None and time.monotonic() >= next_t:
            every()
            next_t += DT
        rclpy.spin_once(node, timeout_sec=0.005)


def wait_for(node, cond, timeout: float, what: str, every=None) -> None:
    end = time.monotonic() + timeout
    while not cond():
        assert time.monotonic() < end, f"timed out waiting for {what}"
        spin(node, 0.05, every)


def make_clip(n=75, name="wave"):
    t = np.arange(n) * DT
    q = np.tile(robot.DEFAULT_POSITION, (n, 1))
    q[:, robot.joint_index("left_shoulder_pitch_joint")] = 0.6 * np.sin(2 * np.pi * 0.8 * t)
    q[:, robot.joint_index("right_elbow_joint")] = 0.9 + 0.3 * np.sin(2 * np.pi * 1.3 * t)
    yaw = 0.2 * t
    root = np.stack([0.3 * t, np.zeros(n), 0.76 + 0.02 * np.sin(2 * np.pi * t)], axis=1)
    quat = np.stack([np.cos(yaw / 2), np.zeros(n), np.zeros(n), np.sin(yaw / 2)], axis=1)
    return clip_mod.MotionClip.from_positions(50.0, q, root, quat, name=name, source="test")


@pytest.fixture
def node(ros_env):
    rclpy.init()
    n = rclpy.create_node("reference_sources_tester")
    try:
        yield n
    finally:
        n.destroy_node()
        rclpy.shutdown()


# ----------------------------------------------------------------------------------------- player


def test_player_stream_matches_file_with_bounded_blends(ros_env, node, tmp_path):
    clip = make_clip()
    path = clip.save(tmp_path / "wave.npz")
    (tmp_path / "broken.npz").write_bytes(b"PK\x03\x04 truncated")
    col = Collector(node, "/reference_motion/player")
    proc = start(
        "motion_player",
        ros_env,
        files=[str(tmp_path / "broken.npz"), str(path)],
        blend_in_time=0.5,
        blend_out_time=0.5,
        current_pose_topic="",
    )
    try:
        pub_cmd = node.create_publisher(String, "/motion_player/command", 10)
        # play only once both ends are connected (early messages would be lost to discovery)
        wait_for(node, lambda: pub_cmd.get_subscription_count() > 0, 30, "motion_player")
        wait_for(node, lambda: node.count_publishers("/reference_motion/player") > 0, 30, "player output")
        spin(node, 0.3)
        pub_cmd.publish(String(data="play"))
        wait_for(node, lambda: len(col.msgs) > 0, 10, "the first player message")
        spin(node, 0.5 + clip.duration + 0.5 + 0.6)
        assert proc.poll() is None
        # the parameter service answers commands with success or the reason (no std_srvs here)
        from rclpy.parameter import Parameter
        from rclpy.parameter_client import AsyncParameterClient

        client = AsyncParameterClient(node, "motion_player")
        assert client.wait_for_services(10)
        answers = []
        for prm in (Parameter("speed", value=100.0), Parameter("command", value="play nosuchclip")):
            fut = client.set_parameters([prm])
            rclpy.spin_until_future_complete(node, fut, timeout_sec=5)
            answers.append(fut.result().results[0])
        assert not answers[0].successful and "speed" in answers[0].reason
        assert not answers[1].successful and "nosuchclip" in answers[1].reason
    finally:
        (out,) = stop(proc)
    got = col.frames()
    assert got, out
    assert all(np.all(np.isfinite(f.joint_positions)) for _, f, _ in got)
    frames = [f for _, f, _ in got]
    q_clip = robot.clip_to_limits(clip.joint_pos)
    # locate each published frame in the clip (float32 on the wire)
    matches = []
    for k, f in enumerate(frames):
        d = np.max(np.abs(q_clip - f.joint_positions[None, :]), axis=1)
        j = int(np.argmin(d))
        if d[j] < 1e-5 and abs(f.root_height - clip.root_pos[j, 2]) < 1e-5:
            matches.append((k, j))
    ks = [k for k, _ in matches]
    js = [j for _, j in matches]
    # after the blend-in, consecutive messages are consecutive clip frames (1 frame per tick)
    assert js[0] == 0 and js[-1] == clip.num_frames - 1, (js[:5], js[-5:], len(frames))
    assert all(b > a for a, b in pairwise(js)), "clip frames out of order"
    assert len(set(js)) >= 0.9 * clip.num_frames, f"only {len(set(js))} of {clip.num_frames} clip frames"

    def stamp(k):  # publish time (header), not the arrival time in this possibly busy process
        st = got[k][2].header.stamp
        return st.sec + 1e-9 * st.nanosec

    rate = (len(ks) - 1) / (stamp(ks[-1]) - stamp(ks[0]))
    assert 45.0 < rate < 55.0, f"playback at {rate:.1f} Hz"
    # velocities come from the file (pelvis-frame linear velocity, yaw rate 0.2 rad/s)
    k_mid, _ = matches[len(matches) // 2]
    assert frames[k_mid].root_yaw_rate == pytest.approx(0.2, abs=1e-3)
    # blend in from the default pose (no current pose topic) and out to it, bounded per step
    blend_in = frames[: ks[0] + 1]
    blend_out = frames[ks[-1] :]

    def blend_bounded(first: int, last: int, gap: float) -> None:
        # smoothstep over 0.5 s moves at most 1.5 x gap / 0.5 s. Playback advances by whole ticks
        # of wall time, so a late tick (a busy machine) covers the ticks it missed in one step
        for k in range(first, last):
            dt = DT * max(1.0, np.ceil((stamp(k + 1) - stamp(k)) / DT - 0.25))
            step = float(np.max(np.abs(frames[k + 1].joint_positions - frames[k].joint_positions)))
            assert step <= 1.5 * gap * dt / 0.5 + 1e-4, (k, step, dt)

    np.testing.assert_allclose(blend_in[0].joint_positions, robot.DEFAULT_POSITION, atol=0.02)
    gap_in = float(np.max(np.abs(q_clip[0] - robot.DEFAULT_POSITION)))
    blend_bounded(0, ks[0], gap_in)
    np.testing.assert_allclose(blend_out[-1].joint_positions, robot.DEFAULT_POSITION, atol=1e-5)
    gap_out = float(np.max(np.abs(q_clip[-1] - robot.DEFAULT_POSITION)))
    blend_bounded(ks[-1], len(frames) - 1, gap_out)
    assert len(blend_out) >= 0.5 / DT * 0.9
    # silent once idle
    assert got[-1][0] < time.monotonic() - 0.3
    assert "skipping" in out and "broken.npz" in out, out[-3000:]


# ----------------------------------------------------------------------------------------- mux


def cmg_like(t: float) -> Motion:
    f = Frame(
        robot.DEFAULT_POSITION.copy(), np.zeros(29), 0.78, 0.0, 0.02, 0.5 * t, np.array([0.5, 0, 0]), 0.5
    )
    f.joint_positions[robot.joint_index("left_hip_pitch_joint")] = -0.2 + 0.4 * math.sin(2 * math.pi * t)
    f.joint_positions[robot.joint_index("right_hip_pitch_joint")] = -0.2 - 0.4 * math.sin(2 * math.pi * t)
    return Motion([f], DT, "cmg")


def test_mux_switches_between_cmg_player_and_fallback_without_jumps(ros_env, node, tmp_path):
    clip = make_clip(n=50)
    path = clip.save(tmp_path / "short.npz")
    out_col = Collector(node, "/reference_motion")
    pub_cmg = node.create_publisher(ReferenceMotion, "/reference_motion/cmg", 10)
    pub_sel = node.create_publisher(String, "/reference_source", 10)
    blend = 0.5
    # stale_timeout 0.5 s: a loaded test machine must not make the test's own cmg stream look stale
    mux = start("reference_mux", ros_env, blend_time=blend, stale_timeout=0.5, source="auto")
    player = start(
        "motion_player",
        ros_env,
        files=[str(path)],
        blend_in_time=0.4,
        blend_out_time=0.4,
        transition_time=0.2,
    )
    n_cmg = [0]

    def tick():  # the cmg-like source advances one 50 Hz frame per message, whatever the timing
        pub_cmg.publish(motion_to_msg(node, cmg_like(n_cmg[0] * DT)))
        n_cmg[0] += 1

    pub_cmd = node.create_publisher(String, "/motion_player/command", 10)
    marks = {}
    try:
        wait_for(node, lambda: len(out_col.msgs) > 10, 30, "mux output", every=tick)
        wait_for(node, lambda: pub_cmd.get_subscription_count() > 0, 30, "motion_player", every=tick)
        spin(node, 1.0, tick)
        marks["play"] = time.monotonic()
        pub_cmd.publish(String(data="play"))  # auto: the player takes over while it streams
        spin(node, 0.4 + clip.duration + 0.4 + 1.5, tick)  # plays, blends out, goes silent -> cmg again
        marks["default"] = time.monotonic()
        pub_sel.publish(String(data="default"))  # explicit: the built-in standing pose
        spin(node, 1.0, tick)
        marks["cmg"] = time.monotonic()
        pub_sel.publish(String(data="cmg"))
        spin(node, 1.0, tick)
        marks["stale"] = time.monotonic()
        spin(node, 1.5)  # cmg stops: fallback to the standing pose
        assert mux.poll() is None and player.poll() is None
    finally:
        mux_out, player_out = stop(mux, player)
    assert "play wave" in player_out, player_out[-2000:]
    got = out_col.frames()
    srcs = [m.header.frame_id for _, _, m in got]
    times = [t for t, _, _ in got]
    frames = [f for _, f, _ in got]

    def active_between(t_from, t_to):
        return {s for t, s in zip(times, srcs, strict=True) if t_from <= t < t_to}

    # the output never pauses long enough to trip the policy's 0.1 s reference timeout (mux stamps)
    stamps = [m.header.stamp.sec + 1e-9 * m.header.stamp.nanosec for _, _, m in got]
    assert max(np.diff(stamps)) < 0.1, max(np.diff(stamps))
    # every source took its turn, in this order
    assert active_between(marks["play"] - 0.8, marks["play"]) == {"cmg"}, mux_out[-2000:]
    assert "player" in active_between(marks["play"], marks["default"])
    assert active_between(marks["default"] - 0.3, marks["default"]) == {"cmg"}, mux_out[-2000:]
    assert active_between(marks["default"] + 0.1, marks["cmg"]) == {"default"}
    assert active_between(marks["cmg"] + 0.1, marks["stale"]) == {"cmg"}
    assert active_between(marks["stale"] + 0.7, math.inf) == {"default"}
    # no jump larger than the blends allow: largest gap between any two poses here is < 1.2 rad,
    # the sources themselves move < 0.08 rad per step (cmg hips 0.4*2*pi*0.02 = 0.05 rad, clip 0.06)
    steps = [float(np.max(np.abs(a.joint_positions - b.joint_positions))) for a, b in pairwise(frames)]
    bound = 1.5 * 1.2 * DT / min(blend, 0.4) + 1.7 * 0.08
    assert max(steps) <= bound, (max(steps), bound)
    # heading stays continuous across sources (cmg turns 0.01 rad per frame)
    yaw_steps = [abs(math.remainder(a.root_yaw - b.root_yaw, 2 * math.pi)) for a, b in pairwise(frames)]
    assert max(yaw_steps) < 0.03, max(yaw_steps)
    # cmg is forwarded unchanged (apart from the heading offset) once a blend is over
    i_cmg = next(i for i in range(len(got) - 1, 0, -1) if srcs[i] == "cmg")
    np.testing.assert_allclose(frames[i_cmg].root_linear_velocity, [0.5, 0, 0], atol=1e-6)
    assert "active source" in mux_out


# ----------------------------------------------------------------------------------------- redis


@pytest.fixture
def redis_server():
    redis = pytest.importorskip("redis", reason="python redis client not installed (scripts/setup.sh)")
    exe = shutil.which("redis-server")
    if exe is None:
        pytest.skip("redis-server not installed (scripts/setup.sh installs Debian's redis-server)")
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    proc = subprocess.Popen(
        [exe, "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    client = redis.Redis(host="127.0.0.1", port=port)
    try:
        end = time.monotonic() + 10
        while True:
            try:
                client.ping()
                break
            except redis.ConnectionError:
                assert time.monotonic() < end, "redis-server did not start"
                time.sleep(0.05)
        yield port, client
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=5)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def ref_frame(t: float) -> Frame:
    q = robot.DEFAULT_POSITION.copy()
    q[robot.joint_index("left_knee_joint")] = 0.4 + 0.2 * math.sin(3 * t)
    q[robot.joint_index("left_wrist_roll_joint")] = 0.3 * math.sin(2 * t)  # in the 25-DOF layout
    return Frame(q, np.zeros(29), 0.75 + 0.01 * t, 0.01, -0.02, 1.0 + 0.2 * t, np.array([0.4, 0.1, 0.0]), 0.2)


def test_redis_round_trip_state_exit_blend_and_rejection(ros_env, node, redis_server):
    from g1_bringup.redis_layouts import TWIST_DEFAULT_MIMIC, decode, frame_to_mimic, state_body

    port, client = redis_server
    col = Collector(node, "/reference_motion/external")
    pub_ref = node.create_publisher(ReferenceMotion, "/test/reference", 10)
    pub_js = node.create_publisher(JointState, "/joint_states", 10)
    pub_imu = node.create_publisher(Imu, "/imu", 10)
    writer = start(
        "redis_bridge",
        ros_env,
        port=port,
        redis_to_ros=False,
        ros_to_redis=True,
        write_state=True,
        reference_topic="/test/reference",
        reference_timeout=0.3,
        exit_blend_time=1.0,
    )
    reader = start("redis_bridge", ros_env, port=port, max_unchanged_s=0.5)
    sent: list[np.ndarray] = []
    t0 = time.monotonic()
    q_js = robot.DEFAULT_POSITION + 0.05

    def tick():
        f = ref_frame(time.monotonic() - t0)
        msg = motion_to_msg(node, Motion([f], DT, "cmg"))
        # what goes on the wire is float32: compare against that
        sent.append(frame_to_mimic(msg_to_frame(msg.frames[0])))
        pub_ref.publish(msg)
        js = JointState(name=list(robot.G1_JOINT_NAMES), position=q_js.tolist(), velocity=[0.1] * 29)
        pub_js.publish(js)
        imu = Imu()
        imu.orientation.w, imu.orientation.x = math.cos(0.05), math.sin(0.05)
        imu.angular_velocity.z = 0.4
        pub_imu.publish(imu)

    try:
        wait_for(node, lambda: pub_ref.get_subscription_count() > 0, 30, "writer bridge")
        wait_for(node, lambda: len(col.msgs) > 20, 30, "round trip through redis", every=tick)
        spin(node, 1.0, tick)
        # 1. round trip: every forwarded frame equals one we sent, to float32 precision
        got = [m for _, m in col.msgs]
        assert all(m.source.startswith("redis") for m in got)
        sent_arr = np.array(sent)
        worst = 0.0
        for m in got:
            v = frame_to_mimic(msg_to_frame(m.frames[0]))
            worst = max(worst, float(np.min(np.max(np.abs(sent_arr - v), axis=1))))
        assert worst < 1e-6, f"round trip error {worst}"
        wrist = [frame_to_mimic(msg_to_frame(m.frames[0]))[27] for m in got]
        assert np.ptp(wrist) > 0.05  # the wrist roll travels too
        assert len(got) > 40
        # 2. state_body_g1: TWIST proprio of what we published (no joint targets -> zero action)
        state = decode(client.get("state_body_g1"), 74)
        expected = state_body([0, 0, 0.4], [math.cos(0.05), math.sin(0.05), 0, 0], q_js, np.full(29, 0.1))
        np.testing.assert_allclose(state, expected, atol=1e-5)
        assert decode(client.get("action_hand_g1"), 14).tolist() == [0.0] * 14
        # 3. reference stops: the writer blends to TWIST's default vector (heading kept) within ~1 s
        last = sent[-1]
        spin(node, 0.3 + 1.0 + 0.5)
        final = decode(client.get("action_mimic_g1"), 33)
        expected_final = TWIST_DEFAULT_MIMIC.copy()
        expected_final[3] = last[3]
        np.testing.assert_allclose(final, expected_final, atol=1e-6)
        # 4. malformed payloads: rejected, nothing forwarded
        spin(node, 0.6)  # the unchanged default goes stale in the reader (max_unchanged_s 0.5)
        n0 = len(col.msgs)
        for bad in ("not json", "[1, 2, 3]", "[" + ",".join(["NaN"] * 33) + "]", '{"z": 0.79}'):
            client.set("action_mimic_g1", bad)
            spin(node, 0.15)
        bad_knee = TWIST_DEFAULT_MIMIC.copy()
        bad_knee[8 + 3] = 5.0
        client.set("action_mimic_g1", "[" + ",".join(map(str, bad_knee)) + "]")
        spin(node, 0.15)
        assert len(col.msgs) == n0, "a malformed payload was forwarded"
        client.set("action_mimic_g1", "[" + ",".join(map(str, TWIST_DEFAULT_MIMIC)) + "]")
        spin(node, 0.2)
        assert len(col.msgs) > n0  # a good payload flows again
        f = msg_to_frame(col.msgs[-1][1].frames[0])
        assert f.root_height == pytest.approx(0.793, abs=1e-6)
        assert f.joint_positions[robot.joint_index("left_shoulder_roll_joint")] == pytest.approx(
            0.2, abs=1e-6
        )
        assert writer.poll() is None and reader.poll() is None
    finally:
        writer_out, reader_out = stop(writer, reader)
    assert "rejected redis payload" in reader_out, reader_out[-2000:]
    assert "blending action_mimic_g1 to the default pose" in writer_out, writer_out[-2000:]


def test_bridge_starts_and_stops_its_own_loopback_server(ros_env):
    redis = pytest.importorskip("redis", reason="python redis client not installed (scripts/setup.sh)")
    if shutil.which("redis-server") is None:
        pytest.skip("redis-server not installed")
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    client = redis.Redis(host="127.0.0.1", port=port, socket_connect_timeout=0.2)
    bridge = start("redis_bridge", ros_env, port=port, start_server=True)
    try:
        end = time.monotonic() + 20
        while True:
            try:
                assert client.ping()
                break
            except redis.ConnectionError:
                assert time.monotonic() < end and bridge.poll() is None, "no server came up"
                time.sleep(0.1)
    finally:
        (out,) = stop(bridge)
    assert "started redis-server" in out, out[-2000:]
    time.sleep(0.3)
    with pytest.raises(ConnectionRefusedError):  # the server went away with the bridge
        socket.create_connection(("127.0.0.1", port), timeout=0.5).close()
