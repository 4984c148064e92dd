#!/usr/bin/env python3
"""Evaluate a student policy through the DDS simulator and the full ROS graph.

Each episode starts the whole simulated stack fresh (``install/lib/g1_bringup/stack``: mujoco_sim ->
Unitree DDS -> pd_bridge -> policy_node <- reference_mux <- cmg_node <- /cmd_vel), so every episode
begins with a standing, band-held robot (the simulator has no reset; a fresh process is the reset).
Once the bridge is in POLICY and the policy has held the band-supported robot for ``--hold`` s, the
band is released (``/sim/elastic_band`` false) and a random command sequence is published on
/cmd_vel for ``--duration`` s:

* segments of 2-5 s; ~25 % standing (zero command), the rest uniform in vx 0..1.5 m/s,
  vy +-0.3 m/s, yaw rate +-0.8 rad/s; the first segment is always standing; fixed ``--seed``.

Per episode (all after the release):

* fall: pelvis height (/odom) below ``--fall-height`` or the bridge leaves POLICY; the episode ends;
* velocity error: |v_cmd - v| in the heading frame (xy, from /odom), and |wz_cmd - wz|, sampled at
  50 Hz, only ``--settle`` s or more after each command change and before a fall;
* joint error: mean |q_ref - q| over the 29 joints (/reference_motion frame 0 vs /joint_states);
* torque peaks: max |tau_est| per joint (/joint_states effort, which the bridge fills from
  LowState tau_est), also relative to the joint's torque limit.

Writes ``results.json``, ``report.md`` and ``eval.png`` into ``runs/eval/<timestamp>/`` (or ``--out``)
and prints the table. Needs the ROS venv (``source scripts/env.sh``). Time costs real time: the
simulator runs at real-time pace; each episode costs its duration + the stack's start-up.
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
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
STACK = ROOT / "install" / "lib" / "g1_bringup" / "stack"
RANGES = {"vx": (0.0, 1.5), "vy": (-0.3, 0.3), "wz": (-0.8, 0.8)}


def command_sequence(rng: np.random.Generator, duration: float, p_stand: float = 0.25) -> list[dict]:
    """[{t0, t1, vx, vy, wz}] covering [0, duration]; first segment standing."""
    segs, t = [], 0.0
    while t < duration:
        dt = float(rng.uniform(2.0, 5.0))
        if not segs or rng.random() < p_stand:
            vx = vy = wz = 0.0
        else:
            vx, vy, wz = (float(rng.uniform(*RANGES[k])) for k in ("vx", "vy", "wz"))
        segs.append({"t0": t, "t1": min(duration, t + dt), "vx": vx, "vy": vy, "wz": wz})
        t += dt
    return segs


def yaw_of(qw, qx, qy, qz) -> float:
    return math.atan2(2 * (qw * qz + qx * qy), 1 - 2 * (qy * qy + qz * qz))


def quat_rotate(qw, qx, qy, qz, v) -> np.ndarray:
    """Rotate body vector v into the world frame."""
    u = np.array([qx, qy, qz])
    v = np.asarray(v, dtype=float)
    return v + 2 * np.cross(u, np.cross(u, v) + qw * v)


class Monitor:
    """One rclpy node that listens to the graph and publishes /cmd_vel and /sim/elastic_band."""

    def __init__(self):
        import rclpy
        from geometry_msgs.msg import Twist
        from nav_msgs.msg import Odometry
        from sensor_msgs.msg import JointState
        from std_msgs.msg import Bool, String

        from twist_msgs.msg import ControllerState, ReferenceMotion

        self.rclpy = rclpy
        self.Twist, self.Bool = Twist, Bool
        self.node = rclpy.create_node("eval_stack")
        n = self.node
        n.create_subscription(ControllerState, "/controller_state", self._on_cs, 10)
        n.create_subscription(Odometry, "/odom", self._on_odom, 10)
        n.create_subscription(JointState, "/joint_states", self._on_js, 50)
        n.create_subscription(ReferenceMotion, "/reference_motion", self._on_ref, 10)
        n.create_subscription(String, "/sim/status", self._on_status, 10)
        self.pub_cmd = n.create_publisher(Twist, "/cmd_vel", 10)
        self.pub_band = n.create_publisher(Bool, "/sim/elastic_band", 10)
        from twist_msgs.srv import SetMode

        self.SetMode = SetMode
        self.set_mode_cli = n.create_client(SetMode, "/pd_bridge/set_mode")
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
            self.rclpy.spin_once(self.node, timeout_sec=min(left, 0.005))

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

    def band(self, on: bool):
        b = self.Bool()
        b.data = bool(on)
        self.pub_band.publish(b)


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


def run_episode(mon: Monitor, idx: int, segs: list[dict], args, out: Path) -> dict:
    from twist_controller import robot

    dds = args.dds_domain
    cmd = [str(STACK), "--teleop", "none", "--no-status", "--duration", "0", f"dds_domain:={dds}"]
    cmd += ["foxglove:=false", "band_release_s:=0.0"]
    if args.policy:
        cmd.append(f"policy_path:={args.policy}")
    if args.cmg:
        cmd.append(f"cmg_model_path:={args.cmg}")
    log_path = out / f"stack_{idx:03d}.log"
    log = open(log_path, "w")
    mon.reset()
    mon.tau_track = False
    t_start = time.monotonic()
    proc = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT, start_new_session=True, cwd=ROOT)
    ep: dict = {"episode": idx, "commands": segs, "error": None}
    try:
        # 1) start-up: the bridge stands the robot in the band and enters POLICY by itself
        deadline = time.monotonic() + args.startup_timeout
        while mon.mode != "POLICY" or mon.odom is None or mon.q is None or mon.q_ref is None:
            mon.send()
            mon.spin(0.05)
            if proc.poll() is not None:
                raise RuntimeError(f"stack exited during start-up (code {proc.returncode})")
            if time.monotonic() > deadline:
                raise RuntimeError(f"no POLICY within {args.startup_timeout} s (mode {mon.mode})")
        ep["startup_s"] = round(time.monotonic() - t_start, 2)
        # 2) the policy holds the band-supported robot for --hold s, then the band goes. A start-up
        # hiccup (the bridge's 100 ms staleness watchdog firing while 7 processes start on a loaded
        # box) drops the bridge to DAMPING while the band still holds the robot: that is re-armed via
        # SetMode (STAND, then POLICY) and counted in "startup_rearms"; it is not an evaluated fall.
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
        # 3) the command sequence at 50 Hz
        t0 = time.monotonic()
        next_tick = t0
        rows = []  # t, cmd(3), v_heading(2), wz, z, joint_err, mode
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
            ep["sim_overruns"] = mon.status.get("overruns")
    except Exception as e:  # recorded; the episode counts as not evaluated
        ep["error"] = str(e)
        rows, fell, fall_reason, fall_t = [], None, None, None
    finally:
        code = stop_stack(proc)
        log.close()
        ep["stack_exit_code"] = code
    if ep["error"]:
        ep["log_tail"] = log_path.read_text()[-1500:]
        return ep
    a = np.array(rows, dtype=float).reshape(-1, 10)
    settled = a[:, 9] >= args.settle
    vxy_err = np.hypot(a[:, 1] - a[:, 4], a[:, 2] - a[:, 5])
    wz_err = np.abs(a[:, 3] - a[:, 6])
    moving = settled & (np.abs(a[:, 1:4]).sum(axis=1) > 0)
    standing = settled & ~(np.abs(a[:, 1:4]).sum(axis=1) > 0)

    def mean(x):
        return float(np.mean(x)) if len(x) else float("nan")

    tau = mon.tau_peak
    ep.update(
        fell=bool(fell),
        fall_reason=fall_reason,
        fall_kind=None if not fell else fall_kind(fall_reason),
        fall_time_s=fall_t,
        survived_s=float(a[-1, 0]) if len(a) else 0.0,
        samples=len(a),
        settled_samples=int(settled.sum()),
        vel_err_xy_mps=mean(vxy_err[settled]),
        vel_err_xy_moving_mps=mean(vxy_err[moving]),
        vel_err_xy_standing_mps=mean(vxy_err[standing]),
        yaw_rate_err_radps=mean(wz_err[settled]),
        joint_err_rad=mean(a[:, 8][np.isfinite(a[:, 8])]),
        tau_effort_published=bool(mon.effort_seen),
        tau_peak_nm=float(np.max(tau)) if tau is not None else None,
        tau_peak_joint=robot.G1_JOINT_NAMES[int(np.argmax(tau))] if tau is not None else None,
        tau_peak_over_limit=float(np.max(tau / robot.TORQUE_LIMIT)) if tau is not None else None,
        tau_peak_per_joint_nm=[round(float(x), 2) for x in tau] if tau is not None else None,
        trace=a[:: max(1, len(a) // 500)].round(4).tolist(),
    )
    return ep


def fall_kind(reason: str) -> str:
    """pelvis: below the height threshold; tilt: the bridge's tilt guard (the robot was falling);
    watchdog: the bridge's staleness watchdog (a late message, not the policy); other."""
    if reason.startswith("pelvis"):
        return "pelvis"
    if "tilt" in reason:
        return "tilt"
    if "stale" in reason:
        return "watchdog"
    return "other"


