"""Locate the G1 MuJoCo model and build a simulation-ready scene from it.

The model files (``g1.xml`` + meshes, G1 29-DOF rev 1.0) come from the mjlab wheel, unpacked by
``scripts/setup.sh`` into ``<venv>/share/g1_description`` (never copied into this repository).
The raw model has no floor, no actuators, no armature and mixed collision settings; ``build_scene``
adds them from the robot spec so the simulator, the training backends and the tests all use the same
physics. Pure mujoco + numpy: no rclpy.
"""

from __future__ import annotations

import os
import sys
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from twist_controller import robot

G1_MODEL_ENV = "G1_MODEL_DIR"
G1_XML_NAME = "g1.xml"


class G1ModelNotFound(FileNotFoundError):
    """Raised when the G1 model files are not installed."""


def find_g1_model_dir() -> Path:
    """Directory holding ``g1.xml`` and its ``assets/`` meshes.

    Search order: ``$G1_MODEL_DIR``, ``$VIRTUAL_ENV/share/g1_description``,
    ``<sys.prefix>/share/g1_description``.
    """
    candidates: list[Path] = []
    if os.environ.get(G1_MODEL_ENV):
        candidates.append(Path(os.environ[G1_MODEL_ENV]))
    if os.environ.get("VIRTUAL_ENV"):
        candidates.append(Path(os.environ["VIRTUAL_ENV"]) / "share" / "g1_description")
    candidates.append(Path(sys.prefix) / "share" / "g1_description")
    for c in candidates:
        if (c / G1_XML_NAME).is_file():
            return c
    tried = ", ".join(str(c) for c in candidates)
    raise G1ModelNotFound(
        f"G1 MuJoCo model ({G1_XML_NAME}) not found (looked in: {tried}). "
        f"Run scripts/setup.sh, which unpacks it from the mjlab wheel, or set {G1_MODEL_ENV}."
    )


def g1_xml_path() -> Path:
    return find_g1_model_dir() / G1_XML_NAME


@dataclass
class SceneConfig:
    """How ``build_scene`` turns the raw G1 model into a simulation scene."""

    timestep: float = 0.002  # s; physics step (the PD loop runs at this rate)
    actuator: str = "motor"  # "motor": torque input clipped to the torque limit; "position": PD in C
    floor_friction: float = 1.0
    foot_friction: float = 0.8  # 0.6 made 150 N pushes fatal for the walking expert (docs/expert.md)
    add_floor: bool = True
    add_light: bool = True
    # Position actuators only: gains per joint (defaults to the spec's kp/kd).
    position_kp: tuple[float, ...] | None = None
    position_kd: tuple[float, ...] | None = None


def _is_foot_geom(name: str) -> bool:
    return "_foot" in name and name.endswith("_collision")


