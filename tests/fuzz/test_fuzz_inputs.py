"""Fuzzing of every runtime input path through the pure cores the nodes wrap (no ROS).

Inputs: /cmd_vel (Twist and TwistStamped carry the same three floats into ``CommandInput``;
NaN, inf, huge, -0.0, bursts at one timestamp), ReferenceMotion (wrong lengths, NaN, joints out
of limits, stale stamps, empty frames), JointTargets (wrong names/lengths, NaN, extreme gains),
LowState (random bytes, bit flips / bad CRC, NaN IMU, impossible joint values with a valid CRC),
LowCmd into the simulator, policy outputs (NaN, huge), joystick axes, Redis payloads, player
commands. The property everywhere: no exception escapes, what is accepted is finite and inside
the robot's limits, and the safety state machine keeps or enters a safe mode.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import strategies as st

from twist_controller import robot
from twist_controller.safety import Mode, Request, SafetyConfig, SafetyStateMachine

pytestmark = pytest.mark.filterwarnings("ignore:overflow encountered:RuntimeWarning")
N = robot.NUM_JOINTS
SPECIAL = [0.0, -0.0, math.nan, math.inf, -math.inf, 1e308, -1e308, 5e-324, 1e6, -1e6, 3.4e38]
nasty = st.one_of(st.sampled_from(SPECIAL), st.floats(allow_nan=True, allow_infinity=True), st.floats(-5, 5))


def arrays(min_size=0, max_size=40):
    return st.lists(nasty, min_size=min_size, max_size=max_size)


def near(n, scale=1.0, base=None):
    """Arrays of length n mostly near ``base`` with a few nasty entries."""
    base = np.zeros(n) if base is None else np.asarray(base, float)

    def build(pair):
        noise, pokes = pair
        a = base + scale * np.asarray(noise)
        for i, v in pokes:
            a[i % n] = v
        return a

    return st.tuples(
        st.lists(st.floats(-1, 1), min_size=n, max_size=n),
        st.lists(st.tuples(st.integers(0, n - 1), nasty), max_size=3),
    ).map(build)


# ============================================================================ /cmd_vel -> CMG
@pytest.fixture(scope="module")
def tiny_cmg(tmp_path_factory):
    import torch

    from cmg_generator.artifact import NormStats, make_metadata, save_artifact
    from cmg_generator.model import CMG, CMGConfig

    torch.manual_seed(0)
    cfg = CMGConfig(root_channels=True, hidden_dim=16, gate_hidden_dim=16, num_experts=2, num_layers=2)
    model = CMG(cfg)
    rng = np.random.default_rng(0)
    d = cfg.state_dim
    st_ = NormStats.compute(rng.normal(size=(200, d)), rng.uniform(-1, 1, size=(200, 3)))
    standing = np.zeros(d)
    standing[:N] = robot.DEFAULT_POSITION
    meta = make_metadata(
        st_, standing, command_low=np.array([-0.5, -0.3, -1.0]), command_high=[1.5, 0.3, 1.0]
    )
    path = tmp_path_factory.mktemp("cmg") / "tiny_untrained.pt"
    save_artifact(path, model, st_, meta)
    return path


def test_fuzz_cmd_vel_into_generator(fuzz, tiny_cmg):
    from cmg_generator.command_input import CommandInput
    from cmg_generator.runtime import CMGGenerator

    gen = CMGGenerator.load(tiny_cmg)
    lo, hi = gen.command_low, gen.command_high
    inp = CommandInput()
    clock = [0.0]

    # a burst = several messages between two 50 Hz ticks (dt 0 = same timestamp)
    burst = st.lists(
        st.tuples(nasty, nasty, nasty, st.sampled_from([0.0, 0.0, 0.001, 0.02, 0.6])), min_size=1, max_size=8
    )

    def check(msgs):
        for vx, vy, wz, dt in msgs:
            clock[0] += dt
            err = inp.submit(vx, vy, wz, clock[0])
            finite = all(math.isfinite(v) for v in (vx, vy, wz))
            assert (err is None) == finite, (vx, vy, wz, err)
        clock[0] += 0.02
        cmd = inp.current(clock[0])
        assert all(math.isfinite(c) for c in cmd)
        motion = gen.step(cmd, horizon=2)
        c = np.asarray(motion.command)
        assert np.all(np.isfinite(c)) and np.all(c >= lo - 1e-9) and np.all(c <= hi + 1e-9), c
        for f in motion.frames:
            q = np.asarray(f.joint_positions, float)
            assert np.all(np.isfinite(q)) and np.all(np.isfinite(f.joint_velocities))
            assert np.all(q >= robot.POSITION_LOWER - 1e-5) and np.all(q <= robot.POSITION_UPPER + 1e-5)
            assert (
                math.isfinite(f.root_height)
                and math.isfinite(f.root_yaw)
                and abs(f.root_yaw) <= math.pi + 1e-9
            )

    fuzz(burst, check)
    assert inp.rejected > 0 or fuzz.budget < 20  # the strategy does produce non-finite input


def test_fuzz_cmd_vel_timeout_goes_to_zero(fuzz):
    from cmg_generator.command_input import CommandInput, CommandInputConfig

    def check(args):
        (vx, vy, wz), age = args
        inp = CommandInput(CommandInputConfig(timeout=0.5))
        inp.submit(vx, vy, wz, 10.0)
        cur = inp.current(10.0 + age)
        if age > 0.5 or not all(math.isfinite(v) for v in (vx, vy, wz)):
            assert cur == (0.0, 0.0, 0.0)
        else:
            assert cur == (float(vx), float(vy), float(wz))

    fuzz(st.tuples(st.tuples(nasty, nasty, nasty), st.floats(0, 5)), check)


# ============================================================================ ReferenceMotion
def frame_strategy():
    from g1_bringup.mux_core import Frame

    lengths = st.sampled_from([N, N, N, 0, 1, 23, 28, 30, 58])

    def build(t):
        n, q, nv, dq, h, r, p, y, v, wz = t
        qa = np.resize(np.asarray(q, float), n) if n else np.zeros(0)
        dqa = np.resize(np.asarray(dq, float), nv) if nv else np.zeros(0)
        return Frame(qa, dqa, h, r, p, y, np.asarray(v, float), wz)

    return st.tuples(
        lengths,
        near(N, 0.5, robot.DEFAULT_POSITION),
        st.sampled_from([N, 0, 5]),
        near(N, 3.0),
        st.one_of(nasty, st.floats(0, 1.2)),
        nasty,
        nasty,
        nasty,
        st.lists(st.one_of(nasty, st.floats(-2, 2)), min_size=0, max_size=4),
        st.one_of(nasty, st.floats(-3, 3)),
    ).map(build)


def test_fuzz_reference_motion_through_mux(fuzz):
    from g1_bringup.mux_core import Motion, MuxConfig, MuxCore, validate_frame

    mux = MuxCore(MuxConfig(initial="cmg"))
    clock = [0.0]
    motion = st.tuples(
        st.lists(frame_strategy(), min_size=0, max_size=3),
        st.one_of(st.just(0.02), nasty),
        st.tuples(nasty, nasty, nasty),
        st.sampled_from([0.0, 0.02, 0.02, 0.5, 3.0]),  # gap before it: stale stamps / long silence
    )

    def check(t):
        frames, dt, cmd, gap = t
        clock[0] += gap
        accepted, err = mux.submit("cmg", Motion(frames, dt, "fuzz", cmd), clock[0])
        if accepted is None:
            assert err
        else:
            assert frames and all(validate_frame(f)[0] is not None for f in frames)
        out = mux.tick(clock[0] + 0.02)
        assert out is not None, "the mux always has the built-in default to fall back on"
        for f in out.frames:
            q = np.asarray(f.joint_positions)
            assert q.shape == (N,) and np.all(np.isfinite(q))
            assert np.all(q >= robot.POSITION_LOWER - 1e-6) and np.all(q <= robot.POSITION_UPPER + 1e-6)
            assert np.all(np.isfinite(f.root_vector()))

    fuzz(motion, check)


def test_fuzz_reference_into_policy_runtime(fuzz):
    from twist_controller.policy import LoadedPolicy, PolicyMetadata
    from twist_controller.policy_runtime import PolicyRuntime, ReferenceSample

    meta = PolicyMetadata()
    pol = LoadedPolicy(lambda obs: np.zeros((obs.shape[0], 23), np.float32), meta, None, "fake")
    now = [100.0]

    def check(t):
        f, age = t
        rt = PolicyRuntime(pol)  # fresh: a rejected reference must not leave an older good one
        now[0] += 0.02
        rt.set_joint_state(robot.DEFAULT_POSITION, np.zeros(N), now[0])
        rt.set_imu(np.array([1.0, 0, 0, 0]), np.zeros(3), now[0])
        rpy = np.array([f.root_roll, f.root_pitch, f.root_yaw])
        lin = np.resize(np.asarray(f.root_linear_velocity, float), 3)
        ref = ReferenceSample(f.joint_positions, f.root_height, rpy, lin, f.root_yaw_rate)
        err = rt.set_reference(ref, now[0] - age)
        res = rt.step(now[0])
        if res.targets is not None:
            assert err is None and age <= rt.config.reference_timeout
            assert np.all(np.isfinite(res.targets))
            assert np.all(res.targets >= robot.POSITION_LOWER - 1e-9) and np.all(
                res.targets <= robot.POSITION_UPPER + 1e-9
            )
        elif err is None and age <= rt.config.reference_timeout:
            raise AssertionError(f"valid fresh reference produced no targets: {res.reason}")

    fuzz(st.tuples(frame_strategy(), st.sampled_from([0.0, 0.0, 0.05, 0.11, 5.0, -0.0])), check)


# ============================================================================ JointTargets -> safety
def _policy_sm(now=0.0) -> SafetyStateMachine:
    sm = SafetyStateMachine(SafetyConfig())
    sm.update_state(robot.DEFAULT_POSITION, np.zeros(N), [1, 0, 0, 0], now)
    sm.request(Request.ENABLE, now)
    sm.request(Request.STAND, now)
    sm.update_targets(robot.G1_JOINT_NAMES, robot.DEFAULT_POSITION, now=now + 3)
    sm.update_state(robot.DEFAULT_POSITION, np.zeros(N), [1, 0, 0, 0], now + 3)
    assert sm.request(Request.POLICY, now + 3)[0]
    return sm


def _assert_command_safe(cmd, cfg: SafetyConfig | None = None):
    cfg = cfg or SafetyConfig()
    for name in ("q", "dq", "tau", "kp", "kd"):
        assert np.all(np.isfinite(getattr(cmd, name))), name
    assert np.all(cmd.kp >= 0) and np.all(cmd.kp <= cfg.max_gain_scale * robot.GAIN_CEILING_KP + 1e-9)
    assert np.all(cmd.kd >= 0) and np.all(
        cmd.kd
        <= np.maximum(cfg.max_gain_scale * robot.GAIN_CEILING_KD, cfg.damping_kd_scale * robot.KD) + 1e-9
    )
    assert np.all(np.abs(cmd.tau) <= robot.TORQUE_LIMIT + 1e-9)
    if cmd.mode == Mode.POLICY:
        assert np.all(cmd.q >= robot.POSITION_LOWER - 1e-9) and np.all(cmd.q <= robot.POSITION_UPPER + 1e-9)
    if cmd.mode in (Mode.DAMPING, Mode.ESTOP, Mode.ZERO_TORQUE):
        assert np.all(cmd.kp == 0)


names_strategy = st.one_of(
    st.just(list(robot.G1_JOINT_NAMES)),
    st.permutations(list(robot.G1_JOINT_NAMES)).map(list),
    st.lists(st.sampled_from(list(robot.G1_JOINT_NAMES)), min_size=0, max_size=35),
    st.lists(st.text(max_size=12), max_size=5),
)


def test_fuzz_joint_targets_into_safety(fuzz):
    def check(t):
        names, pos, vel, eff, kp, kd = t
        sm = _policy_sm()
        n = len(names)
        # given arrays are resized to the name count (empty optional ones stay empty = defaults)
        sizes = (
            (pos, n),
            (vel, len(vel) and n),
            (eff, len(eff) and n),
            (kp, len(kp) and n),
            (kd, len(kd) and n),
        )
        arr = [np.resize(np.asarray(a, float), k) if k else np.zeros(0) for a, k in sizes]
        if len(pos) % 3 == 1:  # some wrong lengths on purpose
            arr[0] = np.asarray(pos, float)
        err = sm.update_targets(names, *arr, now=3.01)
        nonfinite = any(not np.all(np.isfinite(a)) for a in arr)
        if err == "":
            assert not nonfinite
            assert sm.mode == Mode.POLICY
        elif "non-finite" in err:
            assert sm.mode == Mode.DAMPING, "NaN/inf targets must drop POLICY at once"
        cmd = sm.step(3.02)
        _assert_command_safe(cmd)
        sm.update_state(robot.DEFAULT_POSITION, np.zeros(N), [1, 0, 0, 0], 3.2)
        assert sm.step(3.2).mode != Mode.POLICY, "targets older than target_timeout must end POLICY"

    gains = st.one_of(st.just([]), st.lists(st.one_of(nasty, st.floats(-1e9, 1e9)), min_size=1, max_size=35))
    fuzz(st.tuples(names_strategy, arrays(0, 35), arrays(0, 35), arrays(0, 35), gains, gains), check)


# ============================================================================ LowState (wire + values)
def test_fuzz_lowstate_bytes_and_crc(fuzz):
    from twist_controller.unitree_io import LowState

    good = LowState()
    good.set("motor_state.q", np.concatenate([robot.DEFAULT_POSITION, np.zeros(6)]))
    wire = bytes(good.finalize())
    ref = LowState(bytearray(wire))

    def check(t):
        kind, data, flips = t
        if kind == "random":
            buf = bytearray(data)
        else:
            buf = bytearray(wire)
            for pos, bit in flips:
                buf[pos % len(buf)] ^= 1 << bit
        try:
            msg = LowState(buf)
        except ValueError:
            assert len(buf) < len(wire)
            return
        changed = [
            path
            for path in LowState.LAYOUT.fields
            if path != "crc" and msg.get(path).tobytes() != ref.get(path).tobytes()
        ]
        if changed and msg.crc == ref.crc:
            assert not msg.crc_ok(), f"changed {changed[:3]} but the CRC still matches"
        msg.motor("q"), msg.imu("quaternion")  # readable whatever the bytes

    fuzz(
        st.tuples(
            st.sampled_from(["random", "flip", "flip"]),
            st.binary(min_size=0, max_size=len(wire) + 8).map(
                lambda b: b if len(b) % 7 else (b + bytes(len(wire)))[: len(wire)]
            ),
            st.lists(st.tuples(st.integers(0, len(wire) - 1), st.integers(0, 7)), min_size=1, max_size=4),
        ),
        check,
    )


def test_fuzz_lowstate_values_into_safety(fuzz):
    """A LowState with a valid CRC but NaN IMU / impossible joints: STAND_UP or POLICY -> DAMPING."""
    from twist_controller.unitree_io import LowState

    def check(t):
        q, dq, quat, start_policy = t
        sm = _policy_sm()
        if not start_policy:
            sm.request(Request.DAMP, 3.0)
            sm.update_state(robot.DEFAULT_POSITION, np.zeros(N), [1, 0, 0, 0], 3.0)
            assert sm.request(Request.STAND, 3.0)[0]
        msg = LowState()
        msg.set("motor_state.q", np.resize(np.asarray(q, np.float32), 35))
        msg.set("motor_state.dq", np.resize(np.asarray(dq, np.float32), 35))
        msg.set("imu_state.quaternion", np.asarray(quat, np.float32))
        back = LowState(bytearray(msg.finalize()))
        assert back.crc_ok()
        bq, bdq, bquat = back.motor("q"), back.motor("dq"), back.imu("quaternion")
        sm.update_targets(robot.G1_JOINT_NAMES, robot.DEFAULT_POSITION, now=3.01)
        sm.update_state(bq, bdq, bquat, 3.01)
        was = sm.mode
        fault = sm._state_fault(3.01)
        cmd = sm.step(3.01)
        _assert_command_safe(cmd)
        bad = not (np.all(np.isfinite(bq)) and np.all(np.isfinite(bdq)) and np.all(np.isfinite(bquat)))
        over = np.any(bq < robot.POSITION_LOWER - 0.1) or np.any(bq > robot.POSITION_UPPER + 0.1)
        if bad or over:
            assert fault and sm.mode == Mode.DAMPING, (was, sm.mode, fault)
        if not fault:
            assert sm.mode == was

    quat = st.one_of(
        st.just([1.0, 0, 0, 0]),
        st.lists(nasty, min_size=4, max_size=4),
        st.lists(st.floats(-1, 1), min_size=4, max_size=4),
    )
    fuzz(st.tuples(near(N, 0.3, robot.DEFAULT_POSITION), near(N, 5.0), quat, st.booleans()), check)


def test_fuzz_lowcmd_into_simulator(fuzz, monkeypatch, tmp_path):
    """Whatever LowCmd reaches the simulator, physics stays finite (non-finite motors get zero torque;
    absurd finite gains overflow ctrl and MuJoCo resets the state, logging to MUJOCO_LOG.TXT in cwd)."""
    monkeypatch.chdir(tmp_path)
    from g1_bringup.simulator.sim_core import SimConfig, SimCore, command_from_lowcmd
    from twist_controller.unitree_io import LowCmd

    core = SimCore(SimConfig())

    def check(t):
        q, dq, tau, kp, kd, mode = t
        c = LowCmd()
        c.fill(q, dq, tau, kp, kd, mode=np.asarray(mode, np.uint8))
        core.set_command(command_from_lowcmd(LowCmd(bytearray(c.finalize()))))
        core.step(2)
        assert np.all(np.isfinite(core.q)) and np.all(np.isfinite(core.dq))
        assert np.all(np.abs(core.motor_torque()) <= robot.TORQUE_LIMIT + 1e-6)
        if not (np.all(np.isfinite(core.dq)) and np.max(np.abs(core.dq)) < 1e4):
            core.reset()

    g = near(N, 100.0)
    modes = st.lists(st.integers(0, 1), min_size=N, max_size=N)
    cmds = st.tuples(
        near(N, 1.0, robot.DEFAULT_POSITION), near(N, 5.0), g, g.map(np.abs), near(N, 3.0).map(np.abs), modes
    )
    fuzz(cmds, check)


# ============================================================================ policy outputs
def test_fuzz_policy_output(fuzz):
    from twist_controller.policy import LoadedPolicy, PolicyMetadata
    from twist_controller.policy_runtime import PolicyRuntime, ReferenceSample

    out = {"a": np.zeros(23)}
    pol = LoadedPolicy(lambda obs: out["a"][None].astype(np.float32), PolicyMetadata(), None, "fake")
    rt = PolicyRuntime(pol)
    ref = ReferenceSample(robot.DEFAULT_POSITION.copy(), 0.78, np.zeros(3), np.zeros(3), 0.0)
    now = [0.0]

    def check(a):
        out["a"] = np.asarray(a, float)
        now[0] += 0.02
        rt.set_reference(ref, now[0])
        rt.set_joint_state(robot.DEFAULT_POSITION, np.zeros(N), now[0])
        rt.set_imu(np.array([1.0, 0, 0, 0]), np.zeros(3), now[0])
        res = rt.step(now[0])
        a32 = out["a"].astype(np.float32)
        if not np.all(np.isfinite(a32)):
            assert res.targets is None and "NaN" in res.reason
            return
        assert res.targets is not None
        assert np.all(res.targets >= robot.POSITION_LOWER - 1e-9) and np.all(
            res.targets <= robot.POSITION_UPPER + 1e-9
        )
        sm = _policy_sm()  # and through the bridge's clip
        assert sm.update_targets(robot.G1_JOINT_NAMES, res.targets, kp=res.kp, kd=res.kd, now=3.01) == ""
        _assert_command_safe(sm.step(3.01))

    fuzz(st.one_of(near(23, 1.0), near(23, 1e6)), check)


# ============================================================================ teleop, redis, player
def test_fuzz_joystick_axes(fuzz):
    from g1_bringup.teleop_core import JoyTeleop, JoyTeleopConfig

    joy = JoyTeleop(JoyTeleopConfig(require_enable_button=False))

    def check(t):
        axes, buttons = t
        cmd = joy.update(axes, buttons)
        if cmd is not None:
            assert all(math.isfinite(c) for c in cmd), (axes, cmd)

    fuzz(st.tuples(arrays(0, 10), st.lists(st.integers(-5, 5), max_size=15)), check)


def test_fuzz_redis_payloads(fuzz):
    from g1_bringup import redis_layouts as rl

    payload = st.one_of(
        st.binary(max_size=64),
        st.text(max_size=64),
        st.lists(
            st.one_of(nasty, st.integers(), st.booleans(), st.none(), st.text(max_size=3)), max_size=40
        ).map(lambda v: __import__("json").dumps(v)),
        st.none(),
    )

    def check(p):
        try:
            v = rl.decode_mimic(p)
        except rl.LayoutError:
            return
        assert v.shape == (rl.MIMIC_SIZE,) and np.all(np.isfinite(v))
        rl.mimic_to_frame(v)

    fuzz(payload, check)


def test_fuzz_player_commands(fuzz):
    from g1_bringup.player_core import PlayerConfig, PlayerCore

    p = PlayerCore(PlayerConfig())

    def check(text):
        reply = p.command(text)
        assert isinstance(reply, str)
        p.step(0.02, horizon=1)

    words = st.sampled_from(
        ["play", "stop", "pause", "resume", "seek", "next", "speed", "loop", "nan", "inf", "-1e308", "0", "x"]
    )
    fuzz(st.one_of(st.text(max_size=30), st.lists(words, max_size=4).map(" ".join)), check)
