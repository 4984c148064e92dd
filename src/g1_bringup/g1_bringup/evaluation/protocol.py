"""The velocity-tracking evaluation protocol, shared by ``eval_stack`` (full graph over DDS) and the
direct in-process loop (:mod:`g1_bringup.evaluation.direct`). Pure numpy.

Episodes: a seeded sequence of command segments (2-5 s; the first one and ~25 % of the others
standing); each moving segment draws vx, vy, yaw rate uniformly from a named range:

* ``trained``: the walking expert's trained range (vx -0.5..1.0 m/s, vy +-0.3, yaw +-0.8 rad/s);
* ``extended``: vx up to 1.5 m/s (reported without a bar).

Per control tick a row ``t, cmd_vx, cmd_vy, cmd_wz, vx, vy, wz, pelvis_z, joint_err, t_in_segment``
(velocities of the pelvis in its heading frame). Velocity error is reported two ways:

* **instantaneous** (``*_inst``): |v - cmd| at each 50 Hz sample, which includes the pelvis' sway
  within each stride (~0.1 m/s sideways for a walking G1, a property of walking itself);
* **stride-averaged** (the headline): the velocity averaged over the trailing 1 s (one stride of
  the 1 Hz gait) against the command, counted only where that whole second lies inside one segment
  and ``settle`` s after its start. This is what "the robot walks at the commanded speed" means.
"""

from __future__ import annotations

import numpy as np

RANGES: dict[str, dict[str, tuple[float, float]]] = {
    "trained": {"vx": (-0.5, 1.0), "vy": (-0.3, 0.3), "wz": (-0.8, 0.8)},
    "extended": {"vx": (-0.5, 1.5), "vy": (-0.3, 0.3), "wz": (-0.8, 0.8)},
}
WINDOW_S = 1.0  # stride average window
SETTLE_S = 1.5  # s after a command change before samples count
VX_BINS = ((-0.5, -0.1), (-0.1, 0.1), (0.1, 0.5), (0.5, 1.0), (1.0, 1.5))
VY_BINS = ((-0.3, -0.1), (-0.1, 0.1), (0.1, 0.3))
WZ_BINS = ((-0.8, -0.2), (-0.2, 0.2), (0.2, 0.8))
COLUMNS = ("t", "cmd_vx", "cmd_vy", "cmd_wz", "vx", "vy", "wz", "z", "joint_err", "t_in_seg")


def command_sequence(
    seed: int, duration: float, ranges: str = "trained", p_stand: float = 0.25
) -> list[dict]:
    """[{t0, t1, vx, vy, wz}] covering [0, duration]; the first segment stands. Same seed, same list."""
    rng = np.random.default_rng(seed)
    r = RANGES[ranges]
    segs, t = [], 0.0
    while t < duration:
        dt = float(rng.uniform(2.0, 5.0))
        if not segs or rng.random() < p_stand:
            vx = vy = wz = 0.0
        else:
            vx, vy, wz = (float(rng.uniform(*r[k])) for k in ("vx", "vy", "wz"))
        segs.append({"t0": t, "t1": min(duration, t + dt), "vx": vx, "vy": vy, "wz": wz})
        t += dt
    return segs


def segment_at(segs: list[dict], t: float) -> dict:
    for s in segs:
        if s["t0"] <= t < s["t1"]:
            return s
    return segs[-1]


def _trailing_mean(x: np.ndarray, n: int) -> np.ndarray:
    """Mean of the last n rows ending at each row (NaN for the first n-1)."""
    out = np.full_like(x, np.nan, dtype=float)
    if len(x) >= n:
        c = np.cumsum(np.vstack([np.zeros((1, x.shape[1])), x]), axis=0)
        out[n - 1 :] = (c[n:] - c[:-n]) / n
    return out


