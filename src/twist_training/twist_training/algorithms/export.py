"""Export a trained student (or teacher) checkpoint for the policy node.

The exported module is normalize -> TwistNet -> action mean (TWIST D.5: no std, no clipping, no
scaling), written by ``twist_controller.policy.export_policy`` as TorchScript (``.pt``) and/or ONNX
(``.onnx``) with the metadata record (joint names, gains, default pose, action scale, observation
layout ``twist_student_v1`` = 1155 floats incl. the 10-step history) that ``load_policy`` checks.
"""

from __future__ import annotations

from pathlib import Path

import torch
from tensordict import TensorDict

from twist_controller.observations import STUDENT_LAYOUT
from twist_controller.policy import PolicyMetadata, export_policy

from ..envs.tracking_env import teacher_obs_size
from .networks import DeterministicPolicy
from .train import latest_checkpoint, load_run_config


def _dummy_obs(cfg) -> TensorDict:
    nt = teacher_obs_size(len(cfg.task.teacher_future_steps), len(cfg.task.key_bodies))
    return TensorDict(
        {"student": torch.zeros(1, STUDENT_LAYOUT.size), "teacher": torch.zeros(1, nt)}, batch_size=[1]
    )


def load_actor(checkpoint: str | Path, student: bool | None = None):
    """(actor model, TrainConfig, is_student, checkpoint path) from a run dir or model_<it>.pt."""
    from rsl_rl.utils import resolve_class

    from .train import runner_cfg

    ck_path = latest_checkpoint(checkpoint)
    cfg = load_run_config(ck_path)
    ck = torch.load(ck_path, map_location="cpu", weights_only=False)
    if student is None:
        student = "dagger_iter" in ck
    obs = _dummy_obs(cfg)

    rcfg = runner_cfg(cfg, student)
    cls, kw = resolve_class(rcfg["actor"])
    groups = {"actor": ["student"] if student else ["teacher"]}
    actor = cls(obs, groups, "actor", 23, **kw)
    actor.load_state_dict(ck["actor_state_dict"])
    actor.eval()
    return actor, cfg, student, ck_path


def export_checkpoint(checkpoint: str | Path, outputs: list[str | Path], description: str = "") -> list[Path]:
    actor, cfg, student, ck_path = load_actor(checkpoint)
    if not student:
        raise ValueError(
            f"{ck_path} is a teacher checkpoint (privileged 1318-float input); only students are deployable. "
            "Train a student with train_student and export that."
        )
    module = DeterministicPolicy(actor).eval()
    meta = PolicyMetadata(
        control_dt=cfg.task.sim.policy_dt,
        description=description or f"TWIST student (DAgger-PPO) from {ck_path}",
    )
    return [export_policy(module, p, meta) for p in outputs]
