"""joy_teleop reads unmodified upstream teleop_twist_joy configs and means the same by them.

The configs are upstream's example files as data (test/data/teleop_twist_joy/). The expected
commands are computed here by hand from teleop_twist_joy's documented rules (field = axis value x
scale, upstream code defaults for every key a file leaves out), not by our mapping code.
"""

from __future__ import annotations

import math
from pathlib import Path

import pytest

from g1_bringup.teleop import joy_params as jp
from g1_bringup.teleop.gamepad import axis_to_ros, hat_to_axes
from g1_bringup.teleop_core import JoyTeleop, JoyTeleopConfig

DATA = Path(__file__).resolve().parent / "data" / "teleop_twist_joy"
UPSTREAM = {name: DATA / f"{name}.config.yaml" for name in ("xbox", "ps3", "atk3")}


def _teleop(files: list[Path]) -> tuple[JoyTeleop, jp.FileReading]:
    reading = jp.read_params_files(files, "joy_teleop")
    params = {**jp.TELEOP_DEFAULTS, **reading.defaults}
    return JoyTeleop(JoyTeleopConfig.from_flat({k: params[k] for k in jp.TELEOP_DEFAULTS})), reading


def _joy(n_axes: int = 8, n_buttons: int = 15, **set_) -> tuple[list[float], list[int]]:
    axes, buttons = [0.0] * n_axes, [0] * n_buttons
    for key, value in set_.items():
        kind, index = key[0], int(key[1:])
        (axes if kind == "a" else buttons)[index] = value
    return axes, buttons


# (config, enable button, turbo button, forward axis, yaw axis, scale x, turbo x, scale yaw) from the files
EXPECTED = {
    "xbox": (2, 5, 1, 0, 0.7, 1.5, 0.4),
    "ps3": (8, 10, 1, 0, 0.7, 1.5, 0.4),
    "atk3": (0, 1, 1, 0, 0.7, 1.5, 0.4),
}


@pytest.mark.parametrize("name", sorted(UPSTREAM))
def test_upstream_file_is_read_completely_and_silently(name):
    reading = jp.read_params_files([UPSTREAM[name]], "joy_teleop")
    enable, turbo, ax, ayaw, sx, tx, syaw = EXPECTED[name]
    assert reading.errors == [] and reading.unknown == [] and reading.ineffective == []
    assert reading.sections == [f"{UPSTREAM[name]}: teleop_twist_joy_node"]
    assert reading.defaults == {
        "axis_linear.x": ax,
        "scale_linear.x": sx,
        "scale_linear_turbo.x": tx,
        "axis_angular.yaw": ayaw,
        "scale_angular.yaw": syaw,
        "enable_button": enable,
        "enable_turbo_button": turbo,
    }


@pytest.mark.parametrize("name", sorted(UPSTREAM))
def test_upstream_file_drives_like_teleop_twist_joy(name):
    enable, turbo, ax, ayaw, sx, tx, syaw = EXPECTED[name]
    pad, _ = _teleop([UPSTREAM[name]])
    axes, buttons = _joy(**{f"a{ax}": 0.5, f"a{ayaw}": -0.25})
    assert pad.update(axes, buttons) == (0.0, 0.0, 0.0)  # not enabled: one zero ...
    assert pad.update(axes, buttons) is None  # ... then silence
    buttons[enable] = 1
    # upstream defaults fill what the file leaves out: no side step (axis_linear.y = -1)
    assert pad.update(axes, buttons) == pytest.approx((0.5 * sx, 0.0, -0.25 * syaw))
    buttons[turbo] = 1
    # turbo yaw is upstream's default 1.0 (no file sets it), not ours
    assert pad.update(axes, buttons) == pytest.approx((0.5 * tx, 0.0, -0.25 * 1.0))


def test_left_stick_sideways_only_turns_with_the_xbox_file():
    """The issue's case: upstream's xbox file on a left stick pushed left gives a pure turn."""
    pad, _ = _teleop([UPSTREAM["xbox"]])
    axes, buttons = _joy(a0=1.0, b2=1)
    assert pad.update(axes, buttons) == pytest.approx((0.0, 0.0, 0.4))


def test_no_file_means_upstream_code_defaults():
    pad, reading = _teleop([])
    assert reading.defaults == {}
    c = pad.config
    assert (c.enable_button, c.enable_turbo_button, c.require_enable_button) == (5, -1, True)
    assert c.axis_linear == {"x": 5, "y": -1, "z": -1} and c.axis_angular["yaw"] == 2
    assert c.scale_linear["x"] == 0.5 and c.scale_linear["y"] == 0.0
    assert c.scale_angular["yaw"] == 0.5 and c.scale_angular_turbo["yaw"] == 1.0
    assert jp.TELEOP_DEFAULTS["frame"] == "teleop_twist_joy"


