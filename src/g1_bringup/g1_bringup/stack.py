"""stack: run the G1 graph as processes, without ``ros2 launch`` (the README's run command).

Resolves ``g1_bringup.graph`` exactly as the generated launch files do, starts every enabled node
from ``install/lib/<package>/<executable>`` with ``--ros-args`` (params files, overrides, node
name), prefixes each node's output with its name, prints one status line per second, and stops
everything cleanly on Ctrl-C. When a required node dies the whole stack stops with a non-zero
exit status, because a half-running robot stack is worse than a stopped one.
"""

from __future__ import annotations

import argparse
import os
import shlex
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from g1_bringup.graph import GRAPHS, Arg, Container, Graph, NodeSpec

TRUE_WORDS = ("1", "true", "yes", "on")


def install_prefix() -> Path:
    """The colcon install space this package runs from (…/install)."""
    for key in ("COLCON_PREFIX_PATH", "AMENT_PREFIX_PATH"):
        for entry in os.environ.get(key, "").split(os.pathsep):
            if entry and (Path(entry) / "share" / "g1_bringup").is_dir():
                return Path(entry)
    here = Path(__file__).resolve()
    for parent in here.parents:
        if (parent / "share" / "g1_bringup").is_dir():
            return parent
    raise RuntimeError("cannot find the install space; run scripts/setup.sh and source scripts/env.sh")


def die_with_parent(sig: int = signal.SIGKILL) -> Callable[[], None]:
    """A ``preexec_fn`` for ``subprocess.Popen``: the child gets ``sig`` when the thread that
    started it dies, however it dies (Linux ``PR_SET_PDEATHSIG``; a no-op where prctl is missing)."""

    def set_parent_death_signal() -> None:
        try:
            import ctypes

            ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, sig)  # 1 = PR_SET_PDEATHSIG
        except Exception:
            pass

    return set_parent_death_signal


def resolve(value: object, args: dict[str, str]) -> str:
    if isinstance(value, Arg):
        return args[value.name]
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def is_enabled(node: NodeSpec, args: dict[str, str]) -> bool:
    return node.enabled_by is None or args[node.enabled_by].lower() in TRUE_WORDS


def node_command(node: NodeSpec, args: dict[str, str], prefix: Path) -> list[str]:
    """The command line that runs ``node`` like launch_ros would."""
    exe = prefix / "lib" / node.package / node.executable
    cmd = [str(exe), "--ros-args", "-r", f"__node:={node.name}"]
    for f in node.param_files:
        path = prefix / "share" / node.package / "config" / resolve(f, args)
        cmd += ["--params-file", str(path)]
    for key, value in node.parameters.items():
        text = resolve(value, args)
        if text == "":
            continue  # an empty launch argument means "use the node's default"
        cmd += ["-p", f"{key}:={text}"]
    for src, dst in node.remappings:
        cmd += ["-r", f"{src}:={dst}"]
    return cmd


def container_command(container: Container, members: list[tuple[str, list[str]]], prefix: Path) -> list[str]:
    """The command line of ``node_container`` running ``members`` ((executable, the command line
    it would run alone with), in order): each one's arguments in a ``--node EXECUTABLE --ros-args
    ... --`` block."""
    cmd = [str(prefix / "lib" / container.package / container.executable)]
    for topic in container.intra_process:
        cmd += ["--intra-process", topic]
    for executable, alone in members:
        cmd += ["--node", executable, *alone[1:], "--"]
    return [*cmd, "--ros-args", "-r", f"__node:={container.name}"]


def plan_processes(
    graph: Graph, nodes: list[NodeSpec], args: dict[str, str], prefix: Path
) -> tuple[list[NodeSpec], dict[str, list[str]]]:
    """The processes that run ``nodes`` (the enabled ones): one per node, except that the members of
    an enabled container share its process (it takes the place of its first member, required if
    any member is). Returns the process specs and their command lines, by process name."""
    procs: list[NodeSpec] = []
    commands: dict[str, list[str]] = {}
    placed: set[str] = set()
    for node in nodes:
        c = graph.container_of(node.name)
        if c is None or args.get(c.enabled_by, "false").lower() not in TRUE_WORDS:
            procs.append(node)
            commands[node.name] = node_command(node, args, prefix)
            continue
        if c.name in placed:
            continue
        placed.add(c.name)
        members = [n for n in nodes if n.name in c.members]
        procs.append(NodeSpec(c.name, c.package, c.executable, required=any(n.required for n in members)))
        commands[c.name] = container_command(
            c, [(n.executable, node_command(n, args, prefix)) for n in members], prefix
        )
    return procs, commands


