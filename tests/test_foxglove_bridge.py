"""foxglove_bridge end to end, with a real ``foxglove.sdk.v1`` WebSocket client on loopback.

The test process plays the rest of the graph (joint states, IMU, odometry, reference, controller state at
their real rates) and listens on /cmd_vel; the bridge runs as its own process from the install space.
"""

from __future__ import annotations

import asyncio
import json
import math
import os
import shutil
import signal
import socket
import struct
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

pytestmark = pytest.mark.ros

ROOT = Path(__file__).resolve().parents[1]
EXE = ROOT / "install" / "lib" / "g1_bringup" / "foxglove_bridge"

rclpy = pytest.importorskip("rclpy")
pytest.importorskip("websockets")
pytest.importorskip("foxglove")
mcap_reader = pytest.importorskip("mcap.reader")

from g1_bringup.dashboards import foxglove_layouts as fx  # noqa: E402
from g1_bringup.dashboards.foxglove_client import FoxgloveClient, decode_channel_message  # noqa: E402
from g1_bringup.dashboards.foxglove_schemas import import_message_type  # noqa: E402


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class FakeGraph:
    """Publishes what cmg_node, pd_bridge and the simulator would, and records /cmd_vel."""

    def __init__(self, domain_id: int):
        from geometry_msgs.msg import Twist
        from nav_msgs.msg import Odometry
        from rclpy.executors import SingleThreadedExecutor
        from sensor_msgs.msg import Imu, JointState

        from twist_controller import robot
        from twist_msgs.msg import ControllerState, ReferenceFrame, ReferenceMotion

        self.robot = robot
        self.ctx = rclpy.Context()
        rclpy.init(context=self.ctx, domain_id=domain_id)
        self.node = rclpy.create_node("fake_graph", context=self.ctx)
        n = self.node
        self.pub = {
            "/joint_states": n.create_publisher(JointState, "/joint_states", 10),
            "/imu": n.create_publisher(Imu, "/imu", 10),
            "/odom": n.create_publisher(Odometry, "/odom", 10),
            "/reference_motion": n.create_publisher(ReferenceMotion, "/reference_motion", 10),
            "/controller_state": n.create_publisher(ControllerState, "/controller_state", 10),
        }
        self.sent = dict.fromkeys(self.pub, 0)
        self.cmd: list[tuple[float, object]] = []
        n.create_subscription(Twist, "/cmd_vel", lambda m: self.cmd.append((time.perf_counter(), m)), 10)
        self.types = (JointState, Imu, Odometry, ReferenceMotion, ReferenceFrame, ControllerState)
        self.k = 0
        n.create_timer(0.02, self._tick)
        self.ex = SingleThreadedExecutor(context=self.ctx)
        self.ex.add_node(n)
        self.thread = threading.Thread(target=self.ex.spin, daemon=True)
        self.thread.start()

    def _tick(self) -> None:
        JointState, Imu, Odometry, ReferenceMotion, ReferenceFrame, ControllerState = self.types
        r = self.robot
        self.k += 1
        stamp = self.node.get_clock().now().to_msg()
        t = self.k * 0.02
        js = JointState()
        js.header.stamp = stamp
        js.name = list(r.G1_JOINT_NAMES)
        js.position = [float(v) + 0.1 * math.sin(t) for v in r.DEFAULT_POSITION]
        js.velocity = [0.0] * 29
        js.effort = [1.0] * 29
        imu = Imu()
        imu.header.stamp = stamp
        imu.orientation.w = 1.0
        od = Odometry()
        od.header.stamp = stamp
        od.header.frame_id = "world"
        od.child_frame_id = "pelvis"
        od.pose.pose.position.x = 0.3 * t
        od.pose.pose.position.z = 0.79
        od.pose.pose.orientation.w = 1.0
        od.twist.twist.linear.x = 0.3
        ref = ReferenceMotion()
        ref.header.stamp = stamp
        ref.version = 1
        ref.dt = 0.02
        f = ReferenceFrame()
        f.joint_positions = [float(v) for v in r.DEFAULT_POSITION]
        f.root_height = 0.79
        ref.frames = [f]
        ref.command.linear.x = 0.3
        for topic, msg in (("/joint_states", js), ("/imu", imu), ("/odom", od), ("/reference_motion", ref)):
            self.pub[topic].publish(msg)
            self.sent[topic] += 1
        if self.k % 5 == 0:
            cs = ControllerState()
            cs.header.stamp = stamp
            cs.mode = ControllerState.MODE_POLICY
            cs.mode_name = "POLICY"
            cs.faults = ["test fault"] if self.k > 150 else []
            cs.loop_period = 0.002
            self.pub["/controller_state"].publish(cs)
            self.sent["/controller_state"] += 1

    def close(self) -> None:
        self.ex.shutdown(timeout_sec=1.0)
        self.node.destroy_node()
        rclpy.shutdown(context=self.ctx)


def start_bridge(env, port: int, *params: str) -> subprocess.Popen:
    if not EXE.exists():
        pytest.skip(f"{EXE} missing: run scripts/setup.sh")
    args = [str(EXE), "--ros-args", "-p", f"port:={port}", "-p", "web_port:=0", "-p", "health_rate_hz:=5.0"]
    for p in params:
        args += ["-p", p]
    return subprocess.Popen(args, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)


def stop_bridge(proc: subprocess.Popen) -> str:
    if proc.poll() is None:
        proc.send_signal(signal.SIGINT)
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
    return proc.stdout.read() if proc.stdout else ""


def mcap_counts(path: Path) -> tuple[dict[str, int], dict[str, tuple[str, str, str]]]:
    counts: dict[str, int] = {}
    with open(path, "rb") as f:
        reader = mcap_reader.make_reader(f)
        summary = reader.get_summary()
        chans = {
            c.topic: (
                summary.schemas[c.schema_id].name,
                summary.schemas[c.schema_id].encoding,
                c.message_encoding,
            )
            for c in summary.channels.values()
        }
        for _schema, channel, _msg in reader.iter_messages():
            counts[channel.topic] = counts.get(channel.topic, 0) + 1
    return counts, chans