def test_unknown_keys_are_reported_not_swallowed(tmp_path):
    text = UPSTREAM["atk3"].read_text() + "    use_fort: false\n    scale_lineer: {x: 2.0}\n"
    f = tmp_path / "atk3_fork.yaml"
    f.write_text(text)
    reading = jp.read_params_files([f], "joy_teleop")
    assert reading.unknown == [
        f"{f}: teleop_twist_joy_node: use_fort",
        f"{f}: teleop_twist_joy_node: scale_lineer.x",
    ]
    assert reading.defaults["enable_button"] == 0  # the known keys still apply


def test_section_keys_upstream_wildcard_own_and_others(tmp_path):
    f = tmp_path / "mixed.yaml"
    f.write_text(
        "/**:\n  ros__parameters:\n    enable_button: 3\n    some_other_nodes_key: 1\n"
        "/teleop_twist_joy_node:\n  ros__parameters:\n    axis_angular: {yaw: 3}\n"
        "joy_node:\n  ros__parameters:\n    deadzone: 0.3\n    autorepeat_rate: 20.0\n"
        "    sticky_buttons: false\n"
        "joy_teleop:\n  ros__parameters:\n    device_index: 1\n"
        "twist_mux:\n  ros__parameters:\n    topics: {joy: {topic: cmd_vel}}\n"
    )
    reading = jp.read_params_files([f], "joy_teleop")
    # /** and our own name are applied by rcl itself; upstream names become defaults here
    assert reading.defaults == {"axis_angular.yaw": 3, "deadzone": 0.3, "autorepeat_rate": 20.0}
    assert reading.unknown == [f"{f}: joy_teleop: device_index"]  # renamed to joy's device_id
    assert reading.ineffective == [f"{f}: joy_node: sticky_buttons"]
    assert len(reading.sections) == 4  # twist_mux's section is not ours to judge


def test_broken_files_are_errors_not_crashes(tmp_path):
    bad = tmp_path / "bad.yaml"
    bad.write_text("teleop_twist_joy_node: [1, 2\n")
    flat = tmp_path / "flat.yaml"
    flat.write_text("teleop_twist_joy_node:\n  enable_button: 2\n")  # ROS 1 style, no ros__parameters
    reading = jp.read_params_files([bad, flat, tmp_path / "missing.yaml"], "joy_teleop")
    assert len(reading.errors) == 3 and reading.defaults == {}


def test_params_files_only_inside_ros_args():
    argv = ["joy_teleop", "--params-file", "not_ros.yaml", "--ros-args", "-r", "__node:=x"]
    argv += ["--params-file", "a.yaml", "-p", "enable_button:=1", "--params-file", "b.yaml", "--", "c"]
    assert jp.params_files_from_argv(argv) == [Path("a.yaml"), Path("b.yaml")]


def test_coerce_types_like_rcl_would_want():
    assert jp.coerce("scale_linear.x", 1) == 1.0 and isinstance(jp.coerce("scale_linear.x", 1), float)
    with pytest.raises(ValueError):
        jp.coerce("enable_button", 2.0)  # rclcpp rejects a double for an integer parameter too
    with pytest.raises(ValueError):
        jp.coerce("require_enable_button", "yes")


def test_axis_conversion_is_the_joy_drivers():
    assert axis_to_ros(-32768, 0.0) == pytest.approx(1.0)  # stick up / left reads +1
    assert axis_to_ros(32767, 0.0) == pytest.approx(-1.0)
    assert axis_to_ros(0, 0.05) == 0.0
    assert axis_to_ros(int(0.04 * 32767), 0.05) == 0.0  # stick drift inside the deadzone
    half = 0.05 * 32767 + 0.5 * (1 - 0.05) * 32767  # halfway between deadzone edge and full scale
    assert axis_to_ros(-half, 0.05) == pytest.approx(0.5, abs=1e-4)  # continuous from the edge
    assert axis_to_ros(-32768, 0.05) == pytest.approx(1.0)  # full deflection keeps full scale
    assert axis_to_ros(math.nan, 0.05) == 0.0
    assert axis_to_ros(32767, 0.0) == pytest.approx(-1.0)  # a GameController trigger fully pressed
    assert hat_to_axes(-1, 1) == (1.0, 1.0) and hat_to_axes(1, -1) == (-1.0, -1.0)  # joy_node's hats
