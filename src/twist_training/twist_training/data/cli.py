"""``make_dataset`` console script."""

from __future__ import annotations

from twist_training.cli import _not_implemented


def main(argv: list[str] | None = None) -> int:
    return _not_implemented("make_dataset", argv)
