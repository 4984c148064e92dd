"""mcap_tools: summary (counts, rates, gaps, schemas) and the velocity plot, on an MCAP written with the
same foxglove-sdk calls the bridge uses (ros2msg+CDR channels and the JSON dashboard)."""

from __future__ import annotations

import json

import pytest

foxglove = pytest.importorskip("foxglove")
pytest.importorskip("mcap")
rclpy_ser = pytest.importorskip("rclpy.serialization")

from g1_bringup.dashboards import mcap_tools  # noqa: E402
from g1_bringup.dashboards.foxglove_schemas import ros2msg_definition  # noqa: E402


def write_run(path, with_hole: bool = True, killed_copy=None):
    """5 s at 50 Hz of /cmd_vel and /odom (odom missing 0.5 s once), dashboard at 10 Hz."""
    from geometry_msgs.msg import Twist
    from nav_msgs.msg import Odometry

    ctx = foxglove.Context()
    w = foxglove.open_mcap(str(path), allow_overwrite=True, context=ctx)

    def ros_channel(topic, type_name):
        return foxglove.Channel(
            topic,
            schema=foxglove.Schema(
                name=type_name, encoding="ros2msg", data=ros2msg_definition(type_name).encode()
            ),
            message_encoding="cdr",
            context=ctx,
        )

    cmd_ch = ros_channel("/cmd_vel", "geometry_msgs/msg/Twist")
    odom_ch = ros_channel("/odom", "nav_msgs/msg/Odometry")
    dash = foxglove.Channel(
        "/g1/dashboard",
        schema=foxglove.Schema(name="g1.Dashboard", encoding="jsonschema", data=b'{"type":"object"}'),
        message_encoding="json",
        context=ctx,
    )
    t0 = 1_000_000_000_000
    n_odom = 0
    for k in range(250):
        t = t0 + k * 20_000_000
        vx = 0.5 if k >= 50 else 0.0
        tw = Twist()
        tw.linear.x = vx
        cmd_ch.log(rclpy_ser.serialize_message(tw), log_time=t)
        if not (with_hole and 120 <= k < 145):
            od = Odometry()
            od.twist.twist.linear.x = vx * 0.9
            odom_ch.log(rclpy_ser.serialize_message(od), log_time=t + 1_000_000)
            n_odom += 1
        if k % 5 == 0:
            dash.log(json.dumps({"cmd": {"vx": vx, "vy": 0, "wz": 0}}).encode(), log_time=t)
    if killed_copy is not None:  # what a killed run leaves behind: complete chunks, no summary/footer
        w.flush()
        killed_copy.write_bytes(path.read_bytes())
    w.close()
    return n_odom


def test_summary_counts_rates_gaps(tmp_path):
    path = tmp_path / "run.mcap"
    n_odom = write_run(path)
    s = mcap_tools.summarize(path)
    t = s["topics"]
    assert set(t) == {"/cmd_vel", "/odom", "/g1/dashboard"}
    assert t["/cmd_vel"]["count"] == 250 and t["/odom"]["count"] == n_odom == 225
    assert t["/cmd_vel"]["rate_hz"] == pytest.approx(50.0, rel=1e-3) and t["/cmd_vel"]["gaps"] == 0
    assert t["/odom"]["gaps"] == 1 and t["/odom"]["max_gap_ms"] == pytest.approx(520.0)
    assert t["/odom"]["schema"] == "nav_msgs/msg/Odometry" and t["/odom"]["schema_encoding"] == "ros2msg"
    assert t["/g1/dashboard"]["rate_hz"] == pytest.approx(10.0, rel=1e-3)
    assert s["duration_s"] == pytest.approx(4.981, abs=0.01)
    text = mcap_tools.format_summary(s)
    assert "/odom" in text and "nav_msgs/msg/Odometry" in text


def test_velocity_series_and_plot(tmp_path):
    path = tmp_path / "run.mcap"
    write_run(path, with_hole=False)
    s = mcap_tools.velocity_series(path)
    assert s["cmd"].shape == (250, 4) and s["measured"].shape == (250, 4)
    assert s["cmd"][-1, 1] == 0.5 and s["measured"][-1, 1] == pytest.approx(0.45)
    assert s["reference"].size == 0
    png = mcap_tools.plot_velocity(path, tmp_path / "v.png")
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and png.stat().st_size > 10_000


def test_cli(tmp_path, capsys):
    path = tmp_path / "run.mcap"
    write_run(path)
    assert mcap_tools.main([str(path), "--json", "--plot", str(tmp_path / "p.png")]) == 0
    out = capsys.readouterr().out
    assert json.loads(out[: out.rindex("}") + 1])["topics"]["/cmd_vel"]["count"] == 250
    assert (tmp_path / "p.png").exists()
    assert mcap_tools.main([str(tmp_path / "missing.mcap")]) == 2


def test_summary_of_a_killed_run(tmp_path):
    path, killed = tmp_path / "run.mcap", tmp_path / "killed.mcap"
    write_run(path, killed_copy=killed)
    full = mcap_tools.summarize(path)
    assert full["complete"] and "read_error" not in full
    s = mcap_tools.summarize(killed)
    assert not s["complete"]
    assert s["topics"]["/cmd_vel"]["count"] == full["topics"]["/cmd_vel"]["count"] == 250
    assert "file not finished" in mcap_tools.format_summary(s)
    assert mcap_tools.velocity_series(killed)["cmd"].shape == (250, 4)
