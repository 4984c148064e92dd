"""Unitree G1 low-level protocol (``unitree_hg`` LowCmd_/LowState_): fast encoding, CRC and transports.

Why not the SDK's own objects on the hot path: ``LowState_.serialize()`` (pure-Python CDR) costs
~440 µs and ``CRC().Crc()`` ~145 µs per message on the 2-core box (see docs/sim_and_bridge.md). Here a
message is a ``bytearray`` holding the exact CDR bytes on the wire, and every field is a numpy index
into it, so filling a message is a handful of vectorised assignments; the CRC runs in C through
``zlib``. Layouts are computed from the IDL field lists below (no hand-typed offsets) and tests check
the bytes against ``cyclonedds``' own serializer and the CRC against ``unitree_sdk2py.utils.crc``.

CRC facts: Unitree's CRC is CRC-32 (poly 0x04C11DB7, init 0xFFFFFFFF, MSB first, no reflection, no
final XOR) over the *packed C struct* (not the CDR bytes) as little-endian uint32 words, excluding the
final ``crc`` word. MSB-first over 32-bit words = CRC-32/MPEG-2 over each word's big-endian bytes,
which equals zlib's reflected CRC-32 of the bit-reversed bytes, bit-reversed, without its final XOR.

Transports (same small interface: ``write_cmd`` / ``write_state`` / callbacks with parsed messages):

* :class:`DdsEndpoint`: unitree_sdk2py's domain set-up (``ChannelFactoryInitialize``: domain +
  network interface) and the SDK's IDL types for the topics ``rt/lowcmd`` / ``rt/lowstate``; the
  encoded bytes are written and taken raw through cyclonedds (``ddspy_write`` / ``ddspy_take``).
* :class:`RosLowLevelTransport`: unitree_ros2 users' ``/lowcmd`` / ``/lowstate`` ROS topics with the
  ``unitree_hg`` message package (only when that package is importable).
"""

from __future__ import annotations

import threading
import weakref
import zlib
from collections.abc import Callable

import numpy as np

from twist_controller import robot

CDR_HEADER = b"\x00\x01\x00\x00"  # XCDR1, little endian
NUM_SLOTS = robot.NUM_MOTOR_SLOTS

# ---------------------------------------------------------------------------------------------
# Layout engine: IDL field lists -> byte offsets in CDR (XCDR1) and in the packed C struct
# ---------------------------------------------------------------------------------------------
# A field is (name, type, count) with type a numpy dtype string or a nested field list.
_MOTOR_CMD = [("mode", "u1", 1), ("q", "<f4", 1), ("dq", "<f4", 1), ("tau", "<f4", 1),
              ("kp", "<f4", 1), ("kd", "<f4", 1), ("reserve", "<u4", 1)]  # fmt: skip
_LOWCMD = [("mode_pr", "u1", 1), ("mode_machine", "u1", 1), ("motor_cmd", _MOTOR_CMD, NUM_SLOTS),
           ("reserve", "<u4", 4), ("crc", "<u4", 1)]  # fmt: skip
_IMU = [("quaternion", "<f4", 4), ("gyroscope", "<f4", 3), ("accelerometer", "<f4", 3), ("rpy", "<f4", 3),
        ("temperature", "<i2", 1)]  # fmt: skip
_MOTOR_STATE = [("mode", "u1", 1), ("q", "<f4", 1), ("dq", "<f4", 1), ("ddq", "<f4", 1),
                ("tau_est", "<f4", 1), ("temperature", "<i2", 2), ("vol", "<f4", 1), ("sensor", "<u4", 2),
                ("motorstate", "<u4", 1), ("reserve", "<u4", 4)]  # fmt: skip
_LOWSTATE = [("version", "<u4", 2), ("mode_pr", "u1", 1), ("mode_machine", "u1", 1), ("tick", "<u4", 1),
             ("imu_state", _IMU, 1), ("motor_state", _MOTOR_STATE, NUM_SLOTS),
             ("wireless_remote", "u1", 40), ("reserve", "<u4", 4), ("crc", "<u4", 1)]  # fmt: skip


def _c_align(fields) -> int:
    return max(np.dtype(t).itemsize if isinstance(t, str) else _c_align(t) for _, t, _ in fields)