def summarize(eps: list[dict]) -> dict:
    ok = [e for e in eps if not e["error"]]

    def agg(key):
        v = np.array([e[key] for e in ok if e.get(key) is not None], dtype=float)
        v = v[np.isfinite(v)]
        return float(np.mean(v)) if len(v) else float("nan")

    tau_max = [e["tau_peak_nm"] for e in ok if e.get("tau_peak_nm") is not None]
    return {
        "episodes_attempted": len(eps),
        "episodes_evaluated": len(ok),
        "episodes_failed_to_run": len(eps) - len(ok),
        "falls": int(sum(e["fell"] for e in ok)),
        "falls_by_kind": {
            k: int(sum(bool(e["fell"]) and e["fall_kind"] == k for e in ok))
            for k in ("pelvis", "tilt", "watchdog", "other")
        },
        "startup_rearms": int(sum(e.get("startup_rearms", 0) for e in ok)),
        "startup_retries": int(sum("retried_after" in e for e in eps)),
        "fall_rate": float(np.mean([e["fell"] for e in ok])) if ok else float("nan"),
        "mean_survived_s": agg("survived_s"),
        "mean_vel_err_xy_mps": agg("vel_err_xy_mps"),
        "mean_vel_err_xy_moving_mps": agg("vel_err_xy_moving_mps"),
        "mean_vel_err_xy_standing_mps": agg("vel_err_xy_standing_mps"),
        "mean_yaw_rate_err_radps": agg("yaw_rate_err_radps"),
        "mean_joint_err_rad": agg("joint_err_rad"),
        "max_tau_peak_nm": float(max(tau_max)) if tau_max else float("nan"),
        "mean_tau_peak_over_limit": agg("tau_peak_over_limit"),
        "mean_startup_s": agg("startup_s"),
        "mean_sim_rtf": agg("sim_rtf"),
    }


