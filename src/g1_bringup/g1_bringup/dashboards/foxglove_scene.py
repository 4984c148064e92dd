"""The G1 in Foxglove's 3D panel: kinematics of the registry model, SceneUpdates of the measured robot and
of the reference pose (a translucent ghost next to it), TF frames, and the asset handler that serves the
model's STL meshes to the client (``package://g1_description/assets/<mesh>.STL``).

The meshes are read from ``twist_controller.g1_model.find_g1_model_dir()`` (unpacked from the registry
wheel by scripts/setup.sh); nothing is copied into this repository.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

ASSET_PACKAGE = "g1_description"
ASSET_PREFIX = f"package://{ASSET_PACKAGE}/"

ROBOT_COLOR = (0.72, 0.74, 0.78, 1.0)
GHOST_COLOR = (0.1, 0.8, 1.0, 0.35)


def quat_mul(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Hamilton product of (w, x, y, z) quaternions."""
    aw, ax, ay, az = a
    bw, bx, by, bz = b
    return np.array(
        [
            aw * bw - ax * bx - ay * by - az * bz,
            aw * bx + ax * bw + ay * bz - az * by,
            aw * by - ax * bz + ay * bw + az * bx,
            aw * bz + ax * by - ay * bx + az * bw,
        ]
    )


def quat_conj(q: np.ndarray) -> np.ndarray:
    return np.array([q[0], -q[1], -q[2], -q[3]])


def quat_rotate(q: np.ndarray, v: np.ndarray) -> np.ndarray:
    return quat_mul(quat_mul(q, np.array([0.0, *v])), quat_conj(q))[1:]


def compose(p1, q1, p2, q2):
    """(p1, q1) ∘ (p2, q2): pose 2 expressed in the frame of pose 1."""
    return p1 + quat_rotate(q1, p2), quat_mul(q1, q2)


def inverse(p, q):
    qi = quat_conj(q)
    return -quat_rotate(qi, p), qi


def quat_from_rpy_wxyz(roll: float, pitch: float, yaw: float) -> np.ndarray:
    cr, sr = np.cos(roll / 2), np.sin(roll / 2)
    cp, sp = np.cos(pitch / 2), np.sin(pitch / 2)
    cy, sy = np.cos(yaw / 2), np.sin(yaw / 2)
    return np.array(
        [
            cr * cp * cy + sr * sp * sy,
            sr * cp * cy - cr * sp * sy,
            cr * sp * cy + sr * cp * sy,
            cr * cp * sy - sr * sp * cy,
        ]
    )


@dataclass(frozen=True)
class MeshGeom:
    body: int  # body index in the MuJoCo model
    url: str  # package://g1_description/assets/<file>
    pos: np.ndarray  # raw STL frame in the body frame
    quat: np.ndarray  # (w, x, y, z)


class G1Kinematics:
    """Forward kinematics of the G1 (MuJoCo, ~2 µs) and the visual meshes placed on its bodies."""

    def __init__(self, model_dir: Path | None = None):
        import mujoco

        from twist_controller import robot
        from twist_controller.g1_model import G1_XML_NAME, find_g1_model_dir

        self._mj = mujoco
        self.model_dir = Path(model_dir) if model_dir else find_g1_model_dir()
        spec = mujoco.MjSpec.from_file(str(self.model_dir / G1_XML_NAME))
        mesh_file = {m.name: m.file for m in spec.meshes}
        meshdir = spec.compiler.meshdir or ""
        self.model = spec.compile()
        self.data = mujoco.MjData(self.model)
        m = self.model
        hinges = [m.joint(j).name for j in range(m.njnt) if m.jnt_type[j] == mujoco.mjtJoint.mjJNT_HINGE]
        if tuple(hinges) != tuple(robot.G1_JOINT_NAMES):
            raise RuntimeError("G1 model joint order differs from twist_controller.robot.G1_JOINT_NAMES")
        self.joint_names = tuple(robot.G1_JOINT_NAMES)
        self.default_position = np.asarray(robot.DEFAULT_POSITION, dtype=float)
        self.standing_height = float(robot.STANDING_PELVIS_HEIGHT)
        self.body_names = [m.body(b).name for b in range(m.nbody)]
        self.parent = [int(m.body_parentid[b]) for b in range(m.nbody)]
        geoms: list[MeshGeom] = []
        for g in range(m.ngeom):
            if m.geom_type[g] != mujoco.mjtGeom.mjGEOM_MESH or m.geom_group[g] != 2:
                continue
            mid = int(m.geom_dataid[g])
            fname = mesh_file.get(m.mesh(mid).name)
            if not fname:
                continue
            # MuJoCo re-centres meshes at compile time (mesh_pos/mesh_quat); undo it so the raw STL,
            # as the client loads it, lands where the compiled geom is.
            p, q = compose(
                m.geom_pos[g].copy(), m.geom_quat[g].copy(), *inverse(m.mesh_pos[mid], m.mesh_quat[mid])
            )
            rel = f"{meshdir}/{fname}" if meshdir else fname
            geoms.append(MeshGeom(int(m.geom_bodyid[g]), ASSET_PREFIX + rel, p, q / np.linalg.norm(q)))
        self.mesh_geoms = geoms

    def forward(self, root_pos, root_quat_wxyz, q29) -> tuple[np.ndarray, np.ndarray]:
        """World positions (nbody, 3) and orientations (nbody, 4; w, x, y, z) of every body."""
        d = self.data
        d.qpos[0:3] = root_pos
        d.qpos[3:7] = root_quat_wxyz
        d.qpos[7 : 7 + 29] = q29
        self._mj.mj_kinematics(self.model, d)
        return d.xpos.copy(), d.xquat.copy()

    def mesh_poses(self, xpos: np.ndarray, xquat: np.ndarray) -> list[tuple[str, np.ndarray, np.ndarray]]:
        return [(g.url, *compose(xpos[g.body], xquat[g.body], g.pos, g.quat)) for g in self.mesh_geoms]

    def skeleton_segments(self, xpos: np.ndarray) -> list[tuple[np.ndarray, np.ndarray]]:
        return [(xpos[self.parent[b]], xpos[b]) for b in range(2, len(self.body_names))]

    def relative_transforms(self, xpos, xquat) -> list[tuple[str, str, np.ndarray, np.ndarray]]:
        """(parent, child, translation, rotation wxyz) for every body below the pelvis."""
        out = []
        for b in range(2, len(self.body_names)):
            pb = self.parent[b]
            p, q = compose(*inverse(xpos[pb], xquat[pb]), xpos[b], xquat[b])
            out.append((self.body_names[pb], self.body_names[b], p, q))
        return out


