#!/usr/bin/env python3
"""Evaluate walking controllers side by side: through the DDS simulator and the full ROS graph, or
directly (the same cores in one process, faster than real time).

Graph mode (default): each episode starts the whole simulated stack fresh
(``install/lib/g1_bringup/stack``: mujoco_sim -> Unitree DDS -> pd_bridge -> policy_node <-
reference_mux <- cmg_node <- /cmd_vel, ``controller:=<name>``), so every episode begins with a
standing, band-held robot. Once the bridge is in POLICY and the policy has held the band-supported
robot for ``--hold`` s, the band is released and the episode's command sequence is published on
/cmd_vel for ``--duration`` s. ``--direct`` plays the same protocol through
``g1_bringup.evaluation.direct`` (CMG, policy runtime, bridge state machine and simulator cores in
one process: no transport latency), for 100-episode statistics and push tests in minutes.

Protocol (``g1_bringup.evaluation.protocol``): episode ``i`` uses the command sequence of seed
``--seed * 1000 + i`` for every controller (same seeds side by side); segments of 2-5 s, ~25 %
standing, the first one standing; moving segments uniform in ``--ranges`` (``trained``: vx
-0.5..1.0 m/s, vy +-0.3, yaw +-0.8 rad/s; ``extended``: vx up to 1.5). Optional pushes
(``--push-force`` N at the pelvis for ``--push-duration`` s, random horizontal direction, every
``--push-every`` s).

Per episode: fall (pelvis below ``--fall-height`` or the bridge leaves POLICY) and its time;
velocity and yaw-rate error while moving, stride-averaged (1 s) and instantaneous, per command bin;
joint error to the reference; torque peaks. Writes ``results.json``, ``report.md`` and
``eval.png`` into ``--out`` (default ``runs/eval/<timestamp>``) and prints the table. Needs the ROS
venv (``source scripts/env.sh``). Graph mode costs real time: each episode costs its duration +
the stack's start-up + the hold.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import signal
import subprocess
import sys
import time
from datetime import UTC, datetime
from functools import partial
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
STACK = ROOT / "install" / "lib" / "g1_bringup" / "stack"
CONTROLLERS = ("student", "expert_fastsac", "expert_ppo")


def yaw_of(qw, qx, qy, qz) -> float:
    return math.atan2(2 * (qw * qz + qx * qy), 1 - 2 * (qy * qy + qz * qz))


def quat_rotate(qw, qx, qy, qz, v) -> np.ndarray:
    """Rotate body vector v into the world frame."""
    u = np.array([qx, qy, qz])
    v = np.asarray(v, dtype=float)
    return v + 2 * np.cross(u, np.cross(u, v) + qw * v)


class Monitor:
    """One rclpy node that listens to the graph and publishes /cmd_vel and /sim/elastic_band."""

    def __init__(self, lockstep: bool = False):
        import rclpy
        from geometry_msgs.msg import Twist
        from nav_msgs.msg import Odometry
        from sensor_msgs.msg import JointState
        from std_msgs.msg import Bool, String

        from twist_msgs.msg import ControllerState, ReferenceMotion

        self.rclpy = rclpy
        self.Twist, self.Bool = Twist, Bool
        self.node = rclpy.create_node("eval_stack")
        # One executor for the node's lifetime, spun with a constant timeout: rclpy.spin_once(node)
        # adds and removes the node on every call (as does a changing timeout), so each call ran
        # only the first ready subscription in creation order and, with /odom and /joint_states
        # always ready, the later ones (the lockstep recorder's /controller_state) starved
        from rclpy.executors import SingleThreadedExecutor

        self.executor = SingleThreadedExecutor()
        self.executor.add_node(self.node)
        n = self.node
        n.create_subscription(ControllerState, "/controller_state", self._on_cs, 10)
        n.create_subscription(Odometry, "/odom", self._on_odom, 10)
        n.create_subscription(JointState, "/joint_states", self._on_js, 50)
        n.create_subscription(ReferenceMotion, "/reference_motion", self._on_ref, 10)
        n.create_subscription(String, "/sim/status", self._on_status, 10)
        # lockstep: TwistStamped commands scheduled in simulated time (eval_lockstep)
        self.pub_cmd = None if lockstep else n.create_publisher(Twist, "/cmd_vel", 10)
        self.pub_band = n.create_publisher(Bool, "/sim/elastic_band", 10)
        from geometry_msgs.msg import Vector3

        self.Vector3 = Vector3
        self.pub_push = n.create_publisher(Vector3, "/sim/push", 10)
        from twist_msgs.srv import SetMode

        self.SetMode = SetMode
        self.set_mode_cli = n.create_client(SetMode, "/pd_bridge/set_mode")
        self.lockstep = None
        if lockstep:
            from eval_lockstep import LockstepRecorder

            self.lockstep = LockstepRecorder(self)
        self.reset()

    def reset(self):
        self.mode = None
        self.last_transition = ""
        self.odom = None  # (pos(3), quat wxyz, v_body(3), w_body(3))
        self.q = None
        self.tau_peak = None
        self.effort_seen = False
        self.q_ref = None
        self.status = None
        self.n_js = 0

    def _on_cs(self, m):
        self.mode = m.mode_name
        self.last_transition = m.last_transition

    def _on_odom(self, m):
        p, o = m.pose.pose.position, m.pose.pose.orientation
        lv, av = m.twist.twist.linear, m.twist.twist.angular
        self.odom = ((p.x, p.y, p.z), (o.w, o.x, o.y, o.z), (lv.x, lv.y, lv.z), (av.x, av.y, av.z))

    def _on_js(self, m):
        self.n_js += 1
        self.q = np.asarray(m.position, dtype=float)
        if len(m.effort) == len(m.position) and len(m.effort):
            tau = np.abs(np.asarray(m.effort, dtype=float))
            self.effort_seen = True
            if self.tau_track:
                self.tau_peak = tau if self.tau_peak is None else np.maximum(self.tau_peak, tau)

    tau_track = False

    def _on_ref(self, m):
        if m.frames:
            self.q_ref = np.asarray(m.frames[0].joint_positions, dtype=float)

    def _on_status(self, m):
        try:
            self.status = json.loads(m.data)
        except ValueError:
            pass

    def spin(self, seconds: float):
        end = time.monotonic() + seconds
        while True:
            left = end - time.monotonic()
            if left <= 0:
                break
            # a constant timeout: rclpy restarts its ready-handler round whenever the arguments change
            self.executor.spin_once(timeout_sec=0.005)

    def send(self, vx=0.0, vy=0.0, wz=0.0):
        t = self.Twist()
        t.linear.x, t.linear.y, t.angular.z = float(vx), float(vy), float(wz)
        self.pub_cmd.publish(t)

    def set_mode(self, request: int, timeout: float = 5.0) -> bool:
        if not self.set_mode_cli.wait_for_service(timeout_sec=timeout):
            return False
        req = self.SetMode.Request()
        req.request = request
        fut = self.set_mode_cli.call_async(req)
        end = time.monotonic() + timeout
        while not fut.done() and time.monotonic() < end:
            self.spin(0.02)
        return bool(fut.done() and fut.result().success)

    def push(self, fx: float, fy: float) -> None:
        """Horizontal force at the pelvis (N) for the simulator's push_duration (mujoco_sim)."""
        self.pub_push.publish(self.Vector3(x=float(fx), y=float(fy), z=0.0))

    def band(self, on: bool):
        b = self.Bool()
        b.data = bool(on)
        self.pub_band.publish(b)


