"""Procedural G1 gait generator: command sequence (vx, vy, yaw rate) -> 50 Hz 29-DOF motion clip.

Kinematic, causal and deterministic (details, measured quality: ``docs/motion_data.md``):

1. **Base**: the heading-frame command (x forward, y left, yaw rate about world z) goes through an
   acceleration-limited follower (``GaitConfig.accel_limit``), integrated into a planar path. The
   realized velocity is the clip's label (``GaitResult.command``) and equals the command in steady state.
2. **Gait parameters** from the effort s = |(vx, 2 vy)| + 0.25 |yaw rate|: stride frequency
   0.8 + 0.45 s (0.8..2.1 Hz), duty 0.63 - 0.06 s walking / 0.54 - 0.12 (s - 1.5) running (floor
   0.34; < 0.5 = flight), swing apex 0.04 + 0.04 s (<= 0.18 m).
3. **Step scheduler**: feet alternate every half stride, starting on the first frame with a
   non-zero command (foot on the side of the lateral/turning command); after a zero command and a
   stopped base, brisk closing steps, then standing still (velocities exactly 0). A planted foot
   left too far behind by a command change steps early.
4. **Footholds**: nominal foot place under the base predicted (holding the current command) for the
   middle of the next stance; re-planned, with a smooth blend, when the command changes during the
   first 70 % of the swing. Stance feet never move.
5. **Swing / foot roll**: minimum-jerk path, s^1.6 (1 - s)^2 height; toe-off / heel-strike pitch from
   the foot's fore-aft offset, rotating about the toe / heel edge; in mid-swing the foot pitch
   follows a neutral ankle and foot roll is free.
6. **Pelvis**: base path + sway toward the stance foot + walking bob, tilted back slightly, leaning
   with speed; height lowered smoothly where a foot would be out of reach (and again where an IK
   pass leaves a foot error > 1 mm).
7. **Arms and waist**: shoulder pitch follows the opposite foot, elbow bends with speed, waist yaw
   counter-rotates.
8. **Leg IK**: damped Gauss-Newton on the MuJoCo Jacobians of the ``left_foot``/``right_foot`` sole
   sites, 6 DOF per leg, warm-started, active-set joint limits, bent-knee retry.
9. **Velocities**: central finite differences of the positions (exactly consistent).

Causality: frame k depends on ``command[:k+1]`` only, except the pelvis-height smoothing, which looks
8 frames (0.16 s) into the already planned footsteps. The runtime should rate-limit user commands
with the same ``accel_limit``.
"""

from __future__ import annotations

import time
from dataclasses import asdict, dataclass, field

import numpy as np

from twist_controller import robot

from .clip import MotionClip, finite_difference, rot_to_wxyz

# ------------------------------------------------------------------------------------------------ config


@dataclass
class GaitConfig:
    fps: float = 50.0
    accel_limit: tuple[float, float, float] = (1.5, 1.0, 3.0)  # vx, vy [m/s^2], yaw rate [rad/s^2]
    command_limit: tuple[float, float, float] = (3.2, 0.8, 1.6)  # |vx|, |vy|, |yaw rate| accepted
    moving_eps: float = 1e-3  # command / velocity magnitude that counts as "moving"
    # gait parameters vs effort s = |v| + yaw_effort * |yaw rate|
    yaw_effort: float = 0.25
    lateral_effort: float = 2.0  # lateral speed counts double (shorter, quicker side steps)
    freq_base: float = 0.8  # stride frequency [Hz] = base + gain * s, clipped
    freq_gain: float = 0.45
    freq_max: float = 2.1
    closing_freq: float = 1.3  # minimum stride frequency of closing steps when stopping
    duty_walk: tuple[float, float] = (0.63, 0.06)  # duty = a - b * s for s < run_speed
    run_speed: float = 1.5
    duty_run: tuple[float, float, float] = (0.54, 0.12, 0.34)  # a - b * (s - run_speed), floor
    apex: tuple[float, float, float] = (0.04, 0.04, 0.18)  # swing apex = a + b * s, max
    min_stance: float = 0.08  # s; a foot stays down at least this long
    reach_fore: float = 0.36  # m; a planted foot this far behind/ahead of its nominal place steps early
    reach_side: float = 0.15  # m; same sideways
    retarget_until: float = 0.7  # a command change re-plans the landing spot until this swing fraction
    # geometry
    foot_y: float = 0.1185  # nominal half distance between the sole centres [m]
    sole_z: float = -0.002  # height of the sole-centre site when the foot is flat on the floor [m]
    foot_x: float = -0.03  # nominal fore-aft offset of the sole centre from the pelvis [m]
    # foot roll: pitch = gain * (fore-aft offset beyond roll_start), about the toe / heel edge
    roll_start: float = 0.12  # m
    toe_gain: float = 2.5  # rad/m
    toe_max: float = 0.5
    heel_gain: float = 1.5
    heel_max: float = 0.25
    toe_lever: float = 0.09  # sole centre to toe edge [m]
    heel_lever: float = 0.09  # sole centre to heel edge [m]
    pelvis_height: float = 0.775  # standing pelvis height [m] (default-pose-like knee bend)
    leg_reach: float = 0.995  # max hip-ankle distance as a fraction of the straight leg (keeps the knee bent)
    pelvis_min_height: float = 0.55
    height_smooth: int = 4  # frames; the pelvis height is smoothed over +-4 frames of the foot plan
    height_drop: float = 0.012  # pelvis lowered by this per unit effort (capped at effort 3)
    effort_rate: float = 2.0  # how fast the smoothed effort may change [1/s]
    sway: tuple[float, float, float] = (0.03, 0.01, 0.008)  # lateral sway amplitude a - b * s, floor
    bob: float = 0.008  # vertical bob amplitude in walking [m] (fades out by run_speed)
    pelvis_pitch: float = -0.06  # pelvis pitch offset [rad] (> 0 leans forward; real G1 clips: -0.02..-0.13)
    lean: float = 0.03  # pelvis pitch [rad] per m/s of forward speed
    pelvis_roll: float = 0.06  # pelvis drop toward the swing side in walking [rad]
    # arms / waist
    shoulder_pitch: float = 0.2
    arm_swing_gain: float = 1.2  # rad of shoulder pitch per m of opposite-foot offset
    arm_swing_max: float = 0.6
    elbow: tuple[float, float] = (0.9, 0.3)  # elbow = a + b * min(s / 3, 1)
    waist_yaw_gain: float = 0.3
    # IK
    ik_iters: int = 12
    ik_tol: float = 2e-4  # m / rad; stop iterating below this
    ik_refine_threshold: float = 1e-3  # m; frames with a larger foot error get a locally lower pelvis
    ik_refine_passes: int = 2
    ik_damping: float = 1e-4
    ik_step_max: float = 0.4
    ik_rot_weight: float = 0.5
    ik_swing_pitch_weight: float = 0.02
    ik_swing_roll_weight: float = 0.02
    swing_ankle: float = -0.15  # neutral ankle pitch the swing foot relaxes toward [rad]
    knee_min: float = 0.03


