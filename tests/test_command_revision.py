"""A /cmd_vel between two CMG ticks reaches the targets without waiting for the next tick.

cmg_node and an event-driven policy_node run as real processes (wall time, as on the robot).
Every /cmd_vel is a new forward speed sent at a random phase of the 50 Hz tick; the probe policy
writes the reference's forward speed into every joint target, so each command can be followed
through both nodes. With ``revise_on_command`` the CMG redoes its last tick (``revision = true``,
the tick's own stamp) and the policy redoes its step: the command's targets are published before
the next tick. Without it, the command first shows up in the next tick. Either way the ticks keep
their 20 ms grid.
"""

from __future__ import annotations

import subprocess
import threading
import time
from pathlib import Path

import numpy as np
import pytest

rclpy = pytest.importorskip("rclpy", reason="needs the ROS venv (source scripts/env.sh)")
pytest.importorskip("twist_msgs.msg", reason="twist_msgs not built (run scripts/setup.sh)")

import stack_harness as H  # noqa: E402  (scripts/ is on sys.path, see conftest.py)
from geometry_msgs.msg import Twist, Vector3  # noqa: E402
from sensor_msgs.msg import Imu, JointState  # noqa: E402

from twist_controller import robot  # noqa: E402
from twist_msgs.msg import JointTargets, ReferenceMotion  # noqa: E402

pytestmark = pytest.mark.ros
INSTALL = Path(__file__).resolve().parents[1] / "install" / "lib"
SPEEDS = np.round(np.linspace(0.05, 0.95, 19), 3)  # distinct, inside the tiny CMG's range


def _start(exe: Path, env: dict, *params: str) -> subprocess.Popen:
    args = [str(exe), "--ros-args"] + [a for p in params for a in ("-p", p)]
    return subprocess.Popen(args, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)


def _ns(stamp) -> int:
    return stamp.sec * 1_000_000_000 + stamp.nanosec


def _run(ros_env, tmp_path, revise: bool) -> tuple[list, list, list]:
    """(commands [(wall, vx)], references [(wall, stamp ns, revision, vx)], targets [(wall, vx)])."""
    cmg = H.tiny_cmg(tmp_path / "cmg58.pt", root_channels=False)
    pol = H.probe_policy(tmp_path / "probe.pt")
    procs = [
        _start(INSTALL / "cmg_generator" / "cmg_node", ros_env, f"model_path:={cmg}",
               "max_accel:=[100.0,100.0,100.0]", f"revise_on_command:={str(revise).lower()}"),
        _start(INSTALL / "twist_controller" / "policy_node", ros_env, f"policy_path:={pol}",
               "event_driven:=true"),
    ]  # fmt: skip
    rclpy.init()
    node = rclpy.create_node("revision_tester")
    cmds: list = []
    refs: list = []
    targets: list = []
    default = np.asarray(robot.DEFAULT_POSITION, dtype=np.float64)
    idx = robot.POLICY_TO_FULL

    def on_ref(m: ReferenceMotion) -> None:
        refs.append((time.monotonic(), _ns(m.header.stamp), bool(m.revision), round(m.command.linear.x, 3)))

    def on_targets(m: JointTargets) -> None:
        off = H.policy_joint_offset(np.asarray(m.position, dtype=np.float64), idx, default[idx])
        targets.append((time.monotonic(), round(off / robot.ACTION_SCALE, 3)))

    node.create_subscription(ReferenceMotion, "/reference_motion", on_ref, 100)
    node.create_subscription(JointTargets, "/joint_targets", on_targets, 100)
    pub_cmd = node.create_publisher(Twist, "/cmd_vel", 10)
    pub_js = node.create_publisher(JointState, "/joint_states", 10)
    pub_imu = node.create_publisher(Imu, "/imu", 10)
    stop = threading.Event()

    def state_stream() -> None:  # the robot's state at ~200 Hz, as the bridge publishes it
        js = JointState(name=list(robot.G1_JOINT_NAMES), position=default.tolist(), velocity=[0.0] * 29)
        imu = Imu()
        imu.orientation.w = 1.0
        while not stop.is_set():
            pub_js.publish(js)
            pub_imu.publish(imu)
            time.sleep(0.005)

    spinner = threading.Thread(target=lambda: rclpy.spin(node), daemon=True)
    streamer = threading.Thread(target=state_stream, daemon=True)
    spinner.start()
    streamer.start()
    try:
        assert H.wait_for(lambda: len(targets) > 25, 40.0), "the nodes never produced targets"
        rng = np.random.default_rng(0)
        for vx in SPEEDS:
            time.sleep(rng.uniform(0.06, 0.1))  # a random phase of the 20 ms tick
            cmds.append((time.monotonic(), float(vx)))
            pub_cmd.publish(Twist(linear=Vector3(x=float(vx))))
        time.sleep(0.2)
    finally:
        stop.set()
        streamer.join()
        node.destroy_node()
        rclpy.shutdown()
        spinner.join(timeout=5)
        for p in procs:
            H.terminate(p)
    return cmds, refs, targets


@pytest.mark.parametrize("revise", [True, False], ids=["revise", "next_tick"])
def test_a_command_between_ticks_reaches_the_targets_before_the_next_tick(ros_env, tmp_path, revise):
    cmds, refs, targets = _run(ros_env, tmp_path, revise)
    ticks = [r for r in refs if not r[2]]
    revisions = [r for r in refs if r[2]]
    # the tick grid does not move: revisions are extra messages, not extra ticks
    gaps = np.diff([r[1] for r in ticks if r[0] >= cmds[0][0]]) * 1e-9
    assert abs(np.median(gaps) - 0.02) < 0.002, np.median(gaps)
    if not revise:
        assert not revisions
    before_next_tick = 0
    for t_cmd, vx in cmds:
        first_ref = next(r for r in refs if r[0] > t_cmd and r[3] == vx)
        first_target = next(t for t, v in targets if t > t_cmd and abs(v - vx) < 1e-3)
        if first_ref[2]:  # a revision: it carries the stamp of the tick it redoes (the last before it)
            redone = [r for r in ticks if r[0] < first_ref[0]][-1]
            assert first_ref[1] == redone[1]
            next_tick = next(r for r in ticks if r[0] > redone[0])
            before_next_tick += first_target < next_tick[0]
    # (a command in the last 20 % of a period is left to the tick: most are revised)
    if revise:
        assert len(revisions) >= 0.6 * len(cmds), (len(revisions), len(cmds))
        assert before_next_tick >= 0.6 * len(cmds), (before_next_tick, len(cmds))
