"""Typed training configuration for the CMG; every field can come from YAML and from the CLI.

Defaults are the seed's (cmg_workspace ``train.py``/``cmg_trainer.py``) except where noted:
``root_channels`` is on (the tracking policy needs root quantities; set it false for the seed's
58-channel model) and the LR-plateau/teacher-forcing floor are the 400-epoch run's values.
"""

from __future__ import annotations

import argparse
import dataclasses
from dataclasses import dataclass, fields
from pathlib import Path
from typing import Any

from twist_training.config_flags import add_dataclass_flags, field_type, given_flags, parse_bool


@dataclass
class TrainConfig:
    # --- data
    data_dir: str | None = None  # npz dir or windowed .pt (upstream layout) instead of the default set
    procedural_minutes: float = 20.0  # minutes of procedural gaits added to the real clips (0 = none)
    procedural_slow_minutes: float = 0.0  # extra procedural minutes of slow straight walking (|vx| <= 0.9)
    procedural_slow_lateral_minutes: float = 0.0  # extra minutes of slow side steps and turns (|vy| <= 0.35,
    # |yaw rate| <= 0.7, alone or combined)
    exclude_clips: str = ""  # comma-separated name patterns (fnmatch) of clips to leave out, e.g. "jog_back*"
    cache_dir: str = "runs/cache"  # where generated procedural data are cached
    smooth_s: float = 1.0  # command label smoothing window (s)
    mirror: bool = True  # add left/right mirrored copies (seed)
    seq_len: int = 30  # rollout steps per window (seed main: 30)
    window_stride: int = 15  # base window spacing -> epoch size (seed: 50 % overlap)
    sampling: str = "seed_speed"  # seed_speed (seed's speed up-sampling table) | balanced | uniform
    samples_per_epoch: int = 0  # 0: number of base windows x their multiplicity (seed)
    standing_swap_prob: float = 0.2  # prob. per batch of starting the whole batch from standing (seed)
    # prob. per batch (when not started from standing) of starting each window from another window's
    # first frame: the model must walk from any gait into the commanded one, which is what a long
    # rollout asks of it (it otherwise learns to continue the gait it is given)
    start_swap_prob: float = 0.0
    # --- model
    root_channels: bool = True  # 65-channel state (58 + root); False = the seed's 58
    phase_channels: bool = False  # + gait phase (sin, cos) as input and output (twist_training.cmg.phase)
    hidden_dim: int = 512
    gate_hidden_dim: int = 512
    num_experts: int = 4
    num_layers: int = 3
    # --- optimisation
    init_from: str | None = None  # start from this artifact/checkpoint's weights + stats (fresh optimizer)
    lr_warmup_epochs: int = 0  # ramp the lr linearly from ~0 over this many epochs (not on --resume)
    epochs: int = 400
    batch_size: int = 256
    lr: float = 3e-4
    weight_decay: float = 1e-4
    lr_factor: float = 0.5
    lr_patience: int = 10
    lr_min: float = 1e-6
    grad_clip: float = 1.0
    teacher_prob_start: float = 1.0
    teacher_decay: float = 0.995  # multiplied in at the end of each epoch
    teacher_floor: float = 0.3
    input_noise_std: float = 0.0  # gaussian noise on the fed-back normalized state (0 = seed)
    slip_loss_weight: float = 0.0  # + weight x stance-foot slip speed, m/s (cmg.foot_kinematics)
    phase_forcing: bool = False  # free-running steps still get the ground truth's phase (needs phase)
    phase_forcing_prob: float = 1.0  # with phase_forcing: share of batches forced (the rest run free)
    # weight of the gait-phase channels' squared error (1 = like every other channel); the phase is 2
    # of 67 channels, so at 1 a stride rate 20 % off costs almost nothing per step
    phase_loss_weight: float = 1.0
    # weight of the root velocity channels' squared error (pelvis-frame velocity and yaw rate: outputs
    # only, not fed back). At 1 a 0.2 m/s error at slow speeds costs about 1e-3 of a typical loss
    # (the joint velocities dominate), yet the tracking policy reads these channels
    root_velocity_loss_weight: float = 1.0
    best_metric: str = "loss"  # loss (seed: epoch mean training loss) | rollout (free-run MSE)
    # --- run control
    seed: int = 0
    device: str = "auto"  # auto | cpu | cuda | cuda:N
    num_threads: int = 0  # torch intra-op threads on CPU; 0 = torch default
    out_dir: str = "runs"
    run_name: str = ""  # default cmg_YYYYMMDD_HHMMSS
    ckpt_every: int = 10
    max_minutes: float = 0.0  # stop cleanly after this wall time (0 = no limit)
    tensorboard: bool = True
    wandb: bool = False  # opt-in; needs the wandb package
    wandb_project: str = "cmg"
    log_every: int = 0  # print every N batches inside an epoch (0 = once per epoch)

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> TrainConfig:
        known = {f.name: f for f in fields(cls)}
        unknown = sorted(set(d) - set(known))
        if unknown:
            raise ValueError(f"unknown CMG training keys: {unknown}")
        return cls(**{k: _coerce(known[k], v) for k, v in d.items()})

    @classmethod
    def from_yaml(cls, path: str | Path) -> TrainConfig:
        import yaml

        d = yaml.safe_load(Path(path).read_text()) or {}
        return cls.from_dict(d)


def _coerce(f: dataclasses.Field, v: Any) -> Any:
    """A YAML/dict value converted to the field's declared type."""
    if v is None:
        return None
    t = field_type(TrainConfig, f.name)
    if t is bool:
        if isinstance(v, str):
            try:
                return parse_bool(v)
            except argparse.ArgumentTypeError:
                raise ValueError(f"{f.name}: not a boolean: {v!r}") from None
        return bool(v)
    return t(v)


def add_config_arguments(parser: argparse.ArgumentParser) -> None:
    """One ``--field`` flag per TrainConfig field (default None = keep YAML/dataclass value)."""
    add_dataclass_flags(parser, TrainConfig)


def config_from_args(args: argparse.Namespace, base: TrainConfig | None = None) -> TrainConfig:
    return dataclasses.replace(base or TrainConfig(), **given_flags(args, TrainConfig))
