"""CMG trainer: scheduled-sampling rollouts over windows cut on the fly from continuous 50 Hz clips.

Inputs are plain arrays (:class:`twist_training.cmg.data_adapter.CMGClips`): raw states (T_i, D)
in the :class:`cmg_generator.model.StateLayout` and commands (T_i, 3). Per batch: B windows of
``seq_len + 1`` frames; start from frame 0 (or, with ``standing_swap_prob``, from the standing
state; with ``start_swap_prob``, from another window's frame 0); for t = 0..L-1 predict frame t+1
from (current, command[t]); the next input is the ground truth with probability ``teacher_prob``
(one coin per step for the whole batch), else the detached prediction. Loss = MSE in normalized
space averaged over the L steps.

Output directory ``<out_dir>/cmg_YYYYMMDD_HHMMSS/``: ``config.yaml``, ``history.json``,
``loss.png``, ``cmg_best.pt``, ``cmg_ckpt_<epoch>.pt`` (every ``ckpt_every`` epochs, resumable),
``cmg_final.pt``, TensorBoard events under ``tb/``. Every ``.pt`` is a CMG artifact
(:func:`cmg_generator.artifact.load_artifact` loads it).
"""

from __future__ import annotations

import json
import math
import os
import random
import sys
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import torch

from cmg_generator.artifact import (
    ARTIFACT_FORMAT,
    ARTIFACT_VERSION,
    LoadedArtifact,
    NormStats,
    load_artifact,
    make_metadata,
)
from cmg_generator.model import CMG, CMGConfig, StateLayout
from twist_training.cmg.config import TrainConfig
from twist_training.cmg.data_adapter import CMGClips, exclude_clips, standing_state, with_mirrors

# seed's up-sampling by mean planar speed of a window: (threshold m/s, copies); slower -> 1
SEED_SPEED_TABLE = ((1.8, 36), (1.4, 24), (0.6, 6), (0.3, 6))


def resolve_device(name: str) -> torch.device:
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    return torch.device(name)


class WindowSampler:
    """Cuts (seq_len+1)-frame windows from continuous clips; the whole dataset lives in one tensor."""

    def __init__(self, clips: CMGClips, stats: NormStats, cfg: TrainConfig, device: torch.device):
        self.L = cfg.seq_len
        states, cmds, starts, ends = [], [], [], []
        offset = 0
        for s, c in zip(clips.states, clips.commands, strict=True):
            T = s.shape[0]
            if T >= self.L + 1:
                starts.append(offset)
                ends.append(offset + T - self.L - 1)  # last valid start (inclusive)
            states.append(stats.normalize_state(s))
            cmds.append(stats.normalize_command(c))
            offset += T
        if not starts:
            raise ValueError(f"no clip is longer than seq_len+1 = {self.L + 1} frames")
        self.states = torch.as_tensor(np.concatenate(states), dtype=torch.float32, device=device)
        self.commands = torch.as_tensor(np.concatenate(cmds), dtype=torch.float32, device=device)
        raw_cmd = np.concatenate(clips.commands)
        # base windows every `window_stride` frames; each gets a weight from the sampling scheme
        base = [np.arange(a, b + 1, cfg.window_stride) for a, b in zip(starts, ends, strict=True)]
        seg_end = [np.full(len(x), b) for x, b in zip(base, ends, strict=True)]
        self.base = np.concatenate(base)
        self.base_end = np.concatenate(seg_end)
        self.stride = cfg.window_stride
        mean_cmd = np.stack([raw_cmd[s : s + self.L].mean(axis=0) for s in self.base])
        self.window_commands = mean_cmd
        speed = np.linalg.norm(mean_cmd[:, :2], axis=1)
        if cfg.sampling == "seed_speed":
            w = np.ones(len(self.base))
            for thr, copies in reversed(SEED_SPEED_TABLE):
                w[speed > thr] = copies
        elif cfg.sampling == "balanced":
            # inverse frequency over a coarse command grid (0.5 m/s, 0.5 m/s, 0.5 rad/s bins)
            keys = np.round(mean_cmd / 0.5).astype(int)
            _, inv, counts = np.unique(keys, axis=0, return_inverse=True, return_counts=True)
            w = 1.0 / counts[inv.reshape(-1)]
            w = w / w.mean()
        elif cfg.sampling == "uniform":
            w = np.ones(len(self.base))
        else:
            raise ValueError(f"unknown sampling {cfg.sampling!r}")
        self.weights = w / w.sum()
        n = cfg.samples_per_epoch or int(np.round(np.maximum(w, 1.0).sum()))
        self.samples_per_epoch = max(n, cfg.batch_size)
        self.device = device
        self._ar = torch.arange(self.L + 1, device=device)

    def epoch_batches(self, rng: np.random.Generator, batch_size: int):
        n = self.samples_per_epoch - self.samples_per_epoch % batch_size  # drop_last
        idx = rng.choice(len(self.base), size=n, replace=True, p=self.weights)
        jitter = rng.integers(0, self.stride, size=n)
        starts = np.minimum(self.base[idx] + jitter, self.base_end[idx])
        for i in range(0, n, batch_size):
            yield self.batch(starts[i : i + batch_size])

    def batch(self, starts: np.ndarray) -> tuple[torch.Tensor, torch.Tensor]:
        s = torch.as_tensor(starts, device=self.device)
        frames = s[:, None] + self._ar
        return self.states[frames], self.commands[frames[:, :-1]]


