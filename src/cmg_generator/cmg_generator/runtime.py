"""Autoregressive CMG generation at 50 Hz: command in, whole-body reference frames out.

No rclpy here; torch is imported only for torch artifacts / TorchScript (an ONNX model needs only
numpy + onnxruntime). Typical use (the cmg_node does exactly this every 20 ms)::

    gen = CMGGenerator.load("cmg_g1_small.pt")        # or .ts / .onnx, or upstream .onnx + stats yaml
    gen.reset()                                        # standing state
    gen.set_command(0.8, 0.0, 0.2)                     # target; clamped + rate limited inside
    motion = gen.step(horizon=0)                       # ReferenceMotion: frames[0] = now
    f = motion.frames[0]; f.joint_positions, f.root_height, f.root_linear_velocity, ...

What the runtime guarantees on every frame:

* the command is clamped to the model's trained range (``command_low``/``command_high`` in the
  artifact metadata; the stats' command_min/max for upstream models) and changes at most
  ``max_accel`` per second (smooth command changes);
* joint positions are clamped to the robot spec's limits (``twist_controller.robot``); the clamped
  state is what is fed back, so the model never sees a pose the robot cannot take;
* the normalized state is clipped to ``+-state_z_clip``; a non-finite state resets the generator to
  standing (counted in ``resets``);
* idle hold: after the filtered command has been zero for ``idle_delay_s`` (1 s: the model's own
  stopping steps), the state is pulled to the standing state (time constant ``idle_tau_s``), so a
  zero command means standing still, not the small stepping in place a learned model drifts into;
* models whose stated rate is not 50 Hz (upstream's ~30 fps) are stepped at their own rate and
  linearly interpolated to the 50 Hz output grid.

Root quantities: taken from the model's root channels when it has them (see
:class:`cmg_generator.model.StateLayout`); for 58-only models (upstream layout) they come from the
command: height ``root_height_default``, roll = pitch = 0, linear velocity = (vx, vy, 0) of the
filtered command, yaw rate = its yaw rate. ``root_yaw`` is always integrated from the yaw rate.
"""

from __future__ import annotations

import json
import zipfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

import numpy as np

from cmg_generator.artifact import NormStats
from cmg_generator.mirror import mirror_commands, mirror_states
from cmg_generator.model import StateLayout
from twist_controller import robot
from twist_controller.reference import Frame as ReferenceFrame

OUTPUT_DT = 0.02  # s: the reference stream is 50 Hz
META_KEY = "cmg_meta"  # ONNX metadata_props key / TorchScript extra file stem holding stats+metadata
ROOT_OFFSET = 2 * robot.NUM_JOINTS  # first root channel in a 65-channel state


# ----------------------------------------------------------------------------- reference frames
@dataclass
class ReferenceMotion:
    """frames[0] = now, frames[k] = k*dt later (look-ahead under the current command)."""

    dt: float
    frames: list[ReferenceFrame]
    command: np.ndarray  # (3,) the clamped, rate-limited command the frames were generated from
    source: str = "cmg"


# ----------------------------------------------------------------------------- backends
class Backend(Protocol):
    def __call__(self, state_norm: np.ndarray, command_norm: np.ndarray) -> np.ndarray: ...


class TorchBackend:
    def __init__(self, module, num_threads: int | None = 1):
        import torch

        if num_threads:
            torch.set_num_threads(num_threads)
        self._torch = torch
        self.module = module.eval()

    def __call__(self, state_norm, command_norm):
        t = self._torch
        with t.inference_mode():
            out = self.module(
                t.from_numpy(np.ascontiguousarray(state_norm, dtype=np.float32)),
                t.from_numpy(np.ascontiguousarray(command_norm, dtype=np.float32)),
            )
        return out.numpy()


