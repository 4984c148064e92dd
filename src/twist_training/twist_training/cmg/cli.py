"""``train_cmg`` and ``eval_cmg`` console scripts."""

from __future__ import annotations

from twist_training.cli import _not_implemented


def train_main(argv: list[str] | None = None) -> int:
    return _not_implemented("train_cmg", argv)


def eval_main(argv: list[str] | None = None) -> int:
    return _not_implemented("eval_cmg", argv)
