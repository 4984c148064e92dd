"""The pd_bridge safety state machine. Pure Python + numpy (no rclpy), every time is passed in.

Modes (values = twist_msgs/ControllerState MODE_*)::

    ZERO_TORQUE --ENABLE--> DAMPING --STAND--> STAND_UP --POLICY--> POLICY
         ^                    ^  ^               |  (holding)          |
         |                    |  +----faults-----+---------------------+
         +---ZERO_TORQUE------+  (stale targets/state, NaN/inf, tilt, joint limits, DAMP)
    any --ESTOP--> ESTOP (latched damping) --RESET--> DAMPING

* ZERO_TORQUE: kp = kd = 0 (start-up state).
* DAMPING / ESTOP: kp = 0, kd = ``damping_kd_scale`` x spec kd.
* STAND_UP: smooth (smoothstep) interpolation from the measured pose to the default pose over
  ``stand_duration`` s, then hold; gains = spec gains x ``stand_kp_scale`` / ``stand_kd_scale``.
* POLICY: the latest /joint_targets (clipped to joint limits, torque limits and gain caps); joints
  not listed hold the default pose with the spec gains.

Faults checked in STAND_UP and POLICY (-> DAMPING, reason recorded): LowState older than
``state_timeout``, non-finite LowState, tilt beyond ``max_tilt``, a joint beyond its limit by more
than ``joint_limit_margin``; in POLICY also targets older than ``target_timeout`` and non-finite
targets (immediately, on arrival). On a real robot (``robot="real"``) nothing happens without an
explicit request: ``auto_stand``/``auto_policy`` are ignored.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from enum import IntEnum

import numpy as np

from twist_controller import robot

N = robot.NUM_JOINTS


class Mode(IntEnum):
    ZERO_TORQUE = 0
    DAMPING = 1
    STAND_UP = 2
    POLICY = 3
    ESTOP = 4


class Request(IntEnum):
    ENABLE = 0
    STAND = 1
    POLICY = 2
    DAMP = 3
    ESTOP = 4
    RESET = 5
    ZERO_TORQUE = 6


@dataclass
class SafetyConfig:
    robot: str = "sim"  # "sim" or "real"
    # s; 85 ms so that timeout + one 5 ms bridge tick + scheduling stays within the 100 ms
    # time-to-DAMPING target (issue #11; docs/reliability.md)
    target_timeout: float = 0.085
    state_timeout: float = 0.085  # s
    max_tilt: float = 0.8  # rad, angle between the pelvis z axis and the vertical
    joint_limit_margin: float = 0.1  # rad allowed beyond the position limits before a fault
    stand_duration: float = 2.0  # s
    stand_kp_scale: float = 1.5  # x spec kp while standing (1.0 sags the arms 0.055 rad under gravity)
    stand_kd_scale: float = 1.0
    damping_kd_scale: float = 2.0  # x spec kd in DAMPING / ESTOP
    max_gain_scale: float = 3.0  # policy kp/kd are clipped to this x robot.GAIN_CEILING_KP/KD
    auto_stand: bool = False  # sim only: ZERO_TORQUE -> DAMPING -> STAND_UP once, at start-up
    # s of continuously fresh input before each automatic step (LowState for auto_stand, targets for
    # auto_policy): a simulator's first ticks stall (model compile, DDS discovery), so do a policy's
    # first steps, and an automatic step into such a stall trips to DAMPING for good
    auto_settle: float = 1.0
    auto_policy: bool = False  # sim only: STAND_UP (holding) -> POLICY once, when fresh targets arrive
    # consecutive steps a *stale* input must be seen before it trips (other faults trip at once).
    # 1 on the robot. In simulated time the bridge uses more: after the bridge process was
    # descheduled its loop can run before its DDS listener and ROS executor have delivered the
    # queued LowStates / targets, so one look calls a queued stream stale (docs/sim_time.md)
    stale_confirm_steps: int = 1

    def __post_init__(self):
        if self.robot not in ("sim", "real"):
            raise ValueError(f"robot must be 'sim' or 'real', not {self.robot!r}")
        for name in ("target_timeout", "state_timeout", "max_tilt", "stand_duration"):
            if not (getattr(self, name) > 0 and math.isfinite(getattr(self, name))):
                raise ValueError(f"{name} must be a positive number, got {getattr(self, name)!r}")
        if int(self.stale_confirm_steps) < 1:
            raise ValueError(f"stale_confirm_steps must be >= 1, got {self.stale_confirm_steps!r}")
        if not (self.auto_settle >= 0 and math.isfinite(self.auto_settle)):
            raise ValueError(f"auto_settle must be >= 0 s, got {self.auto_settle!r}")

    @property
    def is_real(self) -> bool:
        return self.robot == "real"


def _fresh_since(since: float | None, fault: str, now: float) -> float | None:
    """Start of the current run of fault-free steps (None while faulted)."""
    if fault:
        return None
    return now if since is None else since


def sim_now(clock: float, newest_tick: float, wall_since_tick: float) -> float:
    """Simulated "now" for the bridge (use_sim_time): ``/clock``, held to at most the wall time
    elapsed since the newest LowState arrived ahead of that LowState's tick (and never behind it).

    /clock and LowState leave the simulator's loop together but travel different transports. When
    the bridge process is descheduled, rclpy can hand over the newest /clock while the DDS listener
    is still working through its LowState backlog: the clock alone would then call a stream stale
    that is only queued (measured: 96-168 ms "stale" trips during stand-up on a saturated 2-core
    machine). A LowState stream that has really stopped while the clock runs on still ages at wall
    pace, so ``state_timeout`` still trips (after the larger of the two ages).
    """
    return max(newest_tick, min(clock, newest_tick + max(0.0, wall_since_tick)))


def damping_kd(cfg: SafetyConfig | None = None) -> np.ndarray:
    """Per-joint kd the bridge sends in DAMPING / ESTOP (kp = 0): ``damping_kd_scale`` x spec kd.

    The one definition of the damping gains; the simulator's LowCmd watchdog uses it too.
    """
    return robot.KD * (cfg or SafetyConfig()).damping_kd_scale


@dataclass
class Command:
    """Per-joint (29, motor order) PD command for the motors, plus the mode that produced it."""

    q: np.ndarray
    dq: np.ndarray
    tau: np.ndarray
    kp: np.ndarray
    kd: np.ndarray
    mode: Mode


@dataclass
class Targets:
    q: np.ndarray
    dq: np.ndarray
    tau: np.ndarray
    kp: np.ndarray
    kd: np.ndarray
    stamp: float


@dataclass
class _State:
    q: np.ndarray
    dq: np.ndarray
    quat: np.ndarray
    stamp: float


class TargetError(ValueError):
    """A /joint_targets message that cannot be used. ``non_finite`` True for NaN/inf values."""

    def __init__(self, msg: str, non_finite: bool = False):
        super().__init__(msg)
        self.non_finite = non_finite


_NAME_INDEX = {n: i for i, n in enumerate(robot.G1_JOINT_NAMES)}


def parse_targets(names, position, velocity=(), effort=(), kp=(), kd=(), stamp: float = 0.0) -> Targets:
    """Validate a JointTargets message into full 29-joint arrays; raises :class:`TargetError`.

    ``position`` is required for every listed joint; ``velocity``/``effort`` default to 0 and
    ``kp``/``kd`` to the spec gains when empty. Unlisted joints hold the default pose (spec gains).
    """
    names = list(names)
    if not names:
        raise TargetError("joint_names is empty")
    idx = []
    for n in names:
        if n not in _NAME_INDEX:
            raise TargetError(f"unknown joint name {n!r}")
        idx.append(_NAME_INDEX[n])
    if len(set(idx)) != len(idx):
        raise TargetError("duplicate joint names")
    idx = np.asarray(idx)
    out = {}
    base = {
        "position": robot.DEFAULT_POSITION,
        "velocity": np.zeros(N),
        "effort": np.zeros(N),
        "kp": robot.KP,
        "kd": robot.KD,
    }
    given = {"position": position, "velocity": velocity, "effort": effort, "kp": kp, "kd": kd}
    for key, arr in given.items():
        a = np.asarray(arr, dtype=np.float64).ravel()
        full = base[key].astype(np.float64).copy()
        if a.size == 0 and key != "position":
            out[key] = full
            continue
        if a.size != len(names):
            raise TargetError(f"{key} has {a.size} values for {len(names)} joint names")
        if not np.all(np.isfinite(a)):
            bad = [names[i] for i in np.flatnonzero(~np.isfinite(a))[:3]]
            raise TargetError(f"non-finite {key} for {', '.join(bad)}", non_finite=True)
        full[idx] = a
        out[key] = full
    return Targets(out["position"], out["velocity"], out["effort"], out["kp"], out["kd"], stamp)


def tilt_of(quat) -> float:
    """Angle (rad) between the body z axis and the world z axis for a w,x,y,z quaternion."""
    w, x, y, z = (float(v) for v in quat)
    n = w * w + x * x + y * y + z * z
    if not n > 0:
        return math.inf
    c = 1.0 - 2.0 * (x * x + y * y) / n
    return math.acos(max(-1.0, min(1.0, c)))


def _smoothstep(a: float) -> float:
    a = min(max(a, 0.0), 1.0)
    return a * a * (3.0 - 2.0 * a)


@dataclass
class Transition:
    time: float
    old: Mode
    new: Mode
    reason: str


@dataclass
class SafetyStateMachine:
    cfg: SafetyConfig = field(default_factory=SafetyConfig)
    mode: Mode = Mode.ZERO_TORQUE
    last_transition: str = "start-up"
    history: list = field(default_factory=list)  # Transition records (last 100)

    def __post_init__(self):
        self.state: _State | None = None
        self.targets: Targets | None = None
        self.faults: list[str] = []
        self._stand_from: np.ndarray | None = None
        self._stand_t0 = 0.0
        self._auto_stand_done = False
        self._state_fresh_since: float | None = None  # start of the current run of fresh LowStates
        self._targets_fresh_since: float | None = None
        self._stale_steps = 0  # consecutive steps with a stale input (stale_confirm_steps)
        self._auto_policy_done = False
        self.rejected_targets = 0
        self._last_now = 0.0
        self._damp_kd = damping_kd(self.cfg)
        self._stand_kp = robot.KP * self.cfg.stand_kp_scale
        self._stand_kd = robot.KD * self.cfg.stand_kd_scale

    # ---------------------------------------------------------------- transitions
    def _go(self, new: Mode, reason: str, now: float) -> None:
        if new == self.mode:
            return
        if new == Mode.STAND_UP:
            self._stand_from = self.state.q.copy()
            self._stand_t0 = now
        self.history.append(Transition(now, self.mode, new, reason))
        del self.history[:-100]
        self.mode = new
        self.last_transition = f"{Mode(self.history[-1].old).name} -> {new.name}: {reason}"

    @property
    def holding(self) -> bool:
        """True once STAND_UP has reached the default pose (or in POLICY)."""
        if self.mode == Mode.POLICY:
            return True
        return self.mode == Mode.STAND_UP and self._stand_alpha(self._last_now) >= 1.0

    def _stand_alpha(self, now: float) -> float:
        return (now - self._stand_t0) / self.cfg.stand_duration

    # ---------------------------------------------------------------- inputs
    def update_state(self, q, dq, quat, now: float) -> None:
        self.state = _State(
            np.asarray(q, dtype=np.float64)[:N].copy(),
            np.asarray(dq, dtype=np.float64)[:N].copy(),
            np.asarray(quat, dtype=np.float64).copy(),
            now,
        )

    def update_targets(self, names, position, velocity=(), effort=(), kp=(), kd=(), now: float = 0.0) -> str:
        """Take a /joint_targets message. Returns "" when accepted, else the reason it was rejected.

        Non-finite values drop POLICY to DAMPING at once; other malformed messages are ignored
        (the target stream then goes stale, which also ends POLICY within ``target_timeout``).
        """
        try:
            self.targets = parse_targets(names, position, velocity, effort, kp, kd, stamp=now)
            return ""
        except TargetError as e:
            self.rejected_targets += 1
            if e.non_finite and self.mode == Mode.POLICY:
                self._go(Mode.DAMPING, f"invalid joint targets: {e}", now)
            return str(e)

    def request(self, req: int, now: float) -> tuple[bool, str]:
        """A SetMode request. Returns (success, message); the mode after it is ``self.mode``."""
        try:
            req = Request(req)
        except ValueError:
            return False, f"unknown request {req}"
        m = self.mode
        if req == Request.ESTOP:
            self._go(Mode.ESTOP, "e-stop requested", now)
            return True, "ESTOP latched"
        if m == Mode.ESTOP and req != Request.RESET:
            return False, "ESTOP is latched: send RESET first"
        if req == Request.RESET:
            if m != Mode.ESTOP:
                return False, f"RESET only leaves ESTOP (mode is {m.name})"
            self._go(Mode.DAMPING, "reset from ESTOP", now)
            return True, "ESTOP cleared, now DAMPING"
        if req == Request.ZERO_TORQUE:
            self._go(Mode.ZERO_TORQUE, "zero torque requested", now)
            return True, "ZERO_TORQUE"
        if req == Request.DAMP:
            self._go(Mode.DAMPING, "damping requested", now)
            return True, "DAMPING"
        if req == Request.ENABLE:
            if m == Mode.ZERO_TORQUE:
                self._go(Mode.DAMPING, "enabled", now)
                return True, "enabled: DAMPING"
            return True, f"already enabled ({m.name})"
        if req == Request.STAND:
            if m == Mode.ZERO_TORQUE:
                return False, "send ENABLE first (ZERO_TORQUE -> DAMPING)"
            fault = self._state_fault(now)
            if fault:
                return False, f"cannot stand: {fault}"
            if m == Mode.STAND_UP:
                return True, "already standing up"
            self._go(Mode.STAND_UP, "stand requested", now)
            return True, "STAND_UP"
        if req == Request.POLICY:
            if m == Mode.POLICY:
                return True, "already in POLICY"
            self._last_now = now
            if not (m == Mode.STAND_UP and self.holding):
                return False, f"POLICY needs STAND_UP finished first (mode {m.name})"
            fault = self._state_fault(now) or self._target_fault(now)
            if fault:
                return False, f"cannot enter POLICY: {fault}"
            self._go(Mode.POLICY, "policy requested", now)
            return True, "POLICY"
        return False, f"unhandled request {req.name}"

    # ---------------------------------------------------------------- checks
    def _state_fault(self, now: float) -> str:
        st = self.state
        if st is None:
            return "no LowState received"
        age = now - st.stamp
        if age > self.cfg.state_timeout:
            return f"LowState stale ({age * 1e3:.0f} ms > {self.cfg.state_timeout * 1e3:.0f} ms)"
        if not (np.all(np.isfinite(st.q)) and np.all(np.isfinite(st.dq)) and np.all(np.isfinite(st.quat))):
            return "non-finite LowState"
        tilt = tilt_of(st.quat)
        if tilt > self.cfg.max_tilt:
            return f"tilt {tilt:.2f} rad > {self.cfg.max_tilt:.2f} rad"
        m = self.cfg.joint_limit_margin
        over = (st.q < robot.POSITION_LOWER - m) | (st.q > robot.POSITION_UPPER + m)
        if np.any(over):
            i = int(np.flatnonzero(over)[0])
            return f"joint limit: {robot.G1_JOINT_NAMES[i]} at {st.q[i]:.3f} rad"
        return ""

    def _target_fault(self, now: float) -> str:
        t = self.targets
        if t is None:
            return "no joint targets received"
        age = now - t.stamp
        if age > self.cfg.target_timeout:
            return f"targets stale ({age * 1e3:.0f} ms > {self.cfg.target_timeout * 1e3:.0f} ms)"
        return ""

    def ages(self, now: float) -> tuple[float, float]:
        """(target age, state age) in s; -1 where nothing arrived yet."""
        ta = now - self.targets.stamp if self.targets else -1.0
        sa = now - self.state.stamp if self.state else -1.0
        return ta, sa

    # ---------------------------------------------------------------- the tick
    def step(self, now: float) -> Command:
        """Run the checks and automatic transitions, then return the motor command for ``now``."""
        self._last_now = now
        cfg = self.cfg
        state_fault = self._state_fault(now)
        target_fault = self._target_fault(now)
        self._state_fresh_since = _fresh_since(self._state_fresh_since, state_fault, now)
        self._targets_fresh_since = _fresh_since(self._targets_fresh_since, target_fault, now)
        if not cfg.is_real:
            settled = not state_fault and now - self._state_fresh_since >= cfg.auto_settle
            start = self.mode == Mode.ZERO_TORQUE and settled
            if cfg.auto_stand and not self._auto_stand_done and start:
                self._auto_stand_done = True
                self._go(Mode.DAMPING, "auto_stand", now)
                self._go(Mode.STAND_UP, "auto_stand", now)
            if (
                cfg.auto_policy
                and not self._auto_policy_done
                and self.holding
                and self.mode == Mode.STAND_UP
                and not target_fault
                and not state_fault
                and now - self._targets_fresh_since >= cfg.auto_settle
            ):
                self._auto_policy_done = True
                self._go(Mode.POLICY, "auto_policy", now)
        if self.mode in (Mode.STAND_UP, Mode.POLICY):
            fault = state_fault or (target_fault if self.mode == Mode.POLICY else "")
            stale = " stale (" in fault
            self._stale_steps = self._stale_steps + 1 if stale else 0
            if fault and (not stale or self._stale_steps >= cfg.stale_confirm_steps):
                self._stale_steps = 0
                self._go(Mode.DAMPING, fault, now)
        self.faults = [f for f in (state_fault, target_fault) if f]
        return self.command(now)

    def command(self, now: float) -> Command:
        z = np.zeros(N)
        q_now = self.state.q if self.state is not None and np.all(np.isfinite(self.state.q)) else z
        m = self.mode
        if m == Mode.ZERO_TORQUE:
            return Command(q_now.copy(), z, z, z, z, m)
        if m in (Mode.DAMPING, Mode.ESTOP):
            return Command(q_now.copy(), z, z, z, self._damp_kd.copy(), m)
        if m == Mode.STAND_UP:
            a = _smoothstep(self._stand_alpha(now))
            q = self._stand_from + (robot.DEFAULT_POSITION - self._stand_from) * a
            return Command(q, z, z, self._stand_kp.copy(), self._stand_kd.copy(), m)
        # POLICY
        t = self.targets
        s = self.cfg.max_gain_scale
        return Command(
            q=np.clip(t.q, robot.POSITION_LOWER, robot.POSITION_UPPER),
            dq=t.dq.copy(),
            tau=np.clip(t.tau, -robot.TORQUE_LIMIT, robot.TORQUE_LIMIT),
            kp=np.clip(t.kp, 0.0, s * robot.GAIN_CEILING_KP),
            kd=np.clip(t.kd, 0.0, s * robot.GAIN_CEILING_KD),
            mode=m,
        )
