"""pd_bridge: /joint_targets -> Unitree LowCmd (with CRC) through the safety state machine.

Run: ``install/lib/twist_controller/pd_bridge --ros-args --params-file
src/twist_controller/config/pd_bridge.yaml``; helpers: ``pd_bridge --set-mode enable|stand|policy|
damp|estop|reset|zero_torque`` (service client), ``pd_bridge --hold-pose`` (publishes the default
pose on /joint_targets, a stand-in for the policy). Thin ROS shell: the logic is
:mod:`twist_controller.safety`, the protocol :mod:`twist_controller.unitree_io`.

* Subscribes ``/joint_targets`` (twist_msgs/JointTargets), ``/estop`` (std_msgs/Bool, true = e-stop).
* Service ``/pd_bridge/set_mode`` (twist_msgs/SetMode).
* Publishes ``/joint_states`` (29 names), ``/imu``, ``/controller_state`` (on every mode change and
  at ``controller_state_rate_hz``).
* Robot link: ``transport: dds`` (unitree_sdk2py domain set-up, ``rt/lowcmd``/``rt/lowstate``) or
  ``transport: ros`` (unitree_ros2's ``/lowcmd``/``/lowstate`` with the ``unitree_hg`` messages).
  Nothing is sent before the first LowState (its ``mode_machine`` is echoed in every LowCmd,
  ``mode_pr`` = 0 = PR). On shutdown a short burst of DAMPING commands is sent.
* Time (docs/sim_time.md): on the robot (and whenever ``use_sim_time`` is false) every staleness
  check runs on the machine's monotonic clock. With ``use_sim_time`` (simulation only; refused with
  ``robot: real``) the state machine runs on simulated time: ``now`` is the newer of the node clock
  (``/clock``) and the newest LowState ``tick``, but never ahead of that tick by more than the wall
  time since it arrived (:func:`~twist_controller.safety.sim_now`), and a LowState's own time is its
  tick, so a simulator that is descheduled (time stands still) trips nothing, while LowState missing
  while the simulator's clock runs on still trips ``state_timeout``.
* ``write_on_targets`` (true): on wall time a LowCmd goes out the moment accepted targets arrive
  (through the same state machine step as the loop's), so a command does not wait up to 5 ms for
  the loop's next tick; the loop still writes at ``rate_hz`` and runs every guard.
* ``lockstep`` (sim): LowCmd ``reserve[0]`` carries the simulated time (ms + 1) the command was
  computed for: the newest LowState tick it saw, and once targets have arrived the older of that
  and the targets' stamp, so the simulator's lockstep waits for the policy. The loop also wakes on
  every control-boundary LowState and a LowCmd is written the moment targets arrive. The first
  LowCmd waits for the first targets (up to ``lockstep_start_timeout`` s of wall time), so the
  simulator, holding at t = 0 until then, starts once the whole chain is up: every run starts
  the same way.
"""

from __future__ import annotations

import math
import signal
import sys
import threading
import time

import numpy as np

from twist_controller import robot
from twist_controller.node_main import spinning_in_background
from twist_controller.safety import Mode, SafetyConfig, SafetyStateMachine, sim_now
from twist_controller.stamps import time_msg

PARAMS = {
    "robot": "sim",  # "sim" or "real"
    "transport": "dds",  # "dds" or "ros"
    "dds_domain": 1,
    "network_interface": "lo",
    "rate_hz": 200.0,
    "mode_pr": 0,
    "state_publish_hz": 100.0,
    "controller_state_rate_hz": 10.0,
    "target_timeout": 0.085,  # s: timeout + 5 ms tick + scheduling <= 100 ms (docs/reliability.md)
    "state_timeout": 0.085,
    "max_tilt": 0.8,
    "joint_limit_margin": 0.1,
    "stand_duration": 2.0,
    "stand_kp_scale": 1.5,
    "stand_kd_scale": 1.0,
    "damping_kd_scale": 2.0,
    "max_gain_scale": 3.0,
    "auto_stand": False,
    "auto_settle": 1.0,  # s of steady LowState / targets before auto_stand / auto_policy (sim)
    "auto_policy": False,
    "sim_stale_confirm_steps": 3,  # use_sim_time: loop steps a stale input must persist (safety.py)
    "shutdown_damping_s": 0.1,
    "lockstep": False,  # sim: wake on boundary LowStates, write LowCmd when targets arrive
    "lockstep_period": 0.02,  # s of simulated time between the simulator's lockstep waits
    "lockstep_start_timeout": 60.0,  # s of wall time to wait for the first targets before the first LowCmd
    # wall time: write a LowCmd the moment targets arrive, not at the loop's next 200 Hz tick (the
    # loop still writes, holds and guards); with use_sim_time only lockstep does (docs/sim_time.md)
    "write_on_targets": True,
}
_SAFETY_KEYS = (
    "robot",
    "target_timeout",
    "state_timeout",
    "max_tilt",
    "joint_limit_margin",
    "stand_duration",
    "stand_kp_scale",
    "stand_kd_scale",
    "damping_kd_scale",
    "max_gain_scale",
    "auto_stand",
    "auto_settle",
    "auto_policy",
)


