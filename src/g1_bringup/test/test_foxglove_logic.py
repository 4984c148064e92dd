"""Pure parts of the Foxglove bridge: ros2msg schemas, allow-lists, client /cmd_vel validation, stream
statistics, tracking summaries, G1 scene kinematics and asset resolution. No server, no ROS graph."""

from __future__ import annotations

import json
import math
import struct

import numpy as np
import pytest

from g1_bringup.dashboards import foxglove_logic as fl
from g1_bringup.dashboards.foxglove_schemas import SEPARATOR, field_types, ros2msg_definition, split_type_name


# ------------------------------------------------------------------ schemas
def test_field_types_skips_primitives_constants_and_comments():
    text = (
        "uint8 MODE_X=3  # constant\n"
        "std_msgs/Header header\n"
        "float32[29] q\n"
        "string<=10 s\n"
        "ReferenceFrame[] frames   # same package\n"
        "geometry_msgs/Twist command\n"
        "# geometry_msgs/Pose commented\n"
        "int32 x 5\n"
    )
    assert field_types(text) == ["std_msgs/Header", "ReferenceFrame", "geometry_msgs/Twist"]


def test_split_type_name():
    assert split_type_name("sensor_msgs/msg/JointState") == ("sensor_msgs", "JointState")
    assert split_type_name("geometry_msgs/Twist") == ("geometry_msgs", "Twist")
    with pytest.raises(ValueError):
        split_type_name("JointState")


@pytest.mark.parametrize(
    ("type_name", "deps"),
    [
        ("sensor_msgs/msg/JointState", {"std_msgs/Header", "builtin_interfaces/Time"}),
        ("geometry_msgs/msg/Twist", {"geometry_msgs/Vector3"}),
        (
            "twist_msgs/msg/ReferenceMotion",
            {
                "std_msgs/Header",
                "builtin_interfaces/Time",
                "twist_msgs/ReferenceFrame",
                "geometry_msgs/Vector3",
                "geometry_msgs/Twist",
            },
        ),
    ],
)
def test_ros2msg_definition_has_every_dependency_once(type_name, deps):
    pytest.importorskip("rclpy")
    d = ros2msg_definition(type_name)
    got = [line[5:] for line in d.splitlines() if line.startswith("MSG: ")]
    assert set(got) == deps and len(got) == len(deps)
    assert d.count(SEPARATOR) == len(deps)
    assert not d.startswith("MSG:")


def test_ros2msg_definition_matches_rclpy_fields():
    """Every field of the rclpy class appears as a field line of the top definition (guards stale .msg)."""
    pytest.importorskip("rclpy")
    from twist_msgs.msg import ControllerState

    top = ros2msg_definition("twist_msgs/msg/ControllerState").split(SEPARATOR)[0]
    names = {line.split("#")[0].split()[1] for line in top.splitlines() if line.split("#")[0].strip()}
    for f in ControllerState.get_fields_and_field_types():
        assert f in names, f


# ------------------------------------------------------------------ allow-lists
def test_topic_filter_is_whole_name_regex():
    f = fl.TopicFilter(["/cmd_vel", "/g1/.*"])
    assert f.allows("/cmd_vel") and f.allows("/g1/x")
    assert not f.allows("/cmd_vel_raw") and not f.allows("/x/cmd_vel")
    assert not fl.TopicFilter([]).allows("/cmd_vel")


# ------------------------------------------------------------------ client /cmd_vel
def test_parse_client_twist_json_ok_and_defaults():
    v = fl.parse_client_twist_json(b'{"linear": {"x": 0.5}, "angular": {"z": -0.3}}')
    assert v.linear == (0.5, 0.0, 0.0) and v.angular == (0.0, 0.0, -0.3)
    v = fl.parse_client_twist_json(
        b'{"header": {"frame_id": "base"}, "twist": {"linear": {"y": 0.2}}}', "geometry_msgs/msg/TwistStamped"
    )
    assert v.linear == (0.0, 0.2, 0.0)
    assert fl.parse_client_twist_json(b'{"linear": {"x": 1}}').linear[0] == 1.0  # ints are fine


