"""``eval_cmg``: long autoregressive rollouts over a command grid and over command changes.

    eval_cmg MODEL [--stats cmg_stats.yaml] [--out DIR] [--minutes 10] [--quick]

MODEL is anything :func:`cmg_generator.runtime.load_model` loads. Rollouts use the runtime's own
clamps and command filter (the deployment code path), batched over all commands.

Metrics (per grid command; all in ``eval_report.json`` / ``eval_report.md`` + ``eval_grid.png``):

* ``diverged``: a non-finite state, or the normalized raw output at the runtime's guard
  (``max|z| >= state_z_clip``) during the last minute (i.e. not recovered); ``guard_hit_frames``
  counts every frame at the guard (transient glitches); ``max_abs_z`` over the last minute.
* ``limit_violation_frac`` / ``limit_excess_max``: fraction of frames where the raw model output
  leaves the joint limits by > 0.01 rad (the runtime clamps these), and the largest excess (rad).
* ``activity``: mean std of the leg joint positions over the last 10 s (0 = frozen pose).
* implied base velocity (``implied_vx``, ``implied_vy``, ``implied_yaw_rate``): MuJoCo forward
  kinematics of the generated joints with the pelvis at the origin (roll/pitch from the root
  channels when present, yaw 0 = heading frame); the stance foot (the lower one, counted only while
  it is within 2 cm of the lowest height seen: no flight phases, no toe pivots) is assumed fixed on
  the ground, so the base moves opposite to it: yaw rate = -d yaw_stance/dt and
  v = -d p_stance/dt - yaw rate x p_stance (the heading frame turns with the base);
  averaged over the last minute and compared with the clamped command. On the procedural training
  clips (zero slip by construction) this reads 0.9-1.0x the label with ~0.1 m/s noise.
* ``stance_slip``: mean horizontal speed of the stance foot on the ground when the base moves as the
  model claims (its root velocity channels; the command for 58-only models), m/s.
* ``root_v*``: mean of the root velocity channels (root-channel models only).

Speed sweeps (:mod:`twist_training.cmg.sweep`, ``--sweep-minutes``): every command of a fine ladder
along one axis at a time, read the same way, so the report shows the whole commanded-to-implied
curve and flags commands the gait follows the wrong way (``eval_sweep.png``).

The command-change test runs ``--change-rollouts`` rollouts whose command jumps to a random grid
command every ``--change-every`` s for the same duration; tracking errors skip 1.5 s after a change.
An NPZ with the upstream keys (fps, dof_positions, dof_velocities, body_positions, body_rotations,
dof_names, body_names) + ``commands`` holds the first command-change rollout (root integrated).
"""

from __future__ import annotations

import argparse
import itertools
import json
import sys
import time
from pathlib import Path

import numpy as np

from cmg_generator.model import StateLayout
from cmg_generator.runtime import GeneratorOptions, LoadedModel, command_range, load_model, rollout
from twist_controller import robot
from twist_training.cmg import sweep

GRID_VX = (-0.5, 0.0, 0.3, 0.6, 1.0, 1.5, 2.0, 3.0)
GRID_VY = (-0.5, 0.0, 0.5)
GRID_YAW = (-1.0, 0.0, 1.0)
LEG = slice(0, 12)
CONTACT_TOL = 0.02  # m: a foot within this of the lowest stance height counts as planted


