"""Reference frames, blending and source selection for ``/reference_motion`` (pure Python, no rclpy).

This module holds what every reference source of g1_bringup shares:

* :class:`Frame`: one whole-body reference (mirrors ``twist_msgs/ReferenceFrame``; joints in the
  G1 29-DOF order), :func:`default_frame` (standing pose), :func:`validate_frame` (finite, joint
  limits, plausible root values) and :func:`blend` (smoothstep interpolation of joints and root
  quantities; yaw along the shortest arc).
* :class:`MuxCore`: the run-time source switch used by ``reference_mux``.

Mux semantics
-------------
Sources are named (``cmg``, ``player``, ``external``; plus the built-in ``default`` = standing pose,
always fresh). ``select(name)`` picks one; ``select("auto")`` picks the first *fresh* source of
``priority``. When the selected source is stale (no message for ``stale_timeout`` s) the first
fresh source of ``fallback`` drives the output instead; the selection stays, so the selected source
takes over again as soon as it streams. While anything is fresh the output never pauses for more
than ~1.5 frames (:meth:`MuxCore.tick` republishes the latest message of the source in charge), so
the policy's 0.1 s reference timeout never trips during a fallback. Every change of the *active*
source starts a blend: the last published frame is frozen and the output moves from it to the live
new source with a smoothstep over ``blend_time`` s. Consequently one output step never moves a
quantity by more than ``1.5 * dt / blend_time * |gap|`` plus (at most 1.7 times) the new source's
own motion in that step (see :func:`max_blend_step`).

Yaw is a gauge for the tracking policy (it observes the reference heading but not the robot's own),
and every source integrates heading in its own world frame. With ``yaw_continuity`` the mux adds a
per-activation offset so the new source's heading continues from the last output heading instead of
jumping; the offset is kept while that source stays active.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field, replace

import numpy as np

from twist_controller import robot
from twist_controller.reference import Frame

NUM_JOINTS = robot.NUM_JOINTS
DT = 0.02
BUILTIN_DEFAULT = "default"

# Plausibility bounds for a reference frame (beyond them a frame is rejected, never forwarded).
MAX_ROOT_HEIGHT = 2.0  # m
MAX_TILT = math.pi  # rad, |roll| and |pitch|
MAX_LIN_VEL = 10.0  # m/s
MAX_YAW_RATE = 20.0  # rad/s
MAX_JOINT_VEL = 100.0  # rad/s
LIMIT_TOLERANCE = 0.2  # rad beyond a joint limit that is clipped; further out is rejected


def wrap_angle(a: float) -> float:
    return (float(a) + math.pi) % (2.0 * math.pi) - math.pi


def smoothstep(x: float) -> float:
    """3x^2 - 2x^3 on [0, 1] (zero slope at both ends; max slope 1.5)."""
    x = min(max(float(x), 0.0), 1.0)
    return x * x * (3.0 - 2.0 * x)


def smoothstep_rate(x: float) -> float:
    """d smoothstep / dx."""
    x = min(max(float(x), 0.0), 1.0)
    return 6.0 * x * (1.0 - x)


def default_frame(height: float = robot.STANDING_PELVIS_HEIGHT, yaw: float = 0.0) -> Frame:
    """The standing reference: default joint pose, upright, at rest."""
    return Frame(
        robot.DEFAULT_POSITION.copy(),
        np.zeros(NUM_JOINTS),
        float(height),
        0.0,
        0.0,
        float(yaw),
        np.zeros(3),
        0.0,
    )


def validate_frame(f: Frame, limit_tolerance: float = LIMIT_TOLERANCE) -> tuple[Frame | None, str]:
    """Check one frame. Returns ``(frame, "")`` (joints clipped into limits) or ``(None, reason)``.

    Rejected: wrong joint count, NaN/inf, joints more than ``limit_tolerance`` rad outside the G1
    limits, root height outside [0, 2] m, |roll| or |pitch| > pi, |v| > 10 m/s, |yaw rate| > 20 rad/s,
    |joint velocity| > 100 rad/s.
    """
    try:
        q = np.asarray(f.joint_positions, dtype=np.float64).reshape(-1)
        dq = np.asarray(f.joint_velocities, dtype=np.float64).reshape(-1)
        v = np.asarray(f.root_linear_velocity, dtype=np.float64).reshape(-1)
        root = np.array(
            [f.root_height, f.root_roll, f.root_pitch, f.root_yaw, f.root_yaw_rate], dtype=np.float64
        )
    except (TypeError, ValueError) as exc:
        return None, f"unreadable frame ({exc})"
    if q.shape != (NUM_JOINTS,):
        return None, f"joint_positions has {q.size} entries, expected {NUM_JOINTS}"
    if dq.size == 0:
        dq = np.zeros(NUM_JOINTS)
    if dq.shape != (NUM_JOINTS,):
        return None, f"joint_velocities has {dq.size} entries, expected {NUM_JOINTS}"
    if v.shape != (3,):
        return None, "root_linear_velocity must have 3 entries"
    if not (
        np.all(np.isfinite(q))
        and np.all(np.isfinite(dq))
        and np.all(np.isfinite(v))
        and np.all(np.isfinite(root))
    ):
        return None, "NaN/inf in the frame"
    below = robot.POSITION_LOWER - q
    above = q - robot.POSITION_UPPER
    worst = float(np.max(np.maximum(below, above)))
    if worst > limit_tolerance:
        j = int(np.argmax(np.maximum(below, above)))
        return None, f"{robot.G1_JOINT_NAMES[j]} = {q[j]:.3f} rad is {worst:.3f} rad outside its limits"
    h, roll, pitch, _, wz = root
    if not 0.0 <= h <= MAX_ROOT_HEIGHT:
        return None, f"root height {h:.3f} m outside [0, {MAX_ROOT_HEIGHT}]"
    if abs(roll) > MAX_TILT or abs(pitch) > MAX_TILT:
        return None, f"root roll/pitch ({roll:.3f}, {pitch:.3f}) outside [-pi, pi]"
    if np.linalg.norm(v) > MAX_LIN_VEL:
        return None, f"root linear velocity {np.linalg.norm(v):.2f} m/s above {MAX_LIN_VEL}"
    if abs(wz) > MAX_YAW_RATE:
        return None, f"root yaw rate {wz:.2f} rad/s above {MAX_YAW_RATE}"
    if np.max(np.abs(dq)) > MAX_JOINT_VEL:
        return None, f"joint velocity {np.max(np.abs(dq)):.1f} rad/s above {MAX_JOINT_VEL}"
    out = Frame(
        robot.clip_to_limits(q),
        dq,
        float(h),
        float(roll),
        float(pitch),
        wrap_angle(f.root_yaw),
        v,
        float(wz),
    )
    return out, ""


def blend(a: Frame, b: Frame, s: float, s_rate: float = 0.0) -> Frame:
    """Interpolate from ``a`` (s = 0) to ``b`` (s = 1); yaw along the shortest arc.

    ``s_rate`` (ds/dt, 1/s) adds the blend's own motion to the joint velocities, so velocities stay
    consistent with the blended positions: dq = (1-s) dq_a + s dq_b + s_rate (q_b - q_a).
    """
    s = min(max(float(s), 0.0), 1.0)
    qa, qb = np.asarray(a.joint_positions, dtype=np.float64), np.asarray(b.joint_positions, dtype=np.float64)
    dqa = np.asarray(a.joint_velocities, dtype=np.float64)
    dqb = np.asarray(b.joint_velocities, dtype=np.float64)
    va = np.asarray(a.root_linear_velocity, dtype=np.float64)
    vb = np.asarray(b.root_linear_velocity, dtype=np.float64)
    return Frame(
        qa + s * (qb - qa),
        dqa + s * (dqb - dqa) + s_rate * (qb - qa),
        a.root_height + s * (b.root_height - a.root_height),
        a.root_roll + s * (b.root_roll - a.root_roll),
        a.root_pitch + s * (b.root_pitch - a.root_pitch),
        wrap_angle(a.root_yaw + s * wrap_angle(b.root_yaw - a.root_yaw)),
        va + s * (vb - va),
        a.root_yaw_rate + s * (b.root_yaw_rate - a.root_yaw_rate),
    )


def frame_distance(a: Frame, b: Frame) -> dict[str, float]:
    """Largest absolute differences between two frames (joints, height, roll/pitch, yaw (wrapped))."""
    return {
        "joints": float(np.max(np.abs(np.asarray(a.joint_positions) - np.asarray(b.joint_positions)))),
        "height": abs(a.root_height - b.root_height),
        "tilt": max(abs(a.root_roll - b.root_roll), abs(a.root_pitch - b.root_pitch)),
        "yaw": abs(wrap_angle(a.root_yaw - b.root_yaw)),
    }


def max_blend_step(gap: float, blend_time: float, dt: float = DT) -> float:
    """Upper bound of one step's change caused by a smoothstep blend across ``gap`` (excl. source motion)."""
    if blend_time <= 0:
        return abs(gap)
    return 1.5 * abs(gap) * dt / blend_time


