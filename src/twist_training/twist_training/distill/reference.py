"""The shipped CMG, batched over training envs: each env's reference comes from its own rollout.

The per-tick logic is the runtime's own (:class:`cmg_generator.runtime.StateStepper` and
:class:`CommandFilter`: command clamp + rate limit, joint clamp, phase floor, idle hold, mirror
averaging), so the student trains on the references ``cmg_node`` publishes. Frames are built the
way :meth:`CMGGenerator._frame` builds them (root channels of the model; heading integrated from
the yaw rate, started at a random heading per episode: the deployed generator's heading is
arbitrary, so the student must not read anything into it).
"""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
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

    def __init__(
        self,
        num_envs: int,
        model_path: str | Path = "",
        seed: int = 0,
        num_threads: int = 1,
        pipeline: bool = False,
    ):
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
        # pipeline: each step() starts the next tick in a worker thread from the inputs as they are
        # then (the CMG is open loop: it runs beside the policies and the physics); the next step()
        # takes it and recomputes only the rows whose inputs changed since (resets, new targets), so
        # the references are those of the serial step
        self._pool = ThreadPoolExecutor(1, thread_name_prefix="cmg") if pipeline else None
        self._prefetched = None  # (inputs it started from, future of _advance)
        self.recomputed = 0  # rows step() recomputed because their inputs changed after prefetch()
        self.reset(np.arange(num_envs))

    def reset(self, env_ids: np.ndarray) -> None:
        self.state[env_ids] = self.stepper.clamp(np.tile(self.standing, (len(env_ids), 1)))
        self.command[env_ids] = 0.0
        self.target[env_ids] = 0.0
        self.idle[env_ids] = 0
        self.yaw[env_ids] = self.rng.uniform(-np.pi, np.pi, len(env_ids))

    def set_target(self, env_ids: np.ndarray, commands: np.ndarray) -> None:
        self.target[env_ids] = self.filter.clamp(commands)

    def _advance(
        self, state: np.ndarray, command: np.ndarray, target: np.ndarray, idle: np.ndarray
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """One tick of the given rows, touching nothing: (filtered command, idle, next state). Each
        row depends on its own inputs only (the batched matmuls round a row the same in any batch
        of 2 or more rows; _rows pads to that)."""
        command = self.filter(command, target)
        idle = self.stepper.update_idle(idle, command)
        nxt, _ = self.stepper(state, command)
        nxt = self.stepper.hold(nxt, idle)
        bad = ~np.all(np.isfinite(nxt), axis=1)
        nxt[bad] = self.standing
        return command, idle, nxt

    def _inputs(self) -> tuple[np.ndarray, ...]:
        return self.state.copy(), self.command.copy(), self.target.copy(), self.idle.copy()

    def _rows(self, ids: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """_advance of rows ``ids`` from the current inputs; a single row is computed twice (a batch
        of one env, two rows with its mirror, rounds differently in the matmul than larger ones)."""
        sel = ids if len(ids) > 1 else np.repeat(ids, 2)
        c, i, x = self._advance(self.state[sel], self.command[sel], self.target[sel], self.idle[sel])
        k = len(ids)
        return c[:k], i[:k], x[:k]

    def prefetch(self) -> None:
        """Start the next tick from the current inputs in the worker thread (pipeline only; step()
        calls it; a tick already started is dropped)."""
        if self._pool is None:
            return
        inputs = self._inputs()
        self._prefetched = (inputs, self._pool.submit(self._advance, *inputs))

    def step(self) -> None:
        """One 50 Hz tick for all envs (same order of operations as CMGGenerator.step)."""
        if self._prefetched is None:
            command, idle, nxt = self._advance(self.state, self.command, self.target, self.idle)
        else:
            (s0, c0, t0, i0), fut = self._prefetched
            self._prefetched = None
            command, idle, nxt = fut.result()
            changed = (
                np.any(self.state != s0, axis=1)
                | np.any(self.command != c0, axis=1)
                | np.any(self.target != t0, axis=1)
                | (self.idle != i0)
            )
            ids = np.flatnonzero(changed)
            self.recomputed += len(ids)
            if len(ids):
                command[ids], idle[ids], nxt[ids] = self._rows(ids)
        self.command, self.idle, self.state = command, idle, nxt
        self._frame_yaw = self.yaw.copy()  # frame 0 carries the heading before this tick's turn
        self.yaw = np.mod(self.yaw + self.state[:, ROOT_OFFSET + 6] * 0.02 + np.pi, 2 * np.pi) - np.pi
        self.prefetch()  # the next tick starts at once: it runs beside the policies and the physics

    def close(self) -> None:
        if self._pool is not None:
            self._pool.shutdown()
            self._pool = None
            self._prefetched = None

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
