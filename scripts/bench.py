#!/usr/bin/env python3
"""One benchmark command for the speed claims: prints a table and writes JSON.

    make bench                     # = source scripts/env.sh && python scripts/bench.py
    python scripts/bench.py --quick [--skip stack,training] [--out runs/bench]

Figures (all on this machine, in one run; the conditions are recorded in the JSON):

* CMG step, batch 1, 1 thread: eager / TorchScript / ONNX Runtime p50/p99 and the ratio to eager
  (``scripts/bench_cmg.py``'s ``bench_model``; the shipped model when present, else seed size);
* policy step: the student observation + inference (``PolicyRuntime.step``) with an untrained MLP
  of the student's size, TorchScript and ONNX;
* across processes, on the running sim graph (mujoco_sim, pd_bridge, cmg_node, reference_mux,
  policy_node; ``scripts/stack_harness.py``): ``/cmd_vel`` -> LowCmd latency (a probe policy
  copies the reference forward velocity into every joint target, so a /cmd_vel step is seen on the
  wire), 50 Hz loop jitter (/joint_targets and /reference_motion publish stamps), the bridge's
  LowCmd period, and the CPU share of each node at real time;
* simulator real-time factor: physics core and the ``mujoco_sim --fast`` process
  (``scripts/bench_sim_bridge.py``'s ``bench_rtf``);
* training env-steps/s next to raw ``mj_step`` in the same run (``scripts/bench_training.py``);
* CMG training samples/s (``bench_cmg.bench_train``);
* redis_bridge's TWIST Redis output rate for a 50 Hz reference, idle and with three CPU burners on
  the cores, plus the Redis GET round trip measured meanwhile (what the socket timeout is set from).
"""

from __future__ import annotations

import argparse
import itertools
import json
import os
import platform
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import numpy as np
from stack_harness import WireSignal, policy_joint_offset  # scripts/, this file's folder

from twist_controller.stamps import stamp_s

REPO = Path(__file__).resolve().parents[1]
SCRIPTS = REPO / "scripts"
TICK = os.sysconf("SC_CLK_TCK")


def _pct(x, p) -> float:
    return float(np.percentile(np.asarray(x), p)) if len(x) else float("nan")


def _cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / TICK


def machine() -> dict:
    cpu = "unknown CPU"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    mem = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30
    return {
        "cpu": cpu,
        "cores": os.cpu_count(),
        "memory_gib": round(mem, 1),
        "python": platform.python_version(),
        "os": platform.platform(),
        "loadavg_start": [round(x, 2) for x in os.getloadavg()],
        "date_utc": time.strftime("%Y-%m-%d %H:%M", time.gmtime()),
    }


# ------------------------------------------------------------------------------------ CMG step
def bench_cmg_step(calls: int) -> dict:
    import bench_cmg as bc  # scripts/ is on sys.path (this file's directory)
    import torch

    torch.set_num_threads(1)
    shipped = bc.DEFAULT_MODEL
    if shipped.is_file():
        path, name = shipped, shipped.name
    else:
        from cmg_generator.artifact import NormStats, make_metadata, save_artifact
        from cmg_generator.model import CMG, CMGConfig

        rng = np.random.default_rng(0)
        st = NormStats.compute(rng.normal(size=(100, 58)), rng.normal(size=(100, 3)))
        path = Path(tempfile.mkdtemp()) / "seed_size.pt"
        save_artifact(path, CMG(CMGConfig()), st, make_metadata(st, np.zeros(58)))
        name = "seed-size random (512, 58 ch)"
    rows = bc.bench_model(path, calls)
    eager = rows[0][1]
    return {
        "model": name,
        "rows": [
            {"backend": k, "p50_us": p50, "p99_us": p99, "ratio_to_eager": p50 / eager}
            for k, p50, p99 in rows
        ],
    }


# ------------------------------------------------------------------------------------ policy step
def bench_policy_step(calls: int) -> dict:
    import torch

    from twist_controller import robot
    from twist_controller.policy import export_policy, load_policy
    from twist_controller.policy_runtime import PolicyRuntime, ReferenceSample

    torch.set_num_threads(1)
    torch.manual_seed(0)
    dims = (1155, 512, 512, 256, 128)
    layers = []
    for a, b in itertools.pairwise(dims):
        layers += [torch.nn.Linear(a, b), torch.nn.LayerNorm(b), torch.nn.SiLU()]
    net = torch.nn.Sequential(*layers, torch.nn.Linear(dims[-1], 23)).eval()
    tmp = Path(tempfile.mkdtemp())
    out = {"network": "untrained MLP 1155-512-512-256-128-23, LayerNorm + SiLU (student size)", "rows": []}
    ref = ReferenceSample(robot.DEFAULT_POSITION.copy(), 0.78, np.zeros(3), np.zeros(3), 0.0)
    for ext in (".pt", ".onnx"):
        pol = load_policy(export_policy(net, tmp / f"student{ext}"))
        rt = PolicyRuntime(pol)
        obs = np.zeros((1, 1155), np.float32)
        t_act, t_step = [], []
        now = 0.0
        for i in range(calls + 100):
            t = time.perf_counter()
            pol.act(obs)
            a = time.perf_counter() - t
            now += 0.02
            rt.set_reference(ref, now)
            rt.set_joint_state(robot.DEFAULT_POSITION, np.zeros(29), now)
            rt.set_imu(np.array([1.0, 0, 0, 0]), np.zeros(3), now)
            t = time.perf_counter()
            r = rt.step(now)
            s = time.perf_counter() - t
            assert r.targets is not None, r.reason
            if i >= 100:
                t_act.append(a)
                t_step.append(s)
        out["rows"].append(
            {
                "backend": pol.backend,
                "inference_p50_us": _pct(t_act, 50) * 1e6,
                "inference_p99_us": _pct(t_act, 99) * 1e6,
                "step_p50_us": _pct(t_step, 50) * 1e6,
                "step_p99_us": _pct(t_step, 99) * 1e6,
            }
        )
    return out


