"""The walking G1 expert policies of the ``holosoma-inference`` wheel, as first-class policies.

``scripts/setup.sh`` unpacks ``fastsac_g1_29dof.onnx`` and ``ppo_g1_29dof.onnx`` (unchanged; Apache-2.0,
LICENSE + NOTICE beside them) into ``<venv>/share/holosoma_g1_loco``. Their ONNX metadata states the
joint names and kp/kd but not the default pose, action scale or observation layout; those are
fixed facts of how the policies were trained, written down here once (docs/expert.md):

* observation ``holosoma_loco_v1`` (100 floats, :mod:`twist_controller.loco_observations`);
* target = default + 0.25 x clip(action, +-100) on all 29 joints;
* the default pose below (not ours: with ours it walks, but backwards commands read 25-100 % off).

The files have a fixed batch of 1. :func:`dynamic_batch_session` rewrites the batch dimension as
symbolic in memory (no other change), so training labels a whole batch of envs in one call; a test
checks that batched rows equal row-by-row outputs of the original file.
"""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path

import numpy as np

from twist_controller import robot

EXPERT_NAMES = ("fastsac", "ppo")
EXPERT_DIR_NAME = "holosoma_g1_loco"
LOCO_ACTION_SCALE = 0.25
LOCO_ACTION_CLIP = 100.0

_LEG = (-0.312, 0.0, 0.0, 0.669, -0.363, 0.0)
_LEFT_ARM = (0.2, 0.2, 0.0, 0.6, 0.0, 0.0, 0.0)
_RIGHT_ARM = (0.2, -0.2, 0.0, 0.6, 0.0, 0.0, 0.0)
LOCO_DEFAULT_POSITION = np.array([*_LEG, *_LEG, 0.0, 0.0, 0.0, *_LEFT_ARM, *_RIGHT_ARM], dtype=np.float64)


class ExpertNotFound(FileNotFoundError):
    """The expert ONNX files are not installed; the message says how to get them."""


def expert_dir() -> Path:
    """Folder holding the expert ONNX files.

    Search order: ``$G1_EXPERT_DIR``, ``$VIRTUAL_ENV/share/holosoma_g1_loco``, ``<sys.prefix>/share/...``.
    """
    candidates = []
    if os.environ.get("G1_EXPERT_DIR"):
        candidates.append(Path(os.environ["G1_EXPERT_DIR"]))
    if os.environ.get("VIRTUAL_ENV"):
        candidates.append(Path(os.environ["VIRTUAL_ENV"]) / "share" / EXPERT_DIR_NAME)
    candidates.append(Path(sys.prefix) / "share" / EXPERT_DIR_NAME)
    for c in candidates:
        if (c / "fastsac_g1_29dof.onnx").is_file():
            return c
    raise ExpertNotFound(
        "the holosoma G1 expert policies are not installed (looked in "
        + ", ".join(str(c) for c in candidates)
        + "); run scripts/setup.sh, or set G1_EXPERT_DIR to a folder with fastsac_g1_29dof.onnx"
    )


def expert_path(name: str) -> Path:
    """Path of expert ``name`` ('fastsac' or 'ppo'; 'expert_fastsac' etc. accepted)."""
    key = name.removeprefix("expert_").removeprefix("expert:")
    if key not in EXPERT_NAMES:
        raise ValueError(f"unknown expert {name!r}: choose one of {', '.join(EXPERT_NAMES)}")
    return expert_dir() / f"{key}_g1_29dof.onnx"


def is_loco_onnx(custom_metadata: dict[str, str]) -> bool:
    """True for an ONNX file that carries holosoma's locomotion metadata (dof_names, kp, kd)."""
    return {"dof_names", "kp", "kd"} <= set(custom_metadata)


def loco_metadata_fields(custom_metadata: dict[str, str]) -> dict:
    """Our policy-metadata fields for a holosoma locomotion ONNX, from its own metadata + the fixed
    facts above. Raises ValueError when the file's joints are not the G1 29-DOF order."""
    names = json.loads(custom_metadata["dof_names"])
    if list(names) != list(robot.G1_JOINT_NAMES):
        raise ValueError("dof_names are not the G1 29-DOF motor order")
    kp = [float(x) for x in json.loads(custom_metadata["kp"])]
    kd = [float(x) for x in json.loads(custom_metadata["kd"])]
    ranges = json.loads(custom_metadata.get("command_ranges", "{}") or "{}")
    low = [ranges.get(k, [-1.0, 1.0])[0] for k in ("lin_vel_x", "lin_vel_y", "ang_vel_yaw")]
    high = [ranges.get(k, [-1.0, 1.0])[1] for k in ("lin_vel_x", "lin_vel_y", "ang_vel_yaw")]
    return {
        "joint_names": list(robot.G1_JOINT_NAMES),
        "action_joint_names": list(robot.G1_JOINT_NAMES),
        "default_position": LOCO_DEFAULT_POSITION.tolist(),
        "kp": kp,
        "kd": kd,
        "action_scale": LOCO_ACTION_SCALE,
        "action_clip": LOCO_ACTION_CLIP,
        "observation_layout": "holosoma_loco_v1",
        "observation_size": 100,
        "command_low": low,
        "command_high": high,
        "unactuated_hold": "default",
        "description": "holosoma G1 29-DOF velocity locomotion expert (Apache-2.0, amazon-far/holosoma)",
    }


def dynamic_batch_session(path: str | Path, num_threads: int = 1):
    """onnxruntime session of ``path`` with the batch dimension made symbolic (in memory only)."""
    import onnx
    import onnxruntime as ort

    model = onnx.load(str(path))
    for t in [*model.graph.input, *model.graph.output]:
        dim = t.type.tensor_type.shape.dim[0]
        dim.ClearField("dim_value")
        dim.dim_param = "batch"
    del model.graph.value_info[:]  # stale fixed-batch shapes of intermediates
    opts = ort.SessionOptions()
    opts.intra_op_num_threads = num_threads
    opts.inter_op_num_threads = 1
    return ort.InferenceSession(model.SerializeToString(), opts, providers=["CPUExecutionProvider"])
