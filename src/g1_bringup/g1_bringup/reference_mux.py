"""reference_mux: choose which source drives ``/reference_motion``, with a blend on every switch.

Subscribes ``/reference_motion/<source>`` for each of ``sources`` (default cmg, player, external)
and republishes the active one on ``/reference_motion`` the moment its message arrives (no extra
latency). Staleness and stamps run on the node clock; with ``use_sim_time`` the output keeps the
source's stamp, and a reference stamped ahead of the node's /clock counts at its own stamp.
Logic in :mod:`g1_bringup.mux_core` (see its docstring for blends, fallback and heading).

Select at run time (both answer with a log line; the parameter service also returns the reason
when a name is unknown):

* topic ``/reference_source`` (std_msgs/String): ``cmg``, ``player``, ``external``, ``default``
  (built-in standing pose) or ``auto`` (first fresh source of ``priority``);
* parameter ``source`` (``ros2 param set /reference_mux source player``).

Status: ``/reference_mux/status`` (std_msgs/String, JSON: selected, active, blending, fresh,
received and rejected counts), published on change and at ``status_rate_hz``.

Parameters (config/reference_mux.yaml): ``sources``, ``input_prefix`` ("/reference_motion/"),
``output_topic`` ("/reference_motion"), ``source`` ("auto"), ``priority``, ``fallback``
(["cmg", "default"]: sources used while the selected one is stale; drop "default" to go silent
instead of standing), ``stale_timeout`` (0.2 s), ``blend_time`` (1.0 s), ``yaw_continuity`` (true),
``rate_hz`` (50, drives the built-in default source), ``status_rate_hz`` (2).
"""

from __future__ import annotations

import json
import sys

from rcl_interfaces.msg import SetParametersResult
from rclpy.node import Node
from std_msgs.msg import String

from g1_bringup.mux_core import Motion, MuxConfig, MuxCore
from twist_controller import intra_process
from twist_controller.node_main import run_node
from twist_controller.reference_msgs import frame_to_msg, msg_to_frame
from twist_controller.stamps import stamp_s
from twist_msgs.msg import ReferenceMotion

# --------------------------------------------------------------------------- message conversions
# (shared by motion_player and redis_bridge)


def msg_to_motion(msg: ReferenceMotion) -> Motion:
    """Message -> core Motion; raises ValueError for unreadable fields (validation is the core's)."""
    frames = [msg_to_frame(f) for f in msg.frames]
    c = msg.command
    return Motion(
        frames,
        float(msg.dt),
        str(msg.source),
        (float(c.linear.x), float(c.linear.y), float(c.angular.z)),
        bool(msg.revision),
    )


def motion_to_msg(node: Node, m: Motion, frame_id: str = "", stamp=None) -> ReferenceMotion:
    """``stamp`` (builtin_interfaces/Time): the time the motion is for; default the node clock's now."""
    msg = ReferenceMotion()
    msg.version = ReferenceMotion.VERSION
    msg.header.stamp = node.get_clock().now().to_msg() if stamp is None else stamp
    msg.header.frame_id = frame_id
    msg.dt = float(m.dt)
    msg.source = m.source
    msg.frames = [frame_to_msg(f) for f in m.frames]
    msg.command.linear.x, msg.command.linear.y, msg.command.angular.z = map(float, m.command)
    msg.revision = bool(m.revision)
    return msg


# --------------------------------------------------------------------------- node


