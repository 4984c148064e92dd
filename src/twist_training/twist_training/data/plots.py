"""PNG reports of motion data (matplotlib, headless): command coverage and joint trajectories."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from twist_controller import robot

PLOT_JOINTS = (
    "left_hip_pitch_joint",
    "left_knee_joint",
    "left_ankle_pitch_joint",
    "left_hip_roll_joint",
    "left_shoulder_pitch_joint",
    "waist_yaw_joint",
)


def _plt():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def dataset_report(ds, path, title: str = "CMG dataset") -> Path:
    """Coverage (vx-vy and vx-yaw heat maps of all sample commands, vx histogram by source) and
    example joint trajectories of a few windows, in one PNG."""
    from matplotlib.colors import LogNorm

    plt = _plt()
    cmd = ds.command.reshape(-1, 3)
    fig = plt.figure(figsize=(16, 9))
    gs = fig.add_gridspec(2, 3)
    ax = fig.add_subplot(gs[0, 0])
    h = ax.hist2d(cmd[:, 0], cmd[:, 1], bins=[70, 40], cmin=1, norm=LogNorm(), cmap="viridis")
    fig.colorbar(h[3], ax=ax, label="frames")
    ax.set(xlabel="vx [m/s]", ylabel="vy [m/s]", title="command coverage vx-vy")
    ax = fig.add_subplot(gs[0, 1])
    h = ax.hist2d(cmd[:, 0], cmd[:, 2], bins=[70, 40], cmin=1, norm=LogNorm(), cmap="viridis")
    fig.colorbar(h[3], ax=ax, label="frames")
    ax.set(xlabel="vx [m/s]", ylabel="yaw rate [rad/s]", title="command coverage vx-yaw")
    ax = fig.add_subplot(gs[0, 2])
    src = ds.window_source[ds.sample_index]
    for i, s in enumerate(ds.sources):
        sel = ds.windows_command[ds.sample_index[src == i]].reshape(-1, 3)
        if len(sel):
            ax.hist(
                sel[:, 0], bins=60, range=(-2, 3.5), histtype="step", label=f"{s} ({len(sel) // 30} samples)"
            )
    ax.set(xlabel="vx [m/s]", ylabel="frames", title="vx by source (after rebalancing)", yscale="log")
    ax.legend(fontsize=8)
    # example trajectories: a few windows from across the speed range, concatenated per joint
    ax = fig.add_subplot(gs[1, :])
    mean_vx = ds.windows_command[:, :, 0].mean(axis=1)
    picks = []
    for target in (0.0, 0.3, 1.0, 2.0, 2.8):
        picks.append(int(np.argmin(np.abs(mean_vx - target) + 10 * (ds.window_source != 0))))
    t0 = 0.0
    dt = 1.0 / float(ds.meta.get("fps", 50.0))
    colors = plt.rcParams["axes.prop_cycle"].by_key()["color"]
    for n, w in enumerate(picks):
        m = ds.windows_motion[w]
        t = t0 + np.arange(len(m)) * dt
        for j, name in enumerate(PLOT_JOINTS):
            ax.plot(
                t,
                m[:, robot.joint_index(name)],
                color=colors[j % len(colors)],
                label=name if n == 0 else None,
            )
        ax.axvline(t0, color="k", lw=0.5)
        ax.text(t0 + 0.02, ax.get_ylim()[1] if n else 1.6, f"vx~{mean_vx[w]:.1f}", fontsize=8, va="top")
        t0 = t[-1] + dt
    ax.set(xlabel="time [s] (one window per speed, concatenated)", ylabel="joint position [rad]")
    ax.legend(fontsize=8, ncol=6, loc="lower right")
    fig.suptitle(f"{title}: {ds.num_samples} samples, {len(ds.windows_motion)} unique windows")
    fig.tight_layout()
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=90)
    plt.close(fig)
    return path


def clip_report(clip, path, command: np.ndarray | None = None, contact: np.ndarray | None = None) -> Path:
    """Joint trajectories, pelvis height and heading-frame velocity (vs the command) of one clip."""
    plt = _plt()
    t = clip.times
    fig, axs = plt.subplots(3, 1, figsize=(14, 9), sharex=True)
    for name in PLOT_JOINTS:
        axs[0].plot(t, clip.joint_pos[:, robot.joint_index(name)], label=name)
    axs[0].set(ylabel="rad")
    axs[0].legend(fontsize=8, ncol=3)
    hv = clip.heading_velocity()
    for i, lab in enumerate(("vx", "vy", "yaw rate")):
        axs[1].plot(t, hv[:, i], lw=0.8, label=f"pelvis {lab}")
        if command is not None:
            axs[1].plot(t, command[:, i], "--", label=f"command {lab}")
    axs[1].set(ylabel="m/s, rad/s")
    axs[1].legend(fontsize=8, ncol=3)
    axs[2].plot(t, clip.root_pos[:, 2], label="pelvis z")
    if contact is not None:
        axs[2].fill_between(t, 0.6, 0.6 + 0.02 * contact[:, 0], step="mid", alpha=0.5, label="left contact")
        axs[2].fill_between(
            t, 0.63, 0.63 + 0.02 * contact[:, 1], step="mid", alpha=0.5, label="right contact"
        )
    axs[2].set(xlabel="time [s]", ylabel="m")
    axs[2].legend(fontsize=8)
    fig.suptitle(clip.name)
    fig.tight_layout()
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=90)
    plt.close(fig)
    return path
