"""CMG runtime: clamps, command filter, frames, backends (ours + upstream ONNX layout), shipped model."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch

from cmg_generator.artifact import NormStats, make_metadata, save_artifact
from cmg_generator.model import CMG, CMGConfig, StateLayout
from cmg_generator.runtime import (
    CMGGenerator,
    GeneratorOptions,
    LoadedModel,
    ReferenceFrame,
    StateStepper,
    TorchBackend,
    load_model,
    rollout,
)
from twist_controller import robot

MODELS_DIR = Path(__file__).resolve().parents[1] / "models"
SHIPPED = MODELS_DIR / "cmg_g1_small.pt"


def _tiny(tmp_path, root=True, seed=0, bias=None):
    torch.manual_seed(seed)
    model = CMG(CMGConfig(root_channels=root, hidden_dim=16, gate_hidden_dim=8))
    if bias is not None:
        model.layers[-1].bias.data.fill_(bias)
    d = model.state_dim
    rng = np.random.default_rng(seed)
    states = rng.normal(size=(200, d)) * 0.3
    states[:, :29] += robot.DEFAULT_POSITION
    cmds = rng.uniform([-0.5, -0.3, -0.8], [1.5, 0.3, 0.8], size=(200, 3))
    stats = NormStats.compute(states, cmds)
    standing = np.zeros(d)
    standing[:29] = robot.DEFAULT_POSITION
    if root:
        standing[58] = 0.76
    meta = make_metadata(stats, standing, command_low=[-0.4, -0.2, -0.5], command_high=[1.2, 0.2, 0.5])
    return save_artifact(tmp_path / "tiny.pt", model, stats, meta), model, stats


def test_frames_and_horizon(tmp_path):
    p, _, _ = _tiny(tmp_path)
    gen = CMGGenerator.load(p)
    m = gen.step((0.5, 0.0, 0.0), horizon=3)
    assert m.dt == pytest.approx(0.02) and len(m.frames) == 4
    f = m.frames[0]
    assert isinstance(f, ReferenceFrame)
    assert f.joint_positions.shape == (29,) and f.joint_velocities.shape == (29,)
    assert f.root_linear_velocity.shape == (3,)
    assert np.isfinite([f.root_height, f.root_roll, f.root_pitch, f.root_yaw, f.root_yaw_rate]).all()
    # look-ahead does not advance the generator: the next step equals the first look-ahead frame
    m2 = gen.step()
    np.testing.assert_allclose(m2.frames[0].joint_positions, m.frames[1].joint_positions, atol=1e-6)


def test_command_clamp_and_rate_limit(tmp_path):
    p, _, _ = _tiny(tmp_path)
    gen = CMGGenerator.load(p, options=GeneratorOptions(max_accel=(1.0, 1.0, 2.0)))
    assert np.allclose(gen.set_command(5.0, -3.0, 9.0), [1.2, -0.2, 0.5])
    prev = gen.command
    for _ in range(200):
        gen.step()
        c = gen.command
        assert np.all(np.abs(c - prev) <= np.array([1.0, 1.0, 2.0]) * 0.02 + 1e-9)
        prev = c
    np.testing.assert_allclose(gen.command, [1.2, -0.2, 0.5], atol=1e-9)


def test_joint_positions_always_inside_limits(tmp_path):
    # a model whose outputs are far outside every joint range
    p, _, _ = _tiny(tmp_path, bias=6.0)
    gen = CMGGenerator.load(p)
    gen.set_command(1.0, 0.0, 0.0)
    for _ in range(50):
        q = gen.step(horizon=2).frames[-1].joint_positions
        assert np.all(q >= robot.POSITION_LOWER - 1e-6) and np.all(q <= robot.POSITION_UPPER + 1e-6)
    gen_off = CMGGenerator.load(p, options=GeneratorOptions(clamp_joints=False))
    q = gen_off.step((1.0, 0, 0)).frames[0].joint_positions
    assert np.any(q > robot.POSITION_UPPER)  # the clamp is what keeps the first generator inside


def test_idle_hold_brings_a_zero_command_to_standing(tmp_path):
    p, _, _ = _tiny(tmp_path, bias=0.5)  # a model that drifts away from standing on its own
    loaded = load_model(p)
    gen = CMGGenerator(loaded)
    standing = gen.standing_state[:29]
    for _ in range(200):  # 4 s of zero command
        f = gen.step((0.0, 0.0, 0.0)).frames[0]
    assert np.abs(f.joint_positions - standing).max() < 1e-3
    free = CMGGenerator(loaded, GeneratorOptions(idle_tau_s=0.0))
    for _ in range(200):
        g = free.step((0.0, 0.0, 0.0)).frames[0]
    assert np.abs(g.joint_positions - standing).max() > 0.05
    moving = CMGGenerator(loaded)
    for _ in range(200):  # a non-zero command is never held
        h = moving.step((0.5, 0.0, 0.0)).frames[0]
    assert np.abs(h.joint_positions - standing).max() > 0.05


def test_nonfinite_output_resets_to_standing(tmp_path):
    p, _, _ = _tiny(tmp_path)
    loaded = load_model(p)
    loaded.backend = lambda s, c: np.full_like(s, np.nan)
    gen = CMGGenerator(loaded)
    f = gen.step((0.5, 0, 0)).frames[0]
    assert gen.resets == 1
    np.testing.assert_allclose(f.joint_positions, robot.DEFAULT_POSITION, atol=1e-6)


def _upstream_onnx(tmp_path, model: CMG) -> Path:
    """An ONNX in upstream's layout: fixed batch 1, prev_motion/command -> motion, no metadata."""
    path = tmp_path / "cmg_exported.onnx"
    torch.onnx.export(
        model.eval(),
        (torch.zeros(1, 58), torch.zeros(1, 3)),
        str(path),
        input_names=["prev_motion", "command"],
        output_names=["motion"],
        opset_version=11,
        dynamo=False,
    )
    return path


