"""joy_teleop: a gamepad (SDL via pygame) -> /cmd_vel, speaking teleop_twist_joy's config files.

It is ``joy`` (``game_controller_node`` numbering by default, ``joy_node`` numbering with
``device_mapping:=joystick``) and ``teleop_twist_joy`` in one process: it reads the pad directly at
``autorepeat_rate`` Hz, streams while the enable button is held and sends one zero command on
release. An unmodified upstream config file (keyed ``teleop_twist_joy_node``, or ``/**``) works as
it is; keys it does not understand are reported as warnings at start-up (g1_bringup.teleop.joy_params).
"""

from __future__ import annotations

import os
import sys

from rcl_interfaces.msg import ParameterDescriptor
from rclpy.node import Node

from g1_bringup.cmd_vel_io import make_cmd_vel_publisher
from g1_bringup.teleop import joy_params as jp
from g1_bringup.teleop.gamepad import MAPPINGS, GamepadReader
from g1_bringup.teleop_core import JoyTeleop, JoyTeleopConfig
from twist_controller.node_main import run_node

NODE_NAME = "joy_teleop"


class JoyTeleopNode(Node):
    def __init__(self, argv: list[str] | None = None) -> None:
        super().__init__(NODE_NAME)
        log = self.get_logger()
        files = jp.params_files_from_argv(sys.argv if argv is None else argv)
        reading = jp.read_params_files(files, NODE_NAME)
        for err in reading.errors:
            log.error(f"params file: {err}")
        for line in reading.unknown:
            log.warning(f"UNKNOWN PARAMETER, ignored: {line} (known: teleop_twist_joy's and joy's names)")
        for line in reading.ineffective:
            log.warning(f"joy parameter without effect here: {line}")
        for s in reading.sections:
            log.info(f"parameters from {s}")
        values = {
            name: self._declare(name, reading.defaults.get(name, default))
            for name, default in jp.ALL_DEFAULTS.items()
        }

        self.teleop = JoyTeleop(JoyTeleopConfig.from_flat({k: values[k] for k in jp.TELEOP_DEFAULTS}))
        self.device_index = max(0, int(values["device_id"]))
        self.device_name = str(values["device_name"])
        self.deadzone = min(max(float(values["deadzone"]), 0.0), 0.99)
        self.mapping = str(values["device_mapping"])
        if self.mapping not in MAPPINGS:
            log.error(f"device_mapping {self.mapping!r} is not one of {MAPPINGS}; using game_controller")
            self.mapping = "game_controller"
        rate = float(values["autorepeat_rate"])
        if not 0.0 < rate <= 1000.0:
            log.error(f"autorepeat_rate {rate} out of (0, 1000]; using 20 Hz")
            rate = 20.0
        self.publish = make_cmd_vel_publisher(
            self, "/cmd_vel", bool(values["publish_stamped_twist"]), str(values["frame"])
        )
        c = self.teleop.config
        log.info(
            f"enable button {c.enable_button} (required: {c.require_enable_button}), "
            f"turbo {c.enable_turbo_button}; "
            f"axes x {c.axis_linear.get('x')} y {c.axis_linear.get('y')} yaw {c.axis_angular.get('yaw')}; "
            f"numbering {self.mapping}"
        )
        os.environ.setdefault("SDL_VIDEODRIVER", "dummy")  # no window needed
        import pygame

        self.pygame = pygame
        pygame.init()
        pygame.joystick.init()
        self.pad: GamepadReader | None = None
        self._next_scan = 0.0
        self.create_timer(1.0 / rate, self._tick)

    def _declare(self, name: str, default: object) -> object:
        """Declare with upstream's default (or the upstream-keyed file's value); a value of the wrong
        type from any source is reported and replaced by the default instead of killing the node."""
        try:
            value = self.declare_parameter(name, default, ParameterDescriptor(dynamic_typing=True)).value
            return jp.coerce(name, value)
        except ValueError as exc:
            fallback = jp.ALL_DEFAULTS[name]
            self.get_logger().error(f"{exc}; using teleop_twist_joy's default {fallback!r}")
            return fallback

    def _find_device(self) -> int | None:
        pg = self.pygame
        count = pg.joystick.get_count()
        if self.device_name:
            for i in range(count):
                if pg.joystick.Joystick(i).get_name() == self.device_name:
                    return i
            return None
        return self.device_index if count > self.device_index else None

    def _connect(self) -> None:
        index = self._find_device()
        if index is None:
            self.get_logger().warning(
                "no gamepad found; plug one in (checking every 2 s) or use key_teleop",
                throttle_duration_sec=10.0,
            )
            return
        try:
            self.pad = GamepadReader(self.pygame, index, self.mapping, self.deadzone)
        except (LookupError, self.pygame.error) as exc:
            self.get_logger().error(f"cannot use gamepad {index}: {exc}", throttle_duration_sec=10.0)
            return
        self.get_logger().info(f"gamepad: {self.pad.describe()}")

    def _tick(self) -> None:
        pg = self.pygame
        for event in pg.event.get():  # also pumps SDL's hot-plug detection (get_count() follows it)
            if event.type == getattr(pg, "JOYDEVICEREMOVED", -1):
                if self.pad is not None and event.instance_id == self.pad.instance_id:
                    self.get_logger().warning("gamepad removed: sending zero command")
                    self.pad.close()
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
        sample = self.pad.read()
        cmd = self.teleop.update(sample.axes, sample.buttons)
        if cmd is not None:
            self.publish(*cmd)


def main(argv: list[str] | None = None) -> int:
    return run_node(lambda: JoyTeleopNode(argv), argv)


if __name__ == "__main__":
    sys.exit(main())
