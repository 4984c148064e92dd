"""One whole-body reference frame as plain data (no rclpy), shared by every reference source.

Mirrors ``twist_msgs/ReferenceFrame``: joint arrays in the G1 29-DOF order
(``twist_controller.robot.G1_JOINT_NAMES``), root quantities of the pelvis. The CMG runtime
produces these, the reference mux/player/Redis bridge blend and convert them, and
``twist_controller.reference_msgs`` turns them into messages and back.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

import numpy as np


@dataclass
class Frame:
    """One reference frame; joint arrays in the G1 29-DOF order (see twist_msgs/ReferenceFrame)."""

    joint_positions: np.ndarray  # (29,) rad
    joint_velocities: np.ndarray  # (29,) rad/s
    root_height: float  # m
    root_roll: float  # rad
    root_pitch: float  # rad
    root_yaw: float  # rad, heading in the source's own world frame
    root_linear_velocity: np.ndarray  # (3,) m/s, pelvis frame
    root_yaw_rate: float  # rad/s

    def copy(self) -> Frame:
        return replace(
            self,
            joint_positions=np.array(self.joint_positions, dtype=np.float64),
            joint_velocities=np.array(self.joint_velocities, dtype=np.float64),
            root_linear_velocity=np.array(self.root_linear_velocity, dtype=np.float64),
        )

    def with_yaw(self, yaw: float) -> Frame:
        f = self.copy()
        f.root_yaw = float(yaw)
        return f

    def root_vector(self) -> np.ndarray:
        """(8,) [height, roll, pitch, yaw, v(3), yaw_rate] (TWIST's mimic root layout)."""
        return np.array(
            [
                self.root_height,
                self.root_roll,
                self.root_pitch,
                self.root_yaw,
                *np.asarray(self.root_linear_velocity, dtype=np.float64),
                self.root_yaw_rate,
            ]
        )
