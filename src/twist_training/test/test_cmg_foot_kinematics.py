"""Differentiable feet kinematics match MuJoCo; the slip loss is ~0 on real gaits, large on shuffles."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from twist_controller import robot
from twist_training.cmg.data_adapter import CMGClips, clip_from_motion_clip
from twist_training.cmg.evaluate import Kinematics
from twist_training.cmg.foot_kinematics import FootKinematics, SlipLoss


def test_feet_match_mujoco_forward_kinematics():
    rng = np.random.default_rng(0)
    q = robot.DEFAULT_POSITION + 0.3 * rng.normal(size=(40, 29))
    rp = 0.2 * rng.normal(size=(40, 2))
    expected, _, _, _ = Kinematics().run(q, rp)
    f = torch.float32
    roll, pitch = torch.tensor(rp[:, 0], dtype=f), torch.tensor(rp[:, 1], dtype=f)
    got = FootKinematics()(torch.tensor(q, dtype=f), roll, pitch)
    np.testing.assert_allclose(got.numpy(), expected, atol=1e-5)


def _walk(v: float) -> np.ndarray:
    gait = pytest.importorskip("twist_training.data.gait")
    res = gait.generate_gait(gait.piecewise_command([(1.0, (0, 0, 0)), (4.0, (v, 0, 0.3))]))
    s, _ = clip_from_motion_clip(res.clip, True, command=res.command)
    return s


def test_slip_is_small_on_a_generated_gait_and_large_when_the_feet_do_not_push():
    states = torch.tensor(_walk(0.5)[50:], dtype=torch.float32)[None]  # (1, T, 65) walking + turning
    slip = SlipLoss()
    stance = slip.planted(states[0])
    assert 0.3 < float(stance.float().mean()) < 0.95  # both feet planted part of the time
    assert float(stance.any(dim=1).float().mean()) > 0.95  # walking: always one foot down
    truth = float(slip(states[:, :-1], states[:, 1:]))
    assert truth < 0.12  # m/s: the generator's feet hardly slide
    frozen = states.clone()
    frozen[..., :12] = states[:, :1, :12]  # the legs stop while the root still says 0.5 m/s
    shuffle = float(slip(frozen[:, :-1], frozen[:, 1:]))
    assert shuffle > 3 * truth and shuffle > 0.3


def test_training_with_the_slip_term_records_it(tiny_cmg_config):
    from twist_training.cmg.train import train_cmg

    s = _walk(0.8)
    c = np.tile(np.array([0.8, 0.0, 0.3], dtype=np.float32), (len(s), 1))
    small = dict(slip_loss_weight=1.0, batch_size=8, samples_per_epoch=16, epochs=1)
    cfg = tiny_cmg_config(**small)
    res = train_cmg(cfg, clips=CMGClips([s], [c]), log=lambda m: None)
    assert np.isfinite(res.history[0]["slip"]) and res.history[0]["slip"] > 0
    with pytest.raises(ValueError, match="root_channels"):
        train_cmg(
            tiny_cmg_config(**small, root_channels=False, run_name="r2"),
            clips=CMGClips([s[:, :58]], [c]),
            log=lambda m: None,
        )