class Kinematics:
    """MuJoCo forward kinematics of the G1 (bodies and feet) for generated frames."""

    def __init__(self):
        import mujoco

        from twist_controller.g1_model import g1_xml_path

        self.mj = mujoco
        self.model = mujoco.MjModel.from_xml_path(str(g1_xml_path()))
        self.data = mujoco.MjData(self.model)
        self.feet = [mujoco.mj_name2id(self.model, mujoco.mjtObj.mjOBJ_BODY, b) for b in robot.FOOT_BODIES]
        self.body_names = [
            mujoco.mj_id2name(self.model, mujoco.mjtObj.mjOBJ_BODY, i) for i in range(1, self.model.nbody)
        ]

    def run(self, joints, roll_pitch=None, root_pos=None, root_yaw=None, all_bodies=False):
        """joints (T, 29) -> feet pos (T, 2, 3), feet yaw (T, 2) [+ body pos/quat (T, nb, 3/4)]."""
        mj, m, d = self.mj, self.model, self.data
        T = joints.shape[0]
        fp = np.zeros((T, 2, 3))
        fyaw = np.zeros((T, 2))
        bp = np.zeros((T, m.nbody - 1, 3)) if all_bodies else None
        bq = np.zeros((T, m.nbody - 1, 4)) if all_bodies else None
        quat = np.zeros(4)
        for t in range(T):
            d.qpos[7:] = joints[t]
            d.qpos[0:3] = (0.0, 0.0, 0.0) if root_pos is None else root_pos[t]
            r, p = (0.0, 0.0) if roll_pitch is None else roll_pitch[t]
            y = 0.0 if root_yaw is None else root_yaw[t]
            mj.mju_euler2Quat(quat, np.array([r, p, y]), "XYZ")  # extrinsic XYZ = intrinsic ZYX
            d.qpos[3:7] = quat
            mj.mj_kinematics(m, d)
            for k, b in enumerate(self.feet):
                fp[t, k] = d.xpos[b]
                xm = d.xmat[b]
                fyaw[t, k] = np.arctan2(xm[3], xm[0])
            if all_bodies:
                bp[t] = d.xpos[1:]
                bq[t] = d.xquat[1:]
        return fp, fyaw, bp, bq


def _stance_metrics(kin: Kinematics, states: np.ndarray, root_vel_xy: np.ndarray, dt: float, has_root: bool):
    """Implied base velocity and stance slip for one rollout segment states (T, D)."""
    n = robot.NUM_JOINTS
    rp = states[:, 59:61] if has_root else None
    fp, fyaw, _, _ = kin.run(states[:, :n].astype(np.float64), rp)
    h = fp[:, :, 2] + (states[:, 58:59] if has_root else 0.0)  # foot height (above ground if known)
    stance = np.argmin(h, axis=1)
    low = h[np.arange(len(h)), stance]
    ground = np.percentile(low, 5)
    contact = low < ground + CONTACT_TOL  # excludes flight phases and toe pivots (ankle lifted)
    same = (stance[1:] == stance[:-1]) & contact[1:] & contact[:-1]
    idx = np.arange(len(stance) - 1)[same]
    if len(idx) == 0:
        return {"implied_vx": 0.0, "implied_vy": 0.0, "implied_yaw_rate": 0.0, "stance_slip": float("nan")}
    s = stance[idx]
    p0, p1 = fp[idx, s, :2], fp[idx + 1, s, :2]
    yaw_rate = -np.angle(np.exp(1j * (fyaw[idx + 1, s] - fyaw[idx, s]))) / dt
    # A ground-fixed point seen from the turning heading frame moves as dp/dt = -v - w x p, so
    # v = -dp/dt - w x p. Without the w x p term a foot planted off the yaw axis reads as sideways
    # speed (on procedural ground truth vy 0.5 at yaw rate +-1 read 0.43 / 0.57).
    p_mid = 0.5 * (p0 + p1)
    w_cross_p = np.stack([-yaw_rate * p_mid[:, 1], yaw_rate * p_mid[:, 0]], axis=1)
    v_impl = -(p1 - p0) / dt - w_cross_p
    slip = np.linalg.norm(root_vel_xy[idx] - v_impl, axis=1)
    return {
        "implied_vx": float(v_impl[:, 0].mean()),
        "implied_vy": float(v_impl[:, 1].mean()),
        "implied_yaw_rate": float(yaw_rate.mean()),
        "stance_slip": float(slip.mean()),
    }