class SlipTerm:
    """The stance-foot slip loss (``twist_training.cmg.foot_kinematics``) on normalized states."""

    def __init__(self, stats: NormStats, weight: float, device: torch.device):
        from twist_training.cmg.foot_kinematics import SlipLoss

        self.loss = SlipLoss().to(device)
        self.weight = weight
        self.mean = torch.as_tensor(stats.motion_mean, dtype=torch.float32, device=device)
        self.std = torch.as_tensor(stats.motion_std, dtype=torch.float32, device=device)

    def __call__(self, inputs: torch.Tensor, preds: torch.Tensor) -> torch.Tensor:
        return self.loss(inputs * self.std + self.mean, preds * self.std + self.mean)


def rollout_loss(
    model: CMG,
    motion: torch.Tensor,
    command: torch.Tensor,
    teacher_prob: float,
    standing: torch.Tensor | None = None,
    noise_std: float = 0.0,
    rng: random.Random | None = None,
    slip: SlipTerm | None = None,
    parts: dict | None = None,
    forced: slice | None = None,
    channel_weights: torch.Tensor | None = None,
) -> torch.Tensor:
    """Mean over the rollout of MSE(pred_t+1, target_t+1); scheduled sampling, one coin per step.

    ``channel_weights`` (D,): per-channel weights of the squared error (default all 1).

    ``forced``: channels (the gait phase) that always come from the ground truth, also on the
    free-running steps. A free rollout drifts out of step with the ground truth's stride timing, and
    then the MSE-optimal prediction is the average over stride positions: a small-amplitude shuffle.
    With the phase given, the stride position is known and the loss stays sharp; at run time the
    model's own phase (kept turning by the runtime) drives the body.

    With ``slip``: + weight x the stance-foot slip loss over the same rollout (the model's input and
    output at every step against the ground truth's stance phases); ``parts`` receives the terms.
    """
    rng = rng or random
    L = command.shape[1]
    x = motion[:, 0]
    if standing is not None:
        x = standing.expand_as(x)
    loss = motion.new_zeros(())
    inputs, preds = [], []
    for t in range(L):
        if slip is not None:
            inputs.append(x.detach())  # before the noise: feet move from the frame given, not its corruption
        if noise_std > 0:
            x = x + noise_std * torch.randn_like(x)
        pred = model(x, command[:, t])
        err = (pred - motion[:, t + 1]) ** 2
        loss = loss + torch.mean(err if channel_weights is None else err * channel_weights)
        if slip is not None:
            preds.append(pred)
        if rng.random() < teacher_prob:
            x = motion[:, t + 1]
        else:
            x = pred.detach()
            if forced is not None:
                x = torch.cat([x[:, : forced.start], motion[:, t + 1, forced], x[:, forced.stop :]], dim=1)
    loss = loss / L
    if parts is not None:
        parts["mse"] = float(loss.detach())
    if slip is not None:
        if standing is not None:  # a window started from standing: frame 0 is not the ground truth
            inputs[0] = motion[:, 0]
        s = slip(torch.stack(inputs, 1), torch.stack(preds, 1))
        if parts is not None:
            parts["slip"] = float(s.detach())
        loss = loss + slip.weight * s
    return loss