EXPECTED_SCHEMAS = {
    "/joint_states": ("sensor_msgs/msg/JointState", "cdr", "ros2msg"),
    "/imu": ("sensor_msgs/msg/Imu", "cdr", "ros2msg"),
    "/odom": ("nav_msgs/msg/Odometry", "cdr", "ros2msg"),
    "/reference_motion": ("twist_msgs/msg/ReferenceMotion", "cdr", "ros2msg"),
    "/controller_state": ("twist_msgs/msg/ControllerState", "cdr", "ros2msg"),
    "/cmd_vel": ("geometry_msgs/msg/Twist", "cdr", "ros2msg"),
    "/g1/scene": ("foxglove.SceneUpdate", "protobuf", "protobuf"),
    "/g1/tf": ("foxglove.FrameTransforms", "protobuf", "protobuf"),
    "/g1/dashboard": ("g1.Dashboard", "json", "jsonschema"),
    "/g1/health": ("g1.Health", "json", "jsonschema"),
    "/g1/tracking": ("g1.Tracking", "json", "jsonschema"),
}


def test_bridge_live_client_publish_assets_and_recording(ros_env, tmp_path):
    from geometry_msgs.msg import Twist
    from rclpy.serialization import deserialize_message, serialize_message
    from sensor_msgs.msg import JointState

    from twist_controller import robot
    from twist_controller.g1_model import find_g1_model_dir
    from twist_msgs.msg import ReferenceMotion

    port = free_port()
    startup_mcap = tmp_path / "startup.mcap"
    graph = FakeGraph(int(ros_env["ROS_DOMAIN_ID"]))
    proc = start_bridge(ros_env, port, f"record_path:={startup_mcap}")
    log = ""
    result: dict = {}
    try:

        async def session() -> None:
            c = await FoxgloveClient(f"ws://127.0.0.1:{port}").connect(timeout=30.0)
            info = c.server_info
            assert info["capabilities"] and {"clientPublish", "services", "assets"} <= set(
                info["capabilities"]
            )
            assert {"json", "cdr"} <= set(info["supportedEncodings"])
            ok = await c.wait_for(lambda: all(c.channel_by_topic(t) for t in EXPECTED_SCHEMAS), 15.0)
            have = sorted(ch["topic"] for ch in c.channels.values())
            assert ok, f"advertised channels {have}"
            for topic, (name, enc, schema_enc) in EXPECTED_SCHEMAS.items():
                ch = c.channel_by_topic(topic)
                assert (ch["schemaName"], ch["encoding"], ch["schemaEncoding"]) == (name, enc, schema_enc), (
                    topic
                )
            js_schema = c.channel_by_topic("/joint_states")["schema"]
            assert "float64[] position" in js_schema and "MSG: std_msgs/Header" in js_schema

            await c.subscribe([t for t in EXPECTED_SCHEMAS if t != "/cmd_vel"])
            # DDS discovery between this process and the bridge takes a moment: start counting once data flow.
            assert await c.wait_for(lambda: len(c.by_topic("/joint_states")) > 0, 15.0), "no /joint_states"
            await asyncio.sleep(0.2)
            k0, n0 = len(c.by_topic("/joint_states")), graph.sent["/joint_states"]
            await asyncio.sleep(2.0)
            n_window = graph.sent["/joint_states"] - n0

            # ROS messages decode with their own types; (nearly) none is lost.
            js = c.by_topic("/joint_states")[k0:]
            h = json.loads(c.by_topic("/g1/health")[-1].payload)["topics"]["/joint_states"]
            assert len(js) >= 0.8 * n_window, (len(js), n_window, h)
            m = deserialize_message(js[-1].payload, JointState)
            assert list(m.name) == list(robot.G1_JOINT_NAMES)
            ref = deserialize_message(c.by_topic("/reference_motion")[-1].payload, ReferenceMotion)
            assert len(ref.frames) == 1 and len(ref.frames[0].joint_positions) == 29
            # Foxglove-native channels arrive; JSON ones carry the derived values.
            assert len(c.by_topic("/g1/scene")) >= 5 and len(c.by_topic("/g1/tf")) >= 5
            scene_ch = c.channel_by_topic("/g1/scene")
            scene = decode_channel_message(scene_ch, c.by_topic("/g1/scene")[-1].payload)
            ents = {e.id: e for e in scene.entities}
            assert set(ents) == {"robot", "reference_ghost"}
            assert len(ents["robot"].models) == 35 and ents["robot"].texts[0].text == "POLICY"
            # the ghost stands ghost_offset_y (1 m) to the robot's left
            dy = ents["reference_ghost"].models[0].pose.position.y - ents["robot"].models[0].pose.position.y
            assert dy == pytest.approx(1.0, abs=0.05)
            dash = json.loads(c.by_topic("/g1/dashboard")[-1].payload)
            assert dash["mode_name"] == "POLICY"
            assert dash["measured"]["vx"] == pytest.approx(0.3)
            assert dash["ref_cmd"]["vx"] == pytest.approx(0.3)
            trk = json.loads(c.by_topic("/g1/tracking")[-1].payload)
            assert len(trk["error"]) == 29 and set(trk["rms_error"]) == {"legs", "waist", "arms", "all"}
            health = json.loads(c.by_topic("/g1/health")[-1].payload)
            assert health["topics"]["/joint_states"]["hz"] == pytest.approx(50.0, rel=0.2)

            # Every message path of the shipped layouts resolves to a number on the live data.
            live = {}
            for ch in c.channels.values():
                got = c.by_topic(ch["topic"])
                if not got or ch["encoding"] == "protobuf":
                    continue
                if ch["encoding"] == "json":
                    live[ch["topic"]] = json.loads(got[-1].payload)
                else:
                    mtype = import_message_type(ch["schemaName"])
                    live[ch["topic"]] = deserialize_message(got[-1].payload, mtype)
            for lname, make in fx.LAYOUTS.items():
                for path in fx.layout_message_paths(make()):
                    topic, rest = fx.split_message_path(path, [ch["topic"] for ch in c.channels.values()])
                    if topic in live and rest:
                        v = fx.resolve(live[topic], rest)
                        assert isinstance(v, int | float), (lname, path, v)

            # Controller faults become a Foxglove status message (problems list).
            await c.wait_for(lambda: any("test fault" in s["message"] for s in c.statuses), 5.0)
            assert any("test fault" in s["message"] for s in c.statuses), c.statuses

            # The 3D panel's mesh assets come from the registry model folder.
            st, err, data = await c.fetch_asset("package://g1_description/assets/pelvis.STL")
            assert st == 0, err
            assert data == (find_g1_model_dir() / "assets" / "pelvis.STL").read_bytes()
            st, _err, data = await c.fetch_asset("package://g1_description/../../../../etc/hostname")
            assert st == 1 and data == b""

            # Client publish of /cmd_vel: JSON (Teleop panel) and CDR; bad messages are dropped.
            jid = await c.advertise("/cmd_vel", "json", "geometry_msgs/msg/Twist")
            cid = await c.advertise("/cmd_vel", "cdr", "geometry_msgs/msg/Twist")
            bad_topic = await c.advertise("/joint_targets", "json", "twist_msgs/msg/JointTargets")
            await asyncio.sleep(0.3)
            graph.cmd.clear()
            t_send = time.perf_counter()
            await c.publish(
                jid, json.dumps({"linear": {"x": 0.4, "y": 0.0, "z": 0.0}, "angular": {"z": 0.2}}).encode()
            )
            await c.wait_for(lambda: len(graph.cmd) >= 1, 5.0)
            result["panel_to_ros_ms"] = (graph.cmd[0][0] - t_send) * 1e3 if graph.cmd else None
            tw = Twist()
            tw.linear.x = -0.25
            await c.publish(cid, serialize_message(tw))
            for bad in (
                b"{not json",
                b'{"linear": {"x": NaN}}',
                b'{"linear": {"x": Infinity}}',
                b'{"linear": {"x": "fast"}}',
                b"[1, 2]",
            ):
                await c.publish(jid, bad)
            nan_tw = Twist()
            nan_tw.angular.z = float("nan")
            await c.publish(cid, serialize_message(nan_tw))
            await c.publish(cid, b"\x00\x01\x00\x00\x01")  # truncated CDR
            await c.publish(bad_topic, b'{"position": [1.0]}')
            await asyncio.sleep(1.0)
            got = [(round(m.linear.x, 3), round(m.angular.z, 3)) for _, m in graph.cmd]
            assert got == [(0.4, 0.2), (-0.25, 0.0)], got
            await asyncio.sleep(0.5)
            health = json.loads(c.by_topic("/g1/health")[-1].payload)
            assert health["client_cmd"]["accepted"] == 2
            assert health["client_cmd"]["rejected"] == 8, health["client_cmd"]
            result["forward_cost"] = health["forward_cost"]
            result["callback_cost"] = health["callback_cost"]

            # Foxglove parameters (Parameters panel): record_path and friends.
            await c.get_parameters(["record_path", "port"])
            assert await c.wait_for(lambda: "port" in c.parameters, 5.0), c.parameters
            assert c.parameters["port"] == port and c.parameters["record_path"] == str(startup_mcap)

            # Recording service: start, 2 s, stop; the file holds what was published in between.
            rec = tmp_path / "service.mcap"
            st0 = await c.call_service("/g1/recording/start", {"path": str(rec)})
            n_start = graph.sent["/joint_states"]
            assert st0["recording"] and st0["path"] == str(rec)
            await asyncio.sleep(2.0)
            n_stop = graph.sent["/joint_states"]
            st1 = await c.call_service("/g1/recording/stop", {})
            assert not st1["recording"] and str(rec) in st1["files"]
            result["service_window"] = n_stop - n_start

            # ROS parameter record_path (ros2 param set): start a third file, left open until SIGINT.
            from rcl_interfaces.msg import Parameter, ParameterType, ParameterValue
            from rcl_interfaces.srv import SetParameters

            cli = graph.node.create_client(SetParameters, "/foxglove_bridge/set_parameters")
            assert await c.wait_for(cli.service_is_ready, 10.0), "no /foxglove_bridge/set_parameters"
            req = SetParameters.Request()
            path = str(tmp_path / "param.mcap")
            val = ParameterValue(type=ParameterType.PARAMETER_STRING, string_value=path)
            req.parameters = [Parameter(name="record_path", value=val)]
            fut = cli.call_async(req)
            assert await c.wait_for(fut.done, 10.0)
            assert fut.result().results[0].successful
            await asyncio.sleep(1.5)
            st2 = await c.call_service("/g1/recording/status", {})
            assert st2["recording"] and st2["path"] == str(tmp_path / "param.mcap"), st2
            await c.close()

        asyncio.run(asyncio.wait_for(session(), 90))
    finally:
        log = stop_bridge(proc)
        graph.close()
    assert proc.returncode == 0 or proc.returncode == -signal.SIGINT, log

    counts, chans = mcap_counts(tmp_path / "service.mcap")
    for topic in ("/joint_states", "/imu", "/odom", "/reference_motion", "/controller_state", "/g1/scene"):
        assert topic in chans, (topic, sorted(chans))
    assert chans["/joint_states"] == ("sensor_msgs/msg/JointState", "ros2msg", "cdr")
    assert chans["/g1/scene"] == ("foxglove.SceneUpdate", "protobuf", "protobuf")
    window = result["service_window"]
    assert abs(counts["/joint_states"] - window) <= 6, (counts["/joint_states"], window)
    assert abs(counts["/imu"] - window) <= 6
    # The recording that started with the node (record_path parameter) was closed when the service
    # started a new one; the one started through the ROS parameter was closed cleanly by SIGINT.
    counts0, _ = mcap_counts(startup_mcap)
    assert counts0["/joint_states"] >= 50
    counts2, _ = mcap_counts(tmp_path / "param.mcap")
    assert counts2["/joint_states"] >= 50, counts2
    assert counts0["/cmd_vel"] == 2  # the two accepted client commands, as republished on ROS /cmd_vel
    print(f"\nfoxglove bridge: {json.dumps(result)}")
    print(f"startup mcap counts {counts0}")


