"""redis_bridge: TWIST's Redis protocol <-> our ROS graph, both ways.

Three independent directions (parameters; layouts and conversions in :mod:`g1_bringup.redis_layouts`):

* ``redis_to_ros`` (default true): poll ``mimic_key_in`` (``action_mimic_g1``, 33 floats written
  by a TWIST high-level server or mocap teleop) at ``poll_rate_hz`` (100) and publish every new
  value once as ReferenceMotion on ``output_topic`` (default ``/reference_motion/external``, a
  reference_mux input; or ``/reference_motion`` without the mux). Malformed or implausible
  payloads are rejected with a log and never forwarded. The key carries no time stamp, so a
  payload that stays byte-identical for ``max_unchanged_s`` (1 s; 0 = never) counts as stale (the
  writer stopped) and is not republished; a missing key or an unreachable server also means
  silence. Joint velocities are 0 (the layout has none); wrist pitch/yaw take the default pose (0).
* ``ros_to_redis`` (default false): write our reference (``reference_topic``, default
  ``/reference_motion``) as ``mimic_key_out`` (``action_mimic_g1``) and 14 zeros as
  ``action_hand_g1``, so TWIST's own low-level servers track CMG (or any of our sources). When the
  reference stops for ``reference_timeout`` s, and when the bridge shuts down, it blends to TWIST's
  default vector over ``exit_blend_time`` (2 s, like TWIST's high-level server) and writes the
  default. Messages that came from Redis (source ``redis...``) are never written back, and reading
  and writing the same key at once is refused (a feedback loop).
* ``write_state`` (default false): write ``state_body_g1`` (74-float TWIST proprio from ``/joint_states``,
  ``/imu`` and the last action recovered from ``/joint_targets``; zeros for the action part when no
  fresh targets) and ``state_hand_g1`` (14 zeros) at ``rate_hz`` while the robot state is fresh.

Redis: ``host`` (127.0.0.1), ``port`` (6379), ``db`` (0), ``socket_timeout`` (1 s). All Redis I/O runs
on one worker thread (:mod:`g1_bringup.redis_io`): writes are pipelined and never block the node's
timers, a slow reply is retried on a fresh socket at once, and only an unreachable server makes it
wait (``reconnect_s``, 1 s) between attempts. With ``start_server`` (default false) and a loopback
``host``, the bridge starts Debian's ``redis-server`` itself when nothing answers on that port (bound
to 127.0.0.1, no persistence) and stops it when the bridge exits (also when the bridge is killed:
parent-death signal).
"""

from __future__ import annotations

import shutil
import signal
import subprocess
import sys
import time

import numpy as np
from rclpy.node import Node
from rclpy.qos import qos_profile_sensor_data
from sensor_msgs.msg import Imu, JointState

from g1_bringup.mux_core import DT, Motion
from g1_bringup.redis_io import LinkConfig, RedisLink
from g1_bringup.redis_layouts import (
    HAND_SIZE,
    KEY_ACTION_HAND,
    KEY_ACTION_MIMIC,
    KEY_STATE_BODY,
    KEY_STATE_HAND,
    LayoutError,
    action_from_targets,
    decode_mimic,
    encode,
    exit_blend,
    frame_to_mimic,
    mimic_to_frame,
    state_body,
)
from g1_bringup.reference_mux import motion_to_msg
from g1_bringup.stack import die_with_parent
from twist_controller import robot
from twist_controller.node_main import run_node
from twist_controller.reference_msgs import msg_to_frame
from twist_msgs.msg import JointTargets, ReferenceMotion

STATE_TIMEOUT = 0.1  # s: joint states / IMU / targets older than this are not used


