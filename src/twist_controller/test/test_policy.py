"""Exported policies carry metadata; the loader checks it and runs TorchScript and ONNX alike."""

import numpy as np
import pytest
import torch

from twist_controller import robot
from twist_controller.policy import (
    PolicyLoadError,
    PolicyMetadata,
    actions_to_targets,
    export_policy,
    load_policy,
)


def _net(obs=1155, out=23):
    torch.manual_seed(0)
    return torch.nn.Sequential(torch.nn.Linear(obs, 64), torch.nn.SiLU(), torch.nn.Linear(64, out))


@pytest.mark.parametrize("suffix", [".pt", ".onnx"])
def test_export_load_roundtrip_matches_eager(tmp_path, suffix):
    net = _net()
    path = export_policy(net, tmp_path / f"policy{suffix}", PolicyMetadata(description="test"))
    pol = load_policy(path)
    assert pol.metadata.description == "test"
    obs = np.random.default_rng(0).normal(size=(3, 1155)).astype(np.float32)
    with torch.no_grad():
        want = net(torch.from_numpy(obs)).numpy()
    np.testing.assert_allclose(pol.act(obs), want, rtol=1e-4, atol=1e-5)


def test_a_policy_keeps_its_own_gains_and_unsafe_ones_are_refused_by_name(tmp_path):
    meta = PolicyMetadata()
    meta.kp = list(meta.kp)
    meta.kp[3] = 99.0  # not TWIST's knee gain: the policy's own, carried as is
    pol = load_policy(export_policy(_net(), tmp_path / "own.pt", meta))
    assert pol.metadata.kp[3] == 99.0
    meta.kp[3] = 1e4  # far above the robot's gain ceiling
    path = export_policy(_net(), tmp_path / "bad.pt", meta)
    with pytest.raises(PolicyLoadError, match=r"kp negative or above .* left_knee_joint"):
        load_policy(path)
    meta.kp[3] = 99.0
    meta.observation_layout = "something_else"
    with pytest.raises(PolicyLoadError, match="observation layout"):
        load_policy(export_policy(_net(), tmp_path / "bad2.pt", meta))


def test_joint_order_mismatch_is_refused(tmp_path):
    meta = PolicyMetadata()
    meta.joint_names = list(reversed(meta.joint_names))
    path = export_policy(_net(), tmp_path / "bad.onnx", meta)
    with pytest.raises(PolicyLoadError, match="joint_names"):
        load_policy(path)


def test_upstream_twist_student_without_metadata_needs_compat(tmp_path):
    path = tmp_path / "twist_student-jit.pt"
    torch.jit.save(torch.jit.trace(_net(), torch.ones(2, 1155)), str(path))
    with pytest.raises(PolicyLoadError, match="twist_upstream"):
        load_policy(path)
    pol = load_policy(path, compat="twist_upstream")
    assert pol.act(np.zeros((1, 1155))).shape == (1, 23)


def test_wrong_output_size_and_missing_or_corrupt_file(tmp_path):
    path = export_policy(_net(out=12), tmp_path / "short.pt")
    with pytest.raises(PolicyLoadError, match="outputs shape"):
        load_policy(path)
    with pytest.raises(PolicyLoadError, match="not found"):
        load_policy(tmp_path / "nope.pt")
    junk = tmp_path / "junk.onnx"
    junk.write_bytes(b"not a model")
    with pytest.raises(PolicyLoadError, match="ONNX"):
        load_policy(junk)


def test_actions_to_targets_scale_clip_and_limits():
    zero = actions_to_targets(np.zeros((1, 23)))
    np.testing.assert_allclose(zero[0], robot.DEFAULT_POSITION)
    one = actions_to_targets(np.ones((1, 23)))[0]
    knee = robot.joint_index("left_knee_joint")
    assert one[knee] == pytest.approx(0.4 + 0.5)
    huge = actions_to_targets(np.full((1, 23), 1e6))[0]
    assert np.all(huge <= robot.POSITION_UPPER + 1e-12)
    nan_safe = np.nan_to_num(np.full((1, 23), np.inf), posinf=robot.ACTION_CLIP)
    assert np.all(np.isfinite(actions_to_targets(nan_safe)))
