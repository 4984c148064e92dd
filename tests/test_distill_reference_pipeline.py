"""The pipelined CMG reference of the distillation (issue 22) gives the serial references.

``pipeline_reference`` starts tick k+1 in a worker thread as soon as tick k is taken (it runs beside
the policies and tick k's physics), from the inputs as they were then; rows whose inputs change
afterwards (resets after a fall or timeout, new command segments) are recomputed. Same seed -> the
same reference arrays, with resets and segment changes mid-run. On the development box the arrays
are bit-identical; the tolerance only allows the matmul to round a row differently on another CPU.
"""

import numpy as np

from twist_controller.policy import load_policy
from twist_training.distill.config import DistillConfig
from twist_training.distill.env import VelocityDistillEnv
from twist_training.distill.reference import BatchedReference

ATOL = 1e-5


def _reference_arrays(ref: BatchedReference) -> list[np.ndarray]:
    r = ref.reference_input()
    return [ref.state, ref.command, ref.idle, r.root_rpy, r.joint_pos, ref.phase_angle]


def test_batched_reference_pipelined_equals_serial():
    n, ticks = 12, 90
    serial = BatchedReference(n, seed=3)
    piped = BatchedReference(n, seed=3, pipeline=True)
    events = np.random.default_rng(7)
    for t in range(ticks):
        for ref in (serial, piped):
            ref.step()
        for a, b in zip(_reference_arrays(serial), _reference_arrays(piped), strict=True):
            assert np.max(np.abs(np.asarray(a, float) - np.asarray(b, float)), initial=0.0) <= ATOL, t
        # piped.step() has started the next tick; what follows changes some rows' inputs
        k_reset = events.choice([0, 0, 1, 3])
        k_cmd = events.choice([0, 1, 2, 5])
        reset_ids = events.choice(n, k_reset, replace=False)
        cmd_ids = events.choice(n, k_cmd, replace=False)
        cmds = events.uniform([-0.5, -0.5, -1.0], [1.5, 0.5, 1.0], (k_cmd, 3))
        for ref in (serial, piped):
            ref.reset(reset_ids)
            ref.set_target(reset_ids, np.zeros((k_reset, 3)))
            ref.set_target(cmd_ids, cmds)
    assert piped.recomputed > 0
    piped.close()


def test_env_pipelined_reference_equals_serial():
    """The env end to end: zero actions (the robots fall), short episodes and segments."""
    runs = []
    for pipeline in (False, True):
        cfg = DistillConfig(
            num_envs=6,
            threads=2,
            episode_s=0.5,
            segment_s=[0.1, 0.3],
            push_interval_s=[0.2, 0.4],
            pipeline_reference=pipeline,
        )
        env = VelocityDistillEnv(cfg, load_policy("expert:fastsac").metadata, seed=5)
        raw = np.zeros((cfg.num_envs, 29))
        out = []
        resets = 0
        for _ in range(60):
            env.tick_reference()
            obs = env.student_observation(env.robot_input())
            out.append([*_reference_arrays(env.reference), obs, env.command.copy()])
            info = env.step(raw)
            resets += int((info.fell | info.timed_out).sum())
        runs.append((out, resets, env.reference.recomputed))
        env.close()
    (a, resets_a, _), (b, resets_b, recomputed) = runs
    assert resets_a == resets_b and resets_a >= 6  # episodes ended mid-run
    assert recomputed > 0  # rows changed after the prefetch: resets, new segments
    for t, (ra, rb) in enumerate(zip(a, b, strict=True)):
        for x, y in zip(ra, rb, strict=True):
            assert np.max(np.abs(np.asarray(x, float) - np.asarray(y, float)), initial=0.0) <= ATOL, t
