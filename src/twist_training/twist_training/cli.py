"""Console entry points of twist_training (``ros2 run twist_training <name>`` or
``install/lib/twist_training/<name>``).

Each entry point owns its argument parsing. Commands whose implementation has not landed yet say
so plainly and exit with status 2 instead of pretending to work.
"""

from __future__ import annotations

import argparse
import sys

_NOT_YET = {
    "train_teacher": ("train the privileged TWIST teacher with PPO", "#8 (TWIST training)"),
    "train_student": ("distill the deployable student with DAgger-PPO", "#8 (TWIST training)"),
    "train_cmg": ("train the command-conditioned motion generator", "#6 (CMG)"),
    "eval_cmg": ("evaluate a trained CMG across the command range", "#6 (CMG)"),
    "make_dataset": ("build the 50 Hz motion dataset (real clips + procedural gaits)", "#5 (motion data)"),
    "export_policy": ("export a trained policy with its metadata (TorchScript/ONNX)", "#8 (TWIST training)"),
    "play": ("roll out a trained policy in MuJoCo", "#8 (TWIST training)"),
}


def _not_implemented(name: str, argv: list[str] | None) -> int:
    what, issue = _NOT_YET[name]
    parser = argparse.ArgumentParser(
        prog=name,
        description=f"{what}. NOT IMPLEMENTED YET: arrives with issue {issue}.",
    )
    parser.parse_known_args(argv)
    print(f"{name}: not implemented yet ({what}); it arrives with issue {issue}.", file=sys.stderr)
    return 2


def train_teacher(argv: list[str] | None = None) -> int:
    return _not_implemented("train_teacher", argv)


def train_student(argv: list[str] | None = None) -> int:
    return _not_implemented("train_student", argv)


def export_policy(argv: list[str] | None = None) -> int:
    return _not_implemented("export_policy", argv)


def play(argv: list[str] | None = None) -> int:
    return _not_implemented("play", argv)
