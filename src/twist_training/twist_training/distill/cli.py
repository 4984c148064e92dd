"""``distill_student`` (also ``train_student --teacher expert:fastsac``): DAgger from the walking expert."""

from __future__ import annotations

import argparse
import dataclasses
import sys

import yaml

from ..config_flags import add_dataclass_flags, given_flags
from .config import DistillConfig


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="distill_student",
        description=(
            "Distil the deployable CMG + TWIST-layout student from the holosoma walking expert by DAgger "
            "(MuJoCo CPU, shipped CMG references, expert interface). Writes checkpoints, progress.csv, "
            "TensorBoard logs and student.onnx into --run-dir. Defaults fit a 2-core CPU (docs/expert.md)."
        ),
    )
    p.add_argument("--config", action="append", default=[], help="YAML file(s) of DistillConfig fields")
    p.add_argument("--resume", help="'auto' (newest checkpoint in --run-dir) or a ckpt_<it>.pt path")
    p.add_argument(
        "--export-only", action="store_true", help="only export student.onnx (+ progress.png) from --run-dir"
    )
    add_dataclass_flags(p, DistillConfig)
    return p


def resolve(args: argparse.Namespace) -> DistillConfig:
    values: dict = {}
    for path in args.config:
        with open(path) as f:
            values.update(yaml.safe_load(f) or {})
    values.update(given_flags(args, DistillConfig))
    known = {f.name for f in dataclasses.fields(DistillConfig)}
    unknown = sorted(set(values) - known)
    if unknown:
        raise SystemExit(f"distill_student: unknown config keys {unknown}; known: {sorted(known)}")
    return DistillConfig(**values)


def main(argv: list[str] | None = None) -> int:
    args = parser().parse_args(argv)
    cfg = resolve(args)
    from .dagger import export, plot_progress, train

    if args.export_only:
        print(f"distill_student: wrote {export(cfg.run_dir)} and {plot_progress(cfg.run_dir)}")
        return 0
    run_dir = train(cfg, resume=args.resume, log=lambda s: print(s, flush=True))
    print(f"distill_student: done; student.onnx and checkpoints in {run_dir}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
