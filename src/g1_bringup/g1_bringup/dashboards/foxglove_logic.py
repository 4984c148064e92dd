"""Pure logic of the Foxglove bridge (no rclpy, no server): allow-lists, client /cmd_vel parsing,
rate/gap/latency monitors, forwarding-cost statistics and per-joint tracking summaries.

Kept separate so it is testable without a WebSocket server or a ROS graph.
"""

from __future__ import annotations

import json
import math
import re
import struct
import time
from collections import deque
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

import numpy as np

# Topics forwarded by default (topic -> ROS 2 type); more can be discovered through the allow-list.
DEFAULT_TOPICS: dict[str, str] = {
    "/cmd_vel": "geometry_msgs/msg/Twist",
    "/reference_motion": "twist_msgs/msg/ReferenceMotion",
    "/joint_targets": "twist_msgs/msg/JointTargets",
    "/joint_states": "sensor_msgs/msg/JointState",
    "/imu": "sensor_msgs/msg/Imu",
    "/controller_state": "twist_msgs/msg/ControllerState",
    "/odom": "nav_msgs/msg/Odometry",
}
DEFAULT_WHITELIST = [*DEFAULT_TOPICS, "/tf", "/tf_static", "/diagnostics", "/rosout"]
# Nominal rates (Hz) used to count gaps in the health channel; unknown topics use their measured rate.
NOMINAL_RATES: dict[str, float] = {
    "/reference_motion": 50.0,
    "/joint_targets": 50.0,
    "/joint_states": 50.0,
    "/imu": 50.0,
    "/odom": 50.0,
}
MODE_NAMES = {0: "ZERO_TORQUE", 1: "DAMPING", 2: "STAND_UP", 3: "POLICY", 4: "ESTOP"}

TWIST_SCHEMAS = ("geometry_msgs/msg/Twist", "geometry_msgs/Twist")
TWIST_STAMPED_SCHEMAS = ("geometry_msgs/msg/TwistStamped", "geometry_msgs/TwistStamped")


def cdr_header_stamp(data: bytes) -> float | None:
    """header.stamp (s) of a CDR message whose first field is a std_msgs/Header (int32 sec, uint32 nanosec
    right after the 4-byte encapsulation header), without deserializing the rest."""
    if len(data) < 12:
        return None
    sec, nsec = struct.unpack_from("<iI", data, 4) if data[1] == 1 else struct.unpack_from(">iI", data, 4)
    return sec + nsec * 1e-9


def path_key(topic: str) -> str:
    """A topic as a Foxglove message-path identifier: "/g1/health" -> "g1_health"."""
    return re.sub(r"\W", "_", topic.strip("/")) or "_"


class TopicFilter:
    """An allow-list of regular expressions, each matched against the whole topic name
    (like foxglove_bridge's ``topic_whitelist``). An empty list allows nothing."""

    def __init__(self, patterns: Iterable[str]):
        self.patterns = [p for p in patterns if p]
        self._res = [re.compile(p) for p in self.patterns]

    def allows(self, topic: str) -> bool:
        return any(r.fullmatch(topic) for r in self._res)


class ClientMessageError(ValueError):
    """A client message that is rejected (malformed, wrong type, NaN/inf)."""


@dataclass(frozen=True)
class TwistValues:
    linear: tuple[float, float, float]
    angular: tuple[float, float, float]


def _finite_number(v, where: str) -> float:
    if isinstance(v, bool) or not isinstance(v, int | float):
        raise ClientMessageError(f"{where} is not a number: {v!r}")
    f = float(v)
    if not math.isfinite(f):
        raise ClientMessageError(f"{where} is not finite: {v!r}")
    return f


def _vector(d, where: str) -> tuple[float, float, float]:
    if d is None:
        return (0.0, 0.0, 0.0)
    if not isinstance(d, dict):
        raise ClientMessageError(f"{where} is not an object")
    return tuple(_finite_number(d.get(k, 0.0), f"{where}.{k}") for k in ("x", "y", "z"))  # type: ignore[return-value]


def twist_from_dict(d, stamped: bool = False) -> TwistValues:
    """A Twist (or TwistStamped when ``stamped``) given as a JSON object; missing fields are 0."""
    if not isinstance(d, dict):
        raise ClientMessageError("message is not a JSON object")
    if stamped or ("twist" in d and "linear" not in d):
        d = d.get("twist")
        if not isinstance(d, dict):
            raise ClientMessageError("TwistStamped without a 'twist' object")
    if "linear" not in d and "angular" not in d:
        raise ClientMessageError("Twist needs 'linear' and/or 'angular'")
    return TwistValues(_vector(d.get("linear"), "linear"), _vector(d.get("angular"), "angular"))


