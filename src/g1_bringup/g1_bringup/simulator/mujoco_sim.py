"""MuJoCo G1 simulator speaking the robot's own protocol (``rt/lowcmd`` in, ``rt/lowstate`` out).

Run: ``install/lib/g1_bringup/mujoco_sim [--fast] [--viewer] [--duration S] [--ros-args --params-file
src/g1_bringup/config/mujoco_sim.yaml]``. The physics/PD/band core is :mod:`g1_bringup.simulator.sim_core`;
this module is the thin DDS + ROS shell around it:

* DDS (unitree_sdk2py domain set-up, default domain 1 on ``lo``): takes ``rt/lowcmd`` (CRC checked;
  bad CRC counted and ignored), publishes ``rt/lowstate`` at ``state_rate_hz`` with tick,
  mode_machine and CRC. Until the first valid LowCmd the motors get zero torque; afterwards the
  last command is held (as the motor drivers do), or, with ``lowcmd_timeout`` > 0, damped once no
  LowCmd arrived for that long (an emulated robot-side watchdog, see :mod:`g1_bringup.simulator.sim_core`;
  logged once per silence, ``reserve[0]`` of LowState flags it).
* DDS RPC: the robot's ``motion_switcher`` service, so Unitree's own low-level examples run
  unmodified (they release the active controller before publishing LowCmd): it reports
  ``motion_switcher_mode`` (``ai``) until ``ReleaseMode``, see :mod:`g1_bringup.robot_api`.
* Simulated time: ``/clock`` (rosgraph_msgs/Clock, the physics time) at ``clock_rate_hz`` and at
  every control-period boundary, so nodes run with ``use_sim_time`` count time the simulator lived
  through; LowState ``tick`` is the same time in ms. ``/odom`` and ``/tf`` carry it as their stamp.
* Lockstep (``lockstep: true``): at every ``lockstep_period`` boundary the simulator waits until a
  LowCmd stamped for that boundary arrived (LowCmd ``reserve[0]`` = stamp in ms + 1, written by
  pd_bridge with ``robot: sim``; an unstamped LowCmd, e.g. from Unitree's own examples, counts as
  current), and applied for the whole period. After ``lockstep_timeout`` s of wall time without
  one it advances anyway with the last command, logs it (at most once a second) and counts it
  (``lockstep_timeouts`` in /sim/status). ``lockstep_slack`` > 0 lets the controller lag by that
  much simulated time: at boundary t the simulator waits only for a LowCmd for t - slack, so the
  chain computes while physics runs on (near real time on a loaded machine, commands at most
  slack + one period old, so the bridge's 85 ms target watchdog cannot trip on the simulator
  running ahead), at the price of run-to-run repeatability (the default 0 keeps it).
  Until the first LowCmd the simulation holds at t = 0 (LowState and /clock repeated every 20 ms
  of wall time), so every run starts from the same state. See docs/sim_time.md.
* Priority: when the controller runs on this simulator's ``/clock`` (``controller_on_sim_time``,
  set by the sim graph) every thread of the simulator runs at nice +10 (``nice``, -1 = this auto;
  ``--nice N``), so the controller wins a contested core as it would on the robot, and a busy
  machine slows the simulation down instead of starving the chain. On wall time it stays at 0: a
  starved simulator would make LowState late and trip the bridge.
* ROS: ground truth ``/odom`` (nav_msgs/Odometry, pelvis in ``odom``), ``/tf`` when ``tf2_msgs`` is
  importable (otherwise logged once), ``/sim/status`` (std_msgs/String, JSON counters, 2 Hz), and
  ``/sim/elastic_band`` (std_msgs/Bool) to switch the band at run time.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import signal
import sys
import threading
import time

import numpy as np

from g1_bringup.simulator.sim_core import SimConfig, SimCore, command_from_lowcmd
from twist_controller.node_main import spinning_in_background
from twist_controller.stamps import time_msg_ns

PARAMS = {
    "dds_domain": 1,
    "network_interface": "lo",
    "state_rate_hz": 500.0,
    "dt": 0.002,
    "integrator": "implicitfast",
    "realtime": True,
    "elastic_band": True,
    "band_stiffness": 2000.0,
    "band_damping": 300.0,
    "band_lift": 0.03,
    "band_auto_release_s": 0.0,
    "band_release_after": "stand",  # or "policy": count from the bridge's first POLICY (/controller_state)
    "lowcmd_timeout": 0.0,  # s, > 0: damp when no LowCmd arrived for this long (0 = hold the last)
    "push_duration_s": 0.2,  # s each /sim/push force (geometry_msgs/Vector3, N, world frame) lasts
    "mode_machine": 5,
    "motion_switcher": True,  # serve the robot's motion_switcher RPC (g1_bringup.robot_api)
    "motion_switcher_mode": "ai",  # controller it reports active at start ("" = released)
    "odom_rate_hz": 50.0,
    "status_rate_hz": 2.0,
    "odom_frame": "odom",
    "base_frame": "pelvis",
    "viewer": False,
    "duration": 0.0,  # s of simulated time, 0 = run until stopped
    "clock_rate_hz": 50.0,  # /clock (simulated time) rate, one per 20 ms control period; 0 = no /clock
    "lockstep": False,  # advance a control period only when its LowCmd arrived (docs/sim_time.md)
    "lockstep_period": 0.02,  # s of simulated time per lockstep wait (the 50 Hz control period)
    "lockstep_timeout": 2.0,  # s of wall time to wait for a period's LowCmd before advancing anyway
    # s of simulated time the controller may lag: at boundary t wait for a LowCmd for t - slack (0 =
    # strict, the same trajectory every run; > 0 = the chain computes while physics runs on)
    "lockstep_slack": 0.0,
    # niceness added to every thread of the simulator; -1 = auto: SIM_TIME_NICE when the controller
    # runs on this simulator's /clock (controller_on_sim_time), else 0. The simulator stands in for
    # the robot's own hardware, so the controller should win a contested core, as it would on the
    # robot; on simulated time a starved simulator only slows the run down, on wall time it makes
    # LowState late and trips the bridge (measured, docs/sim_time.md), hence the auto
    "nice": -1,
    "controller_on_sim_time": False,  # the sim graph sets it from its use_sim_time
}
SIM_TIME_NICE = 10

LOWCMD_STAMP_NONE = 0  # LowCmd reserve[0]: 0 = unstamped, else lockstep stamp in ms + 1


def sim_time_ns(t: float) -> int:
    """Simulated time ``t`` (s, MuJoCo's ``data.time``) as integer ns for /clock and stamps, rounded to
    the microsecond. ``data.time`` is a float sum of timesteps: after 2^17 steps of 2 ms (257 s) its
    error passes half a nanosecond, so rounding to ns made /clock 1 ns off the LowState tick (whole
    ms); the policy then waited for a state 1 ns newer that lockstep never produced (a 2 s lockstep
    timeout every few seconds after ~4 minutes)."""
    return round(t * 1e6) * 1000


def nice_increment(nice: int, controller_on_sim_time: bool) -> int:
    """The niceness to add: ``nice`` when set (>= 0), else (auto) SIM_TIME_NICE when the controller
    runs on the simulator's clock and 0 when it runs on wall time."""
    if nice >= 0:
        return nice
    return SIM_TIME_NICE if controller_on_sim_time else 0


def lower_priority(increment: int) -> int | None:
    """Raise the niceness of every thread of this process by ``increment`` (Linux sets niceness per
    thread, and rclpy and DDS have started theirs by now); threads started later inherit it. Any
    user may lower their own priority. Returns the main thread's new niceness, None when the
    platform refuses (the simulator then runs at the priority it has)."""
    if increment <= 0:
        return os.getpriority(os.PRIO_PROCESS, 0)
    try:
        tids = [int(t) for t in os.listdir("/proc/self/task")]
    except OSError:
        tids = [0]
    for tid in tids:
        try:
            os.setpriority(os.PRIO_PROCESS, tid, min(19, os.getpriority(os.PRIO_PROCESS, tid) + increment))
        except ProcessLookupError:  # the thread ended since the listing
            continue
        except (OSError, AttributeError):
            return None
    return os.getpriority(os.PRIO_PROCESS, 0)


def lowcmd_stamp_ms(msg) -> int | None:
    """The simulated time (ms) a LowCmd was computed for, from ``reserve[0]``; None when unstamped."""
    v = int(msg.get("reserve")[0])
    return None if v == LOWCMD_STAMP_NONE else v - 1


class SimRunner:
    """Owns the core, the DDS endpoint and the pacing loop; ROS publishing is optional (``node``)."""

    def __init__(self, params: dict, node=None, log=print):
        self.p = params
        self.log = log
        self.node = node
        self.core = SimCore(
            SimConfig(
                dt=float(params["dt"]),
                integrator=str(params["integrator"]),
                elastic_band=bool(params["elastic_band"]),
                band_stiffness=float(params["band_stiffness"]),
                band_damping=float(params["band_damping"]),
                band_lift=float(params["band_lift"]),
                band_auto_release_s=float(params["band_auto_release_s"]),
                band_release_after=str(params["band_release_after"]),
                lowcmd_timeout=float(params["lowcmd_timeout"]),
                mode_machine=int(params["mode_machine"]),
            )
        )
        self._lock = threading.Lock()
        self._cmd_arrived = threading.Condition(self._lock)
        self._cmd_stamp_ms: int | None = None  # newest LowCmd's stamp (None: unstamped = current)
        self._cmd_seen = False
        self.lockstep_timeouts = 0
        self.lockstep_waits = 0
        self.lockstep_wait_s = 0.0
        self._last_lockstep_log = -1e9
        self._clock_pub = None
        self._pending_cmd = None
        self._pending_band: bool | None = None
        self._pending_push: tuple[float, float, float] | None = None
        self.cmd_received = 0
        self.overruns = 0
        self.states_sent = 0
        self._stop = threading.Event()
        self._wall0 = time.perf_counter()
        from twist_controller import unitree_io

        self._io = unitree_io
        self._state_msg = unitree_io.LowState()
        self.endpoint = unitree_io.DdsEndpoint(
            "robot", int(params["dds_domain"]), str(params["network_interface"]) or None, self._on_lowcmd
        )
        self.switcher = None
        if params["motion_switcher"]:
            from g1_bringup.robot_api.dds_service import MotionSwitcherService
            from g1_bringup.robot_api.switcher_core import SwitcherConfig

            self.switcher = MotionSwitcherService(SwitcherConfig(str(params["motion_switcher_mode"])), log)
        self._odom_pub = self._tf_pub = None
        if node is not None:
            self._setup_ros(node)

    # ------------------------------------------------------------------ inputs
    def _on_lowcmd(self, msg) -> None:  # DDS listener thread; CRC already checked
        cmd = command_from_lowcmd(msg)
        stamp = lowcmd_stamp_ms(msg)
        with self._lock:
            self.cmd_received += 1
            self._cmd_seen = True
            if stamp is not None and self._cmd_stamp_ms is not None and stamp < self._cmd_stamp_ms:
                return  # an answer to an older period overtaken by a newer one (two writer threads)
            self._pending_cmd = cmd
            self._cmd_stamp_ms = stamp
            self._cmd_arrived.notify_all()

    def set_band(self, on: bool) -> None:
        with self._lock:
            self._pending_band = bool(on)

    def _on_push(self, m) -> None:
        """/sim/push: a force (N, world frame) at the pelvis for push_duration_s (evaluation push tests)."""
        f = (float(m.x), float(m.y), float(m.z))
        if not all(np.isfinite(f)) or max(abs(v) for v in f) > 2000.0:
            self.log(f"/sim/push {f} ignored: not finite or above 2000 N")
            return
        with self._lock:
            self._pending_push = f

    def stop(self) -> None:
        self._stop.set()
        with self._lock:
            self._cmd_arrived.notify_all()

    # ------------------------------------------------------------------ ROS
    def _setup_ros(self, node) -> None:
        from nav_msgs.msg import Odometry
        from std_msgs.msg import Bool, String

        self._Odometry = Odometry
        self._String = String
        self._odom_pub = node.create_publisher(Odometry, "/odom", 10)
        if float(self.p["clock_rate_hz"]) > 0 or self.p["lockstep"]:
            from rosgraph_msgs.msg import Clock

            self._Clock = Clock
            self._clock_pub = node.create_publisher(Clock, "/clock", 10)
        self._status_pub = node.create_publisher(String, "/sim/status", 10)
        node.create_subscription(Bool, "/sim/elastic_band", lambda m: self.set_band(m.data), 10)
        from geometry_msgs.msg import Vector3

        node.create_subscription(Vector3, "/sim/push", self._on_push, 10)
        if self.p["band_release_after"] == "policy":
            from twist_msgs.msg import ControllerState

            node.create_subscription(ControllerState, "/controller_state", self._on_controller_state, 10)
        try:
            from geometry_msgs.msg import TransformStamped
            from tf2_msgs.msg import TFMessage

            self._TF, self._TransformStamped = TFMessage, TransformStamped
            self._tf_pub = node.create_publisher(TFMessage, "/tf", 10)
        except ImportError:
            self.log("tf2_msgs is not installed: /tf is not published (ground truth is on /odom)")

    def _on_controller_state(self, msg) -> None:
        if msg.mode_name == "POLICY":
            with self._lock:
                self.core.note_policy_started()

    def _publish_ground_truth(self) -> None:
        gt = self.core.ground_truth()
        stamp = self._sim_stamp()
        o = self._Odometry()
        o.header.stamp = stamp
        o.header.frame_id = self.p["odom_frame"]
        o.child_frame_id = self.p["base_frame"]
        pos, quat = gt["position"], gt["quaternion"]
        o.pose.pose.position.x, o.pose.pose.position.y, o.pose.pose.position.z = (float(v) for v in pos)
        ori = o.pose.pose.orientation
        ori.w, ori.x, ori.y, ori.z = (float(v) for v in quat)
        lin, ang = o.twist.twist.linear, o.twist.twist.angular
        lin.x, lin.y, lin.z = (float(v) for v in gt["linear_body"])
        ang.x, ang.y, ang.z = (float(v) for v in gt["angular_body"])
        self._odom_pub.publish(o)
        if self._tf_pub is not None:
            t = self._TransformStamped()
            t.header = o.header
            t.child_frame_id = o.child_frame_id
            t.transform.translation.x, t.transform.translation.y, t.transform.translation.z = (
                float(v) for v in pos
            )
            t.transform.rotation = ori
            self._tf_pub.publish(self._TF(transforms=[t]))

    def _sim_stamp(self):
        return time_msg_ns(sim_time_ns(self.core.time))

    def _publish_clock(self) -> None:
        if self._clock_pub is not None:
            self._clock_pub.publish(self._Clock(clock=self._sim_stamp()))

    def _lockstep_wait(self, t_ms: int, timeout: float) -> None:
        """Block until a LowCmd for simulated time ``t_ms`` (or later, or unstamped) arrived."""
        t0 = time.perf_counter()
        with self._lock:
            ok = self._cmd_arrived.wait_for(
                lambda: self._stop.is_set() or self._cmd_stamp_ms is None or self._cmd_stamp_ms >= t_ms,
                timeout,
            )
        waited = time.perf_counter() - t0
        self.lockstep_waits += 1
        self.lockstep_wait_s += waited
        if not ok:
            self.lockstep_timeouts += 1
            if t0 - self._last_lockstep_log >= 1.0:
                self._last_lockstep_log = t0
                self.log(
                    f"lockstep: no LowCmd for t = {t_ms / 1e3:.3f} s within {timeout:.1f} s of wall time "
                    f"(newest stamp {self._cmd_stamp_ms} ms): advancing with the last command "
                    f"({self.lockstep_timeouts} timeouts so far)"
                )

    def _hold_until_first_lowcmd(self, msg) -> None:
        """Lockstep start: repeat t = 0 (LowState, /clock) every 20 ms until a controller speaks."""
        self.log("lockstep: holding at t = 0 until the first LowCmd")
        while not self._stop.is_set():
            with self._lock:
                if self._cmd_seen:
                    break
            self.core.fill_lowstate(msg)
            try:
                self.endpoint.write(msg.finalize())
                self.states_sent += 1
            except RuntimeError as e:
                self.log(f"LowState write failed: {e}")
            self._publish_clock()
            with self._lock:
                self._cmd_arrived.wait_for(lambda: self._cmd_seen or self._stop.is_set(), 0.02)
        self.log("lockstep: first LowCmd arrived, simulating")

    def status(self) -> dict:
        wall = time.perf_counter() - self._wall0
        return {
            "sim_time": round(self.core.time, 4),
            "wall_time": round(wall, 3),
            "rtf": round(self.core.time / wall, 3) if wall > 0 else 0.0,
            "lowcmd_received": self.endpoint.received,
            "lowcmd_bad_crc": self.endpoint.bad_crc,
            "lowcmd_malformed": self.endpoint.malformed,
            "lowstate_sent": self.states_sent,
            "overruns": self.overruns,
            "elastic_band": self.core.band_enabled,
            "lowcmd_watchdog_active": self.core.watchdog_active,
            "lowcmd_watchdog_trips": self.core.watchdog_trips,
            "pelvis_height": round(self.core.pelvis_height, 4),
            "motion_switcher": self.switcher.mode if self.switcher is not None else None,
            "lockstep": bool(self.p["lockstep"]),
            "lockstep_slack": float(self.p["lockstep_slack"]),
            "lockstep_timeouts": self.lockstep_timeouts,
            "lockstep_wait_s": round(self.lockstep_wait_s, 3),
        }

    # ------------------------------------------------------------------ loop
    def run(self) -> None:
        p = self.p
        dt = float(p["dt"])
        period = 1.0 / float(p["state_rate_hz"])
        nstep = max(1, round(period / dt))
        period = nstep * dt  # simulated time per published LowState
        realtime = bool(p["realtime"])
        duration = float(p["duration"])
        odom_every = max(1, round(1.0 / (float(p["odom_rate_hz"]) * period))) if p["odom_rate_hz"] > 0 else 0
        status_every = max(1, round(1.0 / (float(p["status_rate_hz"]) * period)))
        clock_hz = float(p["clock_rate_hz"])
        clock_every = max(1, round(1.0 / (clock_hz * period))) if clock_hz > 0 else 0
        lockstep = bool(p["lockstep"])
        ls_every = max(1, round(float(p["lockstep_period"]) / period))  # LowState periods per wait
        ls_timeout = float(p["lockstep_timeout"])
        ls_slack_ms = max(0, round(float(p["lockstep_slack"]) * 1000))
        viewer = None
        if p["viewer"] and not (os.environ.get("DISPLAY") or os.environ.get("WAYLAND_DISPLAY")):
            self.log("--viewer needs a display (DISPLAY/WAYLAND_DISPLAY unset): running headless")
        elif p["viewer"]:
            try:
                import mujoco.viewer

                viewer = mujoco.viewer.launch_passive(self.core.model, self.core.data)
            except Exception as e:  # no display, no GL: keep simulating headless
                self.log(f"MuJoCo viewer unavailable ({e}); running headless")
        self.log(
            f"mujoco_sim: domain {p['dds_domain']} on {p['network_interface']!r}, "
            f"LowState {1 / period:.0f} Hz, "
            f"dt {dt}, {'real time' if realtime else 'as fast as possible'}, band {p['elastic_band']}, "
            f"/clock {'%.0f Hz' % (1 / (clock_every * period)) if clock_every else 'off'}"
            + (
                f", lockstep every {ls_every * period * 1e3:.0f} ms"
                f" (slack {ls_slack_ms} ms, timeout {ls_timeout} s)"
                if lockstep
                else ""
            )
        )
        core, msg, ep = self.core, self._state_msg, self.endpoint
        if lockstep:
            self._hold_until_first_lowcmd(msg)
        self._wall0 = time.perf_counter()
        next_t = self._wall0
        i = 0
        while not self._stop.is_set():
            # lockstep: a command is applied only at a period boundary (the one it was waited for),
            # held for the whole period, so LowCmds written between boundaries change nothing
            take_cmd = not lockstep or i % ls_every == 0
            with self._lock:
                if take_cmd:
                    cmd, self._pending_cmd = self._pending_cmd, None
                else:
                    cmd = None
                band, self._pending_band = self._pending_band, None
                push, self._pending_push = self._pending_push, None
            if cmd is not None:
                if self.switcher is not None:
                    self.switcher.note_lowcmd()
                if core.watchdog_active:
                    self.log(f"LowCmd resumed after {core.lowcmd_age() * 1e3:.0f} ms: watchdog damping ends")
                core.set_command(cmd)
            if push is not None:
                core.push(push, float(p["push_duration_s"]))
                self.log(f"push {np.round(push, 1).tolist()} N for {p['push_duration_s']} s")
            if band is not None:
                core.set_band(band)
                self.log(f"elastic band {'on' if band else 'off'}")
            trips = core.watchdog_trips
            if core.step(nstep):
                self.log("elastic band released automatically (band_auto_release_s)")
            if core.watchdog_trips != trips:
                self.log(
                    f"no LowCmd for {core.lowcmd_age() * 1e3:.0f} ms (lowcmd_timeout "
                    f"{core.cfg.lowcmd_timeout * 1e3:.0f} ms): damping (kp 0, the bridge's DAMPING kd) "
                    "until LowCmd resumes"
                )
            core.fill_lowstate(msg)
            try:
                ep.write(msg.finalize())
                self.states_sent += 1
            except RuntimeError as e:
                self.log(f"LowState write failed: {e}")
            i += 1
            boundary = lockstep and i % ls_every == 0
            if self.node is not None:
                if (clock_every and i % clock_every == 0) or boundary:
                    self._publish_clock()
                if odom_every and i % odom_every == 0:
                    self._publish_ground_truth()
                if i % status_every == 0:
                    self._status_pub.publish(self._String(data=json.dumps(self.status())))
            if viewer is not None and i % max(1, round(1 / (30 * period))) == 0:
                if not viewer.is_running():
                    break
                viewer.sync()
            if duration > 0 and core.time >= duration:
                break
            if boundary:
                t_wait = time.perf_counter()
                self._lockstep_wait(round(core.time * 1000) - ls_slack_ms, ls_timeout)
                next_t += time.perf_counter() - t_wait  # waiting for the controller is not lateness
            if realtime:
                next_t += period
                delay = next_t - time.perf_counter()
                if delay > 0:
                    time.sleep(delay)
                elif delay < -0.1:  # more than 100 ms behind: resynchronise instead of bursting
                    self.overruns += 1
                    next_t = time.perf_counter()
        if viewer is not None:
            viewer.close()


def _ros_params(node) -> dict:
    from twist_controller.pd_bridge import declare_params

    return declare_params(node, PARAMS)


def band_client(on: bool) -> int:
    """``mujoco_sim --band off``: switch the running simulator's elastic band and exit."""
    import rclpy
    from std_msgs.msg import Bool

    rclpy.init()
    node = rclpy.create_node("mujoco_sim_band")
    pub = node.create_publisher(Bool, "/sim/elastic_band", 10)
    t_end = time.monotonic() + 5.0
    while pub.get_subscription_count() == 0 and time.monotonic() < t_end:
        time.sleep(0.05)
    found = pub.get_subscription_count() > 0
    if found:
        pub.publish(Bool(data=on))
        time.sleep(0.3)
    node.destroy_node()
    rclpy.shutdown()
    print(f"elastic band {'on' if on else 'off'}" if found else "no simulator found on /sim/elastic_band")
    return 0 if found else 1


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if len(argv) >= 2 and argv[0] == "--band":
        return band_client(argv[1].lower() in ("on", "true", "1"))
    ap = argparse.ArgumentParser(prog="mujoco_sim", description=__doc__.splitlines()[0])
    ap.add_argument("--fast", action="store_true", help="run as fast as possible (no real-time pacing)")
    ap.add_argument("--viewer", action="store_true", help="open the MuJoCo viewer")
    ap.add_argument("--no-band", action="store_true", help="start with the elastic band off")
    ap.add_argument("--duration", type=float, default=None, help="stop after this much simulated time (s)")
    ap.add_argument("--domain", type=int, default=None, help="DDS domain (default: parameter dds_domain)")
    ap.add_argument("--rate", type=float, default=None, help="LowState rate in Hz")
    ap.add_argument("--no-ros", action="store_true", help="DDS only: no /odom, /tf, /sim/* topics")
    ap.add_argument("--print-status", action="store_true", help="print the final status JSON on exit")
    ap.add_argument(
        "--motion-switcher",
        default=None,
        metavar="MODE",
        help="controller the motion_switcher service reports at start: ai, normal, advanced, '' "
        "(released) or off (no service); default: parameter motion_switcher_mode (ai)",
    )
    ap.add_argument(
        "--nice",
        type=int,
        default=None,
        help="niceness to add to the simulator's threads (default: parameter nice, -1 = auto: 10 when "
        "the controller runs on the simulator's /clock, else 0)",
    )
    args, ros_args = ap.parse_known_args(argv)

    node = None
    if args.no_ros:
        params = dict(PARAMS)
    else:
        import rclpy

        rclpy.init(args=["mujoco_sim", *ros_args])
        node = rclpy.create_node("mujoco_sim")
        try:
            params = _ros_params(node)
        except ValueError as e:
            print(f"mujoco_sim: {e}", file=sys.stderr)
            return 2
    if args.fast:
        params["realtime"] = False
    if args.viewer:
        params["viewer"] = True
    if args.no_band:
        params["elastic_band"] = False
    if args.motion_switcher is not None:
        params["motion_switcher"] = args.motion_switcher != "off"
        params["motion_switcher_mode"] = "" if args.motion_switcher == "off" else args.motion_switcher
    for key, val in (
        ("duration", args.duration),
        ("dds_domain", args.domain),
        ("state_rate_hz", args.rate),
        ("nice", args.nice),
    ):
        if val is not None:
            params[key] = val
    log = node.get_logger().info if node is not None else print
    increment = nice_increment(int(params["nice"]), bool(params["controller_on_sim_time"]))
    nice = lower_priority(increment)
    if nice is None:
        log(f"could not lower the simulator's priority (nice +{increment}): running at normal priority")
    elif increment > 0:
        log(f"simulator at nice {nice}: the controller wins a contested core (parameter nice)")
    try:
        runner = SimRunner(params, node=node, log=log)
    except Exception as e:  # model missing, DDS set-up failed, bad parameter
        print(f"mujoco_sim: cannot start: {e}", file=sys.stderr)
        return 1
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda *_: runner.stop())
    with spinning_in_background(node) if node is not None else contextlib.nullcontext():
        try:
            runner.run()
        except KeyboardInterrupt:
            pass
        finally:
            if args.print_status:
                print(json.dumps(runner.status()), flush=True)
    return 0


if __name__ == "__main__":
    np.set_printoptions(precision=4)
    sys.exit(main())
