"""Teleop mapping follows teleop_twist_joy; keyboard and scripted profiles behave."""

import math

import pytest

from g1_bringup.teleop_core import (
    DEMO_PROFILE,
    JoyTeleop,
    JoyTeleopConfig,
    KeyTeleop,
    parse_profile,
    profile_command,
)

# A holonomic pad config (left stick x/y, right stick yaw on axis 3), set explicitly: the defaults
# are teleop_twist_joy's (test_joy_upstream_configs.py checks those).
HOLONOMIC = dict(
    axis_linear={"x": 1, "y": 0, "z": -1},
    scale_linear={"x": 0.8, "y": 0.3, "z": 0.0},
    scale_linear_turbo={"x": 1.5, "y": 0.3, "z": 0.0},
    axis_angular={"yaw": 3, "pitch": -1, "roll": -1},
    scale_angular={"yaw": 0.8, "pitch": 0.0, "roll": 0.0},
    scale_angular_turbo={"yaw": 0.8, "pitch": 0.0, "roll": 0.0},
)


def _pad(**kw):
    cfg = JoyTeleopConfig(enable_button=4, enable_turbo_button=5, **{**HOLONOMIC, **kw})
    return JoyTeleop(cfg)


AXES = [0.5, 1.0, 0.0, -0.25]  # axis0 = lateral, axis1 = forward, axis3 = yaw


def test_enable_button_gates_motion_and_release_sends_one_zero():
    pad = _pad()
    assert pad.update(AXES, [0] * 8) == (0.0, 0.0, 0.0)  # first sample without enable: one zero
    assert pad.update(AXES, [0] * 8) is None  # then nothing
    held = [0, 0, 0, 0, 1, 0, 0, 0]
    assert pad.update(AXES, held) == pytest.approx((0.8, 0.15, -0.2))
    assert pad.update(AXES, held) == pytest.approx((0.8, 0.15, -0.2))  # streams while held
    assert pad.update(AXES, [0] * 8) == (0.0, 0.0, 0.0)
    assert pad.update(AXES, [0] * 8) is None


def test_turbo_wins_and_uses_turbo_scales():
    pad = _pad()
    assert pad.update(AXES, [0, 0, 0, 0, 1, 1, 0, 0]) == pytest.approx((1.5, 0.15, -0.2))


def test_no_enable_required_and_bad_axes_are_zero():
    pad = _pad(require_enable_button=False, axis_angular={"yaw": 9})
    vx, vy, wz = pad.update([math.nan, 0.5], [])
    assert (vx, vy, wz) == (pytest.approx(0.4), 0.0, 0.0)  # NaN axis -> 0; out-of-range axis -> 0
    vx, _, _ = pad.update([0.0, 7.0], [])
    assert vx == pytest.approx(0.8)  # a driver value past full scale is clipped


def test_from_flat_takes_dotted_names_and_keeps_the_rest():
    cfg = JoyTeleopConfig.from_flat({"axis_linear.y": 0, "enable_button": 2, "scale_angular.yaw": 0.4})
    assert cfg.axis_linear == {"x": 5, "y": 0, "z": -1} and cfg.enable_button == 2
    assert cfg.scale_angular["yaw"] == 0.4 and cfg.scale_angular_turbo["yaw"] == 1.0


def test_inverted_reverse_flips_yaw_when_backing_up():
    pad = _pad(require_enable_button=False, inverted_reverse=True)
    vx, _, wz = pad.update([0.0, -1.0, 0.0, 0.5], [])
    assert vx < 0 and wz == pytest.approx(-0.4)


def test_keyboard_accumulates_and_clamps():
    k = KeyTeleop()
    for _ in range(30):
        k.press("w")
    assert k.command[0] == pytest.approx(1.5)
    k.press("q")
    k.press("a")
    assert k.command[1:] == pytest.approx([0.1, 0.1])
    k.press(" ")
    assert k.command == [0.0, 0.0, 0.0]
    assert k.press("x") is False


def test_profiles():
    assert parse_profile("demo") == DEMO_PROFILE
    prof = parse_profile("1:0.5,2:0:0.2:0.3")
    assert profile_command(prof, 0.5) == (0.5, 0.0, 0.0)
    assert profile_command(prof, 1.5) == (0.0, 0.2, 0.3)
    assert profile_command(prof, 3.5) is None
    assert profile_command(prof, 3.5, loop=True) == (0.5, 0.0, 0.0)
    for bad in ("0:1", "1:nan", "a:b", "1:2:3:4:5"):
        with pytest.raises(ValueError):
            parse_profile(bad)
