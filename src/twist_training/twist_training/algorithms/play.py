"""Roll a policy out in the tracking task and report tracking quality.

Policies: an exported file (``.pt``/``.onnx`` via ``twist_controller.policy.load_policy``, i.e.
exactly what the policy node runs, fed the student observation) or a training checkpoint / run dir
(teacher or student actor, deterministic mean action).
Reports mean joint-position error, key-body position error, root velocity error, root height
error, falls (failure terminations, not time-outs) and episode statistics.
"""

from __future__ import annotations

import json
from dataclasses import dataclass

import torch

from ..envs.config import TaskConfig
from ..envs.tracking_env import TrackingEnv


@dataclass
class PlayReport:
    steps: int
    env_steps: int
    episodes_finished: int
    falls: int
    fall_rate_per_episode: float
    mean_return_per_step: float
    joint_pos_err_rad: float
    keybody_pos_err_m: float
    root_vel_err_mps: float
    root_height_err_m: float

    def to_json(self) -> str:
        return json.dumps(self.__dict__, indent=1)


def make_actor_fn(policy: str):
    """(fn(obs dict) -> actions, obs group name)."""
    if policy.endswith((".onnx",)) or (policy.endswith(".pt") and "model_" not in policy.rsplit("/", 1)[-1]):
        from twist_controller.policy import load_policy

        lp = load_policy(policy)
        return (lambda obs: lp.act(obs["student"])), "student"
    from .export import load_actor

    actor, _, student, _ = load_actor(policy)
    group = "student" if student else "teacher"

    def fn(obs):
        with torch.inference_mode():
            return actor.mlp(actor.obs_normalizer(torch.as_tensor(obs[group]))).numpy()

    return fn, group


def play(policy: str, task: TaskConfig, steps: int = 500) -> PlayReport:
    act, _ = make_actor_fn(policy)
    env = TrackingEnv(task)
    obs = env.obs
    sums = {"joint": 0.0, "kb": 0.0, "vel": 0.0, "h": 0.0, "r": 0.0}
    finished = falls = 0
    for _ in range(steps):
        out = env.step(act(obs))
        obs = out.obs
        lg = out.log
        sums["joint"] += lg["Tracking/joint_pos_err_rad"]
        sums["kb"] += lg["Tracking/keybody_pos_err_m"]
        sums["vel"] += lg["Tracking/root_vel_err_mps"]
        sums["h"] += lg["Tracking/root_height_err_m"]
        sums["r"] += float(out.reward.mean())
        finished += int(out.done.sum())
        falls += int((out.done & ~out.time_out).sum())
    return PlayReport(
        steps=steps,
        env_steps=steps * env.num_envs,
        episodes_finished=finished,
        falls=falls,
        fall_rate_per_episode=falls / max(finished, 1),
        mean_return_per_step=sums["r"] / steps,
        joint_pos_err_rad=sums["joint"] / steps,
        keybody_pos_err_m=sums["kb"] / steps,
        root_vel_err_mps=sums["vel"] / steps,
        root_height_err_m=sums["h"] / steps,
    )