def missing_pieces(graph: Graph, args: dict[str, str], prefix: Path) -> list[str]:
    """Executables and parameter files an enabled node (or container) needs but the install space lacks."""
    _, commands = plan_processes(graph, [n for n in graph.nodes if is_enabled(n, args)], args, prefix)
    return missing_in(commands)


def missing_in(commands: dict[str, list[str]]) -> list[str]:
    """The executables and ``--params-file`` files of these command lines that do not exist."""
    problems = []
    for name, cmd in commands.items():
        if not os.access(cmd[0], os.X_OK):
            problems.append(f"{name}: executable {cmd[0]} not installed")
        for i, part in enumerate(cmd):
            if part == "--params-file" and not Path(cmd[i + 1]).is_file():
                problems.append(f"{name}: parameter file {cmd[i + 1]} missing")
    return problems


@dataclass
class Running:
    node: NodeSpec
    proc: subprocess.Popen


def _pump(name: str, stream, width: int) -> None:
    for line in iter(stream.readline, ""):
        sys.stdout.write(f"[{name:<{width}}] {line}")
        sys.stdout.flush()


@dataclass
class StatusState:
    """What the status line shows; filled by StatusMonitor's subscriptions."""

    mode: str = "?"
    faults: tuple[str, ...] = ()
    client_cmd: tuple[float, float, float] | None = None  # last /cmd_vel (any client)
    client_cmd_at: float | None = None  # monotonic s when it arrived
    cmg_cmd: tuple[float, float, float] | None = None  # what the CMG generates from (clamped, rate-limited)
    source: str = ""  # reference source the policy follows (reference_mux's output)
    odom: tuple[float, float, float] = (float("nan"),) * 3
    policy_ms: float = float("nan")


def _v3(v: tuple[float, float, float]) -> str:
    return f"vx {v[0]:+.2f} vy {v[1]:+.2f} wz {v[2]:+.2f}"


def status_line(st: StatusState, now: float, cmd_timeout: float) -> str:
    """One line: controller mode, what the CMG executes, the client command and whether it timed out
    (the CMG then ramps to standing however the client's last command read), odometry, policy cost.

    The CMG's command is the one that counts: the client's may have been clamped, rate-limited or
    dropped by the /cmd_vel timeout (cmg_node's cmd_vel_timeout)."""
    cmg = _v3(st.cmg_cmd) if st.cmg_cmd is not None else "(no CMG output)"
    if st.client_cmd is None or st.client_cmd_at is None:
        client = "none yet"
    else:
        age = now - st.client_cmd_at
        client = _v3(st.client_cmd)
        if age > cmd_timeout:
            client += f" TIMED OUT {age:.1f} s ago -> standing"
    source = f" [{st.source}]" if st.source and st.source != "cmg" else ""
    fault = f" faults: {'; '.join(st.faults)}" if st.faults else ""
    return (
        f"mode {st.mode:<11} cmg {cmg}{source} | client {client} | "
        f"odom {_v3(st.odom)} | policy {st.policy_ms:.2f} ms{fault}"
    )


def cmd_vel_timeout(prefix: Path | None, default: float = 0.5) -> float:
    """cmg_node's cmd_vel_timeout from its installed parameter file (the value the node runs with)."""
    try:
        import yaml

        cfg = yaml.safe_load((prefix / "share" / "cmg_generator" / "config" / "cmg_node.yaml").read_text())
        return float(cfg["cmg_node"]["ros__parameters"]["cmd_vel_timeout"])
    except Exception:
        return default