@pytest.mark.parametrize(
    "payload",
    [
        b"{nope",
        b"\xff\xfe",
        b"[1,2,3]",
        b"{}",
        b'{"linear": {"x": NaN}}',
        b'{"linear": {"x": -Infinity}}',
        b'{"angular": {"z": "0.3"}}',
        b'{"angular": {"z": true}}',
        b'{"linear": [0.1, 0, 0]}',
        b'{"linear": {"x": 1e400}}',
    ],
)
def test_parse_client_twist_json_rejects(payload):
    with pytest.raises(fl.ClientMessageError):
        fl.parse_client_twist_json(payload)


def test_check_twist_values_rejects_non_finite():
    assert fl.check_twist_values((0.1, 0, 0), (0, 0, 0.2)).angular[2] == 0.2
    with pytest.raises(fl.ClientMessageError):
        fl.check_twist_values((math.nan, 0, 0), (0, 0, 0))
    with pytest.raises(fl.ClientMessageError):
        fl.check_twist_values((0, 0, 0), (0, 0, math.inf))


# ------------------------------------------------------------------ statistics
def test_stream_stats_rate_gaps_ages():
    s = fl.StreamStats(window_s=5.0, nominal_hz=50.0)
    t = 100.0
    for i in range(200):
        t += 0.02 if i != 100 else 0.2  # one 200 ms hole
        s.observe(t, stamp_s=t - 0.003)
    snap = s.snapshot(t)
    assert snap["count"] == 200 and snap["gaps"] == 1
    assert snap["max_gap_ms"] == pytest.approx(200.0, abs=0.01)
    assert snap["hz"] == pytest.approx(200 / 4.18, rel=0.05)  # window of 5 s holds the hole
    assert snap["age_ms_p50"] == pytest.approx(3.0, abs=0.01)
    assert s.snapshot(t + 10)["hz"] == 0.0  # stale: no rate


def test_cost_meter_percentiles():
    c = fl.CostMeter()
    assert c.snapshot()["n"] == 0
    for i in range(100):
        c.add((i + 1) * 1e-6)
    snap = c.snapshot()
    assert snap["n"] == 100 and snap["p50_us"] == pytest.approx(50.5, abs=0.1) and snap["p99_us"] > 98


def test_tracking_summary_groups():
    names = [f"j{i}" for i in range(29)]
    ref = np.zeros(29)
    act = np.zeros(29)
    act[0:12] = 0.1  # legs off by 0.1 rad
    s = fl.tracking_summary(names, ref, act, target=ref, effort=np.ones(29))
    assert s["rms_error"]["legs"] == pytest.approx(0.1)
    assert s["rms_error"]["waist"] == 0.0 and s["rms_error"]["arms"] == 0.0
    assert s["rms_error"]["all"] == pytest.approx(math.sqrt(12 * 0.01 / 29), abs=1e-5)
    json.dumps(s)  # JSON-serializable
    assert "error" not in fl.tracking_summary(names, None, act)


def test_reorder_and_rotations():
    assert fl.reorder(["b", "a"], [2.0, 1.0], ["a", "b"]) == [1.0, 2.0]
    assert fl.reorder(["b"], [2.0], ["a"]) is None
    assert fl.reorder(["a", "b"], [1.0], ["a"]) is None
    x, y, z, w = fl.quaternion_from_rpy(0.0, 0.0, 0.7)
    assert fl.yaw_from_quaternion(x, y, z, w) == pytest.approx(0.7)


# ------------------------------------------------------------------ scene
@pytest.fixture(scope="module")
def kin():
    pytest.importorskip("mujoco")
    from g1_bringup.dashboards.foxglove_scene import G1Kinematics
    from twist_controller.g1_model import G1ModelNotFound

    try:
        return G1Kinematics()
    except G1ModelNotFound as exc:
        pytest.skip(str(exc))


def _stl_vertices(data: bytes) -> np.ndarray:
    n = struct.unpack_from("<I", data, 80)[0]
    rec = np.frombuffer(data[84 : 84 + 50 * n], dtype=np.uint8).reshape(n, 50)
    return rec[:, 12:48].copy().view("<f4").reshape(-1, 3).astype(float)