def resolve_asset(model_dir: Path, uri: str) -> bytes | None:
    """Bytes of ``package://g1_description/<relative path>`` inside the model folder; None otherwise
    (unknown package, path escaping the folder, missing file)."""
    if not uri.startswith(ASSET_PREFIX):
        return None
    rel = uri[len(ASSET_PREFIX) :]
    root = Path(model_dir).resolve()
    path = (root / rel).resolve()
    if root not in path.parents or not path.is_file():
        return None
    return path.read_bytes()


# ------------------------------------------------------------------------------------------------------
# foxglove message builders (import foxglove lazily so the kinematics stay usable without it)
# ------------------------------------------------------------------------------------------------------


def _pose(fm, p, q):
    return fm.Pose(
        position=fm.Vector3(x=float(p[0]), y=float(p[1]), z=float(p[2])),
        orientation=fm.Quaternion(x=float(q[1]), y=float(q[2]), z=float(q[3]), w=float(q[0])),
    )


def robot_entity(
    kin: G1Kinematics, entity_id: str, frame_id: str, xpos, xquat, color, stamp_ns: int, label=""
):
    """A SceneEntity of the G1: one STL model per visual geom plus a line skeleton (visible even when the
    client cannot fetch the meshes)."""
    import foxglove.messages as fm

    col = fm.Color(r=color[0], g=color[1], b=color[2], a=color[3])
    models = [
        fm.ModelPrimitive(
            pose=_pose(fm, p, q),
            scale=fm.Vector3(x=1.0, y=1.0, z=1.0),
            color=col,
            override_color=True,
            url=url,
            media_type="model/stl",
        )
        for url, p, q in kin.mesh_poses(xpos, xquat)
    ]
    pts = []
    for a, b in kin.skeleton_segments(xpos):
        pts.append(fm.Point3(x=float(a[0]), y=float(a[1]), z=float(a[2])))
        pts.append(fm.Point3(x=float(b[0]), y=float(b[1]), z=float(b[2])))
    line = fm.LinePrimitive(
        type=fm.LinePrimitiveLineType.LineList,
        thickness=3.0,
        scale_invariant=True,
        points=pts,
        color=fm.Color(r=color[0], g=color[1], b=color[2], a=1.0),
    )
    texts = []
    if label:
        top = xpos[1] + np.array([0.0, 0.0, 0.75])
        texts.append(
            fm.TextPrimitive(
                pose=_pose(fm, top, np.array([1.0, 0, 0, 0])),
                billboard=True,
                font_size=14.0,
                scale_invariant=True,
                color=fm.Color(r=1.0, g=1.0, b=1.0, a=1.0),
                text=label,
            )
        )
    sec, nsec = divmod(int(stamp_ns), 1_000_000_000)
    return fm.SceneEntity(
        timestamp=fm.Timestamp(sec=sec, nsec=nsec),
        frame_id=frame_id,
        id=entity_id,
        models=models,
        lines=[line],
        texts=texts,
    )


def frame_transforms(kin: G1Kinematics, fixed_frame: str, xpos, xquat, stamp_ns: int):
    """FrameTransforms: fixed_frame -> pelvis, then parent link -> child link (names as in the URDF)."""
    import foxglove.messages as fm

    sec, nsec = divmod(int(stamp_ns), 1_000_000_000)
    ts = fm.Timestamp(sec=sec, nsec=nsec)

    def tf(parent, child, p, q):
        return fm.FrameTransform(
            timestamp=ts,
            parent_frame_id=parent,
            child_frame_id=child,
            translation=fm.Vector3(x=float(p[0]), y=float(p[1]), z=float(p[2])),
            rotation=fm.Quaternion(x=float(q[1]), y=float(q[2]), z=float(q[3]), w=float(q[0])),
        )

    out = [tf(fixed_frame, kin.body_names[1], xpos[1], xquat[1])]
    out += [tf(*t) for t in kin.relative_transforms(xpos, xquat)]
    return fm.FrameTransforms(transforms=out)