# ------------------------------------------------------------------------------------ the running graph
class _RosSide:
    """The bench's own ROS node: publishes /cmd_vel and records every /reference_motion (mux output),
    /joint_targets and, with ``cmg_detail``, /reference_motion/cmg (cmg_node output) with its
    receive time (``time.monotonic()``), its publish stamp (converted to the monotonic clock) and
    the signal the latency steps move (the command's vx; the median policy-joint target offset from
    default).

    ``cmg_detail`` is off by default: the measuring process should load the 2 cores as little as it
    can, and with the chain composed a subscriber of /reference_motion/cmg also makes the container
    publish that topic on DDS, which it otherwise skips (twist_controller.intra_process)."""

    def __init__(self, cmg_detail: bool = False):
        import rclpy
        from geometry_msgs.msg import Twist

        from twist_controller import robot
        from twist_controller.node_main import make_executor
        from twist_msgs.msg import ControllerState, JointTargets, ReferenceMotion

        rclpy.init()
        self.rclpy = rclpy
        self.node = rclpy.create_node("bench_probe")
        self.lock = threading.Lock()
        self.wall_minus_mono = _wall_minus_mono()  # header stamps are wall (ROS) time
        # (receive monotonic, publish stamp in monotonic seconds, signal)
        self.targets: list[tuple[float, float, float]] = []
        self.refs: list[tuple[float, float, float]] = []
        self.cmg_refs: list[tuple[float, float, float]] = []
        self.mode = None
        self.mode_changes: list[tuple[float, str]] = []  # (monotonic, bridge mode) on every change
        self.Twist = Twist
        self._idx = robot.POLICY_TO_FULL
        self._default = np.asarray(robot.DEFAULT_POSITION, dtype=np.float64)[robot.POLICY_TO_FULL]
        self.pub = self.node.create_publisher(Twist, "/cmd_vel", 10)
        self.node.create_subscription(JointTargets, "/joint_targets", self._on_targets, 50)
        self.node.create_subscription(
            ReferenceMotion, "/reference_motion", lambda m: self._on_ref(self.refs, m), 50
        )
        if cmg_detail:
            self.node.create_subscription(
                ReferenceMotion, "/reference_motion/cmg", lambda m: self._on_ref(self.cmg_refs, m), 50
            )
        self.node.create_subscription(ControllerState, "/controller_state", self._on_cs, 10)
        # rclpy's events executor, as the nodes use (node_main.make_executor): the Python executor's
        # wait-set rebuild was about half of this measuring process's CPU. spin_once with a stop
        # flag, not spin() + shutdown() from another thread: that shutdown hung
        self.ex = make_executor()
        self.ex.add_node(self.node)
        self._stop = threading.Event()
        self.thread = threading.Thread(target=self._spin, daemon=True)
        self.thread.start()

    def _spin(self) -> None:
        while not self._stop.is_set():
            self.ex.spin_once(timeout_sec=0.1)

    def _stamp(self, m) -> float:
        return stamp_s(m.header.stamp) - self.wall_minus_mono

    def _on_ref(self, lst, m):
        t = time.monotonic()
        with self.lock:
            lst.append((t, self._stamp(m), float(m.command.linear.x), bool(m.revision)))

    def _on_targets(self, m):
        t = time.monotonic()
        sig = policy_joint_offset(np.asarray(m.position, dtype=np.float64), self._idx, self._default)
        with self.lock:
            self.targets.append((t, self._stamp(m), sig))

    def _on_cs(self, m):
        if m.mode_name != self.mode:
            self.mode_changes.append((time.monotonic(), m.mode_name))
        self.mode = m.mode_name

    def cmd(self, vx: float) -> float:
        m = self.Twist()
        m.linear.x = float(vx)
        t = time.monotonic()
        self.pub.publish(m)
        return t

    def close(self):
        self._stop.set()
        self.thread.join(timeout=2.0)
        self.node.destroy_node()
        self.rclpy.shutdown()


def _wall_minus_mono() -> float:
    """time.time() - time.monotonic(), from the tightest of a few reads (µs precision)."""
    best = None
    for _ in range(20):
        a = time.monotonic()
        w = time.time()
        b = time.monotonic()
        if best is None or b - a < best[0]:
            best = (b - a, w - 0.5 * (a + b))
    return best[1]


