"""The walking-evaluation protocol: same seeds give the same commands, the metrics read what they
claim (stride average vs instantaneous), and the direct loop runs the real cores end to end."""

import numpy as np
import pytest

from g1_bringup.evaluation.protocol import COLUMNS, RANGES, command_sequence, episode_metrics, summarize


def test_command_sequences_are_seeded_and_inside_the_range():
    a = command_sequence(3, 20.0, "trained")
    assert a == command_sequence(3, 20.0, "trained")
    assert a != command_sequence(4, 20.0, "trained")
    assert a[0]["vx"] == a[0]["vy"] == a[0]["wz"] == 0.0 and a[-1]["t1"] == 20.0
    r = RANGES["trained"]
    for s in command_sequence(5, 500.0, "trained"):
        assert r["vx"][0] <= s["vx"] <= r["vx"][1] and abs(s["vy"]) <= 0.3 and abs(s["wz"]) <= 0.8
    assert max(s["vx"] for s in command_sequence(5, 500.0, "extended")) > 1.0


def _rows(v_of_t, cmd=(0.5, 0.0, 0.0), seconds=6.0):
    t = np.arange(0, seconds, 0.02)
    rows = np.zeros((len(t), len(COLUMNS)))
    rows[:, 0], rows[:, 9] = t, t  # one segment from t = 0
    rows[:, 1:4] = cmd
    rows[:, 4:7] = v_of_t(t)
    rows[:, 7] = 0.75
    return rows


def test_stride_average_removes_sway_but_not_a_speed_error():
    sway = lambda t: np.stack([0.5 + 0 * t, 0.15 * np.sin(2 * np.pi * t), 0 * t], axis=1)  # noqa: E731
    m = episode_metrics(_rows(sway))
    assert m["vel_err_xy_moving_mps"] == pytest.approx(0.0, abs=1e-3)  # 1 Hz sway averages out
    assert m["vel_err_xy_moving_inst_mps"] == pytest.approx(0.15 * 2 / np.pi, rel=0.05)  # mean |sin|
    slow = lambda t: np.stack([0.4 + 0 * t, 0 * t, 0 * t], axis=1)  # noqa: E731
    m = episode_metrics(_rows(slow))
    assert m["vel_err_xy_moving_mps"] == pytest.approx(0.1, abs=1e-6)
    abs_err, bias, n = m["bin_vx_+0.5_+1.0"]
    assert bias / n == pytest.approx(-0.1) and abs_err / n == pytest.approx(0.1) and n > 0
    s = summarize([{**m, "fell": False, "episode": 0}, {"error": "did not start"}])
    assert s["evaluated"] == 1 and s["errors"] == 1 and s["falls"] == 0
    assert s["bins"]["bin_vx_+0.5_+1.0"]["bias"] == pytest.approx(-0.1)


def test_direct_loop_stands_the_expert_up_and_hands_over():
    """The real cores in one process: stand-up in the band, POLICY, release, a short walk."""
    from g1_bringup.evaluation.direct import DirectConfig, DirectEvaluator
    from twist_training.distill.reference import shipped_cmg_path

    ev = DirectEvaluator("expert:fastsac", shipped_cmg_path(), DirectConfig(duration=3.0, hold=1.0))
    segs = [
        {"t0": 0.0, "t1": 1.0, "vx": 0.0, "vy": 0.0, "wz": 0.0},
        {"t0": 1.0, "t1": 3.0, "vx": 0.5, "vy": 0, "wz": 0},
    ]
    ep = ev.run(segs)
    assert not ep.get("error"), ep
    assert not ep["fell"] and ep["survived_s"] == pytest.approx(3.0, abs=0.05)
    assert 0 < ep["tau_peak_over_limit"] < 1.0
