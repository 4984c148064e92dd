"""Reference mux core: selection, blends bounded by the blend time, stale fallback, rejection."""

import math
from itertools import pairwise

import numpy as np
import pytest

from g1_bringup.mux_core import (
    BUILTIN_DEFAULT,
    DT,
    Frame,
    Motion,
    MuxConfig,
    MuxCore,
    blend,
    default_frame,
    frame_distance,
    max_blend_step,
    validate_frame,
)
from twist_controller import robot


def pose(offset: float, yaw: float = 0.0, height: float = 0.75) -> Frame:
    f = default_frame(height=height, yaw=yaw)
    f.joint_positions = robot.clip_to_limits(f.joint_positions + offset)
    return f


def stream(t: float, base: float, yaw0: float = 0.0) -> Motion:
    """A source whose joints move slowly (0.2 rad/s) around ``base`` and whose heading turns 0.3 rad/s."""
    return Motion([pose(base + 0.2 * math.sin(t), yaw=yaw0 + 0.3 * t)], DT, "")


def test_switch_is_blended_and_each_step_is_bounded():
    cfg = MuxConfig(initial="cmg", blend_time=1.0)
    mux = MuxCore(cfg)
    outs = []
    t = 0.0
    for k in range(300):
        t = k * DT
        if k == 100:
            assert mux.select("player") == ""
        a, err = mux.submit("cmg", stream(t, 0.0, yaw0=0.0), t)
        assert err == ""
        b, err = mux.submit("player", stream(t, 0.5, yaw0=2.0), t)
        out = a or b
        assert out is not None
        outs.append(out.frames[0])
    gap = 0.5 + 0.4  # joint gap between the sources (0.5 offset + sinusoid amplitudes)
    own = 0.2 * DT  # each source's own motion per step
    steps = [frame_distance(x, y) for x, y in pairwise(outs)]
    # blend from a frozen frame into a moving source: the source's own motion counts at most
    # max(s + x s'(x)) = 1.69 times (x = blend progress), the gap at 1.5 dt / T
    assert max(s["joints"] for s in steps) <= max_blend_step(gap, 1.0) + 1.7 * own + 1e-9
    assert max(s["yaw"] for s in steps) <= 1.7 * 0.3 * DT + 1e-6  # heading continues (offset), no jump
    # before the switch the output is cmg, 1 s after it the player (plus the kept heading offset)
    np.testing.assert_allclose(outs[99].joint_positions, stream(99 * DT, 0.0).frames[0].joint_positions)
    np.testing.assert_allclose(outs[160].joint_positions, stream(160 * DT, 0.5).frames[0].joint_positions)
    assert mux.active == "player" and not mux.blending()
    # without a blend the same switch would jump by ~0.5 rad: the test can fail
    assert np.max(np.abs(outs[160].joint_positions - outs[99].joint_positions)) > 0.3


def test_stale_selected_source_falls_back_and_returns():
    mux = MuxCore(MuxConfig(initial="player", stale_timeout=0.2, blend_time=0.5))
    t = 0.0
    active = []
    out_times = []
    for k in range(200):
        t = k * DT
        if k < 50 or k >= 120:  # the player pauses between 1.0 s and 2.4 s
            if mux.submit("player", stream(t, 0.3), t)[0] is not None:
                out_times.append(t)
        if mux.submit("cmg", stream(t, 0.0), t)[0] is not None:
            out_times.append(t)
        if mux.tick(t + 0.5 * DT) is not None:  # the timer runs out of phase with the sources
            out_times.append(t + 0.5 * DT)
        active.append(mux.active)
    # the output never pauses long enough for the policy's 0.1 s reference timeout
    assert max(np.diff(out_times)) <= 2 * DT + 1e-9
    assert active[40] == "player"
    assert active[70] == "cmg"  # 0.2 s after the player went quiet
    assert active[130] == "player"
    assert [s[2] for s in mux.switches] == ["player", "cmg", "player"]


def test_everything_stale_blends_to_builtin_default_and_auto_priority():
    mux = MuxCore(MuxConfig(initial="auto", stale_timeout=0.1, blend_time=0.4))
    for k in range(20):
        mux.submit("cmg", stream(k * DT, 0.3), k * DT)
        mux.submit("external", stream(k * DT, -0.2), k * DT)
    assert mux.active == "external"  # auto priority: player > external > cmg
    outs = []
    for k in range(20, 80):
        m = mux.tick(k * DT)
        if m is not None:
            outs.append(m.frames[0])
    assert mux.active == BUILTIN_DEFAULT
    np.testing.assert_allclose(outs[-1].joint_positions, robot.DEFAULT_POSITION, atol=1e-9)
    assert outs[-1].root_height == pytest.approx(robot.STANDING_PELVIS_HEIGHT)
    steps = [frame_distance(x, y)["joints"] for x, y in pairwise(outs)]
    assert max(steps) <= max_blend_step(0.5, 0.4) + 1e-9
    # with no built-in default in the fallback list: silence when everything is stale
    quiet = MuxCore(MuxConfig(initial="cmg", fallback=("cmg",), stale_timeout=0.1))
    quiet.submit("cmg", stream(0, 0), 0.0)
    assert quiet.tick(1.0) is None and quiet.resolve(1.0) is None


def test_bad_input_is_rejected_and_never_forwarded():
    mux = MuxCore(MuxConfig(initial="cmg"))
    bad = pose(0.0)
    bad.joint_positions[3] = np.nan
    out, err = mux.submit("cmg", Motion([bad]), 0.0)
    assert out is None and "NaN" in err
    far = pose(0.0)
    far.joint_positions[3] = 4.0
    out, err = mux.submit("cmg", Motion([far]), 0.0)
    assert out is None and "outside its limits" in err
    out, err = mux.submit("cmg", Motion([]), 0.0)
    assert out is None and err
    assert mux.inputs["cmg"].rejected == 3 and mux.last_output is None
    assert mux.select("nonsense") != "" and mux.selected == "cmg"
    with pytest.raises(ValueError):
        MuxCore(MuxConfig(initial="nope"))


def test_blend_and_validate_helpers():
    a, b = pose(0.0, yaw=3.0), pose(0.2, yaw=-3.0)
    mid = blend(a, b, 0.5)
    assert abs(mid.root_yaw) == pytest.approx(math.pi, abs=1e-9)
    np.testing.assert_allclose(mid.joint_velocities, 0.0)
    f, err = validate_frame(pose(0.0, height=2.5))
    assert f is None and "height" in err
    near = pose(0.0)
    near.joint_positions[3] = robot.POSITION_UPPER[3] + 0.05
    f, err = validate_frame(near)
    assert err == "" and f.joint_positions[3] == pytest.approx(robot.POSITION_UPPER[3])


def test_a_revision_passes_through_and_a_held_repeat_is_not_one():
    mux = MuxCore(MuxConfig(initial="cmg", blend_time=0.0))
    out, err = mux.submit("cmg", stream(0.0, 0.1), 0.0)
    assert err == "" and out is not None and not out.revision
    revised = stream(0.0, 0.12)
    revised.revision = True
    out, _ = mux.submit("cmg", revised, 0.005)
    assert out is not None and out.revision  # the policy must see that it redoes its step
    held = mux.tick(0.005 + 2 * DT)  # the source paused: the mux repeats its latest message
    assert held is not None and not held.revision
