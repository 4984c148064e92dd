"""Teleoperation nodes and their pure cores: gamepad (joy_teleop) and its upstream-config reader."""