def eval_lockstep_describe() -> str:
    from eval_lockstep import describe

    return describe()


def stop_stack(proc: subprocess.Popen) -> int:
    if proc.poll() is None:
        try:
            os.killpg(proc.pid, signal.SIGINT)
        except ProcessLookupError:
            pass
    try:
        return proc.wait(timeout=25)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        return proc.wait()


def run_episode(mon: Monitor, idx: int, segs: list[dict], args, out: Path, controller: str) -> dict:
    """One graph-mode episode of ``controller``: fresh stack, stand-up, hold, release, commands."""
    from g1_bringup.evaluation.protocol import COLUMNS

    dds = args.dds_domain
    cmd = [str(STACK), "--teleop", "none", "--no-status", "--duration", "0", f"dds_domain:={dds}"]
    cmd += ["foxglove:=false", "band_release_s:=0.0", f"controller:={controller}"]
    if args.policy and controller == "student":
        cmd.append(f"policy_path:={args.policy}")
    if args.cmg:
        cmd.append(f"cmg_model_path:={args.cmg}")
    log_path = out / f"stack_{controller}_{idx:03d}.log"
    log = open(log_path, "w")
    mon.reset()
    mon.tau_track = False
    push_rng = np.random.default_rng(args.seed * 1000 + idx + 7919)
    t_start = time.monotonic()
    proc = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT, start_new_session=True, cwd=ROOT)
    ep: dict = {"episode": idx, "controller": controller, "commands": segs, "error": None}
    rows = []
    fell, fall_reason, fall_t = False, None, None
    try:
        # 1) start-up: the bridge stands the robot in the band and enters POLICY by itself. Messages
        # of the previous episode's stack may still sit in the subscriptions' queues: only a state
        # seen after this bridge reported a start-up mode (ZERO_TORQUE/DAMPING/STAND_UP) counts.
        deadline = time.monotonic() + args.startup_timeout
        fresh = False
        while not fresh or mon.mode != "POLICY" or mon.odom is None or mon.q is None or mon.q_ref is None:
            mon.send()
            mon.spin(0.05)
            if not fresh and mon.mode in ("ZERO_TORQUE", "DAMPING", "STAND_UP"):
                fresh = True
                mon.odom = mon.q = mon.q_ref = None  # forget anything older than this bridge
            if proc.poll() is not None:
                raise RuntimeError(f"stack exited during start-up (code {proc.returncode})")
            if time.monotonic() > deadline:
                raise RuntimeError(f"no POLICY within {args.startup_timeout} s (mode {mon.mode})")
        ep["startup_s"] = round(time.monotonic() - t_start, 2)
        # 2) the policy holds the band-supported robot for --hold s, then the band goes. A start-up
        # hiccup (the bridge's staleness watchdog firing while 7 processes start on a loaded box)
        # drops the bridge to DAMPING while the band still holds the robot: re-armed via SetMode
        # (STAND, then POLICY) and counted in "startup_rearms"; it is not an evaluated fall.
        t_hold, rearms = time.monotonic(), 0
        while time.monotonic() - t_hold < args.hold:
            mon.send()
            mon.spin(0.02)
            if mon.mode != "POLICY":
                rearms += 1
                if rearms > 3:
                    raise RuntimeError(f"bridge kept leaving POLICY during the band-held hold ({mon.mode})")
                mon.set_mode(mon.SetMode.Request.STAND)
                t_stand = time.monotonic()
                while time.monotonic() - t_stand < 3.0:  # stand-up interpolation
                    mon.send()
                    mon.spin(0.02)
                mon.set_mode(mon.SetMode.Request.POLICY)
                mon.spin(0.2)
                t_hold = time.monotonic()
        ep["startup_rearms"] = rearms
        ep["mode_before_release"] = mon.mode
        ep["pelvis_before_release"] = mon.odom[0][2]
        for _ in range(3):
            mon.band(False)
            mon.spin(0.01)
        mon.tau_track = True
        # 3) the command sequence at 50 Hz (+ pushes)
        t0 = time.monotonic()
        next_tick, next_push = t0, args.push_every
        fell, fall_reason, fall_t = False, None, None
        seg_i = 0
        while True:
            t = time.monotonic() - t0
            if t >= args.duration:
                break
            while seg_i < len(segs) - 1 and t >= segs[seg_i]["t1"]:
                seg_i += 1
            s = segs[seg_i]
            mon.send(s["vx"], s["vy"], s["wz"])
            if args.push_force > 0 and t >= next_push:
                a = push_rng.uniform(-math.pi, math.pi)
                mon.push(args.push_force * math.cos(a), args.push_force * math.sin(a))
                next_push += args.push_every
            next_tick += 0.02
            mon.spin(max(0.0, next_tick - time.monotonic()))
            (_, _, pz), quat, vb, wb = mon.odom
            v_world = quat_rotate(*quat, vb)
            yaw = yaw_of(*quat)
            c, sn = math.cos(yaw), math.sin(yaw)
            vh = (c * v_world[0] + sn * v_world[1], -sn * v_world[0] + c * v_world[1])
            wz_world = quat_rotate(*quat, wb)[2]
            jerr = float(np.mean(np.abs(mon.q_ref - mon.q))) if len(mon.q) == len(mon.q_ref) else float("nan")
            rows.append((t, s["vx"], s["vy"], s["wz"], vh[0], vh[1], wz_world, pz, jerr, t - s["t0"]))
            if pz < args.fall_height:
                fell, fall_reason, fall_t = True, f"pelvis {pz:.2f} m < {args.fall_height} m", t
            elif mon.mode != "POLICY":
                fell, fall_t = True, t
                fall_reason = f"bridge left POLICY ({mon.last_transition}), pelvis {pz:.2f} m"
            if fell:
                break
        if mon.status:
            ep["sim_rtf"] = mon.status.get("rtf")
    except Exception as e:  # recorded; the episode counts as not evaluated
        ep["error"] = str(e)
    finally:
        code = stop_stack(proc)
        log.close()
        ep["stack_exit_code"] = code
    if ep["error"]:
        ep["log_tail"] = log_path.read_text()[-1500:]
        return ep
    a = np.array(rows, dtype=float).reshape(-1, len(COLUMNS))
    return finish_episode(
        ep, a, 0.02, args.settle, (fell, fall_reason, fall_t), mon.tau_peak, mon.effort_seen
    )


