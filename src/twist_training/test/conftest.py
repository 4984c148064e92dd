"""Shared fixtures of the twist_training tests."""

from __future__ import annotations

import pytest

from twist_training.cmg.config import TrainConfig


@pytest.fixture
def tiny_cmg_config(tmp_path):
    """``make(**overrides) -> TrainConfig``: a CMG training run small enough for a unit test."""

    def make(**kw) -> TrainConfig:
        base = dict(
            hidden_dim=16,
            gate_hidden_dim=8,
            batch_size=16,
            samples_per_epoch=64,
            seq_len=6,
            window_stride=5,
            epochs=2,
            ckpt_every=1,
            num_threads=1,
            out_dir=str(tmp_path),
            run_name="run",
            tensorboard=False,
            device="cpu",
        )
        base.update(kw)
        return TrainConfig(**base)

    return make
