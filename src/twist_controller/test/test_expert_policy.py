"""The holosoma walking expert as a first-class policy, and gains that follow the policy artifact.

The expert ONNX files come from the holosoma-inference wheel (scripts/setup.sh); their own
metadata is read here with the ``onnx`` package, independently of our loader.
"""

import json

import numpy as np
import onnx
import onnxruntime as ort
import pytest

from twist_controller import robot
from twist_controller.expert import LOCO_DEFAULT_POSITION, expert_path
from twist_controller.loco_observations import LOCO_LAYOUT, GaitClock, build_loco_observation
from twist_controller.observations import RobotInput
from twist_controller.policy import PolicyMetadata, export_policy, load_policy
from twist_controller.policy_runtime import PolicyRuntime, ReferenceSample
from twist_controller.safety import Mode, Request, SafetyConfig, SafetyStateMachine


def _file_metadata(name: str) -> dict:
    return {p.key: p.value for p in onnx.load(str(expert_path(name))).metadata_props}


@pytest.mark.parametrize("name", ["fastsac", "ppo"])
def test_expert_loads_with_its_own_interface(name):
    pol = load_policy(f"expert:{name}")
    own = _file_metadata(name)
    m = pol.metadata
    assert m.joint_names == json.loads(own["dof_names"]) == list(robot.G1_JOINT_NAMES)
    np.testing.assert_allclose(m.kp, json.loads(own["kp"]))
    np.testing.assert_allclose(m.kd, json.loads(own["kd"]))
    assert m.action_scale == 0.25 and m.observation_layout == "holosoma_loco_v1" and m.observation_size == 100
    assert m.action_joint_names == list(robot.G1_JOINT_NAMES)
    np.testing.assert_allclose(m.default_position, LOCO_DEFAULT_POSITION)
    assert not np.allclose(m.kp, robot.KP)  # not TWIST's gains


@pytest.mark.parametrize("name", ["fastsac", "ppo"])
def test_batched_expert_equals_the_unmodified_file_row_by_row(name):
    original = ort.InferenceSession(str(expert_path(name)), providers=["CPUExecutionProvider"])
    assert original.get_inputs()[0].shape == [1, 100]  # the shipped file has a fixed batch of 1
    obs = np.random.default_rng(3).normal(size=(17, 100)).astype(np.float32)
    rows = np.concatenate([original.run(None, {"actor_obs": obs[i : i + 1]})[0] for i in range(17)])
    batched = load_policy(f"expert:{name}").act(obs)
    np.testing.assert_allclose(batched, rows, rtol=1e-5, atol=1e-5)


def test_loco_layout_is_alphabetical_and_100_floats():
    names = [n for n, _ in LOCO_LAYOUT.terms]
    assert names == sorted(names) and LOCO_LAYOUT.size == 100
    sl = LOCO_LAYOUT.slices()
    q = LOCO_DEFAULT_POSITION + 0.1
    obs = build_loco_observation(
        command=np.array([[0.5, -0.2, 0.3]]),
        base_ang_vel=np.array([[1.0, 2.0, 3.0]]),
        base_quat_wxyz=np.array([[1.0, 0.0, 0.0, 0.0]]),
        joint_pos=q[None],
        joint_vel=np.full((1, 29), 2.0),
        last_action=np.full((1, 29), 500.0),
        phase=np.array([[0.0, np.pi]]),
        default_position=LOCO_DEFAULT_POSITION,
    )[0]
    np.testing.assert_allclose(obs[sl["actions"]], 100.0)  # clipped to +-100
    np.testing.assert_allclose(obs[sl["base_ang_vel"]], [0.25, 0.5, 0.75])
    np.testing.assert_allclose(obs[sl["command_ang_vel"]], [0.3], rtol=1e-6)
    np.testing.assert_allclose(obs[sl["command_lin_vel"]], [0.5, -0.2], rtol=1e-6)
    np.testing.assert_allclose(obs[sl["cos_phase"]], [1.0, -1.0], atol=1e-6)
    np.testing.assert_allclose(obs[sl["dof_pos"]], 0.1, rtol=1e-5)
    np.testing.assert_allclose(obs[sl["dof_vel"]], 0.1, rtol=1e-6)
    np.testing.assert_allclose(obs[sl["projected_gravity"]], [0, 0, -1])
    np.testing.assert_allclose(obs[sl["sin_phase"]], [0.0, 0.0], atol=1e-6)
    assert sl["actions"] == slice(0, 29) and sl["sin_phase"] == slice(98, 100)


def test_gait_clock_freezes_standing_and_restarts_from_zero_pi():
    clock = GaitClock(2)
    stand, walk = np.zeros(3), np.array([0.5, 0.0, 0.0])
    np.testing.assert_allclose(clock.tick(np.stack([stand, stand])), np.pi)
    p = clock.tick(np.stack([walk, stand]))
    np.testing.assert_allclose(p[0], [0.0, np.pi])  # motion resumes: (0, pi)
    np.testing.assert_allclose(p[1], [np.pi, np.pi])
    for _ in range(25):
        p = clock.tick(np.stack([walk, stand]))
    np.testing.assert_allclose(p[0], [np.pi - 2 * np.pi, 0.0], atol=1e-9)  # half a 1 s period later, wrapped
    assert np.all((p[0] >= -np.pi) & (p[0] < np.pi))  # moving: wrapped; standing: held at pi
    p = clock.tick(np.stack([np.array([0.005, 0.0, 0.005]), walk]))  # below both thresholds: stand
    np.testing.assert_allclose(p[0], [np.pi, np.pi])