def loss_channel_weights(cfg: TrainConfig, layout: StateLayout, device) -> torch.Tensor | None:
    """Per-channel weights of the rollout MSE from the config (None when all are 1)."""
    if cfg.phase_loss_weight == 1.0 and cfg.root_velocity_loss_weight == 1.0:
        return None
    w = torch.ones(layout.dim, device=device)
    if cfg.phase_loss_weight != 1.0:
        if not layout.phase_channels:
            raise ValueError("phase_loss_weight needs phase_channels")
        w[layout.phase] = cfg.phase_loss_weight
    if cfg.root_velocity_loss_weight != 1.0:
        if not layout.root_channels:
            raise ValueError("root_velocity_loss_weight needs root_channels")
        w[layout.root_lin_vel] = cfg.root_velocity_loss_weight
        w[layout.root_yaw_rate] = cfg.root_velocity_loss_weight
    return w


def swapped_starts(motion: torch.Tensor, rng: np.random.Generator) -> torch.Tensor:
    """Start states (B, D) for a batch of windows: each window gets another window's first frame.
    The batch's windows are drawn in random order, so a cyclic shift by a random non-zero offset is
    enough (no window keeps its own start when B > 1)."""
    B = motion.shape[0]
    if B < 2:
        return motion[:, 0]
    perm = (np.arange(B) + rng.integers(1, B)) % B
    return motion[torch.as_tensor(perm, device=motion.device), 0]


def _batch_forcing(forced: slice | None, prob: float, rng: random.Random) -> slice | None:
    """The forced channels for this batch: always at prob >= 1 (no coin drawn), else with prob."""
    if forced is None or prob >= 1.0:
        return forced
    return forced if rng.random() < prob else None


@torch.no_grad()
def free_rollout_mse(model: CMG, sampler: WindowSampler, n: int = 256, seed: int = 123) -> float:
    """Free-running (no teacher forcing) MSE over fixed windows: the autoregressive quality proxy."""
    rng = np.random.default_rng(seed)
    idx = rng.choice(len(sampler.base), size=min(n, len(sampler.base)), replace=False)
    motion, command = sampler.batch(sampler.base[idx])
    was = model.training
    model.eval()
    loss = rollout_loss(model, motion, command, teacher_prob=0.0)
    model.train(was)
    return float(loss)


@dataclass
class TrainResult:
    run_dir: Path
    best_path: Path
    final_path: Path
    history: list[dict]


def _atomic_save(obj, path: Path) -> None:
    """torch.save to a temporary file, then rename: a kill never leaves a half-written checkpoint."""
    path = Path(path)
    tmp = path.with_name(path.name + ".tmp")
    with open(tmp, "wb") as f:
        torch.save(obj, f)
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, path)


def load_init(path: str | Path, mcfg: CMGConfig) -> LoadedArtifact:
    """An artifact or checkpoint to fine-tune from; its network must be the one ``mcfg`` describes."""
    if not Path(path).is_file():
        raise FileNotFoundError(f"init_from: no such file: {path}")
    art = load_artifact(path)
    theirs = art.model.config
    if theirs != mcfg:
        diff = {k: (v, getattr(mcfg, k)) for k, v in theirs.to_dict().items() if getattr(mcfg, k) != v}
        raise ValueError(f"init_from: {path} has another network (field: theirs, this config's): {diff}")
    return art


def _artifact_dict(model, stats, metadata) -> dict:
    return {
        "format": ARTIFACT_FORMAT,
        "version": ARTIFACT_VERSION,
        "model_config": model.config.to_dict(),
        "state_dict": {k: v.detach().cpu().clone() for k, v in model.state_dict().items()},
        "stats": stats.to_dict(),
        "metadata": metadata,
    }