def test_upstream_onnx_with_stats_yaml(tmp_path):
    _, model, stats = _tiny(tmp_path, root=False)
    onnx_path = _upstream_onnx(tmp_path, model)
    stats.to_yaml(tmp_path / "cmg_stats.yaml")
    with pytest.raises(ValueError, match=r"cmg_stats\.yaml"):
        load_model(onnx_path)
    loaded = load_model(onnx_path, stats_yaml=tmp_path / "cmg_stats.yaml")
    assert loaded.kind == "onnx-upstream" and loaded.metadata["fps"] == 30.0
    # same normalized step as eager torch (batch > 1 runs row by row on the fixed-batch graph)
    z, c = np.random.default_rng(0).normal(size=(3, 58)), np.zeros((3, 3))
    with torch.no_grad():
        ref = model(torch.tensor(z, dtype=torch.float32), torch.tensor(c, dtype=torch.float32)).numpy()
    np.testing.assert_allclose(loaded.backend(z, c), ref, atol=1e-4)
    # 58-only: root quantities come from the command; the 30 fps model is resampled to 50 Hz
    gen = CMGGenerator(loaded)
    calls = []
    inner = loaded.backend
    loaded.backend = lambda s, cm: calls.append(1) or inner(s, cm)
    gen.stepper.backend = loaded.backend
    gen.set_command(0.8, 0.1, 0.3)
    for _ in range(50):
        f = gen.step().frames[0]
    assert len(calls) == 30  # 1 s of output at 50 Hz = 30 model steps at 30 fps
    np.testing.assert_allclose(f.root_linear_velocity[:2], gen.command[:2], atol=1e-6)
    assert f.root_yaw_rate == pytest.approx(gen.command[2])
    assert f.root_height == pytest.approx(robot.STANDING_PELVIS_HEIGHT)
    assert f.root_roll == 0.0 and f.root_pitch == 0.0


def test_batched_rollout_matches_generator(tmp_path):
    p, _, _ = _tiny(tmp_path)
    loaded = load_model(p)
    T = 20
    res = rollout(loaded, np.broadcast_to([[0.6, 0.0, 0.2]], (T, 1, 3)))
    gen = CMGGenerator(loaded)
    gen.set_command(0.6, 0.0, 0.2)
    for t in range(T):
        f = gen.step().frames[0]
        np.testing.assert_allclose(f.joint_positions, res.states[t + 1, 0, :29], atol=1e-5)


