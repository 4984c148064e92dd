"""The G1 locomotion service (``sport``) answered by our stack: what each LocoClient call does. Pure.

``unitree_sdk2py.g1.loco.g1_loco_client.LocoClient`` (and the C++ ``unitree::robot::g1::LocoClient``)
reduce every call to a handful of API ids. Our stack maps them onto its own parts:

* ``SetVelocity`` (``Move``, ``StopMove``): ``{"velocity": [vx, vy, omega], "duration": s}`` becomes
  ``/cmd_vel`` for the CMG + policy, republished while the duration lasts (so cmg_node's 0.5 s
  ``/cmd_vel`` timeout stays armed as a dead man), then one zero. Components are clamped to
  :class:`LocoConfig`'s limits; non-finite or absurd values (beyond ``reject_above``: a units error,
  mm/s or deg/s) are refused and stop the robot.
* ``SetFsmId`` (``ZeroTorque`` 0, ``Damp`` 1, ``StandUp`` 4 / ``Squat2StandUp`` 706, ``Start`` 500 /
  200 / 501) becomes pd_bridge SetMode requests: ZERO_TORQUE, DAMP, [ENABLE +] STAND, POLICY. As on the
  robot, ``Start`` needs a standing robot (its FSM refuses 500 from damping); we answer 7302 instead of
  the robot's silent no-op. ``Start`` during the stand-up is accepted and entered once it finished.
* Getters report the bridge mode in the robot's codes (FSM id 0 / 1 / 4 / 500; FSM mode 1 while a
  non-zero velocity is commanded, else 0).
* What the stack cannot do (arm tasks, ``WaveHand``, ``ShakeHand``, stand and swing height, speed mode,
  continuous gait, squat, sit, lie-to-stand, user/internal control switching) is answered with an error
  code and logged, never a silent success.

Every time is passed in (``now``, seconds on one monotonic clock), so tests drive it without sleeping.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

from g1_bringup.robot_api import rpc
from twist_controller.safety import Mode, Request

SERVICE_NAME = "sport"  # the G1 service name (unitree_sdk2py / unitree_sdk2 g1_loco_api)
API_VERSION = "1.0.0.0"

GET_FSM_ID = 7001
GET_FSM_MODE = 7002
GET_BALANCE_MODE = 7003
GET_SWING_HEIGHT = 7004
GET_STAND_HEIGHT = 7005
GET_PHASE = 7006  # deprecated
SET_FSM_ID = 7101
SET_BALANCE_MODE = 7102
SET_SWING_HEIGHT = 7103
SET_STAND_HEIGHT = 7104
SET_VELOCITY = 7105
SET_ARM_TASK = 7106
SET_SPEED_MODE = 7107
SWITCH_TO_USER_CTRL = 7110
SWITCH_TO_INTERNAL_CTRL = 7111

# the calls we register and refuse (3203), with the client methods that send them, for the log
UNSUPPORTED = {
    GET_SWING_HEIGHT: "GetSwingHeight: the CMG has no swing-height setting",
    GET_STAND_HEIGHT: "GetStandHeight: the CMG has no stand-height setting",
    GET_PHASE: "GetPhase (deprecated): no gait phase is exposed",
    SET_SWING_HEIGHT: "SetSwingHeight: the CMG has no swing-height setting",
    SET_STAND_HEIGHT: "SetStandHeight / HighStand / LowStand: the CMG has no stand-height setting",
    SET_ARM_TASK: "SetTaskId / WaveHand / ShakeHand: arm tasks are not supported (the policy tracks the CMG)",
    SET_SPEED_MODE: "SetSpeedMode: one speed range only (the loco node's clamps)",
    SWITCH_TO_USER_CTRL: "SwitchToUserCtrl: use pd_bridge's modes instead",
    SWITCH_TO_INTERNAL_CTRL: "SwitchToInternalCtrl: use pd_bridge's modes instead",
}
SUPPORTED = (GET_FSM_ID, GET_FSM_MODE, GET_BALANCE_MODE, SET_FSM_ID, SET_BALANCE_MODE, SET_VELOCITY)
API_IDS = (*SUPPORTED, *UNSUPPORTED)

# G1 FSM ids (LocoClient): the ones we map, and the names of the ones we refuse
FSM_ZERO_TORQUE = 0
FSM_DAMP = 1
FSM_LOCK_STAND = 4  # C++ StandUp()
FSM_START = 500  # Start() (the robot's walking controller)
FSM_START_LEGACY = 200  # Start() of older SDKs, e.g. unitree-sdk2py-dimos 1.0.3
FSM_START_WAIST = 501  # walking with the 3-DoF waist
FSM_SQUAT_STAND = 706  # Squat2StandUp() and StandUp2Squat() (the same id toggles)
START_IDS = (FSM_START, FSM_START_LEGACY, FSM_START_WAIST)
REFUSED_FSM = {2: "Squat", 3: "Sit", 702: "Lie2StandUp (our stand-up needs a hanging or crouched robot)"}

CONTINUOUS_MOVE_S = 864000.0  # LocoClient.Move(continous_move=True) sends this duration (10 days)


@dataclass(frozen=True)
class LocoConfig:
    vx_min: float = -0.6  # m/s (backwards)
    vx_max: float = 1.0  # m/s
    vy_max: float = 0.5  # m/s, both sides
    wz_max: float = 1.0  # rad/s, both sides
    reject_above: float = 5.0  # |component| above this (m/s, rad/s) is refused, not clamped
    max_duration: float = CONTINUOUS_MOVE_S  # s; longer durations are cut to this
    state_timeout: float = 1.0  # s: /controller_state older than this = bridge state unknown
    start_timeout: float = 10.0  # s a Start waits for the stand-up to finish
    zero_repeats: int = 3  # zero /cmd_vel messages published when a motion ends

    def __post_init__(self):
        for name in ("vx_max", "vy_max", "wz_max", "reject_above", "max_duration", "state_timeout"):
            v = getattr(self, name)
            if not (math.isfinite(v) and v > 0):
                raise ValueError(f"{name} must be a positive number, got {v}")
        if not (math.isfinite(self.vx_min) and self.vx_min <= 0):
            raise ValueError(f"vx_min must be <= 0, got {self.vx_min}")
        if max(-self.vx_min, self.vx_max, self.vy_max, self.wz_max) > self.reject_above:
            raise ValueError("reject_above must be at least every speed limit")
        if self.start_timeout < 0 or self.zero_repeats < 1:
            raise ValueError("start_timeout must be >= 0 and zero_repeats >= 1")


@dataclass(frozen=True)
class LocoReply(rpc.Reply):
    """A reply plus the pd_bridge SetMode requests to send, in order, before answering."""

    requests: tuple[Request, ...] = ()


@dataclass
class Motion:
    """The velocity command in force."""

    cmd: tuple[float, float, float] = (0.0, 0.0, 0.0)
    until: float = -math.inf  # monotonic time it ends
    zeros_left: int = 0  # zero messages still to publish

    @property
    def moving(self) -> bool:
        return any(c != 0.0 for c in self.cmd)


@dataclass
class LocoCore:
    cfg: LocoConfig = field(default_factory=LocoConfig)

    def __post_init__(self):
        self.mode: Mode | None = None  # last pd_bridge mode heard
        self.mode_time = -math.inf
        self.motion = Motion()
        self.walk_fsm_id = FSM_START  # reported in POLICY (the Start id last used)
        self.start_deadline: float | None = None  # a Start waiting for the stand-up
        self.balance_mode = 0

    # ------------------------------------------------------------------ bridge state
    def set_bridge_mode(self, mode: int, now: float) -> str:
        """Record pd_bridge's mode (from /controller_state or a SetMode answer); returns a log line
        when it cancelled something."""
        try:
            new = Mode(int(mode))
        except ValueError:
            return f"unknown bridge mode {mode}"
        old, self.mode, self.mode_time = self.mode, new, now
        note = ""
        waiting = new == Mode.STAND_UP and self.start_deadline is not None  # a Move may precede POLICY
        if new != Mode.POLICY and not waiting and self.motion.moving:
            self._stop()  # a fault or a mode change ends the walk: it must not resume by itself
            was = old.name if old is not None else "?"
            note = f"bridge left POLICY ({was} -> {new.name}): velocity cancelled"
        if new == Mode.POLICY or new in (Mode.ZERO_TORQUE, Mode.DAMPING, Mode.ESTOP):
            self.start_deadline = None
        return note

    def known_mode(self, now: float) -> Mode | None:
        if self.mode is None or now - self.mode_time > self.cfg.state_timeout:
            return None
        return self.mode

    def fsm_id(self, mode: Mode) -> int:
        return {
            Mode.ZERO_TORQUE: FSM_ZERO_TORQUE,
            Mode.DAMPING: FSM_DAMP,
            Mode.ESTOP: FSM_DAMP,  # latched damping
            Mode.STAND_UP: FSM_LOCK_STAND,
            Mode.POLICY: self.walk_fsm_id,
        }[mode]

    # ------------------------------------------------------------------ requests
    def handle(self, api_id: int, parameter: str, now: float) -> LocoReply:
        try:
            if api_id in UNSUPPORTED:
                return LocoReply(rpc.RPC_ERR_SERVER_API_NOT_IMPL, "", f"not supported: {UNSUPPORTED[api_id]}")
            if api_id not in SUPPORTED:
                return LocoReply(rpc.RPC_ERR_SERVER_API_NOT_IMPL, "", f"unknown sport api {api_id}")
            p = rpc.parse_object(parameter)
            if api_id == SET_VELOCITY:
                return self._set_velocity(p, now)
            if api_id == SET_FSM_ID:
                return self._set_fsm_id(rpc.integer(p, "data"), now)
            if api_id == SET_BALANCE_MODE:
                b = rpc.integer(p, "data")
                if b != 0:
                    raise rpc.BadParameter(f"balance mode {b}: only 0 (balance stand) is supported")
                self.balance_mode = b
                return LocoReply(rpc.RPC_OK)
            if api_id == GET_BALANCE_MODE:
                return LocoReply(rpc.RPC_OK, rpc.data_json(self.balance_mode))
            mode = self.known_mode(now)
            if mode is None:
                return self._no_state()
            if api_id == GET_FSM_ID:
                return LocoReply(rpc.RPC_OK, rpc.data_json(self.fsm_id(mode)))
            # GET_FSM_MODE: 0 static, 1 dynamic (Unitree's docs); dynamic = walking on a command
            walking = mode == Mode.POLICY and self.motion.moving and now < self.motion.until
            return LocoReply(rpc.RPC_OK, rpc.data_json(1 if walking else 0))
        except rpc.BadParameter as e:
            stop = self._stop(always=True) if api_id == SET_VELOCITY else ""
            return LocoReply(rpc.RPC_ERR_SERVER_API_PARAMETER, "", f"refused: {e}{stop}")

    def _no_state(self) -> LocoReply:
        return LocoReply(
            rpc.LOCO_ERR_LOCOSTATE_NOT_AVAILABLE,
            "",
            f"no /controller_state in the last {self.cfg.state_timeout:g} s: is pd_bridge running?",
        )

    def _stop(self, always: bool = False) -> str:
        """End any motion: zeros on /cmd_vel when it was moving (or ``always``: StopMove, a refused
        SetVelocity), nothing otherwise, so a mode change does not override another teleop source.
        Returns a note for the log."""
        was = self.motion.moving
        zeros = self.cfg.zero_repeats if (was or always) else self.motion.zeros_left
        self.motion = Motion(zeros_left=zeros)
        return "; robot stopped" if was else ""

    def _set_velocity(self, p: dict, now: float) -> LocoReply:
        vel = p.get("velocity")
        if not isinstance(vel, list) or len(vel) != 3:
            raise rpc.BadParameter(f"velocity is {vel!r}, not [vx, vy, omega]")
        v = [rpc.finite(x, f"velocity[{i}]") for i, x in enumerate(vel)]
        duration = rpc.number(p, "duration", 1.0)  # LocoClient.SetVelocity's default
        big = [x for x in v if abs(x) > self.cfg.reject_above]
        if big:
            raise rpc.BadParameter(
                f"velocity {v} beyond {self.cfg.reject_above:g} m/s or rad/s (units error?)"
            )
        if duration <= 0:
            raise rpc.BadParameter(f"duration {duration:g} s is not positive")
        c = self.cfg
        cmd = (
            min(max(v[0], c.vx_min), c.vx_max),
            min(max(v[1], -c.vy_max), c.vy_max),
            min(max(v[2], -c.wz_max), c.wz_max),
        )
        note = f" (clamped from {v})" if list(cmd) != v else ""
        if not any(cmd):  # StopMove: always accepted, whatever the state
            return LocoReply(rpc.RPC_OK, "", "StopMove" + self._stop(always=True))
        mode = self.known_mode(now)
        if mode is None:
            return self._no_state()
        if mode != Mode.POLICY and not (mode == Mode.STAND_UP and self.start_deadline is not None):
            return LocoReply(
                rpc.LOCO_ERR_LOCOSTATE_NOT_AVAILABLE,
                "",
                f"Move refused: the walking controller is not active (bridge {mode.name}); "
                "stand up (SetFsmId 4) and Start (SetFsmId 500) first",
            )
        self.motion = Motion(cmd=cmd, until=now + min(duration, c.max_duration))
        return LocoReply(rpc.RPC_OK, "", f"Move {cmd} for {min(duration, c.max_duration):g} s{note}")

    def _set_fsm_id(self, fsm: int, now: float) -> LocoReply:
        mode = self.known_mode(now)
        if fsm in REFUSED_FSM or fsm not in (
            FSM_ZERO_TORQUE,
            FSM_DAMP,
            FSM_LOCK_STAND,
            FSM_SQUAT_STAND,
            *START_IDS,
        ):
            what = REFUSED_FSM.get(fsm, "unknown to this stack")
            return LocoReply(rpc.LOCO_ERR_INVALID_FSM_ID, "", f"SetFsmId {fsm} refused: {what}")
        if mode is None:
            return self._no_state()
        if mode == Mode.ESTOP:
            if fsm == FSM_DAMP:
                return LocoReply(rpc.RPC_OK, "", "Damp: ESTOP already damps")
            return LocoReply(
                rpc.LOCO_ERR_INVALID_FSM_ID,
                "",
                f"SetFsmId {fsm} refused: ESTOP is latched (clear it: pd_bridge --set-mode reset)",
            )
        if fsm == FSM_ZERO_TORQUE:
            return LocoReply(rpc.RPC_OK, "", "ZeroTorque" + self._stop(), (Request.ZERO_TORQUE,))
        if fsm == FSM_DAMP:
            return LocoReply(rpc.RPC_OK, "", "Damp" + self._stop(), (Request.DAMP,))
        if fsm in (FSM_LOCK_STAND, FSM_SQUAT_STAND):
            if fsm == FSM_SQUAT_STAND and mode in (Mode.STAND_UP, Mode.POLICY):
                return LocoReply(
                    rpc.LOCO_ERR_INVALID_FSM_ID, "", "SetFsmId 706 refused: squatting down is not supported"
                )
            self.start_deadline = None
            stop = self._stop()
            if mode == Mode.STAND_UP:
                return LocoReply(rpc.RPC_OK, "", "StandUp: already standing" + stop)
            reqs = (Request.ENABLE, Request.STAND) if mode == Mode.ZERO_TORQUE else (Request.STAND,)
            return LocoReply(rpc.RPC_OK, "", f"StandUp (FSM {fsm})" + stop, reqs)
        # Start: the walking controller = pd_bridge POLICY (CMG + policy)
        if mode == Mode.POLICY:
            self.walk_fsm_id = fsm
            return LocoReply(rpc.RPC_OK, "", "")
        if mode == Mode.STAND_UP:
            self.walk_fsm_id = fsm
            self.start_deadline = now + self.cfg.start_timeout
            return LocoReply(rpc.RPC_OK, "", f"Start (FSM {fsm}): POLICY once the stand-up has finished")
        return LocoReply(
            rpc.LOCO_ERR_INVALID_FSM_ID,
            "",
            f"Start refused: the robot is not standing (bridge {mode.name}); stand up first (SetFsmId 4)",
        )

    # ------------------------------------------------------------------ periodic
    def velocity_output(self, now: float) -> tuple[float, float, float] | None:
        """What to publish on /cmd_vel at this tick: the command while it lasts, then a few zeros,
        then nothing (so other /cmd_vel sources are not overridden)."""
        m = self.motion
        if m.moving:
            mode = self.known_mode(now)
            if now < m.until and mode == Mode.POLICY:
                return m.cmd
            if now < m.until and mode == Mode.STAND_UP and self.start_deadline is not None:
                return None  # a Move before the pending Start: walk once POLICY is on, not before
            self._stop()  # expired, or the bridge state went stale: stop
        if self.motion.zeros_left > 0:
            self.motion.zeros_left -= 1
            return (0.0, 0.0, 0.0)
        return None

    def start_pending(self, now: float) -> tuple[bool, str]:
        """(send a POLICY request now?, log line). A Start waits for the stand-up to finish."""
        if self.start_deadline is None:
            return False, ""
        if now > self.start_deadline:
            self.start_deadline = None
            self._stop()
            return (
                False,
                f"Start gave up: the bridge did not enter POLICY within {self.cfg.start_timeout:g} s",
            )
        return self.known_mode(now) == Mode.STAND_UP, ""
