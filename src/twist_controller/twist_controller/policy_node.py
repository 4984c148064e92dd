"""policy_node: /reference_motion + /joint_states + /imu -> /joint_targets at 50 Hz.

Thin ROS shell around ``PolicyRuntime``. Parameters:

* ``controller`` (string): ``student`` (default: the student shipped in
  share/twist_controller/policies), ``expert_fastsac`` or ``expert_ppo`` (the holosoma walking
  experts installed by set-up; they follow the command carried by /reference_motion, i.e. /cmd_vel
  after the CMG's clamp, rate limit and timeout).
* ``policy_path`` (string): a policy file (.pt TorchScript or .onnx with metadata), or
  ``expert:fastsac``; overrides ``controller``. When nothing loads the node runs but never
  publishes targets and says so.
* ``policy_compat`` (string): "" or "twist_upstream" (upstream TWIST student TorchScript).
* ``rate_hz`` (50.0), ``reference_timeout`` (0.1 s), ``state_timeout`` (0.1 s).
* ``event_driven`` (false): instead of a ``rate_hz`` timer, compute once per reference, the moment
  it arrives: the CMG tick is the control clock and a command reaches the targets without waiting
  for a second timer (docs/sim_time.md, "one tick from command to motor").

  - With ``use_sim_time`` (the sim graph): once a joint state + IMU at least as new (header stamps)
    have arrived too, and the targets carry the reference's stamp; staleness compares header
    stamps, with the reference's stamp as "now". Each stamp is stepped once and in order (a
    reference not newer than the last step's is skipped).
  - On wall time (the robot, the real-time sim): at once, with the newest state (its age checked
    on receipt, as in timer mode). If no reference came for ``2 / rate_hz`` s the node steps on its
    own timer with the last one (fresh state, the reference still subject to
    ``reference_timeout``), so a late CMG tick does not leave the robot on a held target.
    A reference marked ``revision`` (cmg_node redid its tick for a command that arrived between
    ticks) redoes the last step instead of taking a new one, when that step was taken on a
    reference less than a period ago: the policy's history keeps one entry per tick.

Otherwise staleness runs on the node clock at receipt (simulated time with ``use_sim_time``).

On missing/stale/bad inputs it publishes no targets (the bridge then damps) and logs the reason,
throttled. Publishes its per-step compute time on ``~/step_latency`` (std_msgs/Float32, seconds).
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
from rclpy.node import Node
from rclpy.qos import qos_profile_sensor_data
from sensor_msgs.msg import Imu, JointState
from std_msgs.msg import Float32

from twist_controller import intra_process, robot
from twist_controller.node_main import run_node
from twist_controller.policy import PolicyLoadError, load_policy
from twist_controller.policy_runtime import PolicyRuntime, PolicyRuntimeConfig, ReferenceSample
from twist_controller.stamps import stamp_ns, time_msg_ns
from twist_msgs.msg import JointTargets, ReferenceMotion

SHIPPED_POLICY_NAMES = ("g1_student.onnx", "g1_student.pt")
CONTROLLERS = ("student", "expert_fastsac", "expert_ppo")


def shipped_policy() -> str:
    """The student policy installed in share/twist_controller/policies, or '' when none is shipped."""
    try:
        from ament_index_python.packages import get_package_share_directory

        share = Path(get_package_share_directory("twist_controller")) / "policies"
    except Exception:  # no package index (running from source)
        share = Path(__file__).resolve().parents[1] / "policies"
    for name in SHIPPED_POLICY_NAMES:
        if (share / name).is_file():
            return str(share / name)
    return ""


class PolicyNode(Node):
    def __init__(self, **node_kwargs) -> None:
        # node_kwargs: rclpy Node options (the node container passes this node's own cli_args)
        super().__init__("policy_node", **node_kwargs)
        path = self.declare_parameter("policy_path", "").value
        controller = str(self.declare_parameter("controller", "student").value or "student")
        compat = self.declare_parameter("policy_compat", "").value or None
        rate = float(self.declare_parameter("rate_hz", 50.0).value)
        cfg = PolicyRuntimeConfig(
            reference_timeout=float(self.declare_parameter("reference_timeout", 0.1).value),
            state_timeout=float(self.declare_parameter("state_timeout", 0.1).value),
        )
        self.runtime: PolicyRuntime | None = None
        if not path:
            path = shipped_policy() if controller == "student" else controller
            if controller not in CONTROLLERS:
                self.get_logger().error(
                    f"unknown controller {controller!r} (known: {', '.join(CONTROLLERS)}): "
                    "this node will not command the robot"
                )
                path = ""
        if not path:
            self.get_logger().error(
                "no policy_path set and no student policy is shipped in this install: "
                "this node will not command the robot (the bridge keeps it standing or damps)"
            )
        else:
            try:
                import torch

                torch.set_num_threads(1)  # one core is plenty at batch 1; leave the rest to the sim
                self.runtime = PolicyRuntime(load_policy(path, compat=compat), cfg)
                meta = self.runtime.policy.metadata
                self.get_logger().info(
                    f"loaded policy {self.runtime.policy.path} ({self.runtime.policy.backend}, "
                    f"layout {meta.observation_layout}, {len(meta.action_joint_names)} actions, "
                    f"action scale {meta.action_scale}, its own kp/kd)"
                )
            except (PolicyLoadError, ValueError) as exc:
                self.get_logger().error(f"cannot load policy: {exc}. This node will not command the robot.")
        self._name_to_index = {n: i for i, n in enumerate(robot.G1_JOINT_NAMES)}
        intra_process.create_subscription(self, ReferenceMotion, "/reference_motion", self._on_reference, 10)
        self.create_subscription(JointState, "/joint_states", self._on_joint_states, qos_profile_sensor_data)
        self.create_subscription(Imu, "/imu", self._on_imu, qos_profile_sensor_data)
        self.pub_targets = self.create_publisher(JointTargets, "/joint_targets", 10)
        self.pub_latency = self.create_publisher(Float32, "~/step_latency", 10)
        self.event_driven = bool(self.declare_parameter("event_driven", False).value)
        # event_driven on simulated time waits for a state as new as the reference (header stamps);
        # on wall time stamps from other processes (or machines) are not compared: receipt times are
        self._stamp_sync = self.event_driven and bool(self.get_parameter("use_sim_time").value)
        self._ref_stamp: int | None = None  # ns, newest accepted reference (event_driven)
        self._done_stamp: int | None = None
        self._js_stamp = self._imu_stamp = -1
        self._period = 1.0 / rate
        self._last_step = -1e9  # node-clock time of the last step (event_driven on wall time)
        self._stepped_on_reference = False  # the last step was a reference's (event_driven on wall time)
        if not self.event_driven:
            # zero arguments: the events executor passes a TimerInfo to a callback that takes one
            self.create_timer(self._period, lambda: self._tick())
        elif not self._stamp_sync:
            self.create_timer(self._period, self._fallback_tick)
        self._last_reason = ""
        self._last_warn = -1e9

    def _now(self) -> float:
        return self.get_clock().now().nanoseconds * 1e-9

    def _input_time(self, msg) -> float:
        """When an input counts as taken: its header stamp in event_driven mode on simulated time
        (the step's "now" is then the reference's stamp, so ages compare production times, whatever
        order the executor delivered them in), else the node clock at receipt."""
        return stamp_ns(msg.header.stamp) * 1e-9 if self._stamp_sync else self._now()

    def _warn(self, text: str) -> None:
        self.get_logger().warning(text, throttle_duration_sec=2.0)

    def _on_reference(self, msg: ReferenceMotion) -> None:
        if self.runtime is None:
            return
        if not msg.frames:
            self._warn("reference_motion without frames ignored")
            return
        f = msg.frames[0]
        sample = ReferenceSample(
            joint_pos=np.asarray(f.joint_positions, dtype=np.float64),
            root_height=float(f.root_height),
            root_rpy=np.array([f.root_roll, f.root_pitch, f.root_yaw], dtype=np.float64),
            root_lin_vel_local=np.array(
                [f.root_linear_velocity.x, f.root_linear_velocity.y, f.root_linear_velocity.z]
            ),
            root_yaw_rate=float(f.root_yaw_rate),
            command=np.array([msg.command.linear.x, msg.command.linear.y, msg.command.angular.z]),
        )
        err = self.runtime.set_reference(sample, self._input_time(msg))
        if err:
            self._warn(f"reference rejected: {err}")
        elif self._stamp_sync:
            self._ref_stamp = stamp_ns(msg.header.stamp)
            self._maybe_step()
        elif self.event_driven:
            redo = (
                msg.revision and self._stepped_on_reference and self._now() - self._last_step < self._period
            )
            self._tick(redo=redo)
            self._stepped_on_reference = True

    def _fallback_tick(self) -> None:
        """event_driven on wall time: step with the last reference when none came for 2 periods."""
        if self._now() - self._last_step >= 2.0 * self._period - 1e-3:
            self._tick()
            self._stepped_on_reference = False

    def _maybe_step(self) -> None:
        """event_driven on simulated time: one step per reference stamp, in stamp order, once the
        state caught up with it.

        A reference not newer than the last step's is not stepped: under lockstep slack the mux can
        send a held repeat stamped with a boundary whose CMG tick is still on its way, and the tick
        then arrives after it (the same stamp) or behind a newer one. Stepping those put the
        policy's history out of order (measured: 54 of 2,076 steps in a loaded 60 s run). Simulated
        time more than ``RESTART_NS`` (1 s) behind the last step is a restarted simulator: start again."""
        r = self._ref_stamp
        if r is None or min(self._js_stamp, self._imu_stamp) < r:
            return
        done = self._done_stamp
        if done is not None and r <= done:
            if done - r <= RESTART_NS:
                return
            self.get_logger().warning("simulated time went back: a restarted simulator, stepping on")
        self._done_stamp = r
        self._tick(stamp=time_msg_ns(r))

    def _on_joint_states(self, msg: JointState) -> None:
        if self.runtime is None:
            return
        if len(msg.name) != len(msg.position) or (msg.velocity and len(msg.velocity) != len(msg.name)):
            self._warn("joint_states with mismatched array lengths ignored")
            return
        q = np.full(robot.NUM_JOINTS, np.nan)
        dq = np.zeros(robot.NUM_JOINTS) if not msg.velocity else np.full(robot.NUM_JOINTS, np.nan)
        for k, name in enumerate(msg.name):
            i = self._name_to_index.get(name)
            if i is None:
                continue
            q[i] = msg.position[k]
            if msg.velocity:
                dq[i] = msg.velocity[k]
        err = self.runtime.set_joint_state(q, dq, self._input_time(msg))
        if err:
            self._warn(f"joint_states rejected: {err} (all 29 G1 joints must be present)")
        elif self._stamp_sync:
            self._js_stamp = stamp_ns(msg.header.stamp)
            self._maybe_step()

    def _on_imu(self, msg: Imu) -> None:
        if self.runtime is None:
            return
        o, w = msg.orientation, msg.angular_velocity
        err = self.runtime.set_imu(
            np.array([o.w, o.x, o.y, o.z]), np.array([w.x, w.y, w.z]), self._input_time(msg)
        )
        if err:
            self._warn(f"imu rejected: {err}")
        elif self._stamp_sync:
            self._imu_stamp = stamp_ns(msg.header.stamp)
            self._maybe_step()

    def _tick(self, stamp=None, redo: bool = False) -> None:
        if self.runtime is None:
            return
        self._last_step = self._now()
        result = self.runtime.step(self._last_step if stamp is None else stamp_ns(stamp) * 1e-9, redo=redo)
        if result.targets is None:
            # once per cause (the text before the ages in parentheses), at most once per second
            cause = result.reason.split(" (")[0]
            if cause != self._last_reason and self._now() - self._last_warn >= 1.0:
                self.get_logger().warning(f"not commanding: {result.reason}")
                self._last_reason, self._last_warn = cause, self._now()
            return
        if self._last_reason:
            self.get_logger().info("inputs fresh: commanding")
            self._last_reason = ""
        msg = JointTargets()
        msg.header.stamp = self.get_clock().now().to_msg() if stamp is None else stamp
        msg.joint_names = list(robot.G1_JOINT_NAMES)
        msg.position = result.targets.astype(np.float32)
        msg.velocity = np.zeros(robot.NUM_JOINTS, dtype=np.float32)
        msg.effort = np.zeros(robot.NUM_JOINTS, dtype=np.float32)
        msg.kp = result.kp.astype(np.float32)
        msg.kd = result.kd.astype(np.float32)
        self.pub_targets.publish(msg)
        self.pub_latency.publish(Float32(data=float(result.compute_time)))


RESTART_NS = 1_000_000_000  # simulated time this far behind the last step = a restarted simulator


def main(argv: list[str] | None = None) -> int:
    return run_node(PolicyNode, argv)


if __name__ == "__main__":
    sys.exit(main())