def _jitter(stamps: list[float], period: float) -> dict:
    d = np.diff(np.asarray(stamps))
    if len(d) < 2:
        return {"samples": len(d)}
    dev = np.abs(d - period) * 1e3
    return {
        "samples": len(d),
        "mean_period_ms": float(d.mean() * 1e3),
        "std_ms": float(d.std() * 1e3),
        "p99_abs_dev_ms": _pct(dev, 99),
        "max_abs_dev_ms": float(dev.max()),
    }


def _stats_ms(x: list[float]) -> dict:
    a = np.asarray(x, dtype=np.float64) * 1e3
    if not len(a):
        return {"samples": 0}
    return {
        "samples": len(a),
        "p50_ms": _pct(a, 50),
        "p90_ms": _pct(a, 90),
        "p99_ms": _pct(a, 99),
        "max_ms": float(a.max()),
        "min_ms": float(a.min()),
        "mean_ms": float(a.mean()),
    }


HOPS = (
    ("cmd_vel_to_reference", "/cmd_vel publish -> reference_mux publishes the first /reference_motion "
     "carrying that command (cmg_node redoes its last tick with it, or the next tick takes it; CMG "
     "step, cmg_node -> mux)"),
    ("reference_to_joint_targets", "that /reference_motion's publish -> policy_node publishes the first "
     "/joint_targets computed from it (mux -> policy_node, policy step)"),
    ("joint_targets_to_lowcmd", "that /joint_targets' publish -> first LowCmd on the wire carrying it "
     "(policy_node -> pd_bridge, its write, DDS to the probe)"),
    ("total", "/cmd_vel publish -> first LowCmd on the wire carrying that command"),
)  # fmt: skip


class CommandCode:
    """Distinct forward speeds for a /cmd_vel stream, ``step`` apart, in a scrambled order (a value
    comes back only every ``levels`` messages), and their decoding from a measured speed."""

    def __init__(self, lo: float = 0.05, step: float = 0.003, levels: int = 101, stride: int = 37):
        self.lo, self.step, self.levels, self.stride = lo, step, levels, stride

    def index(self, k: int) -> int:
        """The level of the ``k``-th message."""
        return (k * self.stride) % self.levels

    def value(self, k: int) -> float:
        return self.lo + self.step * self.index(k)

    def level(self, v: float) -> int | None:
        """The level whose value ``v`` is (within a quarter step), else None."""
        i = round((v - self.lo) / self.step)
        return i if 0 <= i < self.levels and abs(v - self.lo - i * self.step) < 0.25 * self.step else None


def _first_carrying(rows: list, times: list[float], t_from: float, want: int, decode, horizon: float):
    """First row at or after ``t_from`` (``times`` = the rows' sort key) whose decoded level is
    ``want``, looking at most ``horizon`` s ahead."""
    import bisect

    for i in range(bisect.bisect_left(times, t_from), len(rows)):
        if times[i] > t_from + horizon:
            return None
        if decode(rows[i]) == want:
            return rows[i]
    return None