def finish_episode(ep: dict, a, dt: float, settle: float, fall: tuple, tau, effort_seen: bool) -> dict:
    """Fill a graph episode's result fields from its rows (``a``), its fall (fell, reason, time) and
    the per-joint torque peaks (None when no effort was published); both graph modes use it."""
    from g1_bringup.evaluation.protocol import episode_metrics
    from twist_controller import robot

    fell, fall_reason, fall_t = fall
    ep.update(episode_metrics(a, dt, settle))
    ep.update(
        fell=bool(fell),
        fall_reason=fall_reason,
        fall_time_s=fall_t,
        survived_s=float(a[-1, 0]) if len(a) else 0.0,
        samples=len(a),
        tau_effort_published=bool(effort_seen),
        tau_peak_nm=float(np.max(tau)) if tau is not None else None,
        tau_peak_joint=robot.G1_JOINT_NAMES[int(np.argmax(tau))] if tau is not None else None,
        tau_peak_over_limit=float(np.max(tau / robot.TORQUE_LIMIT)) if tau is not None else None,
    )
    return ep


METRICS = (  # (key, label, format)
    ("falls", "falls", "{}"),
    ("falls_by_kind", "falls by kind (pelvis/tilt/limit/watchdog/other)", "{}"),
    ("mean_time_to_fall_s", "mean time to fall [s]", "{:.1f}"),
    ("vel_err_xy_moving_mps", "velocity error moving, stride-avg [m/s]", "{:.3f}"),
    ("yaw_rate_err_moving_radps", "yaw-rate error moving, stride-avg [rad/s]", "{:.3f}"),
    ("vel_err_xy_moving_inst_mps", "velocity error moving, instantaneous [m/s]", "{:.3f}"),
    ("yaw_rate_err_moving_inst_radps", "yaw-rate error moving, instantaneous [rad/s]", "{:.3f}"),
    ("vel_err_xy_standing_mps", "drift while standing [m/s]", "{:.3f}"),
    ("joint_err_rad", "joint error to the CMG reference [rad]", "{:.3f}"),
    ("tau_peak_nm_max", "torque peak, max over episodes [Nm]", "{:.1f}"),
    ("tau_peak_over_limit", "torque peak / limit, mean of episodes", "{:.2f}"),
)