def test_bridge_rejects_unknown_subprotocol_busy_port_and_sigterm(ros_env, tmp_path):
    """A client offering neither foxglove.sdk.v1 nor foxglove.websocket.v1 is refused; a second bridge on
    the same port exits with a message; SIGTERM (how process managers stop nodes) still finishes the MCAP
    file."""
    import websockets

    from g1_bringup.dashboards import mcap_tools

    port = free_port()
    rec = tmp_path / "term.mcap"
    proc = start_bridge(ros_env, port, "meshes:=false", "discover_topics:=false", f"record_path:={rec}")
    try:

        async def go():
            deadline = time.monotonic() + 30
            while True:
                try:
                    async with websockets.connect(
                        f"ws://127.0.0.1:{port}", subprotocols=["foxglove.sdk.v1"]
                    ) as ws:
                        assert ws.subprotocol == "foxglove.sdk.v1"
                        info = json.loads(await asyncio.wait_for(ws.recv(), 5))
                        assert info["op"] == "serverInfo"
                    break
                except OSError:
                    if time.monotonic() > deadline:
                        raise
                    await asyncio.sleep(0.2)
            with pytest.raises(websockets.exceptions.InvalidHandshake):
                async with websockets.connect(
                    f"ws://127.0.0.1:{port}", subprotocols=["foxglove.websocket.v2"]
                ):
                    pass

        asyncio.run(go())
        # A second bridge on the same port says so and exits with 1 instead of a traceback.
        second = start_bridge(ros_env, port, "meshes:=false", "discover_topics:=false")
        out, _ = second.communicate(timeout=30)
        assert second.returncode == 1 and "cannot start the Foxglove server" in out, (second.returncode, out)
        time.sleep(1.0)
        proc.send_signal(signal.SIGTERM)
        proc.wait(timeout=15)
        assert proc.returncode == 0, proc.returncode
        s = mcap_tools.summarize(rec)
        assert s["complete"] and s["topics"]["/g1/dashboard"]["count"] > 5, s
    finally:
        stop_bridge(proc)