class RedisBridge(Node):
    def __init__(self) -> None:
        super().__init__("redis_bridge")
        p = self.declare_parameter
        self.host = str(p("host", "127.0.0.1").value)
        self.port = int(p("port", 6379).value)
        self.db = int(p("db", 0).value)
        self.redis_to_ros = bool(p("redis_to_ros", True).value)
        self.ros_to_redis = bool(p("ros_to_redis", False).value)
        self.write_state = bool(p("write_state", False).value)
        self.key_in = str(p("mimic_key_in", KEY_ACTION_MIMIC).value)
        self.key_out = str(p("mimic_key_out", KEY_ACTION_MIMIC).value)
        self.key_hand = str(p("hand_key", KEY_ACTION_HAND).value)
        self.key_state = str(p("state_key", KEY_STATE_BODY).value)
        self.key_state_hand = str(p("state_hand_key", KEY_STATE_HAND).value)
        self.start_server = bool(p("start_server", False).value)
        self.max_unchanged = float(p("max_unchanged_s", 1.0).value)
        self.ref_timeout = float(p("reference_timeout", 0.5).value)
        self.exit_blend_time = float(p("exit_blend_time", 2.0).value)
        rate = float(p("rate_hz", 1.0 / DT).value)
        poll_rate = float(p("poll_rate_hz", 100.0).value)
        socket_timeout = float(p("socket_timeout", LinkConfig.socket_timeout).value)
        reconnect_s = float(p("reconnect_s", LinkConfig.reconnect_s).value)
        out_topic = str(p("output_topic", "/reference_motion/external").value)
        ref_topic = str(p("reference_topic", "/reference_motion").value)
        if self.redis_to_ros and self.ros_to_redis and self.key_in == self.key_out:
            self.get_logger().error(
                f"redis_to_ros and ros_to_redis both use key '{self.key_in}': that is a feedback loop; "
                "ros_to_redis disabled (use two bridges or different keys)"
            )
            self.ros_to_redis = False

        # redis -> ros
        self._last_payload: bytes | None = None
        self._payload_since = 0.0
        self._last_frame = None
        self._last_pub = -1e9
        self.rejected = 0
        self.forwarded = 0
        self.references_in = 0
        # ros -> redis
        self._last_written: np.ndarray | None = None
        self._last_ref_time = -1e9
        self._exit_queue: list[np.ndarray] = []
        self._at_default = True
        # state
        self._js: tuple[float, np.ndarray, np.ndarray] | None = None
        self._imu: tuple[float, np.ndarray, np.ndarray] | None = None
        self._targets: tuple[float, np.ndarray] | None = None
        self._name_to_index = {n: i for i, n in enumerate(robot.G1_JOINT_NAMES)}

        if self.redis_to_ros:
            self.pub = self.create_publisher(ReferenceMotion, out_topic, 10)
        if self.ros_to_redis:
            self.create_subscription(ReferenceMotion, ref_topic, self._on_reference, 10)
        if self.write_state:
            self.create_subscription(
                JointState, "/joint_states", self._on_joint_states, qos_profile_sensor_data
            )
            self.create_subscription(Imu, "/imu", self._on_imu, qos_profile_sensor_data)
            self.create_subscription(JointTargets, "/joint_targets", self._on_targets, 10)
        self.create_timer(1.0 / rate, self._tick)
        if self.redis_to_ros:
            self.create_timer(1.0 / poll_rate, self._poll)
        dirs = [
            f"redis {self.key_in} -> {out_topic}" if self.redis_to_ros else "",
            f"{ref_topic} -> redis {self.key_out}" if self.ros_to_redis else "",
            f"/joint_states+/imu+/joint_targets -> redis {self.key_state}" if self.write_state else "",
        ]
        self.get_logger().info(f"redis {self.host}:{self.port}/{self.db}: " + "; ".join(d for d in dirs if d))
        self._server: subprocess.Popen | None = None
        self.link_config = LinkConfig(
            host=self.host,
            port=self.port,
            db=self.db,
            socket_timeout=socket_timeout,
            reconnect_s=reconnect_s,
            poll_rate_hz=poll_rate,
            read_keys=(self.key_in,) if self.redis_to_ros else (),
        )
        if self.start_server and not self._answers():
            self._start_server()
        self.link = RedisLink(self.link_config, self._link_log)

    # ------------------------------------------------------------------ redis connection
    def _link_log(self, level: str, text: str) -> None:
        log = self.get_logger()
        {"info": log.info, "warn": log.warning}.get(level, log.error)(text)

    def _answers(self) -> bool:
        """Does a Redis server answer on host:port now (one PING, short timeouts)?"""
        from g1_bringup.redis_io import make_client

        try:
            cfg = LinkConfig(self.host, self.port, self.db, socket_timeout=0.5, connect_timeout=0.5)
            return bool(make_client(cfg).ping())
        except Exception:
            return False

    def _start_server(self) -> None:
        if self.host not in ("127.0.0.1", "localhost", "::1"):
            self.get_logger().error(f"start_server only starts a loopback server, not one on {self.host}")
            return
        exe = shutil.which("redis-server")
        if exe is None:
            self.get_logger().error("start_server: redis-server is not installed (run scripts/setup.sh)")
            return
        cmd = [exe, "--port", str(self.port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"]
        self._server = subprocess.Popen(
            cmd,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            preexec_fn=die_with_parent(signal.SIGTERM),  # a killed bridge leaves no server behind
        )
        self.get_logger().info(f"started redis-server on 127.0.0.1:{self.port} (pid {self._server.pid})")
        end = time.monotonic() + 3.0
        while time.monotonic() < end and self._server.poll() is None:
            if self._answers():
                return
            time.sleep(0.05)
        self.get_logger().error("redis-server did not come up (port in use by something else?)")

    # ------------------------------------------------------------------ ros callbacks
    def _on_reference(self, msg: ReferenceMotion) -> None:
        if str(msg.source).startswith("redis") or not msg.frames:
            return
        try:
            vec = frame_to_mimic(msg_to_frame(msg.frames[0]))
        except (TypeError, ValueError) as exc:
            self.get_logger().warning(f"reference not written: {exc}", throttle_duration_sec=2.0)
            return
        if vec.shape != (33,) or not np.all(np.isfinite(vec)):
            self.get_logger().warning("reference with NaN/inf not written", throttle_duration_sec=2.0)
            return
        self._exit_queue.clear()
        self._last_ref_time = time.monotonic()
        self.references_in += 1
        self._write_mimic(vec)

    def _on_joint_states(self, msg: JointState) -> None:
        if len(msg.name) != len(msg.position) or (msg.velocity and len(msg.velocity) != len(msg.name)):
            return
        q = np.full(robot.NUM_JOINTS, np.nan)
        dq = np.zeros(robot.NUM_JOINTS)
        for k, name in enumerate(msg.name):
            i = self._name_to_index.get(name)
            if i is not None:
                q[i] = msg.position[k]
                if msg.velocity:
                    dq[i] = msg.velocity[k]
        if np.all(np.isfinite(q)) and np.all(np.isfinite(dq)):
            self._js = (time.monotonic(), q, dq)

    def _on_imu(self, msg: Imu) -> None:
        o, w = msg.orientation, msg.angular_velocity
        quat = np.array([o.w, o.x, o.y, o.z])
        gyro = np.array([w.x, w.y, w.z])
        n = np.linalg.norm(quat)
        if np.all(np.isfinite(quat)) and np.all(np.isfinite(gyro)) and n > 0.5:
            self._imu = (time.monotonic(), quat / n, gyro)

    def _on_targets(self, msg: JointTargets) -> None:
        if len(msg.joint_names) != len(msg.position):
            return
        q = robot.DEFAULT_POSITION.copy()
        for k, name in enumerate(msg.joint_names):
            i = self._name_to_index.get(name)
            if i is not None:
                q[i] = msg.position[k]
        if np.all(np.isfinite(q)):
            self._targets = (time.monotonic(), q)

    # ------------------------------------------------------------------ periodic work
    def _tick(self) -> None:
        if self.ros_to_redis:
            self._out_watchdog()
        if self.write_state:
            self._write_state()

    def _poll(self) -> None:
        self._read_mimic()

    def _read_mimic(self) -> None:
        """Forward each new payload once (polled at ``poll_rate_hz``, faster than the 50 Hz writers);
        an unchanged payload is repeated at most every 1.5 frames and only for ``max_unchanged_s``."""
        payload = self.link.get(self.key_in)  # the worker's last GET (None: missing or no server)
        if payload is None:
            self._last_frame = None
            return
        now = time.monotonic()
        if payload != self._last_payload:
            self._last_payload = payload
            self._payload_since = now
            try:
                self._last_frame = mimic_to_frame(decode_mimic(payload))
            except LayoutError as exc:
                self._last_frame = None
                self.rejected += 1
                self.get_logger().warning(f"rejected redis payload: {exc}", throttle_duration_sec=1.0)
                return
        elif self._last_frame is None:
            return  # the same rejected payload again
        elif self.max_unchanged > 0 and now - self._payload_since > self.max_unchanged:
            return  # the writer stopped: stale
        elif now - self._last_pub < 1.5 * DT:
            return  # already forwarded; the writer's next value is due
        self._last_pub = now
        self.forwarded += 1
        motion = Motion([self._last_frame], DT, f"redis:{self.key_in}")
        self.pub.publish(motion_to_msg(self, motion, frame_id="redis"))

    def _write_mimic(self, vec: np.ndarray) -> None:
        self.link.write({self.key_out: encode(vec), self.key_hand: encode(np.zeros(HAND_SIZE))})
        self._last_written = np.asarray(vec, dtype=np.float64)
        self._at_default = False

    def _out_watchdog(self) -> None:
        if self._exit_queue:
            self._write_mimic(self._exit_queue.pop(0))
            if not self._exit_queue:
                self._at_default = True
                self.get_logger().info(f"wrote the default pose to {self.key_out}")
            return
        stale = time.monotonic() - self._last_ref_time > self.ref_timeout
        if stale and not self._at_default and self._last_written is not None:
            self.get_logger().warning(
                f"reference stale: blending {self.key_out} to the default pose "
                f"over {self.exit_blend_time:.1f} s"
            )
            self._exit_queue = list(exit_blend(self._last_written, self.exit_blend_time, DT))

    def _write_state(self) -> None:
        now = time.monotonic()
        if self._js is None or self._imu is None:
            return
        if now - self._js[0] > STATE_TIMEOUT or now - self._imu[0] > STATE_TIMEOUT:
            return
        action = None
        if self._targets is not None and now - self._targets[0] <= STATE_TIMEOUT:
            action = action_from_targets(self._targets[1])
        try:
            vec = state_body(self._imu[2], self._imu[1], self._js[1], self._js[2], action)
        except LayoutError as exc:
            self.get_logger().warning(f"state not written: {exc}", throttle_duration_sec=2.0)
            return
        self.link.write({self.key_state: encode(vec), self.key_state_hand: encode(np.zeros(HAND_SIZE))})

    def close(self) -> None:
        """On shutdown: finish TWIST's exit blend to the default pose (ros_to_redis only), then stop
        the redis-server this bridge started (if any)."""
        try:
            self._finish_exit_blend()
            s = self.link.stats
            self.get_logger().info(
                f"redis: {self.references_in} references in, {s.queued} values queued, {s.sets} written, "
                f"{s.coalesced} coalesced, {s.rounds} round trips, {s.gets} reads, {s.timeouts} timeouts, "
                f"{max(0, s.connects - 1)} reconnects"
            )
            self.link.close(flush_timeout=2.0)
        finally:
            if self._server is not None and self._server.poll() is None:
                self._server.terminate()
                try:
                    self._server.wait(timeout=3)
                except subprocess.TimeoutExpired:
                    self._server.kill()
                    self._server.wait()

    def _finish_exit_blend(self) -> None:
        if not self.ros_to_redis or self._last_written is None or self._at_default:
            return
        if not self.link.connected:
            return  # nobody to tell; the blend would only be queued and dropped
        seq = self._exit_queue or list(exit_blend(self._last_written, self.exit_blend_time, DT))
        for vec in seq:
            self._write_mimic(vec)
            time.sleep(DT)
        self._at_default = self.link.flush(1.0)


def main(argv: list[str] | None = None) -> int:
    return run_node(RedisBridge, argv)


if __name__ == "__main__":
    sys.exit(main())
