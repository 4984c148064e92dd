"""Procedural gait generator: plausibility from FK (slip, limits, IK error, tracking, flight, symmetry)."""

from __future__ import annotations

import numpy as np
import pytest

from twist_controller import robot
from twist_training.data import gait, metrics

STEADY = {  # name: (vx, vy, yaw rate)
    "slow_0.3": (0.3, 0.0, 0.0),
    "walk_1.0": (1.0, 0.0, 0.0),
    "run_2.5": (2.5, 0.0, 0.0),
    "backward_0.5": (-0.5, 0.0, 0.0),
    "lateral_0.4": (0.0, 0.4, 0.0),
    "turn_in_place_1.0": (0.0, 0.0, 1.0),
    "arc": (0.8, 0.0, 0.6),
}
HOLD_S, STAND_BEFORE, STAND_AFTER = 6.0, 0.5, 2.5


@pytest.fixture(scope="module")
def steady_results():
    return {
        k: gait.generate_gait(gait.constant_command(*c, seconds=HOLD_S, stand_after=STAND_AFTER), name=k)
        for k, c in STEADY.items()
    }


@pytest.mark.parametrize("name", list(STEADY))
def test_steady_gait_is_plausible(steady_results, name):
    r = steady_results[name]
    c = np.array(STEADY[name])
    m = metrics.gait_plausibility(r)
    assert r.clip.fps == 50.0 and r.clip.joint_pos.shape[1] == 29
    assert m["ik_pos_error_max"] < 0.005, m  # feet where the plan puts them (< 5 mm)
    assert m["slip_per_stance_max"] < 0.01, m  # stance feet do not slide (< 1 cm per stance)
    assert m["joint_limit_violation"] == 0.0, m
    assert m["velocity_consistency"] < 1e-6, m  # joint_vel = central differences of joint_pos
    assert m["min_sole_z"] > -0.005, m  # no ground penetration
    assert m["max_abs_qd"] < 32.0, m  # G1 motor velocity limit
    # steady-state realized pelvis velocity over whole strides within 5 % (or 0.03 absolute) of the command
    n0 = int((STAND_BEFORE + 2.5) * 50)
    n1 = int((STAND_BEFORE + HOLD_S) * 50)
    v = metrics.stride_averaged_velocity(r.clip, r.contact, n0, n1)
    np.testing.assert_array_less(np.abs(v - c), np.maximum(0.05 * np.abs(c), 0.03) + 1e-9)
    # the label is the realized base velocity and equals the command in steady state
    np.testing.assert_allclose(r.command[n0:n1], np.tile(c, (n1 - n0, 1)), atol=1e-9)
    # after the stop: both feet down, motionless
    assert r.contact[-5:].all()
    assert np.abs(r.clip.joint_vel[-5:]).max() < 1e-6


def test_flight_phase_only_when_running(steady_results):
    def flight(name):
        return metrics.gait_plausibility(steady_results[name])["flight_fraction"]

    assert flight("run_2.5") > 0.05
    assert flight("walk_1.0") == 0.0 and flight("slow_0.3") == 0.0
    # in the air means in the air: during most planned flight frames both soles are > 1 cm up in FK
    r = steady_results["run_2.5"]
    from twist_training.data.kinematics import forward_kinematics

    z = forward_kinematics(r.clip.qpos())["site_pos"][..., 2]
    fl = ~r.contact.any(axis=1)
    assert np.mean(z[fl].min(axis=1) > 0.01) > 0.5


def test_standing_still_and_start_is_causal():
    cmd = gait.constant_command(0.8, 0.0, 0.0, seconds=2.0, stand_before=1.0, stand_after=0.0)
    r = gait.generate_gait(cmd)
    k0 = 50  # first frame with a non-zero command
    assert np.abs(r.clip.joint_pos[: k0 - 8] - r.clip.joint_pos[0]).max() == 0.0
    assert r.contact[:k0].all()
    assert not r.contact[k0 : k0 + 5].all()  # the first step lifts off right away
    stand = gait.generate_gait(np.zeros((100, 3)))
    assert not stand.steps and np.abs(stand.clip.joint_vel).max() == 0.0


def test_generator_does_not_look_ahead_at_the_command():
    base = gait.piecewise_command([(0.5, (0, 0, 0)), (3.0, (0.6, 0.2, 0.3)), (2.0, (1.5, 0.0, 0.0))])
    other = base.copy()
    k = 200
    other[k:] = (0.0, -0.4, -0.8)
    a, b = gait.generate_gait(base), gait.generate_gait(other)
    diff = np.abs(a.clip.joint_pos - b.clip.joint_pos).max(axis=1)
    first = int(np.flatnonzero(diff > 0)[0])
    # identical until the change, except the pelvis-height smoothing window (8 frames = 0.16 s)
    assert k - 9 <= first <= k + 1