@dataclass
class Motion:
    """A multi-frame reference (frames[0] = now, frames[k] = k*dt later)."""

    frames: list[Frame]
    dt: float = DT
    source: str = ""
    command: tuple[float, float, float] = (0.0, 0.0, 0.0)
    revision: bool = False  # replaces the previous reference (same tick, newer command): see the msg


def validate_motion(m: Motion) -> tuple[Motion | None, str]:
    if not m.frames:
        return None, "reference without frames"
    if not (math.isfinite(m.dt) and 0.0 < m.dt <= 1.0):
        return None, f"invalid dt {m.dt}"
    out = []
    for k, f in enumerate(m.frames):
        g, err = validate_frame(f)
        if g is None:
            return None, f"frame {k}: {err}"
        out.append(g)
    cmd = tuple(float(c) if math.isfinite(c) else 0.0 for c in m.command)
    return Motion(out, float(m.dt), m.source, cmd, bool(m.revision)), ""  # type: ignore[arg-type]


# ---------------------------------------------------------------------------------------------- mux


@dataclass
class MuxConfig:
    sources: tuple[str, ...] = ("cmg", "player", "external")
    initial: str = "auto"  # a source name, "auto" or "default"
    priority: tuple[str, ...] = ("player", "external", "cmg")  # order used by "auto"
    fallback: tuple[str, ...] = ("cmg", BUILTIN_DEFAULT)  # used while the selected source is stale
    stale_timeout: float = 0.2  # s without a message -> stale
    blend_time: float = 1.0  # s, smoothstep blend on every change of the active source
    yaw_continuity: bool = True
    hold_after: float = 1.5 * DT  # s of output silence after which tick() republishes (see tick)