def latency_stream(ros: _RosSide, wire: WireSignal, samples: int, rate_hz: float = 20.0) -> dict:
    """/cmd_vel streamed at about ``rate_hz`` (each gap drawn from 0.8-1.2 periods: random phase
    against the 50 Hz loops), every message a new forward speed (``CommandCode``). The probe policy
    moves every joint target by ACTION_SCALE x the reference speed, so each LowCmd on the wire says
    which command it carries and every message is one sample: publish -> the first /reference_motion
    carrying it (stamp) -> the first /joint_targets computed from it (stamp) -> the first LowCmd on
    the wire carrying it (receive time). One machine: the nodes' wall-clock header stamps are
    converted to the bench's monotonic clock, so the hops add up to the total exactly."""
    from twist_controller import robot

    scale = robot.ACTION_SCALE  # probe policy: action = vx, target = default + scale * action
    code = CommandCode()
    sent: list[tuple[float, int]] = []  # (publish monotonic, level)
    rng = np.random.default_rng(0)
    left_policy = None
    with ros.lock:
        n_ref0, n_tgt0, n_cmg0 = len(ros.refs), len(ros.targets), len(ros.cmg_refs)
    with wire.probe.lock:
        n_wire0 = len(wire.rows)
    t_start = time.monotonic()
    for k in range(samples):
        if ros.mode != "POLICY":  # a safety trip (stale input): the bridge stays out of POLICY
            left_policy = f"bridge in {ros.mode} after {k} commands"
            break
        sent.append((ros.cmd(code.value(k)), code.index(k)))
        time.sleep(rng.uniform(0.8, 1.2) / rate_hz)
    time.sleep(0.5)  # the last command's LowCmds
    duration = time.monotonic() - t_start
    with ros.lock:
        refs = ros.refs[n_ref0:]
        tgts = ros.targets[n_tgt0:]
        cmgs = ros.cmg_refs[n_cmg0:]
    with wire.probe.lock:
        lows = [r for r in wire.rows[n_wire0:] if r[1] == "ACTIVE"]
    ref_t = [r[1] for r in refs]  # publish stamps
    tgt_t = [r[1] for r in tgts]
    cmg_t = [r[0] for r in cmgs]  # receive times: a revision carries the stamp of the tick it redoes
    low_t = [r[0] for r in lows]  # receive times on the wire
    hops: dict[str, list[float]] = {k: [] for k, _ in HOPS}
    extra: dict[str, list[float]] = {
        k: [] for k in ("cmd_vel_to_cmg_received", "reference_delivery", "joint_targets_delivery")
    }
    misses = {"reference": 0, "joint_targets": 0, "lowcmd": 0}
    revised = 0  # samples whose first reference was a revision of the tick before the command
    diag: list[dict] = []
    for t0, lv in sent:
        ref = _first_carrying(refs, ref_t, t0, lv, lambda r: code.level(r[2]), 1.0)
        tgt = low = None
        if ref is not None:
            tgt = _first_carrying(tgts, tgt_t, ref[1], lv, lambda r: code.level(r[2] / scale), 1.0)
        if tgt is not None:
            low = _first_carrying(lows, low_t, tgt[1], lv, lambda r: code.level(r[2] / scale), 1.0)
        if None in (ref, tgt, low):
            misses["reference" if ref is None else "joint_targets" if tgt is None else "lowcmd"] += 1
            if len(diag) < 20:
                diag.append({"t": round(t0 - t_start, 3), "level": lv, "ref": ref, "targets": tgt})
            continue
        hops["cmd_vel_to_reference"].append(ref[1] - t0)
        hops["reference_to_joint_targets"].append(tgt[1] - ref[1])
        hops["joint_targets_to_lowcmd"].append(low[0] - tgt[1])
        hops["total"].append(low[0] - t0)
        revised += ref[3]
        cref = _first_carrying(cmgs, cmg_t, t0, lv, lambda r: code.level(r[2]), 1.0)
        if cref is not None:  # seen by this bench (cmg_node -> here), as the mux sees it
            extra["cmd_vel_to_cmg_received"].append(cref[0] - t0)
        extra["reference_delivery"].append(ref[0] - ref[1])
        extra["joint_targets_delivery"].append(tgt[0] - tgt[1])
    return {
        "commands": len(sent),
        "samples": len(hops["total"]),
        "rate_hz": round(len(sent) / duration, 2),
        "seconds": round(duration, 1),
        "misses": misses,
        "missed": sum(misses.values()),
        "revised_share": round(revised / max(1, len(hops["total"])), 3),
        "left_policy": left_policy,
        "hops": {k: {**_stats_ms(hops[k]), "what": what} for k, what in HOPS},
        "detail": {k: _stats_ms(x) for k, x in extra.items()},
        "raw_ms": {k: [round(x * 1e3, 3) for x in v] for k, v in hops.items()},
        "diagnostics": diag,
    }


def bench_stack(
    samples: int,
    runs: int,
    cpu_window: float,
    revise: bool = True,
    compose: bool = True,
    cmg_detail: bool = False,
    sim_nice: int | None = None,
) -> dict:
    import stack_harness as H

    work = Path(tempfile.mkdtemp(prefix="bench_stack_"))
    cmg = H.tiny_cmg(work / "cmg58.pt", root_channels=False)
    pol = H.probe_policy(work / "probe_policy.pt")
    ros_domain = 100 + (os.getpid() * 7) % 100
    os.environ["ROS_DOMAIN_ID"] = str(ros_domain)
    os.environ["ROS_AUTOMATIC_DISCOVERY_RANGE"] = "LOCALHOST"
    dds = H.process_dds_domain()
    # no command ramp: a /cmd_vel step reaches the reference in one CMG tick (checked below)
    # wall clock (use_sim_time:=false): the hops are timed from the nodes' header stamps, which
    # must be wall time (with the sim graph's default simulated time they would be /clock's)
    stack = H.Stack(work / "logs", cmg, pol, ros_domain, dds, extra_args={"use_sim_time": "false"},
                    node_params={"cmg_node": ["max_accel:=[100.0,100.0,100.0]",
                                              f"revise_on_command:={str(revise).lower()}"],
                                 "mujoco_sim": [] if sim_nice is None else [f"nice:={sim_nice}"]},
                    compose=compose)  # fmt: skip
    probe = H.WireProbe(dds, lowstate=False)
    wire = WireSignal(probe)
    ros = _RosSide(cmg_detail)
    res: dict = {"nodes": list(H.CONTROL_NODES), "processes": list(stack.names), "compose": compose,
                 "cmg_node_command": stack.commands["cmg_node"][1:]}  # fmt: skip
    try:
        stack.start()
        deadline = time.monotonic() + 120
        while ros.mode != "POLICY" and time.monotonic() < deadline:
            ros.cmd(0.0)
            time.sleep(0.1)
        if ros.mode != "POLICY":
            raise RuntimeError(f"stack never reached POLICY (mode {ros.mode}); logs in {work}")
        t_policy = time.monotonic()
        res["sim_nice"] = stack.nice("mujoco_sim")  # as measured: the simulator sets its own
        # ---- /cmd_vel -> LowCmd latency, per hop, on the same commands; ``runs`` windows back to
        # back (the same load), so the run-to-run spread is part of the figure
        res["cmd_vel_to_lowcmd_runs"] = []
        for _ in range(runs):
            load0 = os.getloadavg()
            lat = latency_stream(ros, wire, samples)
            lat["loadavg_before"] = [round(x, 2) for x in load0]
            lat["loadavg_after"] = [round(x, 2) for x in os.getloadavg()]
            res["cmd_vel_to_lowcmd_runs"].append(lat)
        # ---- jitter and CPU at real time (steady command)
        with ros.lock:
            ros.targets.clear()
            ros.refs.clear()
        c0 = {n: _cpu_seconds(stack.pid(n)) for n in stack.names}
        t0 = time.monotonic()
        while time.monotonic() - t0 < cpu_window:
            ros.cmd(0.1)
            time.sleep(0.05)
        dt = time.monotonic() - t0
        c1 = {n: _cpu_seconds(stack.pid(n)) for n in stack.names}
        res["cpu_pct_of_one_core"] = {n: 100 * (c1[n] - c0[n]) / dt for n in stack.names}
        res["cpu_window_s"] = dt
        res["loadavg_during"] = [round(x, 2) for x in os.getloadavg()]
        with ros.lock:
            tj = [s for _, s, _ in ros.targets]
            tr = [r[1] for r in ros.refs]
            rj = [t for t, _, _ in ros.targets]
        res["jitter_joint_targets_stamp"] = _jitter(tj, 0.02)
        res["jitter_joint_targets_receive"] = _jitter(rj, 0.02)
        res["jitter_reference_motion_stamp"] = _jitter(tr, 0.02)
        with probe.lock:
            lc = [t for t, _, _ in probe.cmds if t >= t0]
        res["lowcmd_period"] = _jitter(lc, 1.0 / 200.0)
        res["lowcmd_rate_hz"] = len(lc) / dt
        res["mode_at_end"] = ros.mode
        left = [m for t, m in ros.mode_changes if t >= t_policy and m != "POLICY"]
        if left:  # the figures above then include a safety trip, e.g. an overloaded machine
            trips = [ln for ln in stack.log("pd_bridge").splitlines() if "POLICY -> " in ln]
            res["left_policy"] = trips or left
        for n in stack.names:
            if not stack.alive(n):
                raise RuntimeError(f"{n} died during the benchmark; logs in {work}")
    finally:
        stack.close()
        ros.close()
        probe.close()
    return res