def _layout(fields, prefix, cdr_off, c_off, out):
    """Append (path, dtype, cdr_offset, c_offset) per primitive element; returns the new offsets."""
    for name, typ, count in fields:
        path = f"{prefix}{name}"
        if isinstance(typ, str):
            size = np.dtype(typ).itemsize
            c_off = -(-c_off // size) * size
            for _ in range(count):
                cdr_off = -(-cdr_off // size) * size  # CDR aligns each primitive to its size
                out.append((path, typ, cdr_off, c_off))
                cdr_off += size
                c_off += size
        else:
            al = _c_align(typ)
            for _ in range(count):
                c_off = -(-c_off // al) * al
                cdr_off, c_off = _layout(typ, f"{path}.", cdr_off, c_off, out)
                c_off = -(-c_off // al) * al  # C struct size is a multiple of its alignment
    return cdr_off, c_off


class _Layout:
    """Index arrays of one message type (offsets relative to the CDR payload, after the header)."""

    def __init__(self, fields):
        prims: list = []
        cdr_size, c_size = _layout(fields, "", 0, 0, prims)
        self.cdr_size = cdr_size
        self.c_size = -(-c_size // 4) * 4
        self.fields: dict[str, tuple[np.dtype, np.ndarray]] = {}
        groups: dict[str, list] = {}
        for path, typ, cdr_off, _ in prims:
            groups.setdefault(path, [typ, []])[1].append(cdr_off)
        for path, (typ, offs) in groups.items():
            dt = np.dtype(typ)
            offs = np.asarray(offs)
            assert np.all(offs % dt.itemsize == 0)
            self.fields[path] = (dt, offs // dt.itemsize)
        # byte maps CDR -> C for the CRC (every byte of every primitive except the crc word)
        cdr_b, c_b = [], []
        for path, typ, cdr_off, c_off in prims:
            if path == "crc":
                continue
            n = np.dtype(typ).itemsize
            cdr_b.extend(range(cdr_off, cdr_off + n))
            c_b.extend(range(c_off, c_off + n))
        self.crc_cdr_bytes = np.asarray(cdr_b, dtype=np.intp)
        self.crc_c_bytes = np.asarray(c_b, dtype=np.intp)


LOWCMD_LAYOUT = _Layout(_LOWCMD)
LOWSTATE_LAYOUT = _Layout(_LOWSTATE)
LOWCMD_BYTES = len(CDR_HEADER) + LOWCMD_LAYOUT.cdr_size  # 1004
LOWSTATE_BYTES = len(CDR_HEADER) + LOWSTATE_LAYOUT.cdr_size  # 2092

# ---------------------------------------------------------------------------------------------
# CRC
# ---------------------------------------------------------------------------------------------
_REV8 = bytes(int(f"{i:08b}"[::-1], 2) for i in range(256))


def crc32_words(words: np.ndarray) -> int:
    """Unitree's CRC-32 over little-endian uint32 words (MSB first, init 0xFFFFFFFF, no final XOR)."""
    be = np.asarray(words, dtype="<u4").astype(">u4").tobytes()
    r = zlib.crc32(be.translate(_REV8)) ^ 0xFFFFFFFF
    return int(f"{r:032b}"[::-1], 2)


def _crc_of(payload_u8: np.ndarray, layout: _Layout) -> int:
    c = np.zeros(layout.c_size, dtype=np.uint8)
    c[layout.crc_c_bytes] = payload_u8[layout.crc_cdr_bytes]
    return crc32_words(c[:-4].view("<u4"))


# ---------------------------------------------------------------------------------------------
# Messages as CDR byte buffers with numpy field access
# ---------------------------------------------------------------------------------------------
class _WireMessage:
    LAYOUT: _Layout
    NBYTES: int

    def __init__(self, data: bytes | bytearray | None = None):
        if data is None:
            data = bytearray(self.NBYTES)
            data[:4] = CDR_HEADER
        elif len(data) < self.NBYTES:
            raise ValueError(f"{type(self).__name__}: {len(data)} bytes, expected {self.NBYTES}")
        self.buf = data
        payload = memoryview(data)[4 : 4 + self.LAYOUT.cdr_size]
        self._views = {
            dt.str: np.frombuffer(payload, dtype=dt) for dt in map(np.dtype, ("u1", "<u4", "<f4", "<i2"))
        }

    def get(self, path: str) -> np.ndarray:
        dt, idx = self.LAYOUT.fields[path]
        return self._views[dt.str][idx]

    def set(self, path: str, values) -> None:
        dt, idx = self.LAYOUT.fields[path]
        self._views[dt.str][idx] = values

    def compute_crc(self) -> int:
        return _crc_of(self._views["|u1"], self.LAYOUT)

    @property
    def crc(self) -> int:
        return int(self.get("crc")[0])

    def crc_ok(self) -> bool:
        return self.compute_crc() == self.crc

    def finalize(self) -> bytes:
        """Set the CRC field and return the wire bytes (CDR with header)."""
        self.set("crc", self.compute_crc())
        return bytes(self.buf)


class LowCmd(_WireMessage):
    """unitree_hg ``LowCmd_``. Motor arrays have 35 slots; the G1 uses 0..28."""

    LAYOUT = LOWCMD_LAYOUT
    NBYTES = LOWCMD_BYTES

    def fill(self, q, dq, tau, kp, kd, mode=1, mode_pr=0, mode_machine=0) -> None:
        """Fill motors 0..len(q)-1 (the others get mode 0 and zeros)."""
        n = len(q)
        for name, v in (("q", q), ("dq", dq), ("tau", tau), ("kp", kp), ("kd", kd)):
            arr = np.zeros(NUM_SLOTS, dtype=np.float32)
            arr[:n] = v
            self.set(f"motor_cmd.{name}", arr)
        modes = np.zeros(NUM_SLOTS, dtype=np.uint8)
        modes[:n] = mode
        self.set("motor_cmd.mode", modes)
        self.set("mode_pr", mode_pr)
        self.set("mode_machine", mode_machine)

    def motor(self, name: str, n: int = robot.NUM_JOINTS) -> np.ndarray:
        return self.get(f"motor_cmd.{name}")[:n]


class LowState(_WireMessage):
    """unitree_hg ``LowState_``."""

    LAYOUT = LOWSTATE_LAYOUT
    NBYTES = LOWSTATE_BYTES

    def motor(self, name: str, n: int = robot.NUM_JOINTS) -> np.ndarray:
        return self.get(f"motor_state.{name}")[:n]

    def imu(self, name: str) -> np.ndarray:
        return self.get(f"imu_state.{name}")


# ---------------------------------------------------------------------------------------------
# Conversions to/from the SDK's IDL objects (tests, interop, the ROS transport)
# ---------------------------------------------------------------------------------------------
def to_sdk(msg: _WireMessage):
    """The unitree_sdk2py IDL object with the same content (uses cyclonedds' deserializer)."""
    from unitree_sdk2py.idl.unitree_hg.msg.dds_ import LowCmd_, LowState_

    cls = LowCmd_ if isinstance(msg, LowCmd) else LowState_
    return cls.deserialize(bytes(msg.buf))


def from_sdk(obj) -> _WireMessage:
    data = obj.serialize()
    return (LowCmd if type(obj).__name__ == "LowCmd_" else LowState)(bytearray(data))


# ---------------------------------------------------------------------------------------------
# Transport 1: DDS through unitree_sdk2py's domain set-up, raw bytes through cyclonedds
# ---------------------------------------------------------------------------------------------
TOPIC_LOWCMD = "rt/lowcmd"
TOPIC_LOWSTATE = "rt/lowstate"

_dds_lock = threading.Lock()
_dds_participant = None
_dds_config: tuple[int, str] | None = None


MAX_DDS_DOMAIN = 232  # CycloneDDS default port mapping: higher domains give ports above 65535


def init_dds(domain: int, interface: str | None):
    """Initialise unitree_sdk2py's channel factory (process-wide: one domain + interface) once.

    Returns a cyclonedds ``DomainParticipant`` on that domain. Calling again with another domain or
    interface raises, because the SDK's factory is a singleton.
    """
    global _dds_participant, _dds_config
    if not 0 <= int(domain) <= MAX_DDS_DOMAIN:
        raise ValueError(
            f"DDS domain {domain} is out of range: CycloneDDS maps domain d to UDP port "
            f"7400 + 250 * d + ..., so only 0..{MAX_DDS_DOMAIN} fit below 65535"
        )
    with _dds_lock:
        if _dds_participant is not None:
            if _dds_config != (domain, interface):
                raise RuntimeError(f"DDS already initialised as {_dds_config}, not {(domain, interface)}")
            return _dds_participant
        from cyclonedds.domain import DomainParticipant
        from unitree_sdk2py.core.channel import ChannelFactoryInitialize

        ChannelFactoryInitialize(domain, interface or None)
        _dds_participant = DomainParticipant(domain)
        _dds_config = (domain, interface)
        return _dds_participant


class DdsEndpoint:
    """One side of the robot link over DDS.

    ``role="controller"`` (pd_bridge): writes ``rt/lowcmd``, receives ``rt/lowstate``.
    ``role="robot"`` (mujoco_sim): writes ``rt/lowstate``, receives ``rt/lowcmd``.
    ``on_message(msg)`` runs in a cyclonedds listener thread with a parsed :class:`LowCmd` or
    :class:`LowState` whose CRC was checked; bad-CRC or malformed messages are counted and dropped.
    """

    def __init__(self, role: str, domain: int, interface: str | None, on_message: Callable):
        from cyclonedds.core import Listener
        from cyclonedds.pub import DataWriter
        from cyclonedds.sub import DataReader
        from cyclonedds.topic import Topic
        from unitree_sdk2py.idl.unitree_hg.msg.dds_ import LowCmd_, LowState_

        if role not in ("controller", "robot"):
            raise ValueError(f"role must be 'controller' or 'robot', not {role!r}")
        dp = init_dds(domain, interface)
        cmd_topic = Topic(dp, TOPIC_LOWCMD, LowCmd_)
        state_topic = Topic(dp, TOPIC_LOWSTATE, LowState_)
        out_topic, in_topic = (cmd_topic, state_topic) if role == "controller" else (state_topic, cmd_topic)
        self._in_cls = LowState if role == "controller" else LowCmd
        self._on_message = on_message
        self.received = 0
        self.bad_crc = 0
        self.malformed = 0
        self.sent = 0
        self._writer = DataWriter(dp, out_topic)
        # The listener must not hold the endpoint strongly: endpoint -> reader -> listener -> bound
        # method -> endpoint is a cycle, and when the garbage collector breaks a cycle it may free the
        # listener's C callback before it deletes the reader, which then calls freed memory
        # (segfault on the next sample). Without the cycle, dropping the endpoint deletes the reader
        # first; close() does it explicitly.
        listener = Listener(on_data_available=_weak_call(self._on_data))
        self._reader = DataReader(dp, in_topic, listener=listener)

    def _on_data(self, reader) -> None:
        from cyclonedds._clayer import ddspy_take

        try:
            samples = ddspy_take(reader._ref, 64)
        except Exception:
            self.malformed += 1
            return
        if isinstance(samples, int):
            return
        for data, info in samples:
            if not info.valid_data:
                continue
            try:
                msg = self._in_cls(bytearray(data))
            except ValueError:
                self.malformed += 1
                continue
            if not msg.crc_ok():
                self.bad_crc += 1
                continue
            self.received += 1
            try:
                self._on_message(msg)
            except Exception:  # never let a handler bug kill the DDS listener thread
                self.malformed += 1

    def write(self, data: bytes) -> None:
        from cyclonedds._clayer import ddspy_write

        if self._writer is None:
            raise RuntimeError("DdsEndpoint is closed")
        if len(data) < 4:
            # cyclonedds reads the 4-byte CDR encapsulation header of a raw sample without a
            # length check: refuse what cannot be a sample instead of handing it to native code
            raise ValueError(f"a serialized sample needs the 4-byte CDR header, got {len(data)} bytes")
        ret = ddspy_write(self._writer._ref, data)
        if ret < 0:
            raise RuntimeError(f"ddspy_write failed ({ret})")
        self.sent += 1

    def close(self) -> None:
        """Delete the DDS reader (with its listener) and writer now. Idempotent."""
        reader, writer = self._reader, self._writer
        self._reader = self._writer = None
        for entity in (reader, writer):
            if entity is not None:
                # cyclonedds deletes an entity in Entity.__del__; run it now rather than whenever the
                # last reference goes (a later __del__ finds the entity gone and does nothing)
                entity.__del__()


def _weak_call(method: Callable) -> Callable:
    """A callback that calls ``method`` while its object is alive, without keeping it alive."""
    ref = weakref.WeakMethod(method)

    def call(*args) -> None:
        m = ref()
        if m is not None:
            m(*args)

    return call


# ---------------------------------------------------------------------------------------------
# Transport 2: unitree_ros2's /lowcmd and /lowstate (unitree_hg ROS messages), optional
# ---------------------------------------------------------------------------------------------
def unitree_hg_available() -> bool:
    try:
        import unitree_hg.msg  # noqa: F401
    except ImportError:
        return False
    return True


class RosLowLevelTransport:
    """Controller side over unitree_ros2's ROS topics ``/lowcmd`` and ``/lowstate``.

    Needs the ``unitree_hg`` ROS message package (the user's unitree_ros2, or this workspace's
    optional copy) and the same ROS_DOMAIN_ID as the robot. Messages are converted to/from the wire
    buffers so CRC and field handling are the same code as the DDS transport.
    """

    def __init__(
        self, node, on_message: Callable, cmd_topic: str = "/lowcmd", state_topic: str = "/lowstate"
    ):
        if not unitree_hg_available():
            raise RuntimeError(
                "transport 'ros' needs the unitree_hg ROS messages (install unitree_ros2 and source it)"
            )
        from rclpy.qos import qos_profile_sensor_data
        from unitree_hg.msg import LowCmd as RosLowCmd
        from unitree_hg.msg import LowState as RosLowState

        self._RosLowCmd = RosLowCmd
        self._on_message = on_message
        self.received = self.bad_crc = self.malformed = self.sent = 0
        self._pub = node.create_publisher(RosLowCmd, cmd_topic, 10)
        self._sub = node.create_subscription(
            RosLowState, state_topic, self._on_ros_state, qos_profile_sensor_data
        )

    def _on_ros_state(self, m) -> None:
        try:
            s = LowState()
            s.set("version", list(m.version))
            s.set("mode_pr", m.mode_pr)
            s.set("mode_machine", m.mode_machine)
            s.set("tick", m.tick)
            for f in ("quaternion", "gyroscope", "accelerometer", "rpy"):
                s.set(f"imu_state.{f}", list(getattr(m.imu_state, f)))
            for f in ("mode", "q", "dq", "ddq", "tau_est"):
                s.set(f"motor_state.{f}", [getattr(ms, f) for ms in m.motor_state])
            s.set("crc", m.crc)
        except Exception:
            self.malformed += 1
            return
        # The CRC covers fields not copied above (temperatures, sensors...): check it on a full copy.
        try:
            for f in ("temperature",):
                s.set(f"motor_state.{f}", np.array([list(ms.temperature) for ms in m.motor_state]).ravel())
            s.set("motor_state.vol", [ms.vol for ms in m.motor_state])
            s.set("motor_state.sensor", np.array([list(ms.sensor) for ms in m.motor_state]).ravel())
            s.set("motor_state.motorstate", [ms.motorstate for ms in m.motor_state])
            s.set("motor_state.reserve", np.array([list(ms.reserve) for ms in m.motor_state]).ravel())
            s.set("imu_state.temperature", m.imu_state.temperature)
            s.set("wireless_remote", list(m.wireless_remote))
            s.set("reserve", list(m.reserve))
        except Exception:
            self.malformed += 1
            return
        if not s.crc_ok():
            self.bad_crc += 1
            return
        self.received += 1
        self._on_message(s)

    def write(self, data: bytes) -> None:
        c = LowCmd(bytearray(data))
        m = self._RosLowCmd()
        m.mode_pr = int(c.get("mode_pr")[0])
        m.mode_machine = int(c.get("mode_machine")[0])
        vals = {f: c.get(f"motor_cmd.{f}") for f in ("mode", "q", "dq", "tau", "kp", "kd", "reserve")}
        for i in range(NUM_SLOTS):
            mc = m.motor_cmd[i]
            mc.mode = int(vals["mode"][i])
            mc.q, mc.dq, mc.tau = float(vals["q"][i]), float(vals["dq"][i]), float(vals["tau"][i])
            mc.kp, mc.kd = float(vals["kp"][i]), float(vals["kd"][i])
            mc.reserve = int(vals["reserve"][i])
        m.reserve = [int(x) for x in c.get("reserve")]
        m.crc = c.crc
        self._pub.publish(m)
        self.sent += 1

    def close(self) -> None:
        pass