class ReferenceMux(Node):
    def __init__(self, **node_kwargs) -> None:
        # node_kwargs: rclpy Node options (the node container passes this node's own cli_args)
        super().__init__("reference_mux", **node_kwargs)
        p = self.declare_parameter
        sources = tuple(str(s) for s in p("sources", ["cmg", "player", "external"]).value)
        prefix = str(p("input_prefix", "/reference_motion/").value)
        out_topic = str(p("output_topic", "/reference_motion").value)
        cfg = MuxConfig(
            sources=sources,
            initial=str(p("source", "auto").value),
            priority=tuple(str(s) for s in p("priority", ["player", "external", "cmg"]).value),
            fallback=tuple(str(s) for s in p("fallback", ["cmg", "default"]).value),
            stale_timeout=float(p("stale_timeout", 0.2).value),
            blend_time=float(p("blend_time", 1.0).value),
            yaw_continuity=bool(p("yaw_continuity", True).value),
        )
        rate = float(p("rate_hz", 50.0).value)
        status_rate = float(p("status_rate_hz", 2.0).value)
        try:
            self.core = MuxCore(cfg)
        except ValueError as exc:
            self.get_logger().error(f"{exc}; starting with 'auto'")
            cfg.initial = "auto"
            self.core = MuxCore(cfg)
        self.sim_time = bool(self.get_parameter("use_sim_time").value)
        self.pub = intra_process.create_publisher(self, ReferenceMotion, out_topic, 10)
        self.pub_status = self.create_publisher(String, "~/status", 10)
        for name in sources:
            topic = prefix + name
            intra_process.create_subscription(
                self, ReferenceMotion, topic, lambda m, n=name: self._on_input(n, m), 10
            )
        self.create_subscription(String, "/reference_source", self._on_select_topic, 10)
        self.add_on_set_parameters_callback(self._on_params)
        self.create_timer(1.0 / rate, self._tick)
        if status_rate > 0:
            self.create_timer(1.0 / status_rate, self._publish_status)
        self._last_active = None
        self.get_logger().info(
            f"sources {', '.join(prefix + s for s in sources)} -> {out_topic}; "
            f"selected '{self.core.selected}'"
        )

    def _now(self) -> float:
        """Node clock (simulated time with use_sim_time), s."""
        return self.get_clock().now().nanoseconds * 1e-9

    def _select(self, name: str, via: str) -> str:
        err = self.core.select(name)
        if err:
            self.get_logger().warning(f"{via}: {err}")
        else:
            self.get_logger().info(f"{via}: source '{name}' selected")
            self._publish_status()
        return err

    def _on_select_topic(self, msg: String) -> None:
        self._select(msg.data, "/reference_source")

    def _on_params(self, params) -> SetParametersResult:
        for prm in params:
            if prm.name == "source":
                err = self._select(str(prm.value), "parameter source")
                if err:
                    return SetParametersResult(successful=False, reason=err)
            elif prm.name == "blend_time":
                v = float(prm.value)
                if not 0.0 <= v <= 10.0:
                    return SetParametersResult(successful=False, reason="blend_time must be within [0, 10] s")
                self.core.cfg.blend_time = v
        return SetParametersResult(successful=True)

    def _on_input(self, name: str, msg: ReferenceMotion) -> None:
        now, stamp = self._now(), None
        if self.sim_time:
            # simulated time: the output keeps the source's stamp (a repeated message stays the
            # same reference downstream), and a reference stamped ahead of this node's /clock (a
            # lockstep tick not seen here yet) counts at its own time: same blend every run
            now, stamp = max(now, stamp_s(msg.header.stamp)), msg.header.stamp
        try:
            motion = msg_to_motion(msg)
        except (TypeError, ValueError) as exc:
            self.get_logger().warning(
                f"{name}: unreadable reference rejected ({exc})", throttle_duration_sec=2.0
            )
            return
        out, err = self.core.submit(name, motion, now)
        if err:
            self.get_logger().warning(f"{name}: reference rejected: {err}", throttle_duration_sec=2.0)
            return
        if out is not None:
            self._publish(out, stamp=stamp)

    def _tick(self) -> None:
        out = self.core.tick(self._now())
        if out is not None:
            self._publish(out)
        if self.core.resolve(self._now()) != self._last_active:
            self._log_active()

    def _publish(self, out: Motion, stamp=None) -> None:
        self.pub.publish(motion_to_msg(self, out, frame_id=self.core.active or "", stamp=stamp))
        if self.core.active != self._last_active:
            self._log_active()

    def _log_active(self) -> None:
        now = self._now()
        active = self.core.resolve(now)
        if active == self._last_active:
            return
        sel = self.core.selected
        why = "" if active == sel or sel == "auto" else f" (selected '{sel}' is stale: fallback)"
        if active is None:
            self.get_logger().warning("no fresh reference source: /reference_motion is silent")
        else:
            self.get_logger().info(f"active source: {active}{why}")
        self._last_active = active
        self._publish_status()

    def _publish_status(self) -> None:
        self.pub_status.publish(String(data=json.dumps(self.core.status(self._now()))))


def main(argv: list[str] | None = None) -> int:
    return run_node(ReferenceMux, argv)


if __name__ == "__main__":
    sys.exit(main())
