#!/usr/bin/env python3
"""CMG speed table: batch-1 step latency (eager / TorchScript / ONNX Runtime, 1 thread, p50/p99,
ratio to eager in the same run) and training throughput (windows/s and model steps/s).

    source scripts/env.sh && python scripts/bench_cmg.py [--model src/cmg_generator/models/cmg_g1_small.pt]
        [--calls 2000] [--train-batches 5]

Measures the given artifact and a random seed-size model (hidden 512, 58 channels, 1.33 M params).
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

ROOT = Path(__file__).resolve().parents[1]
DEFAULT_MODEL = ROOT / "src" / "cmg_generator" / "models" / "cmg_g1_small.pt"


def _latency(fn, calls: int, warmup: int = 200) -> tuple[float, float]:
    for _ in range(warmup):
        fn()
    ts = np.empty(calls)
    for i in range(calls):
        t0 = time.perf_counter()
        fn()
        ts[i] = time.perf_counter() - t0
    return float(np.percentile(ts, 50) * 1e6), float(np.percentile(ts, 99) * 1e6)


def bench_model(path: Path, calls: int) -> list[tuple[str, float, float]]:
    from cmg_generator.runtime import CMGGenerator, load_model
    from twist_training.cmg.export import export_onnx, export_torchscript

    tmp = Path(tempfile.mkdtemp())
    paths = {
        "eager": path,
        "torchscript": export_torchscript(path, tmp / "m.ts"),
        "onnx": export_onnx(path, tmp / "m.onnx"),
    }
    rows = []
    for kind, p in paths.items():
        loaded = load_model(p, num_threads=1)
        d = loaded.stats.motion_dim
        z = np.random.default_rng(0).normal(size=(1, d)).astype(np.float32)
        c = np.zeros((1, 3), dtype=np.float32)
        p50, p99 = _latency(lambda loaded=loaded, z=z, c=c: loaded.backend(z, c), calls)
        rows.append((kind, p50, p99))
    for kind in ("eager", "onnx"):  # the whole 50 Hz tick: filter, normalize, model, clamps, frame
        gen = CMGGenerator.load(paths[kind])
        gen.set_command(1.0, 0.0, 0.3)
        p50, p99 = _latency(gen.step, calls)
        rows.append((f"CMGGenerator.step ({kind})", p50, p99))
    return rows


def bench_train(
    hidden: int, root: bool, batches: int, batch_size: int = 256, seq_len: int = 30
) -> tuple[float, float]:
    from cmg_generator.model import CMG, CMGConfig
    from twist_training.cmg.train import rollout_loss

    torch.manual_seed(0)
    model = CMG(CMGConfig(root_channels=root, hidden_dim=hidden, gate_hidden_dim=hidden))
    opt = torch.optim.Adam(model.parameters(), 3e-4)
    d = model.state_dim
    motion = torch.randn(batch_size, seq_len + 1, d)
    cmd = torch.randn(batch_size, seq_len, 3)
    times = []
    for i in range(batches + 1):
        t0 = time.perf_counter()
        loss = rollout_loss(model, motion, cmd, 0.5)
        opt.zero_grad()
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()
        if i:
            times.append(time.perf_counter() - t0)
    t = float(np.min(times))
    return batch_size / t, batch_size * seq_len / t


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--model", default=str(DEFAULT_MODEL))
    p.add_argument("--calls", type=int, default=2000)
    p.add_argument("--train-batches", type=int, default=5)
    args = p.parse_args()
    torch.set_num_threads(1)
    print(
        f"# CMG benchmark  torch {torch.__version__}  1 thread  cpus {os.cpu_count()}  "
        f"load avg {os.getloadavg()[0]:.2f}  {time.strftime('%Y-%m-%d %H:%M:%S')}"
    )
    models = {}
    if Path(args.model).is_file():
        models[Path(args.model).name] = Path(args.model)
    from cmg_generator.artifact import NormStats, make_metadata, save_artifact
    from cmg_generator.model import CMG, CMGConfig

    seed = CMG(CMGConfig())
    rng = np.random.default_rng(0)
    st = NormStats.compute(rng.normal(size=(100, 58)), rng.normal(size=(100, 3)))
    seed_path = Path(tempfile.mkdtemp()) / "seed_size.pt"
    save_artifact(seed_path, seed, st, make_metadata(st, np.zeros(58)))
    models["seed-size (512, 58ch, random)"] = seed_path
    print("\n## Step latency, batch 1, 1 thread (µs)\n")
    print("| model | backend | p50 | p99 | p50 / eager p50 |")
    print("|---|---|---|---|---|")
    for name, path in models.items():
        rows = bench_model(path, args.calls)
        eager = rows[0][1]
        for kind, p50, p99 in rows:
            print(f"| {name} | {kind} | {p50:.0f} | {p99:.0f} | {p50 / eager:.2f} |")
    print("\n## Training throughput (batch 256, 30-step rollouts, Adam, 1 thread)\n")
    print("| model | windows/s | model steps/s |")
    print("|---|---|---|")
    for hidden, root in ((256, True), (512, False)):
        w, s = bench_train(hidden, root, args.train_batches)
        print(f"| hidden {hidden}, {'65' if root else '58'} ch | {w:.0f} | {s:.0f} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
