"""Exporters: :class:`MotionClip` -> the formats :mod:`.importers` reads (so our data feeds other tools).

* :func:`save_npz` - our canonical npz (same as ``clip.save``).
* :func:`export_mjlab_npz` - mjlab / BeyondMimic motion npz (30 bodies by FK, wxyz, world frame).
* :func:`export_amass_g1_npz` - AMASS-G1 npz layout of cmg_workspace (``dof_positions`` ...).
* :func:`export_twist_pkl` - TWIST motion pkl (23 DOF, ``root_rot`` **xyzw**, ``local_body_pos`` in the
  root frame, ``link_body_list``) so our data feeds upstream TWIST training.
* :func:`export_gmr_pkl` - GMR-style pkl (29 DOF, xyzw).
* :func:`export_g1_csv` - Unitree LAFAN1-style G1 CSV (36 columns, quat xyzw, no header).

Body positions/rotations come from forward kinematics of the G1 model. TWIST's key bodies
``left_rubber_hand`` / ``right_rubber_hand`` / ``head_mocap`` do not exist in the mjlab G1 model; the
TWIST export adds them at fixed offsets (palm sites: 8 cm along the wrist-yaw link x axis; head: 0.43 m
above the torso link origin). These are approximations; replace them if you have the exact links.
"""

from __future__ import annotations

import pickle
from pathlib import Path

import numpy as np

from twist_controller import robot

from .clip import MotionClip, rot_from_wxyz, wxyz_to_xyzw

TWIST_EXTRA_BODIES = {
    # name: (parent body, offset in the parent frame)
    "left_rubber_hand": ("left_wrist_yaw_link", (0.08, 0.0, 0.0)),
    "right_rubber_hand": ("right_wrist_yaw_link", (0.08, 0.0, 0.0)),
    "head_mocap": ("torso_link", (0.0, 0.0, 0.43)),
}


def save_npz(clip: MotionClip, path) -> Path:
    return clip.save(path)


def _body_states(clip: MotionClip):
    from .kinematics import body_names, clip_body_states

    return body_names(), clip_body_states(clip)


def export_mjlab_npz(clip: MotionClip, path) -> Path:
    _, s = _body_states(clip)
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "wb") as f:
        np.savez(
            f,
            fps=np.array([clip.fps], dtype=np.float64),
            joint_pos=clip.joint_pos.astype(np.float32),
            joint_vel=clip.joint_vel.astype(np.float32),
            body_pos_w=s["body_pos"].astype(np.float32),
            body_quat_w=s["body_quat"].astype(np.float32),
            body_lin_vel_w=s["body_lin_vel"].astype(np.float32),
            body_ang_vel_w=s["body_ang_vel"].astype(np.float32),
        )
    return path


def export_amass_g1_npz(clip: MotionClip, path) -> Path:
    names, s = _body_states(clip)
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "wb") as f:
        np.savez(
            f,
            fps=np.array([clip.fps], dtype=np.float32),
            dof_names=np.array(robot.G1_JOINT_NAMES),
            body_names=np.array(names),
            dof_positions=clip.joint_pos.astype(np.float32),
            dof_velocities=clip.joint_vel.astype(np.float32),
            body_positions=s["body_pos"].astype(np.float32),
            body_rotations=s["body_quat"].astype(np.float32),
            body_linear_velocities=s["body_lin_vel"].astype(np.float32),
            body_angular_velocities=s["body_ang_vel"].astype(np.float32),
        )
    return path


def _local_body_pos(clip: MotionClip, extra: bool):
    """Body positions relative to the root, in the root frame, (T, B, 3), and their names."""
    names, s = _body_states(clip)
    bp, bq = s["body_pos"], s["body_quat"]
    names = list(names)
    if extra:
        extras = []
        for n, (parent, off) in TWIST_EXTRA_BODIES.items():
            i = names.index(parent)
            extras.append(bp[:, i] + rot_from_wxyz(bq[:, i]).apply(np.asarray(off)).reshape(len(bp), 3))
            names.append(n)
        bp = np.concatenate([bp, np.stack(extras, axis=1)], axis=1)
    r_inv = rot_from_wxyz(clip.root_quat).inv().as_matrix()
    local = np.einsum("tij,tbj->tbi", r_inv, bp - clip.root_pos[:, None, :])
    return local, names