def _root_heading_velocity(states: np.ndarray, commands: np.ndarray, has_root: bool) -> np.ndarray:
    if not has_root:
        return commands[:, :2].astype(np.float64)
    v = states[:, 61:64].astype(np.float64)
    pitch = states[:, 60].astype(np.float64)
    # pelvis-frame velocity to heading frame (roll ignored: its effect on x/y is second order)
    vx = np.cos(pitch) * v[:, 0] + np.sin(pitch) * v[:, 2]
    return np.stack([vx, v[:, 1]], axis=1)


def _velocity_row(kin, states, commands, cmd, dt: float, has_root: bool) -> dict:
    """Implied speeds, slip, root channels and errors vs ``cmd`` over one analysis window."""
    seg = states.astype(np.float64)
    rv = _root_heading_velocity(seg, commands, has_root)
    row = _stance_metrics(kin, seg, rv, dt, has_root)
    if has_root:
        row["root_vx"], row["root_vy"] = float(rv[:, 0].mean()), float(rv[:, 1].mean())
        row["root_yaw_rate"] = float(seg[:, 64].mean())
    row["err_vx"] = row["implied_vx"] - cmd[0]
    row["err_vy"] = row["implied_vy"] - cmd[1]
    row["err_yaw"] = row["implied_yaw_rate"] - cmd[2]
    return row


def speed_sweep(
    loaded: LoadedModel,
    kin: Kinematics,
    options: GeneratorOptions,
    minutes: float = 1.0,
    analysis_s: float = 30.0,
) -> dict:
    """Roll out the :mod:`twist_training.cmg.sweep` ladders (one command axis at a time)."""
    fps = float(loaded.metadata.get("fps", 50.0))
    has_root = StateLayout.from_dim(loaded.stats.motion_dim).root_channels
    cmds, axis = sweep.sweep_commands(*command_range(loaded, options))
    T = int(np.round(minutes * 60 * fps))
    A = min(T, int(np.round(analysis_s * fps)))
    res = rollout(loaded, np.broadcast_to(cmds, (T, len(cmds), 3)), options=options)
    z_clip = options.state_z_clip - 1e-3
    rows = []
    for b, k in enumerate(axis):
        zr = np.abs(loaded.stats.normalize_state(res.raw_states[-A:, b].astype(np.float64)))
        row = {
            "axis": sweep.AXES[k],
            "cmd": cmds[b].tolist(),
            "diverged": bool(res.nonfinite[b] or zr.max() >= z_clip),
        }
        row.update(_velocity_row(kin, res.states[-A:, b], res.commands[-A:, b], cmds[b], 1.0 / fps, has_root))
        row["wrong_way"] = bool(sweep.wrong_way(cmds[b, k], row[sweep.IMPLIED_KEYS[k]], k))
        rows.append(row)
    return {"minutes": minutes, "analysis_s": analysis_s, "rows": rows, "summary": sweep.summarize(rows)}


