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


@pytest.fixture
def tiny_distill_run(tmp_path):
    """``make(**overrides) -> DistillConfig``: a distillation run of a few seconds in tmp_path/run,
    with the shipped calibration written into it (measuring it takes ~10 s of CPU)."""
    from twist_training.distill.calibrate import write_shipped_calibration
    from twist_training.distill.config import DistillConfig

    run = tmp_path / "run"
    run.mkdir()
    write_shipped_calibration(run)

    def make(**kw) -> DistillConfig:
        base = dict(
            num_envs=4,
            threads=1,
            iterations=2,
            steps_per_iteration=64,
            beta_schedule=[1.0, 0.0],
            hidden=[32],
            updates_per_iteration=3,
            batch_size=32,
            run_dir=str(run),
        )
        base.update(kw)
        return DistillConfig(**base)

    return make
