"""Gait-phase channels: labels from the feet, mirroring, training/export with phase, runtime clock."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from cmg_generator.artifact import load_artifact
from cmg_generator.model import CMG, CMGConfig, StateLayout
from cmg_generator.runtime import CMGGenerator, load_model
from twist_training.cmg.data_adapter import CMGClips, clip_from_motion_clip, mirror_states
from twist_training.cmg.phase import (
    lift_off_events,
    phase_channels,
    phase_from_events,
    stride_rate,
    with_phase,
)

FPS = 50.0


def _alternating_feet(seconds: float, stride_hz: float, amp: float = 0.05) -> np.ndarray:
    t = np.arange(int(seconds * FPS)) / FPS
    d = amp * np.sin(2 * np.pi * stride_hz * t)
    return np.stack([np.maximum(-d, 0.0), np.maximum(d, 0.0)], axis=1)  # left, right heights


def test_phase_turns_once_per_stride_and_holds_while_standing():
    feet = np.concatenate([np.zeros((50, 2)), _alternating_feet(4.0, 1.25), np.zeros((100, 2))])
    events = lift_off_events(feet)
    assert [p for _, p in events[:4]] == [0.0, 0.5, 0.0, 0.5]  # right lifts first, then left
    phase = phase_from_events(events, len(feet), FPS)
    assert np.all(np.diff(phase) >= -1e-12)
    walking = slice(events[0][0], events[-1][0])
    rate = np.diff(phase[walking]) * FPS
    assert np.median(rate) == pytest.approx(1.25, rel=0.05)
    assert np.ptp(phase[: events[0][0] + 1]) == 0.0 and np.ptp(phase[events[-1][0] :]) == 0.0
    # shuffling below the lift margin is standing
    assert lift_off_events(0.2 * _alternating_feet(2.0, 1.0)) == []
    assert np.all(phase_from_events([], 10, FPS) == 0.0)


def test_pause_holds_then_ramps_and_a_missed_lift_off_counts_a_whole_stride():
    events = [(0, 0.0), (20, 0.5), (200, 0.0), (220, 0.0)]
    phase = phase_from_events(events, 240, FPS, max_gap_s=1.5, ramp_s=0.35)
    assert phase[20] == pytest.approx(0.5) and phase[150] == pytest.approx(0.5)  # held in the pause
    assert phase[200] == pytest.approx(1.0)  # half a stride in the ramp before the next lift-off
    assert phase[220] == pytest.approx(2.0)  # same foot twice: one lift-off of the other was missed


def test_procedural_gait_phase_rate_follows_cadence_and_mirror_shifts_half_a_stride():
    gait = pytest.importorskip("twist_training.data.gait")
    res = gait.generate_gait(gait.piecewise_command([(1.0, (0, 0, 0)), (5.0, (0.5, 0, 0)), (3.0, (0, 0, 0))]))
    s, c = clip_from_motion_clip(res.clip, True, command=res.command)
    clips = with_phase(CMGClips([s], [c]))
    st = clips.states[0]
    assert st.shape[1] == 67 and StateLayout.from_dim(67).phase_channels
    np.testing.assert_allclose(np.linalg.norm(st[:, 65:67], axis=1), 1.0, atol=1e-5)
    rate = stride_rate(st, FPS)
    walking = rate[100:300]
    assert 0.6 < np.median(walking) < 2.0  # strides per second of a 0.5 m/s walk
    assert np.all(rate >= -1e-6)
    assert np.all(np.abs(rate[-60:]) < 1e-6)  # standing at the end: the clock stops
    m = mirror_states(st)
    np.testing.assert_allclose(m[:, 65:67], -st[:, 65:67])
    np.testing.assert_allclose(phase_channels(np.array([0.25])), [[1.0, 0.0]], atol=1e-12)


def test_train_export_and_runtime_with_phase(tmp_path, tiny_cmg_config):
    from twist_training.cmg.export import export_onnx, export_torchscript
    from twist_training.cmg.train import train_cmg

    gait = pytest.importorskip("twist_training.data.gait")
    states, cmds = [], []
    for v in (0.4, 1.0):
        res = gait.generate_gait(gait.piecewise_command([(1.0, (0, 0, 0)), (4.0, (v, 0, 0))]))
        s, c = clip_from_motion_clip(res.clip, True, command=res.command)
        states.append(s)
        cmds.append(c)
    cfg = tiny_cmg_config(phase_channels=True, samples_per_epoch=32, epochs=1)
    res = train_cmg(cfg, clips=CMGClips(states, cmds), log=lambda s: None)
    art = load_artifact(res.best_path)
    assert art.stats.motion_dim == 67 and art.metadata["phase_channels"] is True
    lo, hi = art.metadata["stride_rate_range"]
    assert 0.0 <= lo < hi < 4.0
    z = np.random.default_rng(0).normal(size=(4, 67)).astype(np.float32)
    cz = np.zeros((4, 3), dtype=np.float32)
    with torch.no_grad():
        ref = art.model(torch.from_numpy(z), torch.from_numpy(cz)).numpy()
    ts = export_torchscript(res.best_path, tmp_path / "m.ts")
    exports = (ts, export_onnx(res.best_path, tmp_path / "m.onnx"))
    for path in exports:
        loaded = load_model(path)
        np.testing.assert_allclose(loaded.backend(z, cz), ref, atol=1e-5)
        assert loaded.metadata["stride_rate_range"] == [lo, hi]

    # the runtime's clock: on the unit circle, never backwards, at least the slowest stride rate
    gen = CMGGenerator.load(res.best_path)
    p = StateLayout.from_dim(67).phase
    min_step = 2 * np.pi * lo / FPS
    gen.set_command(0.5, 0.0, 0.0)
    angles = []
    for _ in range(100):
        gen.step()
        angles.append(np.arctan2(gen.state[p.start], gen.state[p.start + 1]))
        np.testing.assert_allclose(np.linalg.norm(gen.state[p]), 1.0, atol=1e-6)
    steps = np.mod(np.diff(angles[30:]), 2 * np.pi)  # after the command ramp (1 m/s^2)
    assert np.all(steps >= min_step - 1e-9) and np.all(steps <= np.pi)


def test_phase_forcing_feeds_the_ground_truth_phase_on_free_running_steps():
    from twist_training.cmg.train import rollout_loss

    torch.manual_seed(0)
    model = CMG(CMGConfig(root_channels=True, phase_channels=True, hidden_dim=16, gate_hidden_dim=8))
    seen = []

    class Recorder(torch.nn.Module):
        def forward(self, x, c):
            seen.append(x.detach().clone())
            return model(x, c)

    B, L = 3, 5
    motion = torch.randn(B, L + 1, 67)
    command = torch.randn(B, L, 3)
    ph = StateLayout.from_dim(67).phase
    for forced in (None, ph):
        seen.clear()
        rollout_loss(Recorder(), motion, command, teacher_prob=0.0, forced=forced)
        for t in range(1, L):
            gt_phase = torch.allclose(seen[t][:, ph], motion[:, t, ph])
            assert gt_phase == (forced is not None)
            # the other channels are the model's own (detached) prediction either way
            assert not torch.allclose(seen[t][:, : ph.start], motion[:, t, : ph.start])


def test_phase_forcing_share_of_batches():
    import random

    from twist_training.cmg.train import _batch_forcing

    ph = StateLayout.from_dim(67).phase
    rng = random.Random(0)
    state = rng.getstate()
    assert _batch_forcing(ph, 1.0, rng) == ph and rng.getstate() == state  # no coin drawn: runs reproduce
    assert _batch_forcing(None, 0.5, rng) is None
    picks = [_batch_forcing(ph, 0.3, rng) is not None for _ in range(2000)]
    assert 0.25 < np.mean(picks) < 0.35


def test_phase_loss_weight_scales_only_the_phase_channels_error():
    from twist_training.cmg.train import rollout_loss

    torch.manual_seed(0)
    model = CMG(CMGConfig(root_channels=True, phase_channels=True, hidden_dim=16, gate_hidden_dim=8))
    B, L = 4, 3
    motion = torch.randn(B, L + 1, 67)
    command = torch.randn(B, L, 3)
    ph = StateLayout.from_dim(67).phase
    with torch.no_grad():  # teacher forcing throughout: step t sees motion[:, t]
        err = torch.stack([(model(motion[:, t], command[:, t]) - motion[:, t + 1]) ** 2 for t in range(L)])
        w = torch.ones(67)
        w[ph] = 10.0
        plain = rollout_loss(model, motion, command, teacher_prob=1.0)
        weighted = rollout_loss(model, motion, command, teacher_prob=1.0, channel_weights=w)
    assert float(plain) == pytest.approx(float(err.mean()), rel=1e-5)
    extra = 9.0 * err[..., ph].sum(-1).mean() / 67  # the phase channels' share, counted 9 more times
    assert float(weighted) == pytest.approx(float(plain + extra), rel=1e-5)


def test_phase_loss_weight_trains_and_needs_phase_channels(tiny_cmg_config):
    from twist_training.cmg.train import train_cmg

    gait = pytest.importorskip("twist_training.data.gait")
    res = gait.generate_gait(gait.piecewise_command([(1.0, (0, 0, 0)), (3.0, (0.6, 0, 0))]))
    s, c = clip_from_motion_clip(res.clip, True, command=res.command)
    clips = CMGClips([s], [c])
    quiet = dict(clips=clips, log=lambda s: None)
    cfg = tiny_cmg_config(phase_channels=True, phase_loss_weight=10.0, samples_per_epoch=32, epochs=1)
    out = train_cmg(cfg, **quiet)
    assert load_artifact(out.final_path).metadata["phase_channels"] is True
    with pytest.raises(ValueError, match="phase_loss_weight needs phase_channels"):
        train_cmg(tiny_cmg_config(phase_loss_weight=10.0, run_name="b", epochs=1), **quiet)


def test_loss_channel_weights_pick_the_phase_and_root_velocity_channels():
    from twist_training.cmg.config import TrainConfig
    from twist_training.cmg.train import loss_channel_weights

    layout = StateLayout(root_channels=True, phase_channels=True)
    assert loss_channel_weights(TrainConfig(), layout, "cpu") is None  # the seed's plain MSE
    w = loss_channel_weights(
        TrainConfig(phase_loss_weight=20.0, root_velocity_loss_weight=5.0), layout, "cpu"
    )
    assert w.shape == (67,)
    assert torch.all(w[65:67] == 20.0) and torch.all(w[61:65] == 5.0)  # vx, vy, vz, yaw rate
    assert torch.all(w[:61] == 1.0)  # joints, root height, roll, pitch
    with pytest.raises(ValueError, match="root_velocity_loss_weight needs root_channels"):
        loss_channel_weights(TrainConfig(root_velocity_loss_weight=5.0), StateLayout(), "cpu")
