"""Physics core of the MuJoCo G1 simulator: motor PD, elastic band, sensors. No DDS, no rclpy.

Motor model: every physics step each enabled motor applies
``tau = clip(tau_ff + kp*(q_des - q) + kd*(dq_des - dq), -limit, +limit)`` (mode 0 or no command:
zero torque). The PD runs inside MuJoCo's C step: the scene's torque actuators are switched to an
affine bias (``force = ctrl - kp*q - kd*dq`` with ``ctrl = tau_ff + kp*q_des + kd*dq_des``) and the
actuator force range clips to the motor torque limit. This is exactly the law above at every step,
costs nothing in Python per step, and with the ``implicitfast`` integrator the kd term is integrated
implicitly (the real motor drivers run their PD at kHz rates; an explicit kd on the light wrists
would be unstable at dt 0.002).

LowCmd watchdog (``lowcmd_timeout`` > 0, off by default): once a command has arrived, if no new
one arrives for ``lowcmd_timeout`` s of simulated time the core installs a damping command
(kp = 0, kd = the bridge's DAMPING gains, :func:`twist_controller.safety.damping_kd`) until the next
command. It emulates a robot-side watchdog so the worst case of a dead controller can be seen;
whether the real G1 firmware does anything like it is not verified. 0 = hold the last command
forever (a motor driver keeping its last setpoint). While it damps, LowState's ``reserve[0]``
carries :data:`LOWSTATE_WATCHDOG_FLAG` (a simulator-only marker; the controllers do not read it).

Elastic band (like a hoist): a spring-damper from a point above the robot to the torso's centre
of mass, plus a little angular damping, through ``xfrc_applied``; its rest length is set so the
robot hangs with the pelvis ``band_lift`` above the standing height when it carries the full weight.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import mujoco
import numpy as np

from twist_controller import robot
from twist_controller.g1_model import SceneConfig, build_scene
from twist_controller.safety import damping_kd

N = robot.NUM_JOINTS
GRAVITY = 9.81
LOWSTATE_WATCHDOG_FLAG = 1  # LowState reserve[0] while the LowCmd watchdog damps (simulator only)


@dataclass
class SimConfig:
    dt: float = 0.002  # physics step, s
    integrator: str = "implicitfast"  # "implicitfast" (default) or "euler"
    elastic_band: bool = True  # band on at start
    band_stiffness: float = 2000.0  # N/m
    band_damping: float = 300.0  # N*s/m
    band_angular_damping: float = 30.0  # N*m*s/rad
    band_lift: float = 0.03  # m, pelvis above the standing height when hanging from the band
    # > 0: switch the band off this many simulated seconds after the leg motors first all get kp > 0
    # (a person lowering the hoist once the robot stands; for unattended demos). 0 = never.
    band_auto_release_s: float = 0.0
    # "stand": count band_auto_release_s from the legs' first kp > 0; "policy": from
    # note_policy_started() (the sim graph: the bridge reported POLICY; standing up and the
    # policy's start-up can take seconds on a busy machine, and a release before the policy
    # runs leaves the robot to the stand-up PD hold, which does not balance)
    band_release_after: str = "stand"
    # > 0: damp (kp = 0, kd = the bridge's DAMPING gains) when no LowCmd arrived for this many
    # simulated seconds, until the next one (a robot-side watchdog). 0 = hold the last command.
    lowcmd_timeout: float = 0.0
    mode_machine: int = 5  # G1 29-DOF
    imu_site: str = robot.IMU_SITE


@dataclass
class MotorCommand:
    """Per-joint (29) motor command; ``enabled`` False = zero torque (mode 0)."""

    q: np.ndarray
    dq: np.ndarray
    tau: np.ndarray
    kp: np.ndarray
    kd: np.ndarray
    enabled: np.ndarray

    @staticmethod
    def zero_torque() -> MotorCommand:
        z = np.zeros(N)
        return MotorCommand(z, z, z, z, z, np.zeros(N, dtype=bool))


def quat_to_rpy(qw: float, qx: float, qy: float, qz: float) -> tuple[float, float, float]:
    """Roll, pitch, yaw (intrinsic ZYX) of a w,x,y,z quaternion."""
    roll = math.atan2(2 * (qw * qx + qy * qz), 1 - 2 * (qx * qx + qy * qy))
    pitch = math.asin(max(-1.0, min(1.0, 2 * (qw * qy - qz * qx))))
    yaw = math.atan2(2 * (qw * qz + qx * qy), 1 - 2 * (qy * qy + qz * qz))
    return roll, pitch, yaw


class SimCore:
    def __init__(self, cfg: SimConfig | None = None):
        self.cfg = cfg or SimConfig()
        m = build_scene(SceneConfig(timestep=self.cfg.dt, actuator="motor"))
        if self.cfg.integrator == "implicitfast":
            m.opt.integrator = mujoco.mjtIntegrator.mjINT_IMPLICITFAST
        elif self.cfg.integrator != "euler":
            raise ValueError(f"integrator must be 'implicitfast' or 'euler', not {self.cfg.integrator!r}")
        # torque motors -> PD in C: force = gain*ctrl + bias0 + bias1*q + bias2*dq, clipped by forcerange
        m.actuator_biastype[:] = mujoco.mjtBias.mjBIAS_AFFINE
        m.actuator_ctrllimited[:] = 0
        m.actuator_gainprm[:, 0] = 1.0
        m.actuator_biasprm[:, :3] = 0.0
        self.model = m
        self.data = mujoco.MjData(m)
        self.torque_limit = m.actuator_forcerange[:, 1].copy()
        self._pelvis = m.body(robot.ROOT_BODY).id
        self._torso = m.body(robot.TORSO_BODY).id
        self._site = m.site(self.cfg.imu_site).id
        self._gyro = m.sensor_adr[m.sensor("imu_ang_vel").id]
        self._acc = m.sensor_adr[m.sensor("imu_lin_acc").id]
        self._mass = float(sum(m.body_mass))
        self._vel6 = np.zeros(6)
        self._quat = np.zeros(4)
        self.band_enabled = self.cfg.elastic_band
        self._release_anchor: float | None = None  # band_auto_release_s counts from here
        if self.cfg.band_release_after not in ("stand", "policy"):
            raise ValueError(
                f"band_release_after must be 'stand' or 'policy', not {self.cfg.band_release_after!r}"
            )
        self.band_anchor = np.zeros(3)
        self.command = MotorCommand.zero_torque()
        if not (self.cfg.lowcmd_timeout >= 0 and math.isfinite(self.cfg.lowcmd_timeout)):
            raise ValueError(f"lowcmd_timeout must be >= 0 (0 = off), got {self.cfg.lowcmd_timeout!r}")
        self._damp_kd = damping_kd()
        self._last_cmd_time: float | None = None  # sim time of the last command from outside
        self.watchdog_active = False  # the LowCmd watchdog is damping now
        self.watchdog_trips = 0  # how many times it started damping
        self.reset()

    # -------------------------------------------------------------------- state
    def reset(self) -> None:
        mujoco.mj_resetDataKeyframe(self.model, self.data, self.model.key("stand").id)
        mujoco.mj_forward(self.model, self.data)
        self._torso_stand_z = float(self.data.xipos[self._torso][2])
        self._release_anchor = None
        self.set_band(self.band_enabled)
        self._install(MotorCommand.zero_torque())
        self._last_cmd_time = None
        self.watchdog_active = False
        self._push_force = np.zeros(3)
        self._push_until = -1.0

    @property
    def time(self) -> float:
        return float(self.data.time)

    @property
    def q(self) -> np.ndarray:
        return self.data.qpos[7:]

    @property
    def dq(self) -> np.ndarray:
        return self.data.qvel[6:]

    @property
    def pelvis_height(self) -> float:
        return float(self.data.qpos[2])

    # -------------------------------------------------------------------- motors
    def set_command(self, cmd: MotorCommand) -> None:
        """A command from the controller (a valid LowCmd): installed and held until the next one
        (or until the LowCmd watchdog fires). Non-finite motors get zero torque."""
        self._last_cmd_time = self.time
        self.watchdog_active = False
        self._install(cmd)

    def lowcmd_age(self) -> float | None:
        """Simulated seconds since the last command from outside (None before the first)."""
        return None if self._last_cmd_time is None else self.time - self._last_cmd_time

    def _check_lowcmd_watchdog(self) -> bool:
        """Install the damping command when the LowCmd stream went silent; True when it fires now."""
        t_out = self.cfg.lowcmd_timeout
        age = self.lowcmd_age()
        if t_out <= 0 or self.watchdog_active or age is None or age < t_out:
            return False
        z = np.zeros(N)
        self._install(MotorCommand(self.q.copy(), z, z, z, self._damp_kd.copy(), np.ones(N, dtype=bool)))
        self.watchdog_active = True
        self.watchdog_trips += 1
        return True

    def _install(self, cmd: MotorCommand) -> None:
        en = np.asarray(cmd.enabled, dtype=bool).copy()
        arrs = [np.asarray(a, dtype=np.float64) for a in (cmd.q, cmd.dq, cmd.tau, cmd.kp, cmd.kd)]
        for a in arrs:
            en &= np.isfinite(a)
        q, dq, tau, kp, kd = (np.where(en, a, 0.0) for a in arrs)
        kp = np.maximum(kp, 0.0)
        kd = np.maximum(kd, 0.0)
        m = self.model
        m.actuator_biasprm[:, 1] = -kp
        m.actuator_biasprm[:, 2] = -kd
        self.data.ctrl[:] = tau + kp * q + kd * dq
        self.command = MotorCommand(q, dq, tau, kp, kd, en)
        if self._release_anchor is None and self.cfg.band_release_after == "stand" and np.all(kp[:12] > 0):
            self._release_anchor = self.time  # the legs are powered: the stand-up has begun

    def note_policy_started(self) -> None:
        """The controller reports its policy runs: anchors the band release (band_release_after)."""
        if self._release_anchor is None and self.cfg.band_release_after == "policy":
            self._release_anchor = self.time

    def motor_torque(self) -> np.ndarray:
        """Torque each motor applies now (N*m), after the limit clip."""
        return self.data.actuator_force

    # -------------------------------------------------------------------- band
    def set_band(self, on: bool) -> None:
        self.band_enabled = bool(on)
        if on:
            k = self.cfg.band_stiffness
            p = self.data.xipos[self._torso]
            self.band_anchor[:] = (
                p[0],
                p[1],
                self._torso_stand_z + self.cfg.band_lift + self._mass * GRAVITY / k,
            )
        else:
            self.data.xfrc_applied[self._torso] = 0.0

    # -------------------------------------------------------------------- pushes
    def push(self, force_world, duration: float) -> None:
        """Apply ``force_world`` (N, 3 values) at the pelvis for ``duration`` simulated seconds
        (evaluation push tests; resolution one ``step`` call)."""
        f = np.asarray(force_world, dtype=np.float64).reshape(3)
        if not (np.all(np.isfinite(f)) and math.isfinite(duration) and duration >= 0):
            raise ValueError("push force and duration must be finite (duration >= 0)")
        self._push_force = f
        self._push_until = self.time + float(duration)

    def _apply_push(self) -> None:
        active = self.time < self._push_until
        self.data.xfrc_applied[self._pelvis, :3] = self._push_force if active else 0.0

    def _apply_band(self) -> None:
        if not self.band_enabled:
            return
        d, c = self.data, self.cfg
        mujoco.mj_objectVelocity(self.model, d, mujoco.mjtObj.mjOBJ_BODY, self._torso, self._vel6, 0)
        f = d.xfrc_applied[self._torso]
        f[:3] = c.band_stiffness * (self.band_anchor - d.xipos[self._torso]) - c.band_damping * self._vel6[3:]
        f[3:] = -c.band_angular_damping * self._vel6[:3]

    # -------------------------------------------------------------------- stepping
    def step(self, nstep: int = 1) -> bool:
        """Advance ``nstep`` physics steps (band force refreshed every step when on).

        The LowCmd watchdog is checked once per call, before stepping (resolution: one call, i.e.
        one LowState period in the simulator). Returns True when the band was released
        automatically during this call.
        """
        self._check_lowcmd_watchdog()
        released = False
        t_rel = self.cfg.band_auto_release_s
        if (
            self.band_enabled
            and t_rel > 0
            and self._release_anchor is not None
            and self.time - self._release_anchor >= t_rel
        ):
            self.set_band(False)
            released = True
        self._apply_push()
        if self.band_enabled:
            for _ in range(nstep):
                self._apply_band()
                mujoco.mj_step(self.model, self.data)
        else:
            mujoco.mj_step(self.model, self.data, nstep)
        return released

    # -------------------------------------------------------------------- sensors
    def imu(self) -> dict[str, np.ndarray]:
        d = self.data
        mujoco.mju_mat2Quat(self._quat, d.site_xmat[self._site])
        return {
            "quaternion": self._quat.copy(),  # w, x, y, z
            "gyroscope": d.sensordata[self._gyro : self._gyro + 3].copy(),
            "accelerometer": d.sensordata[self._acc : self._acc + 3].copy(),
        }

    def fill_lowstate(self, msg, tick: int | None = None) -> None:
        """Write motors, IMU, tick and mode_machine into a ``unitree_io.LowState`` (CRC not set)."""
        d = self.data
        pad = np.zeros(robot.NUM_MOTOR_SLOTS - N)
        msg.set("motor_state.q", np.concatenate([d.qpos[7:], pad]))
        msg.set("motor_state.dq", np.concatenate([d.qvel[6:], pad]))
        msg.set("motor_state.ddq", np.concatenate([d.qacc[6:], pad]))
        msg.set("motor_state.tau_est", np.concatenate([d.actuator_force, pad]))
        msg.set("motor_state.mode", np.concatenate([np.ones(N), pad]))
        imu = self.imu()
        msg.set("imu_state.quaternion", imu["quaternion"])
        msg.set("imu_state.gyroscope", imu["gyroscope"])
        msg.set("imu_state.accelerometer", imu["accelerometer"])
        msg.set("imu_state.rpy", quat_to_rpy(*imu["quaternion"]))
        msg.set("tick", round(d.time * 1000) if tick is None else tick)
        msg.set("mode_machine", self.cfg.mode_machine)
        msg.set("reserve", [LOWSTATE_WATCHDOG_FLAG if self.watchdog_active else 0, 0, 0, 0])

    def ground_truth(self) -> dict[str, np.ndarray]:
        """Pelvis pose (world) and twist (linear in world and body frame, angular in body frame)."""
        d = self.data
        quat = d.qpos[3:7].copy()
        rot = np.zeros(9)
        mujoco.mju_quat2Mat(rot, quat)
        v_world = d.qvel[0:3].copy()
        return {
            "position": d.qpos[0:3].copy(),
            "quaternion": quat,
            "linear_world": v_world,
            "linear_body": rot.reshape(3, 3).T @ v_world,
            "angular_body": d.qvel[3:6].copy(),
        }


def command_from_lowcmd(msg) -> MotorCommand:
    """MotorCommand (29 joints) from a ``unitree_io.LowCmd``."""
    return MotorCommand(
        q=msg.motor("q").astype(np.float64),
        dq=msg.motor("dq").astype(np.float64),
        tau=msg.motor("tau").astype(np.float64),
        kp=msg.motor("kp").astype(np.float64),
        kd=msg.motor("kd").astype(np.float64),
        enabled=msg.motor("mode") != 0,
    )