@dataclass
class Step:
    foot: int  # 0 = left, 1 = right
    t_lift: float
    t_land: float
    start: np.ndarray  # (x, y, yaw) at lift-off
    target: np.ndarray  # (x, y, yaw) at touch-down as planned at lift-off
    apex: float
    retargets: list = field(default_factory=list)  # [(time, delta (x, y, yaw))] re-plans during the swing

    @property
    def landing(self) -> np.ndarray:
        return self.target + sum((d for _, d in self.retargets), np.zeros(3))


@dataclass
class GaitResult:
    clip: MotionClip  # 50 Hz 29-DOF clip (root = pelvis)
    command: np.ndarray  # (T, 3) realized base velocity in the heading frame = the CMG label
    command_input: np.ndarray  # (T, 3) the command as given
    contact: np.ndarray  # (T, 2) bool, planner contact flags (left, right)
    foot_target: np.ndarray  # (T, 2, 3) sole-centre target positions
    foot_pitch: np.ndarray  # (T, 2) planned foot pitch (> 0 heel lifted / toe-off, < 0 heel strike)
    ik_pos_error: np.ndarray  # (T, 2) m, final IK position error per foot
    ik_rot_error: np.ndarray  # (T, 2) rad, final IK orientation error per foot (stance rows)
    steps: list[Step] = field(default_factory=list)
    seconds: float = 0.0  # wall-clock generation time


# ------------------------------------------------------------------------------------------------ helpers

LEG_QPOS = (np.arange(7, 13), np.arange(13, 19))
LEG_DOF = (np.arange(6, 12), np.arange(12, 18))
SIDE = (1.0, -1.0)  # left foot at +y


def _idx(name: str) -> int:
    return robot.joint_index(name)


def _rz(yaw: float) -> np.ndarray:
    c, s = np.cos(yaw), np.sin(yaw)
    return np.array([[c, -s, 0.0], [s, c, 0.0], [0.0, 0.0, 1.0]])


def _rx(r: float) -> np.ndarray:
    c, s = np.cos(r), np.sin(r)
    return np.array([[1.0, 0.0, 0.0], [0.0, c, -s], [0.0, s, c]])


def _ry(p: float) -> np.ndarray:
    c, s = np.cos(p), np.sin(p)
    return np.array([[c, 0.0, s], [0.0, 1.0, 0.0], [-s, 0.0, c]])


def _min_jerk(s):
    return s * s * s * (10.0 - 15.0 * s + 6.0 * s * s)


def _wrap(a):
    return (a + np.pi) % (2.0 * np.pi) - np.pi


def follow_command(command: np.ndarray, cfg: GaitConfig) -> np.ndarray:
    """Acceleration-limited follower: (T, 3) commanded -> (T, 3) realized heading-frame velocity."""
    dt = 1.0 / cfg.fps
    lim = np.asarray(cfg.accel_limit) * dt
    out = np.zeros_like(command)
    v = np.zeros(3)
    for k in range(len(command)):
        v = v + np.clip(command[k] - v, -lim, lim)
        out[k] = v
    return out