def plot_history(history: list[dict], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    ep = [h["epoch"] for h in history]
    fig, ax = plt.subplots(1, 2, figsize=(10, 3.5))
    ax[0].semilogy(ep, [h["loss"] for h in history], label="train loss (scheduled sampling)")
    ax[0].semilogy(ep, [h["rollout_mse"] for h in history], label="free-rollout MSE (30 steps)")
    ax[0].set_xlabel("epoch")
    ax[0].legend()
    ax[0].grid(alpha=0.3)
    ax[1].plot(ep, [h["teacher_prob"] for h in history], label="teacher prob")
    ax[1].semilogy(ep, [h["lr"] / history[0]["lr"] for h in history], label="lr / lr0")
    ax[1].set_xlabel("epoch")
    ax[1].legend()
    ax[1].grid(alpha=0.3)
    fig.tight_layout()
    fig.savefig(path, dpi=90)
    plt.close(fig)


def train_cmg(
    cfg: TrainConfig,
    clips: CMGClips | None = None,
    resume: str | Path | None = None,
    log=print,
    lr_override: float | None = None,
) -> TrainResult:
    """Train a CMG. ``clips`` default: :func:`data_adapter.load_default_clips` (+ mirrors)."""
    if cfg.num_threads > 0:
        torch.set_num_threads(cfg.num_threads)
    device = resolve_device(cfg.device)
    ckpt = None
    if resume:
        ckpt = torch.load(resume, map_location="cpu", weights_only=False)
        if "optimizer" not in ckpt:
            raise ValueError(f"{resume}: not a resumable checkpoint (no optimizer state)")
        run_dir = Path(resume).resolve().parent
    else:
        name = cfg.run_name or datetime.now(UTC).strftime("cmg_%Y%m%d_%H%M%S")
        run_dir = Path(cfg.out_dir) / name
        run_dir.mkdir(parents=True, exist_ok=False)
    random.seed(cfg.seed)
    torch.manual_seed(cfg.seed)
    np_rng = np.random.default_rng(cfg.seed)
    py_rng = random.Random(cfg.seed)

    if clips is None:
        from twist_training.cmg.data_adapter import load_default_clips

        clips = load_default_clips(
            cfg.root_channels,
            cfg.smooth_s,
            cfg.data_dir,
            cfg.procedural_minutes,
            cfg.seed,
            cfg.cache_dir or None,
            log,
            cfg.procedural_slow_minutes,
            cfg.procedural_slow_lateral_minutes,
        )
    if cfg.exclude_clips:
        clips, dropped = exclude_clips(clips, cfg.exclude_clips)
        log(f"exclude_clips {cfg.exclude_clips!r}: left out {len(dropped)} clips ({', '.join(dropped)})")
    if cfg.phase_channels:
        from twist_training.cmg.phase import with_phase

        clips = with_phase(clips)  # labelled before mirroring; the mirror shifts the phase by 1/2
    if cfg.mirror:
        clips = with_mirrors(clips)
    if abs(clips.fps - 50.0) > 1e-6:
        raise ValueError(f"CMG training data must be 50 Hz (got {clips.fps})")
    mcfg = CMGConfig(
        root_channels=cfg.root_channels,
        phase_channels=cfg.phase_channels,
        hidden_dim=cfg.hidden_dim,
        gate_hidden_dim=cfg.gate_hidden_dim,
        num_experts=cfg.num_experts,
        num_layers=cfg.num_layers,
    )
    if clips.state_dim != mcfg.state_dim:
        raise ValueError(f"clips have {clips.state_dim} channels, config expects {mcfg.state_dim}")
    init = None
    if ckpt is None and cfg.init_from:
        init = load_init(cfg.init_from, mcfg)
        log(f"init_from {cfg.init_from}: its weights and normalization stats, a fresh optimizer")
    if ckpt is not None:
        stats = NormStats.from_dict(ckpt["stats"])
        standing_raw = np.asarray(ckpt["metadata"]["standing_state"], dtype=np.float32)
    elif init is not None:  # the weights only make sense with their own normalization
        stats = init.stats
        standing_raw = np.asarray(init.metadata["standing_state"], dtype=np.float32)
    else:
        all_s = np.concatenate(clips.states)
        stats = NormStats.compute(all_s, np.concatenate(clips.commands), root_std_floor=0.02)
        standing_raw = standing_state(clips)
    sampler = WindowSampler(clips, stats, cfg, device)
    layout = StateLayout(mcfg.root_channels, mcfg.phase_channels)
    forced = None
    if cfg.phase_forcing:
        if not mcfg.phase_channels:
            raise ValueError("phase_forcing needs phase_channels")
        forced = layout.phase
    channel_weights = loss_channel_weights(cfg, layout, device)
    slip = None
    if cfg.slip_loss_weight > 0:
        if not mcfg.root_channels:
            raise ValueError("slip_loss_weight needs root_channels (the predicted root velocity)")
        slip = SlipTerm(stats, cfg.slip_loss_weight, device)
    standing = torch.as_tensor(stats.normalize_state(standing_raw), dtype=torch.float32, device=device)
    # the runtime clamps commands to the range the windows actually cover (not single-frame extremes)
    wc = sampler.window_commands
    training_info = {
        "data_source": clips.source,
        "clips": len(clips.states),
        "frames": clips.num_frames,
        "seq_len": cfg.seq_len,
        "config": cfg.to_dict(),
    }
    if init is not None:
        training_info["init_from"] = str(cfg.init_from)
    metadata = make_metadata(
        stats,
        standing_raw,
        50.0,
        np.quantile(wc, 0.005, axis=0),
        np.quantile(wc, 0.995, axis=0),
        training_info,
    )
    if mcfg.phase_channels:
        from twist_training.cmg.phase import moving_stride_rate_range

        metadata["stride_rate_range"] = list(moving_stride_rate_range(clips))

    model = CMG(mcfg).to(device)
    if init is not None:
        model.load_state_dict(init.model.state_dict())
    opt = torch.optim.Adam(model.parameters(), lr=cfg.lr, weight_decay=cfg.weight_decay)
    sched = torch.optim.lr_scheduler.ReduceLROnPlateau(
        opt, mode="min", factor=cfg.lr_factor, patience=cfg.lr_patience, min_lr=cfg.lr_min
    )
    start_epoch, teacher_prob, best, history = 1, cfg.teacher_prob_start, math.inf, []
    if ckpt is not None:
        model.load_state_dict(ckpt["state_dict"])
        opt.load_state_dict(ckpt["optimizer"])
        sched.load_state_dict(ckpt["scheduler"])
        best = float(ckpt["best"])
        old = ckpt.get("train_config", {})
        if lr_override is not None:  # the optimizer state carries the decayed lr; an explicit one wins
            for g in opt.param_groups:
                g["lr"] = lr_override
            sched.num_bad_epochs = 0
            log(f"resume: learning rate set to {lr_override:g}")
        if int(old.get("seq_len", cfg.seq_len)) != cfg.seq_len:
            best = math.inf  # the free-rollout metric depends on the window length
            log(f"resume: seq_len {old.get('seq_len')} -> {cfg.seq_len}; best metric restarts")
        sched.patience, sched.factor = cfg.lr_patience, cfg.lr_factor
        sched.min_lrs = [cfg.lr_min] * len(sched.min_lrs)
        start_epoch = int(ckpt["epoch"]) + 1
        teacher_prob = float(ckpt["teacher_prob"])
        history = list(ckpt["history"])
        np_rng = np.random.default_rng(cfg.seed + start_epoch)
        py_rng = random.Random(cfg.seed + start_epoch)
        torch.manual_seed(cfg.seed + start_epoch)
        log(f"resumed from {resume} at epoch {start_epoch}")
    else:
        import yaml

        (run_dir / "config.yaml").write_text(yaml.safe_dump(cfg.to_dict(), sort_keys=False))

    writer = None
    if cfg.tensorboard:
        try:
            from torch.utils.tensorboard import SummaryWriter

            writer = SummaryWriter(str(run_dir / "tb"))
        except Exception as e:  # tensorboard missing: keep training
            log(f"tensorboard disabled: {e}")
    wb = None
    if cfg.wandb:
        import wandb

        wb = wandb.init(project=cfg.wandb_project, name=run_dir.name, config=cfg.to_dict())

    n_batches = sampler.samples_per_epoch // cfg.batch_size
    log(
        f"CMG training: {clips.num_frames} frames in {len(clips.states)} clips ({clips.source}), "
        f"state dim {mcfg.state_dim}, {model.num_parameters():,} params, device {device}, "
        f"{n_batches} batches/epoch x {cfg.batch_size}, epochs {start_epoch}..{cfg.epochs}, run {run_dir}"
    )
    t_start = time.time()
    best_path = run_dir / "cmg_best.pt"
    epoch = start_epoch - 1
    # a fresh Adam takes ~lr-sized steps on every weight at once; a warm-started model can lose what
    # it knew before the moment estimates settle, so fine-tunes may ramp the rate up
    warmup_steps = cfg.lr_warmup_epochs * n_batches if ckpt is None else 0
    step = 0
    for epoch in range(start_epoch, cfg.epochs + 1):
        model.train()
        t0, total, nb, slip_total = time.time(), 0.0, 0, 0.0
        for motion, command in sampler.epoch_batches(np_rng, cfg.batch_size):
            stand = standing if py_rng.random() < cfg.standing_swap_prob else None
            if stand is None and cfg.start_swap_prob > 0 and py_rng.random() < cfg.start_swap_prob:
                stand = swapped_starts(motion, np_rng)
            parts: dict = {}
            loss = rollout_loss(
                model, motion, command, teacher_prob, stand, cfg.input_noise_std, py_rng, slip, parts,
                _batch_forcing(forced, cfg.phase_forcing_prob, py_rng), channel_weights,
            )  # fmt: skip
            slip_total += parts.get("slip", 0.0)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            if cfg.grad_clip > 0:
                torch.nn.utils.clip_grad_norm_(model.parameters(), cfg.grad_clip)
            if step < warmup_steps:
                for g in opt.param_groups:
                    g["lr"] = cfg.lr * (step + 1) / warmup_steps
            step += 1
            opt.step()
            total += float(loss.detach())
            nb += 1
            if cfg.log_every and nb % cfg.log_every == 0:
                log(f"  epoch {epoch} batch {nb}/{n_batches} loss {total / nb:.5f}")
        mean_loss = total / max(nb, 1)
        dt = time.time() - t0
        roll = free_rollout_mse(model, sampler)
        sched.step(mean_loss)
        lr = opt.param_groups[0]["lr"]
        rec = {
            "epoch": epoch,
            "loss": mean_loss,
            "rollout_mse": roll,
            "lr": lr,
            "teacher_prob": teacher_prob,
            "epoch_s": dt,
            "samples_per_s": nb * cfg.batch_size / max(dt, 1e-9),
        }
        if slip is not None:
            rec["slip"] = slip_total / max(nb, 1)  # m/s, mean over the epoch
        history.append(rec)
        log(
            f"epoch {epoch:4d}/{cfg.epochs} loss {mean_loss:.5f} free-rollout {roll:.5f} lr {lr:.2e} "
            f"tf {teacher_prob:.3f} {dt:.1f}s ({rec['samples_per_s']:.0f} windows/s)"
            + (f" slip {rec['slip']:.4f}" if slip is not None else "")
        )
        if writer:
            for k in ("loss", "rollout_mse", "lr", "teacher_prob", "samples_per_s"):
                writer.add_scalar(k, rec[k], epoch)
        if wb:
            wb.log(rec)
        score = mean_loss if cfg.best_metric == "loss" else roll
        if score < best:
            best = score
            best_ckpt = {**_artifact_dict(model, stats, metadata), "epoch": epoch, "score": score}
            _atomic_save(best_ckpt, best_path)
        teacher_prob = max(cfg.teacher_floor, teacher_prob * cfg.teacher_decay)
        out_of_time = cfg.max_minutes > 0 and (time.time() - t_start) / 60.0 >= cfg.max_minutes
        if epoch % cfg.ckpt_every == 0 or epoch == cfg.epochs or out_of_time:
            _atomic_save(
                {
                    **_artifact_dict(model, stats, metadata),
                    "epoch": epoch,
                    "optimizer": opt.state_dict(),
                    "scheduler": sched.state_dict(),
                    "teacher_prob": teacher_prob,
                    "best": best,
                    "history": history,
                    "train_config": cfg.to_dict(),
                },
                run_dir / f"cmg_ckpt_{epoch}.pt",
            )
            (run_dir / "history.json").write_text(json.dumps(history, indent=1))
            plot_history(history, run_dir / "loss.png")
        if out_of_time:
            log(f"stopping after {cfg.max_minutes} min (max_minutes); resume with --resume")
            break
        sys.stdout.flush()
    final_path = run_dir / "cmg_final.pt"
    _atomic_save({**_artifact_dict(model, stats, metadata), "epoch": epoch}, final_path)
    (run_dir / "history.json").write_text(json.dumps(history, indent=1))
    if history:
        plot_history(history, run_dir / "loss.png")
    if writer:
        writer.close()
    if wb:
        wb.finish()
    return TrainResult(run_dir, best_path, final_path, history)
