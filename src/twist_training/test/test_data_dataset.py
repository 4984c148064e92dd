"""CMG dataset builder and the make_dataset command."""

from __future__ import annotations

import numpy as np
import pytest

from twist_controller import robot
from twist_training.data import dataset as D
from twist_training.data import real_clips
from twist_training.data.cli import main as make_dataset


def _labeled(name, vx, seconds=4.0, source="extra", vy=0.0, wz=0.0):
    T = int(seconds * 50)
    rng = np.random.default_rng(abs(hash(name)) % 2**32)
    state = rng.normal(size=(T, 58)).astype(np.float32)
    cmd = np.tile(np.array([vx, vy, wz], np.float32), (T, 1))
    return D.LabeledClip(name, source, state, cmd)


def test_windows_layout_and_overlap():
    c = _labeled("a", 0.5, seconds=2.0)  # 100 frames
    m, k = D.make_windows(c.state, c.command, 30, 15)
    assert m.shape == (5, 31, 58) and k.shape == (5, 30, 3)  # starts 0, 15, 30, 45, 60 (< 100 - 30)
    np.testing.assert_array_equal(m[1, 0], c.state[15])
    np.testing.assert_array_equal(m[1], m[0][15:].tolist() + c.state[31:46].tolist())


def test_mirror_windows_swap_sides_and_negate_lateral_commands():
    c = _labeled("a", 0.5, vy=0.2, wz=0.3)
    m, k = D.make_windows(c.state, c.command, 30, 15)
    mm, mk = D.mirror_windows(m, k)
    np.testing.assert_allclose(mk[0, 0], [0.5, -0.2, -0.3])
    np.testing.assert_allclose(mm[..., :29], robot.mirror_joints(m[..., :29]), atol=1e-6)
    mmm, _ = D.mirror_windows(mm, mk)
    np.testing.assert_allclose(mmm, m, atol=1e-6)


def test_speed_filter_rebalancing_and_stats():
    cfg = D.DatasetConfig(mirror=False, samples_per_window=2.0, seed=3)
    clips = [_labeled(f"slow{i}", 0.1) for i in range(10)] + [_labeled("fast", 2.2), _labeled("silly", 5.0)]
    ds = D.build_dataset(cfg, clips)
    vx = ds.windows_command[:, 0, 0]
    assert not np.any(vx > 4.0)  # 5 m/s window removed by the percentile speed filter
    # rebalanced: the single fast clip gets about as many samples as the ten slow ones
    s_vx = ds.command[:, 0, 0]
    n_fast, n_slow = np.sum(s_vx > 2.0), np.sum(s_vx < 0.2)
    assert n_fast > 0.5 * n_slow
    # every window kept at least once; stats with the std floor; commands map into [-1, 1]
    assert set(np.unique(ds.sample_index)) == set(range(len(ds.windows_motion)))
    assert np.all(ds.stats["motion_std"] >= cfg.std_floor - 1e-7)
    c = D.normalize_command(ds.command, ds.stats)
    assert c.min() >= -1.0 - 1e-5 and c.max() <= 1.0 + 1e-5
    with pytest.raises(ValueError, match="no motion sources"):
        D.build_dataset(cfg, [])


def test_labels_of_recorded_clips_are_smoothed_heading_velocity():
    from twist_training.data import gait

    r = gait.generate_gait(gait.constant_command(1.0, 0.0, 0.0, seconds=4.0))
    lab = D.clip_command_labels(r.clip, window_s=1.0)
    mid = slice(25 + 100, 25 + 175)
    np.testing.assert_allclose(lab[mid, 0], 1.0, atol=0.03)  # within-stride oscillation averaged out
    raw = r.clip.heading_velocity()[mid, 1]
    assert np.abs(lab[mid, 1]).max() < 0.5 * np.abs(raw).max()


@pytest.fixture(scope="module")
def small_dataset():
    cfg = D.DatasetConfig(procedural_minutes=0.4, procedural_clip_seconds=12.0, seed=7, quiet=True)
    return cfg, D.build_dataset(cfg)


