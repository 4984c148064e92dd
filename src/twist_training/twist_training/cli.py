"""Console entry points of TWIST training (``ros2 run twist_training <name>`` or
``install/lib/twist_training/<name>``): ``train_teacher``, ``train_student``, ``export_policy``,
``play``.

Configs: typed dataclasses (``twist_training.algorithms.config.TrainConfig``) filled from the
package defaults (``config/teacher.yaml`` / ``config/student.yaml``, small CPU-sized runs), then
``--config`` YAML files, then ``--set key.sub=value`` overrides, then the dedicated flags.
"""

from __future__ import annotations

import argparse
import sys


def _train_parser(name: str, what: str) -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog=name,
        description=what,
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
        epilog="Example override: --set task.domain_rand.enabled=false --set ppo.learning_rate=1e-4",
    )
    p.add_argument("--config", action="append", default=[], help="YAML config file(s); later ones win")
    p.add_argument("--set", action="append", default=[], metavar="KEY=VALUE", help="config override")
    p.add_argument("--num-envs", type=int, help="parallel environments (task.num_envs)")
    p.add_argument("--device", help="torch device for the networks (cpu, cuda)")
    p.add_argument("--backend", help="physics backend: mujoco_cpu | mjx (GPU, runs) | isaacgym (untested)")
    p.add_argument(
        "--iterations", type=int, help="PPO iterations to run (each = num_steps_per_env x num_envs)"
    )
    p.add_argument("--run-dir", help="output directory (checkpoints, TensorBoard, progress.csv, config.yaml)")
    p.add_argument(
        "--resume", help="checkpoint or 'auto' (latest model_<it>.pt in --run-dir) to continue from"
    )
    p.add_argument("--threads", type=int, help="torch CPU threads (torch_threads)")
    p.add_argument("--wandb", action="store_true", help="log to Weights & Biases instead of TensorBoard")
    p.add_argument("--print-config", action="store_true", help="print the resolved config and exit")
    return p


def _resolve(args, default_name: str):
    from .algorithms.config import TrainConfig, load_config, to_dict
    from .algorithms.train import default_config_path

    paths = []
    d = default_config_path(default_name)
    if d is not None:
        paths.append(d)
    paths += args.config
    sets = list(args.set)
    for flag, key in (
        ("num_envs", "task.num_envs"),
        ("device", "device"),
        ("backend", "task.sim.backend"),
        ("iterations", "iterations"),
        ("run_dir", "run_dir"),
        ("resume", "resume"),
        ("threads", "torch_threads"),
    ):
        v = getattr(args, flag, None)
        if v is not None:
            sets.append(f"{key}={v}")
    if getattr(args, "wandb", False):
        sets.append("logger=wandb")
    cfg = load_config(TrainConfig, paths, sets)
    if args.print_config:
        import yaml

        print(yaml.safe_dump(to_dict(cfg), sort_keys=False))
        return None
    return cfg


def train_teacher(argv: list[str] | None = None) -> int:
    p = _train_parser("train_teacher", "Train the privileged TWIST teacher (1318-float obs) with PPO.")
    args = p.parse_args(argv)
    cfg = _resolve(args, "teacher")
    if cfg is None:
        return 0
    from .algorithms.train import train

    train(cfg, student=False)
    print(f"train_teacher: done; checkpoints in {cfg.run_dir}")
    return 0