def parse_client_twist_json(data: bytes, schema_name: str = "geometry_msgs/msg/Twist") -> TwistValues:
    """Decode a client's JSON /cmd_vel message; raises ClientMessageError when it must be dropped."""
    try:
        obj = json.loads(bytes(data).decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ClientMessageError(f"malformed JSON: {exc}") from exc
    return twist_from_dict(obj, stamped=schema_name in TWIST_STAMPED_SCHEMAS)


def check_twist_values(linear: Sequence[float], angular: Sequence[float]) -> TwistValues:
    """Finite-check values decoded from CDR."""
    lin = tuple(_finite_number(float(v), f"linear[{i}]") for i, v in enumerate(linear))
    ang = tuple(_finite_number(float(v), f"angular[{i}]") for i, v in enumerate(angular))
    return TwistValues(lin, ang)  # type: ignore[arg-type]


class StreamStats:
    """Arrival statistics of one topic over a sliding window: rate, largest gap, gap count, age."""

    def __init__(self, window_s: float = 5.0, nominal_hz: float | None = None):
        self.window_s = window_s
        self.nominal_hz = nominal_hz
        self.count = 0
        self.gaps = 0  # inter-arrival gaps > 2.5 nominal periods, over the whole run
        self.max_gap_s = 0.0
        self._t: deque[float] = deque()
        self._ages: deque[float] = deque(maxlen=200)
        self._last: float | None = None

    def observe(self, t_recv: float, stamp_s: float | None = None) -> None:
        self.count += 1
        if self._last is not None:
            gap = t_recv - self._last
            self.max_gap_s = max(self.max_gap_s, gap)
            period = 1.0 / self.nominal_hz if self.nominal_hz else None
            if period and gap > 2.5 * period:
                self.gaps += 1
        self._last = t_recv
        self._t.append(t_recv)
        while self._t and self._t[0] < t_recv - self.window_s:
            self._t.popleft()
        if stamp_s is not None and stamp_s > 0:
            self._ages.append(t_recv - stamp_s)

    def rate_hz(self, now: float) -> float:
        ts = [t for t in self._t if t >= now - self.window_s]
        if len(ts) < 2:
            return 0.0
        span = max(now - ts[0], ts[-1] - ts[0])
        return (len(ts) - 1) / span if span > 0 else 0.0

    def snapshot(self, now: float) -> dict:
        ages = sorted(self._ages)
        return {
            "hz": round(self.rate_hz(now), 2),
            "count": self.count,
            "gaps": self.gaps,
            "max_gap_ms": round(self.max_gap_s * 1e3, 2),
            "since_last_ms": round((now - self._last) * 1e3, 1) if self._last is not None else -1.0,
            "age_ms_p50": round(ages[len(ages) // 2] * 1e3, 3) if ages else -1.0,
        }


class CostMeter:
    """Per-message forwarding cost (seconds) with p50/p99 over the last ``n`` messages."""

    def __init__(self, n: int = 2000):
        self._d: deque[float] = deque(maxlen=n)
        self.total = 0

    def add(self, seconds: float) -> None:
        self._d.append(seconds)
        self.total += 1

    def snapshot(self) -> dict:
        if not self._d:
            return {"n": 0, "p50_us": -1.0, "p99_us": -1.0, "mean_us": -1.0}
        a = np.fromiter(self._d, dtype=float)
        return {
            "n": self.total,
            "p50_us": round(float(np.percentile(a, 50)) * 1e6, 1),
            "p99_us": round(float(np.percentile(a, 99)) * 1e6, 1),
            "mean_us": round(float(a.mean()) * 1e6, 1),
        }


JOINT_GROUPS = {"legs": range(0, 12), "waist": range(12, 15), "arms": range(15, 29)}


def tracking_summary(
    names: Sequence[str],
    reference: Sequence[float] | None,
    actual: Sequence[float] | None,
    target: Sequence[float] | None = None,
    effort: Sequence[float] | None = None,
) -> dict:
    """Per-joint reference vs actual (G1 29-DOF order) for the tuning layout, plus RMS error per group."""
    out: dict = {"names": list(names)}
    ref = np.asarray(reference, dtype=float) if reference is not None else None
    act = np.asarray(actual, dtype=float) if actual is not None else None
    if ref is not None:
        out["reference"] = [round(float(v), 5) for v in ref]
    if act is not None:
        out["actual"] = [round(float(v), 5) for v in act]
    if target is not None:
        out["target"] = [round(float(v), 5) for v in target]
    if effort is not None:
        out["effort"] = [round(float(v), 4) for v in effort]
    if ref is not None and act is not None and ref.shape == act.shape:
        err = ref - act
        out["error"] = [round(float(v), 5) for v in err]
        out["rms_error"] = {
            g: round(float(np.sqrt(np.mean(err[list(idx)] ** 2))), 5)
            for g, idx in JOINT_GROUPS.items()
            if max(idx) < len(err)
        }
        out["rms_error"]["all"] = round(float(np.sqrt(np.mean(err**2))), 5)
    return out


def reorder(names_in: Sequence[str], values: Sequence[float], names_out: Sequence[str]) -> list[float] | None:
    """Values of ``names_out`` taken from a (names_in, values) pair; None if any name is missing."""
    if len(values) != len(names_in):
        return None
    idx = {n: i for i, n in enumerate(names_in)}
    try:
        return [float(values[idx[n]]) for n in names_out]
    except KeyError:
        return None


def yaw_from_quaternion(x: float, y: float, z: float, w: float) -> float:
    return math.atan2(2.0 * (w * z + x * y), 1.0 - 2.0 * (y * y + z * z))


def quaternion_from_rpy(roll: float, pitch: float, yaw: float) -> tuple[float, float, float, float]:
    """(x, y, z, w) of the intrinsic ZYX rotation yaw-pitch-roll."""
    cr, sr = math.cos(roll / 2), math.sin(roll / 2)
    cp, sp = math.cos(pitch / 2), math.sin(pitch / 2)
    cy, sy = math.cos(yaw / 2), math.sin(yaw / 2)
    return (
        sr * cp * cy - cr * sp * sy,
        cr * sp * cy + sr * cp * sy,
        cr * cp * sy - sr * sp * cy,
        cr * cp * cy + sr * sp * sy,
    )


@dataclass
class RecordingState:
    """What the recording service/parameter reports."""

    path: str = ""
    started_at: float = 0.0
    files: list[str] = field(default_factory=list)

    @property
    def active(self) -> bool:
        return bool(self.path)

    def as_dict(self) -> dict:
        return {
            "recording": self.active,
            "path": self.path,
            "seconds": round(time.time() - self.started_at, 1) if self.active else 0.0,
            "files": list(self.files),
        }
