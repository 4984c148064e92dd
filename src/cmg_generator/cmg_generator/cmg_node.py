"""cmg_node: /cmd_vel -> CMG -> /reference_motion at 50 Hz.

Parameters (config/cmg_node.yaml):

* ``model_path``: CMG artifact (.pt), TorchScript or ONNX export, or an upstream ONNX with
  ``stats_yaml``; empty -> the model shipped in share/cmg_generator/models.
* ``stats_yaml``: ``cmg_stats.yaml`` for upstream ONNX models.
* ``rate_hz`` (50), ``cmd_vel_timeout`` (0.5 s; then the command ramps to zero = stand),
  ``cmd_vel_stamped`` (false: geometry_msgs/Twist; true: TwistStamped), ``horizon`` (look-ahead
  frames after frames[0]), ``max_accel`` ([vx, vy, yaw] per second: command rate limit).

Time: every staleness check and the tick run on the node clock. With ``use_sim_time`` (simulation)
the node ticks on ``/clock`` itself: once per ``rate_hz`` period of simulated time, at the first
clock message of each period (the simulator publishes one at every control boundary), stamping the
reference with that time; while simulated time stands still (a lockstep simulator holding at
t = 0) the last reference is repeated every 0.1 s of wall time, so nodes that start later get it.

Wall time (the real robot) with ``revise_on_command`` (default true): a /cmd_vel that changes the
command between two ticks does not wait for the next one. The node redoes the tick it last
published with the new command (same frame time, same model history;
:meth:`CMGGenerator.revise`) and publishes that with ``revision = true``; the policy then redoes its
step instead of taking a new one. A command reaches the motors a few ms after it arrives instead
of 0-20 ms later, and the motion keeps one frame per 20 ms. At most one revision per tick (a
flood of /cmd_vel costs at most double the model steps), none in the last 20 % of a period
(the tick takes it) and none on simulated time (a lockstep run applies a command at the same tick
every time).

A TwistStamped (``cmd_vel_stamped``) whose stamp lies ahead of the node clock takes effect at its
stamp (up to ``max_cmd_lead`` s ahead, 128 queued): a scripted sender can schedule its commands
in simulated time, so a lockstep run applies them at the same tick every time (eval_stack).

A model that cannot be loaded leaves the node running without publishing (downstream nodes see a
stale reference and the bridge damps); the reason is logged.
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

import numpy as np
from geometry_msgs.msg import Twist, TwistStamped
from rclpy.node import Node

from cmg_generator.command_input import CommandInput, CommandInputConfig
from twist_controller import intra_process
from twist_controller.node_main import run_node
from twist_controller.reference_msgs import frame_to_msg
from twist_controller.stamps import stamp_ns, stamp_s
from twist_msgs.msg import ReferenceMotion

SHIPPED_MODEL_NAMES = ("cmg_g1_small.pt", "cmg_g1.pt")


def shipped_model() -> Path | None:
    """The CMG artifact installed with this package, if any."""
    try:
        from ament_index_python.packages import get_package_share_directory

        share = Path(get_package_share_directory("cmg_generator")) / "models"
    except Exception:  # package index not available (e.g. running from source)
        share = Path(__file__).resolve().parents[1] / "models"
    for name in SHIPPED_MODEL_NAMES:
        if (share / name).is_file():
            return share / name
    found = sorted(share.glob("*.pt")) if share.is_dir() else []
    return found[0] if found else None


class CMGNode(Node):
    def __init__(self, **node_kwargs) -> None:
        # node_kwargs: rclpy Node options (the node container passes this node's own cli_args)
        super().__init__("cmg_node", **node_kwargs)
        model_path = str(self.declare_parameter("model_path", "").value)
        stats_yaml = str(self.declare_parameter("stats_yaml", "").value) or None
        rate = float(self.declare_parameter("rate_hz", 50.0).value)
        timeout = float(self.declare_parameter("cmd_vel_timeout", 0.5).value)
        stamped = bool(self.declare_parameter("cmd_vel_stamped", False).value)
        self.horizon = max(0, int(self.declare_parameter("horizon", 0).value))
        max_accel = list(self.declare_parameter("max_accel", [1.0, 1.0, 2.0]).value)
        mirror_average = bool(self.declare_parameter("mirror_average", True).value)
        self.input = CommandInput(CommandInputConfig(timeout=timeout))
        self.generator = None
        path = Path(model_path) if model_path else shipped_model()
        if path is None:
            self.get_logger().error("no CMG model: set model_path (none is shipped in this install)")
        else:
            try:
                from cmg_generator.runtime import CMGGenerator, GeneratorOptions

                opts = GeneratorOptions(
                    max_accel=tuple(float(a) for a in max_accel), mirror_average=mirror_average
                )
                self.generator = CMGGenerator.load(path, stats_yaml=stats_yaml, options=opts)
                lo, hi = self.generator.command_low, self.generator.command_high
                self.get_logger().info(f"CMG {path.name}: command range low {lo.round(2)} high {hi.round(2)}")
            except Exception as exc:  # a broken file must not take the node down
                self.get_logger().error(f"cannot load CMG model {path}: {exc}")
        self.max_cmd_lead = float(self.declare_parameter("max_cmd_lead", 2.0).value)
        sim_time = bool(self.get_parameter("use_sim_time").value)
        self.revise_on_command = (
            bool(self.declare_parameter("revise_on_command", True).value) and not sim_time
        )
        self._tick_stamp = None  # stamp of the tick a revision would redo (None: nothing to redo)
        self._tick_time = -1e9  # node clock of that tick
        self._revised = False
        self._scheduled: list[tuple[float, Twist]] = []  # future-stamped commands, by stamp
        if stamped:
            self.create_subscription(TwistStamped, "/cmd_vel", self._on_cmd_stamped, 50)
        else:
            self.create_subscription(Twist, "/cmd_vel", self._on_cmd, 10)
        self.pub = intra_process.create_publisher(self, ReferenceMotion, "/reference_motion", 10)
        self._was_stale = True
        self._period_ns = round(1e9 / rate)
        self._last_k: int | None = None
        self._last_tick_ns = -1
        self._last_msg: ReferenceMotion | None = None
        self._last_pub_wall = 0.0
        if sim_time:
            from rosgraph_msgs.msg import Clock

            self.create_subscription(Clock, "/clock", self._on_clock, 10)
        else:
            # a zero-argument callback: rclpy's events executor passes a TimerInfo to any timer
            # callback that takes an argument, and _tick's first one is the time
            self.create_timer(1.0 / rate, lambda: self._tick())

    def _now(self) -> float:
        return self.get_clock().now().nanoseconds * 1e-9

    def _on_clock(self, msg) -> None:
        """Simulated time: tick once per period, at the first clock message inside it."""
        t_ns = stamp_ns(msg.clock)
        k = t_ns // self._period_ns
        if self._last_k is None or k > self._last_k:
            self._last_k, self._last_tick_ns = k, t_ns
            self._tick(t_ns * 1e-9, msg.clock)
        elif k < self._last_k:  # time went backwards (simulator restarted): start again
            self.get_logger().warning("simulated time went backwards: restarting the tick grid")
            self._last_k, self._last_tick_ns = k, t_ns
            self._tick(t_ns * 1e-9, msg.clock)
        elif (
            t_ns == self._last_tick_ns  # time stands still (a lockstep simulator holding at t = 0)
            and self._last_msg is not None
            and time.monotonic() - self._last_pub_wall >= 0.1
        ):
            self._last_pub_wall = time.monotonic()
            self.pub.publish(self._last_msg)  # time stands still: repeat for late subscribers

    def _on_cmd(self, twist: Twist, at: float | None = None) -> None:
        err = self.input.submit(
            twist.linear.x, twist.linear.y, twist.angular.z, self._now() if at is None else at
        )
        if err:
            self.get_logger().warning(err, throttle_duration_sec=2.0)
        elif at is None and self.revise_on_command:
            self._maybe_revise()

    def _maybe_revise(self) -> None:
        """Redo the last tick with the command that just arrived (see the module doc)."""
        if self.generator is None or self._tick_stamp is None or self._revised:
            return
        now = self._now()
        if now - self._tick_time > 0.8 * self._period_ns * 1e-9:
            return
        cmd = self.input.current(now)
        if np.allclose(self.generator.filter.clamp(np.asarray(cmd, dtype=np.float64)), self.generator.target):
            return  # the tick was made from this command already
        try:
            motion = self.generator.revise(cmd, horizon=self.horizon)
        except Exception as exc:  # the next tick carries on from the unrevised state
            self.get_logger().error(f"CMG revision failed ({exc})", throttle_duration_sec=2.0)
            return
        self._revised = True
        self._publish(motion, self._tick_stamp, revision=True)

    def _on_cmd_stamped(self, msg: TwistStamped) -> None:
        at = stamp_s(msg.header.stamp)
        now = self._now()
        if at <= now:
            self._on_cmd(msg.twist)
        elif at - now > self.max_cmd_lead or len(self._scheduled) >= 128:
            self.get_logger().warning(
                f"/cmd_vel stamped {at - now:.2f} s ahead ignored "
                f"(at most {self.max_cmd_lead} s ahead, 128 queued)",
                throttle_duration_sec=2.0,
            )
        else:
            self._scheduled.append((at, msg.twist))
            self._scheduled.sort(key=lambda e: e[0])

    def _apply_scheduled(self, now: float) -> None:
        while self._scheduled and self._scheduled[0][0] <= now + 1e-6:
            at, twist = self._scheduled.pop(0)
            self._on_cmd(twist, at)

    def _tick(self, now: float | None = None, stamp=None) -> None:
        if self.generator is None:
            return
        now = self._now() if now is None else now
        self._apply_scheduled(now)
        stale = self.input.is_stale(now)
        if stale and not self._was_stale:
            self.get_logger().info("/cmd_vel timed out: ramping to standing")
        self._was_stale = stale
        try:
            motion = self.generator.step(self.input.current(now), horizon=self.horizon)
        except Exception as exc:  # keep the node alive; restart the generator from standing
            self.get_logger().error(
                f"CMG step failed ({exc}); resetting to standing", throttle_duration_sec=2.0
            )
            self.generator.reset()
            self._tick_stamp = None
            return
        stamp = self.get_clock().now().to_msg() if stamp is None else stamp
        self._tick_time, self._tick_stamp, self._revised = now, stamp, False
        self._publish(motion, stamp)

    def _publish(self, motion, stamp, revision: bool = False) -> None:
        msg = ReferenceMotion()
        msg.version = ReferenceMotion.VERSION
        msg.header.stamp = stamp
        msg.header.frame_id = "cmg"
        msg.revision = revision
        msg.dt = float(motion.dt)
        msg.source = motion.source
        msg.frames = [frame_to_msg(f) for f in motion.frames]
        cmd = np.asarray(motion.command, dtype=np.float64)
        msg.command.linear.x, msg.command.linear.y, msg.command.angular.z = map(float, cmd)
        self.pub.publish(msg)
        self._last_msg, self._last_pub_wall = msg, time.monotonic()


def main(argv: list[str] | None = None) -> int:
    return run_node(CMGNode, argv)


if __name__ == "__main__":
    sys.exit(main())