def _write_pkl(path, data) -> Path:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "wb") as f:
        pickle.dump(data, f)
    return path


def export_twist_pkl(clip: MotionClip, path) -> Path:
    """TWIST motion pkl (23-DOF policy order; wrists dropped)."""
    local, names = _local_body_pos(clip, extra=True)
    return _write_pkl(
        path,
        {
            "fps": float(clip.fps),
            "root_pos": clip.root_pos.astype(np.float32),
            "root_rot": wxyz_to_xyzw(clip.root_quat).astype(np.float32),
            "dof_pos": robot.full_to_policy(clip.joint_pos).astype(np.float32),
            "local_body_pos": local.astype(np.float32),
            "link_body_list": names,
        },
    )


def export_gmr_pkl(clip: MotionClip, path, with_bodies: bool = True) -> Path:
    """GMR-style pkl (29 DOF, ``root_rot`` xyzw)."""
    local, names = _local_body_pos(clip, extra=False) if with_bodies else (None, None)
    return _write_pkl(
        path,
        {
            "fps": float(clip.fps),
            "root_pos": clip.root_pos.astype(np.float32),
            "root_rot": wxyz_to_xyzw(clip.root_quat).astype(np.float32),
            "dof_pos": clip.joint_pos.astype(np.float32),
            "local_body_pos": None if local is None else local.astype(np.float32),
            "link_body_list": names,
        },
    )


def export_g1_csv(clip: MotionClip, path) -> Path:
    """Unitree LAFAN1-style CSV at the clip's own rate (resample first if a tool expects 30 fps)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    a = np.concatenate([clip.root_pos, wxyz_to_xyzw(clip.root_quat), clip.joint_pos], axis=1)
    np.savetxt(path, a, delimiter=",", fmt="%.7f")
    return path


EXPORTERS = {
    "canonical": save_npz,
    "mjlab": export_mjlab_npz,
    "amass_g1": export_amass_g1_npz,
    "twist_pkl": export_twist_pkl,
    "gmr_pkl": export_gmr_pkl,
    "g1_csv": export_g1_csv,
}


def export_motion(clip: MotionClip, path, fmt: str) -> Path:
    if fmt not in EXPORTERS:
        raise ValueError(f"unknown export format {fmt!r}; choose from {', '.join(EXPORTERS)}")
    return EXPORTERS[fmt](clip, path)


def export_twist_dataset(clips, directory, weights=None, description: str = "") -> Path:
    """Write TWIST motion pkls plus the dataset YAML TWIST's motion library reads
    (``root_path`` + ``motions: [{file, weight, description}]``); returns the YAML path."""
    import yaml

    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    weights = [1.0] * len(clips) if weights is None else list(weights)
    if len(weights) != len(clips):
        raise ValueError(f"{len(weights)} weights for {len(clips)} clips")
    motions = []
    used: set[str] = set()
    for clip, w in zip(clips, weights, strict=True):
        stem = "".join(ch if ch.isalnum() or ch in "-_." else "_" for ch in clip.name) or "clip"
        name, i = stem, 1
        while name in used:
            name, i = f"{stem}_{i}", i + 1
        used.add(name)
        export_twist_pkl(clip, directory / f"{name}.pkl")
        motions.append({"file": f"{name}.pkl", "weight": float(w), "description": description or clip.source})
    path = directory / "twist_dataset.yaml"
    path.write_text(
        yaml.safe_dump({"root_path": str(directory.resolve()), "motions": motions}, sort_keys=False)
    )
    return path
