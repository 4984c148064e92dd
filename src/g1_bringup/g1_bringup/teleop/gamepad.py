"""Reading a gamepad through SDL (pygame's bundled SDL2) into ``sensor_msgs/Joy`` numbers.

Two numberings, the two ROS 2 ``joy`` drivers:

* ``game_controller`` (default), like ``ros2 run joy game_controller_node``: SDL's GameController
  API, which uses SDL's mapping database so every known pad gets the same order: buttons
  A, B, X, Y, BACK, GUIDE, START, LEFTSTICK, RIGHTSTICK, LEFTSHOULDER, RIGHTSHOULDER, DPAD_UP,
  DPAD_DOWN, DPAD_LEFT, DPAD_RIGHT, MISC1, PADDLE1-4, TOUCHPAD (indices 0-20); axes LEFTX, LEFTY,
  RIGHTX, RIGHTY, TRIGGERLEFT, TRIGGERRIGHT (0-5). A config written for one pad means the same on
  another.
* ``joystick``, like ``ros2 run joy joy_node`` (the node teleop_twist_joy's own launch file starts):
  SDL's raw joystick order, which is whatever the device and its kernel driver report, with every
  hat appended as two axes (left/right, up/down).

Values follow the joy drivers exactly (``convertRawAxisValueToROS``): the raw int16 is clamped to
±32767, the deadzone is subtracted (so the output grows continuously from 0 at its edge), and the
result is scaled to ±1 with the sign flipped, so stick up and stick left read +1. Triggers in
``game_controller`` numbering therefore rest at 0 and read -1 fully pressed, as in
game_controller_node.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

MAPPINGS = ("game_controller", "joystick")
N_CONTROLLER_BUTTONS = 21  # SDL_CONTROLLER_BUTTON_MAX (SDL >= 2.0.14), as game_controller_node sizes Joy
N_CONTROLLER_AXES = 6  # SDL_CONTROLLER_AXIS_MAX


def axis_to_ros(raw: int | float, deadzone: float) -> float:
    """An SDL axis value (int16) as the joy drivers publish it, deadzone applied."""
    if not math.isfinite(raw):
        return 0.0  # a broken driver value never becomes a command
    dz = min(max(float(deadzone), 0.0), 0.99)
    v = max(-32767.0, min(32767.0, float(raw)))
    unscaled = 32767.0 * dz
    if v > unscaled:
        v -= unscaled
    elif v < -unscaled:
        v += unscaled
    else:
        return 0.0
    return -v / (1.0 - dz) / 32767.0


def hat_to_axes(x: int, y: int) -> tuple[float, float]:
    """A pygame hat (x right = +1, y up = +1) as joy_node's two axes (left = +1, up = +1)."""
    return (-float(x), float(y))


@dataclass
class JoySample:
    axes: list[float]
    buttons: list[int]


class GamepadReader:
    """One open pad, read in the chosen numbering. Thin: all conversion is in the functions above."""

    def __init__(self, pygame, device_index: int, mapping: str, deadzone: float):
        if mapping not in MAPPINGS:
            raise ValueError(f"device_mapping must be one of {MAPPINGS}, got {mapping!r}")
        self.pg = pygame
        self.mapping = mapping
        self.deadzone = deadzone
        self.joystick = pygame.joystick.Joystick(device_index)
        self.controller = None
        if mapping == "game_controller":
            from pygame._sdl2 import controller

            if not controller.get_init():
                controller.init()
            if not controller.is_controller(device_index):
                raise LookupError(
                    f"{self.joystick.get_name()!r} has no SDL game-controller mapping: add one with "
                    "SDL_GAMECONTROLLERCONFIG, or set device_mapping:=joystick (joy_node numbering)"
                )
            self.controller = controller.Controller(device_index)

    @property
    def instance_id(self) -> int:
        return self.joystick.get_instance_id()

    def name(self) -> str:
        return self.joystick.get_name()

    def describe(self) -> str:
        j = self.joystick
        raw = f"{j.get_numaxes()} axes, {j.get_numbuttons()} buttons, {j.get_numhats()} hats"
        return f"{self.name()} ({raw}; numbering: {self.mapping})"

    def read(self) -> JoySample:
        if self.controller is not None:
            c = self.controller
            axes = [axis_to_ros(c.get_axis(i), self.deadzone) for i in range(N_CONTROLLER_AXES)]
            buttons = [int(bool(c.get_button(i))) for i in range(N_CONTROLLER_BUTTONS)]
            return JoySample(axes, buttons)
        j = self.joystick
        # pygame returns SDL's int16 / 32768; undo that to apply joy_node's arithmetic to the raw value
        axes = [axis_to_ros(round(j.get_axis(i) * 32768.0), self.deadzone) for i in range(j.get_numaxes())]
        for h in range(j.get_numhats()):
            axes.extend(hat_to_axes(*j.get_hat(h)))
        buttons = [int(bool(j.get_button(i))) for i in range(j.get_numbuttons())]
        return JoySample(axes, buttons)

    def close(self) -> None:
        if self.controller is not None:
            self.controller.quit()
            self.controller = None