# ------------------------------------------------------------------------------------ sim, training
def bench_sim_rtf(seconds: float) -> dict:
    import bench_sim_bridge as bsb

    env = dict(os.environ)
    env["ROS_AUTOMATIC_DISCOVERY_RANGE"] = "LOCALHOST"
    return bsb.bench_rtf(seconds, 200 + (os.getpid() + 11) % 33, env)


def bench_training(seconds: float, num_envs: int) -> dict:
    out = Path(tempfile.mkdtemp()) / "training.json"
    cmd = [sys.executable, str(SCRIPTS / "bench_training.py"), "--num-envs", str(num_envs),
           "--seconds", str(seconds), "--json", str(out)]  # fmt: skip
    p = subprocess.run(cmd, capture_output=True, text=True, timeout=900, cwd=REPO)
    if p.returncode != 0:
        raise RuntimeError(p.stderr[-2000:])
    return json.loads(out.read_text())


def bench_cmg_training(batches: int) -> dict:
    import bench_cmg as bc  # scripts/ is on sys.path (this file's directory)
    import torch

    torch.set_num_threads(1)
    rows = []
    for hidden, root in ((256, True), (512, False)):
        w, s = bc.bench_train(hidden, root, batches)
        rows.append(
            {"model": f"hidden {hidden}, {65 if root else 58} ch", "windows_per_s": w, "model_steps_per_s": s}
        )
    return {"note": "batch 256, 30-step rollouts, Adam, 1 thread", "rows": rows}


