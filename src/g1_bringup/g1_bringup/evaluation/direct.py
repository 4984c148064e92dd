"""The evaluation protocol in one process, faster than real time: the same cores the nodes run.

Chain per 20 ms control tick (the graph's order, without transport): ``CMGGenerator.step`` (the
cmg_node core) -> ``PolicyRuntime.step`` (the policy_node core, observation from the simulator's
joint state and IMU) -> ``SafetyStateMachine`` (the pd_bridge core: stand-up, hand-over, faults,
gain caps) -> ``SimCore`` (the mujoco_sim core: motor PD every 2 ms, elastic band, pushes).

What it leaves out, and ``eval_stack`` keeps: DDS and ROS transport, their latency (a target
reaches the motors here within the tick it was computed), process scheduling. So this is the
place for 100-episode statistics and push tests in minutes; ``eval_stack`` confirms on fewer
episodes that the full graph behaves the same.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass

import numpy as np

from cmg_generator.runtime import CMGGenerator
from twist_controller import robot
from twist_controller.policy import load_policy
from twist_controller.policy_runtime import PolicyRuntime, ReferenceSample
from twist_controller.safety import Mode, Request, SafetyConfig, SafetyStateMachine

from ..simulator.sim_core import MotorCommand, SimConfig, SimCore
from .protocol import COLUMNS, episode_metrics, segment_at

DT = 0.02


@dataclass
class DirectConfig:
    duration: float = 20.0  # s of commands after the band release
    hold: float = 3.0  # s in POLICY with the band on before the release
    fall_height: float = 0.5  # m
    settle: float = 1.5  # s after a command change before samples count
    push_force: float = 0.0  # N; 0 = no pushes
    push_every: float = 3.0  # s
    push_duration: float = 0.2  # s
    # control periods between a policy step and its targets reaching the bridge (the graph's
    # transport and scheduling delay, 5-30 ms, is absent here unless emulated)
    delay_ticks: int = 0
    # simulated seconds per wall-clock second, as a slow simulator runs in the graph: its nodes tick
    # on wall time, so at rtf < 1 each control period covers only rtf x 20 ms of physics
    rtf: float = 1.0


def _yaw(q) -> float:
    w, x, y, z = q
    return math.atan2(2 * (w * z + x * y), 1 - 2 * (y * y + z * z))


class DirectEvaluator:
    """Loads the scene, the policy and the CMG once; :meth:`run` plays one episode from a fresh start."""

    def __init__(self, policy: str, cmg_path, cfg: DirectConfig | None = None):
        import torch

        torch.set_num_threads(1)  # as the nodes do; two threads fighting other processes is far slower
        self.cfg = cfg or DirectConfig()
        self.sim = SimCore(SimConfig())
        self.policy = load_policy(policy)
        self.cmg = CMGGenerator.load(cmg_path)

    def run(self, segs: list[dict], seed: int = 0) -> dict:
        self.sim.set_band(True)
        self.sim.reset()
        self.cmg.reset()
        return run_episode(self.sim, PolicyRuntime(self.policy), self.cmg, segs, self.cfg, seed)


def run_episode(
    sim: SimCore,
    runtime: PolicyRuntime,
    cmg: CMGGenerator,
    segs: list[dict],
    cfg: DirectConfig,
    seed: int = 0,
) -> dict:
    """One episode from the band-held start; returns :func:`protocol.episode_metrics` + fall/torque facts."""
    rng = np.random.default_rng(seed + 7919)
    sm = SafetyStateMachine(SafetyConfig(robot="sim"))
    t, phase, t_phase = 0.0, "stand", 0.0
    rows: list[tuple] = []
    tau_peak = np.zeros(robot.NUM_JOINTS)
    fell, fall_reason, fall_t = False, None, None
    next_push = cfg.push_every
    in_flight: list = []  # policy results on their way to the bridge (delay_ticks)
    substeps_due = 0.0  # physics steps owed at cfg.rtf (fractions carried over)
    sm.request(Request.ENABLE, 0.0)
    imu = sim.imu()
    sm.update_state(sim.q, sim.dq, imu["quaternion"], 0.0)
    sm.request(Request.STAND, 0.0)
    wall0 = time.perf_counter()
    while True:
        seg = segment_at(segs, t_phase) if phase == "run" else {"vx": 0.0, "vy": 0.0, "wz": 0.0, "t0": 0.0}
        motion = cmg.step((seg["vx"], seg["vy"], seg["wz"]))
        f = motion.frames[0]
        imu = sim.imu()
        runtime.set_reference(
            ReferenceSample(
                np.asarray(f.joint_positions, float),
                float(f.root_height),
                np.array([f.root_roll, f.root_pitch, f.root_yaw]),
                np.asarray(f.root_linear_velocity, float),
                float(f.root_yaw_rate),
                command=np.asarray(motion.command, float),
            ),
            t,
        )
        runtime.set_joint_state(sim.q.copy(), sim.dq.copy(), t)
        runtime.set_imu(imu["quaternion"], imu["gyroscope"], t)
        in_flight.append(runtime.step(t))
        res = in_flight.pop(0) if len(in_flight) > cfg.delay_ticks else None
        if res is not None and res.targets is not None:
            sm.update_targets(robot.G1_JOINT_NAMES, res.targets, kp=res.kp, kd=res.kd, now=t)
        sm.update_state(sim.q, sim.dq, imu["quaternion"], t)
        if phase == "stand" and t >= sm.cfg.stand_duration + 0.5:
            ok, msg = sm.request(Request.POLICY, t)
            if not ok:
                return {"error": f"no POLICY after stand-up: {msg}"}
            phase, t_phase = "hold", 0.0
        elif phase == "hold" and t_phase >= cfg.hold:
            sim.set_band(False)
            phase, t_phase = "run", 0.0
        cmd = sm.step(t)
        sim.set_command(MotorCommand(cmd.q, cmd.dq, cmd.tau, cmd.kp, cmd.kd, np.ones(robot.NUM_JOINTS, bool)))
        if phase == "run" and cfg.push_force > 0 and t_phase >= next_push:
            a = rng.uniform(-np.pi, np.pi)
            sim.push([cfg.push_force * math.cos(a), cfg.push_force * math.sin(a), 0.0], cfg.push_duration)
            next_push += cfg.push_every
        substeps_due += (cfg.rtf if phase == "run" else 1.0) * DT / sim.cfg.dt
        n_sub = int(substeps_due + 1e-9)
        substeps_due -= n_sub
        sim.step(n_sub)
        t += DT
        t_phase += DT
        if phase != "run":
            if phase == "hold" and sm.mode != Mode.POLICY:
                return {"error": f"bridge left POLICY during the band-held hold ({sm.last_transition})"}
            continue
        tau_peak = np.maximum(tau_peak, np.abs(sim.motor_torque()))
        gt = sim.ground_truth()
        yaw = _yaw(gt["quaternion"])
        c, s = math.cos(yaw), math.sin(yaw)
        vw = gt["linear_world"]
        wz = float(np.asarray(gt["angular_body"]) @ np.array([0.0, 0.0, 1.0]))  # near upright
        jerr = float(np.mean(np.abs(np.asarray(f.joint_positions, float) - sim.q)))
        z = float(gt["position"][2])
        rows.append(
            (
                t_phase,
                seg["vx"],
                seg["vy"],
                seg["wz"],
                c * vw[0] + s * vw[1],
                -s * vw[0] + c * vw[1],
                wz,
                z,
                jerr,
                t_phase - seg["t0"],
            )
        )
        if z < cfg.fall_height:
            fell, fall_reason, fall_t = True, f"pelvis {z:.2f} m < {cfg.fall_height} m", t_phase
        elif sm.mode != Mode.POLICY:
            fell, fall_reason, fall_t = True, f"bridge left POLICY ({sm.last_transition})", t_phase
        if fell or t_phase >= cfg.duration:
            break
    out = episode_metrics(np.array(rows).reshape(-1, len(COLUMNS)), DT, cfg.settle)
    out.update(
        fell=fell,
        fall_reason=fall_reason,
        fall_time_s=fall_t,
        survived_s=rows[-1][0] if rows else 0.0,
        tau_peak_nm=float(tau_peak.max()),
        tau_peak_joint=robot.G1_JOINT_NAMES[int(np.argmax(tau_peak))],
        tau_peak_over_limit=float(np.max(tau_peak / robot.TORQUE_LIMIT)),
        wall_s=round(time.perf_counter() - wall0, 2),
    )
    return out