def integrate_base(vel: np.ndarray, cfg: GaitConfig, start=(0.0, 0.0, 0.0)) -> np.ndarray:
    """Integrate heading-frame velocity into a planar base path (T, 3) = (x, y, yaw).

    Frame k holds the pose reached after applying vel[k] for one step from frame k-1 (frame 0 = start
    moved by vel[0]); midpoint yaw is used for the rotation so turning arcs are accurate.
    """
    dt = 1.0 / cfg.fps
    T = len(vel)
    out = np.zeros((T, 3))
    x, y, yaw = start
    for k in range(T):
        if k > 0:
            ym = yaw + 0.5 * vel[k, 2] * dt
            c, s = np.cos(ym), np.sin(ym)
            x += (c * vel[k, 0] - s * vel[k, 1]) * dt
            y += (s * vel[k, 0] + c * vel[k, 1]) * dt
            yaw += vel[k, 2] * dt
        out[k] = (x, y, yaw)
    return out


def _effort(v: np.ndarray, cfg: GaitConfig) -> float:
    return float(np.hypot(v[0], cfg.lateral_effort * v[1]) + cfg.yaw_effort * abs(v[2]))


def gait_params(s: float, cfg: GaitConfig) -> tuple[float, float, float]:
    """(stride frequency [Hz], duty factor, swing apex [m]) for effort s."""
    f = float(np.clip(cfg.freq_base + cfg.freq_gain * s, cfg.freq_base, cfg.freq_max))
    if s < cfg.run_speed:
        duty = cfg.duty_walk[0] - cfg.duty_walk[1] * s
    else:
        a, b, floor = cfg.duty_run
        duty = max(floor, a - b * (s - cfg.run_speed))
    apex = min(cfg.apex[0] + cfg.apex[1] * s, cfg.apex[2])
    return f, float(duty), float(apex)


# ------------------------------------------------------------------------------------------------ planner


