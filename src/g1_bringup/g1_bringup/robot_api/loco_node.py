"""loco_api: the G1 locomotion service (``sport``) of Unitree's SDK, answered by our stack.

Run: ``install/lib/g1_bringup/loco_api --ros-args -p dds_domain:=1 -p network_interface:=lo`` (or
``unitree_api:=true`` on the ``stack`` / launch command line). Then an unmodified
``unitree_sdk2py.g1.loco.g1_loco_client.LocoClient`` on that DDS domain drives the robot:

* DDS (the SDK's own ``Server``): ``rt/api/sport/{request,response}``; the call logic is
  :mod:`g1_bringup.robot_api.loco_core` (pure, unit-tested).
* ROS: publishes ``/cmd_vel`` (Twist; TwistStamped with ``cmd_vel_stamped:=true``) at
  ``publish_rate_hz`` while a ``Move`` lasts, then a few zeros and nothing (other teleop sources stay
  usable); calls ``/pd_bridge/set_mode`` for ``Damp``/``ZeroTorque``/``StandUp``/``Start``; follows
  ``/controller_state`` for the getters (and cancels a walk when the bridge leaves POLICY).
* ``robot:=real``: the robot has its own ``sport`` service while its controller is active; this node
  serves only once the robot's ``motion_switcher`` reports no active controller.

Parameters (``--ros-args -p name:=value``): ``dds_domain`` (1), ``network_interface`` (lo), ``robot``
(sim), ``service_name`` (sport), the speed clamps ``vx_min`` (-0.6) ``vx_max`` (1.0) ``vy_max`` (0.5)
``wz_max`` (1.0) (m/s, rad/s), ``reject_above`` (5.0: larger components are refused, not clamped),
``max_duration`` (864000 s), ``state_timeout`` (1.0 s), ``start_timeout`` (10 s), ``publish_rate_hz``
(20), ``bridge_timeout`` (0.8 s, under the SDK client's 1 s), ``cmd_vel_stamped`` (false), ``frame``.
"""

from __future__ import annotations

import signal
import sys
import threading
import time

from g1_bringup.robot_api import loco_core, rpc
from g1_bringup.robot_api.loco_core import LocoConfig, LocoCore, LocoReply

PARAMS = {
    "dds_domain": 1,
    "network_interface": "lo",
    "robot": "sim",  # "real": serve only while the robot's own controller is released
    "service_name": loco_core.SERVICE_NAME,
    "vx_min": -0.6,
    "vx_max": 1.0,
    "vy_max": 0.5,
    "wz_max": 1.0,
    "reject_above": 5.0,
    "max_duration": loco_core.CONTINUOUS_MOVE_S,
    "state_timeout": 1.0,
    "start_timeout": 10.0,
    "publish_rate_hz": 20.0,  # > 2 / cmg_node's cmd_vel_timeout (0.5 s)
    "bridge_timeout": 0.8,
    "bridge_service": "/pd_bridge/set_mode",
    "cmd_vel_stamped": False,
    "frame": "base_link",
}
_CFG_KEYS = (
    "vx_min",
    "vx_max",
    "vy_max",
    "wz_max",
    "reject_above",
    "max_duration",
    "state_timeout",
    "start_timeout",
)
START_RETRY_S = 0.25  # s between POLICY requests while a Start waits for the stand-up