# ------------------------------------------------------------------ clients and files nobody here wrote
class WsV1Client:
    """A ``foxglove.websocket.v1``-only client written from the published protocol spec
    (github.com/foxglove/ws-protocol, docs/spec.md), not from our bridge or client code: JSON ops
    serverInfo / advertise / subscribe / client advertise, binary opcode 0x01 server message data
    (u32 subscription id, u64 timestamp, payload) and 0x01 client message data (u32 channel id, payload).
    The transport is the ``websockets`` library."""

    def __init__(self, ws):
        self.ws = ws
        self.server_info: dict = {}
        self.channels: dict[int, dict] = {}
        self.data: dict[int, list[bytes]] = {}

    async def pump(self, until, timeout: float) -> bool:
        deadline = time.monotonic() + timeout
        while not until():
            left = deadline - time.monotonic()
            if left <= 0:
                return False
            try:
                frame = await asyncio.wait_for(self.ws.recv(), left)
            except TimeoutError:
                return until()
            if isinstance(frame, bytes):
                assert frame[0] == 0x01, f"unknown binary opcode {frame[0]}"
                sub_id, _stamp = struct.unpack_from("<IQ", frame, 1)
                self.data.setdefault(sub_id, []).append(frame[13:])
                continue
            msg = json.loads(frame)
            if msg["op"] == "serverInfo":
                self.server_info = msg
            elif msg["op"] == "advertise":
                for ch in msg["channels"]:
                    self.channels[ch["id"]] = ch
            elif msg["op"] == "unadvertise":
                for cid in msg["channelIds"]:
                    self.channels.pop(cid, None)
        return True

    def channel(self, topic: str) -> dict | None:
        return next((c for c in self.channels.values() if c["topic"] == topic), None)


