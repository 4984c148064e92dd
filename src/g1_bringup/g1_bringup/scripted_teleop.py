"""scripted_teleop: publish a command profile on /cmd_vel (headless demos, tests, benchmarks).

Parameter ``profile``: "demo" (stand, walk, faster, arc, side step, turn, stop) or
"duration:vx:vy:wz,..." segments; ``loop`` repeats it; ``rate`` Hz (default 20). When a
non-looping profile ends it sends one zero command and stops publishing.

``wait_for_policy`` (default true): the profile clock starts only once the bridge reports POLICY on
/controller_state, plus ``start_delay_s`` (e.g. until the simulator's band is released), so a demo's
commands are not spent while the robot is still being stood up. Zero commands are sent meanwhile.
"""

from __future__ import annotations

import sys

from rclpy.duration import Duration
from rclpy.node import Node

from g1_bringup.cmd_vel_io import declare_cmd_vel_parameters, make_cmd_vel_publisher
from g1_bringup.teleop_core import parse_profile, profile_command
from twist_controller.node_main import run_node


class ScriptedTeleopNode(Node):
    def __init__(self) -> None:
        super().__init__("scripted_teleop")
        spec = str(self.declare_parameter("profile", "demo").value)
        self.loop = bool(self.declare_parameter("loop", False).value)
        rate = float(self.declare_parameter("rate", 20.0).value)
        try:
            self.profile = parse_profile(spec)
        except ValueError as exc:
            self.get_logger().error(f"{exc}; using the demo profile")
            self.profile = parse_profile("demo")
        self.wait_for_policy = bool(self.declare_parameter("wait_for_policy", True).value)
        self.start_delay = float(self.declare_parameter("start_delay_s", 0.0).value)
        self.publish = make_cmd_vel_publisher(self, "/cmd_vel", *declare_cmd_vel_parameters(self))
        self.t0 = None if self.wait_for_policy else self.get_clock().now()
        self.done = False
        if self.wait_for_policy:
            from twist_msgs.msg import ControllerState

            self.create_subscription(ControllerState, "/controller_state", self._on_state, 10)
            self.get_logger().info("waiting for the bridge to report POLICY before starting the profile")
        self.create_timer(1.0 / rate, self._tick)
        total = sum(s.duration for s in self.profile)
        self.get_logger().info(f"profile of {len(self.profile)} segments, {total:.1f} s, loop={self.loop}")

    def _on_state(self, msg) -> None:
        if self.t0 is None and msg.mode_name == "POLICY":
            self.t0 = self.get_clock().now() + Duration(seconds=self.start_delay)
            self.get_logger().info(f"bridge in POLICY: profile starts in {self.start_delay:.1f} s")

    def _tick(self) -> None:
        if self.done:
            return
        if self.t0 is None or self.get_clock().now() < self.t0:
            self.publish(0.0, 0.0, 0.0)  # stand while the robot is brought up
            return
        t = (self.get_clock().now() - self.t0).nanoseconds * 1e-9
        cmd = profile_command(self.profile, t, self.loop)
        if cmd is None:
            self.publish(0.0, 0.0, 0.0)
            self.done = True
            self.get_logger().info("profile finished")
            return
        self.publish(*cmd)


def main(argv: list[str] | None = None) -> int:
    return run_node(ScriptedTeleopNode, argv)


if __name__ == "__main__":
    sys.exit(main())
