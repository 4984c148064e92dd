"""Learning-curve plots from ``progress.csv`` files (``python -m twist_training.algorithms.plots``).

Example: python -m twist_training.algorithms.plots runs/e2e/teacher runs/e2e/student -o docs/img/curves.png
"""

from __future__ import annotations

import argparse
import csv
from pathlib import Path


def read(run: str | Path) -> dict[str, list[float]]:
    with open(Path(run) / "progress.csv") as f:
        rows = list(csv.DictReader(f))
    return {k: [float(r[k]) if r.get(k) not in (None, "") else float("nan") for r in rows] for k in rows[0]}


PANELS = (
    ("mean_return", "episode return"),
    ("mean_episode_length", "episode length [steps]"),
    ("joint_pos_err_rad", "joint position error [rad]"),
    ("keybody_pos_err_m", "key-body position error [m]"),
    ("root_vel_err_mps", "root velocity error [m/s]"),
    ("loss_dagger_kl", "student KL to teacher"),
)


def plot(runs: list[str], out: str, labels: list[str] | None = None) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    data = [read(r) for r in runs]
    labels = labels or [Path(r).name for r in runs]
    panels = [p for p in PANELS if any(p[0] in d for d in data)]
    fig, axes = plt.subplots(2, (len(panels) + 1) // 2, figsize=(4.2 * ((len(panels) + 1) // 2), 6.5))
    for ax, (key, title) in zip(axes.flat, panels, strict=False):
        for d, lab in zip(data, labels, strict=True):
            if key in d:
                ax.plot([x / 1000 for x in d["env_steps"]], d[key], label=lab)
        ax.set_title(title, fontsize=10)
        ax.set_xlabel("env steps [k]")
        ax.grid(alpha=0.3)
    axes.flat[0].legend(fontsize=8)
    for ax in list(axes.flat)[len(panels) :]:
        ax.axis("off")
    fig.tight_layout()
    Path(out).parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(out, dpi=90)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("runs", nargs="+")
    ap.add_argument("-o", "--out", required=True)
    ap.add_argument("--labels", nargs="*")
    a = ap.parse_args(argv)
    plot(a.runs, a.out, a.labels)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
