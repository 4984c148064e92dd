"""Graph-mode evaluation episodes in lockstep (``eval_stack --lockstep``, the default).

The stack runs with ``lockstep:=true`` (docs/sim_time.md): the simulator holds at t = 0 until the
whole chain is up, then advances each 20 ms control period only once the LowCmd computed for it has
arrived. Everything an episode depends on is then placed in simulated time, not in wall time:

* the elastic band is released by the simulator itself at ``release_s`` of simulated time
  (``band_release_s``; the stand-up starts at t = 0, so that is an absolute time);
* the commands are ``TwistStamped`` messages stamped on the 20 ms grid and sent ahead
  (``LEAD_S``); cmg_node applies each at its stamp (``cmd_vel_stamped:=true``), so the same tick
  sees the same command in every run;
* the rows come from ``/odom`` samples by their stamps (one per control boundary), the joint
  error from ``/joint_states`` and ``/reference_motion`` of the same stamp, and a bridge leaving
  POLICY counts at the stamp of its ``/controller_state``.

So machine load changes how long an episode takes, not its result, and the same seed gives the
same numbers twice (tests/test_eval_stack.py). Pushes (``--push-force``) are published when the
monitor sees their time, so episodes with pushes are not bit-reproducible.
"""

from __future__ import annotations

import math
import re
import time
from pathlib import Path

import numpy as np

from twist_controller.stamps import stamp_ns

GRID_S = 0.02  # the control period; commands and rows live on this grid
LEAD_S = 0.5  # commands are sent this far ahead of simulated time (cmg_node queues them)


class LockstepRecorder:
    """Attached to eval_stack's Monitor: /clock, and every /odom, /joint_states, /reference_motion
    and /controller_state by stamp."""

    def __init__(self, mon):
        from geometry_msgs.msg import TwistStamped
        from nav_msgs.msg import Odometry
        from rosgraph_msgs.msg import Clock
        from sensor_msgs.msg import JointState

        from twist_msgs.msg import ControllerState, ReferenceMotion

        n = mon.node
        self.TwistStamped = TwistStamped
        self.pub_cmd = n.create_publisher(TwistStamped, "/cmd_vel", 200)
        n.create_subscription(Clock, "/clock", self._on_clock, 10)
        n.create_subscription(Odometry, "/odom", self._on_odom, 500)
        n.create_subscription(JointState, "/joint_states", self._on_js, 1000)
        n.create_subscription(ReferenceMotion, "/reference_motion", self._on_ref, 500)
        n.create_subscription(ControllerState, "/controller_state", self._on_cs, 100)
        self.reset()

    def drain(self, mon, quiet_s: float = 0.1, limit_s: float = 5.0) -> None:
        """Run the callbacks still queued from the previous episode's (stopped) stack: its /clock
        and stamped samples would otherwise land in the next episode (its /clock at 25 s let
        every later episode skip its start-up)."""
        end = time.monotonic() + limit_s
        while time.monotonic() < end:
            before = self.callbacks
            mon.spin(quiet_s)
            if self.callbacks == before:
                break

    def reset(self) -> None:
        self.callbacks = 0
        # a new simulator starts at t = 0 and holds there until the chain is up: /clock beyond 1 s
        # before that is a straggler from the previous episode
        self.fresh = False
        self.sim_t = 0.0
        self.odom: dict[int, tuple] = {}
        self.q: dict[int, np.ndarray] = {}
        self.q_ref: dict[int, np.ndarray] = {}
        self.modes: list[tuple[int, str, str]] = []  # (stamp ns, mode, last transition)
        self.tau: dict[int, np.ndarray] = {}  # |effort| by stamp

    def _on_clock(self, m) -> None:
        self.callbacks += 1
        t = stamp_ns(m.clock) * 1e-9
        if not self.fresh:
            if t > 1.0:
                return
            self.fresh = True
        self.sim_t = max(self.sim_t, t)

    def _on_odom(self, m) -> None:
        self.callbacks += 1
        if not self.fresh:
            return
        p, o = m.pose.pose.position, m.pose.pose.orientation
        lv, av = m.twist.twist.linear, m.twist.twist.angular
        self.odom[stamp_ns(m.header.stamp)] = (
            (p.x, p.y, p.z),
            (o.w, o.x, o.y, o.z),
            (lv.x, lv.y, lv.z),
            (av.x, av.y, av.z),
        )

    def _on_js(self, m) -> None:
        self.callbacks += 1
        if not self.fresh:
            return
        ns = stamp_ns(m.header.stamp)
        self.q[ns] = np.asarray(m.position, dtype=float)
        if len(m.effort) == len(m.position) and len(m.effort):
            self.tau[ns] = np.abs(np.asarray(m.effort, dtype=float))

    def tau_peak(self, t0: float, t1: float):
        """Per-joint peak |torque| over the joint states of the control boundaries in [t0, t1] (the
        bridge republishes every boundary state; which states between boundaries it catches
        varies from run to run). None: no efforts."""
        grid = round(GRID_S * 1e9)
        taus = [v for k, v in self.tau.items() if t0 * 1e9 <= k <= t1 * 1e9 and k % grid == 0]
        return np.max(taus, axis=0) if taus else None

    def _on_ref(self, m) -> None:
        self.callbacks += 1
        if not self.fresh:
            return
        if m.frames:
            self.q_ref[stamp_ns(m.header.stamp)] = np.asarray(m.frames[0].joint_positions, dtype=float)

    def _on_cs(self, m) -> None:
        self.callbacks += 1
        if not self.fresh:
            return
        if not self.modes or self.modes[-1][1] != m.mode_name:
            self.modes.append((stamp_ns(m.header.stamp), m.mode_name, m.last_transition))

    def send_at(self, t: float, vx: float, vy: float, wz: float) -> None:
        m = self.TwistStamped()
        ns = round(t * 1e9)
        m.header.stamp.sec, m.header.stamp.nanosec = ns // 1_000_000_000, ns % 1_000_000_000
        m.twist.linear.x, m.twist.linear.y, m.twist.angular.z = float(vx), float(vy), float(wz)
        self.pub_cmd.publish(m)


