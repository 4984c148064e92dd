#!/usr/bin/env python3
"""Benchmark of the simulated robot link (mujoco_sim <-> pd_bridge over DDS on loopback).

Prints a table and writes JSON (``--out``, default bench_sim_bridge.json). Figures:

1. codec: unitree_hg LowCmd/LowState encode + CRC, SDK (cyclonedds IDL + unitree_sdk2py CRC) vs ours
2. simulator real-time factor, headless: physics core alone, and the full ``mujoco_sim --fast``
   process publishing LowState over DDS (500 Hz of simulated time)
3. LowCmd -> LowState round trip p50/p99 against the real-time simulator: a feed-forward torque is
   changed on one motor (kp = kd = 0) and the time until LowState reports it is measured
4. CPU use (% of one core) of the simulator (real time, 500 Hz LowState, ROS on) and of pd_bridge
   (holding the stand pose) at several bridge rates

Run: ``source scripts/env.sh && python scripts/bench_sim_bridge.py [--quick]`` (about 2 min; --quick ~1 min).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
SIM = REPO / "install" / "lib" / "g1_bringup" / "mujoco_sim"
BRIDGE = REPO / "install" / "lib" / "twist_controller" / "pd_bridge"
TICK = os.sysconf("SC_CLK_TCK")


def cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / TICK  # utime + stime


def percentile_ms(x, p):
    return float(np.percentile(np.asarray(x) * 1e3, p)) if len(x) else float("nan")


# ------------------------------------------------------------------------------ 1. codec
def bench_codec(n=2000) -> dict:
    from unitree_sdk2py.idl.default import unitree_hg_msg_dds__LowCmd_, unitree_hg_msg_dds__LowState_
    from unitree_sdk2py.utils.crc import CRC

    from twist_controller import robot, unitree_io

    out = {}
    crc = CRC()
    for name, make in (("LowState", unitree_hg_msg_dds__LowState_), ("LowCmd", unitree_hg_msg_dds__LowCmd_)):
        obj = make()
        m = max(200, n // 10)
        t = time.perf_counter()
        for _ in range(m):
            obj.crc = crc.Crc(obj)
            obj.serialize()
        sdk = (time.perf_counter() - t) / m
        ours_msg = unitree_io.LowState() if name == "LowState" else unitree_io.LowCmd()
        q = np.zeros(29)
        t = time.perf_counter()
        for _ in range(n):
            if name == "LowState":
                ours_msg.set("motor_state.q", np.concatenate([q, np.zeros(6)]))
                ours_msg.set("motor_state.dq", np.concatenate([q, np.zeros(6)]))
                ours_msg.set("motor_state.tau_est", np.concatenate([q, np.zeros(6)]))
            else:
                ours_msg.fill(q, q, q, robot.KP, robot.KD)
            ours_msg.finalize()
        ours = (time.perf_counter() - t) / n
        data = ours_msg.finalize()
        t = time.perf_counter()
        for _ in range(n):
            type(ours_msg)(bytearray(data)).crc_ok()
        parse = (time.perf_counter() - t) / n
        out[name] = {
            "sdk_encode_crc_us": sdk * 1e6,
            "ours_encode_crc_us": ours * 1e6,
            "ours_parse_check_us": parse * 1e6,
        }
    return out


# ------------------------------------------------------------------------------ 2. real-time factor
def bench_rtf(sim_seconds: float, domain: int, env: dict) -> dict:
    from g1_bringup.simulator.sim_core import SimConfig, SimCore
    from twist_controller import unitree_io

    core = SimCore(SimConfig())
    msg = unitree_io.LowState()
    steps = int(sim_seconds / core.cfg.dt)
    t = time.perf_counter()
    for _ in range(steps):
        core.step(1)
        core.fill_lowstate(msg)
        msg.finalize()
    core_rtf = sim_seconds / (time.perf_counter() - t)
    t = time.perf_counter()
    p = subprocess.run(
        [
            str(SIM),
            "--fast",
            "--no-ros",
            "--domain",
            str(domain),
            "--duration",
            str(sim_seconds),
            "--print-status",
        ],
        capture_output=True,
        text=True,
        env=env,
        timeout=300,
    )
    status = json.loads([ln for ln in p.stdout.splitlines() if ln.startswith("{")][-1])
    return {
        "core_rtf": core_rtf,
        "process_rtf": status["rtf"],
        "sim_seconds": sim_seconds,
        "note": "band on (hanging), LowState every physics step (500 Hz sim time)",
    }


# ------------------------------------------------------------------------------ 3. round trip
def bench_round_trip(samples: int, domain: int, env: dict) -> dict:
    import threading

    from twist_controller import robot, unitree_io

    sim = subprocess.Popen(
        [str(SIM), "--no-ros", "--domain", str(domain)],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        latest = {"msg": None}
        ev = threading.Event()
        target = {"value": None, "t_seen": None}
        motor = robot.joint_index("right_wrist_yaw_joint")

        count = {"n": 0}

        def on_state(m):
            latest["msg"] = m
            count["n"] += 1
            v = target["value"]
            if (
                v is not None
                and target["t_seen"] is None
                and abs(float(m.motor("tau_est")[motor]) - v) < 1e-3
            ):
                target["t_seen"] = time.perf_counter()
                ev.set()

        ep = unitree_io.DdsEndpoint("controller", domain, "lo", on_state)
        t0 = time.time()
        while latest["msg"] is None and time.time() - t0 < 30:
            time.sleep(0.01)
        if latest["msg"] is None:
            raise RuntimeError("no LowState from the simulator")
        time.sleep(0.5)
        n0, t0 = count["n"], time.perf_counter()
        time.sleep(3.0)
        state_rate = (count["n"] - n0) / (time.perf_counter() - t0)
        mm = int(latest["msg"].get("mode_machine")[0])
        cmd = unitree_io.LowCmd()
        z = np.zeros(29)
        rtts = []
        misses = 0
        for i in range(samples):
            tau = z.copy()
            tau[motor] = 0.5 if i % 2 == 0 else -0.5  # wrist yaw feed-forward, kp = kd = 0 -> tau_est = tau
            mode = np.zeros(29, dtype=np.uint8)
            mode[motor] = 1
            cmd.fill(z, z, tau, z, z, mode=mode, mode_machine=mm)
            data = cmd.finalize()
            ev.clear()
            target["t_seen"] = None
            target["value"] = float(tau[motor])
            t_send = time.perf_counter()
            ep.write(data)
            if ev.wait(0.5):
                rtts.append(target["t_seen"] - t_send)
            else:
                misses += 1
            time.sleep(0.02 + 0.01 * np.random.rand())  # de-phase from the 2 ms publish period
    finally:
        sim.send_signal(signal.SIGTERM)
        sim.wait(10)
    return {
        "lowstate_rate_hz": state_rate,
        "samples": len(rtts),
        "misses": misses,
        "p50_ms": percentile_ms(rtts, 50),
        "p90_ms": percentile_ms(rtts, 90),
        "p99_ms": percentile_ms(rtts, 99),
        "max_ms": float(np.max(rtts) * 1e3) if rtts else float("nan"),
        "note": "controller write -> sim applies at its next step -> LowState (500 Hz) -> callback",
    }


# ------------------------------------------------------------------------------ 4. CPU at real time
def bench_cpu(bridge_rate: float, seconds: float, domain: int, env: dict) -> dict:
    sim = subprocess.Popen(
        [str(SIM), "--domain", str(domain)], env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    bridge = subprocess.Popen(
        [
            str(BRIDGE),
            "--ros-args",
            "-p",
            f"dds_domain:={domain}",
            "-p",
            f"rate_hz:={bridge_rate}",
            "-p",
            "auto_stand:=true",
        ],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        time.sleep(5.0)  # start-up, discovery, stand-up
        c0 = {n: cpu_seconds(p.pid) for n, p in (("sim", sim), ("bridge", bridge))}
        t0 = time.perf_counter()
        time.sleep(seconds)
        dt = time.perf_counter() - t0
        c1 = {n: cpu_seconds(p.pid) for n, p in (("sim", sim), ("bridge", bridge))}
        load = os.getloadavg()[0]
    finally:
        for p in (bridge, sim):
            p.send_signal(signal.SIGTERM)
        for p in (bridge, sim):
            try:
                p.wait(10)
            except subprocess.TimeoutExpired:
                p.kill()
    return {
        "bridge_rate_hz": bridge_rate,
        "sim_cpu_pct": 100 * (c1["sim"] - c0["sim"]) / dt,
        "bridge_cpu_pct": 100 * (c1["bridge"] - c0["bridge"]) / dt,
        "window_s": dt,
        "loadavg_1min": load,
    }


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", default="bench_sim_bridge.json")
    ap.add_argument("--quick", action="store_true", help="shorter windows (noisier)")
    ap.add_argument("--rates", default="50,200,500", help="bridge rates for the CPU measurement")
    args = ap.parse_args()
    env = dict(os.environ)
    env.setdefault("ROS_DOMAIN_ID", str(150 + os.getpid() % 50))
    env["ROS_AUTOMATIC_DISCOVERY_RANGE"] = "LOCALHOST"
    base = 200 + os.getpid() % 25
    res = {
        "conditions": {
            "machine": f"{platform.machine()}, {os.cpu_count()} CPUs, Python {platform.python_version()}",
            "loadavg_at_start": os.getloadavg(),
            "date_utc": time.strftime("%Y-%m-%d %H:%M", time.gmtime()),
        }
    }
    print("codec ...", flush=True)
    res["codec"] = bench_codec(1000 if args.quick else 3000)
    print("real-time factor ...", flush=True)
    res["rtf"] = bench_rtf(5.0 if args.quick else 20.0, base, env)
    print("round trip ...", flush=True)
    res["round_trip"] = bench_round_trip(100 if args.quick else 300, base + 1, env)
    res["cpu"] = []
    for r in (float(x) for x in args.rates.split(",")):
        print(f"CPU at real time, bridge {r:.0f} Hz ...", flush=True)
        res["cpu"].append(bench_cpu(r, 5.0 if args.quick else 10.0, base + 2, env))

    print("\n== unitree_hg codec (encode + CRC per message) ==")
    print(f"{'msg':10s} {'SDK µs':>10s} {'ours µs':>10s} {'ours parse+check µs':>22s}")
    for k, v in res["codec"].items():
        sdk, ours, parse = v["sdk_encode_crc_us"], v["ours_encode_crc_us"], v["ours_parse_check_us"]
        print(f"{k:10s} {sdk:10.1f} {ours:10.1f} {parse:22.1f}")
    r = res["rtf"]
    print(f"\n== simulator real-time factor (headless) ==\ncore only: {r['core_rtf']:.1f}x   ", end="")
    print(f"mujoco_sim --fast process with DDS LowState: {r['process_rtf']:.1f}x")
    rt = res["round_trip"]
    print("\n== LowCmd -> LowState round trip (sim at real time, 500 Hz LowState) ==")
    print(f"LowState received: {rt['lowstate_rate_hz']:.1f} Hz of 500 configured (3 s window)")
    print(
        f"p50 {rt['p50_ms']:.2f} ms  p90 {rt['p90_ms']:.2f} ms  p99 {rt['p99_ms']:.2f} ms  "
        f"max {rt['max_ms']:.2f} ms  ({rt['samples']} samples, {rt['misses']} lost)"
    )
    print("\n== CPU at real time (% of one core) ==")
    print(f"{'bridge Hz':>10s} {'sim %':>8s} {'bridge %':>9s} {'load1':>6s}")
    for c in res["cpu"]:
        hz, sim_pct, br_pct = c["bridge_rate_hz"], c["sim_cpu_pct"], c["bridge_cpu_pct"]
        print(f"{hz:10.0f} {sim_pct:8.1f} {br_pct:9.1f} {c['loadavg_1min']:6.2f}")
    Path(args.out).write_text(json.dumps(res, indent=2))
    print(f"\nwrote {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
