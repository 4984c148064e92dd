"""One-file CMG artifact: model weights + normalization stats + metadata; and the stats themselves.

Artifact (``torch.save`` dict, file suffix ``.pt``)::

    {"format": "cmg_generator.artifact", "version": 1,
     "model_config": CMGConfig.to_dict(), "state_dict": {...},
     "stats": NormStats.to_dict(), "metadata": {...}}

Metadata keys written by :func:`make_metadata`: ``fps``, ``dt``, ``joint_names``, ``state_layout``
(channel names), ``command_names``, ``command_low``/``command_high`` (the range the runtime clamps
to), ``standing_state`` (raw state the runtime starts from), ``training`` (free-form summary).

Normalization (the seed's): state z = (s - mean) / std (std clipped below at 0.1 when computed);
command c = 2 (cmd - min) / (max - min) - 1 per component. ``cmg_stats.yaml`` (upstream G.7) holds
motion_dim, command_dim, num_joints, motion_mean, motion_std, command_min, command_max.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

ARTIFACT_FORMAT = "cmg_generator.artifact"
ARTIFACT_VERSION = 1
DEFAULT_FPS = 50.0
STD_FLOOR = 0.1


@dataclass
class NormStats:
    motion_mean: np.ndarray
    motion_std: np.ndarray
    command_min: np.ndarray
    command_max: np.ndarray

    def __post_init__(self):
        for name in ("motion_mean", "motion_std", "command_min", "command_max"):
            setattr(self, name, np.asarray(getattr(self, name), dtype=np.float32).reshape(-1))
        if self.motion_mean.shape != self.motion_std.shape:
            raise ValueError("motion_mean and motion_std differ in length")
        if np.any(self.motion_std <= 0):
            raise ValueError("motion_std must be positive")
        if np.any(self.command_max <= self.command_min):
            raise ValueError("command_max must exceed command_min")

    @property
    def motion_dim(self) -> int:
        return int(self.motion_mean.shape[0])

    @classmethod
    def compute(
        cls, states: np.ndarray, commands: np.ndarray, std_floor: float = STD_FLOOR, root_std_floor=None
    ) -> NormStats:
        """Stats over all frames. ``root_std_floor`` (optional) overrides the floor for channels >= 58."""
        states = np.asarray(states, dtype=np.float64).reshape(-1, np.shape(states)[-1])
        commands = np.asarray(commands, dtype=np.float64).reshape(-1, np.shape(commands)[-1])
        std = states.std(axis=0)
        floor = np.full_like(std, std_floor)
        if root_std_floor is not None and std.shape[0] > 58:
            floor[58:] = root_std_floor
        return cls(
            states.mean(axis=0),
            np.maximum(std, floor),
            commands.min(axis=0),
            commands.max(axis=0) + 1e-6,
        )

    def normalize_state(self, s):
        return (s - self.motion_mean) / self.motion_std

    def denormalize_state(self, z):
        return z * self.motion_std + self.motion_mean

    def normalize_command(self, c):
        return 2.0 * (c - self.command_min) / (self.command_max - self.command_min) - 1.0

    def to_dict(self) -> dict[str, Any]:
        return {
            "motion_dim": self.motion_dim,
            "command_dim": int(self.command_min.shape[0]),
            "num_joints": 29,
            "motion_mean": self.motion_mean.tolist(),
            "motion_std": self.motion_std.tolist(),
            "command_min": self.command_min.tolist(),
            "command_max": self.command_max.tolist(),
        }

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> NormStats:
        s = cls(d["motion_mean"], d["motion_std"], d["command_min"], d["command_max"])
        if "motion_dim" in d and int(d["motion_dim"]) != s.motion_dim:
            raise ValueError(f"stats motion_dim {d['motion_dim']} != len(motion_mean) {s.motion_dim}")
        return s

    def to_yaml(self, path: str | Path) -> None:
        import yaml

        Path(path).write_text(yaml.safe_dump(self.to_dict(), sort_keys=False))

    @classmethod
    def from_yaml(cls, path: str | Path) -> NormStats:
        import yaml

        return cls.from_dict(yaml.safe_load(Path(path).read_text()))


def make_metadata(
    stats: NormStats,
    standing_state: np.ndarray,
    fps: float = DEFAULT_FPS,
    command_low: np.ndarray | None = None,
    command_high: np.ndarray | None = None,
    training: dict | None = None,
) -> dict[str, Any]:
    from cmg_generator.model import COMMAND_NAMES, StateLayout
    from twist_controller.robot import G1_JOINT_NAMES

    layout = StateLayout.from_dim(stats.motion_dim)
    low = stats.command_min if command_low is None else np.asarray(command_low, dtype=np.float32)
    high = stats.command_max if command_high is None else np.asarray(command_high, dtype=np.float32)
    return {
        "fps": float(fps),
        "dt": 1.0 / float(fps),
        "joint_names": list(G1_JOINT_NAMES),
        "state_layout": layout.channel_names(G1_JOINT_NAMES),
        "root_channels": layout.root_channels,
        "phase_channels": layout.phase_channels,
        "command_names": list(COMMAND_NAMES),
        "command_low": [float(x) for x in low],
        "command_high": [float(x) for x in high],
        "standing_state": [float(x) for x in np.asarray(standing_state).reshape(-1)],
        "training": dict(training or {}),
    }


def save_artifact(path: str | Path, model, stats: NormStats, metadata: dict[str, Any]) -> Path:
    import torch

    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    sd = {k: v.detach().cpu().clone() for k, v in model.state_dict().items()}
    torch.save(
        {
            "format": ARTIFACT_FORMAT,
            "version": ARTIFACT_VERSION,
            "model_config": model.config.to_dict(),
            "state_dict": sd,
            "stats": stats.to_dict(),
            "metadata": metadata,
        },
        path,
    )
    return path


@dataclass
class LoadedArtifact:
    model: Any  # cmg_generator.model.CMG in eval mode
    stats: NormStats
    metadata: dict[str, Any]


def load_artifact(path: str | Path, map_location: str = "cpu") -> LoadedArtifact:
    """Load one of our artifacts, or a trainer checkpoint (``cmg_best.pt`` etc.: same keys + more)."""
    import torch

    from cmg_generator.model import CMG, CMGConfig, load_state_dict_compat

    d = torch.load(Path(path), map_location=map_location, weights_only=False)
    if not isinstance(d, dict) or d.get("format") != ARTIFACT_FORMAT:
        raise ValueError(f"{path}: not a CMG artifact (format key {ARTIFACT_FORMAT!r} missing)")
    if int(d.get("version", 0)) > ARTIFACT_VERSION:
        raise ValueError(
            f"{path}: artifact version {d['version']} is newer than this code ({ARTIFACT_VERSION})"
        )
    model = CMG(CMGConfig.from_dict(d["model_config"]))
    load_state_dict_compat(model, d["state_dict"])
    model.eval()
    stats = NormStats.from_dict(d["stats"])
    if stats.motion_dim != model.state_dim:
        raise ValueError(f"{path}: stats have {stats.motion_dim} channels, model {model.state_dim}")
    return LoadedArtifact(model, stats, dict(d.get("metadata", {})))