def release_time(hold: float, stand_s: float = 2.0, margin: float = 0.5) -> float:
    """Simulated time of the band release: stand-up (from t = 0) + a margin to enter POLICY + hold,
    on the 20 ms grid."""
    return round((stand_s + margin + hold) / GRID_S) * GRID_S


def stack_args(release_s: float) -> list[str]:
    return [
        "lockstep:=true",
        "cmd_vel_stamped:=true",
        f"band_release_s:={release_s:.2f}",
        "band_release_after:=stand",  # an absolute simulated time: the stand-up starts at t = 0
    ]


def run_episode(es, mon, idx: int, segs: list[dict], args, out: Path, controller: str) -> dict:
    """eval_stack's graph-mode episode in lockstep (``es``: the eval_stack module, for the stack
    command, stop_stack and the geometry helpers). Same result fields as its wall-clock episode."""

    rec = mon.lockstep
    rec.drain(mon)
    rec.reset()
    mon.reset()
    dds = args.dds_domain
    cmd = [str(es.STACK), "--teleop", "none", "--no-status", "--duration", "0", f"dds_domain:={dds}"]
    cmd += ["foxglove:=false", f"controller:={controller}", *stack_args(release_time(args.hold))]
    if args.policy and controller == "student":
        cmd.append(f"policy_path:={args.policy}")
    if args.cmg:
        cmd.append(f"cmg_model_path:={args.cmg}")
    log_path = out / f"stack_{controller}_{idx:03d}.log"
    push_rng = np.random.default_rng(args.seed * 1000 + idx + 7919)
    ep: dict = {"episode": idx, "controller": controller, "commands": segs, "error": None, "lockstep": True}
    t_start = time.monotonic()
    with open(log_path, "w") as log:
        proc = es.subprocess.Popen(
            cmd, stdout=log, stderr=es.subprocess.STDOUT, start_new_session=True, cwd=es.ROOT
        )
        try:
            res = _phases(mon, rec, proc, segs, args, push_rng, es.quat_rotate, es.yaw_of)
            ep["startup_s"] = round(time.monotonic() - t_start, 2)
            ep["t_release_sim_s"] = res["t_release"]
            ep["startup_rearms"] = 0  # a lockstep start-up cannot trip the watchdogs
            ep["mode_before_release"] = res["mode_before"]
            ep["pelvis_before_release"] = res["pelvis_before"]
            if mon.status:
                ep["sim_rtf"] = mon.status.get("rtf")
                ep["lockstep_timeouts"] = mon.status.get("lockstep_timeouts")
        except Exception as e:  # recorded; the episode counts as not evaluated
            ep["error"] = str(e)
        finally:
            ep["stack_exit_code"] = es.stop_stack(proc)
    if ep["error"]:
        ep["log_tail"] = log_path.read_text()[-1500:]
        return ep
    a = res["rows"]
    tau = rec.tau_peak(res["t_release"], res["t_release"] + (float(a[-1, 0]) if len(a) else 0.0))
    return es.finish_episode(ep, a, GRID_S, args.settle, res["fall"], tau, tau is not None)