class OnnxBackend:
    """onnxruntime session with inputs ``prev_motion``, ``command`` and output ``motion``.

    Upstream's export has a fixed batch of 1; larger batches are then run row by row.
    """

    def __init__(self, path: str | Path, num_threads: int = 1):
        import onnxruntime as ort

        so = ort.SessionOptions()
        so.intra_op_num_threads = num_threads
        so.inter_op_num_threads = 1
        self.session = ort.InferenceSession(str(path), so, providers=["CPUExecutionProvider"])
        ins = {i.name: i for i in self.session.get_inputs()}
        if set(ins) != {"prev_motion", "command"}:
            raise ValueError(f"{path}: ONNX inputs {sorted(ins)} are not (prev_motion, command)")
        self.state_dim = int(ins["prev_motion"].shape[-1])
        b = ins["prev_motion"].shape[0]
        self.fixed_batch = b if isinstance(b, int) else None
        self.output = self.session.get_outputs()[0].name

    def __call__(self, state_norm, command_norm):
        s = np.ascontiguousarray(state_norm, dtype=np.float32)
        c = np.ascontiguousarray(command_norm, dtype=np.float32)
        if self.fixed_batch == 1 and s.shape[0] != 1:
            return np.concatenate([self(s[i : i + 1], c[i : i + 1]) for i in range(s.shape[0])])
        return self.session.run([self.output], {"prev_motion": s, "command": c})[0]


# ----------------------------------------------------------------------------- loading
@dataclass
class LoadedModel:
    backend: Any  # Backend
    stats: NormStats
    metadata: dict[str, Any]
    kind: str  # artifact | torchscript | onnx | onnx-upstream


def _is_torchscript(path: Path) -> bool:
    if not zipfile.is_zipfile(path):
        return False
    with zipfile.ZipFile(path) as z:
        return any(n.endswith("constants.pkl") or "/code/" in n for n in z.namelist())