class _Planner:
    def __init__(self, cmd: np.ndarray, cfg: GaitConfig):
        self.cfg = cfg
        self.cmd = cmd
        self.dt = 1.0 / cfg.fps
        self.vel = follow_command(cmd, cfg)
        self.base = integrate_base(self.vel, cfg)
        self.T = len(cmd)
        eps = cfg.moving_eps
        self.moving = (np.abs(cmd).max(axis=1) > eps) | (np.abs(self.vel).max(axis=1) > eps)

    def nominal(self, foot: int, base: np.ndarray) -> np.ndarray:
        off = _rz(base[2])[:2, :2] @ np.array([self.cfg.foot_x, SIDE[foot] * self.cfg.foot_y])
        return np.array([base[0] + off[0], base[1] + off[1], base[2]])

    def predict_base(self, k: int, t_future: float) -> np.ndarray:
        """Base pose at time t_future predicted at frame k by holding cmd[k] (causal)."""
        cfg, dt = self.cfg, self.dt
        n = round(t_future * cfg.fps) - k
        x, y, yaw = self.base[k]
        if n <= 0:
            return self.base[min(max(round(t_future * cfg.fps), 0), self.T - 1)].copy()
        v = self.vel[k].copy()
        lim = np.asarray(cfg.accel_limit) * dt
        c = self.cmd[k]
        for _ in range(n):
            v = v + np.clip(c - v, -lim, lim)
            ym = yaw + 0.5 * v[2] * dt
            x += (np.cos(ym) * v[0] - np.sin(ym) * v[1]) * dt
            y += (np.sin(ym) * v[0] + np.cos(ym) * v[1]) * dt
            yaw += v[2] * dt
        return np.array([x, y, yaw])

    def first_foot(self, k: int) -> int:
        c = self.cmd[k]
        if abs(c[1]) > self.cfg.moving_eps:
            return 0 if c[1] > 0 else 1
        if abs(c[2]) > self.cfg.moving_eps:
            return 0 if c[2] > 0 else 1
        return 0

    def _retarget(self, step: Step, duty: float, f: float) -> None:
        """Re-plan the landing spot when the command changes during the first 70 % of a swing.

        Uses only the command at the change frame (causal); the swing path blends smoothly to the new spot.
        """
        cfg = self.cfg
        t_sw = step.t_land - step.t_lift
        t_mid = step.t_land + 0.5 * duty / f
        j0 = int(np.floor(step.t_lift * cfg.fps)) + 1
        j1 = min(int(np.floor((step.t_lift + cfg.retarget_until * t_sw) * cfg.fps)), self.T - 1)
        cur = step.target.copy()
        for j in range(max(j0, 1), j1 + 1):
            if np.array_equal(self.cmd[j], self.cmd[j - 1]):
                continue
            new = self.nominal(step.foot, self.predict_base(j, t_mid))
            new[2] = cur[2] + _wrap(new[2] - cur[2])
            delta = new - cur
            if np.hypot(delta[0], delta[1]) > 0.005 or abs(delta[2]) > 0.02:
                step.retargets.append((j / cfg.fps, delta))
                cur = new

    def _early_lift(self, foot: int, planted: np.ndarray, t_from: float, t_sched: float) -> float:
        """Lift ``foot`` before its scheduled time if the base has moved so far that the planted foot is
        beyond ``GaitConfig.reach_fore`` / ``reach_side`` of its nominal place (after command changes).
        Frames are checked one by one with the base known at that frame only (causal)."""
        cfg = self.cfg
        j0 = int(np.ceil(min(t_from, t_sched) * cfg.fps - 1e-9))
        j1 = min(int(np.ceil(t_sched * cfg.fps - 1e-9)), self.T)
        for j in range(max(j0, 0), j1):
            if not self.moving[j]:
                break
            n = self.nominal(foot, self.base[j])
            c, s = np.cos(self.base[j, 2]), np.sin(self.base[j, 2])
            dx, dy = planted[0] - n[0], planted[1] - n[1]
            fore, side = c * dx + s * dy, -s * dx + c * dy
            if abs(fore) > cfg.reach_fore or abs(side) > cfg.reach_side:
                return j / cfg.fps
        return t_sched

    def plan(self) -> list[Step]:
        cfg = self.cfg
        feet = [self.nominal(0, self.base[0]), self.nominal(1, self.base[0])]
        last_land = [-1.0, -1.0]
        steps: list[Step] = []
        T_end = (self.T - 1) * self.dt
        moving_idx = np.flatnonzero(self.moving)
        if len(moving_idx) == 0:
            return steps
        t = moving_idx[0] * self.dt
        foot = self.first_foot(moving_idx[0])
        while t <= T_end:
            k = min(round(t * cfg.fps), self.T - 1)
            if not self.moving[k]:
                # closing steps toward the nominal stance under the stopped base
                b = self.base[k]

                def off(f, b=b):
                    n = self.nominal(f, b)
                    return max(np.hypot(*(feet[f][:2] - n[:2])), 0.15 * abs(_wrap(feet[f][2] - n[2])))

                if off(foot) < 0.01:
                    if off(1 - foot) < 0.01:
                        nxt = moving_idx[moving_idx > k]
                        if len(nxt) == 0:
                            break
                        t = nxt[0] * self.dt
                        foot = self.first_foot(nxt[0])
                        continue
                    foot = 1 - foot
                f, duty, apex = gait_params(0.3, cfg)
                f = max(f, cfg.closing_freq)
                apex = min(apex, 0.05)
                target = self.nominal(foot, b)
            else:
                s = max(_effort(self.vel[k], cfg), _effort(self.cmd[k], cfg))
                f, duty, apex = gait_params(s, cfg)
                t_sw = (1.0 - duty) / f
                t_mid = t + t_sw + 0.5 * duty / f
                target = self.nominal(foot, self.predict_base(k, t_mid))
            t_lift = max(t, last_land[foot] + cfg.min_stance)
            t_sw = (1.0 - duty) / f
            start = feet[foot].copy()
            target[2] = start[2] + _wrap(target[2] - start[2])
            step = Step(foot, t_lift, t_lift + t_sw, start, target, apex)
            if self.moving[k]:
                self._retarget(step, duty, f)
            steps.append(step)
            feet[foot] = step.landing
            last_land[foot] = t_lift + t_sw
            t = self._early_lift(1 - foot, feet[1 - foot], t_lift + t_sw, t_lift + 0.5 / f)
            foot = 1 - foot
        return steps


# ---------------------------------------------------------------------------------------------- trajectories


def _smooth_relu(x, eps):
    return np.where(x <= 0, 0.0, np.where(x < eps, x * x / (2 * eps), x - 0.5 * eps))


