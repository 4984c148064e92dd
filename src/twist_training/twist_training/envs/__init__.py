"""Backend-agnostic TWIST tracking task: motion library, observations, rewards, terminations,
domain randomization, resets (numpy), plus the rsl-rl VecEnv adapter (:mod:`.vec_env`)."""

from .config import TaskConfig
from .motion_lib import MotionLibrary
from .tracking_env import TrackingEnv

__all__ = ["MotionLibrary", "TaskConfig", "TrackingEnv"]
