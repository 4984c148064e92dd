"""The shipped CMG, batched over training envs: each env's reference comes from its own rollout.

The per-tick logic is the runtime's own (:class:`cmg_generator.runtime.StateStepper` and
:class:`CommandFilter`: command clamp + rate limit, joint clamp, phase floor, idle hold, mirror
averaging), so the student trains on the references ``cmg_node`` publishes. Frames are built the
way :meth:`CMGGenerator._frame` builds them (root channels of the model; heading integrated from
the yaw rate, started at a random heading per episode: the deployed generator's heading is
arbitrary, so the student must not read anything into it).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from cmg_generator.model import StateLayout
from cmg_generator.runtime import (
    ROOT_OFFSET,
    CommandFilter,
    GeneratorOptions,
    StateStepper,
    command_range,
    load_model,
    standing_state_of,
)
from twist_controller import robot
from twist_controller.observations import ReferenceInput


def shipped_cmg_path() -> Path:
    """The CMG artifact shipped in src/cmg_generator/models (or its installed share copy)."""
    here = Path(__file__).resolve()
    for base in (*here.parents,):
        for cand in (base / "src" / "cmg_generator" / "models", base / "share" / "cmg_generator" / "models"):
            if (cand / "cmg_g1_small.pt").is_file():
                return cand / "cmg_g1_small.pt"
    raise FileNotFoundError("the shipped CMG (cmg_g1_small.pt) was not found; pass --cmg-model")


class BatchedReference:
    """``num_envs`` CMG rollouts stepped together at 50 Hz."""

    def __init__(self, num_envs: int, model_path: str | Path = "", seed: int = 0, num_threads: int = 1):
        self.loaded = load_model(model_path or shipped_cmg_path(), num_threads=num_threads)
        if abs(float(self.loaded.metadata.get("fps", 50.0)) - 50.0) > 1e-6:
            raise ValueError("the batched reference needs a 50 Hz CMG (one model step per control tick)")
        self.options = GeneratorOptions()
        self.layout = StateLayout.from_dim(self.loaded.stats.motion_dim)
        if not (self.layout.root_channels and self.layout.phase_channels):
            raise ValueError("distillation needs a CMG with root and phase channels (67-channel state)")
        self.stepper = StateStepper(self.loaded, self.options)
        low, high = command_range(self.loaded, self.options)
        self.filter = CommandFilter(low, high, self.options.max_accel)
        self.standing = standing_state_of(self.loaded)
        self.num_envs = num_envs
        self.rng = np.random.default_rng(seed)
        self.state = np.tile(self.standing, (num_envs, 1))
        self.command = np.zeros((num_envs, 3))  # filtered command driving each rollout
        self.target = np.zeros((num_envs, 3))
        self.idle = np.zeros(num_envs, dtype=np.int64)
        self.yaw = np.zeros(num_envs)
        self.reset(np.arange(num_envs))

    def reset(self, env_ids: np.ndarray) -> None:
        self.state[env_ids] = self.stepper.clamp(np.tile(self.standing, (len(env_ids), 1)))
        self.command[env_ids] = 0.0
        self.target[env_ids] = 0.0
        self.idle[env_ids] = 0
        self.yaw[env_ids] = self.rng.uniform(-np.pi, np.pi, len(env_ids))

    def set_target(self, env_ids: np.ndarray, commands: np.ndarray) -> None:
        self.target[env_ids] = self.filter.clamp(commands)

    def step(self) -> None:
        """One 50 Hz tick for all envs (same order of operations as CMGGenerator.step)."""
        self.command = self.filter(self.command, self.target)
        self.idle = self.stepper.update_idle(self.idle, self.command)
        nxt, _ = self.stepper(self.state, self.command)
        nxt = self.stepper.hold(nxt, self.idle)
        bad = ~np.all(np.isfinite(nxt), axis=1)
        nxt[bad] = self.standing
        self.state = nxt
        self._frame_yaw = self.yaw.copy()  # frame 0 carries the heading before this tick's turn
        self.yaw = np.mod(self.yaw + self.state[:, ROOT_OFFSET + 6] * 0.02 + np.pi, 2 * np.pi) - np.pi

    @property
    def phase_angle(self) -> np.ndarray:
        """(N,) CMG gait phase in rad (0 = right foot lift-off, pi = left foot lift-off)."""
        p = self.layout.phase
        return np.arctan2(self.state[:, p.start], self.state[:, p.start + 1])

    def reference_input(self) -> ReferenceInput:
        r = self.state[:, ROOT_OFFSET:]
        n = self.num_envs
        return ReferenceInput(
            root_height=r[:, 0].copy(),
            root_rpy=np.stack([r[:, 1], r[:, 2], getattr(self, "_frame_yaw", self.yaw)], axis=1),
            root_lin_vel_local=r[:, 3:6].copy(),
            root_yaw_rate=r[:, 6].copy(),
            joint_pos=self.state[:, : robot.NUM_JOINTS].astype(np.float32).astype(np.float64).reshape(n, -1),
        )
