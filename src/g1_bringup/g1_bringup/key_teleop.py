"""key_teleop: drive the G1 from a terminal keyboard (w/s, a/d, q/e, space, x) -> /cmd_vel.

Publishes the held command at ``rate`` Hz so the CMG node's /cmd_vel timeout does not fire while
the user is driving; on quit it sends a zero command.
"""

from __future__ import annotations

import select
import sys
import termios
import tty

import rclpy
from rclpy.node import Node

from g1_bringup.cmd_vel_io import declare_cmd_vel_parameters, make_cmd_vel_publisher
from g1_bringup.teleop_core import KEY_HELP, KeyTeleop, KeyTeleopConfig
from twist_controller.node_main import init_ros


class KeyTeleopNode(Node):
    def __init__(self) -> None:
        super().__init__("key_teleop")
        d = KeyTeleopConfig()
        self.keys = KeyTeleop(
            KeyTeleopConfig(
                step_linear=self.declare_parameter("step_linear", d.step_linear).value,
                step_angular=self.declare_parameter("step_angular", d.step_angular).value,
            )
        )
        self.rate = float(self.declare_parameter("rate", 20.0).value)
        self.publish = make_cmd_vel_publisher(self, "/cmd_vel", *declare_cmd_vel_parameters(self))


def main(argv: list[str] | None = None) -> int:
    init_ros(argv)  # Ctrl-C interrupts the loop; the context stays valid for the final zero command
    node = KeyTeleopNode()
    if not sys.stdin.isatty():
        node.get_logger().error("key_teleop needs an interactive terminal (stdin is not a TTY)")
        return 2
    print(KEY_HELP)
    old = termios.tcgetattr(sys.stdin)
    try:
        tty.setcbreak(sys.stdin.fileno())
        running = True
        while running and rclpy.ok():
            ready, _, _ = select.select([sys.stdin], [], [], 1.0 / node.rate)
            if ready:
                running = node.keys.press(sys.stdin.read(1))
                vx, vy, wz = node.keys.command
                print(f"\rvx {vx:+.2f} m/s  vy {vy:+.2f} m/s  yaw {wz:+.2f} rad/s   ", end="", flush=True)
            node.publish(*node.keys.command)
            rclpy.spin_once(node, timeout_sec=0.0)
    except KeyboardInterrupt:
        pass
    finally:
        node.publish(0.0, 0.0, 0.0)
        termios.tcsetattr(sys.stdin, termios.TCSADRAIN, old)
        print()
        node.destroy_node()
        if rclpy.ok():
            rclpy.shutdown()
    return 0


if __name__ == "__main__":
    sys.exit(main())