def test_mirror_average_makes_a_step_exactly_left_right_symmetric(tmp_path):
    from cmg_generator.mirror import mirror_commands, mirror_states

    p, _, stats = _tiny(tmp_path, seed=3)
    loaded = load_model(p)
    rng = np.random.default_rng(1)
    s = stats.denormalize_state(rng.normal(size=(5, stats.motion_dim)) * 0.5)
    c = rng.uniform([-0.3, -0.2, -0.4], [1.0, 0.2, 0.4], size=(5, 3))

    def raw_step(opts, states, cmds):
        return StateStepper(loaded, opts)(states, cmds)[1]

    plain = GeneratorOptions(clamp_joints=False, mirror_average=False)
    # a random model is not symmetric on its own...
    asym = raw_step(plain, mirror_states(s), mirror_commands(c)) - mirror_states(raw_step(plain, s, c))
    assert np.abs(asym).max() > 1e-3
    # ...averaged with its mirror image it is, to float precision
    avg = GeneratorOptions(clamp_joints=False, mirror_average=True)
    np.testing.assert_allclose(
        raw_step(avg, mirror_states(s), mirror_commands(c)), mirror_states(raw_step(avg, s, c)), atol=1e-5
    )
    # and it is the mean of the two predictions
    mirrored = raw_step(plain, mirror_states(s), mirror_commands(c))
    mean = 0.5 * (raw_step(plain, s, c) + mirror_states(mirrored))
    np.testing.assert_allclose(raw_step(avg, s, c), mean, atol=1e-6)


def test_torch_backend_is_single_threaded_by_default(tmp_path):
    _, model, _ = _tiny(tmp_path)
    TorchBackend(model)
    assert torch.get_num_threads() == 1


@pytest.fixture(scope="module")
def shipped():
    if not SHIPPED.is_file():
        pytest.fail(f"the shipped CMG model is missing: {SHIPPED}")
    return load_model(SHIPPED)


def test_shipped_model_metadata(shipped: LoadedModel):
    meta = shipped.metadata
    assert meta["fps"] == 50.0, "CMG data are 50 Hz; the model must state the rate it was trained at"
    assert meta["joint_names"] == list(robot.G1_JOINT_NAMES)
    assert meta["training"]["config"]["smooth_s"] > 0
    layout = StateLayout.from_dim(shipped.stats.motion_dim)
    assert layout.root_channels, "the tracking policy needs the root channels"
    if layout.phase_channels:
        lo, hi = meta["stride_rate_range"]
        assert 0.3 < lo < hi < 3.0, "strides per second while moving, from the training data"
    low, high = np.array(meta["command_low"]), np.array(meta["command_high"])
    assert low[0] < -0.4 and high[0] > 1.5 and low[2] < -0.8 and high[2] > 0.8
    readme = (MODELS_DIR / "README.md").read_text()
    assert SHIPPED.name in readme
    assert (MODELS_DIR / "eval_report.md").is_file()
    rep = json.loads((MODELS_DIR / "eval_report.json").read_text())
    assert rep["summary"]["commands"] >= 60


def test_shipped_model_short_rollouts_stay_sane(shipped: LoadedModel):
    cmds = np.array([[0, 0, 0], [0.5, 0, 0], [1.0, 0, 0], [1.5, 0, 0.5], [-0.5, 0, 0], [0.3, 0.4, -0.8]])
    T = 500  # 10 s
    res = rollout(shipped, np.broadcast_to(cmds, (T, len(cmds), 3)))
    assert not res.nonfinite.any()
    z = np.abs(shipped.stats.normalize_state(res.raw_states[1:].astype(np.float64)))
    assert z.max() < 7.5, "normalized state ran into the divergence guard"
    q = res.states[:, :, :29]
    assert np.all(q >= robot.POSITION_LOWER - 1e-6) and np.all(q <= robot.POSITION_UPPER + 1e-6)
    legs = res.states[-150:, :, :12].std(axis=0).mean(axis=1)
    assert legs[2] > 0.03, "the generator froze while commanded to walk at 1 m/s"


def test_revise_redoes_the_last_tick_as_if_the_command_had_come_first(tmp_path):
    p, _, _ = _tiny(tmp_path)
    revised, direct = CMGGenerator.load(p), CMGGenerator.load(p)
    for _ in range(5):  # some history: the redo must start from the state before the last tick
        revised.step((0.6, 0.0, 0.2))
        direct.step((0.6, 0.0, 0.2))
    revised.step((0.6, 0.0, 0.2))
    a = revised.revise((1.0, 0.1, -0.3), horizon=2)
    b = direct.step((1.0, 0.1, -0.3), horizon=2)
    for fa, fb in zip(a.frames, b.frames, strict=True):
        np.testing.assert_array_equal(fa.joint_positions, fb.joint_positions)
        assert fa.root_yaw == fb.root_yaw
    np.testing.assert_array_equal(a.command, b.command)
    # and the ticks after it carry on identically (one frame per tick, nothing skipped)
    for _ in range(3):
        fa, fb = revised.step().frames[0], direct.step().frames[0]
        np.testing.assert_array_equal(fa.joint_positions, fb.joint_positions)
    with pytest.raises(RuntimeError):
        CMGGenerator.load(p).revise((0.5, 0.0, 0.0))