def _foot_tracks(steps: list[Step], planner: _Planner, T: int, fps: float):
    """Per-frame sole-site targets (T, 2, 5) = x, y, z, yaw, pitch and swing phase (T, 2) (-1 in stance).

    Foot pitch is a function of where the (flat) foot is relative to the hip along the heading: a foot
    far behind rolls onto its toe (heel lift, pitch > 0), a foot far ahead lands on its heel (pitch < 0).
    The rotation is about the toe/heel edge, so the contact point stays fixed in stance.
    """
    cfg = planner.cfg
    t = np.arange(T) / fps
    pose = np.zeros((T, 2, 5))
    phase = -np.ones((T, 2))
    init = [planner.nominal(0, planner.base[0]), planner.nominal(1, planner.base[0])]
    for foot in (0, 1):
        fs = [s for s in steps if s.foot == foot]
        cur = init[foot]
        pose[:, foot, :2] = cur[:2]
        pose[:, foot, 3] = cur[2]
        for st in fs:
            a, b = st.t_lift, st.t_land
            sw = (t >= a) & (t < b)
            after = t >= b
            land = st.landing
            pose[after, foot, :2] = land[:2]
            pose[after, foot, 3] = land[2]
            if np.any(sw):
                s = (t[sw] - a) / (b - a)
                m = _min_jerk(s)[:, None]
                pose[sw, foot, :2] = st.start[:2] + (st.target[:2] - st.start[:2]) * m
                pose[sw, foot, 3] = st.start[2] + (st.target[2] - st.start[2]) * m[:, 0]
                for tc, delta in st.retargets:  # smooth blend toward each re-planned landing spot
                    sel = t[sw] >= tc
                    u = np.clip((t[sw][sel] - tc) / (b - tc), 0.0, 1.0)
                    mu = _min_jerk(u)
                    pose[np.flatnonzero(sw)[sel], foot, :2] += delta[:2] * mu[:, None]
                    pose[np.flatnonzero(sw)[sel], foot, 3] += delta[2] * mu
                pa, pb = 1.6, 2.0
                peak = (pa / (pa + pb)) ** pa * (pb / (pa + pb)) ** pb
                pose[sw, foot, 2] = st.apex * s**pa * (1.0 - s) ** pb / peak
                phase[sw, foot] = s
    # toe-off / heel-strike pitch from the fore-aft offset of the flat foot relative to the hip
    base = planner.base
    hx, hy = np.cos(base[:, 2]), np.sin(base[:, 2])
    for foot in (0, 1):
        d = (pose[:, foot, 0] - base[:, 0]) * hx + (pose[:, foot, 1] - base[:, 1]) * hy - cfg.foot_x
        toe = np.minimum(cfg.toe_gain * _smooth_relu(-d - cfg.roll_start, 0.05), cfg.toe_max)
        heel = np.minimum(cfg.heel_gain * _smooth_relu(d - cfg.roll_start, 0.05), cfg.heel_max)
        pitch = toe - heel
        lever = np.where(pitch >= 0, cfg.toe_lever, cfg.heel_lever)
        dx = np.sign(pitch) * lever * (1.0 - np.cos(pitch))
        dz = lever * np.abs(np.sin(pitch))
        yaw = pose[:, foot, 3]
        pose[:, foot, 0] += np.cos(yaw) * dx
        pose[:, foot, 1] += np.sin(yaw) * dx
        pose[:, foot, 2] += dz
        pose[:, foot, 4] = pitch
    return pose, phase


def contact_points(
    site_pos: np.ndarray, site_mat: np.ndarray, pitch: np.ndarray, cfg: GaitConfig | None = None
):
    """World contact point per foot (T, 2, 3): toe edge if pitch > 0, heel edge if < 0, else sole centre."""
    cfg = cfg or GaitConfig()
    c = np.where(pitch > 1e-4, cfg.toe_lever, np.where(pitch < -1e-4, -cfg.heel_lever, 0.0))
    return site_pos + site_mat[..., :, 0] * c[..., None]


def _smoothed_effort(planner: _Planner, cfg: GaitConfig) -> np.ndarray:
    T = planner.T
    out = np.zeros(T)
    e = 0.0
    rate = cfg.effort_rate / cfg.fps
    for k in range(T):
        target = max(_effort(planner.vel[k], cfg), _effort(planner.cmd[k], cfg)) if planner.moving[k] else 0.0
        e += float(np.clip(target - e, -rate, rate))
        out[k] = e
    return out


# ------------------------------------------------------------------------------------------------ IK


class LegIK:
    """Damped Gauss-Newton IK of both G1 legs on the sole-centre sites (pelvis pose given)."""

    def __init__(self, cfg: GaitConfig):
        import mujoco

        from .kinematics import FOOT_SITES, g1_model

        self.mj = mujoco
        self.cfg = cfg
        self.m = g1_model()
        self.d = mujoco.MjData(self.m)
        self.sites = [self.m.site(s).id for s in FOOT_SITES]
        self.jacp = np.zeros((3, self.m.nv))
        self.jacr = np.zeros((3, self.m.nv))
        lo, hi = robot.POSITION_LOWER.copy(), robot.POSITION_UPPER.copy()
        for k in (_idx("left_knee_joint"), _idx("right_knee_joint")):
            lo[k] = max(lo[k], cfg.knee_min)
        self.lo, self.hi = lo, hi

    def solve(self, qpos: np.ndarray, targets, rot_targets, roll_weights):
        """Solve in place on qpos (36,); returns (pos_err (2,), rot_err (2,))."""
        mj, m, d, cfg = self.mj, self.m, self.d, self.cfg
        pos_err = np.zeros(2)
        rot_err = np.zeros(2)
        for it in range(cfg.ik_iters + 1):
            d.qpos[:] = qpos
            mj.mj_kinematics(m, d)
            mj.mj_comPos(m, d)
            worst = 0.0
            dqs = []
            for f in (0, 1):
                sid = self.sites[f]
                R = d.site_xmat[sid].reshape(3, 3)
                Rt = rot_targets[f]
                ep = targets[f] - d.site_xpos[sid]
                er = 0.5 * (
                    np.cross(R[:, 0], Rt[:, 0]) + np.cross(R[:, 1], Rt[:, 1]) + np.cross(R[:, 2], Rt[:, 2])
                )
                er_local = Rt.T @ er  # rows: roll, pitch, yaw about the target axes
                pos_err[f] = np.linalg.norm(ep)
                rot_err[f] = np.linalg.norm(er_local * [roll_weights[f] >= 0.5, 1.0, 1.0])
                worst = max(worst, pos_err[f], cfg.ik_rot_weight * rot_err[f])
                if it == cfg.ik_iters:
                    continue
                mj.mj_jacSite(m, d, self.jacp, self.jacr, sid)
                dof = LEG_DOF[f]
                w = np.array([roll_weights[f], 1.0, 1.0]) * cfg.ik_rot_weight
                J = np.vstack([self.jacp[:, dof], (w[:, None] * (Rt.T @ self.jacr[:, dof]))])
                e = np.concatenate([ep, w * er_local])
                qa = LEG_QPOS[f]
                q0, lo, hi = qpos[qa], self.lo[qa - 7], self.hi[qa - 7]

                free = np.ones(6, dtype=bool)
                dq = np.zeros(6)
                for _ in range(3):  # active set: joints pushed into a limit are held there
                    Jf = J[:, free]
                    dq[:] = 0.0
                    dq[free] = np.linalg.solve(Jf.T @ Jf + cfg.ik_damping * np.eye(int(free.sum())), Jf.T @ e)
                    hit = free & (((q0 + dq) < lo) & (q0 <= lo + 1e-6) | ((q0 + dq) > hi) & (q0 >= hi - 1e-6))
                    if not hit.any():
                        break
                    free &= ~hit
                n = np.abs(dq).max()
                if n > cfg.ik_step_max:
                    dq *= cfg.ik_step_max / n
                dqs.append(dq)
            if it == cfg.ik_iters or worst < cfg.ik_tol:
                break
            for f in (0, 1):
                qa = LEG_QPOS[f]
                qpos[qa] = np.clip(qpos[qa] + dqs[f], self.lo[qa - 7], self.hi[qa - 7])
        return pos_err, rot_err


