"""Load, check and run exported tracking policies (no rclpy).

Our exports are TorchScript (``.pt``) or ONNX (``.onnx``) files that carry a JSON metadata record
(``POLICY_METADATA_KEY``): robot joint order, gains, default pose, action scale and the observation
layout. ``load_policy`` refuses a file whose metadata disagrees with ``twist_controller.robot``,
naming each mismatching field. Upstream TWIST student TorchScript files (no metadata, 1155 floats in,
23 actions out, normalizer inside) load with ``compat="twist_upstream"``.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np

from twist_controller import robot
from twist_controller.observations import STUDENT_LAYOUT

POLICY_METADATA_KEY = "g1_twist_policy.json"
METADATA_VERSION = 1


class PolicyLoadError(RuntimeError):
    """The file cannot be used as a G1 tracking policy; the message says why."""


@dataclass
class PolicyMetadata:
    """What an exported policy must declare so the runtime can check it against the robot spec."""

    joint_names: list[str] = field(default_factory=lambda: list(robot.G1_JOINT_NAMES))
    action_joint_names: list[str] = field(default_factory=lambda: list(robot.POLICY_JOINT_NAMES))
    default_position: list[float] = field(default_factory=lambda: robot.DEFAULT_POSITION.tolist())
    kp: list[float] = field(default_factory=lambda: robot.KP.tolist())
    kd: list[float] = field(default_factory=lambda: robot.KD.tolist())
    action_scale: float = robot.ACTION_SCALE
    action_clip: float = robot.ACTION_CLIP
    observation_layout: str = STUDENT_LAYOUT.name
    observation_size: int = STUDENT_LAYOUT.size
    control_dt: float = 0.02
    metadata_version: int = METADATA_VERSION
    description: str = ""  # free text: how it was trained, on what, quality notes

    def to_json(self) -> str:
        return json.dumps(asdict(self), indent=1)

    @classmethod
    def from_json(cls, text: str) -> PolicyMetadata:
        raw = json.loads(text)
        known = {f for f in cls.__dataclass_fields__}
        return cls(**{k: v for k, v in raw.items() if k in known})


def check_metadata(meta: PolicyMetadata, atol: float = 1e-6) -> list[str]:
    """Human-readable mismatches between a policy's metadata and the robot spec (empty = OK)."""
    problems: list[str] = []
    if meta.metadata_version != METADATA_VERSION:
        problems.append(f"metadata_version {meta.metadata_version} (this runtime reads {METADATA_VERSION})")
    if list(meta.joint_names) != list(robot.G1_JOINT_NAMES):
        problems.append("joint_names differ from the G1 29-DOF order")
    if list(meta.action_joint_names) != list(robot.POLICY_JOINT_NAMES):
        problems.append("action_joint_names differ from the 23-DOF policy order")
    for name, ours in (("default_position", robot.DEFAULT_POSITION), ("kp", robot.KP), ("kd", robot.KD)):
        theirs = np.asarray(getattr(meta, name), dtype=float)
        if theirs.shape != ours.shape:
            problems.append(f"{name} has {theirs.size} values, expected {ours.size}")
        elif not np.allclose(theirs, ours, atol=atol):
            bad = [robot.G1_JOINT_NAMES[i] for i in np.flatnonzero(~np.isclose(theirs, ours, atol=atol))]
            problems.append(f"{name} differs for {', '.join(bad[:4])}{' ...' if len(bad) > 4 else ''}")
    if abs(meta.action_scale - robot.ACTION_SCALE) > atol:
        problems.append(f"action_scale {meta.action_scale} != {robot.ACTION_SCALE}")
    if meta.observation_layout != STUDENT_LAYOUT.name or meta.observation_size != STUDENT_LAYOUT.size:
        problems.append(
            f"observation layout {meta.observation_layout}/{meta.observation_size} is not "
            f"{STUDENT_LAYOUT.name}/{STUDENT_LAYOUT.size}"
        )
    return problems


class LoadedPolicy:
    """A policy ready to run: ``act(obs (N, obs_size)) -> raw actions (N, 23)``."""

    def __init__(self, run, metadata: PolicyMetadata, path: Path, backend: str):
        self._run = run
        self.metadata = metadata
        self.path = path
        self.backend = backend  # "torchscript" or "onnx"

    @property
    def observation_size(self) -> int:
        return self.metadata.observation_size

    def act(self, obs: np.ndarray) -> np.ndarray:
        obs = np.asarray(obs, dtype=np.float32)
        if obs.ndim != 2 or obs.shape[1] != self.observation_size:
            raise ValueError(f"observation must be (N, {self.observation_size}), got {obs.shape}")
        return np.asarray(self._run(obs), dtype=np.float64)


