"""Gait-phase labels for CMG training clips, read from the feet (MuJoCo forward kinematics).

The phase phi counts strides: it is 0 (mod 1) when the right foot lifts off and 0.5 when the left
one does, linear in between, so it turns once per stride whatever the speed. A foot "lifts off" when
it rises ``lift_m`` above the other one (hysteresis: it must then drop below the other foot by the
same margin before the next event of the other side). Standing, and shuffling below the margin,
produce no events, so the phase holds still there; after a pause longer than ``max_gap_s`` it holds
until ``ramp_s`` before the next lift-off and turns half a stride in that time.

The label is the same for real clips and procedural gaits, and needs only what a CMG state holds:
joint positions (+ roll/pitch when the state has root channels). Mirroring a clip swaps the feet,
which is phi + 0.5, i.e. (sin, cos) -> (-sin, -cos) (:func:`data_adapter.mirror_states`).
"""

from __future__ import annotations

import itertools

import numpy as np

from cmg_generator.model import NUM_JOINTS, StateLayout
from twist_training.cmg.data_adapter import CMGClips

LIFT_M = 0.01


def lift_off_events(foot_z: np.ndarray, lift_m: float = LIFT_M) -> list[tuple[int, float]]:
    """(frame, phase mod 1) of every lift-off: 0.0 for the right foot, 0.5 for the left.

    ``foot_z`` (T, 2): left and right foot heights in any common frame (only the difference counts).
    """
    d = foot_z[:, 1] - foot_z[:, 0]  # right above left > 0
    events: list[tuple[int, float]] = []
    side = 0
    for t, x in enumerate(d):
        if x > lift_m and side != 1:
            side = 1
            events.append((t, 0.0))
        elif x < -lift_m and side != -1:
            side = -1
            events.append((t, 0.5))
    return events


def phase_from_events(
    events: list[tuple[int, float]], num_frames: int, fps: float, max_gap_s: float = 1.5, ramp_s: float = 0.35
) -> np.ndarray:
    """Unwrapped phase (T,) in strides, piecewise linear through the lift-off events."""
    if not events:
        return np.zeros(num_frames)
    knots_t = [float(events[0][0])]
    knots_p = [events[0][1]]
    for (t0, p0), (t1, p1) in itertools.pairwise(events):
        step = (p1 - p0) % 1.0 or 1.0  # +0.5 normally; +1.0 when one lift-off was missed
        prev = knots_p[-1]
        if (t1 - t0) / fps > max_gap_s:  # a pause: hold, then turn half a stride into the next step
            ramp = ramp_s * fps * 2.0 * step
            knots_t.append(t1 - ramp)
            knots_p.append(prev)
        knots_t.append(float(t1))
        knots_p.append(prev + step)
    return np.interp(np.arange(num_frames, dtype=np.float64), knots_t, knots_p)


class FootHeights:
    """Feet heights (T, 2) of CMG states through MuJoCo forward kinematics (pelvis at the origin)."""

    def __init__(self):
        from twist_training.cmg.evaluate import Kinematics

        self.kin = Kinematics()

    def __call__(self, states: np.ndarray) -> np.ndarray:
        layout = StateLayout.from_dim(states.shape[1])
        rp = states[:, layout.root_roll : layout.root_pitch + 1] if layout.root_channels else None
        fp, _, _, _ = self.kin.run(np.asarray(states[:, :NUM_JOINTS], dtype=np.float64), rp)
        return fp[:, :, 2]


def phase_channels(phase: np.ndarray) -> np.ndarray:
    a = 2.0 * np.pi * np.asarray(phase)
    return np.stack([np.sin(a), np.cos(a)], axis=-1)


def with_phase(clips: CMGClips, fps: float | None = None, heights: FootHeights | None = None) -> CMGClips:
    """The clips with two phase channels appended to every state (58 -> 60, 65 -> 67)."""
    layout = StateLayout.from_dim(clips.state_dim)
    if layout.phase_channels:
        return clips
    heights = heights or FootHeights()
    fps = fps or clips.fps
    states = []
    for s in clips.states:
        phase = phase_from_events(lift_off_events(heights(s)), s.shape[0], fps)
        states.append(np.concatenate([s, phase_channels(phase)], axis=1).astype(np.float32))
    return CMGClips(states, clips.commands, clips.names, clips.fps, clips.source + " +phase")


def stride_rate(states: np.ndarray, fps: float) -> np.ndarray:
    """Phase rate (strides/s, T-1) from the phase channels of raw states (T, D)."""
    layout = StateLayout.from_dim(states.shape[1])
    sc = states[:, layout.phase]
    a = np.arctan2(sc[:, 0], sc[:, 1])
    return np.angle(np.exp(1j * np.diff(a))) / (2.0 * np.pi) * fps


def moving_stride_rate_range(clips: CMGClips, min_speed: float = 0.1, q=(0.02, 0.98)) -> tuple[float, float]:
    """Quantiles of the stride rate over frames whose command is not standing (for the runtime)."""
    rates = []
    for s, c in zip(clips.states, clips.commands, strict=True):
        moving = np.linalg.norm(c[1:, :2], axis=1) + 0.3 * np.abs(c[1:, 2]) > min_speed
        rates.append(stride_rate(s, clips.fps)[moving])
    r = np.concatenate(rates) if rates else np.zeros(1)
    return float(np.quantile(r, q[0])), float(np.quantile(r, q[1]))