def declare_params(node, defaults: dict) -> dict:
    """Declare ROS parameters with loose typing (``rate_hz:=500`` is fine) and cast to the defaults'
    types; raises ValueError with a readable message for values that cannot be converted."""
    from rcl_interfaces.msg import ParameterDescriptor

    out = {}
    for key, default in defaults.items():
        val = node.declare_parameter(key, default, ParameterDescriptor(dynamic_typing=True)).value
        out[key] = coerce(key, val, default)
    return out


def coerce(key: str, val, default):
    if isinstance(default, bool):
        if isinstance(val, str) and val.lower() in ("true", "false"):
            return val.lower() == "true"
        if isinstance(val, bool | int):
            return bool(val)
    else:
        try:
            out = type(default)(val)
            if isinstance(out, float) and not math.isfinite(out):
                raise ValueError
            return out
        except (TypeError, ValueError):
            pass
    raise ValueError(f"parameter {key}: {val!r} is not a valid {type(default).__name__}")


def check_params(p: dict) -> list[str]:
    """Problems that must stop the bridge from starting (empty list = fine)."""
    errs = []
    if p["robot"] not in ("sim", "real"):
        errs.append(f"robot must be 'sim' or 'real', not {p['robot']!r}")
    if p["transport"] not in ("dds", "ros"):
        errs.append(f"transport must be 'dds' or 'ros', not {p['transport']!r}")
    if p["robot"] == "real" and p["transport"] == "dds" and p["network_interface"] in ("", "lo"):
        errs.append("robot:=real needs network_interface set to the NIC on the robot's network (e.g. eth0)")
    if p["robot"] == "real" and p.get("use_sim_time"):
        errs.append("use_sim_time is for simulation only: the real robot runs on wall time")
    if not (0 < float(p["rate_hz"]) <= 1000):
        errs.append(f"rate_hz must be in (0, 1000], got {p['rate_hz']}")
    return errs


