"""Teacher PPO and student DAgger-PPO on rsl-rl-lib: schedule, KL, networks, learning signals."""

from __future__ import annotations

import csv
import itertools
import math

import numpy as np
import pytest
import torch
from tensordict import TensorDict

from twist_training.algorithms.config import TrainConfig, load_config
from twist_training.algorithms.dagger_ppo import dagger_coefficient, gaussian_kl
from twist_training.algorithms.networks import TwistModel, TwistNet

TINY = [
    "task.num_envs=8",
    "task.motions.sources=[stand]",
    "task.motions.builtin_duration_s=4.0",
    "task.domain_rand.enabled=false",
    "task.noise.enabled=false",
    "network.hidden_dims=[64,64]",
    "network.latent_dim=16",
    "num_steps_per_env=16",
    "torch_threads=1",
    "save_interval=1000",
]


def tiny_cfg(run_dir, *extra) -> TrainConfig:
    return load_config(TrainConfig, [], [*TINY, f"run_dir={run_dir}", *extra])


def read_progress(run_dir) -> list[dict]:
    with open(f"{run_dir}/progress.csv") as f:
        return [{k: float(v) for k, v in row.items()} for row in csv.DictReader(f)]


def test_dagger_schedule_is_stated_cosine_with_floor():
    c = [dagger_coefficient(i, 0.1, 0.01, 3000) for i in range(0, 6001, 500)]
    assert c[0] == pytest.approx(0.1)
    assert all(a >= b for a, b in itertools.pairwise(c))
    assert c[6] == pytest.approx(0.01) and c[-1] == pytest.approx(0.01)
    assert c[3] == pytest.approx(0.055)  # halfway
    # the upstream code's compounding behaviour, reproduced for comparison (upstream_facts D.3)
    assert dagger_coefficient(1000, 0.1, 0.01, 3000, "upstream_compounding") == pytest.approx(0.080, abs=2e-3)
    assert dagger_coefficient(3000, 0.1, 0.01, 3000, "upstream_compounding") < 5e-4


def test_gaussian_kl_matches_torch():
    g = torch.Generator().manual_seed(0)
    mu_s, mu_t = torch.randn(5, 23, generator=g), torch.randn(5, 23, generator=g)
    sd_s, sd_t = torch.rand(5, 23, generator=g) + 0.2, torch.rand(5, 23, generator=g) + 0.2
    ref = torch.distributions.kl_divergence(
        torch.distributions.Normal(mu_s, sd_s), torch.distributions.Normal(mu_t, sd_t)
    )
    torch.testing.assert_close(gaussian_kl(mu_s, sd_s, mu_t, sd_t), ref)
    assert float(gaussian_kl(mu_s, sd_s, mu_s, sd_s).abs().max()) < 1e-6


def test_twist_network_sizes_match_upstream():
    teacher = TwistNet(1318, 23, 20, 58)
    assert teacher.backbone[0].in_features == 344  # (1318 - 1160) + 58 + 128
    student = TwistNet(1155, 23, 1, 31)
    assert student.backbone[0].in_features == 1283  # (1155 - 31) + 31 + 128
    assert any(isinstance(m, torch.nn.LayerNorm) for m in teacher.backbone)
    assert teacher(torch.zeros(4, 1318)).shape == (4, 23)
    obs = TensorDict({"student": torch.randn(6, 1155)}, batch_size=[6])
    m = TwistModel(
        obs,
        {"actor": ["student"]},
        "actor",
        23,
        motion_frames=1,
        motion_frame_size=31,
        distribution_cfg={"class_name": "GaussianDistribution", "init_std": 1.0},
    )
    assert m(obs, stochastic_output=True).shape == (6, 23)
    m.update_normalization(obs)
    assert "obs_normalizer._mean" in m.state_dict()  # normalizer travels with checkpoints


def test_ppo_raises_return_on_reduced_task(tmp_path):
    """Reduced task: the built-in "sway" reference (arms and waist moving over a standing base), no
    randomization/noise, 16 envs, small nets, 40 iterations (~30 s idle, ~70 s on the loaded box).
    The mean episode return of the last iterations must clearly exceed the first ones (measured:
    0.98 -> 1.20, episode length 36 -> 46 steps)."""
    from twist_training.algorithms.train import train

    cfg = tiny_cfg(
        tmp_path / "t",
        "iterations=40",
        "task.num_envs=16",
        "num_steps_per_env=24",
        "task.motions.sources=[sway]",
        "network.init_std=0.3",
        "ppo.learning_rate=1e-3",
        "ppo.schedule=fixed",
    )
    train(cfg, student=False)
    rows = read_progress(tmp_path / "t")
    assert len(rows) == 40
    first = np.mean([r["mean_return"] for r in rows[2:5]])
    last = np.mean([r["mean_return"] for r in rows[-3:]])
    assert last > 1.1 * first, (first, last)


def test_student_kl_to_teacher_falls_and_resume(tmp_path):
    from twist_training.algorithms.train import train

    train(tiny_cfg(tmp_path / "t", "iterations=1"), student=False)
    cfg = tiny_cfg(
        tmp_path / "s",
        "iterations=12",
        f"dagger.teacher_checkpoint={tmp_path / 't'}",
        "dagger.dagger_coef=1.0",
        "dagger.dagger_schedule=constant",
        "ppo.learning_rate=1e-3",
        "ppo.schedule=fixed",
    )
    runner = train(cfg, student=True)
    rows = read_progress(tmp_path / "s")
    kl = [r["loss_dagger_kl"] for r in rows]
    assert kl[-1] < 0.6 * kl[0], kl
    # the critic starts as the teacher's critic (same privileged input)
    assert runner.alg.dagger_iter == 12
    # resume: continues the iteration count and the DAgger schedule position
    cfg2 = tiny_cfg(
        tmp_path / "s", "iterations=1", f"dagger.teacher_checkpoint={tmp_path / 't'}", "resume=auto"
    )
    r2 = train(cfg2, student=True)
    assert r2.alg.dagger_iter == 13
    assert math.isfinite(read_progress(tmp_path / "s")[-1]["loss_dagger_kl"])