def test_build_default_sources_save_and_load(small_dataset, tmp_path):
    _, ds = small_dataset
    assert ds.windows_motion.shape[1:] == (31, 58) and ds.windows_command.shape[1:] == (30, 3)
    assert ds.windows_motion.dtype == np.float32
    expect = {"procedural", "real"} if real_clips.available() else {"procedural"}
    assert set(ds.sources) == expect
    assert ds.meta["fps"] == 50.0 and ds.meta["seq_len"] == 30
    # the standing window is really standing
    w = ds.meta["standing_window"]
    assert np.abs(ds.windows_command[w]).max() < 0.05 and np.abs(ds.windows_motion[w, :, 29:]).max() < 0.05
    p = ds.save(tmp_path / "ds.pt")
    import torch

    raw = torch.load(p, weights_only=False)
    assert set(raw) >= {"samples", "stats"} and len(raw["samples"]) == ds.num_samples
    s0 = raw["samples"][0]
    assert tuple(s0["motion"].shape) == (31, 58) and tuple(s0["command"].shape) == (30, 3)
    assert set(raw["stats"]) >= {"motion_mean", "motion_std", "command_min", "command_max", "num_joints"}
    # repeats share storage: the file holds roughly the unique windows only
    assert p.stat().st_size < 0.8 * ds.num_samples * 31 * 58 * 4
    back = D.load_dataset(p)
    np.testing.assert_array_equal(back.motion, ds.motion)
    np.testing.assert_array_equal(back.command, ds.command)


def test_procedural_windows_are_plausible(small_dataset):
    _, ds = small_dataset
    proc = ds.window_source == ds.sources.index("procedural")
    q = ds.windows_motion[proc][..., :29]
    assert np.all(q >= robot.POSITION_LOWER - 1e-5) and np.all(q <= robot.POSITION_UPPER + 1e-5)
    qd = ds.windows_motion[proc][..., 29:]
    fd = (q[:, 2:] - q[:, :-2]) / 0.04
    assert np.abs(qd[:, 1:-1] - fd).max() < 1e-3  # 50 Hz velocities consistent with positions


def test_deterministic_from_seed():
    cfg = D.DatasetConfig(procedural_minutes=0.1, procedural_clip_seconds=6.0, real_clips=False, quiet=True)
    a, b = D.build_dataset(cfg), D.build_dataset(cfg)
    np.testing.assert_array_equal(a.motion, b.motion)
    np.testing.assert_array_equal(a.command, b.command)


def test_make_dataset_cli(tmp_path, capsys):
    with pytest.raises(SystemExit) as e:
        make_dataset(["--help"])
    assert e.value.code == 0
    assert "--procedural-minutes" in capsys.readouterr().out
    cfg = tmp_path / "c.yaml"
    cfg.write_text("procedural_minutes: 0.1\nprocedural_clip_seconds: 6.0\nreal_clips: false\nseed: 2\n")
    out = tmp_path / "d.pt"
    assert make_dataset(["--config", str(cfg), "--output", str(out), "--quiet", "true"]) == 0
    assert out.is_file() and out.with_suffix(".png").is_file()
    assert "wrote" in capsys.readouterr().out
    bad = tmp_path / "bad.yaml"
    bad.write_text("procedural_minute: 1\n")
    with pytest.raises(SystemExit, match="unknown keys"):
        make_dataset(["--config", str(bad)])
    assert make_dataset(["--procedural-minutes", "0", "--real-clips", "false", "--output", str(out)]) == 1


def test_default_command_programs_cover_the_command_box():
    """The procedural programs reach vx -0.5..3 m/s, vy +-0.5 m/s, yaw rate +-1 rad/s, and standing."""
    rng = np.random.default_rng(0)
    cmd = np.concatenate([D.command_program(rng, 30.0) for _ in range(60)])  # 30 min of commands
    assert cmd[:, 0].min() < -0.45 and cmd[:, 0].max() > 2.9
    assert cmd[:, 1].min() < -0.45 and cmd[:, 1].max() > 0.45
    assert cmd[:, 2].min() < -0.95 and cmd[:, 2].max() > 0.95
    assert 0.08 < np.mean(np.abs(cmd).max(axis=1) == 0.0) < 0.3  # standing share
    # combined commands exist too (arcs, lateral while walking)
    assert np.mean((np.abs(cmd[:, 0]) > 0.3) & (np.abs(cmd[:, 2]) > 0.2)) > 0.05


def test_extra_user_files_are_a_source(tmp_path):
    from twist_training.data import exporters, gait

    r = gait.generate_gait(gait.constant_command(0.7, 0.0, 0.2, seconds=3.0))
    exporters.export_motion(r.clip.resample(30.0), tmp_path / "user" / "walk.csv", "g1_csv")  # 30 fps CSV
    exporters.export_motion(r.clip, tmp_path / "user" / "walk.npz", "mjlab")
    cfg = D.DatasetConfig(
        procedural_minutes=0, real_clips=False, extra_paths=[str(tmp_path / "user")], quiet=True
    )
    ds = D.build_dataset(cfg)
    assert ds.sources == ["extra"] and ds.meta["source_seconds"]["extra"] > 7.0
    steady = ds.windows_command[(np.abs(ds.windows_command[:, :, 0].mean(axis=1) - 0.7) < 0.05)]
    assert len(steady) > 0 and np.allclose(np.abs(steady[..., 2]).mean(), 0.2, atol=0.05)  # +-: mirrored
