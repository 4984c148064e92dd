"""Convert motion files between formats: ``python -m twist_training.data.convert IN OUT --to FMT``.

The input format is detected (see :mod:`.importers`); the output is resampled to ``--fps`` (50 by
default; ``--fps 0`` keeps the source rate). Example: Unitree LAFAN1 CSV (30 fps) -> TWIST pkl at 50 Hz::

    python -m twist_training.data.convert walk1_subject1.csv walk1.pkl --to twist_pkl
"""

from __future__ import annotations

import argparse
import sys

from .exporters import EXPORTERS, export_motion
from .importers import FORMATS, load_motion


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(
        prog="python -m twist_training.data.convert", description=__doc__.split("\n")[0]
    )
    p.add_argument("input")
    p.add_argument("output")
    p.add_argument("--to", required=True, choices=sorted(EXPORTERS), help="output format")
    p.add_argument("--from", dest="fmt", default="auto", choices=["auto", *FORMATS], help="input format")
    p.add_argument("--fps", type=float, default=50.0, help="output frame rate (0 = keep the source rate)")
    p.add_argument(
        "--source-fps", type=float, default=None, help="input frame rate for files without one (CSV)"
    )
    p.add_argument(
        "--quat-order", default=None, choices=["wxyz", "xyzw", "auto"], help="override the input order"
    )
    a = p.parse_args(argv)
    kwargs = {}
    if a.source_fps is not None:
        kwargs["fps"] = a.source_fps
    if a.quat_order is not None:
        kwargs["quat_order"] = a.quat_order
    try:
        clip = load_motion(a.input, a.fmt, resample_to=a.fps or None, **kwargs)
    except (ValueError, FileNotFoundError) as e:
        print(f"convert: {e}", file=sys.stderr)
        return 1
    out = export_motion(clip, a.output, a.to)
    print(f"{a.input} -> {out}: {clip.num_frames} frames at {clip.fps:g} Hz ({clip.duration:.2f} s)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
