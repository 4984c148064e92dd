"""train_teacher -> train_student -> export_policy through the console-script functions, then the
exported files load in the policy node's loader and reproduce the trained actor's actions."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from twist_controller.policy import load_policy
from twist_controller.policy_runtime import PolicyRuntime, ReferenceSample
from twist_training import cli

TINY = [
    "--num-envs", "4",
    "--threads", "1",
    "--iterations", "1",
    "--set", "task.motions.sources=[stand]",
    "--set", "task.motions.builtin_duration_s=3.0",
    "--set", "network.hidden_dims=[64,64]",
    "--set", "network.latent_dim=16",
    "--set", "num_steps_per_env=8",
]  # fmt: skip


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    root = tmp_path_factory.mktemp("e2e")
    assert cli.train_teacher([*TINY, "--run-dir", str(root / "teacher")]) == 0
    assert (
        cli.train_student([*TINY, "--run-dir", str(root / "student"), "--teacher", str(root / "teacher")])
        == 0
    )
    return root


def test_help_of_every_command(capsys):
    for fn in (cli.train_teacher, cli.train_student, cli.export_policy, cli.play):
        with pytest.raises(SystemExit) as e:
            fn(["--help"])
        assert e.value.code == 0
    assert "--num-envs" in capsys.readouterr().out


def test_export_loads_in_policy_node_with_same_actions(runs):
    out_pt, out_onnx = runs / "exp" / "s.pt", runs / "exp" / "s.onnx"
    assert cli.export_policy([str(runs / "student"), "-o", str(out_pt), "-o", str(out_onnx)]) == 0
    from twist_training.algorithms.export import load_actor

    actor, _cfg, student, _ = load_actor(runs / "student")
    assert student
    x = np.random.default_rng(1).normal(size=(5, 1155)).astype(np.float32)
    with torch.inference_mode():
        expected = actor.mlp(actor.obs_normalizer(torch.from_numpy(x))).numpy()
    for path in (out_pt, out_onnx):
        pol = load_policy(path)  # the policy node's loader, metadata checked against the robot spec
        assert pol.metadata.observation_size == 1155 and pol.metadata.observation_layout == "twist_student_v1"
        np.testing.assert_allclose(pol.act(x), expected, atol=1e-4)
    # and the node's runtime produces joint targets with it
    rt = PolicyRuntime(load_policy(out_pt))
    from twist_controller import robot

    rt.set_reference(ReferenceSample(robot.DEFAULT_POSITION.copy(), 0.78, np.zeros(3), np.zeros(3), 0.0), 0.0)
    rt.set_joint_state(robot.DEFAULT_POSITION.copy(), np.zeros(29), 0.0)
    rt.set_imu(np.array([1.0, 0, 0, 0]), np.zeros(3), 0.0)
    res = rt.step(0.0)
    assert res.reason == "ok" and res.targets.shape == (29,)


def test_teacher_checkpoint_is_not_exportable(runs, capsys):
    assert cli.export_policy([str(runs / "teacher"), "-o", str(runs / "t.pt")]) == 2
    assert "teacher checkpoint" in capsys.readouterr().err


def test_play_reports_tracking_errors(runs, tmp_path):
    js = tmp_path / "r.json"
    assert (
        cli.play(
            [
                str(runs / "student"),
                "--steps",
                "10",
                "--num-envs",
                "2",
                "--motions",
                "stand",
                "--json",
                str(js),
            ]
        )
        == 0
    )
    rep = json.loads(js.read_text())
    for k in ("joint_pos_err_rad", "keybody_pos_err_m", "root_vel_err_mps", "falls"):
        assert k in rep
    assert rep["env_steps"] == 20