def test_left_right_mirror_symmetry():
    cmd = gait.piecewise_command(
        [(0.5, (0, 0, 0)), (3.0, (0.6, 0.3, 0.4)), (2.0, (1.2, -0.2, 0.0)), (1.5, (0, 0, 0))]
    )
    a = gait.generate_gait(cmd)
    b = gait.generate_gait(cmd * [1.0, -1.0, -1.0])
    np.testing.assert_allclose(robot.mirror_joints(a.clip.joint_pos), b.clip.joint_pos, atol=2e-3)
    np.testing.assert_allclose(a.command * [1, -1, -1], b.command, atol=1e-12)


def test_deterministic():
    cmd = gait.constant_command(1.2, 0.1, -0.3, seconds=2.0)
    a, b = gait.generate_gait(cmd), gait.generate_gait(cmd)
    assert np.array_equal(a.clip.joint_pos, b.clip.joint_pos)


def test_slip_metric_detects_a_sliding_foot(steady_results):
    """The slip check can fail: drag the whole clip sideways while the feet are planted."""
    r = steady_results["walk_1.0"]
    clip = r.clip.copy()
    clip.root_pos = clip.root_pos + np.linspace(0, 0.5, clip.num_frames)[:, None] * [0.0, 1.0, 0.0]
    m = metrics.clip_plausibility(clip, r.contact, r.foot_pitch)
    assert m["slip_per_stance_max"] > 0.02


def test_bad_commands_rejected():
    with pytest.raises(ValueError, match=r"\(T >= 2, 3\)"):
        gait.generate_gait(np.zeros((10, 2)))
    with pytest.raises(ValueError, match="NaN"):
        gait.generate_gait(np.full((10, 3), np.nan))


def _random_program(seed: int, n_segments: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    segs = [(0.5, (0.0, 0.0, 0.0))]
    for _ in range(n_segments):
        kind = rng.integers(6)
        c = [
            (0.0, 0.0, 0.0),
            (rng.uniform(-0.5, 0.5), 0.0, 0.0),
            (rng.uniform(0.5, 1.5), rng.uniform(-0.2, 0.2), rng.uniform(-0.5, 0.5)),
            (rng.uniform(1.5, 3.0), 0.0, rng.uniform(-0.5, 0.5)),
            (rng.uniform(-0.3, 0.5), rng.uniform(-0.5, 0.5), 0.0),
            (0.0, 0.0, rng.uniform(-1.0, 1.0)),
        ][kind]
        segs.append((rng.uniform(1.5, 5.0), c))
    return gait.piecewise_command(segs)


def _check_random(seed: int, n_segments: int):
    r = gait.generate_gait(_random_program(seed, n_segments))
    m = metrics.gait_plausibility(r)
    assert np.mean(r.ik_pos_error.max(axis=1) > 0.005) < 0.005, m  # IK error > 5 mm on < 0.5 % of frames
    assert m["joint_limit_violation"] == 0.0 and m["min_sole_z"] > -0.005, m
    assert m["slip_per_stance_max"] < 0.01 and m["slip_speed_p99"] < 0.02, m
    assert m["max_abs_qd"] < 32.0, m
    assert np.abs(np.gradient(r.clip.joint_vel, 0.02, axis=0)).max() < 1500.0  # joint acceleration


def test_random_command_changes_stay_plausible():
    _check_random(1, 6)  # ~20 s of random command changes (start/stop, turn, lateral, run)


@pytest.mark.slow
def test_long_random_command_changes_stay_plausible():
    for seed in range(3):
        _check_random(seed, 30)


def test_clip_report_png(steady_results, tmp_path):
    from twist_training.data.plots import clip_report

    r = steady_results["arc"]
    p = clip_report(r.clip, tmp_path / "arc.png", command=r.command, contact=r.contact)
    assert p.is_file() and p.stat().st_size > 10_000


def test_zmp_metric_sanity(steady_results):
    """Standing: ZMP (= CoM projection) well inside both feet; walking: the metric runs and is bounded."""
    r = gait.generate_gait(np.zeros((60, 3)))
    z = metrics.zmp_support(r.clip, r.contact, r.foot_pitch)
    assert z["zmp_inside_fraction"] == 1.0 and z["zmp_margin_p5"] > 0.03
    w = steady_results["walk_1.0"]
    zw = metrics.zmp_support(w.clip, w.contact, w.foot_pitch)
    assert 0.0 <= zw["zmp_inside_fraction"] <= 1.0