def test_websocket_v1_only_client_connects_subscribes_and_publishes(ros_env):
    """Lichtblick <= 1.21 and @foxglove/ws-protocol offer only foxglove.websocket.v1; the SDK alone
    answers them HTTP 400. Through the bridge they get the handshake, the channels with their schemas,
    data that decodes with an independent ROS 2 decoder, and client publishing."""
    import websockets
    from mcap.records import Schema as McapSchema
    from mcap_ros2.decoder import DecoderFactory

    jsonschema = pytest.importorskip("jsonschema")
    port = free_port()
    graph = FakeGraph(int(ros_env["ROS_DOMAIN_ID"]))
    proc = start_bridge(ros_env, port, "meshes:=false")
    try:

        async def session() -> None:
            deadline = time.monotonic() + 30
            while True:
                try:
                    ws = await websockets.connect(
                        f"ws://127.0.0.1:{port}", subprotocols=["foxglove.websocket.v1"], max_size=None
                    )
                    break
                except OSError:
                    if time.monotonic() > deadline:
                        raise
                    await asyncio.sleep(0.2)
            assert ws.subprotocol == "foxglove.websocket.v1"
            c = WsV1Client(ws)
            assert await c.pump(lambda: c.server_info, 10.0), "no serverInfo"
            assert "clientPublish" in c.server_info["capabilities"]
            wanted = ("/joint_states", "/odom", "/g1/dashboard")
            assert await c.pump(lambda: all(c.channel(t) for t in wanted), 20.0), sorted(
                ch["topic"] for ch in c.channels.values()
            )
            js, dash = c.channel("/joint_states"), c.channel("/g1/dashboard")
            assert (js["encoding"], js["schemaName"], js["schemaEncoding"]) == (
                "cdr",
                "sensor_msgs/msg/JointState",
                "ros2msg",
            )
            assert (dash["encoding"], dash["schemaEncoding"]) == ("json", "jsonschema")
            await ws.send(
                json.dumps(
                    {
                        "op": "subscribe",
                        "subscriptions": [
                            {"id": 7, "channelId": js["id"]},
                            {"id": 8, "channelId": dash["id"]},
                        ],
                    }
                )
            )
            assert await c.pump(lambda: len(c.data.get(7, [])) >= 25 and len(c.data.get(8, [])) >= 5, 20.0), {
                k: len(v) for k, v in c.data.items()
            }
            # ROS data decodes with the schema text sent over the wire, by a decoder we did not write
            decode = DecoderFactory().decoder_for(
                "cdr", McapSchema(id=1, name=js["schemaName"], encoding="ros2msg", data=js["schema"].encode())
            )
            m = decode(c.data[7][-1])
            assert len(m.name) == 29 and len(m.position) == 29 and m.name[0].endswith("_joint")
            # the JSON channel's schema is a real one: the live messages validate against it
            schema = json.loads(dash["schema"])
            assert {"cmd", "measured", "mode_name", "faults"} <= set(schema["properties"])
            for payload in c.data[8][-5:]:
                jsonschema.validate(json.loads(payload), schema)
            # client publish, as the Teleop panel of an old Lichtblick does it
            await ws.send(
                json.dumps(
                    {
                        "op": "advertise",
                        "channels": [
                            {
                                "id": 3,
                                "topic": "/cmd_vel",
                                "encoding": "json",
                                "schemaName": "geometry_msgs/msg/Twist",
                            }
                        ],
                    }
                )
            )
            await asyncio.sleep(0.3)
            graph.cmd.clear()
            body = json.dumps(
                {"linear": {"x": 0.35, "y": 0.1, "z": 0.0}, "angular": {"x": 0, "y": 0, "z": -0.2}}
            )
            await ws.send(b"\x01" + struct.pack("<I", 3) + body.encode())
            await c.pump(lambda: bool(graph.cmd), 5.0)
            got = [(round(m.linear.x, 3), round(m.linear.y, 3), round(m.angular.z, 3)) for _, m in graph.cmd]
            assert got == [(0.35, 0.1, -0.2)], got
            await ws.close()

        asyncio.run(asyncio.wait_for(session(), 90))
    finally:
        log = stop_bridge(proc)
        graph.close()
    assert "foxglove.websocket.v1" in log, log[-2000:]


NODE = shutil.which("node")
NODE_MODULES = Path(os.environ.get("G1_NODE_MODULES", ROOT / ".venv" / "share" / "g1_node" / "node_modules"))


@pytest.mark.skipif(
    NODE is None or not (NODE_MODULES / "@foxglove" / "ws-protocol").is_dir(),
    reason="needs node and tests/node's packages installed: npm ci in .venv/share/g1_node (scripts/setup.sh)",
)
def test_foxglove_ws_protocol_npm_client(ros_env):
    """The client Lichtblick <= 1.21 is built on (@foxglove/ws-protocol 0.8.0, foxglove.websocket.v1
    only), unmodified, in node: handshake, channels, live data, client publish to ROS /cmd_vel."""
    port = free_port()
    graph = FakeGraph(int(ros_env["ROS_DOMAIN_ID"]))
    proc = start_bridge(ros_env, port, "meshes:=false")
    env = dict(ros_env, NODE_PATH=str(NODE_MODULES))
    try:
        deadline = time.monotonic() + 30
        while True:  # the bridge is up when its port answers
            try:
                socket.create_connection(("127.0.0.1", port), timeout=0.5).close()
                break
            except OSError:
                assert time.monotonic() < deadline and proc.poll() is None, "bridge did not start"
                time.sleep(0.2)
        graph.cmd.clear()
        run = subprocess.run(
            [NODE, str(ROOT / "tests" / "node" / "ws_v1_client.js"), f"ws://127.0.0.1:{port}", "6"],
            env=env,
            capture_output=True,
            text=True,
            timeout=60,
        )
        time.sleep(0.5)
    finally:
        log = stop_bridge(proc)
        graph.close()
    assert run.returncode == 0, run.stderr + run.stdout
    seen = json.loads(run.stdout.strip().splitlines()[-1])
    assert seen["protocol"] == "foxglove.websocket.v1" and not seen["errors"], seen
    assert "clientPublish" in seen["serverInfo"]["capabilities"]
    assert seen["channels"]["/joint_states"] == {
        "encoding": "cdr",
        "schemaName": "sensor_msgs/msg/JointState",
        "schemaEncoding": "ros2msg",
    }, seen["channels"]
    assert seen["messages"] >= 20 and seen["last"]["mode_name"] == "POLICY", seen
    got = [(round(m.linear.x, 3), round(m.angular.z, 3)) for _, m in graph.cmd]
    assert got == [(0.3, 0.1)], (got, log[-2000:])


