#!/usr/bin/env python3
"""Training throughput next to the raw MuJoCo rate of the same model, in one run.

Prints (and with --json writes) for each --num-envs value:
  raw_mj_step_per_s       plain mj_step() steps/s of the training model (one env, standing, C loop)
  raw_policy_steps_per_s  the same divided by the decimation (= the ceiling for 50 Hz env steps/core)
  env_steps_per_s         TrackingEnv.step with zero actions (physics + reference + obs + rewards + resets)
  env_policy_steps_per_s  ... plus the teacher network's batched forward pass (rollout collection)
  ppo_env_steps_per_s     full PPO iterations (collection + update), if --ppo-iterations > 0
MJX backend only:
  physics_env_steps_per_s the jitted batched physics alone (decimation substeps per env step, no
                          task, no host copies), timed after its compile
  compile_s               first-call seconds of each jitted kernel (trace + XLA compile + one run)
  env_init_s              TrackingEnv construction incl. model upload and the reset kernel's compile

Example: python scripts/bench_training.py --num-envs 16 64 --seconds 10 --ppo-iterations 3
GPU: python scripts/bench_training.py --backend mjx --num-envs 4096 --seconds 10 --no-policy
(--no-policy skips the teacher-network step, which needs torch + tensordict + rsl-rl)
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import time


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--num-envs", type=int, nargs="+", default=[16, 64])
    ap.add_argument("--seconds", type=float, default=8.0, help="timing window per measurement")
    ap.add_argument("--backend", default="mujoco_cpu")
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--sim-threads", type=int, default=1, help="mujoco_cpu thread pool size")
    ap.add_argument("--torch-threads", type=int, default=1)
    ap.add_argument("--ppo-iterations", type=int, default=0)
    ap.add_argument("--no-policy", action="store_true", help="skip the teacher-forward measurement")
    ap.add_argument("--timestep", type=float, help="override task.sim.timestep (e.g. 0.002, TWIST)")
    ap.add_argument("--decimation", type=int, help="override task.sim.decimation (e.g. 10, TWIST)")
    ap.add_argument(
        "--set", nargs="*", default=[], help="more config overrides, e.g. task.sim.self_collision=false"
    )
    ap.add_argument("--json", help="write results here")
    args = ap.parse_args()

    import numpy as np

    from twist_training.algorithms.config import TrainConfig, load_config
    from twist_training.envs import TrackingEnv

    if not args.no_policy or args.ppo_iterations > 0:
        import torch

        torch.set_num_threads(args.torch_threads)
    results = {
        "host": platform.node(),
        "cpus": os.cpu_count(),
        "loadavg_start": os.getloadavg(),
        "backend": args.backend,
        "torch_threads": args.torch_threads,
        "sim_threads": args.sim_threads,
        "runs": [],
    }
    sim_over = [f"task.sim.timestep={args.timestep}"] if args.timestep else []
    sim_over += [f"task.sim.decimation={args.decimation}"] if args.decimation else []
    for n in args.num_envs:
        t_init = time.perf_counter()
        cfg = load_config(
            TrainConfig,
            [],
            [
                f"task.num_envs={n}",
                f"task.sim.backend={args.backend}",
                f"task.sim.threads={args.sim_threads}",
                "task.motions.sources=[real,stand]",
                f"device={args.device}",
                "run_dir=/tmp/bench_training_run",
                *sim_over,
                *args.set,
            ],
        )
        env = TrackingEnv(cfg.task)
        row = {"num_envs": n, "timestep": cfg.task.sim.timestep, "decimation": cfg.task.sim.decimation}
        row.update({k: v for k, v in (a.split("=", 1) for a in args.set)})
        row["env_init_s"] = round(time.perf_counter() - t_init, 1)
        if hasattr(env.backend, "physics_step_rate"):
            row["physics_env_steps_per_s"] = round(env.backend.physics_step_rate(args.seconds))
            print(json.dumps(row), flush=True)
        if hasattr(env.backend, "raw_step_rate"):
            raw = env.backend.raw_step_rate(min(args.seconds, 3.0))
            row["raw_mj_step_per_s"] = round(raw)
            row["raw_policy_steps_per_s"] = round(raw / cfg.task.sim.decimation)
        zeros = np.zeros((n, 23))
        t0 = time.perf_counter()
        env.step(zeros)  # first step: includes any compile not done yet
        row["first_env_step_s"] = round(time.perf_counter() - t0, 2)
        steps, t0 = 0, time.perf_counter()
        while time.perf_counter() - t0 < args.seconds:
            env.step(zeros)
            steps += n
        row["env_steps_per_s"] = round(steps / (time.perf_counter() - t0))
        if hasattr(env.backend, "compile_s"):
            row["compile_s"] = {k: round(v, 1) for k, v in env.backend.compile_s.items()}
        if args.no_policy:
            results["runs"].append(row)
            print(json.dumps(row), flush=True)
            continue

        from tensordict import TensorDict

        from twist_training.algorithms.networks import TwistModel

        obs = TensorDict({"teacher": torch.as_tensor(env.obs["teacher"])}, batch_size=[n])
        net = TwistModel(
            obs,
            {"actor": ["teacher"]},
            "actor",
            23,
            distribution_cfg={"class_name": "GaussianDistribution", "init_std": 0.3},
        )
        steps, t0 = 0, time.perf_counter()
        with torch.inference_mode():
            while time.perf_counter() - t0 < args.seconds:
                a = net(
                    TensorDict({"teacher": torch.as_tensor(env.obs["teacher"])}, batch_size=[n]),
                    stochastic_output=True,
                )
                env.step(a.numpy())
                steps += n
        row["env_policy_steps_per_s"] = round(steps / (time.perf_counter() - t0))
        if args.ppo_iterations > 0:
            import csv

            from twist_training.algorithms.train import train

            cfg.iterations = args.ppo_iterations
            cfg.torch_threads = args.torch_threads
            cfg.run_dir = f"/tmp/bench_training_run/ppo_{n}"
            import shutil

            shutil.rmtree(cfg.run_dir, ignore_errors=True)
            train(cfg, student=False, env=env)
            rows = list(csv.DictReader(open(f"{cfg.run_dir}/progress.csv")))
            row["ppo_env_steps_per_s"] = round(max(float(r["env_steps_per_s"]) for r in rows))
        results["runs"].append(row)
        print(json.dumps(row), flush=True)
    results["loadavg_end"] = os.getloadavg()
    print(json.dumps({"loadavg_start": results["loadavg_start"], "loadavg_end": results["loadavg_end"]}))
    if args.json:
        with open(args.json, "w") as f:
            json.dump(results, f, indent=1)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