def evaluate(
    loaded: LoadedModel,
    out_dir: str | Path,
    minutes: float = 10.0,
    analysis_s: float = 60.0,
    grid: tuple = (GRID_VX, GRID_VY, GRID_YAW),
    change_rollouts: int = 8,
    change_every_s: float = 4.0,
    seed: int = 0,
    log=print,
    options: GeneratorOptions | None = None,
    write_npz: bool = True,
    sweep_minutes: float = 1.0,
) -> dict:
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    opts = options or GeneratorOptions()
    fps = float(loaded.metadata.get("fps", 50.0))
    dt = 1.0 / fps
    T = int(np.round(minutes * 60 * fps))
    has_root = StateLayout.from_dim(loaded.stats.motion_dim).root_channels
    cmds = np.array(list(itertools.product(*grid)), dtype=np.float64)
    B = len(cmds)
    t0 = time.time()
    res = rollout(loaded, np.broadcast_to(cmds, (T, B, 3)), options=opts)
    t_roll = time.time() - t0
    log(f"grid rollouts: {B} commands x {T} steps in {t_roll:.1f} s")
    kin = Kinematics()
    z_all_clip = opts.state_z_clip - 1e-3
    A = min(T, int(np.round(analysis_s * fps)))
    tail10 = min(T, int(np.round(10 * fps)))
    lower, upper = robot.POSITION_LOWER, robot.POSITION_UPPER
    rows = []
    for b in range(B):
        st = res.states[:, b]
        raw = res.raw_states[:, b]
        z = np.abs(loaded.stats.normalize_state(st[-A:].astype(np.float64)))
        zr = np.abs(loaded.stats.normalize_state(raw[1:].astype(np.float64)))
        q = raw[1:, : robot.NUM_JOINTS]
        excess = np.maximum(q - upper, lower - q)
        row = {
            "cmd": cmds[b].tolist(),
            "cmd_clamped": res.commands[-1, b].astype(float).tolist(),
            "in_range": bool(np.allclose(res.commands[-1, b], cmds[b], atol=1e-4)),
            "diverged": bool(res.nonfinite[b] or zr[-A:].max() >= z_all_clip),
            "guard_hit_frames": int((zr.max(axis=1) >= z_all_clip).sum()),
            "max_abs_z": float(z.max()),
            "limit_violation_frac": float((excess.max(axis=1) > 0.01).mean()),
            "limit_excess_max": float(max(excess.max(), 0.0)),
            "activity": float(st[-tail10:, LEG].std(axis=0).mean()),
        }
        row.update(_velocity_row(kin, st[-A:], res.commands[-A:, b], row["cmd_clamped"], dt, has_root))
        rows.append(row)
    # -------------------------------------------------------------- command changes
    rng = np.random.default_rng(seed)
    every = int(np.round(change_every_s * fps))
    nseg = int(np.ceil(T / every))
    seg_cmd = cmds[rng.integers(0, B, size=(nseg, change_rollouts))]
    sched = np.repeat(seg_cmd, every, axis=0)[:T]
    t0 = time.time()
    chg = rollout(loaded, sched, options=opts)
    log(f"command-change rollouts: {change_rollouts} x {T} steps in {time.time() - t0:.1f} s")
    skip = int(np.round(1.5 * fps))
    errs, slips, lim, div, guard = [], [], [], [], []
    nseg_eval = min(nseg, 40)
    for b in range(change_rollouts):
        raw = chg.raw_states[1:, b, : robot.NUM_JOINTS]
        lim.append(float((np.maximum(raw - upper, lower - raw).max(axis=1) > 0.01).mean()))
        zr = np.abs(loaded.stats.normalize_state(chg.raw_states[1:, b].astype(np.float64)))
        div.append(bool(chg.nonfinite[b] or zr[-A:].max() >= z_all_clip))
        guard.append(int((zr.max(axis=1) >= z_all_clip).sum()))
        for k in range(nseg_eval):  # implied velocity per segment (FK cost bounded: first 40 segments)
            a, e = k * every + skip, min((k + 1) * every, T)
            if e - a < 20:
                continue
            s = chg.states[a + 1 : e + 1, b].astype(np.float64)
            c = chg.commands[a:e, b]
            m = _stance_metrics(kin, s, _root_heading_velocity(s, c, has_root), dt, has_root)
            cm = c.mean(axis=0)
            errs.append([m["implied_vx"] - cm[0], m["implied_vy"] - cm[1], m["implied_yaw_rate"] - cm[2]])
            slips.append(m["stance_slip"])
    errs = np.abs(np.array(errs)) if errs else np.zeros((1, 3))
    change = {
        "rollouts": change_rollouts,
        "change_every_s": change_every_s,
        "diverged": int(sum(div)),
        "guard_hit_frames": int(sum(guard)),
        "rollouts_with_guard_hits": int(sum(g > 0 for g in guard)),
        "limit_violation_frac": float(np.mean(lim)),
        "mae_vx": float(errs[:, 0].mean()),
        "mae_vy": float(errs[:, 1].mean()),
        "mae_yaw": float(errs[:, 2].mean()),
        "stance_slip": float(np.mean(slips)) if slips else float("nan"),
    }
    # -------------------------------------------------------------- NPZ of change rollout 0
    if write_npz:
        _write_npz(
            out_dir / "rollout_command_changes.npz", kin, chg.states[:, 0], chg.commands[:, 0], fps, has_root
        )
    inr = [r for r in rows if r["in_range"]]
    summary = {
        "model_fps": fps,
        "minutes": minutes,
        "analysis_window_s": analysis_s,
        "commands": B,
        "in_range_commands": len(inr),
        "diverged": int(sum(r["diverged"] for r in rows)),
        "guard_hit_frames": int(sum(r["guard_hit_frames"] for r in rows)),
        "max_limit_violation_frac": float(max(r["limit_violation_frac"] for r in rows)),
        "mae_vx_in_range": float(np.mean([abs(r["err_vx"]) for r in inr])) if inr else None,
        "mae_vy_in_range": float(np.mean([abs(r["err_vy"]) for r in inr])) if inr else None,
        "mae_yaw_in_range": float(np.mean([abs(r["err_yaw"]) for r in inr])) if inr else None,
        "mean_stance_slip": float(np.mean([r["stance_slip"] for r in rows])),
        "frozen_while_moving": int(
            sum(r["activity"] < 0.02 and np.abs(r["cmd_clamped"][:2]).max() > 0.25 for r in rows)
        ),
        "rollout_seconds": t_roll,
    }
    sweeps = None
    if sweep_minutes > 0:
        t0 = time.time()
        sweeps = speed_sweep(loaded, kin, opts, sweep_minutes, min(analysis_s, 0.5 * sweep_minutes * 60))
        n_sweep = len(sweeps["rows"])
        log(f"speed sweeps: {n_sweep} commands x {sweep_minutes:g} min in {time.time() - t0:.1f} s")
    report = {
        "summary": summary,
        "command_changes": change,
        "grid": rows,
        "speed_sweep": sweeps,
        "command_low": loaded.metadata.get("command_low"),
        "command_high": loaded.metadata.get("command_high"),
        "runtime_options": {"mirror_average": opts.mirror_average, "phase_floor": opts.phase_floor},
    }
    (out_dir / "eval_report.json").write_text(json.dumps(report, indent=1))
    (out_dir / "eval_report.md").write_text(_markdown(report))
    _plot(rows, out_dir / "eval_grid.png")
    if sweeps is not None:
        sweep.plot(sweeps, out_dir / "eval_sweep.png")
        log(json.dumps(sweeps["summary"], indent=1))
    log(json.dumps(summary, indent=1))
    log(json.dumps(change, indent=1))
    return report