def _sample(command):
    return ReferenceSample(
        robot.DEFAULT_POSITION.copy(), 0.79, np.zeros(3), np.zeros(3), 0.0, command=command
    )


def _bridge_command(runtime: PolicyRuntime):
    """Run one policy step and hand the targets through the bridge's state machine in POLICY."""
    runtime.set_reference(_sample(np.array([0.3, 0.0, 0.0])), 0.0)
    runtime.set_joint_state(robot.DEFAULT_POSITION.copy(), np.zeros(29), 0.0)
    runtime.set_imu(np.array([1.0, 0, 0, 0]), np.zeros(3), 0.0)
    res = runtime.step(0.0)
    assert res.targets is not None, res.reason
    sm = SafetyStateMachine(SafetyConfig(robot="sim"))
    sm.update_state(robot.DEFAULT_POSITION, np.zeros(29), np.array([1.0, 0, 0, 0]), 0.0)
    sm.request(Request.ENABLE, 0.0)
    sm.request(Request.STAND, 0.0)
    sm.update_state(robot.DEFAULT_POSITION, np.zeros(29), np.array([1.0, 0, 0, 0]), 3.0)
    sm.step(3.0)
    sm.update_targets(robot.G1_JOINT_NAMES, res.targets, kp=res.kp, kd=res.kd, now=3.0)
    ok, msg = sm.request(Request.POLICY, 3.0)
    assert ok, msg
    cmd = sm.step(3.0)
    assert cmd.mode == Mode.POLICY
    return cmd


def test_the_motors_get_the_gains_of_the_policy_that_runs(tmp_path):
    """No parameter sets gains: they come from the artifact, through the runtime and the bridge."""
    expert = load_policy("expert:fastsac")
    cmd = _bridge_command(PolicyRuntime(expert))
    np.testing.assert_allclose(cmd.kp, expert.metadata.kp)
    np.testing.assert_allclose(cmd.kd, expert.metadata.kd)  # hip-roll kd 6.31 is not cut by the cap

    import torch

    net = torch.nn.Sequential(torch.nn.Linear(1155, 23))
    torch.nn.init.zeros_(net[0].weight)
    torch.nn.init.zeros_(net[0].bias)
    twist = load_policy(export_policy(net, tmp_path / "twist.onnx", PolicyMetadata()))
    cmd = _bridge_command(PolicyRuntime(twist))
    np.testing.assert_allclose(cmd.kp, robot.KP)
    np.testing.assert_allclose(cmd.kd, robot.KD)
    # zero action -> the artifact's default pose: TWIST's for TWIST ...
    np.testing.assert_allclose(cmd.q, robot.DEFAULT_POSITION, atol=1e-6)


def test_velocity_layout_needs_the_command_and_clamps_it():
    rt = PolicyRuntime(load_policy("expert:ppo"))
    rt.set_reference(_sample(None), 0.0)
    rt.set_joint_state(robot.DEFAULT_POSITION.copy(), np.zeros(29), 0.0)
    rt.set_imu(np.array([1.0, 0, 0, 0]), np.zeros(3), 0.0)
    res = rt.step(0.0)
    assert res.targets is None and "command" in res.reason
    assert rt.set_reference(_sample(np.array([np.nan, 0, 0])), 0.0) is not None
    assert rt.set_reference(_sample(np.array([9.0, 0, 0])), 0.0) is None
    res = rt.step(0.0)
    assert res.targets is not None
    obs_cmd = rt.observations.clock  # the clock ran: the command was not "zero"
    assert np.allclose(obs_cmd.phase[0], [0.0, np.pi])


def test_training_and_deployment_build_the_same_expert_observation():
    """The distillation teacher and the policy node build the 100 floats with the same code."""
    from twist_controller.loco_observations import LocoObservationBuilder

    rng = np.random.default_rng(0)
    state = RobotInput(
        base_ang_vel=rng.normal(size=(1, 3)),
        base_quat_wxyz=np.array([[0.99, 0.05, -0.05, 0.1]]) / np.linalg.norm([0.99, 0.05, -0.05, 0.1]),
        joint_pos=LOCO_DEFAULT_POSITION[None] + rng.normal(scale=0.1, size=(1, 29)),
        joint_vel=rng.normal(size=(1, 29)),
        last_action=np.zeros((1, 29)),
    )
    cmd = np.array([[0.4, 0.1, -0.2]])
    captured = {}
    pol = load_policy("expert:fastsac")

    class Spy:
        metadata = pol.metadata
        path, backend = pol.path, pol.backend

        def act(self, obs):
            captured["obs"] = obs.copy()
            return pol.act(obs)

    rt = PolicyRuntime(Spy())
    rt.set_reference(_sample(cmd[0]), 0.0)
    rt.set_joint_state(state.joint_pos[0], state.joint_vel[0], 0.0)
    rt.set_imu(state.base_quat_wxyz[0], state.base_ang_vel[0], 0.0)
    rt.step(0.0)
    train = LocoObservationBuilder(1, pol.metadata.default_array).build(cmd, state)
    np.testing.assert_allclose(captured["obs"], train, atol=1e-6)