def export_policy(module, path: str | Path, metadata: PolicyMetadata | None = None) -> Path:
    """Write ``module`` (a torch.nn.Module mapping (N, obs) -> (N, 23)) with its metadata.

    The format follows the suffix: ``.pt`` TorchScript, ``.onnx`` ONNX.
    """
    import torch

    path = Path(path)
    meta = metadata or PolicyMetadata()
    path.parent.mkdir(parents=True, exist_ok=True)
    example = torch.zeros(1, meta.observation_size)
    module = module.eval()
    if path.suffix == ".pt":
        scripted = torch.jit.trace(module, example)
        torch.jit.save(scripted, str(path), _extra_files={POLICY_METADATA_KEY: meta.to_json()})
    elif path.suffix == ".onnx":
        import warnings

        import onnx

        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            torch.onnx.export(
                module,
                (example,),
                str(path),
                input_names=["obs"],
                output_names=["actions"],
                dynamic_axes={"obs": {0: "batch"}, "actions": {0: "batch"}},
                dynamo=False,
            )
        model = onnx.load(str(path))
        entry = model.metadata_props.add()
        entry.key, entry.value = POLICY_METADATA_KEY, meta.to_json()
        onnx.save(model, str(path))
    else:
        raise ValueError(f"unknown policy format {path.suffix!r}: use .pt (TorchScript) or .onnx")
    return path


def _load_torchscript(path: Path):
    import torch

    extra = {POLICY_METADATA_KEY: ""}
    try:
        module = torch.jit.load(str(path), map_location="cpu", _extra_files=extra)
    except Exception as exc:  # corrupt or not TorchScript
        raise PolicyLoadError(f"{path}: not a loadable TorchScript file ({exc})") from exc
    module.eval()

    def run(obs: np.ndarray) -> np.ndarray:
        with torch.inference_mode():
            return module(torch.from_numpy(obs)).numpy()

    return run, extra[POLICY_METADATA_KEY]


def _load_onnx(path: Path):
    import onnxruntime as ort

    opts = ort.SessionOptions()
    opts.intra_op_num_threads = 1
    opts.inter_op_num_threads = 1
    try:
        session = ort.InferenceSession(str(path), opts, providers=["CPUExecutionProvider"])
    except Exception as exc:
        raise PolicyLoadError(f"{path}: not a loadable ONNX file ({exc})") from exc
    meta = session.get_modelmeta().custom_metadata_map.get(POLICY_METADATA_KEY, "")
    input_name = session.get_inputs()[0].name

    def run(obs: np.ndarray) -> np.ndarray:
        return session.run(None, {input_name: obs})[0]

    return run, meta


def load_policy(path: str | Path, compat: str | None = None) -> LoadedPolicy:
    """Load an exported policy and check it against the robot spec.

    ``compat="twist_upstream"`` accepts a TWIST student TorchScript without metadata (1155 -> 23).
    """
    path = Path(path)
    if not path.is_file():
        raise PolicyLoadError(f"policy file not found: {path}")
    if path.suffix == ".onnx":
        run, meta_text = _load_onnx(path)
        backend = "onnx"
    else:
        run, meta_text = _load_torchscript(path)
        backend = "torchscript"

    if compat == "twist_upstream":
        meta = PolicyMetadata(description="upstream TWIST student (compatibility mode, no metadata)")
    elif compat is not None:
        raise ValueError(f"unknown compat mode {compat!r} (known: 'twist_upstream')")
    elif not meta_text:
        raise PolicyLoadError(
            f"{path} carries no {POLICY_METADATA_KEY} metadata. Export it with "
            "twist_controller.policy.export_policy, or load an upstream TWIST student with "
            "compat='twist_upstream' (parameter policy_compat:=twist_upstream)."
        )
    else:
        try:
            meta = PolicyMetadata.from_json(meta_text)
            problems = check_metadata(meta)
        except (ValueError, TypeError, AttributeError) as exc:  # not a JSON object / wrong field types
            raise PolicyLoadError(f"{path}: unreadable policy metadata ({exc})") from exc
        if problems:
            raise PolicyLoadError(
                f"{path} does not match this robot spec: "
                + "; ".join(problems)
                + ". Re-export the policy for twist_controller.robot or fix the spec."
            )

    policy = LoadedPolicy(run, meta, path, backend)
    # Probe once: catches wrong input/output sizes at load time, not on the robot.
    try:
        out = policy.act(np.zeros((1, meta.observation_size), dtype=np.float32))
    except Exception as exc:
        raise PolicyLoadError(
            f"{path}: does not accept a (1, {meta.observation_size}) observation ({exc})"
        ) from exc
    if out.shape != (1, robot.NUM_POLICY_JOINTS):
        raise PolicyLoadError(f"{path}: outputs shape {out.shape}, expected (1, {robot.NUM_POLICY_JOINTS})")
    return policy


def actions_to_targets(raw_actions: np.ndarray, wrist_targets: np.ndarray | None = None) -> np.ndarray:
    """Raw policy output (N, 23) -> 29-DOF joint position targets, clipped to the joint limits.

    target = default + action_scale * clip(action, +-action_clip); wrists follow ``wrist_targets``
    (29-DOF array whose wrist entries are used; default pose when None).
    """
    a = np.clip(np.asarray(raw_actions, dtype=np.float64), -robot.ACTION_CLIP, robot.ACTION_CLIP)
    policy_targets = robot.full_to_policy(robot.DEFAULT_POSITION) + robot.ACTION_SCALE * a
    full = robot.policy_to_full(policy_targets, fill=wrist_targets)
    return robot.clip_to_limits(full)