def test_recording_is_a_ros2_bag_for_independent_readers(ros_env, tmp_path):
    """The MCAP a run records, read with the ``mcap`` and ``mcap-ros2-support`` packages only: profile
    ``ros2``, a rosbag2 metadata record, each ROS channel with its publishers' QoS and type hash as
    rosbag2 reads them, ROS messages that decode without rclpy and arrive without loss, and JSON
    channels whose recorded schemas validate every recorded message."""
    import yaml
    from mcap.reader import make_reader
    from mcap_ros2.decoder import DecoderFactory

    from g1_bringup.dashboards import mcap_tools

    jsonschema = pytest.importorskip("jsonschema")
    port = free_port()
    rec = tmp_path / "run.mcap"
    graph = FakeGraph(int(ros_env["ROS_DOMAIN_ID"]))
    proc = start_bridge(ros_env, port, "meshes:=false", f"record_path:={rec}")
    try:
        deadline = time.monotonic() + 40
        while not rec.exists() and time.monotonic() < deadline:  # the bridge opens it at start-up
            time.sleep(0.2)
        time.sleep(5.0)  # discovery (~1 s), then 50 Hz data
    finally:
        log = stop_bridge(proc)
        graph.close()
    assert rec.exists(), log[-2000:]

    ros_topics = ("/joint_states", "/imu", "/odom", "/reference_motion", "/controller_state")
    with open(rec, "rb") as f:
        reader = make_reader(f, decoder_factories=[DecoderFactory()])
        assert reader.get_header().profile == "ros2"
        meta = {m.name: m.metadata for m in reader.iter_metadata()}
        assert meta.get("rosbag2", {}).get("ROS_DISTRO"), meta
        summary = reader.get_summary()
        chans = {c.topic: c for c in summary.channels.values()}
        for topic in ros_topics:
            ch = chans[topic]
            assert summary.schemas[ch.schema_id].encoding == "ros2msg" and ch.message_encoding == "cdr"
            qos = yaml.safe_load(ch.metadata["offered_qos_profiles"])
            # FakeGraph's publishers are reliable (1) and volatile (2); discovery does not carry history and
            # depth, so they read unknown (3) and 0, exactly as in the bags rosbag2 itself records
            assert len(qos) == 1 and (qos[0]["reliability"], qos[0]["durability"]) == (1, 2), (topic, qos)
            assert (qos[0]["history"], qos[0]["depth"]) == (3, 0), (topic, qos)
            assert set(qos[0]) >= {"deadline", "lifespan", "liveliness", "liveliness_lease_duration"}
            assert ch.metadata.get("topic_type_hash", "").startswith("RIHS01_"), (topic, ch.metadata)
        ks = [
            round(msg.pose.pose.position.x / (0.3 * 0.02))  # FakeGraph's tick counter, from its odometry
            for _s, _c, _m, msg in reader.iter_decoded_messages(topics=["/odom"])
        ]
        n_js = sum(1 for _ in reader.iter_decoded_messages(topics=["/joint_states"]))
        for topic, (name, schema) in {
            c.topic: (summary.schemas[c.schema_id].name, json.loads(summary.schemas[c.schema_id].data))
            for c in chans.values()
            if c.message_encoding == "json"
        }.items():
            assert schema.get("properties"), (topic, name)
            n = 0
            for _s, _c, m in reader.iter_messages(topics=[topic]):
                jsonschema.validate(json.loads(m.data), schema)
                n += 1
            assert n > 0, topic
    assert len(ks) >= 100 and ks == sorted(ks), ks[:10]
    expected = ks[-1] - ks[0] + 1
    assert len(ks) >= 0.97 * expected, (len(ks), expected)  # best-effort on loopback: (nearly) nothing lost
    assert abs(n_js - len(ks)) <= 3, (n_js, len(ks))
    s = mcap_tools.summarize(rec)
    assert s["profile"] == "ros2" and s["topics"]["/joint_states"]["qos_metadata"], s


# ------------------------------------------------------------------ the local web page in headless Chromium
CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")


class Cdp:
    """Minimal Chrome DevTools Protocol client (websockets)."""

    def __init__(self, ws):
        self.ws = ws
        self.n = 0

    async def call(self, method: str, **params):
        self.n += 1
        my = self.n
        await self.ws.send(json.dumps({"id": my, "method": method, "params": params}))
        while True:
            m = json.loads(await self.ws.recv())
            if m.get("id") == my:
                if "error" in m:
                    raise RuntimeError(f"{method}: {m['error']}")
                return m.get("result", {})

    async def js(self, expr: str):
        r = await self.call("Runtime.evaluate", expression=expr, returnByValue=True, awaitPromise=True)
        return r.get("result", {}).get("value")

    async def mouse(self, kind: str, x: float, y: float):
        await self.call(
            "Input.dispatchMouseEvent", type=kind, x=x, y=y, button="left", buttons=1, clickCount=1
        )