class PdBridge:
    def __init__(self, node, params: dict):
        from sensor_msgs.msg import Imu, JointState
        from std_msgs.msg import Bool

        from twist_controller import unitree_io
        from twist_msgs.msg import ControllerState, JointTargets
        from twist_msgs.srv import SetMode

        self.node = node
        self.p = params
        self.log = node.get_logger()
        self._io = unitree_io
        self._ControllerState, self._JointState, self._Imu = ControllerState, JointState, Imu
        self.sim_time = bool(params.get("use_sim_time")) and params["robot"] == "sim"
        cfg = SafetyConfig(**{k: params[k] for k in _SAFETY_KEYS})
        if self.sim_time:
            cfg.stale_confirm_steps = max(1, int(params["sim_stale_confirm_steps"]))
            if params["lockstep"]:
                cfg.auto_settle = 0.0  # lockstep: simulated time waits for the chain, nothing stalls
        if cfg.is_real and (cfg.auto_stand or cfg.auto_policy):
            self.log.warn(
                "robot:=real ignores auto_stand/auto_policy: every transition needs a SetMode request"
            )
        self.sm = SafetyStateMachine(cfg)
        self.lockstep = bool(params["lockstep"]) and self.sim_time
        # answer targets at once: lockstep (the simulator waits for it), or on wall time by choice.
        # Not on simulated time without lockstep: each extra step would count as a look towards
        # sim_stale_confirm_steps
        self._write_on_targets = self.lockstep or (bool(params["write_on_targets"]) and not self.sim_time)
        self._lockstep_ms = max(1, round(float(params["lockstep_period"]) * 1000))
        self._tick_time = 0.0  # s, newest LowState tick (sim time)
        self._tick_wall = time.monotonic()  # monotonic time that tick arrived
        self._sim_now = 0.0  # the last simulated now handed out (kept monotonic)
        self._state_tick_ms = None  # tick of the LowState the state machine last consumed
        self._targets_stamp_ms = None  # header stamp (ms) of the newest accepted targets
        self._last_pub_tick = None
        self._wake = threading.Event()
        self._t_created = time.monotonic()
        self._start_gate = self.lockstep  # lockstep: no LowCmd before the first targets
        self._send_lock = threading.Lock()
        self._lock = threading.Lock()
        self._latest_state = None  # (LowState, receive time)
        self._state_seq = 0
        self._used_seq = 0
        self.mode_machine = None
        self.lowcmd_count = 0
        self._loop_period = 0.0
        self._last_reject_log = 0.0
        self._stop = threading.Event()

        self.pub_js = node.create_publisher(JointState, "/joint_states", 10)
        self.pub_imu = node.create_publisher(Imu, "/imu", 10)
        self.pub_cs = node.create_publisher(ControllerState, "/controller_state", 10)
        node.create_subscription(JointTargets, "/joint_targets", self._on_targets, 10)
        node.create_subscription(Bool, "/estop", self._on_estop, 10)
        node.create_service(SetMode, "~/set_mode", self._on_set_mode)

        if params["transport"] == "dds":
            self.link = unitree_io.DdsEndpoint(
                "controller",
                int(params["dds_domain"]),
                str(params["network_interface"]) or None,
                self._on_state,
            )
        else:
            self.link = unitree_io.RosLowLevelTransport(node, self._on_state)
        self._cmd = unitree_io.LowCmd()
        # robot: real: no LowCmd while Unitree's own controller owns the motors (motion_switcher)
        self.switcher = None
        if params["robot"] == "real" and params["transport"] == "dds":
            from twist_controller.motion_switcher import bridge_gate

            self.switcher = bridge_gate(self.log.error, self.log.info)
        self.log.info(
            f"pd_bridge: robot={params['robot']} transport={params['transport']} "
            f"domain={params['dds_domain']} "
            f"iface={params['network_interface']!r} rate={params['rate_hz']} Hz; mode ZERO_TORQUE"
        )

    # ------------------------------------------------------------------ time
    def now(self) -> float:
        """The state machine's clock: monotonic wall time, or simulated time with use_sim_time."""
        if not self.sim_time:
            return time.monotonic()
        clock = self.node.get_clock().now().nanoseconds * 1e-9
        now = sim_now(clock, self._tick_time, time.monotonic() - self._tick_wall)
        self._sim_now = max(self._sim_now, now)
        return self._sim_now

    # ------------------------------------------------------------------ inputs
    def _on_state(self, msg) -> None:  # transport thread; CRC already checked
        if self.sim_time:
            tick = int(msg.get("tick")[0])
            t = tick * 1e-3  # the simulated time it was produced at
            wake = self.lockstep and tick % self._lockstep_ms == 0
        else:
            t, wake = time.monotonic(), False
        with self._lock:
            self._latest_state = (msg, t)
            self._state_seq += 1
            if self.sim_time and t > self._tick_time:
                self._tick_time, self._tick_wall = t, time.monotonic()
        if wake:
            self._wake.set()

    def _on_targets(self, m) -> None:
        now = self.now()
        cmd = None
        with self._lock:
            old = self.sm.mode
            err = self.sm.update_targets(m.joint_names, m.position, m.velocity, m.effort, m.kp, m.kd, now=now)
            if not err:
                st = m.header.stamp
                self._targets_stamp_ms = round(st.sec * 1000 + st.nanosec * 1e-6)
            if self._write_on_targets:  # write at once (lockstep: the simulator waits for it)
                self._consume_state()
                now = self.now()
                cmd = self.sm.step(now)
                stamp = self._lowcmd_stamp(now)
            changed = self.sm.mode != old
        if cmd is not None and self.mode_machine is not None:
            try:
                self._send(cmd, stamp)
            except Exception as e:
                self.log.error(f"LowCmd write failed: {e}")
        if err and now - self._last_reject_log > 1.0:
            self._last_reject_log = now
            self.log.warn(f"/joint_targets rejected: {err} ({self.sm.rejected_targets} so far)")
        if changed:
            self._announce()

    def _on_estop(self, m) -> None:
        if m.data:
            self.request(4, "estop topic")

    def _on_set_mode(self, req, resp):
        ok, message = self.request(int(req.request), "service")
        resp.success = ok
        resp.message = message
        resp.mode = int(self.sm.mode)
        return resp

    def request(self, req: int, source: str) -> tuple[bool, str]:
        if (
            self.switcher is not None
            and req in (0, 1, 2)
            and self.sm.mode in (Mode.ZERO_TORQUE, Mode.DAMPING)
        ):
            ok, why = self.switcher.check()  # again: a controller may have been selected since
            if not ok:
                self.log.warning(f"SetMode {req} from {source} refused: {why}")
                return False, why
        now = self.now()
        with self._lock:
            self._consume_state()
            old = self.sm.mode
            ok, message = self.sm.request(req, now)
            changed = self.sm.mode != old
        (self.log.info if ok else self.log.warn)(f"SetMode {req} from {source}: {message}")
        if changed:
            self._announce()
        return ok, message

    def _consume_state(self) -> bool:
        """Feed the newest LowState into the state machine (call with the lock held)."""
        if self._latest_state is None or self._used_seq == self._state_seq:
            return False
        msg, t = self._latest_state
        self._used_seq = self._state_seq
        self.mode_machine = int(msg.get("mode_machine")[0])
        self._state_tick_ms = int(msg.get("tick")[0])
        self.sm.update_state(msg.motor("q"), msg.motor("dq"), msg.imu("quaternion"), t)
        return True

    def _lowcmd_stamp(self, now: float) -> int | None:
        """Simulated time (ms) a LowCmd answers (call with the lock held; None on the robot): the
        LowState tick it saw; in STAND_UP/POLICY with fresh targets the older of that and the
        targets' stamp (the lockstep simulator then waits for the policy; stale or no targets, e.g.
        a dead policy, do not hold it up once the bridge has damped)."""
        if not self.sim_time or self._state_tick_ms is None:
            return None
        t = self.sm.targets
        if (
            self._targets_stamp_ms is None
            or t is None
            or self.sm.mode not in (Mode.STAND_UP, Mode.POLICY)
            or now - t.stamp > self.sm.cfg.target_timeout
        ):
            return self._state_tick_ms
        return min(self._state_tick_ms, self._targets_stamp_ms)

    # ------------------------------------------------------------------ outputs
    def _announce(self) -> None:
        self.log.info(f"mode {self.sm.mode.name}: {self.sm.last_transition}")
        self.publish_controller_state()

    def publish_controller_state(self) -> None:
        now = self.now()
        cs = self._ControllerState()
        cs.header.stamp = time_msg(now) if self.sim_time else self.node.get_clock().now().to_msg()
        with self._lock:
            cs.mode = int(self.sm.mode)
            cs.mode_name = self.sm.mode.name
            cs.faults = list(self.sm.faults)
            cs.last_transition = self.sm.last_transition
            ta, sa = self.sm.ages(now)
        cs.target_age = float(ta)
        cs.state_age = float(sa)
        cs.loop_period = float(self._loop_period)
        cs.lowcmd_count = self.lowcmd_count
        cs.bad_crc_count = int(self.link.bad_crc)
        self.pub_cs.publish(cs)

    def _publish_state(self, msg, t: float | None = None) -> None:
        # simulated time the LowState was produced at, or the node clock's now
        stamp = self.node.get_clock().now().to_msg() if t is None else time_msg(t)
        js = self._JointState()
        js.header.stamp = stamp
        js.name = list(robot.G1_JOINT_NAMES)
        js.position = msg.motor("q").astype(float).tolist()
        js.velocity = msg.motor("dq").astype(float).tolist()
        js.effort = msg.motor("tau_est").astype(float).tolist()
        self.pub_js.publish(js)
        imu = self._Imu()
        imu.header.stamp = stamp
        imu.header.frame_id = "imu_in_pelvis"
        w, x, y, z = (float(v) for v in msg.imu("quaternion"))
        imu.orientation.w, imu.orientation.x, imu.orientation.y, imu.orientation.z = w, x, y, z
        g = msg.imu("gyroscope")
        a = msg.imu("accelerometer")
        imu.angular_velocity.x, imu.angular_velocity.y, imu.angular_velocity.z = (float(v) for v in g)
        imu.linear_acceleration.x, imu.linear_acceleration.y, imu.linear_acceleration.z = (
            float(v) for v in a
        )
        self.pub_imu.publish(imu)

    def _send(self, cmd, stamp_ms: int | None = None) -> None:
        if self.switcher is not None and not self.switcher.allowed:
            return  # Unitree's controller is active (or unknown): do not fight it
        with self._send_lock:
            gate = self._start_gate
        if gate:
            if self._targets_stamp_ms is None:
                if time.monotonic() - self._t_created < float(self.p["lockstep_start_timeout"]):
                    return  # the lockstep simulator holds at t = 0 until the chain is up
                self.log.warn(
                    f"lockstep: no /joint_targets within {self.p['lockstep_start_timeout']} s: "
                    "starting the simulation without them"
                )
            with self._send_lock:
                if self._start_gate and self._targets_stamp_ms is not None:
                    self.log.info("lockstep: first targets arrived, the simulation starts")
                self._start_gate = False
        with self._send_lock:  # the loop and (lockstep) the targets callback both write
            c = self._cmd
            c.fill(cmd.q, cmd.dq, cmd.tau, cmd.kp, cmd.kd, mode=1, mode_pr=int(self.p["mode_pr"]),
                   mode_machine=self.mode_machine or 0)  # fmt: skip
            c.set("reserve", [0 if stamp_ms is None else stamp_ms + 1, 0, 0, 0])
            self.link.write(c.finalize())
            self.lowcmd_count += 1

    # ------------------------------------------------------------------ loop
    def stop(self) -> None:
        self._stop.set()

    def run(self) -> None:
        period = 1.0 / float(self.p["rate_hz"])
        pub_period = 1.0 / float(self.p["state_publish_hz"]) if self.p["state_publish_hz"] > 0 else math.inf
        cs_period = 1.0 / float(self.p["controller_state_rate_hz"])
        pub_ms = 1000.0 * pub_period
        next_t = time.monotonic()
        last_pub = last_cs = last_tick = 0.0
        while not self._stop.is_set():
            wall = time.monotonic()
            if last_tick:
                self._loop_period += 0.05 * ((wall - last_tick) - self._loop_period)
            last_tick = wall
            self._wake.clear()
            with self._lock:
                fresh = self._consume_state()
                now = self.now()  # after the state: its tick counts (lockstep: the same now every run)
                old = self.sm.mode
                cmd = self.sm.step(now)
                changed = self.sm.mode != old
                latest = self._latest_state
                stamp = self._lowcmd_stamp(now)
                tick = self._state_tick_ms
            if changed:
                self._announce()
            if self.mode_machine is not None:  # nothing is sent before the robot has spoken
                try:
                    self._send(cmd, stamp)
                except Exception as e:  # a transport error must not kill the loop
                    self.log.error(f"LowCmd write failed: {e}")
            if fresh and self.sim_time:
                # every LowState whose tick crosses a multiple of the publish period (sim time), so
                # /joint_states carries the control-boundary states; a repeated tick (the lockstep
                # simulator holding at t = 0) again after pub_period of wall time
                if (
                    self._last_pub_tick is None
                    or tick // pub_ms > self._last_pub_tick // pub_ms
                    or (tick == self._last_pub_tick and wall - last_pub >= pub_period)
                ):
                    self._last_pub_tick, last_pub = tick, wall
                    self._publish_state(latest[0], latest[1])
            elif fresh and wall - last_pub >= pub_period:
                last_pub = wall
                self._publish_state(latest[0])
            if wall - last_cs >= cs_period:
                last_cs = wall
                self.publish_controller_state()
            if self.lockstep:
                # a control-boundary LowState wakes the loop early (answered at once, the schedule
                # is kept); otherwise the next tick comes at next_t
                if not self._wake.wait(max(0.0, next_t + period - time.monotonic())):
                    next_t += period
            else:
                next_t += period
                delay = next_t - time.monotonic()
                if self.sim_time:
                    # a loop running behind must still yield: its back-to-back catch-up steps would
                    # otherwise hold the GIL while the DDS listener has the queued LowStates, and
                    # sim_stale_confirm_steps would count one look three times
                    delay = max(delay, 0.001)
                if delay > 0:
                    time.sleep(delay)
            if time.monotonic() - next_t > 0.1:
                next_t = time.monotonic()
        self._shutdown_damping()

    def _shutdown_damping(self) -> None:
        """Leave the robot damped, not holding a stale pose, when the bridge exits."""
        if self.mode_machine is None:
            return
        with self._lock:
            if self.sm.mode not in (Mode.ZERO_TORQUE, Mode.ESTOP):
                self.sm._go(Mode.DAMPING, "bridge shutting down", self.now())
        t_end = time.monotonic() + float(self.p["shutdown_damping_s"])
        while time.monotonic() < t_end:
            with self._lock:
                cmd = self.sm.command(self.now())
            try:
                self._send(cmd)
            except Exception:
                break
            time.sleep(1.0 / float(self.p["rate_hz"]))


