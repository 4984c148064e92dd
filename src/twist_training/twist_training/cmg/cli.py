"""``train_cmg``, ``eval_cmg`` and ``export_cmg`` entry points.

    train_cmg [--config cfg.yaml] [--<field> value ...] [--resume runs/cmg_.../cmg_ckpt_N.pt]
    eval_cmg  ARTIFACT [--out DIR] [--minutes 10] [--quick]
    eval_cmg  CKPT1 CKPT2 ... [--out DIR] [--minutes 3]     (rank several: ranking.md)
    (export)  python -m twist_training.cmg.export ARTIFACT --out DIR

Every TrainConfig field is a flag (``--hidden-dim 256``); YAML values are overridden by flags.
"""

from __future__ import annotations

import argparse
import sys


def train_main(argv: list[str] | None = None) -> int:
    from twist_training.cmg.config import TrainConfig, add_config_arguments, config_from_args

    p = argparse.ArgumentParser(
        prog="train_cmg", description="Train the command-conditioned motion generator."
    )
    p.add_argument("--config", help="YAML file with TrainConfig fields")
    p.add_argument("--resume", help="checkpoint cmg_ckpt_N.pt to continue (same run directory)")
    add_config_arguments(p)
    args = p.parse_args(argv)
    base = TrainConfig.from_yaml(args.config) if args.config else TrainConfig()
    if args.resume and not args.config:
        import torch

        d = torch.load(args.resume, map_location="cpu", weights_only=False)
        base = TrainConfig.from_dict(d.get("train_config", {}))
    cfg = config_from_args(args, base)
    from twist_training.cmg.train import train_cmg

    lr_override = cfg.lr if (args.resume and args.lr is not None) else None
    res = train_cmg(cfg, resume=args.resume, log=lambda s: print(s, flush=True), lr_override=lr_override)
    print(f"done: best {res.best_path}  final {res.final_path}")
    return 0


def eval_main(argv: list[str] | None = None) -> int:
    from twist_training.cmg.evaluate import main

    return main(argv)


if __name__ == "__main__":
    sys.exit(train_main())