class LocoApi:
    def __init__(self, node, params: dict):
        from g1_bringup.cmd_vel_io import make_cmd_vel_publisher
        from twist_msgs.msg import ControllerState
        from twist_msgs.srv import SetMode

        if params["robot"] not in ("sim", "real"):
            raise ValueError(f"robot must be 'sim' or 'real', not {params['robot']!r}")
        if not params["publish_rate_hz"] > 0:
            raise ValueError(f"publish_rate_hz must be > 0, got {params['publish_rate_hz']}")
        self.node, self.p = node, params
        self.log = node.get_logger()
        self.core = LocoCore(LocoConfig(**{k: float(params[k]) for k in _CFG_KEYS}))
        self._lock = threading.Lock()
        self._SetMode = SetMode
        self.publish = make_cmd_vel_publisher(
            node, "/cmd_vel", bool(params["cmd_vel_stamped"]), str(params["frame"])
        )
        self._client = node.create_client(SetMode, str(params["bridge_service"]))
        node.create_subscription(ControllerState, "/controller_state", self._on_state, 10)
        self._start_try = 0.0
        self._start_inflight = False
        self.server = None
        self._gate = None
        from twist_controller import unitree_io

        unitree_io.init_dds(int(params["dds_domain"]), str(params["network_interface"]) or None)
        if params["robot"] == "real":
            from twist_controller.motion_switcher import bridge_gate

            self._gate = bridge_gate(self.log.error, self.log.info)
        self._serve_if_allowed()
        node.create_timer(1.0 / float(params["publish_rate_hz"]), self._tick)

    def _serve_if_allowed(self) -> None:
        if self.server is not None or (self._gate is not None and not self._gate.allowed):
            return
        from g1_bringup.robot_api.dds_service import serve

        name = str(self.p["service_name"])
        self.server = serve(
            name, loco_core.API_VERSION, loco_core.API_IDS, self._handle, self.log.info, self.log.warning
        )
        self.log.info(
            f"loco_api: serving '{name}' on DDS domain {self.p['dds_domain']} "
            f"({self.p['network_interface']!r}): LocoClient calls -> /cmd_vel and pd_bridge modes"
        )

    # ------------------------------------------------------------------ ROS side
    def _on_state(self, m) -> None:
        with self._lock:
            note = self.core.set_bridge_mode(m.mode, time.monotonic())
        if note:
            self.log.warning(note)

    def _tick(self) -> None:
        self._serve_if_allowed()
        now = time.monotonic()
        with self._lock:
            out = self.core.velocity_output(now)
            send_start, note = self.core.start_pending(now)
        if out is not None:
            self.publish(*out)
        if note:
            self.log.warning(note)
        if self._start_inflight and now - self._start_try > 5 * START_RETRY_S:
            self._start_inflight = False  # an answer that never came (bridge restarted): ask again
        if send_start and not self._start_inflight and now - self._start_try >= START_RETRY_S:
            self._start_try = now
            self._start_policy()

    def _start_policy(self) -> None:
        """A pending Start: ask for POLICY without blocking; the bridge refuses until the stand-up
        finished (then we ask again at the next retry)."""
        if not self._client.service_is_ready():
            return
        self._start_inflight = True
        fut = self._client.call_async(self._SetMode.Request(request=int(loco_core.Request.POLICY)))

        def done(f) -> None:
            self._start_inflight = False
            r = f.result() if not f.cancelled() else None
            if r is not None:
                with self._lock:
                    self.core.set_bridge_mode(r.mode, time.monotonic())
                if r.success:
                    self.log.info(f"Start: bridge {r.message}")

        fut.add_done_callback(done)

    def _call_bridge(self, req) -> tuple[bool, str, bool]:
        """One SetMode call from the RPC thread: (success, message, answered)."""
        timeout = float(self.p["bridge_timeout"])
        if not self._client.service_is_ready():
            return False, f"{self.p['bridge_service']} is not available (is pd_bridge running?)", False
        done = threading.Event()
        fut = self._client.call_async(self._SetMode.Request(request=int(req)))
        fut.add_done_callback(lambda _f: done.set())
        if not done.wait(timeout):
            fut.cancel()
            return False, f"no answer from {self.p['bridge_service']} within {timeout:g} s", False
        r = fut.result()
        with self._lock:
            self.core.set_bridge_mode(r.mode, time.monotonic())
        return bool(r.success), str(r.message), True

    # ------------------------------------------------------------------ DDS side (SDK server thread)
    def _handle(self, api_id: int, parameter: str) -> rpc.Reply:
        with self._lock:
            reply: LocoReply = self.core.handle(api_id, parameter, time.monotonic())
        for req in reply.requests:
            ok, message, answered = self._call_bridge(req)
            if not ok:
                code = rpc.LOCO_ERR_INVALID_FSM_ID if answered else rpc.LOCO_ERR_LOCOSTATE_NOT_AVAILABLE
                return rpc.Reply(code, "", f"{reply.log}: pd_bridge {req.name} refused: {message}")
        return reply

    def close(self) -> None:
        with self._lock:
            moving = self.core.motion.moving
        if moving:
            self.publish(0.0, 0.0, 0.0)
        if self._gate is not None:
            self._gate.close()


def _interrupt(signum, frame) -> None:
    raise KeyboardInterrupt


def main(argv: list[str] | None = None) -> int:
    import rclpy
    from rclpy.executors import ExternalShutdownException, SingleThreadedExecutor

    from twist_controller.pd_bridge import declare_params

    argv = sys.argv if argv is None else argv
    if any(a in ("-h", "--help") for a in argv[1:]):
        print(__doc__)
        return 0
    rclpy.init(args=argv)
    node = rclpy.create_node("loco_api")
    api = None
    try:
        api = LocoApi(node, declare_params(node, PARAMS))
    except Exception as e:  # bad parameter, DDS set-up failed
        node.get_logger().error(f"loco_api cannot start: {e}")
        node.destroy_node()
        rclpy.shutdown()
        return 2
    signal.signal(signal.SIGTERM, _interrupt)  # the runner's stop signal ends spinning like Ctrl-C
    # the SDK server's thread waits for SetMode answers, which this executor delivers
    # (rclpy's Python executor, not make_executor's: with the events executor LocoClient's calls
    # got empty answers and test_unitree_clients.py failed)
    executor = SingleThreadedExecutor()
    executor.add_node(node)
    try:
        executor.spin()
    except (KeyboardInterrupt, ExternalShutdownException):
        pass
    finally:
        api.close()
        executor.shutdown(timeout_sec=0.5)
        node.destroy_node()
        if rclpy.ok():
            rclpy.shutdown()
    return 0


if __name__ == "__main__":
    sys.exit(main())