@dataclass
class _Input:
    motion: Motion | None = None
    stamp: float = -math.inf
    count: int = 0
    rejected: int = 0


@dataclass
class _Blend:
    start_frame: Frame
    t0: float
    duration: float


@dataclass
class MuxCore:
    """Source switch with blends and stale fallback. Times are seconds of one monotonic clock."""

    cfg: MuxConfig = field(default_factory=MuxConfig)

    def __post_init__(self) -> None:
        self.inputs: dict[str, _Input] = {s: _Input() for s in self.cfg.sources}
        self.selected = ""
        self.active: str | None = None  # source that drove the last output
        self.last_output: Frame | None = None
        self.last_output_time = -math.inf
        self.blend_state: _Blend | None = None
        self.yaw_offset = 0.0
        self.switches: list[tuple[float, str | None, str]] = []  # (time, from, to) log
        err = self.select(self.cfg.initial)
        if err:
            raise ValueError(err)

    # ------------------------------------------------------------------ selection
    def choices(self) -> tuple[str, ...]:
        return (*self.cfg.sources, BUILTIN_DEFAULT, "auto")

    def select(self, name: str) -> str:
        """Select a source ("auto", a source name or "default"); returns an error text or ""."""
        name = str(name).strip()
        if name not in self.choices():
            return f"unknown source {name!r}; choose from {', '.join(self.choices())}"
        self.selected = name
        return ""

    def is_fresh(self, name: str, now: float) -> bool:
        if name == BUILTIN_DEFAULT:
            return True
        inp = self.inputs.get(name)
        return inp is not None and inp.motion is not None and now - inp.stamp <= self.cfg.stale_timeout

    def resolve(self, now: float) -> str | None:
        """The source that should drive the output now (None: nothing fresh and no default fallback)."""
        if self.selected == "auto":
            for s in self.cfg.priority:
                if self.is_fresh(s, now):
                    return s
        elif self.is_fresh(self.selected, now):
            return self.selected
        for s in self.cfg.fallback:
            if self.is_fresh(s, now):
                return s
        return None

    # ------------------------------------------------------------------ inputs and output
    def submit(self, name: str, motion: Motion, now: float) -> tuple[Motion | None, str]:
        """Store a source's message. Returns (output to publish now or None, rejection reason or "")."""
        inp = self.inputs.get(name)
        if inp is None:
            return None, f"unknown source {name!r}"
        good, err = validate_motion(motion)
        if good is None:
            inp.rejected += 1
            return None, err
        inp.motion, inp.stamp = good, now
        inp.count += 1
        if self.resolve(now) != name:
            return None, ""
        return self._output(name, good, now), ""

    def tick(self, now: float) -> Motion | None:
        """Timer hook (call at ~50 Hz): keeps the output stream alive between source messages.

        Real sources publish through :meth:`submit` the moment their message arrives (no added
        latency). The timer drives the built-in default source, and whenever the output has been
        quiet for more than ``hold_after`` s while some source is fresh (the active source paused,
        or a switch is due because it went stale) it republishes that source's latest message
        (blend progress continues). So downstream never sees a gap longer than ~``hold_after``
        while anything is fresh: the policy's own reference timeout (0.1 s) is shorter than
        ``stale_timeout``.
        """
        src = self.resolve(now)
        if src is None:
            return None
        if src == BUILTIN_DEFAULT:
            return self._output(BUILTIN_DEFAULT, Motion([default_frame()], DT, BUILTIN_DEFAULT), now)
        if now - self.last_output_time <= self.cfg.hold_after:
            return None
        latest = self.inputs[src].motion
        # a held repeat is not a revision, even when the message it repeats was one
        return None if latest is None else self._output(src, replace(latest, revision=False), now)

    def _output(self, name: str, motion: Motion, now: float) -> Motion:
        if name != self.active:
            self._start_switch(name, motion.frames[0], now)
        frames = [f.with_yaw(wrap_angle(f.root_yaw + self.yaw_offset)) for f in motion.frames]
        b = self.blend_state
        if b is not None:
            out_frames = []
            for k, f in enumerate(frames):
                x = (now + k * motion.dt - b.t0) / b.duration
                s, s_rate = smoothstep(x), smoothstep_rate(x) / b.duration
                out_frames.append(blend(b.start_frame, f, s, s_rate))
            frames = out_frames
            if now - b.t0 >= b.duration:
                self.blend_state = None
        self.last_output = frames[0]
        self.last_output_time = now
        source = name if motion.source == "" else motion.source
        return Motion(frames, motion.dt, source, motion.command, motion.revision)

    def _start_switch(self, name: str, first: Frame, now: float) -> None:
        prev = self.active
        self.switches.append((now, prev, name))
        self.active = name
        if self.last_output is None:
            self.yaw_offset = 0.0
            self.blend_state = None
            return
        if self.cfg.yaw_continuity:
            self.yaw_offset = wrap_angle(self.last_output.root_yaw - first.root_yaw)
        else:
            self.yaw_offset = 0.0
        if self.cfg.blend_time > 0:
            start = self.last_output.copy()
            start.joint_velocities = np.zeros(NUM_JOINTS)  # the frozen start frame does not move
            self.blend_state = _Blend(start, now, self.cfg.blend_time)

    def blending(self) -> bool:
        return self.blend_state is not None

    def status(self, now: float) -> dict:
        return {
            "selected": self.selected,
            "active": self.active,
            "blending": self.blending(),
            "fresh": {s: self.is_fresh(s, now) for s in self.cfg.sources},
            "received": {s: i.count for s, i in self.inputs.items()},
            "rejected": {s: i.rejected for s, i in self.inputs.items()},
        }