def table(eps: list[dict], summary: dict) -> str:
    lines = [
        "| ep | fell | survived [s] | vel err xy [m/s] (moving / standing) | yaw-rate err [rad/s] "
        "| joint err [rad] | tau peak [Nm] (joint, /limit) |",
        "|---|---|---|---|---|---|---|",
    ]
    for e in eps:
        if e["error"]:
            lines.append(f"| {e['episode']} | not run: {e['error']} | | | | | |")
            continue
        tau = (
            f"{e['tau_peak_nm']:.1f} ({e['tau_peak_joint']}, {e['tau_peak_over_limit']:.2f})"
            if e["tau_peak_nm"] is not None
            else "not published"
        )
        lines.append(
            f"| {e['episode']} | {'yes' if e['fell'] else 'no'} | {e['survived_s']:.1f} "
            f"| {e['vel_err_xy_mps']:.3f} ({e['vel_err_xy_moving_mps']:.3f} / "
            f"{e['vel_err_xy_standing_mps']:.3f}) "
            f"| {e['yaw_rate_err_radps']:.3f} | {e['joint_err_rad']:.3f} | {tau} |"
        )
    s = summary
    lines += [
        "",
        f"**{s['falls']} falls in {s['episodes_evaluated']} episodes** "
        f"({', '.join(f'{k} {v}' for k, v in s['falls_by_kind'].items())}; "
        f"start-up re-arms {s['startup_rearms']}) "
        f"({s['episodes_failed_to_run']} failed to run); mean survived {s['mean_survived_s']:.1f} s; "
        f"velocity error {s['mean_vel_err_xy_mps']:.3f} m/s (moving {s['mean_vel_err_xy_moving_mps']:.3f}, "
        f"standing {s['mean_vel_err_xy_standing_mps']:.3f}); "
        f"yaw-rate error {s['mean_yaw_rate_err_radps']:.3f} rad/s; "
        f"joint error {s['mean_joint_err_rad']:.3f} rad; max torque peak {s['max_tau_peak_nm']:.1f} Nm "
        f"(mean per-episode peak / limit {s['mean_tau_peak_over_limit']:.2f}); "
        f"stack start-up {s['mean_startup_s']:.1f} s, simulator real-time factor {s['mean_sim_rtf']:.2f}.",
    ]
    return "\n".join(lines)