def episode_metrics(rows: np.ndarray, dt: float = 0.02, settle: float = SETTLE_S) -> dict:
    """Velocity/yaw/joint errors of one episode from its rows (see COLUMNS)."""
    a = np.asarray(rows, dtype=float).reshape(-1, len(COLUMNS))
    if len(a) == 0:
        return {}
    cmd, vel = a[:, 1:4], a[:, 4:7]
    moving_cmd = np.abs(cmd).sum(axis=1) > 0
    settled = a[:, 9] >= settle
    n = max(1, round(WINDOW_S / dt))
    avg = _trailing_mean(vel, n)
    window_ok = settled & (a[:, 9] >= max(settle, WINDOW_S)) & np.isfinite(avg[:, 0])
    mov, mov_w = settled & moving_cmd, window_ok & moving_cmd
    stand_w = window_ok & ~moving_cmd

    def m(x):
        return float(np.mean(x)) if len(x) else float("nan")

    out = {
        "vel_err_xy_moving_mps": m(np.hypot(*(avg[mov_w, :2] - cmd[mov_w, :2]).T)),
        "yaw_rate_err_moving_radps": m(np.abs(avg[mov_w, 2] - cmd[mov_w, 2])),
        "vel_err_xy_standing_mps": m(np.hypot(*(avg[stand_w, :2] - cmd[stand_w, :2]).T)),
        "vel_err_xy_moving_inst_mps": m(np.hypot(*(vel[mov, :2] - cmd[mov, :2]).T)),
        "yaw_rate_err_moving_inst_radps": m(np.abs(vel[mov, 2] - cmd[mov, 2])),
        "joint_err_rad": m(a[:, 8][np.isfinite(a[:, 8])]),
        "moving_samples": int(mov_w.sum()),
    }
    # per-axis errors by command bin (stride-averaged; the other axes may be non-zero)
    for axis, col, bins in (("vx", 0, VX_BINS), ("vy", 1, VY_BINS), ("wz", 2, WZ_BINS)):
        for lo, hi in bins:
            sel = mov_w & (cmd[:, col] >= lo) & (cmd[:, col] < hi if hi < bins[-1][1] else cmd[:, col] <= hi)
            out[f"bin_{axis}_{lo:+.1f}_{hi:+.1f}"] = [
                float(np.sum(np.abs(avg[sel, col] - cmd[sel, col]))),
                float(np.sum(avg[sel, col] - cmd[sel, col])),
                int(sel.sum()),
            ]
    return out


def fall_kind(reason: str | None) -> str | None:
    """pelvis: below the height threshold; tilt: the bridge's tilt guard (the robot was falling);
    limit: the bridge's joint-limit guard (a joint driven past its range, e.g. an ankle under a push;
    on the robot the bridge damps then, so it counts as a fall); watchdog: a staleness watchdog (a
    late message on a loaded machine, not the policy); other."""
    if not reason:
        return None
    if reason.startswith("pelvis"):
        return "pelvis"
    if "tilt" in reason:
        return "tilt"
    if "joint limit" in reason:
        return "limit"
    if "stale" in reason:
        return "watchdog"
    return "other"


def summarize(episodes: list[dict]) -> dict:
    """Across episodes: falls, time to fall, mean errors (episodes weighted equally; bins by sample)."""
    ok = [e for e in episodes if not e.get("error")]
    falls = [e for e in ok if e.get("fell")]

    def mean_of(key):
        v = [e[key] for e in ok if isinstance(e.get(key), float) and np.isfinite(e[key])]
        return float(np.mean(v)) if v else float("nan")

    out = {
        "episodes": len(episodes),
        "evaluated": len(ok),
        "errors": len(episodes) - len(ok),
        "falls": len(falls),
        "falls_by_kind": {
            k: sum(fall_kind(e.get("fall_reason")) == k for e in falls)
            for k in ("pelvis", "tilt", "limit", "watchdog", "other")
        },
        "fall_times_s": sorted(round(e["fall_time_s"], 2) for e in falls if e.get("fall_time_s") is not None),
        "mean_time_to_fall_s": float(np.mean([e["fall_time_s"] for e in falls])) if falls else None,
    }
    for key in (
        "vel_err_xy_moving_mps",
        "yaw_rate_err_moving_radps",
        "vel_err_xy_standing_mps",
        "vel_err_xy_moving_inst_mps",
        "yaw_rate_err_moving_inst_radps",
        "joint_err_rad",
        "tau_peak_over_limit",
    ):
        out[key] = mean_of(key)
    tau = [e["tau_peak_nm"] for e in ok if e.get("tau_peak_nm") is not None]
    out["tau_peak_nm_max"] = float(np.max(tau)) if tau else None
    bins: dict[str, list[float]] = {}
    for e in ok:
        for k, v in e.items():
            if k.startswith("bin_"):
                acc = bins.setdefault(k, [0.0, 0.0, 0])
                acc[0] += v[0]
                acc[1] += v[1]
                acc[2] += v[2]
    out["bins"] = {
        k: {"abs_err": v[0] / v[2], "bias": v[1] / v[2], "samples": int(v[2])}
        for k, v in sorted(bins.items())
        if v[2]
    }
    return out