def _write_npz(path, kin, states, commands, fps, has_root):
    dt = 1.0 / fps
    n = robot.NUM_JOINTS
    T = states.shape[0]
    states = states.astype(np.float64)
    cmd = np.concatenate([commands[:1] * 0, commands]).astype(np.float64)
    yaw_rate = states[:, 64] if has_root else cmd[:, 2]
    vel = _root_heading_velocity(states, cmd, has_root)
    yaw = np.concatenate([[0.0], np.cumsum(yaw_rate[:-1] * dt)])
    c, s = np.cos(yaw), np.sin(yaw)
    vw = np.stack([c * vel[:, 0] - s * vel[:, 1], s * vel[:, 0] + c * vel[:, 1]], axis=1)
    pos = np.zeros((T, 3))
    pos[1:, :2] = np.cumsum(vw[:-1] * dt, axis=0)
    pos[:, 2] = states[:, 58] if has_root else robot.STANDING_PELVIS_HEIGHT
    rp = states[:, 59:61] if has_root else None
    _, _, bp, bq = kin.run(states[:, :n], rp, pos, yaw, all_bodies=True)
    np.savez_compressed(
        path,
        fps=np.array([fps], dtype=np.float32),
        dof_positions=states[:, :n].astype(np.float32),
        dof_velocities=states[:, n : 2 * n].astype(np.float32),
        body_positions=bp.astype(np.float32),
        body_rotations=bq.astype(np.float32),
        dof_names=np.array(robot.G1_JOINT_NAMES),
        body_names=np.array(kin.body_names),
        commands=cmd.astype(np.float32),
    )