class StatusMonitor:
    """A small rclpy node printing mode, what the CMG executes vs the client's command, measured
    velocity and the policy's cost once a second."""

    def __init__(self, cmd_timeout: float = 0.5, stamped: bool = False) -> None:
        import rclpy
        from geometry_msgs.msg import Twist, TwistStamped
        from nav_msgs.msg import Odometry
        from rclpy.qos import qos_profile_sensor_data
        from rclpy.signals import SignalHandlerOptions
        from std_msgs.msg import Float32

        from twist_msgs.msg import ControllerState, ReferenceMotion

        # no rclpy signal handlers: Ctrl-C is the runner's (KeyboardInterrupt), not a context shutdown
        rclpy.init(args=[], signal_handler_options=SignalHandlerOptions.NO)
        self.rclpy = rclpy
        self.node = rclpy.create_node("stack_status")
        self.state = StatusState()
        self.cmd_timeout = cmd_timeout
        self.node.create_subscription(ControllerState, "/controller_state", self._on_state, 10)
        if stamped:
            self.node.create_subscription(TwistStamped, "/cmd_vel", lambda m: self._on_cmd(m.twist), 10)
        else:
            self.node.create_subscription(Twist, "/cmd_vel", self._on_cmd, 10)
        self.node.create_subscription(ReferenceMotion, "/reference_motion/cmg", self._on_cmg, 10)
        self.node.create_subscription(ReferenceMotion, "/reference_motion", self._on_ref, 10)
        self.node.create_subscription(Odometry, "/odom", self._on_odom, qos_profile_sensor_data)
        self.node.create_subscription(Float32, "/policy_node/step_latency", self._on_latency, 10)
        self._thread = threading.Thread(target=self._spin, daemon=True)
        self._thread.start()

    def _spin(self) -> None:
        while self.rclpy.ok():
            try:
                self.rclpy.spin_once(self.node, timeout_sec=0.1)
            except Exception:  # shutdown races are harmless here
                return

    def _on_state(self, m) -> None:
        self.state.mode, self.state.faults = m.mode_name, tuple(m.faults)

    def _on_cmd(self, m) -> None:
        self.state.client_cmd = (m.linear.x, m.linear.y, m.angular.z)
        self.state.client_cmd_at = time.monotonic()

    def _on_cmg(self, m) -> None:
        c = m.command
        self.state.cmg_cmd = (c.linear.x, c.linear.y, c.angular.z)

    def _on_ref(self, m) -> None:
        self.state.source = m.source

    def _on_odom(self, m) -> None:
        t = m.twist.twist
        self.state.odom = (t.linear.x, t.linear.y, t.angular.z)

    def _on_latency(self, m) -> None:
        self.state.policy_ms = m.data * 1000.0

    def line(self) -> str:
        return status_line(self.state, time.monotonic(), self.cmd_timeout)

    def close(self) -> None:
        self.rclpy.try_shutdown()  # ends the spin loop (rclpy.ok() turns false)
        self._thread.join(timeout=1.0)


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="stack",
        description="Run the G1 stack (simulator, bridge, CMG, policy, dashboards, teleop) as processes.",
        epilog="Launch arguments of the graph can be set as NAME:=VALUE, exactly as with ros2 launch.",
    )
    parser.add_argument("--graph", choices=sorted(GRAPHS), default="sim", help="which graph (default: sim)")
    parser.add_argument(
        "--teleop",
        choices=("scripted", "keyboard", "joy", "none"),
        default="scripted",
        help="command source: a scripted profile (default, headless demo), the keyboard, a gamepad, or none",
    )
    parser.add_argument("--profile", default="demo", help="scripted profile: 'demo' or 'dur:vx:vy:wz,...'")
    parser.add_argument("--loop", action="store_true", help="repeat the scripted profile")
    parser.add_argument("--record", metavar="FILE", help="record an MCAP of the run (via foxglove_bridge)")
    parser.add_argument("--duration", type=float, default=0.0, help="stop after this many seconds (0 = run)")
    parser.add_argument("--no-status", action="store_true", help="do not print the status line")
    parser.add_argument("--dry-run", action="store_true", help="print the commands, start nothing")
    parser.add_argument("launch_args", nargs="*", metavar="NAME:=VALUE", help="launch arguments")
    return parser.parse_intermixed_args(argv)  # make sim puts launch args before and after ARGS


def teleop_node(kind: str, profile: str, loop: bool, sim_time: bool = False) -> NodeSpec | None:
    """``sim_time``: the graph has a ``use_sim_time`` argument (the profile then runs on /clock)."""
    if kind == "scripted":
        params: dict[str, object] = {
            "profile": profile,
            "loop": loop,
            "wait_for_policy": True,
            "start_delay_s": 3.0,
        }
        if sim_time:
            params["use_sim_time"] = Arg("use_sim_time")
        return NodeSpec(
            "scripted_teleop",
            "g1_bringup",
            "scripted_teleop",
            # starts once the bridge reports POLICY, +3 s: make sim releases the band 4 s after stand-up
            parameters=params,
            required=False,
        )
    if kind == "keyboard":
        return NodeSpec("key_teleop", "g1_bringup", "key_teleop", required=False, interactive=True)
    return None  # joy: the graph's joy_teleop (teleop_joy:=true); none: nothing