# ------------------------------------------------------------------------------------------------ main entry


def generate_gait(command, cfg: GaitConfig | None = None, name: str = "gait") -> GaitResult:
    """Generate a 50 Hz G1 clip for a (T, 3) command sequence (vx, vy, yaw rate), heading frame.

    The clip starts standing at the origin facing +x; frame k responds to command[k] and earlier only.
    """
    cfg = cfg or GaitConfig()
    t0 = time.perf_counter()
    cmd = np.asarray(command, dtype=np.float64)
    if cmd.ndim != 2 or cmd.shape[1] != 3 or len(cmd) < 2:
        raise ValueError(f"command must be (T >= 2, 3) = (vx, vy, yaw rate), got {cmd.shape}")
    if not np.all(np.isfinite(cmd)):
        raise ValueError("command contains NaN/inf")
    cmd = np.clip(cmd, -np.asarray(cfg.command_limit), np.asarray(cfg.command_limit))
    fps = cfg.fps
    T = len(cmd)
    planner = _Planner(cmd, cfg)
    steps = planner.plan()
    feet, phase = _foot_tracks(steps, planner, T, fps)
    effort = _smoothed_effort(planner, cfg)
    contact = phase < 0

    # ---------------- pelvis
    base = planner.base
    s_eff = np.minimum(effort, 3.0)
    sway_amp = np.maximum(cfg.sway[0] - cfg.sway[1] * s_eff, cfg.sway[2])
    sw = np.where(phase >= 0, np.sin(np.pi * np.clip(phase, 0, 1)), 0.0)
    lateral = sway_amp * (sw[:, 1] - sw[:, 0])  # right foot swinging -> sway toward the left stance foot
    bob_amp = cfg.bob * np.clip(1.0 - s_eff / cfg.run_speed, 0.0, 1.0)
    bob = bob_amp * (sw[:, 0] + sw[:, 1])  # pelvis rises over single support
    c, s = np.cos(base[:, 2]), np.sin(base[:, 2])
    pelvis_pos = np.stack(
        [
            base[:, 0] - s * lateral,
            base[:, 1] + c * lateral,
            cfg.pelvis_height - cfg.height_drop * s_eff + bob,
        ],
        axis=1,
    )
    vx_real = planner.vel[:, 0]
    pitch = cfg.pelvis_pitch + cfg.lean * np.clip(vx_real, -1.0, 3.0)
    # pelvis drops on the swing side (roll > 0 lifts the left side), fading out toward running
    roll = cfg.pelvis_roll * np.clip(1.0 - s_eff / (2.0 * cfg.run_speed), 0.0, 1.0) * (sw[:, 1] - sw[:, 0])
    pelvis_R = np.stack([_rz(base[k, 2]) @ _ry(pitch[k]) @ _rx(roll[k]) for k in range(T)])
    pelvis_pos[:, 2] = _reachable_height(pelvis_pos, pelvis_R, feet, cfg)

    # ---------------- arms and waist (fore-aft offsets of the feet in the heading frame)
    rel = feet[:, :, :2] - base[:, None, :2]
    fore = c[:, None] * rel[..., 0] + s[:, None] * rel[..., 1]  # (T, 2)
    q = np.tile(robot.DEFAULT_POSITION, (T, 1))
    swing_l = np.clip(
        cfg.arm_swing_gain * (fore[:, 1] - fore.mean(axis=1)), -cfg.arm_swing_max, cfg.arm_swing_max
    )
    swing_r = np.clip(
        cfg.arm_swing_gain * (fore[:, 0] - fore.mean(axis=1)), -cfg.arm_swing_max, cfg.arm_swing_max
    )
    q[:, _idx("left_shoulder_pitch_joint")] = cfg.shoulder_pitch - swing_l
    q[:, _idx("right_shoulder_pitch_joint")] = cfg.shoulder_pitch - swing_r
    elbow = cfg.elbow[0] + cfg.elbow[1] * np.minimum(s_eff / 3.0, 1.0)
    q[:, _idx("left_elbow_joint")] = elbow
    q[:, _idx("right_elbow_joint")] = elbow
    q[:, _idx("waist_yaw_joint")] = np.clip(cfg.waist_yaw_gain * (fore[:, 0] - fore[:, 1]), -0.3, 0.3)

    # ---------------- legs by IK (re-run with a locally lowered pelvis where a foot was out of reach)
    ik = LegIK(cfg)
    planned_pitch = feet[:, :, 4].copy()
    quats = np.stack([rot_to_wxyz(_as_rotation(R))[0] for R in pelvis_R])
    for _ in range(cfg.ik_refine_passes + 1):
        q_legs, pos_err, rot_err, foot_target, foot_pitch = _solve_legs(
            ik, cfg, pelvis_pos, quats, pitch, q, feet, planned_pitch, phase
        )
        err = pos_err.max(axis=1)
        if err.max() <= cfg.ik_refine_threshold:
            break
        drop = np.where(err > cfg.ik_refine_threshold, err + 0.005, 0.0)
        pelvis_pos[:, 2] -= _smooth_max(drop, cfg.height_smooth)
    q[:, :12] = q_legs
    feet[:, :, 4] = foot_pitch

    quat = quats
    clip = MotionClip(
        fps,
        q,
        finite_difference(q, 1.0 / fps),
        pelvis_pos,
        quat,
        finite_difference(pelvis_pos, 1.0 / fps),
        np.zeros((T, 3)),
        name=name,
        source="procedural",
        meta={"generator": "twist_training.data.gait", "config": _cfg_dict(cfg)},
    )
    clip.recompute_velocities()
    return GaitResult(
        clip=clip,
        command=planner.vel.copy(),
        command_input=cmd,
        contact=contact,
        foot_target=foot_target,
        foot_pitch=feet[:, :, 4].copy(),
        ik_pos_error=pos_err,
        ik_rot_error=rot_err,
        steps=steps,
        seconds=time.perf_counter() - t0,
    )


