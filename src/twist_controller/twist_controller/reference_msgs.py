"""twist_msgs/ReferenceFrame <-> ``twist_controller.reference.Frame`` (the ROS side of references)."""

from __future__ import annotations

import numpy as np

from twist_controller.reference import Frame
from twist_msgs.msg import ReferenceFrame


def msg_to_frame(m: ReferenceFrame) -> Frame:
    v = m.root_linear_velocity
    return Frame(
        np.asarray(m.joint_positions, dtype=np.float64),
        np.asarray(m.joint_velocities, dtype=np.float64),
        float(m.root_height),
        float(m.root_roll),
        float(m.root_pitch),
        float(m.root_yaw),
        np.array([v.x, v.y, v.z], dtype=np.float64),
        float(m.root_yaw_rate),
    )


def frame_to_msg(f: Frame) -> ReferenceFrame:
    m = ReferenceFrame()
    m.joint_positions = np.asarray(f.joint_positions, dtype=np.float32)
    jv = np.asarray(f.joint_velocities, dtype=np.float32)
    m.joint_velocities = jv if jv.shape == (29,) else np.zeros(29, dtype=np.float32)
    m.root_height = float(f.root_height)
    m.root_roll = float(f.root_roll)
    m.root_pitch = float(f.root_pitch)
    m.root_yaw = float(f.root_yaw)
    v = np.asarray(f.root_linear_velocity, dtype=np.float64)
    m.root_linear_velocity.x, m.root_linear_velocity.y, m.root_linear_velocity.z = map(float, v)
    m.root_yaw_rate = float(f.root_yaw_rate)
    return m
