"""CMG model: seed architecture, batched experts == blended weights, layouts, artifacts."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from cmg_generator.artifact import NormStats, load_artifact, make_metadata, save_artifact
from cmg_generator.model import CMG, CMGConfig, MoELinear, StateLayout, load_state_dict_compat


def test_seed_model_size_and_shapes():
    model = CMG(CMGConfig())  # the seed: 61 -> 512 -> 512 -> 58, 4 experts, gate 61 -> 512 -> 4
    assert model.num_parameters() == 1_330_412
    assert model.gate.fc1.in_features == 61 and model.gate.fc2.out_features == 4
    assert [(m.in_dim, m.out_dim, m.num_experts) for m in model.layers] == [
        (61, 512, 4),
        (512, 512, 4),
        (512, 58, 4),
    ]
    y = model(torch.zeros(3, 58), torch.zeros(3, 3))
    assert y.shape == (3, 58)


def test_root_channel_model_has_65_channels():
    cfg = CMGConfig(root_channels=True, hidden_dim=32, gate_hidden_dim=16)
    model = CMG(cfg)
    assert cfg.state_dim == 65
    assert model(torch.zeros(2, 65), torch.zeros(2, 3)).shape == (2, 65)
    assert model.gate.fc1.in_features == 61 and model.layers[0].in_dim == 61  # root channels: outputs only
    x = torch.randn(2, 65)
    x2 = x.clone()
    x2[:, 58:] += 10.0  # root inputs are ignored
    torch.testing.assert_close(model(x, torch.zeros(2, 3)), model(x2, torch.zeros(2, 3)))
    layout = StateLayout(True)
    names = layout.channel_names()
    assert names[layout.root_height] == "root_height" and names[layout.root_yaw_rate] == "root_yaw_rate"
    assert StateLayout.from_dim(58) == StateLayout(False)
    with pytest.raises(ValueError):
        StateLayout.from_dim(59)


def test_phase_channels_are_inputs_and_outputs():
    for root, dim in ((False, 60), (True, 67)):
        layout = StateLayout(root, phase_channels=True)
        assert layout.dim == dim and StateLayout.from_dim(dim) == layout
        assert layout.channel_names()[layout.phase] == ["phase_sin", "phase_cos"]
        model = CMG(CMGConfig(root_channels=root, phase_channels=True, hidden_dim=32, gate_hidden_dim=16))
        assert model.gate.fc1.in_features == 63  # 58 joint channels + 2 phase + 3 command
        x = torch.randn(3, dim)
        assert model(x, torch.zeros(3, 3)).shape == (3, dim)
        x2 = x.clone()
        x2[:, layout.phase] += 1.0  # the phase is read ...
        assert not torch.allclose(model(x, torch.zeros(3, 3)), model(x2, torch.zeros(3, 3)))
        if root:
            x3 = x.clone()
            x3[:, layout.root] += 10.0  # ... the root channels still are not
            torch.testing.assert_close(model(x, torch.zeros(3, 3)), model(x3, torch.zeros(3, 3)))
    with pytest.raises(AttributeError):
        _ = StateLayout(True).phase


def test_batched_experts_equal_blended_weights():
    torch.manual_seed(0)
    layer = MoELinear(7, 5, 4)
    layer.bias.data.normal_()
    x = torch.randn(6, 7)
    c = torch.softmax(torch.randn(6, 4), dim=-1)
    torch.testing.assert_close(layer(x, c), layer.blended_reference(x, c), rtol=1e-5, atol=1e-5)


def test_gate_is_a_distribution_and_no_final_activation():
    torch.manual_seed(1)
    model = CMG(CMGConfig(hidden_dim=16, gate_hidden_dim=8))
    x = torch.randn(4, 61)
    g = model.gate(x)
    torch.testing.assert_close(g.sum(-1), torch.ones(4))
    model.layers[-1].bias.data.fill_(-5.0)  # ELU would floor outputs at -1; the last layer has none
    assert model(torch.randn(4, 58), torch.randn(4, 3)).min() < -2.0


def test_upstream_expert_layout_loads():
    torch.manual_seed(2)
    model = CMG(CMGConfig(hidden_dim=16, gate_hidden_dim=8))
    sd = {k: v.clone() for k, v in model.state_dict().items()}
    upstream = {k: (v.permute(1, 0, 2).contiguous() if v.dim() == 3 else v) for k, v in sd.items()}
    other = CMG(CMGConfig(hidden_dim=16, gate_hidden_dim=8))
    load_state_dict_compat(other, upstream)
    x, c = torch.randn(2, 58), torch.randn(2, 3)
    torch.testing.assert_close(other(x, c), model(x, c))


def test_artifact_round_trip_with_stats(tmp_path):
    torch.manual_seed(3)
    model = CMG(CMGConfig(hidden_dim=16, gate_hidden_dim=8))
    rng = np.random.default_rng(0)
    stats = NormStats.compute(rng.normal(size=(100, 58)), rng.normal(size=(100, 3)))
    assert np.all(stats.motion_std >= 0.1)
    meta = make_metadata(stats, np.zeros(58), training={"note": "test"})
    p = save_artifact(tmp_path / "m.pt", model, stats, meta)
    art = load_artifact(p)
    x, c = torch.randn(2, 58), torch.randn(2, 3)
    torch.testing.assert_close(art.model(x, c), model.eval()(x, c))
    np.testing.assert_allclose(art.stats.motion_mean, stats.motion_mean)
    assert art.metadata["fps"] == 50.0 and len(art.metadata["joint_names"]) == 29
    assert art.metadata["state_layout"][0] == "left_hip_pitch_joint.pos"
    # yaml (upstream cmg_stats.yaml layout) round trip
    stats.to_yaml(tmp_path / "cmg_stats.yaml")
    s2 = NormStats.from_yaml(tmp_path / "cmg_stats.yaml")
    np.testing.assert_allclose(s2.command_max, stats.command_max, rtol=1e-6)
    z = stats.normalize_command(np.stack([stats.command_min, stats.command_max]))
    np.testing.assert_allclose(z, [[-1, -1, -1], [1, 1, 1]], atol=1e-5)


def test_not_an_artifact_is_rejected(tmp_path):
    torch.save({"model_state_dict": {}}, tmp_path / "x.pt")
    with pytest.raises(ValueError, match="not a CMG artifact"):
        load_artifact(tmp_path / "x.pt")
