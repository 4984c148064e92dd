"""A fixed closed-loop check of a distilled student (the learning-result half of the benchmark).

The student alone drives ``num_envs`` G1s of the distillation task (deployment collision model by
default, pushes and friction as in training, fixed seed) for ``seconds``; reported: falls, falls
per 20 s of control, and the mean |v_xy - command| of the moving, standing envs (as progress.csv's
student_vel_err). Same seed, same numbers: differences between runs are the students'.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path

import numpy as np
import torch

from twist_controller import robot
from twist_controller.observations import STUDENT_LAYOUT
from twist_controller.policy import load_policy

from .config import DistillConfig
from .env import VelocityDistillEnv


def evaluate_student(
    run_dir: str | Path,
    num_envs: int = 32,
    seconds: float = 20.0,
    seed: int = 1234,
    contact_model: str = "full",
) -> dict:
    from .dagger import StudentNet, _latest

    ck = torch.load(_latest(Path(run_dir)), map_location="cpu", weights_only=False)
    cfg = DistillConfig(**ck["config"])
    cfg = dataclasses.replace(cfg, num_envs=num_envs, contact_model=contact_model, action_delay_prob=0.0)
    student = StudentNet(STUDENT_LAYOUT.size, robot.NUM_POLICY_JOINTS, cfg.hidden)
    student.load_state_dict(ck["student"])
    student.eval()
    env = VelocityDistillEnv(cfg, load_policy(f"expert:{cfg.expert}").metadata, seed=seed)
    falls, errs = 0, []
    steps = int(seconds / env.dt)
    act = np.zeros((num_envs, robot.NUM_JOINTS))
    for _ in range(steps):
        env.tick_reference()
        obs = env.student_observation(env.robot_input())
        with torch.inference_mode():
            act[:, robot.POLICY_TO_FULL] = student(torch.from_numpy(obs)).numpy()
        info = env.step(act)
        falls += int(info.fell.sum())
        moving = np.any(info.command != 0, axis=1) & ~info.fell
        errs.extend(np.linalg.norm(info.velocity[moving, :2] - info.command[moving, :2], axis=1).tolist())
    env.close()  # the rollout stepper's and the reference pipeline's threads
    return {
        "checkpoint_iteration": int(ck["iteration"]),
        "eval_envs": num_envs,
        "eval_seconds": seconds,
        "eval_contact_model": contact_model,
        "falls": falls,
        "falls_per_20s": round(falls / (num_envs * seconds) * 20.0, 3),
        "vel_err": round(float(np.mean(errs)), 4) if errs else None,
    }
