"""Teleop logic without ROS: Joy axes/buttons -> velocity command, keyboard keys -> command,
and scripted command profiles for headless demos.

The gamepad mapping follows teleop_twist_joy's parameters and behaviour exactly (so users' YAML
files carry over): ``require_enable_button``, ``enable_button``, ``enable_turbo_button``,
``axis_linear.{x,y,z}``, ``scale_linear[_turbo].{x,y,z}``, ``axis_angular.{yaw,pitch,roll}``,
``scale_angular[_turbo].{yaw,pitch,roll}``, ``inverted_reverse``. On release of the enable button
it sends ONE zero command and then nothing: the CMG node's /cmd_vel timeout handles the rest.
The axes are Joy values (the joy drivers' deadzone already applied: g1_bringup.teleop.gamepad);
only the three components a G1 velocity command has (linear x/y, yaw) are produced.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field

# (linear x, linear y, angular z): the three numbers a G1 velocity command has
Command = tuple[float, float, float]


@dataclass
class JoyTeleopConfig:
    """teleop_twist_joy's parameters with its code's defaults (ros2/teleop_twist_joy): an
    unconfigured pad drives like an unconfigured teleop_twist_joy (forward on axis 5, turn on axis 2,
    no side step, enable button 5)."""

    require_enable_button: bool = True
    enable_button: int = 5  # teleop_twist_joy's code default (its README says 0): set it per pad
    enable_turbo_button: int = -1
    axis_linear: dict[str, int] = field(default_factory=lambda: {"x": 5, "y": -1, "z": -1})
    scale_linear: dict[str, float] = field(default_factory=lambda: {"x": 0.5, "y": 0.0, "z": 0.0})
    scale_linear_turbo: dict[str, float] = field(default_factory=lambda: {"x": 1.0, "y": 0.0, "z": 0.0})
    axis_angular: dict[str, int] = field(default_factory=lambda: {"yaw": 2, "pitch": -1, "roll": -1})
    scale_angular: dict[str, float] = field(default_factory=lambda: {"yaw": 0.5, "pitch": 0.0, "roll": 0.0})
    scale_angular_turbo: dict[str, float] = field(
        default_factory=lambda: {"yaw": 1.0, "pitch": 0.0, "roll": 0.0}
    )
    inverted_reverse: bool = False

    @classmethod
    def from_flat(cls, params: dict[str, object]) -> JoyTeleopConfig:
        """Build from dotted parameter names (``axis_linear.x`` ...); missing names keep defaults."""
        cfg = cls()
        for name, value in params.items():
            group, _, key = name.partition(".")
            if key and isinstance(getattr(cfg, group, None), dict):
                getattr(cfg, group)[key] = value
            elif not key and hasattr(cfg, name):
                setattr(cfg, name, value)
        return cfg


def _axis(axes: Sequence[float], index: int, scale: float) -> float:
    if index < 0 or index >= len(axes):
        return 0.0
    value = float(axes[index])
    if not math.isfinite(value):
        return 0.0  # a broken driver value never becomes a command
    return max(-1.0, min(1.0, value)) * scale


def _pressed(buttons: Sequence[int], index: int) -> bool:
    return 0 <= index < len(buttons) and bool(buttons[index])


class JoyTeleop:
    """Stateful mapping (it remembers whether the one zero command on release was sent)."""

    def __init__(self, config: JoyTeleopConfig | None = None):
        self.config = config or JoyTeleopConfig()
        self._sent_disable = False

    def update(self, axes: Sequence[float], buttons: Sequence[int]) -> Command | None:
        """Command to publish for this joystick sample, or None to publish nothing."""
        c = self.config
        if c.enable_turbo_button >= 0 and _pressed(buttons, c.enable_turbo_button):
            return self._command(axes, c.scale_linear_turbo, c.scale_angular_turbo)
        if not c.require_enable_button or _pressed(buttons, c.enable_button):
            return self._command(axes, c.scale_linear, c.scale_angular)
        if not self._sent_disable:
            self._sent_disable = True
            return (0.0, 0.0, 0.0)
        return None

    def _command(self, axes, lin: dict[str, float], ang: dict[str, float]) -> Command:
        c = self.config
        vx = _axis(axes, c.axis_linear.get("x", -1), lin.get("x", 0.0))
        vy = _axis(axes, c.axis_linear.get("y", -1), lin.get("y", 0.0))
        wz = _axis(axes, c.axis_angular.get("yaw", -1), ang.get("yaw", 0.0))
        if c.inverted_reverse and vx < 0:
            wz = -wz
        self._sent_disable = False
        return (vx, vy, wz)


# ---- keyboard ------------------------------------------------------------------------------------
KEY_HELP = """keyboard teleop for the G1:
  w / s : forward / backward (+-step)      a / d : left / right (+-step)
  q / e : turn left / right (+-step)       space : stop (all zero)
  x     : quit"""


@dataclass
class KeyTeleopConfig:
    step_linear: float = 0.1  # m/s per key press
    step_angular: float = 0.1  # rad/s per key press
    max_vx: float = 1.5
    max_vy: float = 0.5
    max_wz: float = 1.0


class KeyTeleop:
    """Accumulates key presses into a held command (like teleop_twist_keyboard's speed keys)."""

    def __init__(self, config: KeyTeleopConfig | None = None):
        self.config = config or KeyTeleopConfig()
        self.command: list[float] = [0.0, 0.0, 0.0]

    def press(self, key: str) -> bool:
        """Apply one key; returns False when the user asked to quit."""
        c = self.config
        steps = {
            "w": (0, c.step_linear),
            "s": (0, -c.step_linear),
            "a": (1, c.step_linear),
            "d": (1, -c.step_linear),
            "q": (2, c.step_angular),
            "e": (2, -c.step_angular),
        }
        if key == "x":
            return False
        if key == " ":
            self.command = [0.0, 0.0, 0.0]
        elif key in steps:
            i, delta = steps[key]
            limit = (c.max_vx, c.max_vy, c.max_wz)[i]
            self.command[i] = round(max(-limit, min(limit, self.command[i] + delta)), 6)
        return True


# ---- scripted profiles ----------------------------------------------------------------------------
@dataclass(frozen=True)
class ProfileSegment:
    duration: float  # s
    vx: float = 0.0
    vy: float = 0.0
    wz: float = 0.0


DEMO_PROFILE: tuple[ProfileSegment, ...] = (
    ProfileSegment(3.0),  # stand
    ProfileSegment(5.0, vx=0.5),  # walk
    ProfileSegment(4.0, vx=1.0),  # faster
    ProfileSegment(4.0, vx=0.5, wz=0.5),  # arc
    ProfileSegment(3.0, vy=0.2),  # side step
    ProfileSegment(4.0, wz=0.6),  # turn in place
    ProfileSegment(3.0),  # stop
)


def parse_profile(spec: str) -> tuple[ProfileSegment, ...]:
    """Parse 'duration:vx:vy:wz,duration:vx:vy:wz,...' (missing trailing values are 0) or 'demo'."""
    if spec.strip() in ("", "demo"):
        return DEMO_PROFILE
    segments = []
    for part in spec.split(","):
        fields = [float(v) for v in part.split(":")]
        if not 1 <= len(fields) <= 4 or not all(math.isfinite(v) for v in fields) or fields[0] <= 0:
            raise ValueError(f"bad profile segment {part!r}: expected duration[:vx[:vy[:wz]]], duration > 0")
        segments.append(ProfileSegment(*fields))
    return tuple(segments)


def profile_command(profile: Sequence[ProfileSegment], t: float, loop: bool = False) -> Command | None:
    """Command at time t into the profile; None once a non-looping profile has ended."""
    total = sum(s.duration for s in profile)
    if total <= 0:
        return None
    if loop:
        t = t % total
    elif t >= total:
        return None
    for seg in profile:
        if t < seg.duration:
            return (seg.vx, seg.vy, seg.wz)
        t -= seg.duration
    return None