@pytest.mark.skipif(CHROMIUM is None, reason="chromium not installed (scripts/setup.sh installs it)")
def test_web_page_live_data_and_joystick_in_headless_chromium(ros_env, tmp_path):
    import urllib.request

    import websockets

    port, web_port, dbg_port = free_port(), free_port(), free_port()
    graph = FakeGraph(int(ros_env["ROS_DOMAIN_ID"]))
    proc = start_bridge(ros_env, port, f"web_port:={web_port}", "scene_rate_hz:=2.0")
    chrome = subprocess.Popen(
        [
            CHROMIUM,
            "--headless=new",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-dev-shm-usage",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            "--no-first-run",
            f"--user-data-dir={tmp_path / 'chrome'}",
            "--remote-debugging-address=127.0.0.1",
            f"--remote-debugging-port={dbg_port}",
            "--window-size=1280,800",
            "about:blank",
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    shot = None
    try:

        async def session():
            deadline = time.monotonic() + 30
            while True:
                try:
                    with urllib.request.urlopen(f"http://127.0.0.1:{dbg_port}/json/list", timeout=2) as r:
                        pages = [t for t in json.loads(r.read()) if t["type"] == "page"]
                    if pages:
                        break
                except OSError:
                    pass
                assert time.monotonic() < deadline, "chromium did not start"
                await asyncio.sleep(0.3)
            async with websockets.connect(pages[0]["webSocketDebuggerUrl"], max_size=None) as ws:
                cdp = Cdp(ws)
                await cdp.call("Page.enable")
                # the page is served by the bridge itself; wait until the web server is up
                while True:
                    try:
                        urllib.request.urlopen(f"http://127.0.0.1:{web_port}/", timeout=2).close()
                        break
                    except OSError:
                        assert time.monotonic() < deadline + 30, "web page not served"
                        await asyncio.sleep(0.3)
                await cdp.call("Page.navigate", url=f"http://127.0.0.1:{web_port}/")
                t0 = time.monotonic()
                while time.monotonic() - t0 < 30:
                    st = await cdp.js("JSON.stringify({c: g1.connected, p: g1.subprotocol, n: g1.received})")
                    st = json.loads(st) if st else {}
                    if st.get("n", 0) >= 20 and g1_has_data(await cdp.js("JSON.stringify(g1.last)")):
                        break
                    await asyncio.sleep(0.3)
                assert st.get("c") and st.get("p") == "foxglove.sdk.v1", st
                assert st["n"] >= 20, st
                assert (await cdp.js("document.getElementById('mode').textContent")) == "POLICY"
                m_vx = await cdp.js("document.getElementById('m_vx').textContent")
                assert float(m_vx) == pytest.approx(0.3)

                # Drag the on-screen joystick forward and hold it for 1.5 s, then release.
                box = await cdp.js(
                    "(() => { const r = document.getElementById('joy').getBoundingClientRect();"
                    " return [r.left + r.width / 2, r.top + r.height / 2, r.height]; })()"
                )
                cx, cy, h = box
                graph.cmd.clear()
                await cdp.mouse("mousePressed", cx, cy)
                for k in range(1, 6):
                    await cdp.mouse("mouseMoved", cx, cy - 0.25 * h * k / 5)
                    await asyncio.sleep(0.05)
                await asyncio.sleep(1.5)
                cmds_held = [m.linear.x for _, m in graph.cmd]
                shot_b64 = (await cdp.call("Page.captureScreenshot", format="png"))["data"]
                await cdp.mouse("mouseReleased", cx, cy - 0.25 * h)
                await asyncio.sleep(0.6)
                return cmds_held, [m.linear.x for _, m in graph.cmd], shot_b64

        cmds_held, cmds_all, shot = asyncio.run(asyncio.wait_for(session(), 120))
    finally:
        chrome.terminate()
        try:
            chrome.wait(timeout=10)
        except subprocess.TimeoutExpired:
            chrome.kill()
        stop_bridge(proc)
        graph.close()
    import base64

    png = base64.b64decode(shot)
    (tmp_path / "web.png").write_bytes(png)
    if os.environ.get("G1_SCREENSHOT_DIR"):
        Path(os.environ["G1_SCREENSHOT_DIR"], "foxglove_web_page.png").write_bytes(png)
    # ~10 Hz while held, forward at about half the 0.5 m/s default maximum; a zero after release
    assert len(cmds_held) >= 10, cmds_held
    assert all(v >= 0 for v in cmds_held) and max(cmds_held) == pytest.approx(0.25, abs=0.05), cmds_held
    assert cmds_all[-1] == 0.0, cmds_all[-5:]


def g1_has_data(last_json) -> bool:
    if not last_json:
        return False
    d = json.loads(last_json)
    return "measured" in d and "mode_name" in d


# ------------------------------------------------------------------ throughput / cost benchmark (slow)
def _proc_cpu_s(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


@pytest.mark.slow
@pytest.mark.parametrize("rate_hz", [50, 200, 500])
def test_forwarding_cost_and_loss(ros_env, rate_hz):
    """/joint_states (29 joints) at rate_hz to one subscribed client: loss, latency, bridge cost and CPU."""
    import statistics

    from rclpy.executors import SingleThreadedExecutor
    from sensor_msgs.msg import JointState

    from twist_controller import robot

    port = free_port()
    ctx = rclpy.Context()
    rclpy.init(context=ctx, domain_id=int(ros_env["ROS_DOMAIN_ID"]))
    node = rclpy.create_node("bench_pub", context=ctx)
    pub = node.create_publisher(JointState, "/joint_states", 50)
    sent = [0]

    def tick():
        m = JointState()
        m.header.stamp = node.get_clock().now().to_msg()
        m.name = list(robot.G1_JOINT_NAMES)
        m.position = [float(v) for v in robot.DEFAULT_POSITION]
        m.velocity = [0.0] * 29
        m.effort = [0.0] * 29
        pub.publish(m)
        sent[0] += 1

    node.create_timer(1.0 / rate_hz, tick)
    ex = SingleThreadedExecutor(context=ctx)
    ex.add_node(node)
    th = threading.Thread(target=ex.spin, daemon=True)
    th.start()
    proc = start_bridge(ros_env, port, "meshes:=false", "discover_topics:=false", "health_rate_hz:=1.0")
    out = {}
    try:

        async def session():
            c = await FoxgloveClient(f"ws://127.0.0.1:{port}").connect(timeout=30)
            await c.wait_for(lambda: c.channel_by_topic("/joint_states") is not None, 10)
            await c.subscribe(["/joint_states", "/g1/health"])
            assert await c.wait_for(lambda: len(c.by_topic("/joint_states")) > 0, 15)
            await asyncio.sleep(0.5)

            def snap():
                return len(c.by_topic("/joint_states")), sent[0], _proc_cpu_s(proc.pid), time.monotonic()

            k0, n0, cpu0, t0 = snap()
            await asyncio.sleep(4.0)
            k1, n1, cpu1, t1 = snap()
            await asyncio.sleep(0.3)
            js = c.by_topic("/joint_states")[k0:]
            stamps = [deserialize(m.payload).header.stamp for m in js[: k1 - k0]]
            lat = sorted(
                (m.recv_wall - (s.sec + s.nanosec * 1e-9)) * 1e3 for m, s in zip(js, stamps, strict=False)
            )
            await asyncio.sleep(1.2)
            h = json.loads(c.by_topic("/g1/health")[-1].payload)
            out.update(
                published=n1 - n0,
                delivered=k1 - k0,
                latency_ms_p50=round(statistics.median(lat), 2),
                latency_ms_p99=round(lat[int(0.99 * (len(lat) - 1))], 2),
                forward_cost=h["forward_cost"],
                callback_cost=h["callback_cost"],
                bridge_cpu_pct=round(100 * (cpu1 - cpu0) / (t1 - t0), 1),
                payload_bytes=len(js[-1].payload),
            )
            await c.close()

        from rclpy.serialization import deserialize_message

        def deserialize(b):
            return deserialize_message(b, JointState)

        asyncio.run(asyncio.wait_for(session(), 90))
    finally:
        stop_bridge(proc)
        ex.shutdown(timeout_sec=1.0)
        node.destroy_node()
        rclpy.shutdown(context=ctx)
    print(f"\nforwarding at {rate_hz} Hz: {json.dumps(out)}")
    assert out["delivered"] >= 0.95 * out["published"] - 3, out


# ------------------------------------------------------------------ panel -> LowCmd delay (slow)
POLICY_STAND_IN = """
import sys, rclpy
from geometry_msgs.msg import Twist
from twist_controller import robot
from twist_msgs.msg import JointTargets
j = int(sys.argv[1])
rclpy.init()
node = rclpy.create_node("policy_stand_in")
pub = node.create_publisher(JointTargets, "/joint_targets", 10)
vx = [0.0]
def publish():
    m = JointTargets()
    m.header.stamp = node.get_clock().now().to_msg()
    m.joint_names = list(robot.G1_JOINT_NAMES)
    q = [float(v) for v in robot.DEFAULT_POSITION]
    q[j] += 0.1 * vx[0]
    m.position = q
    m.velocity = [0.0] * 29
    m.effort = [0.0] * 29
    m.kp = [float(v) for v in robot.KP]
    m.kd = [float(v) for v in robot.KD]
    pub.publish(m)
def on_cmd(msg):
    vx[0] = msg.linear.x
    publish()
node.create_subscription(Twist, "/cmd_vel", on_cmd, 10)
node.create_timer(0.02, publish)
try:
    rclpy.spin(node)
except BaseException:
    pass
"""


@pytest.mark.slow
def test_panel_to_lowcmd_delay(ros_env):
    """Delay from a client /cmd_vel (what the Teleop panel sends) to the LowCmd on the Unitree DDS wire.

    mujoco_sim + pd_bridge run for real (POLICY mode); a stand-in for cmg_node + policy_node republishes
    each /cmd_vel at once as /joint_targets whose right-wrist-yaw target encodes linear.x. So this
    measures the infrastructure path (bridge, ROS hops, pd_bridge loop, DDS); the CMG and policy 50 Hz
    ticks and the inference add on top of it.
    """
    import random
    import statistics

    from twist_controller import robot, unitree_io

    lib = ROOT / "install" / "lib"
    sim_exe, pd_exe = lib / "g1_bringup" / "mujoco_sim", lib / "twist_controller" / "pd_bridge"
    if not (sim_exe.exists() and pd_exe.exists()):
        pytest.skip("mujoco_sim / pd_bridge not built")
    import stack_harness as H  # scripts/ is on sys.path (conftest.py)

    from g1_bringup.stack import die_with_parent

    # the SDK's DDS set-up is one per process: the in-process observer must use the domain every
    # other test of this process uses, or init_dds refuses it
    dds_domain = H.process_dds_domain()
    share = ROOT / "install" / "share"
    port = free_port()
    dom = ["-p", f"dds_domain:={dds_domain}"]
    sim_args = ["--params-file", str(share / "g1_bringup/config/mujoco_sim.yaml"), *dom]
    pd_args = ["--params-file", str(share / "twist_controller/config/pd_bridge.yaml"), *dom]
    pd_args += ["-p", "auto_stand:=true", "-p", "auto_policy:=true"]
    # the nodes die with this process whatever ends it (a failed run left them running for hours)
    quiet = dict(
        env=ros_env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, preexec_fn=die_with_parent()
    )
    procs = [
        subprocess.Popen([str(sim_exe), "--ros-args", *sim_args], **quiet),
        subprocess.Popen([str(pd_exe), "--ros-args", *pd_args], **quiet),
    ]
    procs.append(start_bridge(ros_env, port, "meshes:=false"))

    j = robot.joint_index("right_wrist_yaw_joint")
    motor = int(robot.MOTOR_INDEX[j])
    base = float(robot.DEFAULT_POSITION[j])
    # The stand-in runs in its own process so this busy test process cannot make its targets stale.
    procs.append(subprocess.Popen([sys.executable, "-c", POLICY_STAND_IN, str(j)], **quiet))

    wire = {"want": None, "t_seen": None}
    seen = threading.Event()

    def on_lowcmd(msg):
        want = wire["want"]
        if want is not None and wire["t_seen"] is None and abs(float(msg.motor("q")[motor]) - want) < 1e-4:
            wire["t_seen"] = time.perf_counter()
            seen.set()

    observer = None
    delays = []
    try:
        observer = unitree_io.DdsEndpoint("robot", dds_domain, "lo", on_lowcmd)  # reads rt/lowcmd only

        async def session():
            c = await FoxgloveClient(f"ws://127.0.0.1:{port}").connect(timeout=30)
            assert await c.wait_for(lambda: c.channel_by_topic("/controller_state") is not None, 20)
            await c.subscribe(["/controller_state"])
            from rclpy.serialization import deserialize_message

            from twist_msgs.msg import ControllerState

            def mode():
                got = c.by_topic("/controller_state")
                return deserialize_message(got[-1].payload, ControllerState).mode if got else -1

            assert await c.wait_for(lambda: mode() == ControllerState.MODE_POLICY, 40), f"mode {mode()}"
            cid = await c.advertise("/cmd_vel", "json", "geometry_msgs/msg/Twist")
            await asyncio.sleep(0.5)
            for i in range(40):
                vx = 0.5 if i % 2 == 0 else 0.0
                wire.update(want=base + 0.1 * vx, t_seen=None)
                seen.clear()
                t_send = time.perf_counter()
                await c.publish(cid, json.dumps({"linear": {"x": vx}}).encode())
                for _ in range(100):
                    if seen.is_set():
                        break
                    await asyncio.sleep(0.002)
                if seen.is_set():
                    delays.append((wire["t_seen"] - t_send) * 1e3)
                await asyncio.sleep(0.05 + 0.1 * random.random())
            await c.close()

        asyncio.run(asyncio.wait_for(session(), 150))
    finally:
        if observer is not None:
            observer.close()
        for p in reversed(procs):
            if p.poll() is None:
                p.send_signal(signal.SIGINT)
        for p in procs:
            try:
                p.wait(timeout=10)
            except subprocess.TimeoutExpired:
                p.kill()
    delays.sort()
    out = {
        "samples": len(delays),
        "panel_to_lowcmd_ms_p50": round(statistics.median(delays), 2),
        "p90": round(delays[int(0.9 * (len(delays) - 1))], 2),
        "max": round(delays[-1], 2),
    }
    print(f"\npanel -> LowCmd (CMG/policy stand-in republishes at once): {json.dumps(out)}")
    assert len(delays) >= 30, out
