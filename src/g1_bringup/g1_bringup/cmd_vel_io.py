"""Publishing /cmd_vel as geometry_msgs/Twist or TwistStamped (Jazzy moved to stamped)."""

from __future__ import annotations

from collections.abc import Callable

from geometry_msgs.msg import Twist, TwistStamped


def declare_cmd_vel_parameters(node) -> tuple[bool, str]:
    """Declare the teleop_twist_joy-style output parameters; returns (stamped, frame_id)."""
    stamped = bool(node.declare_parameter("publish_stamped_twist", False).value)
    frame = str(node.declare_parameter("frame", "base_link").value)
    return stamped, frame


def make_cmd_vel_publisher(
    node, topic: str = "/cmd_vel", stamped: bool = False, frame: str = "base_link"
) -> Callable[[float, float, float], None]:
    """Return publish(vx, vy, wz) for Twist or TwistStamped on ``topic``."""
    if stamped:
        pub = node.create_publisher(TwistStamped, topic, 10)

        def publish(vx: float, vy: float, wz: float) -> None:
            msg = TwistStamped()
            msg.header.stamp = node.get_clock().now().to_msg()
            msg.header.frame_id = frame
            msg.twist.linear.x, msg.twist.linear.y, msg.twist.angular.z = float(vx), float(vy), float(wz)
            pub.publish(msg)

    else:
        pub = node.create_publisher(Twist, topic, 10)

        def publish(vx: float, vy: float, wz: float) -> None:
            msg = Twist()
            msg.linear.x, msg.linear.y, msg.angular.z = float(vx), float(vy), float(wz)
            pub.publish(msg)

    return publish
