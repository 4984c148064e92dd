"""The one motion clip type of the stack, plus the rotation helpers every data module shares.

Conventions (all importers convert into these; all exporters convert out of them)
--------------------------------------------------------------------------------
* ``fps`` is explicit on every clip; the CMG pipeline runs at :data:`TARGET_FPS` = 50 Hz and
  :meth:`MotionClip.resample` converts anything else.
* ``joint_pos`` / ``joint_vel``: (T, 29) in ``twist_controller.robot.G1_JOINT_NAMES`` order
  (= MuJoCo qpos[7:] = Unitree SDK motor order), rad and rad/s.
* ``root_pos``: (T, 3) pelvis position in the world frame (z up), m.
* ``root_quat``: (T, 4) pelvis orientation, world <- pelvis, **w, x, y, z** (MuJoCo order).
  Stored sign-continuous (consecutive dot products >= 0).
* ``root_lin_vel`` / ``root_ang_vel``: (T, 3) pelvis linear / angular velocity **in the world frame**
  (like mjlab's ``body_lin_vel_w``). Use :meth:`MotionClip.heading_velocity` for the robot
  (yaw-only heading) frame that CMG commands use, or :meth:`MotionClip.local_velocity` for the full
  pelvis frame (TWIST/CMG upstream convention).
* ``body_pos``: optional (T, B, 3) world positions of the bodies named in ``body_names``.

Velocities are always *consistent* with positions: whenever a clip is built from positions only, or
resampled, they are recomputed with central finite differences (``np.gradient``; one-sided at the
ends), and the angular velocity from the quaternion difference ``q[t+1] * q[t-1]^-1``.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from pathlib import Path

import numpy as np
from scipy.spatial.transform import Rotation, Slerp

from twist_controller import robot

TARGET_FPS = 50.0
NUM_JOINTS = robot.NUM_JOINTS
CLIP_FORMAT_VERSION = 1


class MotionDataError(ValueError):
    """A motion file or array is unusable (missing keys, wrong shapes, NaN, bad quaternions...)."""


# --------------------------------------------------------------------------------------------------
# rotation helpers (quaternions are wxyz unless a name says otherwise)


def wxyz_to_xyzw(q: np.ndarray) -> np.ndarray:
    q = np.asarray(q)
    return q[..., [1, 2, 3, 0]]


def xyzw_to_wxyz(q: np.ndarray) -> np.ndarray:
    q = np.asarray(q)
    return q[..., [3, 0, 1, 2]]


def rot_from_wxyz(q: np.ndarray) -> Rotation:
    return Rotation.from_quat(np.asarray(q, dtype=np.float64).reshape(-1, 4), scalar_first=True)


def rot_to_wxyz(r: Rotation) -> np.ndarray:
    return r.as_quat(scalar_first=True)


def quat_continuous(q: np.ndarray) -> np.ndarray:
    """Flip signs so consecutive quaternions (T, 4) lie in the same hemisphere (q and -q are equal)."""
    q = np.array(q, dtype=np.float64, copy=True)
    if len(q) < 2:
        return q
    dots = np.einsum("ij,ij->i", q[1:], q[:-1])
    flips = np.cumprod(np.where(dots < 0, -1.0, 1.0))
    q[1:] *= flips[:, None]
    return q


def yaw_from_wxyz(q: np.ndarray) -> np.ndarray:
    """Heading (yaw about world z) of wxyz quaternions (..., 4)."""
    q = np.asarray(q)
    w, x, y, z = q[..., 0], q[..., 1], q[..., 2], q[..., 3]
    return np.arctan2(2.0 * (w * z + x * y), 1.0 - 2.0 * (y * y + z * z))


def up_alignment(q_wxyz: np.ndarray) -> np.ndarray:
    """z-component of the body z-axis in the world, per frame (1 = upright, -1 = upside down)."""
    q = np.asarray(q_wxyz, dtype=np.float64)
    w, x, y = q[..., 0], q[..., 1], q[..., 2]
    z = q[..., 3]
    n = np.sum(q * q, axis=-1)
    return (w * w - x * x - y * y + z * z) / np.maximum(n, 1e-12)


def rotate_z(v: np.ndarray, yaw: np.ndarray) -> np.ndarray:
    """Rotate vectors (..., 3) (or (..., 2)) about z by ``yaw`` (...)."""
    v = np.asarray(v, dtype=np.float64)
    c, s = np.cos(yaw), np.sin(yaw)
    out = v.copy()
    out[..., 0] = c * v[..., 0] - s * v[..., 1]
    out[..., 1] = s * v[..., 0] + c * v[..., 1]
    return out


def finite_difference(x: np.ndarray, dt: float) -> np.ndarray:
    """Central differences along axis 0 (one-sided at the ends); zeros for a single frame."""
    x = np.asarray(x, dtype=np.float64)
    if len(x) < 2:
        return np.zeros_like(x)
    return np.gradient(x, dt, axis=0)


def angular_velocity_world(q_wxyz: np.ndarray, dt: float) -> np.ndarray:
    """World-frame angular velocity (T, 3) of an orientation track, central differences."""
    q = np.asarray(q_wxyz, dtype=np.float64)
    T = len(q)
    if T < 2:
        return np.zeros((T, 3))
    r = rot_from_wxyz(q)
    out = np.empty((T, 3))
    if T > 2:
        out[1:-1] = (r[2:] * r[:-2].inv()).as_rotvec() / (2.0 * dt)
    out[0] = (r[1] * r[0].inv()).as_rotvec() / dt
    out[-1] = (r[T - 1] * r[T - 2].inv()).as_rotvec() / dt
    return out


def check_quaternion_order(q: np.ndarray, declared: str, what: str = "root quaternion") -> str:
    """Return ``declared`` ("wxyz"/"xyzw") after checking the root stays roughly upright in that order.

    A humanoid pelvis is upright most of the time, so the right order gives a mean up-alignment near 1;
    reading wxyz as xyzw (or the reverse) flips the identity into a 180-degree roll. Raises
    :class:`MotionDataError` with the fix when the declared order is implausible and the other is not.
    ``declared="auto"`` returns whichever order is plausible (wxyz when both are).
    """
    q = np.asarray(q, dtype=np.float64)
    as_wxyz = {"wxyz": q, "xyzw": xyzw_to_wxyz(q)}
    score = {k: float(np.mean(up_alignment(v))) for k, v in as_wxyz.items()}
    if declared == "auto":
        return "wxyz" if score["wxyz"] >= score["xyzw"] else "xyzw"
    if declared not in as_wxyz:
        raise ValueError(f"quaternion order must be 'wxyz', 'xyzw' or 'auto', not {declared!r}")
    other = "xyzw" if declared == "wxyz" else "wxyz"
    if score[declared] < 0.5 and score[other] > 0.8:
        raise MotionDataError(
            f"{what} does not look like {declared}: read that way the pelvis is upside down/tilted on average"
            f" (mean up-alignment {score[declared]:.2f}), read as {other} upright ({score[other]:.2f}). "
            f"The file probably stores {other}; pass quat_order='{other}' (or 'auto')."
        )
    return declared


def _as_array(name: str, x, shape_tail: tuple[int, ...] | None, T: int | None = None) -> np.ndarray:
    a = np.asarray(x, dtype=np.float64)
    if shape_tail is not None and (a.ndim != 1 + len(shape_tail) or a.shape[1:] != shape_tail):
        raise MotionDataError(f"{name}: expected shape (T, {', '.join(map(str, shape_tail))}), got {a.shape}")
    if T is not None and len(a) != T:
        raise MotionDataError(f"{name}: has {len(a)} frames but joint_pos has {T}")
    if not np.all(np.isfinite(a)):
        bad = np.argwhere(~np.isfinite(a.reshape(len(a), -1)))[0]
        raise MotionDataError(f"{name}: contains NaN/inf (first at frame {bad[0]})")
    return a


# --------------------------------------------------------------------------------------------------


@dataclass
class MotionClip:
    """A G1 motion at an explicit frame rate (see the module docstring for every convention)."""

    fps: float
    joint_pos: np.ndarray  # (T, 29) rad, robot.G1_JOINT_NAMES order
    joint_vel: np.ndarray  # (T, 29) rad/s
    root_pos: np.ndarray  # (T, 3) world, m
    root_quat: np.ndarray  # (T, 4) wxyz, world <- pelvis
    root_lin_vel: np.ndarray  # (T, 3) world frame, m/s
    root_ang_vel: np.ndarray  # (T, 3) world frame, rad/s
    body_pos: np.ndarray | None = None  # (T, B, 3) world, m
    body_names: tuple[str, ...] | None = None
    name: str = "clip"
    source: str = ""
    meta: dict = field(default_factory=dict)  # JSON-friendly extras (saved as a JSON string)

    def __post_init__(self):
        self.fps = float(self.fps)
        if not np.isfinite(self.fps) or self.fps <= 0:
            raise MotionDataError(f"{self.name}: fps must be a positive number, got {self.fps}")
        jp = np.asarray(self.joint_pos, dtype=np.float64)
        if jp.ndim != 2 or jp.shape[1] != NUM_JOINTS:
            raise MotionDataError(
                f"{self.name}: joint_pos must be (T, {NUM_JOINTS}) in the G1 29-DOF order, got {jp.shape}"
            )
        if len(jp) < 1:
            raise MotionDataError(f"{self.name}: clip has no frames")
        T = len(jp)
        self.joint_pos = _as_array("joint_pos", jp, (NUM_JOINTS,))
        self.joint_vel = _as_array("joint_vel", self.joint_vel, (NUM_JOINTS,), T)
        self.root_pos = _as_array("root_pos", self.root_pos, (3,), T)
        q = _as_array("root_quat", self.root_quat, (4,), T)
        n = np.linalg.norm(q, axis=1)
        if np.any(n < 1e-6):
            raise MotionDataError(f"{self.name}: root_quat has zero-norm quaternions")
        self.root_quat = quat_continuous(q / n[:, None])
        self.root_lin_vel = _as_array("root_lin_vel", self.root_lin_vel, (3,), T)
        self.root_ang_vel = _as_array("root_ang_vel", self.root_ang_vel, (3,), T)
        if self.body_pos is not None:
            bp = np.asarray(self.body_pos, dtype=np.float64)
            if bp.ndim != 3 or bp.shape[2] != 3:
                raise MotionDataError(f"{self.name}: body_pos must be (T, B, 3), got {bp.shape}")
            self.body_pos = _as_array("body_pos", bp, bp.shape[1:], T)
            if self.body_names is not None and len(self.body_names) != bp.shape[1]:
                raise MotionDataError(
                    f"{self.name}: {len(self.body_names)} body_names for {bp.shape[1]} bodies in body_pos"
                )
        if self.body_names is not None:
            self.body_names = tuple(str(b) for b in self.body_names)

    # ---------------------------------------------------------------- construction
    @classmethod
    def from_positions(
        cls,
        fps: float,
        joint_pos: np.ndarray,
        root_pos: np.ndarray,
        root_quat: np.ndarray,
        body_pos: np.ndarray | None = None,
        body_names=None,
        name: str = "clip",
        source: str = "",
        meta: dict | None = None,
    ) -> MotionClip:
        """Build a clip from positions only; velocities are finite differences (consistent)."""
        jp = np.asarray(joint_pos, dtype=np.float64)
        rq = np.asarray(root_quat, dtype=np.float64)
        if rq.ndim == 2 and rq.shape[1] == 4 and np.all(np.isfinite(rq)):
            rq = quat_continuous(rq / np.maximum(np.linalg.norm(rq, axis=1, keepdims=True), 1e-12))
        z = np.zeros((len(jp), 3))
        jv = np.zeros_like(jp) if jp.ndim == 2 else jp
        clip = cls(fps, jp, jv, root_pos, rq, z, z, body_pos, body_names, name, source, dict(meta or {}))
        clip.recompute_velocities()
        return clip

    def recompute_velocities(self) -> MotionClip:
        """Overwrite all velocities with finite differences of the positions (in place; returns self)."""
        dt = 1.0 / self.fps
        self.joint_vel = finite_difference(self.joint_pos, dt)
        self.root_lin_vel = finite_difference(self.root_pos, dt)
        self.root_ang_vel = angular_velocity_world(self.root_quat, dt)
        return self

    # ---------------------------------------------------------------- basic properties
    @property
    def num_frames(self) -> int:
        return len(self.joint_pos)

    @property
    def dt(self) -> float:
        return 1.0 / self.fps

    @property
    def duration(self) -> float:
        """Seconds from the first to the last frame."""
        return (self.num_frames - 1) / self.fps

    @property
    def times(self) -> np.ndarray:
        return np.arange(self.num_frames) / self.fps

    def copy(self) -> MotionClip:
        bp = None if self.body_pos is None else self.body_pos.copy()
        return replace(
            self,
            joint_pos=self.joint_pos.copy(),
            joint_vel=self.joint_vel.copy(),
            root_pos=self.root_pos.copy(),
            root_quat=self.root_quat.copy(),
            root_lin_vel=self.root_lin_vel.copy(),
            root_ang_vel=self.root_ang_vel.copy(),
            body_pos=bp,
            meta=dict(self.meta),
        )

    def slice(self, start: int, stop: int | None = None) -> MotionClip:
        s = slice(start, stop)
        bp = None if self.body_pos is None else self.body_pos[s]
        return replace(
            self,
            joint_pos=self.joint_pos[s],
            joint_vel=self.joint_vel[s],
            root_pos=self.root_pos[s],
            root_quat=self.root_quat[s],
            root_lin_vel=self.root_lin_vel[s],
            root_ang_vel=self.root_ang_vel[s],
            body_pos=bp,
            meta=dict(self.meta),
        )

    # ---------------------------------------------------------------- derived quantities
    def heading(self) -> np.ndarray:
        """Pelvis yaw (T,), unwrapped."""
        return np.unwrap(yaw_from_wxyz(self.root_quat))

    def heading_velocity(self) -> np.ndarray:
        """(T, 3) = (vx, vy, yaw_rate): pelvis velocity in the yaw-only heading frame, world z rate.

        This is the "robot frame" of the CMG command labels (x forward, y left, horizontal).
        """
        v = rotate_z(self.root_lin_vel, -self.heading())
        return np.stack([v[:, 0], v[:, 1], self.root_ang_vel[:, 2]], axis=1)

    def local_velocity(self) -> tuple[np.ndarray, np.ndarray]:
        """Pelvis linear and angular velocity in the full pelvis frame (TWIST/upstream-CMG convention)."""
        r_inv = rot_from_wxyz(self.root_quat).inv()
        return r_inv.apply(self.root_lin_vel), r_inv.apply(self.root_ang_vel)

    def motion_state(self, dtype=np.float32) -> np.ndarray:
        """(T, 58) CMG motion state = [joint_pos (29), joint_vel (29)] in the G1 29-DOF order."""
        return np.concatenate([self.joint_pos, self.joint_vel], axis=1).astype(dtype)

    def qpos(self) -> np.ndarray:
        """(T, 36) MuJoCo qpos of the G1 free-floating model (root pos, root quat wxyz, 29 joints)."""
        return np.concatenate([self.root_pos, self.root_quat, self.joint_pos], axis=1)

    # ---------------------------------------------------------------- transforms
    def resample(self, fps: float = TARGET_FPS) -> MotionClip:
        """Resample to ``fps``: positions linearly, the root rotation with slerp, velocities recomputed.

        Frames are placed at k/fps for k = 0 .. floor(duration*fps) (the last source frame is kept when it
        falls on the new grid). A clip already at ``fps`` is returned as a copy, velocities untouched.
        """
        fps = float(fps)
        if abs(fps - self.fps) < 1e-9:
            return self.copy()
        n_new = int(np.floor(self.duration * fps + 1e-6)) + 1
        t_new = np.arange(n_new) / fps
        t_old = self.times
        if self.num_frames < 2:
            raise MotionDataError(f"{self.name}: cannot resample a single-frame clip")

        def lerp(x):
            x = np.asarray(x)
            flat = x.reshape(len(x), -1)
            out = np.empty((n_new, flat.shape[1]))
            for j in range(flat.shape[1]):
                out[:, j] = np.interp(t_new, t_old, flat[:, j])
            return out.reshape((n_new, *x.shape[1:]))

        slerp = Slerp(t_old, rot_from_wxyz(self.root_quat))
        quat = rot_to_wxyz(slerp(np.clip(t_new, t_old[0], t_old[-1])))
        out = MotionClip.from_positions(
            fps,
            lerp(self.joint_pos),
            lerp(self.root_pos),
            quat,
            None if self.body_pos is None else lerp(self.body_pos),
            self.body_names,
            self.name,
            self.source,
            {**self.meta, "resampled_from_fps": self.fps},
        )
        return out

    def mirrored(self) -> MotionClip:
        """Left/right mirror about the pelvis sagittal (x-z) plane of the world (y -> -y)."""
        jp = robot.mirror_joints(self.joint_pos)
        jv = robot.mirror_joints(self.joint_vel)
        pos = self.root_pos * [1, -1, 1]
        q = self.root_quat * [1, -1, 1, -1]  # reflect y: (w, x, y, z) -> (w, -x, y, -z)
        lin = self.root_lin_vel * [1, -1, 1]
        ang = self.root_ang_vel * [-1, 1, -1]
        bp, names = self.body_pos, self.body_names
        if bp is not None and names is not None:
            swap = [names.index(_swap_side(n)) if _swap_side(n) in names else i for i, n in enumerate(names)]
            bp = bp[:, swap] * [1, -1, 1]
        elif bp is not None:
            bp = None  # cannot mirror unnamed bodies
        return MotionClip(
            self.fps, jp, jv, pos, q, lin, ang, bp, names, self.name + "_mirror", self.source, dict(self.meta)
        )

    # ---------------------------------------------------------------- I/O
    def save(self, path) -> Path:
        """Save as the canonical npz (no pickles). Load with :func:`load_clip`."""
        import json

        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        arrays = dict(
            format_version=np.array(CLIP_FORMAT_VERSION),
            fps=np.array(self.fps),
            joint_names=np.array(robot.G1_JOINT_NAMES),
            joint_pos=self.joint_pos.astype(np.float32),
            joint_vel=self.joint_vel.astype(np.float32),
            root_pos=self.root_pos.astype(np.float32),
            root_quat_wxyz=self.root_quat.astype(np.float32),
            root_lin_vel_w=self.root_lin_vel.astype(np.float32),
            root_ang_vel_w=self.root_ang_vel.astype(np.float32),
            name=np.array(self.name),
            source=np.array(self.source),
            meta_json=np.array(json.dumps(self.meta, default=_json_default)),
        )
        if self.body_pos is not None:
            arrays["body_pos_w"] = self.body_pos.astype(np.float32)
            if self.body_names is not None:
                arrays["body_names"] = np.array(self.body_names)
        with open(path, "wb") as f:
            np.savez_compressed(f, **arrays)
        return path


def _swap_side(name: str) -> str:
    if name.startswith("left_"):
        return "right_" + name[5:]
    if name.startswith("right_"):
        return "left_" + name[6:]
    return name


def _json_default(o):
    if isinstance(o, np.ndarray):
        return o.tolist()
    if isinstance(o, np.generic):
        return o.item()
    return str(o)


CLIP_KEYS = (
    "fps",
    "joint_pos",
    "joint_vel",
    "root_pos",
    "root_quat_wxyz",
    "root_lin_vel_w",
    "root_ang_vel_w",
)


def load_clip(path) -> MotionClip:
    """Load a clip saved by :meth:`MotionClip.save` (canonical npz, ``allow_pickle=False``)."""
    import json

    path = Path(path)
    with np.load(path, allow_pickle=False) as z:
        missing = [k for k in CLIP_KEYS if k not in z.files]
        if missing:
            raise MotionDataError(
                f"{path}: not a canonical clip npz, missing keys {missing} (has {sorted(z.files)}); "
                "use twist_training.data.importers.load_motion for other formats"
            )
        names = tuple(str(n) for n in z["joint_names"]) if "joint_names" in z.files else robot.G1_JOINT_NAMES
        if names != robot.G1_JOINT_NAMES:
            raise MotionDataError(f"{path}: joint_names differ from the G1 29-DOF order")
        meta = json.loads(str(z["meta_json"])) if "meta_json" in z.files else {}
        return MotionClip(
            float(np.asarray(z["fps"]).reshape(-1)[0]),
            z["joint_pos"],
            z["joint_vel"],
            z["root_pos"],
            z["root_quat_wxyz"],
            z["root_lin_vel_w"],
            z["root_ang_vel_w"],
            z["body_pos_w"] if "body_pos_w" in z.files else None,
            tuple(str(b) for b in z["body_names"]) if "body_names" in z.files else None,
            str(z["name"]) if "name" in z.files else path.stem,
            str(z["source"]) if "source" in z.files else str(path),
            meta,
        )