def set_mode_client(request: str, timeout: float = 10.0) -> int:
    """``pd_bridge --set-mode stand``: call /pd_bridge/set_mode once and print the answer."""
    import rclpy

    from twist_msgs.srv import SetMode

    names = {"enable": 0, "stand": 1, "policy": 2, "damp": 3, "estop": 4, "reset": 5, "zero_torque": 6}
    if request.lower() not in names:
        print(f"unknown mode request {request!r}; one of {', '.join(names)}", file=sys.stderr)
        return 2
    rclpy.init()
    node = rclpy.create_node("pd_bridge_set_mode")
    try:
        cli = node.create_client(SetMode, "/pd_bridge/set_mode")
        if not cli.wait_for_service(timeout_sec=timeout):
            print(
                "/pd_bridge/set_mode not available (is pd_bridge running on this ROS_DOMAIN_ID?)",
                file=sys.stderr,
            )
            return 1
        fut = cli.call_async(SetMode.Request(request=names[request.lower()]))
        rclpy.spin_until_future_complete(node, fut, timeout_sec=timeout)
        r = fut.result()
        if r is None:
            print("no answer from pd_bridge", file=sys.stderr)
            return 1
        print(f"{'OK' if r.success else 'REFUSED'}: {r.message} (mode {Mode(r.mode).name})")
        return 0 if r.success else 3
    finally:
        node.destroy_node()
        rclpy.shutdown()


