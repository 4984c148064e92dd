"""Speed sweeps: the response of a CMG along each command axis, one axis at a time.

The evaluation grid has three values per lateral axis and eight forward speeds, which can hide
how a model behaves between them: a generator can walk well at 0.3 m/s and walk *backwards* at
0.1 m/s. A sweep rolls out every command of a fine ladder along vx, vy and the yaw rate (the
other two at zero) and reads the implied base velocity the same way as the grid
(:func:`twist_training.cmg.evaluate._stance_metrics`), so the report shows the whole
commanded-to-implied curve, the root channels' own claim beside it, and every command the gait
follows the wrong way.
"""

from __future__ import annotations

import numpy as np

AXES = ("vx", "vy", "yaw")
# the report row keys of each axis (evaluate._velocity_row): implied by the legs, root channel
IMPLIED_KEYS = ("implied_vx", "implied_vy", "implied_yaw_rate")
ROOT_KEYS = ("root_vx", "root_vy", "root_yaw_rate")
SWEEP_STEP = (0.1, 0.1, 0.25)  # m/s, m/s, rad/s
# a command at least this large that the legs follow in the opposite direction is a "wrong-way" command
WRONG_WAY_MIN = (0.1, 0.1, 0.2)


def sweep_commands(low, high, step=SWEEP_STEP) -> tuple[np.ndarray, np.ndarray]:
    """Commands (N, 3) on a ladder inside [low, high] along each axis (zero excluded: the grid
    holds standing still), and the swept axis index of each (N,)."""
    cmds, axis = [], []
    for k in range(3):
        lo = np.ceil(low[k] / step[k] - 1e-6) * step[k]
        for v in np.arange(lo, high[k] + 1e-6, step[k]):
            v = round(float(v), 3)
            if abs(v) < 1e-9:
                continue
            c = [0.0, 0.0, 0.0]
            c[k] = v
            cmds.append(c)
            axis.append(k)
    return np.array(cmds, dtype=np.float64), np.array(axis, dtype=np.int64)


def summarize(rows: list[dict]) -> dict:
    """Per swept axis: MAE and worst error on that axis, and the wrong-way commands."""
    out = {}
    for k, name in enumerate(AXES):
        r = [row for row in rows if row["axis"] == name]
        if not r:
            continue
        err = np.array([abs(row[f"err_{name}"]) for row in r])
        out[name] = {
            "commands": len(r),
            "mae": float(err.mean()),
            "max_error": float(err.max()),
            "worst_cmd": r[int(err.argmax())]["cmd"][k],
            "wrong_way": [row["cmd"][k] for row in r if row["wrong_way"]],
        }
    return out


def wrong_way(cmd_value: float, implied_value: float, k: int) -> bool:
    return abs(cmd_value) >= WRONG_WAY_MIN[k] - 1e-9 and implied_value * np.sign(cmd_value) <= 0.0


def markdown(sweep: dict) -> list[str]:
    lines = [
        "",
        f"## Speed sweeps ({sweep['minutes']:g} min per command, last {sweep['analysis_s']:g} s; "
        "one axis at a time, the others zero)",
        "",
    ]
    for name, s in sweep["summary"].items():
        ww = ", ".join(f"{v:g}" for v in s["wrong_way"]) or "none"
        lines.append(
            f"- {name}: MAE {s['mae']:.3f}, worst {s['max_error']:.3f} at {s['worst_cmd']:g}; "
            f"followed the wrong way at: {ww}"
        )
    lines += ["", "| axis | command | implied | root channel | slip |", "|---|---|---|---|---|"]
    for r in sweep["rows"]:
        name = r["axis"]
        k = AXES.index(name)
        root = r.get(ROOT_KEYS[k])
        imp = r[IMPLIED_KEYS[k]]
        flag = " (wrong way)" if r["wrong_way"] else ""
        root_s = "" if root is None else f"{root:+.2f}"
        lines.append(
            f"| {name} | {r['cmd'][k]:+.2f} | {imp:+.2f}{flag} | {root_s} | {r['stance_slip']:.2f} |"
        )
    return lines


def plot(sweep: dict, path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(1, 3, figsize=(15, 4.2))
    units = ("m/s", "m/s", "rad/s")
    for k, name in enumerate(AXES):
        r = sorted((row for row in sweep["rows"] if row["axis"] == name), key=lambda row: row["cmd"][k])
        if not r:
            continue
        c = np.array([row["cmd"][k] for row in r])
        imp = np.array([row[IMPLIED_KEYS[k]] for row in r])
        ax[k].plot(c, c, "k--", lw=0.8, label="command")
        root = np.array([row.get(ROOT_KEYS[k], np.nan) for row in r])
        for side, label in ((c < 0, "implied by the legs"), (c > 0, None)):  # no line through 0 (not swept)
            ax[k].plot(c[side], imp[side], "o-", ms=3, color="C0", label=label)
            if np.isfinite(root).any():
                ax[k].plot(c[side], root[side], "s:", ms=2.5, color="C1", label=label and "root channel")
        bad = [i for i, row in enumerate(r) if row["wrong_way"]]
        if bad:
            ax[k].scatter(c[bad], imp[bad], s=60, facecolors="none", edgecolors="r", label="wrong way")
        ax[k].set_xlabel(f"command {name} ({units[k]})")
        ax[k].set_ylabel(f"{name} ({units[k]})")
        ax[k].grid(alpha=0.3)
        ax[k].legend(fontsize=8)
    fig.suptitle("CMG speed sweeps: implied base velocity along each command axis (others zero)")
    fig.tight_layout()
    fig.savefig(path, dpi=80)
    plt.close(fig)
