"""Load, check and run exported policies (no rclpy). A policy carries its own control interface.

Our exports are TorchScript (``.pt``) or ONNX (``.onnx``) files that carry a JSON metadata record
(``POLICY_METADATA_KEY``): joint order, the joints the policy actuates, **its** gains, default pose,
action scale and clip, observation layout, and what the other joints hold. Those fields, and nothing
else, decide what the policy's outputs mean: the policy node publishes the artifact's kp/kd in every
``JointTargets`` and the bridge applies them (capped only by the safety ceilings of
``twist_controller.robot``). ``load_policy`` refuses a file whose metadata is inconsistent, naming
each problem.

Three kinds of files load:

* our exports (metadata inside): the TWIST-layout students (``twist_student_v1``), with TWIST's
  interface or the locomotion expert's (a distilled student keeps the gains it was trained under);
* the holosoma G1 locomotion experts (``expert:fastsac`` / ``expert:ppo`` or their ONNX path): the
  interface is built from the file's own metadata (joints, kp, kd) + :mod:`twist_controller.expert`;
* upstream TWIST student TorchScript (no metadata, 1155 floats in, 23 actions out, normalizer
  inside) with ``compat="twist_upstream"``: TWIST's gains and pose.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np

from twist_controller import expert, robot
from twist_controller.loco_observations import LOCO_LAYOUT
from twist_controller.observations import STUDENT_LAYOUT

POLICY_METADATA_KEY = "g1_twist_policy.json"
METADATA_VERSION = 2
READABLE_METADATA_VERSIONS = (1, 2)  # 1: TWIST interface implied for the fields added in 2
# observation layout name -> size; the policy runtime has one builder per layout
OBSERVATION_LAYOUTS = {STUDENT_LAYOUT.name: STUDENT_LAYOUT.size, LOCO_LAYOUT.name: LOCO_LAYOUT.size}
# the joint sets a policy may actuate (its outputs, in this order)
ACTION_JOINT_SETS = {
    robot.NUM_POLICY_JOINTS: list(robot.POLICY_JOINT_NAMES),
    robot.NUM_JOINTS: list(robot.G1_JOINT_NAMES),
}
UNACTUATED_HOLDS = ("reference", "default")  # what joints outside action_joint_names are held at


class PolicyLoadError(RuntimeError):
    """The file cannot be used as a G1 policy; the message says why."""


@dataclass
class PolicyMetadata:
    """A policy's control interface. Defaults = TWIST's (the upstream student's) interface."""

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
    # joints the policy does not actuate (TWIST: the wrists) follow the reference or hold the default
    unactuated_hold: str = "reference"
    # velocity-command layouts only: the command range the policy was trained on (vx, vy, yaw rate)
    command_low: list[float] | None = None
    command_high: list[float] | None = None
    metadata_version: int = METADATA_VERSION
    description: str = ""  # free text: how it was trained, on what, quality notes

    def to_json(self) -> str:
        return json.dumps(asdict(self), indent=1)

    @classmethod
    def from_json(cls, text: str) -> PolicyMetadata:
        raw = json.loads(text)
        known = {f for f in cls.__dataclass_fields__}
        return cls(**{k: v for k, v in raw.items() if k in known})

    # -- derived arrays (29-DOF order)
    @property
    def default_array(self) -> np.ndarray:
        return np.asarray(self.default_position, dtype=np.float64)

    @property
    def action_indices(self) -> np.ndarray:
        """29-DOF index of each action, in output order."""
        return np.array([robot.joint_index(n) for n in self.action_joint_names], dtype=np.int64)


def check_metadata(meta: PolicyMetadata) -> list[str]:
    """Human-readable problems with a policy's interface (empty = OK)."""
    problems: list[str] = []
    if meta.metadata_version not in READABLE_METADATA_VERSIONS:
        problems.append(
            f"metadata_version {meta.metadata_version} (this runtime reads {READABLE_METADATA_VERSIONS})"
        )
    if list(meta.joint_names) != list(robot.G1_JOINT_NAMES):
        problems.append("joint_names differ from the G1 29-DOF order")
    if list(meta.action_joint_names) not in ACTION_JOINT_SETS.values():
        problems.append("action_joint_names are neither the 23-DOF policy order nor the 29-DOF order")
    for name in ("default_position", "kp", "kd"):
        v = np.asarray(getattr(meta, name), dtype=float)
        if v.shape != (robot.NUM_JOINTS,) or not np.all(np.isfinite(v)):
            problems.append(f"{name} must be {robot.NUM_JOINTS} finite values")
    if not problems:
        d = meta.default_array
        if np.any(d < robot.POSITION_LOWER) or np.any(d > robot.POSITION_UPPER):
            problems.append("default_position lies outside the joint limits")
        for name, ceiling in (("kp", robot.GAIN_CEILING_KP), ("kd", robot.GAIN_CEILING_KD)):
            v = np.asarray(getattr(meta, name), dtype=float)
            bad = [robot.G1_JOINT_NAMES[i] for i in np.flatnonzero((v < 0) | (v > 3.0 * ceiling))]
            if bad:
                problems.append(f"{name} negative or above 3x the robot's ceiling for {', '.join(bad[:4])}")
    if not (np.isfinite(meta.action_scale) and 0 < meta.action_scale <= 2.0):
        problems.append(f"action_scale {meta.action_scale} outside (0, 2]")
    if not (np.isfinite(meta.action_clip) and meta.action_clip > 0):
        problems.append(f"action_clip {meta.action_clip} must be > 0")
    if OBSERVATION_LAYOUTS.get(meta.observation_layout) != meta.observation_size:
        problems.append(
            f"observation layout {meta.observation_layout}/{meta.observation_size} is not one of "
            + ", ".join(f"{k}/{v}" for k, v in OBSERVATION_LAYOUTS.items())
        )
    if meta.unactuated_hold not in UNACTUATED_HOLDS:
        problems.append(f"unactuated_hold {meta.unactuated_hold!r} is not one of {UNACTUATED_HOLDS}")
    if meta.observation_layout == LOCO_LAYOUT.name and (
        meta.command_low is None or meta.command_high is None
    ):
        problems.append("a velocity-command layout needs command_low/command_high")
    return problems


class LoadedPolicy:
    """A policy ready to run: ``act(obs (N, obs_size)) -> raw actions (N, len(action_joint_names))``."""

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
    """Write ``module`` (a torch.nn.Module mapping (N, obs) -> (N, actions)) with its metadata.

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
    """(run, our metadata JSON or '', the file's other custom metadata)."""
    import onnxruntime as ort

    opts = ort.SessionOptions()
    opts.intra_op_num_threads = 1
    opts.inter_op_num_threads = 1
    try:
        session = ort.InferenceSession(str(path), opts, providers=["CPUExecutionProvider"])
    except Exception as exc:
        raise PolicyLoadError(f"{path}: not a loadable ONNX file ({exc})") from exc
    custom = dict(session.get_modelmeta().custom_metadata_map)
    if POLICY_METADATA_KEY not in custom and expert.is_loco_onnx(custom):
        session = expert.dynamic_batch_session(path)  # fixed batch 1 upstream; same graph otherwise
    input_name = session.get_inputs()[0].name

    def run(obs: np.ndarray) -> np.ndarray:
        return session.run(None, {input_name: obs})[0]

    return run, custom.get(POLICY_METADATA_KEY, ""), custom


def resolve_policy_path(path: str | Path) -> Path:
    """``expert:fastsac`` / ``expert_ppo`` ... name the installed experts; anything else is a path."""
    text = str(path)
    if text.startswith(("expert:", "expert_")):
        try:
            return expert.expert_path(text)
        except (ValueError, expert.ExpertNotFound) as exc:
            raise PolicyLoadError(str(exc)) from exc
    return Path(path)


def load_policy(path: str | Path, compat: str | None = None) -> LoadedPolicy:
    """Load a policy (a path, or ``expert:fastsac`` / ``expert:ppo``) and check its interface.

    ``compat="twist_upstream"`` accepts a TWIST student TorchScript without metadata (1155 -> 23).
    """
    path = resolve_policy_path(path)
    if not path.is_file():
        raise PolicyLoadError(f"policy file not found: {path}")
    custom: dict[str, str] = {}
    if path.suffix == ".onnx":
        run, meta_text, custom = _load_onnx(path)
        backend = "onnx"
    else:
        run, meta_text = _load_torchscript(path)
        backend = "torchscript"

    if compat == "twist_upstream":
        meta = PolicyMetadata(description="upstream TWIST student (compatibility mode, no metadata)")
    elif compat is not None:
        raise ValueError(f"unknown compat mode {compat!r} (known: 'twist_upstream')")
    elif not meta_text and expert.is_loco_onnx(custom):
        try:
            meta = PolicyMetadata(**expert.loco_metadata_fields(custom))
        except (ValueError, TypeError, KeyError) as exc:
            raise PolicyLoadError(f"{path}: unusable locomotion-policy metadata ({exc})") from exc
        problems = check_metadata(meta)
        if problems:
            raise PolicyLoadError(f"{path}: " + "; ".join(problems))
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
                f"{path} has an unusable control interface: "
                + "; ".join(problems)
                + ". Re-export the policy with twist_controller.policy.export_policy."
            )

    policy = LoadedPolicy(run, meta, path, backend)
    # Probe once: catches wrong input/output sizes at load time, not on the robot.
    try:
        out = policy.act(np.zeros((1, meta.observation_size), dtype=np.float32))
    except Exception as exc:
        raise PolicyLoadError(
            f"{path}: does not accept a (1, {meta.observation_size}) observation ({exc})"
        ) from exc
    n_act = len(meta.action_joint_names)
    if out.shape != (1, n_act):
        raise PolicyLoadError(f"{path}: outputs shape {out.shape}, expected (1, {n_act})")
    return policy


def actions_to_targets(
    raw_actions: np.ndarray,
    wrist_targets: np.ndarray | None = None,
    metadata: PolicyMetadata | None = None,
) -> np.ndarray:
    """Raw policy output (N, actions) -> 29-DOF joint position targets, clipped to the joint limits.

    target = default + action_scale * clip(action, +-action_clip) on the policy's action joints, all
    from ``metadata`` (TWIST's interface when None). The other joints (TWIST: the wrists) hold
    ``wrist_targets`` (29-DOF array; used when the metadata says ``unactuated_hold="reference"``)
    or the policy's default pose.
    """
    meta = metadata or _TWIST_INTERFACE
    a = np.clip(np.asarray(raw_actions, dtype=np.float64), -meta.action_clip, meta.action_clip)
    default = meta.default_array
    hold = (
        default if (wrist_targets is None or meta.unactuated_hold == "default") else np.asarray(wrist_targets)
    )
    full = np.broadcast_to(hold, (a.shape[0], robot.NUM_JOINTS)).astype(np.float64)
    idx = meta.action_indices
    full[:, idx] = default[idx] + meta.action_scale * a
    return robot.clip_to_limits(full)


_TWIST_INTERFACE = PolicyMetadata()