def _solve_legs(ik, cfg, pelvis_pos, quats, pelvis_pitch, q_upper, feet, planned_pitch, phase):
    """Leg IK for every frame, warm-started frame to frame. Returns leg joints (T, 12), position and
    rotation errors (T, 2), sole targets (T, 2, 3) and the foot pitch used (T, 2)."""
    T = len(pelvis_pos)
    qpos = np.zeros(36)
    qpos[7:] = robot.DEFAULT_POSITION
    q_legs = np.zeros((T, 12))
    pos_err, rot_err = np.zeros((T, 2)), np.zeros((T, 2))
    foot_target = np.zeros((T, 2, 3))
    foot_pitch = planned_pitch.copy()
    for k in range(T):
        qpos[:3] = pelvis_pos[k]
        qpos[3:7] = quats[k]
        qpos[7:] = np.where(_LEG_MASK, qpos[7:], q_upper[k])
        targets, rots, rw = [], [], []
        for f in (0, 1):
            x, y, z, yaw, _ = feet[k, f]
            fp = planned_pitch[k, f]
            targets.append(np.array([x, y, z + cfg.sole_z]))
            # swing: blend the planned foot pitch with the pitch a neutral ankle gives (world foot pitch =
            # pelvis pitch + hip pitch + knee + ankle pitch along the sagittal chain), warm-start values
            blend = _pitch_weight(phase[k, f], cfg)
            if blend < 1.0:
                hip, knee = qpos[LEG_QPOS[f][0]], qpos[LEG_QPOS[f][3]]
                fp = blend * fp + (1.0 - blend) * (pelvis_pitch[k] + hip + knee + cfg.swing_ankle)
            foot_pitch[k, f] = fp
            rots.append(_rz(yaw) @ _ry(fp))
            rw.append(max(blend, cfg.ik_swing_roll_weight))  # foot roll is free mid-swing too
            foot_target[k, f] = targets[-1]
        pe, re = ik.solve(qpos, targets, rots, rw)
        if max(pe) > 3e-3:  # retry from a bent-knee seed
            trial = qpos.copy()
            for f in (0, 1):
                trial[LEG_QPOS[f]] = [-0.5, 0.0, 0.0, 1.1, -0.5, 0.0]
            pe2, re2 = ik.solve(trial, targets, rots, rw)
            if max(pe2) < max(pe):
                qpos[:], pe, re = trial, pe2, re2
        q_legs[k] = qpos[7:19]
        pos_err[k], rot_err[k] = pe, re
    return q_legs, pos_err, rot_err, foot_target, foot_pitch