def load_model(
    path: str | Path, stats_yaml: str | Path | None = None, num_threads: int = 1, upstream_fps: float = 30.0
) -> LoadedModel:
    """Load our artifact (.pt), our TorchScript export, our ONNX export, or upstream's ONNX + yaml.

    Upstream models carry no rate; ``upstream_fps`` (default 30: the AMASS-G1 data they were trained
    on is ~30 fps, see the docs) is recorded as their rate and the generator resamples to 50 Hz.
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"CMG model not found: {path}")
    if path.suffix == ".onnx":
        backend = OnnxBackend(path, num_threads)
        import onnx

        props = {p.key: p.value for p in onnx.load(str(path), load_external_data=False).metadata_props}
        if META_KEY in props and stats_yaml is None:
            meta = json.loads(props[META_KEY])
            return LoadedModel(backend, NormStats.from_dict(meta["stats"]), meta["metadata"], "onnx")
        if stats_yaml is None:
            raise ValueError(
                f"{path}: ONNX without {META_KEY!r} metadata needs a cmg_stats.yaml (stats_yaml=)"
            )
        stats = NormStats.from_yaml(stats_yaml)
        if stats.motion_dim != backend.state_dim:
            raise ValueError(f"stats have {stats.motion_dim} channels, ONNX model {backend.state_dim}")
        meta = {"fps": float(upstream_fps), "joint_names": list(robot.G1_JOINT_NAMES), "upstream": True}
        return LoadedModel(backend, stats, meta, "onnx-upstream")
    if _is_torchscript(path):
        import torch

        extra = {f"{META_KEY}.json": ""}
        module = torch.jit.load(str(path), map_location="cpu", _extra_files=extra)
        if not extra[f"{META_KEY}.json"]:
            raise ValueError(f"{path}: TorchScript file without {META_KEY}.json metadata")
        meta = json.loads(extra[f"{META_KEY}.json"])
        return LoadedModel(
            TorchBackend(module, num_threads),
            NormStats.from_dict(meta["stats"]),
            meta["metadata"],
            "torchscript",
        )
    from cmg_generator.artifact import load_artifact

    art = load_artifact(path)
    return LoadedModel(TorchBackend(art.model, num_threads), art.stats, art.metadata, "artifact")


# ----------------------------------------------------------------------------- the generator core
@dataclass
class GeneratorOptions:
    max_accel: tuple[float, float, float] = (1.0, 1.0, 2.0)  # command rate limit: m/s^2, m/s^2, rad/s^2
    clamp_joints: bool = True
    joint_margin: float = 0.0  # rad inside the robot limits
    state_z_clip: float = 8.0  # normalized state clip (divergence guard)
    root_height_default: float = robot.STANDING_PELVIS_HEIGHT  # 58-only models
    command_low: tuple[float, float, float] | None = None  # override the model's trained range
    command_high: tuple[float, float, float] | None = None
    # idle hold: once the filtered command has been zero for idle_delay_s (the model's own stopping
    # steps), the state is pulled to the standing state with time constant idle_tau_s (0 = off)
    idle_delay_s: float = 1.0
    idle_tau_s: float = 0.3
    idle_eps: float = 1e-3
    # phase-channel models: the phase never runs backwards, and while the command is not zero it
    # turns at least at the slowest stride rate seen moving in training (metadata
    # ``stride_rate_range``), so the clock cannot stop and freeze the gait into a shuffle
    phase_floor: bool = True
    # average each step with the model's own mirror image, f(s, c) and M f(M s, M c), M = left/right
    # mirror: the generator becomes exactly symmetric, which removes the model's left/right bias
    # (a limp, or drift to one side on a straight command). One backend call with batch 2B:
    # +0.1 ms per step on this machine (0.23 -> 0.33 ms p50, shipped model, eager torch).
    mirror_average: bool = True


class CommandFilter:
    """Clamp to [low, high] and rate-limit, vectorized over a batch of commands (B, 3)."""

    def __init__(self, low, high, max_accel, dt: float = OUTPUT_DT):
        self.low = np.asarray(low, dtype=np.float64)
        self.high = np.asarray(high, dtype=np.float64)
        self.max_step = np.asarray(max_accel, dtype=np.float64) * dt

    def clamp(self, cmd):
        return np.clip(cmd, self.low, self.high)

    def __call__(self, current, target):
        target = self.clamp(target)
        return current + np.clip(target - current, -self.max_step, self.max_step)


class StateStepper:
    """One model step in raw units with the runtime's clamps, batched: raw (B, D) -> raw (B, D)."""

    def __init__(self, loaded: LoadedModel, options: GeneratorOptions):
        self.backend = loaded.backend
        self.stats = loaded.stats
        self.options = options
        self.dim = loaded.stats.motion_dim
        self.lower = robot.POSITION_LOWER + options.joint_margin
        self.upper = robot.POSITION_UPPER - options.joint_margin
        model_dt = 1.0 / _model_fps(loaded.metadata)
        self.standing = standing_state_of(loaded)
        self.idle_delay = int(np.ceil(options.idle_delay_s / model_dt))
        self.idle_rate = model_dt / options.idle_tau_s if options.idle_tau_s > 0 else 0.0
        layout = StateLayout.from_dim(self.dim)
        self.phase = layout.phase if layout.phase_channels else None
        rate = (loaded.metadata.get("stride_rate_range") or [0.0])[0] if options.phase_floor else 0.0
        self.min_phase_step = 2.0 * np.pi * max(float(rate), 0.0) * model_dt  # rad per model step

    def update_idle(self, idle: np.ndarray, command: np.ndarray) -> np.ndarray:
        """Model steps each rollout has spent with a zero command (B,)."""
        zero = np.all(np.abs(np.atleast_2d(command)) < self.options.idle_eps, axis=1)
        return np.where(zero, idle + 1, 0)

    def hold(self, nxt: np.ndarray, idle: np.ndarray) -> np.ndarray:
        """Blend idle rollouts into the standing state (in place): weight 1 - exp(-t_idle / tau), so
        the output reaches the standing state exactly and stays there while the command is zero."""
        if self.idle_rate > 0:
            k = idle - self.idle_delay
            m = k >= 0
            if np.any(m):
                w = (1.0 - np.exp(-(k[m] + 1) * self.idle_rate))[:, None]
                nxt[m] = (1.0 - w) * nxt[m] + w * self.standing
        return nxt

    def clamp(self, raw: np.ndarray) -> np.ndarray:
        if self.options.clamp_joints:
            raw[..., : robot.NUM_JOINTS] = np.clip(raw[..., : robot.NUM_JOINTS], self.lower, self.upper)
        return raw

    def advance_phase(self, prev: np.ndarray, nxt: np.ndarray, command: np.ndarray) -> np.ndarray:
        """Put the predicted phase back on the unit circle, never backwards, and (when the command
        is not zero) at least ``min_phase_step`` ahead of the previous one (in place on ``nxt``)."""
        p = self.phase
        a0 = np.arctan2(prev[..., p.start], prev[..., p.start + 1])
        a1 = np.arctan2(nxt[..., p.start], nxt[..., p.start + 1])
        step = np.mod(a1 - a0, 2.0 * np.pi)
        step = np.where(step > np.pi, 0.0, step)  # a predicted step backwards holds the phase
        moving = np.any(np.abs(np.atleast_2d(command)) >= self.options.idle_eps, axis=1)
        step = np.where(moving, np.maximum(step, self.min_phase_step), step)
        a = a0 + step
        nxt[..., p.start] = np.sin(a)
        nxt[..., p.start + 1] = np.cos(a)
        return nxt

    def _predict(self, raw: np.ndarray, command: np.ndarray) -> np.ndarray:
        """One backend call in raw units, the normalized output clipped to +-state_z_clip."""
        z = self.stats.normalize_state(raw).astype(np.float32)
        c = self.stats.normalize_command(command).astype(np.float32)
        k = self.options.state_z_clip
        return self.stats.denormalize_state(np.clip(np.asarray(self.backend(z, c), dtype=np.float64), -k, k))

    def __call__(self, raw: np.ndarray, command: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Returns (clamped next raw state, unclamped next raw state) - the latter for diagnostics."""
        if self.options.mirror_average:
            both = self._predict(
                np.concatenate([raw, mirror_states(raw)]), np.concatenate([command, mirror_commands(command)])
            )
            nxt = 0.5 * (both[: len(raw)] + mirror_states(both[len(raw) :]))
        else:
            nxt = self._predict(raw, command)
        fed_back = self.clamp(nxt.copy())
        if self.phase is not None:
            fed_back = self.advance_phase(raw, fed_back, command)
        return fed_back, nxt


def standing_state_of(loaded: LoadedModel) -> np.ndarray:
    """The raw state generation starts from: the artifact's standing state, else the default pose."""
    d = loaded.stats.motion_dim
    st = loaded.metadata.get("standing_state")
    if st is not None and len(st) == d:
        return np.asarray(st, dtype=np.float64)
    layout = StateLayout.from_dim(d)
    s = np.zeros(d)
    s[: robot.NUM_JOINTS] = robot.DEFAULT_POSITION
    if layout.root_channels:
        s[layout.root_height] = robot.STANDING_PELVIS_HEIGHT
    if layout.phase_channels:
        s[layout.phase.start + 1] = 1.0  # phase 0
    return s


def _model_fps(meta: dict) -> float:
    return float(meta.get("fps", 1.0 / OUTPUT_DT))


def command_range(loaded: LoadedModel, options: GeneratorOptions) -> tuple[np.ndarray, np.ndarray]:
    """The command clamp: the options' override, else the trained range in the metadata, else the
    normalization stats' range."""
    meta = loaded.metadata
    low = options.command_low or meta.get("command_low") or loaded.stats.command_min
    high = options.command_high or meta.get("command_high") or loaded.stats.command_max
    return np.asarray(low, dtype=np.float64), np.asarray(high, dtype=np.float64)


class CMGGenerator:
    """Stateful 50 Hz reference generator around a loaded CMG (any backend)."""

    def __init__(self, loaded: LoadedModel, options: GeneratorOptions | None = None):
        self.loaded = loaded
        self.options = options or GeneratorOptions()
        self.stats = loaded.stats
        self.metadata = loaded.metadata
        self.dim = loaded.stats.motion_dim
        self.has_root = StateLayout.from_dim(self.dim).root_channels
        self.model_fps = _model_fps(loaded.metadata)
        self.dt = OUTPUT_DT
        o = self.options
        self.command_low, self.command_high = command_range(loaded, o)
        self.filter = CommandFilter(self.command_low, self.command_high, o.max_accel, self.dt)
        self.stepper = StateStepper(loaded, self.options)
        self.standing_state = standing_state_of(loaded)
        self.resets = 0
        self.reset()

    # -- construction
    @classmethod
    def load(
        cls,
        path,
        stats_yaml=None,
        options: GeneratorOptions | None = None,
        num_threads: int = 1,
        upstream_fps: float = 30.0,
    ) -> CMGGenerator:
        return cls(load_model(path, stats_yaml, num_threads, upstream_fps), options)

    # -- state
    def reset(self, state: np.ndarray | None = None) -> None:
        """Start from ``state`` (raw, D) or the standing state; command and heading go to zero."""
        s = self.standing_state if state is None else np.asarray(state, dtype=np.float64).reshape(self.dim)
        s = self.stepper.clamp(s.copy())
        self._prev = s.copy()
        self._cur = s.copy()
        self._phase = 1.0  # position between _prev and _cur in model steps (1 = at _cur)
        self._yaw = 0.0
        self._cmd = np.zeros(3)
        self._target = np.zeros(3)
        self._idle = np.zeros(1, dtype=np.int64)
        self._before_step = None  # what step() started from, for revise()

    def set_command(self, vx: float, vy: float = 0.0, yaw_rate: float = 0.0) -> np.ndarray:
        """Set the target command; returns it clamped to the trained range."""
        self._target = self.filter.clamp(np.array([vx, vy, yaw_rate], dtype=np.float64))
        return self._target.copy()

    @property
    def target(self) -> np.ndarray:
        """The target command, clamped to the trained range (what the filter ramps towards)."""
        return self._target.copy()

    @property
    def command(self) -> np.ndarray:
        """The filtered (clamped, rate-limited) command currently driving the model."""
        return self._cmd.copy()

    @property
    def state(self) -> np.ndarray:
        return self._interp(self._prev, self._cur, self._phase)

    # -- stepping
    @staticmethod
    def _interp(a, b, phase):
        return a + (b - a) * min(max(phase, 0.0), 1.0)

    def _advance(self, prev, cur, phase, cmd, idle):
        phase += self.model_fps * self.dt
        while phase > 1.0 + 1e-9:
            idle = self.stepper.update_idle(idle, cmd)
            nxt, _ = self.stepper(cur[None], cmd[None])
            nxt = self.stepper.hold(nxt, idle)[0]
            if not np.all(np.isfinite(nxt)):
                self.resets += 1
                nxt = self.standing_state.copy()
            prev, cur = cur, nxt
            phase -= 1.0
        return prev, cur, phase, idle

    def _frame(self, state: np.ndarray, yaw: float, cmd: np.ndarray) -> ReferenceFrame:
        n = robot.NUM_JOINTS
        if self.has_root:
            r = state[ROOT_OFFSET:]
            height, roll, pitch = float(r[0]), float(r[1]), float(r[2])
            lin, yaw_rate = r[3:6].copy(), float(r[6])
        else:
            height, roll, pitch = float(self.options.root_height_default), 0.0, 0.0
            lin, yaw_rate = np.array([cmd[0], cmd[1], 0.0]), float(cmd[2])
        return ReferenceFrame(
            joint_positions=state[:n].astype(np.float32),
            joint_velocities=state[n : 2 * n].astype(np.float32),
            root_height=height,
            root_roll=roll,
            root_pitch=pitch,
            root_yaw=float(yaw),
            root_linear_velocity=np.asarray(lin, dtype=np.float32),
            root_yaw_rate=yaw_rate,
        )

    def step(self, command: tuple[float, float, float] | None = None, horizon: int = 0) -> ReferenceMotion:
        """Advance one 50 Hz tick (optionally setting a new target command first).

        Returns frames[0] for now and ``horizon`` look-ahead frames generated from the current state
        under the current filtered command (the command filter keeps ramping toward the target).
        """
        self._before_step = (self._prev, self._cur, self._phase, self._yaw, self._cmd, self._idle)
        if command is not None:
            self.set_command(*command)
        self._cmd = self.filter(self._cmd, self._target)
        self._prev, self._cur, self._phase, self._idle = self._advance(
            self._prev, self._cur, self._phase, self._cmd, self._idle
        )
        state = self.state
        f0 = self._frame(state, self._yaw, self._cmd)
        self._yaw = _wrap(self._yaw + f0.root_yaw_rate * self.dt)
        frames = [f0]
        prev, cur, phase, yaw, cmd = self._prev, self._cur, self._phase, self._yaw, self._cmd.copy()
        idle = self._idle.copy()
        for _ in range(horizon):
            cmd = self.filter(cmd, self._target)
            prev, cur, phase, idle = self._advance(prev, cur, phase, cmd, idle)
            f = self._frame(self._interp(prev, cur, phase), yaw, cmd)
            yaw = _wrap(yaw + f.root_yaw_rate * self.dt)
            frames.append(f)
        return ReferenceMotion(self.dt, frames, self._cmd.copy())

    def revise(self, command: tuple[float, float, float], horizon: int = 0) -> ReferenceMotion:
        """Redo the last :meth:`step` with a new target command: the same tick (same frame time, same
        autoregressive history), what it would have been had ``command`` arrived before it.

        A command that arrives between two 50 Hz ticks then reaches the robot at once instead of
        waiting up to a period for the next tick; the motion's time base stays one frame per tick.
        """
        if self._before_step is None:
            raise RuntimeError("revise() needs a step() to redo")
        self._prev, self._cur, self._phase, self._yaw, self._cmd, self._idle = self._before_step
        return self.step(command, horizon)


def _wrap(a: float) -> float:
    return float((a + np.pi) % (2 * np.pi) - np.pi)


# ----------------------------------------------------------------------------- batched rollouts
@dataclass
class RolloutResult:
    states: np.ndarray  # (T+1, B, D) clamped raw states fed back (frame 0 = initial)
    raw_states: np.ndarray  # (T+1, B, D) model outputs before the joint clamp
    commands: np.ndarray  # (T, B, 3) filtered commands used for step t -> t+1
    nonfinite: np.ndarray = field(default_factory=lambda: np.zeros(0, dtype=bool))  # (B,) ever non-finite


def rollout(
    loaded: LoadedModel,
    target_commands: np.ndarray,
    initial_state: np.ndarray | None = None,
    options: GeneratorOptions | None = None,
    filter_commands: bool = True,
) -> RolloutResult:
    """Batched autoregressive rollout at the model's own rate (used by evaluation).

    ``target_commands`` (T, B, 3): the target command of each of B rollouts at each of T model steps;
    they pass the same clamp + rate limiter as :class:`CMGGenerator` (rate limit per model step).
    """
    options = options or GeneratorOptions()
    tc = np.asarray(target_commands, dtype=np.float64)
    T, B = tc.shape[0], tc.shape[1]
    gen_meta = loaded.metadata
    low, high = command_range(loaded, options)
    filt = CommandFilter(low, high, options.max_accel, 1.0 / _model_fps(gen_meta))
    stepper = StateStepper(loaded, options)
    D = loaded.stats.motion_dim
    if initial_state is None:
        init = standing_state_of(loaded)
    else:
        init = np.asarray(initial_state, dtype=np.float64)
    cur = stepper.clamp(np.broadcast_to(init, (B, D)).copy())
    states = np.empty((T + 1, B, D), dtype=np.float32)
    raws = np.empty((T + 1, B, D), dtype=np.float32)
    cmds = np.empty((T, B, 3), dtype=np.float32)
    states[0] = raws[0] = cur
    cmd = np.zeros((B, 3))
    bad = np.zeros(B, dtype=bool)
    idle = np.zeros(B, dtype=np.int64)
    for t in range(T):
        cmd = filt(cmd, tc[t]) if filter_commands else filt.clamp(tc[t])
        idle = stepper.update_idle(idle, cmd)
        nxt, raw = stepper(cur, cmd)
        nxt = stepper.hold(nxt, idle)
        fin = np.all(np.isfinite(nxt), axis=1)
        bad |= ~fin
        nxt[~fin] = init if init.ndim == 1 else init[~fin]
        cur = nxt
        states[t + 1], raws[t + 1], cmds[t] = cur, raw, cmd
    return RolloutResult(states, raws, cmds, bad)
