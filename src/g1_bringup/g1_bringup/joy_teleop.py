"""joy_teleop: a gamepad (SDL via pygame) -> /cmd_vel, with teleop_twist_joy's parameters.

Reads the pad directly (no `joy` node needed) at ``autorepeat_rate`` Hz, so it streams while the
enable button is held and sends one zero command on release, exactly like joy + teleop_twist_joy.
Runs beside a real teleop_twist_joy: both only speak /cmd_vel. Pad configs: config/joy_*.yaml.
"""

from __future__ import annotations

import os
import sys

from rclpy.node import Node

from g1_bringup.cmd_vel_io import declare_cmd_vel_parameters, make_cmd_vel_publisher
from g1_bringup.teleop_core import JoyTeleop, JoyTeleopConfig
from twist_controller.node_main import run_node


def _declare_map(node: Node, prefix: str, defaults: dict) -> dict:
    return {k: node.declare_parameter(f"{prefix}.{k}", v).value for k, v in defaults.items()}


class JoyTeleopNode(Node):
    def __init__(self) -> None:
        super().__init__("joy_teleop")
        d = JoyTeleopConfig()
        cfg = JoyTeleopConfig(
            require_enable_button=self.declare_parameter(
                "require_enable_button", d.require_enable_button
            ).value,
            enable_button=self.declare_parameter("enable_button", d.enable_button).value,
            enable_turbo_button=self.declare_parameter("enable_turbo_button", d.enable_turbo_button).value,
            axis_linear=_declare_map(self, "axis_linear", d.axis_linear),
            scale_linear=_declare_map(self, "scale_linear", d.scale_linear),
            scale_linear_turbo=_declare_map(self, "scale_linear_turbo", d.scale_linear_turbo),
            axis_angular=_declare_map(self, "axis_angular", d.axis_angular),
            scale_angular=_declare_map(self, "scale_angular", d.scale_angular),
            scale_angular_turbo=_declare_map(self, "scale_angular_turbo", d.scale_angular_turbo),
            inverted_reverse=self.declare_parameter("inverted_reverse", d.inverted_reverse).value,
            deadzone=float(self.declare_parameter("deadzone", d.deadzone).value),
        )
        self.teleop = JoyTeleop(cfg)
        self.device_index = int(self.declare_parameter("device_index", 0).value)
        rate = float(self.declare_parameter("autorepeat_rate", 20.0).value)
        self.publish = make_cmd_vel_publisher(self, "/cmd_vel", *declare_cmd_vel_parameters(self))
        os.environ.setdefault("SDL_VIDEODRIVER", "dummy")  # no window needed
        import pygame

        self.pygame = pygame
        pygame.init()
        pygame.joystick.init()
        self.pad = None
        self._next_scan = 0.0
        self.create_timer(1.0 / rate, self._tick)

    def _connect(self) -> None:
        pg = self.pygame
        if pg.joystick.get_count() > self.device_index:
            self.pad = pg.joystick.Joystick(self.device_index)
            self.get_logger().info(f"gamepad: {self.pad.get_name()} ({self.pad.get_numaxes()} axes)")
        else:
            self.get_logger().warning(
                "no gamepad found; plug one in (checking every 2 s) or use key_teleop",
                throttle_duration_sec=10.0,
            )

    def _tick(self) -> None:
        pg = self.pygame
        for event in pg.event.get():  # also pumps SDL's hot-plug detection (get_count() follows it)
            if event.type == getattr(pg, "JOYDEVICEREMOVED", -1):
                if self.pad is not None and event.instance_id == self.pad.get_instance_id():
                    self.get_logger().warning("gamepad removed: sending zero command")
                    self.pad = None
                    self.publish(0.0, 0.0, 0.0)
            elif event.type == getattr(pg, "JOYDEVICEADDED", -1):
                if self.pad is None:
                    self._next_scan = 0.0  # connect now; a second pad never replaces the one in use
        if self.pad is None:
            now = self.get_clock().now().nanoseconds * 1e-9
            if now >= self._next_scan:  # SDL2 tracks hot-plug itself: no subsystem restart needed
                self._next_scan = now + 2.0
                self._connect()
            if self.pad is None:
                return
        axes = [self.pad.get_axis(i) for i in range(self.pad.get_numaxes())]
        axes = [-a for a in axes]  # SDL: stick up/left = -1; ROS joy: stick up/left = +1
        buttons = [self.pad.get_button(i) for i in range(self.pad.get_numbuttons())]
        cmd = self.teleop.update(axes, buttons)
        if cmd is not None:
            self.publish(*cmd)


def main(argv: list[str] | None = None) -> int:
    return run_node(JoyTeleopNode, argv)


if __name__ == "__main__":
    sys.exit(main())