# ------------------------------------------------------------------------------------ redis
def _redis_load_run(
    bridge_cmd: list[str],
    seconds: float,
    burners: int,
    port: int,
    ros_domain: int,
    work: Path,
    server: subprocess.Popen | None = None,
    stall_ms: float = 0.0,
) -> dict:
    """One window: a 50 Hz reference into redis_bridge (ros_to_redis) while ``burners`` busy processes
    compete for the cores (and, with ``stall_ms``, the server is frozen that long once a second, as a
    server starved of CPU is); counts the SETs the server executed and times GET round trips from here."""
    import rclpy
    import redis

    from g1_bringup.mux_core import DT, Frame, Motion
    from g1_bringup.reference_mux import motion_to_msg
    from twist_controller import robot
    from twist_msgs.msg import ReferenceMotion

    env = dict(os.environ, ROS_DOMAIN_ID=str(ros_domain), ROS_AUTOMATIC_DISCOVERY_RANGE="LOCALHOST")
    env["PYTHONUNBUFFERED"] = "1"
    log_path = work / f"redis_bridge_{burners}.log"
    log = open(log_path, "w")
    args = ["-p", f"port:={port}", "-p", "redis_to_ros:=false", "-p", "ros_to_redis:=true"]
    args += ["-p", "reference_topic:=/bench/reference", "-p", "reference_timeout:=5.0"]
    bridge = subprocess.Popen(
        [*bridge_cmd, "--ros-args", *args], env=env, stdout=log, stderr=subprocess.STDOUT
    )
    burn = [
        subprocess.Popen([sys.executable, "-c", "while True: pass"], stdout=subprocess.DEVNULL)
        for _ in range(burners)
    ]
    client = redis.Redis(host="127.0.0.1", port=port, socket_timeout=5.0)
    ctx = rclpy.Context()
    rclpy.init(context=ctx, domain_id=ros_domain)
    node = rclpy.create_node("bench_redis", context=ctx)
    pub = node.create_publisher(ReferenceMotion, "/bench/reference", 10)
    frame = Frame(robot.DEFAULT_POSITION.copy(), np.zeros(29), 0.79, 0.0, 0.0, 0.0, np.zeros(3), 0.0)
    msg = motion_to_msg(node, Motion([frame], DT, "bench"))
    rtts: list[float] = []
    stop = threading.Event()

    def ping_loop() -> None:  # what a round trip costs under this load, from another process
        c = redis.Redis(host="127.0.0.1", port=port, socket_timeout=5.0)
        while not stop.is_set():
            t0 = time.perf_counter()
            c.get("bench_probe")
            rtts.append(time.perf_counter() - t0)
            time.sleep(0.01)

    def stall_loop() -> None:
        while not stop.wait(1.0 - stall_ms / 1e3):
            server.send_signal(19)  # SIGSTOP
            time.sleep(stall_ms / 1e3)
            server.send_signal(18)  # SIGCONT

    def sets() -> int:
        return int(client.info("commandstats").get("cmdstat_set", {}).get("calls", 0))

    out: dict = {"burners": burners, "stall_ms": stall_ms, "window_s": seconds}
    client.config_resetstat()  # SET counts of this run only
    try:
        deadline = time.monotonic() + 60
        while sets() == 0:  # bridge up, discovered, writing
            assert time.monotonic() < deadline and bridge.poll() is None, log_path.read_text()[-2000:]
            pub.publish(msg)
            time.sleep(DT)
        pinger = threading.Thread(target=ping_loop, daemon=True)
        pinger.start()
        staller = threading.Thread(target=stall_loop, daemon=True)
        if stall_ms > 0 and server is not None:
            staller.start()
        load0 = os.getloadavg()[0]
        n_pub, s0, t0 = 0, sets(), time.monotonic()
        next_t = t0
        while time.monotonic() < t0 + seconds:
            pub.publish(msg)
            n_pub += 1
            next_t += DT
            time.sleep(max(0.0, next_t - time.monotonic()))
        stop.set()
        if staller.is_alive():
            staller.join(timeout=2)
        s1, t1 = sets(), time.monotonic()
        pinger.join(timeout=6)
        out.update(
            input_hz=round(n_pub / (t1 - t0), 1),
            output_hz=round((s1 - s0) / 2 / (t1 - t0), 1),  # two SETs per reference: mimic + hand
            loadavg=[round(load0, 2), round(os.getloadavg()[0], 2)],
            get_rtt_ms=_stats_ms(rtts),  # seconds in, ms out
        )
    finally:
        stop.set()
        if server is not None:
            server.send_signal(18)  # never leave it frozen
        for b in burn:
            b.kill()
            b.wait()
        node.destroy_node()
        rclpy.shutdown(context=ctx)
        bridge.send_signal(2)
        try:
            bridge.wait(timeout=15)
        except subprocess.TimeoutExpired:
            bridge.kill()
            bridge.wait()
        log.close()
    text = log_path.read_text()
    out["reconnect_lines"] = sum(
        ("reconnecting" in ln) or ("connected to redis" in ln) for ln in text.splitlines()
    )
    out["timeout_lines"] = text.count("imed out") + text.count("Timeout reading")
    summary = [ln for ln in text.splitlines() if "round trips" in ln]
    out["bridge_summary"] = summary[-1].split("]: ")[-1] if summary else ""
    return out


