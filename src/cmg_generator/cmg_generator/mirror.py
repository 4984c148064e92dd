"""Left/right mirroring of CMG states and commands (numpy only).

Used twice: training doubles its data with mirrored clips, and the runtime can average the model
with its own mirror image (:attr:`cmg_generator.runtime.GeneratorOptions.mirror_average`), which
makes the generator exactly left/right symmetric.
"""

from __future__ import annotations

import numpy as np

from cmg_generator.model import StateLayout
from twist_controller.robot import MIRROR_INDEX, MIRROR_SIGN

COMMAND_MIRROR_SIGN = np.array([1.0, -1.0, -1.0], dtype=np.float32)  # vx kept, vy and yaw rate flip


def mirror_states(states: np.ndarray) -> np.ndarray:
    """Left/right mirror of raw states (..., D) using the robot spec's joint mirror map."""
    layout = StateLayout.from_dim(states.shape[-1])
    out = np.array(states, copy=True)
    for sl in (layout.joint_pos, layout.joint_vel):
        out[..., sl] = states[..., sl][..., MIRROR_INDEX] * MIRROR_SIGN
    if layout.root_channels:
        out[..., layout.root_roll] *= -1.0
        out[..., layout.root_lin_vel.start + 1] *= -1.0  # vy
        out[..., layout.root_yaw_rate] *= -1.0
    if layout.phase_channels:
        out[..., layout.phase] *= -1.0  # the other foot lifts first: phase + 1/2
    return out


def mirror_commands(commands: np.ndarray) -> np.ndarray:
    return np.asarray(commands) * COMMAND_MIRROR_SIGN