def hold_pose_client(rate_hz: float = 50.0) -> int:
    """``pd_bridge --hold-pose``: publish the default pose on /joint_targets until stopped.

    A stand-in for the policy (demos, checks): kill it and the bridge drops POLICY to DAMPING.
    """
    import rclpy

    from twist_msgs.msg import JointTargets

    rclpy.init()
    node = rclpy.create_node("hold_pose")
    pub = node.create_publisher(JointTargets, "/joint_targets", 10)
    stop = threading.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda *_: stop.set())
    print(f"publishing the default pose on /joint_targets at {rate_hz:.0f} Hz (Ctrl-C to stop)", flush=True)
    while not stop.is_set():
        m = JointTargets()
        m.header.stamp = node.get_clock().now().to_msg()
        m.joint_names = list(robot.G1_JOINT_NAMES)
        m.position = robot.DEFAULT_POSITION.tolist()
        pub.publish(m)
        stop.wait(1.0 / rate_hz)
    node.destroy_node()
    rclpy.shutdown()
    return 0


def main(argv: list[str] | None = None) -> int:
    import rclpy

    argv = sys.argv if argv is None else argv
    if len(argv) >= 3 and argv[1] == "--set-mode":
        return set_mode_client(argv[2])
    if len(argv) >= 2 and argv[1] == "--hold-pose":
        return hold_pose_client()
    rclpy.init(args=argv)
    node = rclpy.create_node("pd_bridge")
    try:
        params = declare_params(node, PARAMS)
        params["use_sim_time"] = bool(node.get_parameter("use_sim_time").value)
        errs = check_params(params)
    except ValueError as e:
        errs = [str(e)]
    if errs:
        for e in errs:
            node.get_logger().error(e)
        node.destroy_node()
        rclpy.shutdown()
        return 2
    try:
        bridge = PdBridge(node, params)
    except Exception as e:
        node.get_logger().error(f"pd_bridge cannot start: {e}")
        node.destroy_node()
        rclpy.shutdown()
        return 1
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda *_: bridge.stop())
    with spinning_in_background(node):
        bridge.run()
    return 0


if __name__ == "__main__":
    np.set_printoptions(precision=4)
    sys.exit(main())