def build_scene_spec(cfg: SceneConfig | None = None):
    """Return an ``mujoco.MjSpec`` of the G1 scene (floor, actuators, armature, contact settings)."""
    import mujoco

    cfg = cfg or SceneConfig()
    if cfg.actuator not in ("motor", "position"):
        raise ValueError(f"SceneConfig.actuator must be 'motor' or 'position', not {cfg.actuator!r}")
    spec = mujoco.MjSpec.from_file(str(g1_xml_path()))
    spec.option.timestep = cfg.timestep

    # Joint order and armature from the spec (the xml carries none).
    hinge_names = [j.name for j in spec.joints if j.type == mujoco.mjtJoint.mjJNT_HINGE]
    if tuple(hinge_names) != robot.G1_JOINT_NAMES:
        raise RuntimeError(
            "G1 model joint order differs from twist_controller.robot.G1_JOINT_NAMES; "
            f"model has {hinge_names}"
        )
    for js in robot.JOINTS:
        spec.joint(js.name).armature = js.armature

    # Contacts as on the real robot's feet: soft-ish capsules with friction; others frictionless.
    for g in spec.geoms:
        if not g.name or not g.name.endswith("_collision"):
            continue
        if _is_foot_geom(g.name):
            g.condim = 3
            g.priority = 1
            g.friction = [cfg.foot_friction, 0.005, 0.0001]
        else:
            g.condim = 1

    if cfg.add_floor:
        floor = spec.worldbody.add_geom()
        floor.name = "floor"
        floor.type = mujoco.mjtGeom.mjGEOM_PLANE
        floor.size = [0, 0, 0.05]
        floor.friction = [cfg.floor_friction, 0.005, 0.0001]
        floor.rgba = [0.35, 0.38, 0.42, 1.0]
    if cfg.add_light:
        light = spec.worldbody.add_light()
        light.name = "sun"
        light.pos = [0, 0, 4]
        light.dir = [0, 0, -1]

    kp = np.asarray(cfg.position_kp if cfg.position_kp is not None else robot.KP, dtype=float)
    kd = np.asarray(cfg.position_kd if cfg.position_kd is not None else robot.KD, dtype=float)
    for i, js in enumerate(robot.JOINTS):
        act = spec.add_actuator()
        act.name = js.name.removesuffix("_joint")
        act.target = js.name
        act.trntype = mujoco.mjtTrn.mjTRN_JOINT
        act.forcelimited = mujoco.mjtLimited.mjLIMITED_TRUE
        act.forcerange = [-js.torque_limit, js.torque_limit]
        if cfg.actuator == "motor":
            act.gaintype = mujoco.mjtGain.mjGAIN_FIXED
            act.gainprm[0] = 1.0
            act.biastype = mujoco.mjtBias.mjBIAS_NONE
            act.ctrllimited = mujoco.mjtLimited.mjLIMITED_TRUE
            act.ctrlrange = [-js.torque_limit, js.torque_limit]
        else:
            # position servo: force = kp*(ctrl - q) - kd*qdot, computed inside MuJoCo's C step
            act.gaintype = mujoco.mjtGain.mjGAIN_FIXED
            act.gainprm[0] = kp[i]
            act.biastype = mujoco.mjtBias.mjBIAS_AFFINE
            act.biasprm[0] = 0.0
            act.biasprm[1] = -kp[i]
            act.biasprm[2] = -kd[i]
            act.ctrllimited = mujoco.mjtLimited.mjLIMITED_TRUE
            act.ctrlrange = [js.lower, js.upper]

    # A standing keyframe in the default pose.
    key = spec.add_key()
    key.name = "stand"
    qpos = np.zeros(7 + robot.NUM_JOINTS)
    qpos[2] = robot.STANDING_PELVIS_HEIGHT
    qpos[3] = 1.0
    qpos[7:] = robot.DEFAULT_POSITION
    key.qpos = qpos.tolist()
    return spec


def build_scene(cfg: SceneConfig | None = None):
    """Compiled ``mujoco.MjModel`` of the G1 scene; keyframe "stand" has the feet on the floor."""
    model = build_scene_spec(cfg).compile()
    model.key_qpos[0] = default_qpos(model)
    return model


def default_qpos(model) -> np.ndarray:
    """Free-joint + 29 joints in the default pose, pelvis lowered until the feet touch z = 0."""
    import mujoco

    qpos = np.zeros(model.nq)
    qpos[2] = robot.STANDING_PELVIS_HEIGHT
    qpos[3] = 1.0
    qpos[7:] = robot.DEFAULT_POSITION
    data = mujoco.MjData(model)
    data.qpos[:] = qpos
    mujoco.mj_kinematics(model, data)
    foot_ids = [g for g in range(model.ngeom) if _is_foot_geom(model.geom(g).name)]
    lowest = min(data.geom_xpos[g][2] - model.geom_size[g][0] for g in foot_ids)
    qpos[2] -= lowest  # feet exactly on the floor
    return qpos