def _phases(mon, rec: LockstepRecorder, proc, segs, args, push_rng, quat_rotate, yaw_of) -> dict:
    """Start-up, hold and commands in simulated time; returns rows and the fall (raises on start-up
    failures)."""
    from g1_bringup.evaluation.protocol import COLUMNS

    t_rel = release_time(args.hold)
    t_end = t_rel + args.duration
    grid = 0  # next grid index to send (time grid * GRID_S)

    def seg_at(t: float) -> dict:
        for s in segs:
            if s["t0"] <= t < s["t1"]:
                return s
        return segs[-1]

    def command_for(g: float) -> tuple[float, float, float]:
        if g < t_rel:
            return 0.0, 0.0, 0.0
        s = seg_at(g - t_rel)
        return s["vx"], s["vy"], s["wz"]

    def pump(until_sim: float, wall_timeout: float, what: str) -> None:
        nonlocal grid
        deadline = time.monotonic() + wall_timeout
        next_push = t_rel + args.push_every
        while rec.sim_t < until_sim:
            while grid * GRID_S <= min(rec.sim_t + LEAD_S, t_end + GRID_S):
                rec.send_at(grid * GRID_S, *command_for(grid * GRID_S))
                grid += 1
            if args.push_force > 0 and rec.sim_t >= next_push and rec.sim_t < t_end:
                a = push_rng.uniform(-math.pi, math.pi)
                mon.push(args.push_force * math.cos(a), args.push_force * math.sin(a))
                next_push += args.push_every
            mon.spin(0.005)
            if proc.poll() is not None:
                raise RuntimeError(f"stack exited during {what} (code {proc.returncode})")
            if time.monotonic() > deadline:
                raise RuntimeError(f"{what}: simulated time {rec.sim_t:.2f} s, wanted {until_sim:.2f} s")
            if rec.odom and _fell_pelvis(rec, t_rel, args.fall_height) is not None:
                return

    # 1) the stack comes up; the simulator holds at t = 0 until the chain is ready, then stands up
    pump(2.0, args.startup_timeout, "start-up")
    # 2) POLICY before the release, or the episode is not evaluated
    pump(t_rel - GRID_S, args.startup_timeout, "stand-up and hold")
    wait_cs = time.monotonic() + 10.0  # /controller_state may trail /clock on a loaded machine
    while not any(m == "POLICY" for _, m, _ in rec.modes) and time.monotonic() < wait_cs:
        mon.spin(0.05)
    entered = [ns for ns, m, _ in rec.modes if m == "POLICY"]
    if not entered or entered[0] >= t_rel * 1e9 or rec.modes[-1][1] != "POLICY":
        raise RuntimeError(
            f"not in POLICY before the band release at {t_rel:.2f} s (simulated time {rec.sim_t:.2f} s; "
            f"modes {[(round(ns * 1e-9, 2), m) for ns, m, _ in rec.modes]})"
        )
    mode_before = rec.modes[-1][1]
    # 3) commands on the grid until t_end (or a fall)
    pump(t_end, max(60.0, 20 * args.duration), "episode")
    mon.spin(1.0)  # the samples up to here still in flight (rows need odom, joints and reference)
    before = [k for k in rec.odom if k < t_rel * 1e9]
    pelvis_before = rec.odom[max(before)][0][2] if before else float("nan")
    rows, fall = [], (False, None, None)
    left = next(
        ((ns, mode, why) for ns, mode, why in rec.modes if ns >= t_rel * 1e9 and mode != "POLICY"), None
    )
    for ns in sorted(k for k in rec.odom if t_rel * 1e9 <= k < t_end * 1e9):
        t = ns * 1e-9 - t_rel
        (_, _, pz), quat, vb, wb = rec.odom[ns]
        s = seg_at(t)
        v_world = quat_rotate(*quat, vb)
        yaw = yaw_of(*quat)
        c, sn = math.cos(yaw), math.sin(yaw)
        vh = (c * v_world[0] + sn * v_world[1], -sn * v_world[0] + c * v_world[1])
        wz_world = quat_rotate(*quat, wb)[2]
        q, q_ref = rec.q.get(ns), rec.q_ref.get(ns)
        jerr = float(np.mean(np.abs(q_ref - q))) if q is not None and q_ref is not None else float("nan")
        rows.append((t, s["vx"], s["vy"], s["wz"], vh[0], vh[1], wz_world, pz, jerr, t - s["t0"]))
        if pz < args.fall_height:
            fall = (True, f"pelvis {pz:.2f} m < {args.fall_height} m", t)
            break
        if left is not None and ns >= left[0]:
            # the bridge's reason without its measured value: a trip seen on a state between two
            # boundaries reports that state's value, which varies (the command it causes does not)
            why = re.split(r"[\d(]", left[2].split(": ", 1)[-1])[0].strip()
            fall = (True, f"bridge left POLICY ({why}), pelvis {pz:.2f} m", t)
            break
    a = np.array(rows, dtype=float).reshape(-1, len(COLUMNS))
    return {
        "rows": a,
        "fall": fall,
        "t_release": t_rel,
        "mode_before": mode_before,
        "pelvis_before": pelvis_before,
    }


def _fell_pelvis(rec: LockstepRecorder, t_rel: float, fall_height: float) -> float | None:
    ns = max(rec.odom)
    if ns >= t_rel * 1e9 and rec.odom[ns][0][2] < fall_height:
        return ns * 1e-9
    return None


def describe() -> str:
    return (
        "lockstep (the simulator advances each 20 ms period only once its LowCmd arrived; band release, "
        "commands and samples in simulated time: results do not depend on machine load)"
    )