def plot(eps: list[dict], path: Path) -> bool:
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        return False
    ok = [e for e in eps if not e["error"]]
    fig, axes = plt.subplots(1, 2, figsize=(12, 4))
    ax = axes[0]
    idx = [e["episode"] for e in ok]
    ax.bar(idx, [e["survived_s"] for e in ok], color=["tab:red" if e["fell"] else "tab:green" for e in ok])
    ax.set_xlabel("episode")
    ax.set_ylabel("time after band release [s] (red = fell)")
    ax.set_title("survival per episode")
    ax = axes[1]
    if ok and ok[0]["trace"]:
        a = np.array(ok[0]["trace"])
        ax.plot(a[:, 0], a[:, 1], "k--", label="vx cmd")
        ax.plot(a[:, 0], a[:, 4], "k", label="vx (heading frame)")
        ax.plot(a[:, 0], a[:, 3], "b--", label="yaw-rate cmd")
        ax.plot(a[:, 0], a[:, 6], "b", label="yaw rate")
        ax.plot(a[:, 0], a[:, 7], "g", label="pelvis z [m]")
        ax.set_xlabel("s after band release")
        ax.set_title(f"episode {ok[0]['episode']}")
        ax.legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(path, dpi=90)
    plt.close(fig)
    return True


def write_outputs(eps, args, out: Path, policy_used: str, wall_s: float, final: bool) -> dict:
    """results.json + report.md (+ eval.png when final); also called after every episode (partial)."""
    summary = summarize(eps)
    summary["episodes_requested"] = args.episodes
    meta = {
        "policy": policy_used,
        "cmg": args.cmg or "shipped",
        "conditions": {k: v for k, v in vars(args).items() if k != "out"},
        "command_ranges": RANGES,
        "complete": final and len(eps) == args.episodes,
        "wall_time_s": round(wall_s, 1),
        "utc": datetime.now(UTC).isoformat(timespec="seconds"),
    }
    results = {"meta": meta, "summary": summary, "episodes": eps}
    (out / "results.json").write_text(json.dumps(results, indent=1))
    tbl = table(eps, summary)
    plotted = plot(eps, out / "eval.png") if final else False
    md = [
        "# Stack evaluation (DDS simulator + full ROS graph)",
        "",
        ("" if meta["complete"] else f"**PARTIAL: {len(eps)} of {args.episodes} episodes.**\n\n")
        + f"policy `{policy_used}`, CMG `{meta['cmg']}`, seed {args.seed}, {args.episodes} episodes x "
        f"{args.duration} s after the band release (held {args.hold} s in POLICY first), "
        f"settle {args.settle} s, "
        f"fall = pelvis < {args.fall_height} m or bridge leaves POLICY; wall time {meta['wall_time_s']} s.",
        "",
        tbl,
        "",
        "![eval](eval.png)" if plotted else "",
    ]
    (out / "report.md").write_text("\n".join(md) + "\n")
    if final:
        print(tbl)
        print(f"written: {out}/results.json, report.md" + (", eval.png" if plotted else ""))
    return summary


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--episodes", type=int, default=100)
    ap.add_argument("--duration", type=float, default=20.0, help="s of commands after the band release")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--policy", default="", help="exported student (.pt/.onnx); empty = the shipped one")
    ap.add_argument("--cmg", default="", help="CMG artifact; empty = the shipped one")
    ap.add_argument("--hold", type=float, default=3.0, help="s in POLICY with the band on before release")
    ap.add_argument("--settle", type=float, default=1.0, help="s after a command change not scored")
    ap.add_argument("--fall-height", type=float, default=0.5, help="m, pelvis height counted as a fall")
    ap.add_argument("--startup-timeout", type=float, default=120.0)
    ap.add_argument("--dds-domain", type=int, default=None, help="Unitree DDS domain (100 + pid %% 100)")
    ap.add_argument("--retries", type=int, default=1, help="retries of an episode that failed to start")
    ap.add_argument("--out", default="", help="output dir (default runs/eval/<UTC timestamp>)")
    args = ap.parse_args(argv)
    if args.dds_domain is None:
        args.dds_domain = 100 + os.getpid() % 100
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    out = Path(args.out) if args.out else ROOT / "runs" / "eval" / stamp
    out.mkdir(parents=True, exist_ok=True)
    if args.policy:
        args.policy = str(Path(args.policy).resolve())
    if args.cmg:
        args.cmg = str(Path(args.cmg).resolve())

    import rclpy

    from twist_controller.policy_node import shipped_policy

    policy_used = args.policy or shipped_policy()
    rclpy.init()
    mon = Monitor()
    rng = np.random.default_rng(args.seed)
    eps = []
    t_all = time.monotonic()
    try:
        for i in range(args.episodes):
            segs = command_sequence(rng, args.duration)
            ep = run_episode(mon, i, segs, args, out)
            if not rclpy.ok():  # SIGINT: rclpy shut its context down; keep what was measured
                print(f"interrupted during episode {i}: stopping, writing partial results", flush=True)
                break
            for _ in range(args.retries):  # start-up failures (not falls) get a fresh stack
                if not ep["error"]:
                    break
                print(f"episode {i}: not run ({ep['error']}); retrying", flush=True)
                first_error = ep["error"]
                ep = run_episode(mon, i, segs, args, out)
                ep["retried_after"] = first_error
            eps.append(ep)
            write_outputs(eps, args, out, policy_used, time.monotonic() - t_all, final=False)
            if ep["error"]:
                print(f"episode {i}: NOT RUN: {ep['error']}", flush=True)
            else:
                print(
                    f"episode {i}: fell={ep['fell']} survived={ep['survived_s']:.1f}s "
                    f"vel_err={ep['vel_err_xy_mps']:.3f} joint_err={ep['joint_err_rad']:.3f} "
                    f"tau_peak={ep['tau_peak_nm']} startup={ep['startup_s']}s",
                    flush=True,
                )
    except KeyboardInterrupt:
        print("interrupted: writing partial results", flush=True)
    finally:
        mon.node.destroy_node()
        if rclpy.ok():
            rclpy.shutdown()
    summary = write_outputs(eps, args, out, policy_used, time.monotonic() - t_all, final=True)
    return 0 if summary["episodes_evaluated"] == args.episodes else 1


if __name__ == "__main__":
    sys.exit(main())
