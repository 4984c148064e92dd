"""DAgger from the walking expert into the deployable TWIST-layout student, on a CPU.

Each iteration collects ``steps_per_iteration`` env steps. At every segment start an env is handed
to the expert with probability beta (``beta_schedule``, 1 -> 0), else to the student; every visited
state is labelled with the expert's action (the teacher sees the same command, through its inverted
speed curve, on a clock driven by the CMG phase). Labels are the 23 non-wrist joints of the expert's
raw action: the student is trained, and deployed, under the expert's interface (kp/kd, default
pose, action scale 0.25; wrists held at the default). Data are aggregated (newest ``max_dataset``
kept) and the student regresses them (MSE, a few epochs). Progress line per iteration, TensorBoard,
progress.csv, a checkpoint per iteration (``--resume auto`` continues the newest), ONNX export.
"""

from __future__ import annotations

import copy
import csv
import dataclasses
import json
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
import torch
from torch import nn

from twist_controller import robot
from twist_controller.observations import STUDENT_LAYOUT
from twist_controller.policy import PolicyMetadata, export_policy, load_policy

from .calibrate import measure_phase_offset, measure_response
from .config import DistillConfig
from .env import VelocityDistillEnv
from .teacher import ExpertTeacher, ResponseCurve


class StudentNet(nn.Module):
    """obs (N, 1155) -> raw actions (N, 23): fixed input normalization, then an ELU MLP."""

    def __init__(self, obs_size: int, act_size: int, hidden: list[int]):
        super().__init__()
        self.register_buffer("obs_mean", torch.zeros(obs_size))
        self.register_buffer("obs_std", torch.ones(obs_size))
        layers: list[nn.Module] = []
        last = obs_size
        for h in hidden:
            layers += [nn.Linear(last, h), nn.ELU()]
            last = h
        layers.append(nn.Linear(last, act_size))
        self.net = nn.Sequential(*layers)

    def forward(self, obs: torch.Tensor) -> torch.Tensor:
        return self.net((obs - self.obs_mean) / self.obs_std)


class Dataset:
    """Aggregated (observation, label) pairs; a ring buffer of the newest ``capacity`` samples."""

    def __init__(self, capacity: int, obs_size: int, act_size: int):
        self.obs = np.zeros((capacity, obs_size), dtype=np.float16)  # inputs are O(1): half is plenty
        self.act = np.zeros((capacity, act_size), dtype=np.float32)
        self.capacity, self.size, self.head = capacity, 0, 0

    def add(self, obs: np.ndarray, act: np.ndarray) -> None:
        k = len(obs)
        idx = (self.head + np.arange(k)) % self.capacity
        self.obs[idx], self.act[idx] = obs, act
        self.head = int((self.head + k) % self.capacity)
        self.size = int(min(self.capacity, self.size + k))

    def save(self, path: Path) -> None:
        np.savez(path, obs=self.obs[: self.size], act=self.act[: self.size], head=self.head)

    def load(self, path: Path) -> None:
        z = np.load(path)
        k = len(z["obs"])
        self.obs[:k], self.act[:k] = z["obs"], z["act"]
        self.size, self.head = k, int(z["head"])


def student_metadata(interface: PolicyMetadata, cfg: DistillConfig, description: str) -> PolicyMetadata:
    """The student's artifact interface: TWIST observation layout, 23 actions, the expert's gains,
    default pose, action scale and clip; wrists held at the default pose."""
    return PolicyMetadata(
        action_joint_names=list(robot.POLICY_JOINT_NAMES),
        default_position=list(interface.default_position),
        kp=list(interface.kp),
        kd=list(interface.kd),
        action_scale=interface.action_scale,
        action_clip=interface.action_clip,
        observation_layout=STUDENT_LAYOUT.name,
        observation_size=STUDENT_LAYOUT.size,
        control_dt=cfg.timestep * cfg.decimation,
        unactuated_hold="default",
        description=description,
    )


def _calibration(cfg: DistillConfig, run_dir: Path) -> tuple[ResponseCurve | None, float | None, dict]:
    path = run_dir / "calibration.json"
    if path.is_file():
        cal = json.loads(path.read_text())
    else:
        t0 = time.time()
        curve = measure_response(cfg)
        phase = measure_phase_offset(cfg)
        cal = {"response": dataclasses.asdict(curve), **phase, "seconds": round(time.time() - t0, 1)}
        path.write_text(json.dumps(cal, indent=1))
        print(
            f"[distill] calibrated in {cal['seconds']} s: phase offset {phase['phase_offset']:.2f} rad "
            f"(circular std {phase['circular_std']:.2f}, {phase['events']} lift-offs); expert vx at 1.0 -> "
            f"{np.interp(1.0, curve.vx_cmd, curve.vx_out):.2f}, "
            f"vy 0.3 -> {np.interp(0.3, curve.vy_cmd, curve.vy_out):.2f}",
            flush=True,
        )
    response = ResponseCurve(**cal["response"]) if cfg.invert_response else None
    offset = None
    if cfg.phase_from_cmg:
        offset = float(cfg.phase_offset) if cfg.phase_offset is not None else float(cal["phase_offset"])
    return response, offset, cal