def _markdown(rep: dict) -> str:
    s, c = rep["summary"], rep["command_changes"]
    lines = [
        "# CMG evaluation report",
        "",
        f"Rollouts of {s['minutes']} min at {s['model_fps']:.0f} Hz per grid command; velocity metrics "
        f"over the "
        f"last {s['analysis_window_s']:.0f} s. Trained command range: low {rep['command_low']}, "
        f"high {rep['command_high']} (grid commands outside it are clamped; `in range` = not clamped).",
        f"Runtime options: {rep.get('runtime_options', {})}.",
        "",
        f"- diverged (non-finite, or at the ±8σ guard during the last minute): {s['diverged']} / "
        f"{s['commands']}; frames at the guard over all rollouts: {s['guard_hit_frames']}",
        f"- worst joint-limit violation frequency (raw output, before the runtime clamp): "
        f"{s['max_limit_violation_frac']:.4f}",
        f"- implied-speed MAE vs command, in-range commands ({s['in_range_commands']}): "
        f"vx {s['mae_vx_in_range']:.3f} "
        f"m/s, vy {s['mae_vy_in_range']:.3f} m/s, yaw {s['mae_yaw_in_range']:.3f} rad/s",
        f"- mean stance slip {s['mean_stance_slip']:.3f} m/s; frozen while commanded to move: "
        f"{s['frozen_while_moving']}",
        f"- command changes ({c['rollouts']} rollouts, new command every {c['change_every_s']} s): diverged "
        f"{c['diverged']}, transient guard hits {c['guard_hit_frames']} frames in "
        f"{c['rollouts_with_guard_hits']} rollouts, "
        f"limit-violation frequency {c['limit_violation_frac']:.4f}, "
        f"MAE vx {c['mae_vx']:.3f} "
        f"vy {c['mae_vy']:.3f} yaw {c['mae_yaw']:.3f}, slip {c['stance_slip']:.3f} m/s",
        "",
        "| vx | vy | yaw | clamped cmd | div | lim frac | max z | activity | implied vx | implied vy "
        "| implied yaw | slip |",
        "|---|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for r in rep["grid"]:
        cc = ", ".join(f"{x:.2f}" for x in r["cmd_clamped"])
        lines.append(
            f"| {r['cmd'][0]:.1f} | {r['cmd'][1]:.1f} | {r['cmd'][2]:.1f} | {cc} | {int(r['diverged'])} "
            f"| {r['limit_violation_frac']:.3f} | {r['max_abs_z']:.1f} | {r['activity']:.3f} "
            f"| {r['implied_vx']:.2f} "
            f"| {r['implied_vy']:.2f} | {r['implied_yaw_rate']:.2f} | {r['stance_slip']:.2f} |"
        )
    if rep.get("speed_sweep"):
        lines += sweep.markdown(rep["speed_sweep"])
    return "\n".join(lines) + "\n"


def _plot(rows, path):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    cmd = np.array([r["cmd_clamped"] for r in rows])
    imp = np.array([[r["implied_vx"], r["implied_vy"], r["implied_yaw_rate"]] for r in rows])
    fig, ax = plt.subplots(1, 4, figsize=(16, 3.8))
    names = ["vx (m/s)", "vy (m/s)", "yaw rate (rad/s)"]
    for k in range(3):
        ax[k].scatter(cmd[:, k], imp[:, k], s=14, alpha=0.7)
        lo, hi = min(cmd[:, k].min(), imp[:, k].min()), max(cmd[:, k].max(), imp[:, k].max())
        ax[k].plot([lo, hi], [lo, hi], "k--", lw=0.8)
        ax[k].set_xlabel(f"command {names[k]} (clamped)")
        ax[k].set_ylabel(f"implied {names[k]}")
        ax[k].grid(alpha=0.3)
    vx = cmd[:, 0]
    ax[3].scatter(vx, [r["stance_slip"] for r in rows], s=14, label="stance slip (m/s)")
    ax[3].scatter(vx, [r["limit_violation_frac"] for r in rows], s=14, label="limit-violation freq")
    ax[3].scatter(vx, [float(r["diverged"]) for r in rows], s=30, marker="x", label="diverged")
    ax[3].set_xlabel("command vx (clamped)")
    ax[3].legend(fontsize=8)
    ax[3].grid(alpha=0.3)
    fig.suptitle("CMG over the command grid: implied base velocity (stance-foot kinematics) vs command")
    fig.tight_layout()
    fig.savefig(path, dpi=80)
    plt.close(fig)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(
        prog="eval_cmg",
        description="Evaluate a CMG over a command grid. Given several models, evaluate each the same "
        "way and rank them (ranking.md in --out; see twist_training.cmg.rank).",
    )
    p.add_argument(
        "model", nargs="+", help="artifact .pt, TorchScript .ts, or ONNX (.onnx; upstream needs --stats)"
    )
    p.add_argument("--stats", default=None, help="cmg_stats.yaml for an upstream ONNX")
    p.add_argument(
        "--out",
        default=None,
        help="output directory (default: <model dir>/eval_<stem>; several models: <first model dir>/ranking)",
    )
    p.add_argument("--minutes", type=float, default=10.0, help="rollout length per command")
    p.add_argument("--analysis-s", type=float, default=60.0, help="window for velocity metrics (s)")
    p.add_argument("--change-rollouts", type=int, default=8)
    p.add_argument("--change-every", type=float, default=4.0)
    p.add_argument(
        "--sweep-minutes",
        type=float,
        default=1.0,
        help="rollout length per speed-sweep command (ladders along vx, vy, yaw; 0 = no sweeps)",
    )
    p.add_argument("--quick", action="store_true", help="1 minute, coarse grid, short sweeps (smoke test)")
    p.add_argument("--threads", type=int, default=1)
    p.add_argument(
        "--mirror-average",
        choices=("true", "false"),
        default=None,
        help="average the model with its mirror image (default: the runtime's default)",
    )
    args = p.parse_args(argv)
    missing = [m for m in args.model if not Path(m).is_file()]
    if missing:
        p.error(f"no such model file: {', '.join(missing)}")
    grid = (GRID_VX, GRID_VY, GRID_YAW)
    minutes, analysis, sweep_minutes = args.minutes, args.analysis_s, args.sweep_minutes
    if args.quick:
        grid, minutes, analysis = ((-0.5, 0.0, 1.0, 3.0), (0.0, 0.5), (0.0, 1.0)), 1.0, 20.0
        sweep_minutes = min(sweep_minutes, 0.5)
    mirror = {} if args.mirror_average is None else {"mirror_average": args.mirror_average == "true"}
    opts = GeneratorOptions(**mirror)

    def evaluate_one(path: str, out: Path, ranking: bool = False) -> dict:
        loaded = load_model(path, args.stats, num_threads=args.threads)
        return evaluate(
            loaded, out, minutes, analysis, grid, args.change_rollouts, args.change_every,
            log=(lambda s: None) if ranking else print, options=opts, write_npz=not ranking,
            sweep_minutes=sweep_minutes,
        )  # fmt: skip

    if len(args.model) > 1:
        from twist_training.cmg.rank import rank_models

        out = Path(args.out) if args.out else Path(args.model[0]).parent / "ranking"
        rank_models(args.model, out, lambda m, o: evaluate_one(m, o, ranking=True))  # no NPZ per model
        print(f"ranking: {out / 'ranking.md'}")
        return 0
    model = args.model[0]
    out = Path(args.out) if args.out else Path(model).parent / f"eval_{Path(model).stem}"
    evaluate_one(model, out)
    print(f"report: {out / 'eval_report.md'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
