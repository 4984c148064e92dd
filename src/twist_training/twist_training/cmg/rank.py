"""Rank several CMG models (checkpoints of one run, or candidates) by the same ``eval_cmg`` grid.

    eval_cmg runs/cmg_x/cmg_ckpt_*.pt --out runs/cmg_x/ranking --minutes 2

Checkpoints of one run swing in speed tracking from one to the next, and neither the training loss
nor a handful of commands picks the best one: on this project a 16-command score preferred a
fine-tune (0.089 vs 0.113) that the 72-command grid rated worse. So every model gets the full
evaluation, and the ranking is by

* stability first: rollouts that diverged (grid, command changes and speed sweeps), then
* wrong-way commands: speed-sweep commands the legs follow in the opposite direction (a robot
  that backs up when told to creep forward is worse than one that is merely slow), then
* ``tracking_score``: the mean over the in-range grid commands and the speed-sweep commands of
  |vx error| + |vy error| + 0.5 |yaw-rate error| (implied speeds vs command; m/s, a rad/s of yaw
  rate counted as 0.5 m/s). Reports without sweeps (``--sweep-minutes 0``) score the grid only.

The worst single command is listed too, because a low mean can hide one command that is far off.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

YAW_WEIGHT = 0.5  # m/s per rad/s in the tracking score


def command_error(row: dict) -> float:
    return abs(row["err_vx"]) + abs(row["err_vy"]) + YAW_WEIGHT * abs(row["err_yaw"])


def scored_rows(report: dict) -> list[dict]:
    """The in-range grid commands plus the speed-sweep commands (when the report has them)."""
    rows = [r for r in report["grid"] if r["in_range"]] or report["grid"]
    return rows + list((report.get("speed_sweep") or {}).get("rows", []))


def tracking_score(report: dict) -> float:
    return float(np.mean([command_error(r) for r in scored_rows(report)]))


def wrong_way_commands(report: dict) -> int:
    return sum(r["wrong_way"] for r in (report.get("speed_sweep") or {}).get("rows", []))


def ranking_row(name: str, report: dict) -> dict:
    s, c = report["summary"], report["command_changes"]
    worst = max(scored_rows(report), key=command_error)
    sweep_rows = (report.get("speed_sweep") or {}).get("rows", [])
    return {
        "model": name,
        "diverged": int(s["diverged"]) + int(c["diverged"]) + sum(r["diverged"] for r in sweep_rows),
        "wrong_way": wrong_way_commands(report),
        "guard_hit_frames": int(s["guard_hit_frames"]) + int(c["guard_hit_frames"]),
        "tracking_score": tracking_score(report),
        "mae_vx": s["mae_vx_in_range"],
        "mae_vy": s["mae_vy_in_range"],
        "mae_yaw": s["mae_yaw_in_range"],
        "stance_slip": s["mean_stance_slip"],
        "max_limit_violation_frac": s["max_limit_violation_frac"],
        "worst_cmd": worst["cmd"],
        "worst_implied": [worst["implied_vx"], worst["implied_vy"], worst["implied_yaw_rate"]],
        "worst_error": command_error(worst),
    }


def rank(rows: list[dict]) -> list[dict]:
    return sorted(rows, key=lambda r: (r["diverged"], r["wrong_way"], r["tracking_score"]))


def ranking_markdown(rows: list[dict]) -> str:
    f = "{:.3f}".format
    lines = [
        "# CMG ranking",
        "",
        "Sorted by diverged rollouts, then wrong-way sweep commands, then tracking score (mean over "
        f"grid and sweep commands of |vx err| + |vy err| + {YAW_WEIGHT} |yaw err|, implied speed vs "
        "command).",
        "",
        "| # | model | diverged | score | wrong way | MAE vx | MAE vy | MAE yaw | slip | lim frac "
        "| worst command -> implied |",
        "|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for i, r in enumerate(rows, 1):
        wc = ", ".join(f"{v:g}" for v in r["worst_cmd"])
        wi = ", ".join(f"{v:.2f}" for v in r["worst_implied"])
        lines.append(
            f"| {i} | {r['model']} | {r['diverged']} | {f(r['tracking_score'])} | {r['wrong_way']} | "
            f"{f(r['mae_vx'])} | "
            f"{f(r['mae_vy'])} | {f(r['mae_yaw'])} | {f(r['stance_slip'])} | "
            f"{r['max_limit_violation_frac']:.2f} | ({wc}) -> ({wi}) |"
        )
    return "\n".join(lines) + "\n"


def unique_names(paths: list[str]) -> list[str]:
    """Short labels: the file stem, with the parent folder where stems repeat (run_a/cmg_best)."""
    stems = [Path(p).stem for p in paths]
    return [
        f"{Path(p).parent.name}/{s}" if stems.count(s) > 1 else s for p, s in zip(paths, stems, strict=True)
    ]


def rank_models(paths: list[str], out_dir: Path, evaluate_one, log=print) -> list[dict]:
    """``evaluate_one(path, out_dir) -> report`` for each model; writes ranking.{md,json} in out_dir."""
    out_dir.mkdir(parents=True, exist_ok=True)
    names = unique_names(paths)
    rows = []
    for i, (path, name) in enumerate(zip(paths, names, strict=True), 1):
        log(f"[{i}/{len(paths)}] {path}")
        report = evaluate_one(path, out_dir / name.replace("/", "__"))
        rows.append(ranking_row(name, report))
    ranked = rank(rows)
    (out_dir / "ranking.json").write_text(json.dumps(ranked, indent=1))
    md = ranking_markdown(ranked)
    (out_dir / "ranking.md").write_text(md)
    log(md)
    return ranked