def train_student(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    expert = _expert_teacher(argv)
    if expert is not None:  # the walking expert: DAgger distillation (twist_training.distill)
        from .distill.cli import main as distill_main

        rest = [
            a for a in argv if a not in ("--teacher", f"expert:{expert}") and not a.startswith("--teacher=")
        ]
        return distill_main(["--expert", expert, *rest])
    p = _train_parser(
        "train_student",
        "Distill the deployable TWIST student (1155-float obs) with DAgger-PPO from a teacher.",
    )
    p.add_argument(
        "--teacher",
        help="teacher run dir or model_<it>.pt (dagger.teacher_checkpoint); expert:fastsac or expert:ppo "
        "distils from the walking expert instead (see distill_student --help for its flags)",
    )
    args = p.parse_args(argv)
    if args.teacher:
        args.set.append(f"dagger.teacher_checkpoint={args.teacher}")
    cfg = _resolve(args, "student")
    if cfg is None:
        return 0
    from .algorithms.train import train

    train(cfg, student=True)
    print(f"train_student: done; checkpoints in {cfg.run_dir}")
    return 0


def _expert_teacher(argv: list[str]) -> str | None:
    """'fastsac'/'ppo' when argv names an expert teacher (--teacher expert:NAME), else None."""
    for i, a in enumerate(argv):
        value = (
            a.split("=", 1)[1]
            if a.startswith("--teacher=")
            else (argv[i + 1] if a == "--teacher" and i + 1 < len(argv) else None)
        )
        if value and value.startswith("expert:"):
            return value.split(":", 1)[1]
    return None


def export_policy(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(
        prog="export_policy",
        description="Export a trained student checkpoint as TorchScript (.pt) and/or ONNX (.onnx) with the "
        "metadata twist_controller.policy.load_policy checks (joint names, gains, default pose, action "
        "scale, observation layout twist_student_v1 incl. history).",
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    p.add_argument("checkpoint", help="student run dir (latest model_<it>.pt) or a model_<it>.pt")
    p.add_argument(
        "-o",
        "--output",
        action="append",
        help="output file(s), .pt and/or .onnx (default: <run>/exported/student.pt and student.onnx)",
    )
    p.add_argument("--description", default="", help="free text stored in the metadata")
    p.add_argument("--no-verify", action="store_true", help="skip the load_policy round trip check")
    args = p.parse_args(argv)
    from pathlib import Path

    from .algorithms.export import export_checkpoint
    from .algorithms.train import latest_checkpoint

    ck = latest_checkpoint(args.checkpoint)
    outs = args.output or [
        str(ck.parent / "exported" / "student.pt"),
        str(ck.parent / "exported" / "student.onnx"),
    ]
    try:
        paths = export_checkpoint(ck, outs, args.description)
    except ValueError as exc:
        print(f"export_policy: {exc}", file=sys.stderr)
        return 2
    if not args.no_verify:
        import numpy as np

        from twist_controller.policy import load_policy

        x = np.random.default_rng(0).normal(size=(4, 1155)).astype(np.float32)
        acts = [load_policy(Path(q)).act(x) for q in paths]
        for q, a in zip(paths[1:], acts[1:], strict=True):
            if not np.allclose(a, acts[0], atol=1e-4):
                print(f"export_policy: {q} disagrees with {paths[0]}", file=sys.stderr)
                return 1
    for q in paths:
        print(f"export_policy: wrote {q}")
    return 0


def play(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(
        prog="play",
        description="Run a policy in the MuJoCo tracking task and report tracking errors, velocity error and "
        "falls. POLICY: an exported .pt/.onnx (what the policy node loads) or a run dir / model_<it>.pt.",
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    p.add_argument("policy")
    p.add_argument("--config", action="append", default=[], help="task YAML (the 'task:' section is used)")
    p.add_argument(
        "--set",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="task override, e.g. domain_rand.enabled=true",
    )
    p.add_argument("--num-envs", type=int, default=4)
    p.add_argument("--steps", type=int, default=500, help="policy steps (50 Hz) per env")
    p.add_argument("--device", default="cpu", help="(networks run on the CPU here)")
    p.add_argument(
        "--motions", help="comma-separated motion sources (real, stand, sway, gait:vx,vy,wz,s, files)"
    )
    p.add_argument("--randomize", action="store_true", help="keep domain randomization and noise on")
    p.add_argument("--json", help="also write the report to this JSON file")
    args = p.parse_args(argv)
    import torch

    from .algorithms.config import TrainConfig, load_config
    from .algorithms.play import play as run_play

    torch.set_num_threads(1)
    sets = [f"task.{s}" for s in args.set] + [f"task.num_envs={args.num_envs}"]
    if not args.randomize:
        sets += ["task.domain_rand.enabled=false", "task.noise.enabled=false"]
    if args.motions:
        sets.append(f"task.motions.sources=[{args.motions}]")
    cfg = load_config(TrainConfig, args.config, sets)
    rep = run_play(args.policy, cfg.task, args.steps)
    print(rep.to_json())
    if args.json:
        from pathlib import Path

        Path(args.json).write_text(rep.to_json())
    return 0