def bench_redis(seconds: float, burners: int, bridge_cmd: list[str] | None = None) -> dict:
    """redis_bridge's TWIST output rate (ros_to_redis, 50 Hz in) idle and with ``burners`` CPU burners."""
    import shutil
    import socket

    exe = shutil.which("redis-server")
    if exe is None:
        raise RuntimeError("redis-server not installed (scripts/setup.sh)")
    with socket.socket() as sk:
        sk.bind(("127.0.0.1", 0))
        port = sk.getsockname()[1]
    server = subprocess.Popen(
        [exe, "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    work = Path(tempfile.mkdtemp(prefix="bench_redis_"))
    cmd = bridge_cmd or [str(REPO / "install" / "lib" / "g1_bringup" / "redis_bridge")]
    ros_domain = 100 + (os.getpid() * 7 + 3) % 100
    try:
        time.sleep(0.5)
        runs = [
            _redis_load_run(cmd, seconds, n, port, ros_domain, work, server, stall)
            for n, stall in ((0, 0.0), (burners, 0.0), (burners, 80.0))
        ]
    finally:
        server.terminate()
        server.wait(timeout=5)
    return {
        "note": f"50 Hz reference in, {os.cpu_count()} cores, burners = busy python processes, "
        "stalls = SIGSTOP/SIGCONT of the server",
        "runs": runs,
    }


# ------------------------------------------------------------------------------------ report
def table(res: dict) -> str:
    rows: list[tuple[str, str, str]] = []
    if "cmg_step" in res:
        c = res["cmg_step"]
        for r in c["rows"]:
            val = f"{r['p50_us']:.0f} µs p50, {r['p99_us']:.0f} µs p99 (x{r['ratio_to_eager']:.2f} of eager)"
            rows.append((f"CMG step, {r['backend']}", val, f"{c['model']}, batch 1, 1 thread"))
    if "policy_step" in res:
        for r in res["policy_step"]["rows"]:
            val = f"{r['step_p50_us']:.0f} µs p50, {r['step_p99_us']:.0f} µs p99"
            val += f" (inference alone {r['inference_p50_us']:.0f} µs)"
            rows.append((f"policy step, {r['backend']}", val, "obs build + MLP of student size, 1 thread"))
    if "stack" in res:
        s = res["stack"]
        for n, c in enumerate(s.get("cmd_vel_to_lowcmd_runs", [])):
            cond = f"run {n + 1}: {c['samples']} of {c['commands']} commands at {c['rate_hz']} Hz,"
            cond += f" {c['missed']} missed, {100 * c.get('revised_share', 0):.0f}% by a revised tick,"
            cond += f" load {c['loadavg_before']}"
            cond += ", control chain in one process" if s.get("compose") else ", control chain as 3 processes"
            cond += f", simulator at nice {s.get('sim_nice')}"
            for key, label in (
                ("total", "/cmd_vel -> LowCmd on the wire (total)"),
                (
                    "cmd_vel_to_reference",
                    "  hop: /cmd_vel -> /reference_motion (cmg_node revision/tick + mux)",
                ),
                ("reference_to_joint_targets", "  hop: /reference_motion -> /joint_targets (policy step)"),
                ("joint_targets_to_lowcmd", "  hop: /joint_targets -> LowCmd on the wire (pd_bridge)"),
            ):
                h = c["hops"][key]
                if not h["samples"]:
                    rows.append((label, "no samples", cond))
                    continue
                val = f"{h['p50_ms']:.1f} ms p50, {h['p90_ms']:.1f} p90, {h['p99_ms']:.1f} p99,"
                val += f" {h['max_ms']:.1f} max"
                rows.append((label, val, cond if key == "total" else f"run {n + 1}, same commands"))
        for key, label in (
            ("jitter_joint_targets_stamp", "policy_node 50 Hz loop"),
            ("jitter_reference_motion_stamp", "reference 50 Hz loop"),
        ):
            j = s[key]
            if "std_ms" in j:
                val = f"period {j['mean_period_ms']:.2f} ms, std {j['std_ms']:.2f} ms,"
                val += f" p99 abs. dev. {j['p99_abs_dev_ms']:.2f} ms, max {j['max_abs_dev_ms']:.1f} ms"
                rows.append((f"{label} jitter", val, f"publish stamps, {j['samples']} periods"))
        lp = s["lowcmd_period"]
        if "std_ms" in lp:
            val = f"{s['lowcmd_rate_hz']:.1f} Hz, period std {lp['std_ms']:.2f} ms,"
            val += f" max abs. dev. {lp['max_abs_dev_ms']:.1f} ms"
            rows.append(("pd_bridge LowCmd", val, "200 Hz configured, on the wire"))
        cpu = ", ".join(f"{k} {v:.0f}%" for k, v in s["cpu_pct_of_one_core"].items())
        cond = f"{s['cpu_window_s']:.0f} s window, load {s['loadavg_during']}"
        rows.append(("CPU at real time (% of one core)", cpu, cond))
    if "sim_rtf" in res:
        r = res["sim_rtf"]
        val = f"core {r['core_rtf']:.1f}x, mujoco_sim --fast process {r['process_rtf']:.1f}x"
        rows.append(("simulator real-time factor", val, r["note"]))
    if "training" in res:
        for r in res["training"]["runs"]:
            val = (
                f"{r['env_steps_per_s']} env steps/s ({r['env_policy_steps_per_s']} with the teacher forward)"
            )
            val += f" next to mj_step {r.get('raw_mj_step_per_s')}/s of the expert walking"
            val += f" (= {r.get('raw_policy_steps_per_s')} policy steps/s)"
            rows.append((f"training env-steps/s, {r['num_envs']} envs", val, "1 sim thread, CPU, same run"))
    if "cmg_training" in res:
        note = res["cmg_training"]["note"]
        for r in res["cmg_training"]["rows"]:
            val = f"{r['windows_per_s']:.0f} windows/s = {r['model_steps_per_s']:.0f} samples (model steps)/s"
            rows.append((f"CMG training, {r['model']}", val, note))
    if "redis" in res:
        for r in res["redis"]["runs"]:
            rt = r.get("get_rtt_ms", {})
            val = f"{r['output_hz']:.1f} Hz out for {r['input_hz']:.1f} Hz in"
            nan = float("nan")
            val += f"; GET round trip {rt.get('p50_ms', nan):.2f} ms p50, {rt.get('p99_ms', nan):.1f} p99,"
            val += f" {rt.get('max_ms', nan):.1f} max; {r['timeout_lines']} timeouts logged"
            stall = f", server frozen {r['stall_ms']:.0f} ms every s" if r.get("stall_ms") else ""
            cond = f"{r['burners']} CPU burners{stall}, load {r['loadavg']}, {r['window_s']:.0f} s"
            cond += f"; {r['bridge_summary']}"
            rows.append(("redis_bridge TWIST output (ros_to_redis)", val, cond))
    m = res["machine"]
    head = f"machine: {m['cpu']}, {m['cores']} cores, {m['memory_gib']} GiB, Python {m['python']},"
    head += f" load {m['loadavg_start']} at start, {m['date_utc']} UTC"
    lines = [head, "", "| figure | value | conditions |", "|---|---|---|"]
    lines += [f"| {a} | {b} | {c} |" for a, b, c in rows]
    if res.get("stack", {}).get("left_policy"):
        lines.append(f"| bridge left POLICY | FAILED: {str(res['stack']['left_policy'])[:120]} | |")
    for k, v in res.get("errors", {}).items():
        lines.append(f"| {k} | FAILED: {v[:80]} | |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--quick", action="store_true", help="shorter windows (noisier), ~3 min")
    ap.add_argument(
        "--skip", default="", help="comma list of: cmg,policy,stack,sim,training,cmg_training,redis"
    )
    ap.add_argument("--out", default=str(REPO / "runs" / "bench"), help="JSON output folder")
    ap.add_argument(
        "--latency-samples",
        type=int,
        default=0,
        help="/cmd_vel messages per latency window (2 windows; default 3000, --quick 300; ~20 per s)",
    )
    ap.add_argument(
        "--no-revision",
        action="store_true",
        help="cmg_node revise_on_command:=false: a command waits for the next tick (the A/B of that option)",
    )
    ap.add_argument(
        "--cmg-detail",
        action="store_true",
        help="also time /cmd_vel -> /reference_motion/cmg (one more subscriber: more load on the machine)",
    )
    ap.add_argument(
        "--no-compose",
        action="store_true",
        help="compose:=false: cmg_node, reference_mux and policy_node as three processes (the A/B of it)",
    )
    ap.add_argument(
        "--sim-nice",
        type=int,
        default=None,
        help="mujoco_sim nice:=N (default: its parameter: auto, 0 on the bench's wall time; 10 = as on "
        "simulated time)",
    )
    args = ap.parse_args(argv)
    skip = {s for s in args.skip.split(",") if s}
    q = args.quick
    res: dict = {"machine": machine(), "quick": q}
    lat_samples = args.latency_samples or (300 if q else 3000)
    plan = [
        ("cmg_step", "cmg", lambda: bench_cmg_step(500 if q else 2000)),
        ("policy_step", "policy", lambda: bench_policy_step(300 if q else 1000)),
        (
            "stack",
            "stack",
            lambda: bench_stack(
                lat_samples,
                2,
                5.0 if q else 15.0,
                not args.no_revision,
                not args.no_compose,
                args.cmg_detail,
                args.sim_nice,
            ),
        ),
        ("sim_rtf", "sim", lambda: bench_sim_rtf(5.0 if q else 20.0)),
        ("training", "training", lambda: bench_training(3.0 if q else 8.0, 16)),
        ("cmg_training", "cmg_training", lambda: bench_cmg_training(3 if q else 5)),
        ("redis", "redis", lambda: bench_redis(6.0 if q else 15.0, 3)),
    ]
    for key, name, fn in plan:
        if name in skip:
            continue
        print(f"bench: {key} ...", flush=True)
        t = time.perf_counter()
        try:
            res[key] = fn()
        except Exception as exc:  # one failing part must not hide the others
            res.setdefault("errors", {})[key] = f"{type(exc).__name__}: {exc}"
            print(f"bench: {key} failed: {exc}", file=sys.stderr, flush=True)
        res.setdefault("seconds", {})[key] = round(time.perf_counter() - t, 1)
    res["machine"]["loadavg_end"] = [round(x, 2) for x in os.getloadavg()]
    text = table(res)
    print("\n" + text)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    stamp = time.strftime("%Y%m%d-%H%M%S", time.gmtime())
    for p in (out / f"bench_{stamp}.json", out / "latest.json"):
        p.write_text(json.dumps(res, indent=1, default=float))
    (out / "latest.md").write_text(text + "\n")
    print(f"\nwrote {out / 'latest.json'} and {out / f'bench_{stamp}.json'}")
    missed = 0
    for lat in res.get("stack", {}).get("cmd_vel_to_lowcmd_runs", []):
        if lat["missed"] or lat["left_policy"]:
            missed += lat["missed"] + bool(lat["left_policy"])
            print(f"bench: latency window: {lat['missed']} commands never reached the wire "
                  f"{lat['misses']}; {lat['left_policy'] or ''}", file=sys.stderr)  # fmt: skip
    left = res.get("stack", {}).get("left_policy")
    if left:
        print(f"bench: the bridge left POLICY during the run: {left}", file=sys.stderr)
    return 1 if res.get("errors") or missed or left else 0


if __name__ == "__main__":
    sys.exit(main())
