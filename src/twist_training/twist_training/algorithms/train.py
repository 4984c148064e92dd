"""Teacher (PPO) and student (DAgger-PPO) training on rsl-rl-lib's ``OnPolicyRunner``.

Run directory layout (``run_dir``): ``config.yaml`` (the full TrainConfig), ``model_<it>.pt``
(rsl-rl checkpoints: actor/critic state dicts *including their observation normalizers*, optimizer,
iteration, DAgger schedule position), TensorBoard event files, ``progress.csv`` (one line per
iteration: return, episode length, tracking errors, losses, env-steps/s) for plots without TB.
"""

from __future__ import annotations

import csv
import os
import re
import time
from pathlib import Path

import torch

from ..envs.tracking_env import TrackingEnv
from ..envs.vec_env import TwistVecEnv
from .config import TrainConfig, load_config, save_config

TEACHER_GROUPS = {"actor": ["teacher"], "critic": ["teacher"]}
STUDENT_GROUPS = {"actor": ["student"], "critic": ["teacher"], "teacher": ["teacher"]}


def _model_cfg(cfg: TrainConfig, frames: int, frame_size: int, actor: bool, normalizer_until: int) -> dict:
    n = cfg.network
    d = {
        "class_name": "twist_training.algorithms.networks:TwistModel",
        "hidden_dims": list(n.hidden_dims),
        "activation": n.activation,
        "obs_normalization": True,
        "motion_frames": frames,
        "motion_frame_size": frame_size,
        "latent_dim": n.latent_dim,
        "layer_norm": n.layer_norm,
        "normalizer_until": normalizer_until,
    }
    if actor:
        d["distribution_cfg"] = {
            "class_name": "GaussianDistribution",
            "init_std": n.init_std,
            "std_type": "scalar",
        }
    return d


def runner_cfg(cfg: TrainConfig, student: bool) -> dict:
    """The rsl-rl train_cfg dict (algorithm, actor/critic model classes, obs groups)."""
    nf = len(cfg.task.teacher_future_steps)
    frame = 8 + 23 + 3 * len(cfg.task.key_bodies)
    until = cfg.network.normalizer_update_iters * cfg.num_steps_per_env * cfg.task.num_envs
    alg = {"class_name": "PPO", **{k: getattr(cfg.ppo, k) for k in cfg.ppo.__dataclass_fields__}}
    if student:
        alg["class_name"] = "twist_training.algorithms.dagger_ppo:DaggerPPO"
        d = cfg.dagger
        alg.update(
            dagger_coef=d.dagger_coef,
            dagger_coef_min=d.dagger_coef_min,
            dagger_anneal_iters=d.dagger_anneal_iters,
            dagger_schedule=d.dagger_schedule,
        )
    teacher_actor = _model_cfg(cfg, nf, frame, True, until)
    teacher_critic = _model_cfg(cfg, nf, frame, False, until)
    out = {
        "num_steps_per_env": cfg.num_steps_per_env,
        "save_interval": cfg.save_interval,
        "obs_groups": dict(STUDENT_GROUPS if student else TEACHER_GROUPS),
        "algorithm": alg,
        "actor": _model_cfg(cfg, 1, 31, True, until) if student else teacher_actor,
        "critic": teacher_critic,
        "teacher_actor": teacher_actor,
        "check_for_nan": True,
    }
    if cfg.logger == "wandb":
        out["logger"] = {"class_name": "WandbLogWriter", "project_name": cfg.wandb_project}
    return out


def latest_checkpoint(path: str | Path) -> Path:
    p = Path(path)
    if p.is_file():
        return p
    cks = sorted(p.glob("model_*.pt"), key=lambda q: int(re.findall(r"\d+", q.stem)[-1]))
    if not cks:
        raise FileNotFoundError(f"no model_<it>.pt checkpoint in {p}")
    return cks[-1]


def make_env(cfg: TrainConfig) -> TrackingEnv:
    torch.manual_seed(cfg.task.seed)
    return TrackingEnv(cfg.task)


def load_teacher_actor(checkpoint: str | Path, vec_env: TwistVecEnv, rcfg: dict, device: str):
    """The frozen teacher policy (TwistModel on the ``teacher`` group, its normalizer inside)."""
    from rsl_rl.utils import resolve_class

    ck = torch.load(latest_checkpoint(checkpoint), map_location=device, weights_only=False)
    cls, kw = resolve_class(rcfg["teacher_actor"])
    obs = vec_env.get_observations()
    teacher = cls(obs, {"actor": ["teacher"]}, "actor", vec_env.num_actions, **kw).to(device)
    teacher.load_state_dict(ck["actor_state_dict"])
    return teacher, ck


