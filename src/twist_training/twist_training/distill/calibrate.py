"""Measurements the distillation designs around, made in the training task itself (seconds of CPU):

* :func:`measure_response` — the expert's steady speed per axis at a ladder of commands (others zero),
  from standing, on its own gait clock: the curve :class:`ResponseCurve` inverts.
* :func:`measure_phase_offset` — the expert's left-leg phase at the moment its right foot lifts off.
  The CMG's phase is 0 at right-foot lift-off (``twist_training.cmg.phase``), so driving the expert
  with ``left = cmg_phase + offset`` puts its legs in step with the reference.
"""

from __future__ import annotations

import dataclasses

import numpy as np

from .config import DistillConfig
from .env import VelocityDistillEnv
from .teacher import ExpertTeacher, ResponseCurve

# The calibration of the shipped distillation run, rounded (runs/ is not in git): tests and the
# throughput benchmark write it into a run folder to skip the ~10 s of CPU that measuring it takes
SHIPPED_CALIBRATION = {
    "response": {
        "vx_cmd": [-1, 0, 1],
        "vx_out": [-0.65, 0, 0.74],
        "vy_cmd": [-1, 0, 1],
        "vy_out": [-0.27, 0, 0.27],
        "yaw_cmd": [-1, 0, 1],
        "yaw_out": [-0.9, 0, 0.9],
    },
    "phase_offset": 1.96,
    "circular_std": 0.5,
    "events": 40,
}


def write_shipped_calibration(run_dir) -> None:
    """Put ``SHIPPED_CALIBRATION`` into ``run_dir``/calibration.json (the run then skips measuring)."""
    import json
    from pathlib import Path

    Path(run_dir, "calibration.json").write_text(json.dumps(SHIPPED_CALIBRATION))


VX_LADDER = (-1.0, -0.75, -0.5, -0.3, -0.1, 0.1, 0.3, 0.5, 0.75, 1.0)
VY_LADDER = (-1.0, -0.6, -0.3, -0.1, 0.1, 0.3, 0.6, 1.0)
YAW_LADDER = (-1.0, -0.6, -0.3, -0.1, 0.1, 0.3, 0.6, 1.0)


def _fixed_env(cfg: DistillConfig, commands: np.ndarray, seed: int) -> VelocityDistillEnv:
    c = dataclasses.replace(
        cfg,
        num_envs=len(commands),
        push_interval_s=[0.0, 0.0],
        friction_range=[0.8, 0.8],
        init_joint_noise=0.0,
        episode_s=1e9,
    )
    env = VelocityDistillEnv(c, _interface(cfg.expert), seed=seed)
    return env


def _interface(expert: str):
    from twist_controller.policy import load_policy

    return load_policy(f"expert:{expert}").metadata


def _run_fixed(cfg: DistillConfig, commands: np.ndarray, seconds: float, seed: int, record=None):
    """Run the expert (own clock, raw commands) at fixed commands from standing; returns the mean
    heading-frame velocity over the second half and whether each env fell."""
    env = _fixed_env(cfg, commands, seed)
    teacher = ExpertTeacher(cfg.expert, len(commands))
    n_steps = int(seconds / env.dt)
    vel_sum = np.zeros((len(commands), 3))
    count = 0
    fell = np.zeros(len(commands), dtype=bool)
    ids = np.arange(len(commands))
    for t in range(n_steps):
        if t == int(0.5 / env.dt):  # stand 0.5 s, then the command
            env.command[:] = commands
            env.reference.set_target(ids, commands)
        env.segment_end[:] = np.iinfo(np.int64).max
        env.tick_reference()
        state = env.robot_input()
        act = teacher.act(env.command, state)
        if record is not None:
            record(env, teacher, t)
        info = env.step(act)
        fell |= info.fell
        if t >= n_steps // 2:
            vel_sum += info.velocity
            count += 1
    return vel_sum / max(count, 1), fell


def measure_response(cfg: DistillConfig, seconds: float = 8.0, seed: int = 0) -> ResponseCurve:
    rows = [(v, 0, 0) for v in VX_LADDER] + [(0, v, 0) for v in VY_LADDER] + [(0, 0, v) for v in YAW_LADDER]
    cmds = np.array(rows, dtype=np.float64)
    vel, fell = _run_fixed(cfg, cmds, seconds, seed)
    vel[fell] = np.nan
    nx, ny = len(VX_LADDER), len(VY_LADDER)

    def curve(ladder, out):
        pts = [(0.0, 0.0)] + [(c, o) for c, o in zip(ladder, out, strict=True) if np.isfinite(o)]
        pts.sort()
        return [p[0] for p in pts], [float(p[1]) for p in pts]

    vx_c, vx_o = curve(VX_LADDER, vel[:nx, 0])
    vy_c, vy_o = curve(VY_LADDER, vel[nx : nx + ny, 1])
    yw_c, yw_o = curve(YAW_LADDER, vel[nx + ny :, 2])
    return ResponseCurve(vx_c, vx_o, vy_c, vy_o, yw_c, yw_o)


def measure_phase_offset(
    cfg: DistillConfig, seconds: float = 8.0, seed: int = 1, lift_m: float = 0.01
) -> dict:
    """Circular mean of the expert's left phase at right-foot lift-off, walking at a few speeds."""
    cmds = np.array([[0.3, 0, 0], [0.5, 0, 0], [0.8, 0, 0], [0.0, 0.3, 0], [0.0, 0, 0.5], [-0.3, 0, 0]])
    side = np.zeros(len(cmds), dtype=int)
    samples: list[float] = []

    def record(env, teacher, t):
        if t < int(2.0 / env.dt):
            return
        z = env.backend.state().foot_pos[:, :, 2]
        d = z[:, 1] - z[:, 0]  # right above left
        for i in range(len(cmds)):
            if d[i] > lift_m and side[i] != 1:
                side[i] = 1
                samples.append(float(teacher.builder.clock.phase[i, 0]))
            elif d[i] < -lift_m and side[i] != -1:
                side[i] = -1

    _run_fixed(cfg, cmds, seconds, seed, record=record)
    a = np.asarray(samples)
    mean = float(np.arctan2(np.sin(a).mean(), np.cos(a).mean()))
    spread = float(np.sqrt(-2 * np.log(max(np.hypot(np.sin(a).mean(), np.cos(a).mean()), 1e-9))))
    return {"phase_offset": mean, "circular_std": spread, "events": len(samples)}