def _fmt(v, f) -> str:
    if isinstance(v, dict):
        return "/".join(str(x) for x in v.values())
    if v is None or (isinstance(v, float) and not np.isfinite(v)):
        return "-"
    return f.format(v)


def _bin_key(name: str) -> tuple:
    """bin_vx_-0.5_-0.1 -> ('vx', -0.5): axes in turn, bins in numeric order."""
    _, axis, lo, _hi = name.split("_")
    return ("vx", "vy", "wz").index(axis), float(lo)


def comparison_table(summaries: dict[str, dict]) -> str:
    names = list(summaries)
    lines = ["| metric | " + " | ".join(names) + " |", "|---|" + "---|" * len(names)]
    lines.append(
        "| episodes evaluated (not run) | "
        + " | ".join(f"{summaries[n]['evaluated']} ({summaries[n]['errors']})" for n in names)
        + " |"
    )
    for key, label, f in METRICS:
        lines.append(f"| {label} | " + " | ".join(_fmt(summaries[n].get(key), f) for n in names) + " |")
    bins = sorted({b for n in names for b in summaries[n]["bins"]}, key=_bin_key)
    if bins:
        lines += [
            "",
            "Per command bin (stride-averaged velocity on that axis; |error| / bias, samples at 50 Hz):",
            "",
            "| bin | " + " | ".join(names) + " |",
            "|---|" + "---|" * len(names),
        ]
        for b in bins:
            cells = []
            for n in names:
                v = summaries[n]["bins"].get(b)
                cells.append("-" if v is None else f"{v['abs_err']:.3f} / {v['bias']:+.3f} ({v['samples']})")
            axis, lo, hi = b.split("_")[1:]
            unit = "rad/s" if axis == "wz" else "m/s"
            lines.append(f"| {axis} in [{lo}, {hi}) {unit} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def plot(results: dict[str, list[dict]], summaries: dict[str, dict], path: Path) -> bool:
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        return False
    names = list(results)
    fig, axes = plt.subplots(1, 3, figsize=(15, 4))
    ax = axes[0]
    for k, n in enumerate(names):
        ok = [e for e in results[n] if not e.get("error")]
        ax.scatter(
            [e["episode"] for e in ok],
            [e["survived_s"] + 0.25 * k for e in ok],
            s=8,
            label=f"{n}: {summaries[n]['falls']} falls / {len(ok)}",
            marker=["o", "s", "^", "d"][k % 4],
        )
    ax.set_xlabel("episode")
    ax.set_ylabel("s after band release (end of episode or fall)")
    ax.set_title("survival per episode")
    top = max((e["survived_s"] for n in names for e in results[n] if not e.get("error")), default=20.0)
    ax.set_ylim(0, top + 0.25 * len(names) + 1.0)  # full-length episodes at the top, falls low
    ax.legend(fontsize=7)
    ax = axes[1]
    keys = [
        ("vel_err_xy_moving_mps", "vel err\nstride-avg"),
        ("vel_err_xy_moving_inst_mps", "vel err\ninstant"),
        ("yaw_rate_err_moving_radps", "yaw err\nstride-avg"),
        ("joint_err_rad", "joint err\n[rad]"),
    ]
    w = 0.8 / max(1, len(names))
    for k, n in enumerate(names):
        ax.bar(np.arange(len(keys)) + k * w, [summaries[n].get(key) or 0 for key, _ in keys], w, label=n)
    ax.axhline(0.15, color="k", ls=":", lw=1, label="bar 0.15")
    ax.set_xticks(np.arange(len(keys)) + w * (len(names) - 1) / 2, [lbl for _, lbl in keys], fontsize=8)
    ax.set_title("tracking errors (mean of episodes)")
    ax.legend(fontsize=7)
    ax = axes[2]
    bins = [b for b in sorted({b for n in names for b in summaries[n]["bins"]}, key=_bin_key) if "_vx_" in b]
    for k, n in enumerate(names):
        ax.bar(
            np.arange(len(bins)) + k * w,
            [summaries[n]["bins"].get(b, {}).get("abs_err", 0) for b in bins],
            w,
            label=n,
        )
    ax.set_xticks(
        np.arange(len(bins)) + w * (len(names) - 1) / 2,
        [b.removeprefix("bin_vx_").replace("_", "..") for b in bins],
        fontsize=8,
    )
    ax.set_title("|vx error| by commanded vx bin [m/s]")
    ax.legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(path, dpi=90)
    plt.close(fig)
    return True


def write_outputs(results: dict[str, list[dict]], args, out: Path, wall_s: float, final: bool) -> dict:
    """results.json + report.md (+ eval.png when final); also called after every episode (partial)."""
    from g1_bringup.evaluation.protocol import RANGES, summarize

    summaries = {n: summarize(eps) for n, eps in results.items()}
    complete = final and all(len(e) == args.episodes for e in results.values())
    meta = {
        "mode": "direct (in-process cores, no transport)"
        if args.direct
        else "DDS simulator + full ROS graph"
        + (
            f", {eval_lockstep_describe()}"
            if getattr(args, "lockstep", False)
            else ", free-running (wall clock)"
        ),
        "controllers": list(results),
        "policy": args.policy or "shipped",
        "cmg": args.cmg or "shipped",
        "conditions": {k: v for k, v in vars(args).items() if k != "out"},
        "command_ranges": RANGES[args.ranges],
        "complete": complete,
        "wall_time_s": round(wall_s, 1),
        "utc": datetime.now(UTC).isoformat(timespec="seconds"),
    }
    (out / "results.json").write_text(
        json.dumps({"meta": meta, "summaries": summaries, "episodes": results}, indent=1, default=float)
    )
    tbl = comparison_table(summaries)
    plotted = plot(results, summaries, out / "eval.png") if final else False
    delay = f"targets delayed {args.delay_ticks} x 20 ms; " if getattr(args, "delay_ticks", 0) else ""
    if getattr(args, "rtf", 1.0) != 1.0:
        delay += f"physics at real-time factor {args.rtf} after the release; "
    push = (
        f"pushes {args.push_force} N for {args.push_duration} s every {args.push_every} s; "
        if args.push_force > 0
        else ""
    )
    md = [
        f"# Walking evaluation ({meta['mode']})",
        "",
        (
            ""
            if complete
            else "**Episodes per controller: "
            + ", ".join(f"{c} {len(e)}" for c, e in results.items())
            + f" (of {args.episodes}); the first N seeds of each.**\n\n"
        )
        + f"Up to {args.episodes} episodes x {args.duration} s after the band release "
        f"(held {args.hold} s in POLICY "
        f"first), same command seeds for every controller (seed {args.seed}), ranges `{args.ranges}` "
        f"{meta['command_ranges']}; {push}{delay}errors counted {args.settle} s after each command change; "
        f"fall = "
        f"pelvis < {args.fall_height} m or the bridge leaves POLICY; CMG `{meta['cmg']}`; wall time "
        f"{meta['wall_time_s']} s ({meta['utc']}).",
        "",
        tbl,
        "",
        "![eval](eval.png)" if plotted else "",
    ]
    (out / "report.md").write_text("\n".join(md) + "\n")
    if final:
        print(tbl)
        print(f"written: {out}/results.json, report.md" + (", eval.png" if plotted else ""))
    return summaries


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument(
        "--controller",
        default="student",
        help=f"comma-separated, evaluated side by side: {', '.join(CONTROLLERS)}",
    )
    ap.add_argument("--episodes", type=int, default=100)
    ap.add_argument(
        "--first-episode",
        type=int,
        default=0,
        help="index of the first episode (its command seed is seed x 1000 + index): split a long "
        "evaluation into parallel runs, then --combine them",
    )
    ap.add_argument("--duration", type=float, default=20.0, help="s of commands after the band release")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--ranges", default="trained", choices=("trained", "extended"))
    ap.add_argument(
        "--direct", action="store_true", help="in-process cores, no DDS/ROS (faster than real time)"
    )
    ap.add_argument("--policy", default="", help="student policy file; empty = the shipped one")
    ap.add_argument("--cmg", default="", help="CMG artifact; empty = the shipped one")
    ap.add_argument("--hold", type=float, default=3.0, help="s in POLICY with the band on before release")
    ap.add_argument("--settle", type=float, default=1.5, help="s after a command change not scored")
    ap.add_argument("--fall-height", type=float, default=0.5, help="m, pelvis height counted as a fall")
    ap.add_argument("--push-force", type=float, default=0.0, help="N at the pelvis (0 = no pushes)")
    ap.add_argument("--push-every", type=float, default=3.0, help="s between pushes")
    ap.add_argument("--push-duration", type=float, default=0.2, help="s each push lasts")
    ap.add_argument(
        "--delay-ticks",
        type=int,
        default=0,
        help="--direct only: targets reach the bridge this many 20 ms periods late (emulated transport)",
    )
    ap.add_argument(
        "--rtf",
        type=float,
        default=1.0,
        help="--direct only: physics real-time factor to emulate after the release (a slow simulator "
        "whose nodes tick on wall time: each 20 ms control period gets rtf x 20 ms of physics)",
    )
    ap.add_argument(
        "--lockstep",
        action=argparse.BooleanOptionalAction,
        default=True,
        help="graph mode: run the stack in lockstep, everything in simulated time, so results do not "
        "depend on machine load and a seed gives the same result twice (default; docs/sim_time.md)",
    )
    ap.add_argument("--startup-timeout", type=float, default=120.0)
    ap.add_argument("--dds-domain", type=int, default=None, help="Unitree DDS domain (100 + pid %% 100)")
    ap.add_argument("--retries", type=int, default=1, help="retries of an episode that failed to start")
    ap.add_argument("--out", default="", help="output dir (default runs/eval/<UTC timestamp>)")
    ap.add_argument(
        "--combine",
        nargs="+",
        metavar="DIR[:CONTROLLERS]",
        help="merge the results.json of earlier runs (DIR:a,b takes only controllers a and b; same "
        "protocol, e.g. student and experts run "
        "separately) into one side-by-side report in --out; runs nothing",
    )
    args = ap.parse_args(argv)
    if args.combine:
        return combine(args.combine, Path(args.out) if args.out else ROOT / "runs" / "eval" / "combined")
    controllers = [c.strip() for c in args.controller.split(",") if c.strip()]
    bad = [c for c in controllers if c not in CONTROLLERS]
    if bad:
        ap.error(f"unknown controller(s) {bad}; choose from {CONTROLLERS}")
    if args.dds_domain is None:
        args.dds_domain = 100 + os.getpid() % 100
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    out = Path(args.out) if args.out else ROOT / "runs" / "eval" / stamp
    out.mkdir(parents=True, exist_ok=True)
    if args.policy:
        args.policy = str(Path(args.policy).resolve())
    if args.cmg:
        args.cmg = str(Path(args.cmg).resolve())

    from g1_bringup.evaluation.protocol import command_sequence

    results: dict[str, list[dict]] = {c: [] for c in controllers}
    t_all = time.monotonic()
    if args.direct:
        run_direct(args, controllers, results, out, t_all)
    else:
        run_graph(args, controllers, results, out, t_all, command_sequence)
    summaries = write_outputs(results, args, out, time.monotonic() - t_all, final=True)
    return 0 if all(s["evaluated"] == args.episodes for s in summaries.values()) else 1


def combine(dirs: list[str], out: Path) -> int:
    """One report from several runs' results.json (controllers side by side, seeds as run)."""
    results: dict[str, list[dict]] = {}
    conditions: dict = {}
    wall = 0.0
    for spec in dirs:
        d, _, only = spec.partition(":")  # DIR or DIR:controller[,controller]: take only those
        res = json.loads((Path(d) / "results.json").read_text())
        if only:
            res["episodes"] = {c: e for c, e in res["episodes"].items() if c in only.split(",")}
        conditions = conditions or dict(res["meta"]["conditions"])
        for key in (
            "duration",
            "hold",
            "settle",
            "fall_height",
            "ranges",
            "push_force",
            "seed",
            "direct",
            "delay_ticks",
            "rtf",
        ):
            default = {"delay_ticks": 0, "rtf": 1.0}.get(key)  # runs from before the option existed
            if res["meta"]["conditions"].get(key, default) != conditions.get(key, default):
                raise SystemExit(
                    f"{d}: {key} differs from the first run's ({conditions.get(key)}); not comparable"
                )
        for c, eps in res["episodes"].items():
            results.setdefault(c, []).extend(eps)
        wall += float(res["meta"].get("wall_time_s", 0.0))
    conditions["episodes"] = max(len(e) for e in results.values())
    conditions["policy"] = conditions.get("policy", "")
    conditions["cmg"] = conditions.get("cmg", "")
    out.mkdir(parents=True, exist_ok=True)
    write_outputs(results, argparse.Namespace(**conditions), out, wall, final=True)
    return 0


def _print_episode(c: str, i: int, ep: dict) -> None:
    if ep.get("error"):
        print(f"[{c}] episode {i}: NOT RUN: {ep['error']}", flush=True)
        return
    print(
        f"[{c}] episode {i}: fell={ep['fell']} survived={ep['survived_s']:.1f}s "
        f"vel_err={ep.get('vel_err_xy_moving_mps', float('nan')):.3f} "
        f"(inst {ep.get('vel_err_xy_moving_inst_mps', float('nan')):.3f}) "
        f"yaw_err={ep.get('yaw_rate_err_moving_radps', float('nan')):.3f} tau_peak={ep['tau_peak_nm']}",
        flush=True,
    )


def _policy_for(controller: str, args) -> str:
    if controller == "student":
        from twist_controller.policy_node import shipped_policy

        return args.policy or shipped_policy()
    return controller.replace("expert_", "expert:")


def run_direct(args, controllers, results, out, t_all) -> None:
    """Episodes outer, controllers inner: at any moment every controller has run the same seeds, so
    an interrupted run (Ctrl-C) still compares like with like."""
    from g1_bringup.evaluation.direct import DirectConfig, DirectEvaluator
    from g1_bringup.evaluation.protocol import command_sequence
    from twist_training.distill.reference import shipped_cmg_path

    cfg = DirectConfig(
        args.duration,
        args.hold,
        args.fall_height,
        args.settle,
        args.push_force,
        args.push_every,
        args.push_duration,
        delay_ticks=args.delay_ticks,
        rtf=args.rtf,
    )
    evaluators = {
        c: DirectEvaluator(_policy_for(c, args), args.cmg or shipped_cmg_path(), cfg) for c in controllers
    }
    try:
        for i in range(args.first_episode, args.first_episode + args.episodes):
            segs = command_sequence(args.seed * 1000 + i, args.duration, args.ranges)
            for c, ev in evaluators.items():
                ep = {"episode": i, "controller": c, "commands": segs, "error": None, **ev.run(segs, seed=i)}
                results[c].append(ep)
                _print_episode(c, i, ep)
            write_outputs(results, args, out, time.monotonic() - t_all, final=False)
    except KeyboardInterrupt:
        print("interrupted: writing partial results", flush=True)
        n = min(len(v) for v in results.values())
        for c in results:
            del results[c][n:]


def run_graph(args, controllers, results, out, t_all, command_sequence) -> None:
    import rclpy

    rclpy.init()
    mon = Monitor(lockstep=args.lockstep)
    episode = run_episode
    if args.lockstep:  # the same episode, everything in simulated time (scripts/eval_lockstep.py)
        import eval_lockstep

        episode = partial(eval_lockstep.run_episode, sys.modules[__name__])
    try:
        for i in range(args.first_episode, args.first_episode + args.episodes):
            segs = command_sequence(args.seed * 1000 + i, args.duration, args.ranges)
            for c in controllers:
                ep = episode(mon, i, segs, args, out, c)
                if not rclpy.ok():  # SIGINT: rclpy shut its context down; keep what was measured
                    print(f"interrupted during episode {i}: writing partial results", flush=True)
                    return
                for _ in range(args.retries):  # start-up failures (not falls) get a fresh stack
                    if not ep["error"]:
                        break
                    print(f"[{c}] episode {i}: not run ({ep['error']}); retrying", flush=True)
                    first_error = ep["error"]
                    ep = episode(mon, i, segs, args, out, c)
                    ep["retried_after"] = first_error
                results[c].append(ep)
                _print_episode(c, i, ep)
            write_outputs(results, args, out, time.monotonic() - t_all, final=False)
    except KeyboardInterrupt:
        print("interrupted: writing partial results", flush=True)
    finally:
        mon.node.destroy_node()
        if rclpy.ok():
            rclpy.shutdown()


if __name__ == "__main__":
    sys.exit(main())