class _ProgressCSV:
    """Adds per-iteration rows to progress.csv by wrapping the rsl-rl logger's ``log``."""

    def __init__(self, runner, path: Path, env: TrackingEnv):
        self.runner, self.path, self.env = runner, path, env
        self.orig = runner.logger.log
        self.t0 = time.time()
        self.sums: dict[str, list] = {}
        runner.logger.log = self.log
        orig_step = runner.logger.process_env_step

        def process_env_step(rewards, dones, extras, intrinsic=None):
            for k, v in extras.get("log", {}).items():
                if k.startswith("Tracking/"):
                    self.sums.setdefault(k, []).append(float(v))
            self.sums.setdefault("x/mean_step_reward", []).append(float(rewards.mean()))
            return orig_step(rewards, dones, extras, intrinsic)

        runner.logger.process_env_step = process_env_step

    def log(self, **kw):
        import statistics

        lg = self.runner.logger
        self.orig(**kw)
        it = kw["it"]
        steps = self.runner.cfg["num_steps_per_env"] * self.env.num_envs
        row = {
            "iteration": it,
            "env_steps": (it + 1) * steps,
            "wall_s": round(time.time() - self.t0, 2),
            "env_steps_per_s": round(steps / max(kw["collect_time"] + kw["learn_time"], 1e-9), 1),
            "mean_return": statistics.mean(lg.rewbuffer) if lg.rewbuffer else float("nan"),
            "mean_episode_length": statistics.mean(lg.lenbuffer) if lg.lenbuffer else float("nan"),
            "learning_rate": kw["learning_rate"],
            "action_std": float(kw["action_std"].detach().mean()),
        }
        for k, v in self.sums.items():
            row[k.split("/", 1)[1]] = sum(v) / len(v)
        self.sums = {}
        for k, v in kw["loss_dict"].items():
            row[f"loss_{k}"] = v
        new = not self.path.exists()
        with self.path.open("a", newline="") as f:
            w = csv.DictWriter(f, fieldnames=list(row))
            if new:
                w.writeheader()
            w.writerow(row)


def _atomic_checkpoints(runner) -> None:
    """rsl-rl's ``OnPolicyRunner.save`` with write-then-rename: a kill never leaves a half-written
    ``model_<it>.pt`` (the temporary ``.pt.tmp`` does not match the resume glob)."""

    def save(path: str, infos: dict | None = None) -> None:
        saved = runner.alg.save()
        saved["iter"] = runner.current_learning_iteration
        saved["infos"] = infos
        tmp = f"{path}.tmp"
        with open(tmp, "wb") as f:
            torch.save(saved, f)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
        runner.logger.save_model(path, runner.current_learning_iteration)

    runner.save = save


def train(cfg: TrainConfig, student: bool, env: TrackingEnv | None = None, quiet: bool = False):
    """Train; returns the rsl-rl runner (its ``alg`` holds the trained models)."""
    from rsl_rl.runners import OnPolicyRunner

    torch.set_num_threads(max(1, cfg.torch_threads))
    run_dir = Path(cfg.run_dir)
    run_dir.mkdir(parents=True, exist_ok=True)
    if student and not cfg.dagger.teacher_checkpoint:
        raise ValueError("train_student needs dagger.teacher_checkpoint (a teacher run dir or model_<it>.pt)")
    if student:
        cfg.task.noise.start_full = True  # TWIST: the student sees full noise and delay from step 0
    save_config(cfg, run_dir / "config.yaml")
    env = env or make_env(cfg)
    vec = TwistVecEnv(env, cfg.device)
    rcfg = runner_cfg(cfg, student)
    runner = OnPolicyRunner(vec, rcfg, log_dir=str(run_dir), device=cfg.device)
    _atomic_checkpoints(runner)
    if quiet:
        runner.logger._print = lambda *a, **k: None
    if student:
        teacher, ck = load_teacher_actor(cfg.dagger.teacher_checkpoint, vec, rcfg, cfg.device)
        runner.alg.attach_teacher(teacher)
        if cfg.dagger.init_critic_from_teacher and not cfg.resume:
            runner.alg.critic.load_state_dict(ck["critic_state_dict"])
    if cfg.resume:
        ck = latest_checkpoint(run_dir if cfg.resume == "auto" else cfg.resume)
        runner.load(str(ck))
        runner.current_learning_iteration += 1
        print(f"resumed from {ck} at iteration {runner.current_learning_iteration}")
    _ProgressCSV(runner, run_dir / "progress.csv", env)
    runner.learn(cfg.iterations)
    return runner


def load_run_config(run_dir: str | Path, overrides=()) -> TrainConfig:
    p = Path(run_dir)
    p = p if p.is_dir() else p.parent
    return load_config(TrainConfig, [p / "config.yaml"], overrides)


def default_config_path(name: str) -> Path | None:
    """Installed (share/twist_training/config) or source-tree config YAML by name."""
    here = Path(__file__).resolve()
    cands = [here.parents[2] / "config" / f"{name}.yaml"]
    prefix = os.environ.get("AMENT_PREFIX_PATH", "").split(os.pathsep)
    cands += [Path(p) / "share" / "twist_training" / "config" / f"{name}.yaml" for p in prefix if p]
    for c in cands:
        if c.is_file():
            return c
    return None