def _latest(run_dir: Path) -> Path | None:
    cks = sorted(run_dir.glob("ckpt_*.pt"), key=lambda p: int(p.stem.split("_")[1]))
    return cks[-1] if cks else None


def train(cfg: DistillConfig, resume: str | None = None, log=print) -> Path:
    """Run (or continue) a distillation; returns the run directory."""
    run_dir = Path(cfg.run_dir)
    run_dir.mkdir(parents=True, exist_ok=True)
    torch.set_num_threads(max(1, cfg.torch_threads))
    torch.manual_seed(cfg.seed)
    rng = np.random.default_rng(cfg.seed + 1)
    (run_dir / "config.json").write_text(json.dumps(dataclasses.asdict(cfg), indent=1))

    interface = load_policy(f"expert:{cfg.expert}").metadata
    response, offset, cal = _calibration(cfg, run_dir)
    n = cfg.num_envs
    env = VelocityDistillEnv(cfg, interface, seed=cfg.seed)
    # the CMG's torch backend sets torch's global thread count when it loads: set ours again
    torch.set_num_threads(max(1, cfg.torch_threads))
    teacher = ExpertTeacher(cfg.expert, n, response=response, phase_offset=offset)
    act_idx = robot.POLICY_TO_FULL
    student = StudentNet(STUDENT_LAYOUT.size, len(act_idx), cfg.hidden)
    opt = torch.optim.Adam(student.parameters(), lr=cfg.lr)
    data = Dataset(cfg.max_dataset, STUDENT_LAYOUT.size, len(act_idx))
    start = 0
    ck_path = _latest(run_dir) if resume == "auto" else (Path(resume) if resume else None)
    if ck_path is not None:
        ck = torch.load(ck_path, map_location="cpu", weights_only=False)
        student.load_state_dict(ck["student"])
        opt.load_state_dict(ck["optimizer"])
        data.load(run_dir / "dataset.npz")
        start = ck["iteration"] + 1
        rng = np.random.default_rng(cfg.seed + 1 + start)
        log(f"[distill] resumed from {ck_path} (iteration {start}, {data.size} samples)")

    from torch.utils.tensorboard import SummaryWriter

    writer = SummaryWriter(str(run_dir / "tb"))
    progress = run_dir / "progress.csv"
    new_csv = not progress.is_file() or start == 0
    fields = [
        "iteration",
        "beta",
        "env_steps",
        "samples",
        "loss",
        "student_falls",
        "student_seconds",
        "expert_falls",
        "expert_seconds",
        "student_vel_err",
        "expert_vel_err",
        "collect_s",
        "train_s",
        "env_steps_per_s",
    ]
    with open(progress, "w" if new_csv else "a", newline="") as f:
        if new_csv:
            csv.writer(f).writerow(fields)
    ticks = max(1, cfg.steps_per_iteration // n)
    expert_ctrl = np.ones(n, dtype=bool)
    total_steps = start * ticks * n
    # overlap_update: the regression of iteration it-1 runs in a thread while iteration it collects
    # (torch and MuJoCo release the GIL); the student then acts with weights one update older, new
    # samples are staged and join the aggregate after the update, batches are drawn in this thread
    actor = copy.deepcopy(student).eval() if cfg.overlap_update else student
    pool = ThreadPoolExecutor(1) if cfg.overlap_update else None
    pending = None  # future of the update running in the background

    def regress(it: int, batches: list[np.ndarray]) -> tuple[float, float]:
        """The update of iteration ``it``: (mean loss of its last quarter of batches, seconds)."""
        t1 = time.time()
        frac = it / max(1, cfg.iterations - 1)
        lr = cfg.lr_min + 0.5 * (cfg.lr - cfg.lr_min) * (1 + np.cos(np.pi * frac))
        for g in opt.param_groups:
            g["lr"] = lr
        losses = []
        for b in batches:
            x = torch.from_numpy(data.obs[b].astype(np.float32))
            y = torch.from_numpy(data.act[b])
            loss = nn.functional.mse_loss(student(x), y)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            losses.append(float(loss.detach()))
        return float(np.mean(losses[-max(1, len(losses) // 4) :])), time.time() - t1

    def draw_batches() -> list[np.ndarray]:
        if cfg.updates_per_iteration > 0:
            return [rng.integers(0, data.size, cfg.batch_size) for _ in range(cfg.updates_per_iteration)]
        batches = []
        for _ in range(cfg.epochs):
            perm = rng.permutation(data.size)
            batches += [perm[k : k + cfg.batch_size] for k in range(0, data.size, cfg.batch_size)]
        return batches

    def checkpoint(it: int) -> None:
        tmp = run_dir / "dataset.tmp.npz"
        data.save(tmp)
        tmp.replace(run_dir / "dataset.npz")
        ck = run_dir / f"ckpt_{it}.pt"
        torch.save(
            {
                "student": student.state_dict(),
                "optimizer": opt.state_dict(),
                "iteration": it,
                "config": dataclasses.asdict(cfg),
                "calibration": cal,
            },
            ck.with_suffix(".tmp"),
        )
        ck.with_suffix(".tmp").replace(ck)
        for old in sorted(run_dir.glob("ckpt_*.pt"), key=lambda p: int(p.stem.split("_")[1]))[:-2]:
            old.unlink()

    last_loss, last_train_s = float("nan"), 0.0
    for it in range(start, cfg.iterations):
        beta = cfg.beta(it)
        t0 = time.time()
        stats = {"sf": 0, "ss": 0, "ef": 0, "es": 0, "sv": [], "ev": []}
        staged: list[tuple[np.ndarray, np.ndarray]] = []
        for _ in range(ticks):
            env.tick_reference()
            new = env.segment_started
            expert_ctrl[new] = rng.random(int(new.sum())) < beta
            state = env.robot_input()
            s_obs = env.student_observation(state)
            e_act = teacher.act(env.reference.command, state, env.reference.phase_angle)
            if not expert_ctrl.all():
                with torch.inference_mode():
                    s_act = actor(torch.from_numpy(s_obs)).numpy().astype(np.float64)
                act = e_act.copy()
                stu = ~expert_ctrl
                full = np.zeros((int(stu.sum()), robot.NUM_JOINTS))
                full[:, act_idx] = s_act[stu]
                act[stu] = full
            else:
                act = e_act
            if pending is None:
                data.add(s_obs, e_act[:, act_idx])
            else:
                staged.append((s_obs, e_act[:, act_idx].copy()))
            info = env.step(act)
            done = np.flatnonzero(info.fell | info.timed_out)
            teacher.reset(done)
            moving = np.any(info.command != 0, axis=1)
            err = np.linalg.norm(info.velocity[:, :2] - info.command[:, :2], axis=1)
            for who, mask in (("s", ~expert_ctrl), ("e", expert_ctrl)):
                stats[who + "f"] += int((info.fell & mask).sum())
                stats[who + "s"] += int(mask.sum())
                stats[who + "v"].extend(err[mask & moving & ~info.fell].tolist())
        collect_s = time.time() - t0
        total_steps += ticks * n

        # --- regression on the aggregate
        t1 = time.time()
        if pending is not None:  # the update launched last iteration ran during this collection
            last_loss, last_train_s = pending.result()
            pending = None
            for o, a in staged:
                data.add(o, a)
        if it == 0 and ck_path is None:  # freeze the input normalization from the first (expert) data
            o = data.obs[: data.size].astype(np.float32)
            student.obs_mean.copy_(torch.from_numpy(o.mean(0)))
            student.obs_std.copy_(torch.from_numpy(np.maximum(o.std(0), 1e-2)))
        batches = draw_batches()
        if pool is None:
            last_loss, last_train_s = regress(it, batches)
        else:
            if (it + 1) % cfg.checkpoint_every == 0 and it != cfg.iterations - 1:
                checkpoint(it)  # no update running: the student of the last update, data through it
            actor.load_state_dict(student.state_dict())  # the next collection acts with this update's input
            pending = pool.submit(regress, it, batches)
        train_s = last_train_s if pool is None else time.time() - t1  # overlap: the wait only
        loss = last_loss

        def rate(f, s):
            return f / max(s * env.dt, 1e-9) * 20.0  # falls per 20 s of control

        row = {
            "iteration": it,
            "beta": beta,
            "env_steps": total_steps,
            "samples": data.size,
            "loss": round(loss, 5),
            "student_falls": stats["sf"],
            "student_seconds": round(stats["ss"] * env.dt, 1),
            "expert_falls": stats["ef"],
            "expert_seconds": round(stats["es"] * env.dt, 1),
            "student_vel_err": round(float(np.mean(stats["sv"])), 3) if stats["sv"] else "",
            "expert_vel_err": round(float(np.mean(stats["ev"])), 3) if stats["ev"] else "",
            "collect_s": round(collect_s, 1),
            "train_s": round(train_s, 1),
            "env_steps_per_s": round(ticks * n / collect_s),
        }
        with open(progress, "a", newline="") as f:
            csv.writer(f).writerow([row[k] for k in fields])
        for k, v in row.items():
            if k != "iteration" and v != "" and not (isinstance(v, float) and np.isnan(v)):
                writer.add_scalar(f"distill/{k}", float(v), it)
        log(
            f"[distill] it {it:3d}/{cfg.iterations} beta {beta:.2f} | loss {loss:.4f} | student falls "
            f"{stats['sf']} in {stats['ss'] * env.dt:.0f} s ({rate(stats['sf'], stats['ss']):.2f}/20 s), "
            f"vel err {row['student_vel_err']} | expert falls {stats['ef']} in {stats['es'] * env.dt:.0f} s, "
            f"vel err {row['expert_vel_err']} | {row['env_steps_per_s']} env-steps/s, "
            f"collect {collect_s:.0f} s train {train_s:.0f} s, {data.size} samples"
        )
        last = it == cfg.iterations - 1
        if pending is not None and last:  # the final update finishes before the last checkpoint
            pending.result()
            pending = None
        if last or (pool is None and (it + 1) % cfg.checkpoint_every == 0):
            checkpoint(it)
    if pool is not None:
        pool.shutdown()
    env.close()
    writer.close()
    export(run_dir)
    plot_progress(run_dir)
    return run_dir


def export(run_dir: str | Path, out: str | Path | None = None, description: str = "") -> Path:
    """Write ``student.onnx`` (with its interface metadata) from the newest checkpoint of ``run_dir``."""
    run_dir = Path(run_dir)
    ck_path = _latest(run_dir)
    if ck_path is None:
        raise FileNotFoundError(f"no ckpt_*.pt in {run_dir}")
    ck = torch.load(ck_path, map_location="cpu", weights_only=False)
    cfg = DistillConfig(**ck["config"])
    student = StudentNet(STUDENT_LAYOUT.size, robot.NUM_POLICY_JOINTS, cfg.hidden)
    student.load_state_dict(ck["student"])
    interface = load_policy(f"expert:{cfg.expert}").metadata
    desc = description or (
        f"CMG+TWIST-layout student distilled by DAgger from the holosoma {cfg.expert} expert "
        f"({ck_path.name}, iteration {ck['iteration']}); expert interface (kp/kd, default pose, scale 0.25)"
    )
    path = export_policy(
        student.eval(), out or run_dir / "student.onnx", student_metadata(interface, cfg, desc)
    )
    load_policy(path)  # round trip: the file must load with its interface
    return path


def plot_progress(run_dir: str | Path, out: str | Path | None = None) -> Path | None:
    """Learning curve of a run (progress.csv): loss, student falls per 20 s, velocity error."""
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        return None
    run_dir = Path(run_dir)
    with open(run_dir / "progress.csv") as f:
        rows = list(csv.DictReader(f))
    if not rows:
        return None

    def col(k):
        return np.array([float(r[k]) if r[k] not in ("", None) else np.nan for r in rows])

    steps = col("env_steps") / 1e3
    fig, axes = plt.subplots(1, 3, figsize=(14, 3.6))
    axes[0].semilogy(steps, col("loss"))
    axes[0].set_title("regression loss (MSE, raw actions)")
    falls = col("student_falls") / np.maximum(col("student_seconds"), 1e-9) * 20.0
    axes[1].plot(steps, falls, "o-", label="student")
    axes[1].plot(
        steps, col("expert_falls") / np.maximum(col("expert_seconds"), 1e-9) * 20.0, "s--", label="expert"
    )
    axes[1].set_title("falls per 20 s of control (training task: pushes, friction 0.6-1.2)")
    axes[1].legend(fontsize=8)
    axes[2].plot(steps, col("student_vel_err"), "o-", label="student")
    axes[2].plot(steps, col("expert_vel_err"), "s--", label="expert")
    axes[2].plot(steps, col("beta"), ":", color="gray", label="beta (expert share)")
    axes[2].set_title("instantaneous |v - cmd| incl. transients [m/s]")
    axes[2].legend(fontsize=8)
    for ax in axes:
        ax.set_xlabel("env steps [k]")
    fig.tight_layout()
    out = Path(out) if out else run_dir / "progress.png"
    fig.savefig(out, dpi=90)
    plt.close(fig)
    return out