def _smooth_max(x: np.ndarray, w: int) -> np.ndarray:
    """Dilation (max filter) then moving average over +-w frames: smooth and >= x."""
    if w <= 0 or len(x) <= 2 * w + 1:
        return x.copy()
    pad = np.pad(x, w, mode="edge")
    dil = np.lib.stride_tricks.sliding_window_view(pad, 2 * w + 1).max(axis=1)
    pad = np.pad(dil, w, mode="edge")
    return np.lib.stride_tricks.sliding_window_view(pad, 2 * w + 1).mean(axis=1)


def _pitch_weight(ph: float, cfg: GaitConfig) -> float:
    """Weight of the planned foot pitch: 1 in stance, released mid-swing, ramped back before landing."""
    if ph < 0:
        return 1.0
    up = np.clip((ph - 0.5) / 0.4, 0.0, 1.0) ** 2
    down = np.clip(1.0 - ph / 0.15, 0.0, 1.0) ** 2
    return float(max(cfg.ik_swing_pitch_weight, up, down))


HIP_OFFSET = np.array([0.0, 0.0645, -0.1027])  # left hip-pitch joint in the pelvis frame (y flips right)
ANKLE_FROM_SOLE = np.array([-0.04, 0.0, 0.037])  # ankle-roll joint from the sole site, foot frame
LEG_LENGTH = 0.656  # hip-pitch joint to ankle-roll joint with a straight leg [m]


def _reachable_height(pelvis_pos, pelvis_R, feet, cfg: GaitConfig) -> np.ndarray:
    """Lower the pelvis where a foot target would be out of reach, smoothly (erosion + moving average)."""
    z = pelvis_pos[:, 2].copy()
    r = cfg.leg_reach * LEG_LENGTH
    for f in (0, 1):
        hip = pelvis_pos + np.einsum("tij,j->ti", pelvis_R, HIP_OFFSET * [1.0, SIDE[f], 1.0])
        yaw, fp = feet[:, f, 3], feet[:, f, 4]
        ax = np.cos(fp) * ANKLE_FROM_SOLE[0] + np.sin(fp) * ANKLE_FROM_SOLE[2]  # Ry(pitch) @ offset
        az = -np.sin(fp) * ANKLE_FROM_SOLE[0] + np.cos(fp) * ANKLE_FROM_SOLE[2]
        ank = np.stack(
            [feet[:, f, 0] + np.cos(yaw) * ax, feet[:, f, 1] + np.sin(yaw) * ax, feet[:, f, 2] + az], 1
        )
        dh = np.hypot(hip[:, 0] - ank[:, 0], hip[:, 1] - ank[:, 1])
        dz_max = np.sqrt(np.maximum(r * r - dh * dh, 0.0))
        z_allowed = ank[:, 2] + dz_max - (hip[:, 2] - pelvis_pos[:, 2])
        z = np.minimum(z, np.maximum(z_allowed, cfg.pelvis_min_height))
    w = cfg.height_smooth
    if w > 0 and len(z) > 2 * w + 1:
        pad = np.pad(z, w, mode="edge")
        ero = np.lib.stride_tricks.sliding_window_view(pad, 2 * w + 1).min(axis=1)
        pad = np.pad(ero, w, mode="edge")
        z = np.lib.stride_tricks.sliding_window_view(pad, 2 * w + 1).mean(axis=1)
    return z


_LEG_MASK = np.zeros(robot.NUM_JOINTS, dtype=bool)
_LEG_MASK[:12] = True


def _as_rotation(R: np.ndarray):
    from scipy.spatial.transform import Rotation

    return Rotation.from_matrix(R[None])


def _cfg_dict(cfg: GaitConfig) -> dict:
    return {k: (list(v) if isinstance(v, tuple) else v) for k, v in asdict(cfg).items()}


# ------------------------------------------------------------------------------------------------ commands


def constant_command(vx=0.0, vy=0.0, yaw_rate=0.0, seconds=6.0, stand_before=0.5, stand_after=2.0, fps=50.0):
    """Stand, hold (vx, vy, yaw_rate), then command zero (stop) - a (T, 3) array."""
    n0, n1, n2 = (round(x * fps) for x in (stand_before, seconds, stand_after))
    cmd = np.zeros((n0 + n1 + n2, 3))
    cmd[n0 : n0 + n1] = (vx, vy, yaw_rate)
    return cmd


def piecewise_command(segments, fps=50.0) -> np.ndarray:
    """[(seconds, (vx, vy, yaw_rate)), ...] -> (T, 3) piecewise-constant command."""
    parts = [np.tile(np.asarray(c, dtype=np.float64), (round(sec * fps), 1)) for sec, c in segments]
    return np.concatenate(parts, axis=0)
