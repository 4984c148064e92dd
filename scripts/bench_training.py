#!/usr/bin/env python3
"""Training throughput on this machine, each figure next to the physics rate of the same run.

Every rate is in env steps/s (one env step = one 50 Hz policy step of one env). Each measurement
also records the load average before/after it and the process's CPU share during it
(user+sys CPU seconds / wall seconds; 2.0 = both cores of a 2-core machine busy).

``--task distill`` (the path the shipped student was trained with; VelocityDistillEnv, the
holosoma expert, the shipped CMG), for each --num-envs:
  physics_walking       the backend's step alone, timed inside a closed loop in which the expert
                        walks random commands (pushes, friction, resets as in training): realistic
                        contacts, unlike a standing or fallen robot
  collect_expert        the whole collection tick with the expert acting: CMG reference, robot
                        state, student observation, expert observation + ONNX, env step (physics,
                        pushes, fall checks, resets); ``us_per_env_step`` splits it by part
                        (with ``pipeline_reference`` on, ``reference`` is the wait for the tick
                        computed in the worker thread plus the rows recomputed after resets and
                        new segments; the worker's own CPU shows in the other parts and cpu_share)
  collect_student       the same with the student network acting too (its batched forward pass)
  dagger                ``distill.dagger.train`` for --dagger-iterations iterations (first with the
                        expert acting, then the student): end to end incl. the regression update;
                        ``collect_s``/``train_s`` are the run's own sums
``--task learn``: a fixed short DAgger run (--dagger-iterations x --dagger-steps, the config's beta
schedule, seed 0) and a fixed evaluation of its student (distill.quick_eval: the student alone,
deployment collision model, same seed): wall time next to falls and velocity error, to check that
a speed-up leaves the learning result unchanged.
``--task update``: the DAgger regression update alone (ms per minibatch, samples/s) per torch thread
count (--update-threads) and batch size (--update-batches).
``--task tracking`` (the PPO TWIST tracking task, TrackingEnv):
  env_zero_actions      TrackingEnv.step with zero actions (physics + reference + obs + rewards + resets)
  env_teacher_policy    ... plus the teacher network's batched forward pass (rollout collection)
  ppo                   full PPO iterations (collection + update), if --ppo-iterations > 0
  MJX backend only: physics_env_steps_per_s (the jitted batched physics alone), compile_s, env_init_s
JSON: ``runs`` holds the tracking rows (also with the earlier flat keys env_steps_per_s,
env_policy_steps_per_s, raw_mj_step_per_s = the walking physics rate x decimation), ``distill_runs``
the distill rows. Each row's ``*_vs_physics`` is the rate divided by the physics_walking rate of
the same run (tracking rows use the distill physics figure of the same num_envs and backend
settings, if measured).

Examples:
  flock /tmp/cpu_bench.lock python scripts/bench_training.py --num-envs 64 --sim-threads 2 --json /tmp/b.json
  python scripts/bench_training.py --task distill --distill-set stepper=rollout contact_model=feet
  python scripts/bench_training.py --backend mjx --task tracking --num-envs 4096 --seconds 10 --no-policy
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import shutil
import time
from pathlib import Path


class Meter:
    """Wall time, process CPU time and load average around a measurement."""

    def __enter__(self):
        self.load0 = os.getloadavg()[0]
        r = resource.getrusage(resource.RUSAGE_SELF)
        self.cpu0, self.t0 = r.ru_utime + r.ru_stime, time.perf_counter()
        return self

    def __exit__(self, *exc):
        r = resource.getrusage(resource.RUSAGE_SELF)
        self.wall = time.perf_counter() - self.t0
        self.cpu_share = (r.ru_utime + r.ru_stime - self.cpu0) / max(self.wall, 1e-9)
        self.load1 = os.getloadavg()[0]

    def fields(self, steps: int) -> dict:
        return {
            "env_steps_per_s": round(steps / self.wall),
            "cpu_share": round(self.cpu_share, 2),
            "load_1min": [round(self.load0, 2), round(self.load1, 2)],
            "wall_s": round(self.wall, 1),
        }


def _parse_sets(items):
    out = {}
    for a in items:
        k, v = a.split("=", 1)
        out[k] = v
    return out


def bench_distill(args, n: int) -> dict:
    import dataclasses

    import numpy as np
    import torch

    from twist_controller import robot
    from twist_controller.observations import STUDENT_LAYOUT
    from twist_controller.policy import load_policy
    from twist_training.distill.calibrate import SHIPPED_CALIBRATION
    from twist_training.distill.dagger import StudentNet
    from twist_training.distill.env import VelocityDistillEnv
    from twist_training.distill.teacher import ExpertTeacher, ResponseCurve

    cfg, sets = _distill_cfg(args, n)
    row: dict = {
        "task": "distill",
        "num_envs": n,
        "sim_threads": cfg.threads,
        "torch_threads": cfg.torch_threads,
    }
    row.update(
        {"stepper": cfg.stepper, "contact_model": cfg.contact_model}, **{k: v for k, v in sets.items()}
    )
    interface = load_policy(f"expert:{cfg.expert}").metadata
    env = VelocityDistillEnv(cfg, interface, seed=0)
    teacher = ExpertTeacher(
        cfg.expert,
        n,
        response=ResponseCurve(**SHIPPED_CALIBRATION["response"]),
        phase_offset=SHIPPED_CALIBRATION["phase_offset"],
    )
    student = StudentNet(STUDENT_LAYOUT.size, robot.NUM_POLICY_JOINTS, cfg.hidden)
    parts: dict[str, float] = {}
    real_step = env.backend.step

    def timed_step(targets, *a, **k):
        t0 = time.perf_counter()
        real_step(targets, *a, **k)
        parts["physics"] = parts.get("physics", 0.0) + time.perf_counter() - t0

    env.backend.step = timed_step

    def tick(student_forward: bool) -> None:
        def part(name, f):
            t0 = time.perf_counter()
            r = f()
            parts[name] = parts.get(name, 0.0) + time.perf_counter() - t0
            return r

        part("reference", env.tick_reference)
        state = part("robot_state", env.robot_input)
        s_obs = part("student_obs", lambda: env.student_observation(state))
        e_act = part("expert", lambda: teacher.act(env.reference.command, state, env.reference.phase_angle))
        if student_forward:  # the cost of the student acting; the expert's actions are applied (an
            with torch.inference_mode():  # untrained student would fall at once)
                part("student_forward", lambda: student(torch.from_numpy(s_obs)).numpy())
        info = part("env_step", lambda: env.step(e_act))
        teacher.reset(np.flatnonzero(info.fell | info.timed_out))

    torch.set_num_threads(max(1, cfg.torch_threads))
    for _ in range(25):  # the robots stand up and start walking before anything is timed
        tick(False)
    for key, student_forward in (("collect_expert", False), ("collect_student", True)):
        if key == "collect_student" and args.skip_student:
            continue
        parts.clear()
        steps = 0
        with Meter() as m:
            while time.perf_counter() - m.t0 < args.seconds:
                tick(student_forward)
                steps += n
        row[key] = m.fields(steps)
        row[key]["us_per_env_step"] = {k: round(v / steps * 1e6, 1) for k, v in parts.items()}
        if key == "collect_expert":
            row["physics_walking"] = {
                "env_steps_per_s": round(steps / parts["physics"]),
                "note": "backend.step only, timed inside collect_expert (expert walking)",
            }
    phys = row["physics_walking"]["env_steps_per_s"]
    for key in ("collect_expert", "collect_student"):
        if key in row:
            row[key]["vs_physics"] = round(row[key]["env_steps_per_s"] / phys, 3)
    env.close()

    if args.dagger_iterations > 0:
        from twist_training.distill.calibrate import write_shipped_calibration
        from twist_training.distill.dagger import train

        run = Path(args.work_dir) / f"dagger_{n}"
        shutil.rmtree(run, ignore_errors=True)
        run.mkdir(parents=True)
        write_shipped_calibration(run)
        it = args.dagger_iterations
        dcfg = dataclasses.replace(
            cfg,
            iterations=it,
            steps_per_iteration=args.dagger_steps,
            beta_schedule=[1.0] + [0.0] * (it - 1),
            run_dir=str(run),
            checkpoint_every=10**9,
        )
        with Meter() as m:
            train(dcfg, log=lambda s: None)
        import csv

        rows = list(csv.DictReader(open(run / "progress.csv")))
        steps = int(rows[-1]["env_steps"])
        collect = sum(float(r["collect_s"]) for r in rows)
        upd = sum(float(r["train_s"]) for r in rows)
        row["dagger"] = {
            "iterations": it,
            "steps_per_iteration": args.dagger_steps,
            "updates_per_iteration": dcfg.updates_per_iteration,
            "batch_size": dcfg.batch_size,
            "env_steps_per_s": round(steps / (collect + upd)),
            "collect_env_steps_per_s": round(steps / collect),
            "collect_s": round(collect, 1),
            "train_s": round(upd, 1),
            "wall_s_incl_setup_export": round(m.wall, 1),
            "cpu_share": round(m.cpu_share, 2),
            "load_1min": [round(m.load0, 2), round(m.load1, 2)],
        }
        row["dagger"]["vs_physics"] = round(row["dagger"]["env_steps_per_s"] / phys, 3)
    return row


def _distill_cfg(args, n: int):
    import dataclasses

    from twist_training.distill.config import DistillConfig

    sets = _parse_sets(args.distill_set)
    base = DistillConfig()
    typed = {}
    for k, v in sets.items():
        cur = getattr(base, k)
        if isinstance(cur, bool):
            typed[k] = v.lower() in ("1", "true", "yes")
        elif cur is None or isinstance(cur, list):
            typed[k] = json.loads(v)
        else:
            typed[k] = type(cur)(v)
    cfg = dataclasses.replace(
        base, num_envs=n, threads=args.sim_threads, torch_threads=args.torch_threads, **typed
    )
    return cfg, sets


def bench_learn(args, n: int) -> dict:
    """A fixed short DAgger run (config's own beta schedule, seed 0) and the fixed evaluation of its
    student: the learning result that a speed-up must leave unchanged, with the run's wall time."""
    import csv
    import dataclasses

    from twist_training.distill.calibrate import write_shipped_calibration
    from twist_training.distill.dagger import train
    from twist_training.distill.quick_eval import evaluate_student

    cfg, sets = _distill_cfg(args, n)
    run = Path(args.work_dir) / f"learn_{n}"
    shutil.rmtree(run, ignore_errors=True)
    run.mkdir(parents=True)
    write_shipped_calibration(run)
    cfg = dataclasses.replace(
        cfg, iterations=args.dagger_iterations, steps_per_iteration=args.dagger_steps, run_dir=str(run)
    )
    with Meter() as m:
        train(cfg, log=lambda s: print(s, flush=True))
    rows = list(csv.DictReader(open(run / "progress.csv")))
    steps = int(rows[-1]["env_steps"])
    row = {"task": "learn", "num_envs": n, **sets}
    row["config"] = {
        k: getattr(cfg, k)
        for k in (
            "stepper",
            "contact_model",
            "overlap_update",
            "updates_per_iteration",
            "batch_size",
            "hidden",
        )
    }
    row["run"] = {
        "iterations": cfg.iterations,
        "env_steps": steps,
        "env_steps_per_s": round(steps / m.wall),
        "wall_s": round(m.wall, 1),
        "collect_s": round(sum(float(r["collect_s"]) for r in rows), 1),
        "train_s_not_hidden": round(sum(float(r["train_s"]) for r in rows), 1),
        "final_loss": float(rows[-1]["loss"]) if rows[-1]["loss"] not in ("", "nan") else None,
        "cpu_share": round(m.cpu_share, 2),
        "load_1min": [round(m.load0, 2), round(m.load1, 2)],
    }
    row["eval"] = evaluate_student(run, num_envs=args.eval_envs, seconds=args.eval_seconds)
    return row


def bench_update(args) -> dict:
    """The DAgger regression update alone: ms per minibatch update and samples/s of the student
    network (config's hidden sizes, 1155 inputs, 23 outputs, Adam) per torch thread count and batch."""
    import numpy as np
    import torch
    from torch import nn

    from twist_controller import robot
    from twist_controller.observations import STUDENT_LAYOUT
    from twist_training.distill.dagger import StudentNet

    cfg, sets = _distill_cfg(args, 1)
    row = {"task": "update", "hidden": cfg.hidden, **sets, "runs": []}
    rng = np.random.default_rng(0)
    for threads in args.update_threads:
        torch.set_num_threads(threads)
        for bs in args.update_batches:
            net = StudentNet(STUDENT_LAYOUT.size, robot.NUM_POLICY_JOINTS, cfg.hidden)
            opt = torch.optim.Adam(net.parameters(), lr=1e-3)
            x = torch.from_numpy(rng.standard_normal((bs, STUDENT_LAYOUT.size)).astype(np.float32))
            y = torch.from_numpy(rng.standard_normal((bs, robot.NUM_POLICY_JOINTS)).astype(np.float32))

            def update(net=net, opt=opt, x=x, y=y):
                loss = nn.functional.mse_loss(net(x), y)
                opt.zero_grad(set_to_none=True)
                loss.backward()
                opt.step()

            update()
            k = 0
            with Meter() as m:
                while time.perf_counter() - m.t0 < args.seconds:
                    update()
                    k += 1
            row["runs"].append(
                {
                    "torch_threads": threads,
                    "batch": bs,
                    "ms_per_update": round(m.wall / k * 1e3, 1),
                    "samples_per_s": round(k * bs / m.wall),
                    "cpu_share": round(m.cpu_share, 2),
                    "load_1min": [round(m.load0, 2), round(m.load1, 2)],
                }
            )
            print(json.dumps(row["runs"][-1]), flush=True)
    return row


def bench_tracking(args, n: int, physics: dict) -> dict:
    import numpy as np

    from twist_training.algorithms.config import TrainConfig, load_config
    from twist_training.envs import TrackingEnv

    if not args.no_policy or args.ppo_iterations > 0:
        import torch

        torch.set_num_threads(args.torch_threads)
    sim_over = [f"task.sim.timestep={args.timestep}"] if args.timestep else []
    sim_over += [f"task.sim.decimation={args.decimation}"] if args.decimation else []
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
            f"run_dir={args.work_dir}/tracking",
            *sim_over,
            *args.set,
        ],
    )
    env = TrackingEnv(cfg.task)
    row = {
        "task": "tracking",
        "num_envs": n,
        "timestep": cfg.task.sim.timestep,
        "decimation": cfg.task.sim.decimation,
        "sim_threads": args.sim_threads,
        "torch_threads": args.torch_threads,
        "stepper": getattr(cfg.task.sim, "stepper", "pool"),
        "contact_model": getattr(cfg.task.sim, "contact_model", "full"),
    }
    row.update({k: v for k, v in (a.split("=", 1) for a in args.set)})
    row["env_init_s"] = round(time.perf_counter() - t_init, 1)
    if hasattr(env.backend, "physics_step_rate"):
        row["physics_env_steps_per_s"] = round(env.backend.physics_step_rate(args.seconds))
    zeros = np.zeros((n, 23))
    t0 = time.perf_counter()
    env.step(zeros)  # first step: includes any compile not done yet
    row["first_env_step_s"] = round(time.perf_counter() - t0, 2)
    steps = 0
    with Meter() as m:
        while time.perf_counter() - m.t0 < args.seconds:
            env.step(zeros)
            steps += n
    row["env_zero_actions"] = m.fields(steps)
    if hasattr(env.backend, "compile_s"):
        row["compile_s"] = {k: round(v, 1) for k, v in env.backend.compile_s.items()}
    if not args.no_policy:
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
        steps = 0
        with Meter() as m, torch.inference_mode():
            while time.perf_counter() - m.t0 < args.seconds:
                a = net(
                    TensorDict({"teacher": torch.as_tensor(env.obs["teacher"])}, batch_size=[n]),
                    stochastic_output=True,
                )
                env.step(a.numpy())
                steps += n
        row["env_teacher_policy"] = m.fields(steps)
    if args.ppo_iterations > 0:
        import csv

        from twist_training.algorithms.train import train

        cfg.iterations = args.ppo_iterations
        cfg.torch_threads = args.torch_threads
        cfg.run_dir = f"{args.work_dir}/ppo_{n}"
        shutil.rmtree(cfg.run_dir, ignore_errors=True)
        with Meter() as m:
            train(cfg, student=False, env=env)
        rows = list(csv.DictReader(open(f"{cfg.run_dir}/progress.csv")))
        rates = [float(r["env_steps_per_s"]) for r in rows]
        row["ppo"] = {
            "iterations": len(rows),
            "env_steps_per_s_mean": round(float(np.mean(rates))),
            "env_steps_per_s_max": round(max(rates)),
            "cpu_share": round(m.cpu_share, 2),
            "load_1min": [round(m.load0, 2), round(m.load1, 2)],
        }
    # flat keys of the earlier format (scripts/bench.py's summary reads them)
    row["env_steps_per_s"] = row["env_zero_actions"]["env_steps_per_s"]
    if "env_teacher_policy" in row:
        row["env_policy_steps_per_s"] = row["env_teacher_policy"]["env_steps_per_s"]
    if "ppo" in row:
        row["ppo_env_steps_per_s"] = row["ppo"]["env_steps_per_s_max"]
    p = physics.get(n)
    if p:  # the walking physics of the distill run (was: a standing robot's raw mj_step rate)
        row["raw_policy_steps_per_s"] = p
        row["raw_mj_step_per_s"] = p * cfg.task.sim.decimation
        row["physics_walking_of_distill_run"] = p
        for k in ("env_zero_actions", "env_teacher_policy"):
            if k in row:
                row[k]["vs_physics"] = round(row[k]["env_steps_per_s"] / p, 3)
        if "ppo" in row:
            row["ppo"]["vs_physics"] = round(row["ppo"]["env_steps_per_s_mean"] / p, 3)
    return row


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--task", choices=["distill", "tracking", "both", "learn", "update"], default="both")
    ap.add_argument("--num-envs", type=int, nargs="+", default=[64])
    ap.add_argument("--seconds", type=float, default=8.0, help="timing window per measurement")
    ap.add_argument("--backend", default="mujoco_cpu", help="tracking task only (distill is mujoco_cpu)")
    ap.add_argument("--device", default="cpu")
    ap.add_argument(
        "--sim-threads",
        type=int,
        default=1,
        help="physics threads (scripts/bench.py labels its row 1 thread)",
    )
    ap.add_argument("--torch-threads", type=int, default=1)
    ap.add_argument("--dagger-iterations", type=int, default=2, help="0 = skip the DAgger end-to-end run")
    ap.add_argument("--dagger-steps", type=int, default=8192, help="env steps per DAgger iteration")
    ap.add_argument("--skip-student", action="store_true", help="skip the collect_student measurement")
    ap.add_argument("--ppo-iterations", type=int, default=0)
    ap.add_argument("--no-policy", action="store_true", help="tracking: skip the teacher-forward measurement")
    ap.add_argument("--timestep", type=float, help="tracking: override task.sim.timestep (e.g. 0.002)")
    ap.add_argument("--decimation", type=int, help="tracking: override task.sim.decimation (e.g. 10)")
    ap.add_argument(
        "--set", nargs="*", default=[], help="tracking config overrides, e.g. task.sim.stepper=pool"
    )
    ap.add_argument(
        "--distill-set",
        nargs="*",
        default=[],
        help="DistillConfig overrides, e.g. stepper=rollout contact_model=feet",
    )
    ap.add_argument("--eval-envs", type=int, default=32, help="learn: envs of the fixed student evaluation")
    ap.add_argument("--eval-seconds", type=float, default=20.0, help="learn: its length")
    ap.add_argument("--update-threads", type=int, nargs="+", default=[1, 2], help="update: torch threads")
    ap.add_argument(
        "--update-batches", type=int, nargs="+", default=[512, 1024, 2048], help="update: batches"
    )
    ap.add_argument("--work-dir", default="/tmp/bench_training_run")
    ap.add_argument("--json", help="write results here")
    args = ap.parse_args()

    results = {
        "host": platform.node(),
        "cpus": os.cpu_count(),
        "date_utc": time.strftime("%Y-%m-%d %H:%M", time.gmtime()),
        "loadavg_start": os.getloadavg(),
        "args": vars(args),
        "runs": [],  # tracking task rows (with the flat keys scripts/bench.py reads)
        "distill_runs": [],
    }
    physics: dict[int, int] = {}
    if args.task == "update":
        results["runs"].append(bench_update(args))
        args.num_envs = []
    for n in args.num_envs:
        if args.task == "learn":
            row = bench_learn(args, n)
            results["runs"].append(row)
            print(json.dumps(row), flush=True)
            continue
        if args.task in ("distill", "both") and args.backend == "mujoco_cpu":
            row = bench_distill(args, n)
            physics[n] = row["physics_walking"]["env_steps_per_s"]
            results["distill_runs"].append(row)
            print(json.dumps(row), flush=True)
        if args.task in ("tracking", "both"):
            row = bench_tracking(args, n, physics)
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
