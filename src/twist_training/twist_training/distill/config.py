"""The distillation config: one flat dataclass, overridable from YAML and ``--flags``."""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass
class DistillConfig:
    # --- teacher and reference
    expert: str = "fastsac"  # holosoma expert: fastsac | ppo
    cmg_model: str = ""  # CMG artifact; empty = the shipped one
    invert_response: bool = True  # command the expert through the inverse of its measured speed curve
    phase_from_cmg: bool = True  # drive the expert's gait clock from the CMG phase (+ calibrated offset)
    phase_offset: float | None = None  # rad; None = measure it (calibrate) at start
    # --- task
    num_envs: int = 32
    timestep: float = 0.005  # s; x decimation = 0.02 s policy period (the expert behaves the same at 0.002)
    decimation: int = 4
    threads: int = 2  # physics threads (MuJoCo releases the GIL)
    # physics stepping: "rollout" (mujoco.rollout, all envs in C threads) | "pool" (per-env mj_step
    # in a Python thread pool); same physics, see backends/mujoco_cpu.py and docs/training.md
    stepper: str = "rollout"
    # collision model: "full" (the deployment scene's) | "feet" (4 spheres per sole); docs/training.md
    contact_model: str = "full"
    # compute each CMG tick in a worker thread while the previous tick's physics runs (the reference
    # is open loop); rows whose inputs change after it started (resets, new segments) are recomputed,
    # so the references are the serial ones (tested)
    pipeline_reference: bool = True
    episode_s: float = 20.0
    segment_s: list[float] = field(default_factory=lambda: [2.0, 5.0])
    p_stand: float = 0.2
    vx_range: list[float] = field(default_factory=lambda: [-0.5, 1.5])
    vy_range: list[float] = field(default_factory=lambda: [-0.5, 0.5])
    yaw_range: list[float] = field(default_factory=lambda: [-1.0, 1.0])
    p_single_axis: float = 0.3  # share of moving segments with one non-zero axis (pure walk/side/turn)
    friction_range: list[float] = field(default_factory=lambda: [0.6, 1.2])
    push_interval_s: list[float] = field(default_factory=lambda: [4.0, 8.0])  # root velocity kicks (0 = off)
    push_vxy: float = 0.5  # m/s max kick
    init_joint_noise: float = 0.05  # rad on the default pose at reset
    # share of episodes whose targets reach the motors late, by 1..action_delay_max_ticks control
    # periods (20 ms each, uniform per episode): the graph's sampling, transport and scheduling
    # delay targets by 10-40 ms, more on a loaded machine
    action_delay_prob: float = 0.0
    action_delay_max_ticks: int = 1
    # --- DAgger
    iterations: int = 16
    steps_per_iteration: int = 8192  # env steps collected per iteration (all envs)
    beta_schedule: list[float] = field(default_factory=lambda: [1.0, 1.0, 0.75, 0.5, 0.25, 0.0])
    max_dataset: int = 400_000  # aggregated samples kept (oldest dropped first)
    # --- student network and regression
    hidden: list[int] = field(default_factory=lambda: [512, 256, 128])
    lr: float = 1e-3
    lr_min: float = 1e-4
    epochs: int = 3  # passes over the aggregate per iteration, when updates_per_iteration is 0
    # minibatch updates per iteration, sampled from the whole aggregate: the cost of an iteration stays
    # flat while the aggregate grows (epochs over 100k+ samples of 1155 floats cost minutes on 1 core)
    updates_per_iteration: int = 80
    batch_size: int = 2048
    torch_threads: int = 1  # one core trains while the other steps physics threads
    # run iteration it's regression in a thread during iteration it+1's collection (the student acts
    # with weights one update older; a checkpoint holds the student before the update launched at
    # its iteration, the data through it); docs/training.md
    overlap_update: bool = False
    # --- run
    seed: int = 0
    run_dir: str = "runs/distill"
    checkpoint_every: int = 1
    eval_episodes: int = 8  # quick closed-loop check of the student after each iteration (0 = off)
    eval_seconds: float = 10.0

    def beta(self, iteration: int) -> float:
        """Share of envs the expert controls during iteration ``iteration`` (the last value holds)."""
        s = self.beta_schedule
        return float(s[min(iteration, len(s) - 1)]) if s else 0.0