def main(argv: list[str] | None = None) -> int:
    opts = parse_args(argv)
    graph = GRAPHS[opts.graph]()
    args = graph.argument_defaults()
    for item in opts.launch_args:
        name, sep, value = item.partition(":=")
        if not sep or name not in args:
            print(
                f"stack: unknown launch argument {item!r}; known: {', '.join(sorted(args))}", file=sys.stderr
            )
            return 2
        args[name] = value
    if opts.teleop == "joy":
        args["teleop_joy"] = "true"
    if opts.record:
        args["record"] = str(Path(opts.record).resolve())
        args["foxglove"] = "true"
    nodes = [n for n in graph.nodes if is_enabled(n, args)]
    extra = teleop_node(opts.teleop, opts.profile, opts.loop, sim_time="use_sim_time" in args)
    if extra is not None:
        nodes.append(extra)
    try:
        prefix = install_prefix()
    except RuntimeError as exc:
        print(f"stack: {exc}", file=sys.stderr)
        return 2
    nodes, commands = plan_processes(graph, nodes, args, prefix)
    problems = missing_in(commands)
    if problems:
        print("stack: cannot start the " + graph.name + " graph, parts are missing:", file=sys.stderr)
        for p in problems:
            print(f"  - {p}", file=sys.stderr)
        print("Nothing was started. Missing executables mean that part has not landed yet.", file=sys.stderr)
        return 2
    if opts.dry_run:
        for name, cmd in commands.items():
            print(f"{name}: {shlex.join(cmd)}")
        return 0
    opts.prefix = prefix  # the status line reads cmg_node's installed /cmd_vel timeout
    opts.cmd_vel_stamped = args.get("cmd_vel_stamped", "false").lower() in TRUE_WORDS
    return run(nodes, commands, opts)


def run(nodes: list[NodeSpec], commands: dict[str, list[str]], opts: argparse.Namespace) -> int:
    width = max(len(n.name) for n in nodes)
    running: list[Running] = []
    pumps: list[threading.Thread] = []
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    # Ctrl-C sets the same flag (explicitly: a shell starting us in the background leaves SIGINT
    # ignored, and Python then never raises KeyboardInterrupt, so `kill -INT` would do nothing)
    interrupted = threading.Event()
    signal.signal(signal.SIGINT, lambda *_: (interrupted.set(), stop.set()))
    exit_code = 0
    monitor = None
    try:
        for node in nodes:
            proc = subprocess.Popen(
                commands[node.name],
                stdin=None if node.interactive else subprocess.DEVNULL,
                stdout=subprocess.PIPE,
                stderr=subprocess.STDOUT,
                text=True,
                start_new_session=not node.interactive,  # Ctrl-C reaches children only through us
            )
            pump = threading.Thread(target=_pump, args=(node.name, proc.stdout, width), daemon=True)
            pump.start()
            pumps.append(pump)
            running.append(Running(node, proc))
            print(f"[stack] started {node.name} (pid {proc.pid})", flush=True)
        if not opts.no_status:
            monitor = StatusMonitor(
                cmd_vel_timeout(getattr(opts, "prefix", None)), getattr(opts, "cmd_vel_stamped", False)
            )
        t0 = time.monotonic()
        next_status = t0 + 1.0
        while not stop.is_set():
            time.sleep(0.1)
            for r in running:
                code = r.proc.poll()
                if code is not None and r.node.required:
                    print(f"[stack] required node {r.node.name} exited with {code}: stopping", flush=True)
                    exit_code = 1
                    stop.set()
            if opts.duration and time.monotonic() - t0 >= opts.duration:
                stop.set()
            if monitor is not None and time.monotonic() >= next_status:
                next_status += 1.0
                print(f"[status] {monitor.line()}", flush=True)
    except KeyboardInterrupt:
        interrupted.set()
    finally:
        if interrupted.is_set():
            print("\n[stack] Ctrl-C: stopping", flush=True)
        if monitor is not None:
            monitor.close()
        shutdown([r.proc for r in running])
        for pump in pumps:  # print what the nodes said while stopping (a traceback must not go unseen)
            pump.join(timeout=2.0)
        print("[stack] stopped", flush=True)
    return exit_code


def shutdown(procs: list[subprocess.Popen], grace: float = 5.0) -> None:
    """SIGINT every process, wait up to ``grace`` s, then SIGKILL what is left."""
    for p in procs:
        if p.poll() is None:
            p.send_signal(signal.SIGINT)
    deadline = time.monotonic() + grace
    for p in procs:
        try:
            p.wait(timeout=max(0.0, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            p.kill()
            p.wait()


if __name__ == "__main__":
    sys.exit(main())