def test_raw_stl_meshes_land_where_mujoco_puts_them(kin):
    """The STL files the client loads, posed by mesh_poses, coincide with MuJoCo's compiled geoms."""
    import mujoco

    from g1_bringup.dashboards.foxglove_scene import ASSET_PREFIX, quat_from_rpy_wxyz

    q = kin.default_position + 0.2
    xpos, xquat = kin.forward([0.3, -0.2, 0.8], quat_from_rpy_wxyz(0.1, -0.05, 0.6), q)
    m, d = kin.model, kin.data
    gids = [
        g for g in range(m.ngeom) if m.geom_type[g] == mujoco.mjtGeom.mjGEOM_MESH and m.geom_group[g] == 2
    ]
    poses = kin.mesh_poses(xpos, xquat)
    assert len(poses) == len(gids) == 35
    for (url, p, qq), g in zip(poses, gids, strict=True):
        v = _stl_vertices((kin.model_dir / url[len(ASSET_PREFIX) :]).read_bytes())
        r = np.zeros(9)
        mujoco.mju_quat2Mat(r, qq)
        world = v @ r.reshape(3, 3).T + p
        mid = m.geom_dataid[g]
        vc = m.mesh_vert[m.mesh_vertadr[mid] : m.mesh_vertadr[mid] + m.mesh_vertnum[mid]].astype(float)
        world_c = vc @ d.geom_xmat[g].reshape(3, 3).T + d.geom_xpos[g]
        assert np.allclose(world.min(0), world_c.min(0), atol=1e-5), url
        assert np.allclose(world.max(0), world_c.max(0), atol=1e-5), url


def test_scene_and_tf_messages(kin):
    from g1_bringup.dashboards.foxglove_scene import GHOST_COLOR, frame_transforms, robot_entity

    xpos, xquat = kin.forward([0, 0, 0.79], [1, 0, 0, 0], kin.default_position)
    e = robot_entity(kin, "ghost", "world", xpos, xquat, GHOST_COLOR, 1_500_000_000, "reference")
    import foxglove.messages as fm

    from g1_bringup.dashboards.foxglove_client import protobuf_class

    def decode(msg):
        s = type(msg).get_schema()
        return protobuf_class(s.name, s.data).FromString(msg.encode())

    su = decode(fm.SceneUpdate(entities=[e]))
    ent = su.entities[0]
    assert ent.id == "ghost" and ent.frame_id == "world" and ent.timestamp.seconds == 1
    assert len(ent.models) == 35 and ent.models[0].url.startswith("package://g1_description/assets/")
    assert ent.models[0].color.a == pytest.approx(GHOST_COLOR[3]) and ent.texts[0].text == "reference"
    assert len(ent.lines[0].points) == 2 * (len(kin.body_names) - 2)
    tf = decode(frame_transforms(kin, "world", xpos, xquat, 0))
    assert len(tf.transforms) == len(kin.body_names) - 1  # world->pelvis + one per child link
    assert (tf.transforms[0].parent_frame_id, tf.transforms[0].child_frame_id) == ("world", "pelvis")
    assert tf.transforms[0].translation.z == pytest.approx(0.79)
    rel = {c: (p, t) for p, c, t, _q in kin.relative_transforms(xpos, xquat)}
    assert rel["left_hip_pitch_link"][0] == "pelvis"


def test_resolve_asset_stays_inside_model_dir(kin, tmp_path):
    from g1_bringup.dashboards.foxglove_scene import resolve_asset

    assert resolve_asset(kin.model_dir, "package://g1_description/assets/pelvis.STL")[:5] == b"solid"
    assert resolve_asset(kin.model_dir, "package://g1_description/../g1_description/g1.xml") is not None
    for bad in (
        "package://g1_description/../../../../etc/passwd",
        "package://g1_description/assets/nope.STL",
        "package://other/assets/pelvis.STL",
        "file:///etc/passwd",
        "package://g1_description/",
    ):
        assert resolve_asset(kin.model_dir, bad) is None, bad


def test_cdr_header_stamp_matches_rclpy():
    pytest.importorskip("rclpy")
    from rclpy.serialization import serialize_message
    from sensor_msgs.msg import JointState

    from twist_msgs.msg import ControllerState

    for msg in (JointState(name=["a"], position=[1.0]), ControllerState(mode_name="POLICY")):
        msg.header.stamp.sec = 1_796_000_123
        msg.header.stamp.nanosec = 456_000_000
        assert fl.cdr_header_stamp(serialize_message(msg)) == pytest.approx(1_796_000_123.456, abs=1e-6)
    assert fl.cdr_header_stamp(b"\x00\x01\x00\x00") is None
