"""The runtime graph of the G1 stack, described once in plain Python.

Two consumers read it: ``launch_gen`` writes the ROS 2 launch files (``sim.launch.py``,
``real.launch.py``) from it, and ``stack`` (the embedded runner) starts the same nodes as processes
on machines without ``ros2 launch``. Change the graph here, regenerate the launch files
(``python -m g1_bringup.launch_gen``), and both stay in step; a test fails if they drift.

Parameter values may reference launch arguments as ``Arg("name")``.
"""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True)
class Arg:
    """A reference to a launch argument's value."""

    name: str


@dataclass(frozen=True)
class LaunchArgument:
    name: str
    default: str
    description: str


@dataclass(frozen=True)
class NodeSpec:
    name: str  # node name (also the key in its params YAML)
    package: str
    executable: str
    param_files: tuple[str | Arg, ...] = ()  # files in share/<package>/config (or an Arg naming one)
    parameters: dict[str, object] = field(default_factory=dict)  # overrides, may hold Arg(...)
    remappings: tuple[tuple[str, str], ...] = ()
    enabled_by: str | None = None  # boolean launch argument that switches the node on
    required: bool = True  # the runner stops the stack when a required node dies
    interactive: bool = False  # needs the terminal (keyboard teleop)


@dataclass(frozen=True)
class Container:
    """Nodes of the graph that run in one process (``g1_bringup``'s ``node_container``) when the
    boolean launch argument ``enabled_by`` is true, each with its own parameters and remappings;
    messages on ``intra_process`` topics go between them by a direct call, not through DDS."""

    name: str  # the process's name (runner output, launch node name)
    members: tuple[str, ...]  # node names, in construction order
    intra_process: tuple[str, ...] = ()
    enabled_by: str = "compose"
    package: str = "g1_bringup"
    executable: str = "node_container"


@dataclass(frozen=True)
class Graph:
    name: str
    description: str
    arguments: tuple[LaunchArgument, ...]
    nodes: tuple[NodeSpec, ...]
    containers: tuple[Container, ...] = ()

    def argument_defaults(self) -> dict[str, str]:
        return {a.name: a.default for a in self.arguments}

    def node(self, name: str) -> NodeSpec:
        for n in self.nodes:
            if n.name == name:
                return n
        raise KeyError(f"no node {name!r} in graph {self.name}")

    def container_of(self, node_name: str) -> Container | None:
        for c in self.containers:
            if node_name in c.members:
                return c
        return None


# ---- pieces shared by both graphs ---------------------------------------------------------------
_COMMON_ARGS = (
    LaunchArgument(
        "controller", "student", "student (shipped), expert_fastsac or expert_ppo (walking experts)"
    ),
    LaunchArgument("policy_path", "", "policy file (.pt/.onnx) or expert:fastsac; overrides controller"),
    LaunchArgument("policy_compat", "", "'' or 'twist_upstream' for an upstream TWIST student"),
    LaunchArgument("cmg_model_path", "", "CMG artifact; empty = the shipped one"),
    LaunchArgument("cmd_vel_stamped", "false", "subscribe /cmd_vel as TwistStamped instead of Twist"),
    LaunchArgument("foxglove", "true", "start the Foxglove WebSocket bridge on port 8765"),
    LaunchArgument("record", "", "record an MCAP of the run to this file through foxglove_bridge ('' = off)"),
    LaunchArgument("teleop_joy", "false", "start joy_teleop (gamepad via SDL)"),
    LaunchArgument("joy_config", "joy_ps4_holonomic.yaml", "gamepad config file in g1_bringup/config"),
    LaunchArgument("motion_file", "", "motion_player file/playlist/real:<clip> ('' = none)"),
    LaunchArgument("motion_autoplay", "false", "motion_player plays motion_file at start-up"),
    LaunchArgument("redis", "false", "start the TWIST Redis bridge (action_mimic_g1 <-> /reference_motion)"),
    LaunchArgument("redis_port", "6379", "Redis port (the bridge starts a loopback server if none answers)"),
    LaunchArgument(
        "compose",
        "true",
        "run cmg_node, reference_mux and policy_node in one process, references handed over in-process",
    ),
)

# the control chain in one process: one executor instead of three, and the two reference hops by a
# direct call (docs/sim_time.md: on 2 cores the chain was CPU-bound and these hops were its cost)
CONTROL_CONTAINER = Container(
    name="control_chain",
    members=("cmg_node", "reference_mux", "policy_node"),
    intra_process=("/reference_motion/cmg", "/reference_motion"),
)


def _source_arg(default: str) -> LaunchArgument:
    return LaunchArgument(
        "reference_source", default, "reference_mux source: auto, cmg, player, external, default"
    )


def _control_nodes(sim: dict[str, object] | None = None) -> tuple[NodeSpec, ...]:
    """The reference and policy nodes; ``sim``: extra parameters of the simulated graph (sim time)."""
    sim = sim or {}
    return (
        NodeSpec(
            name="cmg_node",
            package="cmg_generator",
            executable="cmg_node",
            param_files=("cmg_node.yaml",),
            parameters={
                "model_path": Arg("cmg_model_path"),
                "cmd_vel_stamped": Arg("cmd_vel_stamped"),
                **sim,
            },
            # every reference source feeds reference_mux, which owns /reference_motion
            remappings=(("/reference_motion", "/reference_motion/cmg"),),
        ),
        NodeSpec(
            name="motion_player",
            package="g1_bringup",
            executable="motion_player",
            param_files=("motion_player.yaml",),
            parameters={"file": Arg("motion_file"), "autoplay": Arg("motion_autoplay"), **sim},
            required=False,
        ),
        NodeSpec(
            name="reference_mux",
            package="g1_bringup",
            executable="reference_mux",
            param_files=("reference_mux.yaml",),
            parameters={"source": Arg("reference_source"), **sim},
        ),
        NodeSpec(
            name="policy_node",
            package="twist_controller",
            executable="policy_node",
            param_files=("policy_node.yaml",),
            parameters={
                "controller": Arg("controller"),
                "policy_path": Arg("policy_path"),
                "policy_compat": Arg("policy_compat"),
                **sim,
                # one step per reference (the CMG tick is the control clock, docs/sim_time.md); on
                # simulated time once the state has caught up with it (a 50 Hz timer on /clock
                # could fire before the executor delivered the queued inputs and call them stale)
                "event_driven": True,
            },
        ),
    )


def _ui_nodes() -> tuple[NodeSpec, ...]:
    return (
        NodeSpec(
            name="foxglove_bridge",
            package="g1_bringup",
            executable="foxglove_bridge",
            param_files=("foxglove_bridge.yaml",),
            parameters={"record_path": Arg("record")},
            enabled_by="foxglove",
            required=False,
        ),
        NodeSpec(
            name="joy_teleop",
            package="g1_bringup",
            executable="joy_teleop",
            param_files=(Arg("joy_config"),),
            enabled_by="teleop_joy",
            required=False,
        ),
        NodeSpec(
            name="redis_bridge",
            package="g1_bringup",
            executable="redis_bridge",
            param_files=("redis_bridge.yaml",),
            parameters={"port": Arg("redis_port"), "start_server": True},
            enabled_by="redis",
            required=False,
        ),
    )


_UNITREE_API_ARG = LaunchArgument(
    "unitree_api", "false", "serve Unitree's G1 locomotion API (LocoClient, service 'sport') from this stack"
)


def _loco_api_node(robot: str, dds_domain: object, interface: object) -> NodeSpec:
    """Unitree's LocoClient calls -> /cmd_vel and pd_bridge modes (g1_bringup.robot_api)."""
    return NodeSpec(
        name="loco_api",
        package="g1_bringup",
        executable="loco_api",
        parameters={
            "robot": robot,
            "dds_domain": dds_domain,
            "network_interface": interface,
            "cmd_vel_stamped": Arg("cmd_vel_stamped"),
        },
        enabled_by="unitree_api",
        required=False,
    )


def sim_graph() -> Graph:
    """Simulated G1: MuJoCo simulator speaking Unitree DDS on loopback (domain 1, lo)."""
    args = (
        *_COMMON_ARGS,
        _source_arg("auto"),
        LaunchArgument("dds_domain", "1", "Unitree DDS domain of simulator and bridge (Unitree uses 1)"),
        LaunchArgument("viewer", "false", "open the MuJoCo viewer"),
        LaunchArgument("auto_stand", "true", "bridge stands the robot up by itself at start-up"),
        LaunchArgument("auto_policy", "true", "bridge enters POLICY by itself once fresh targets arrive"),
        LaunchArgument(
            "band_release_s",
            "0.0",
            "release the elastic band this long after the bridge enters POLICY (0 = keep it on)",
        ),
        LaunchArgument(
            "band_release_after",
            "policy",
            "band_release_s counts from: policy (the bridge's first POLICY) or stand (legs powered)",
        ),
        LaunchArgument(
            "lowcmd_timeout",
            "0.0",
            "sim damps when no LowCmd came for this long, s (emulated robot watchdog; 0 = hold the last)",
        ),
        LaunchArgument(
            "use_sim_time",
            "true",
            "nodes run on the simulator's /clock: a stalled simulator trips no watchdog (docs/sim_time.md)",
        ),
        LaunchArgument(
            "lockstep",
            "false",
            "simulator advances a 20 ms period only once its LowCmd arrived (evaluation; docs/sim_time.md)",
        ),
        LaunchArgument(
            "lockstep_slack",
            "0.0",
            "lockstep: s of simulated time the controller may lag (0 = strict, repeatable; 0.04 = faster)",
        ),
        _UNITREE_API_ARG,
    )
    sim_time = {"use_sim_time": Arg("use_sim_time")}
    nodes = (
        NodeSpec(
            name="mujoco_sim",
            package="g1_bringup",
            executable="mujoco_sim",
            param_files=("mujoco_sim.yaml",),
            parameters={
                "dds_domain": Arg("dds_domain"),
                "viewer": Arg("viewer"),
                "band_auto_release_s": Arg("band_release_s"),
                "band_release_after": Arg("band_release_after"),
                "lowcmd_timeout": Arg("lowcmd_timeout"),
                "lockstep": Arg("lockstep"),
                "lockstep_slack": Arg("lockstep_slack"),
                # on simulated time the simulator yields a contested core to the controller
                "controller_on_sim_time": Arg("use_sim_time"),
            },
        ),
        NodeSpec(
            name="pd_bridge",
            package="twist_controller",
            executable="pd_bridge",
            param_files=("pd_bridge.yaml",),
            parameters={
                "robot": "sim",
                "dds_domain": Arg("dds_domain"),
                "network_interface": "lo",
                "auto_stand": Arg("auto_stand"),
                "auto_policy": Arg("auto_policy"),
                "lockstep": Arg("lockstep"),
                **sim_time,
            },
        ),
        *_control_nodes(sim_time),
        *_ui_nodes(),
        _loco_api_node("sim", Arg("dds_domain"), "lo"),
    )
    return Graph("sim", "simulated G1 driven by /cmd_vel", args, nodes, (CONTROL_CONTAINER,))


def real_graph() -> Graph:
    """The real G1 over its network interface (DDS domain 0). Never moves without an explicit enable."""
    args = (
        LaunchArgument("network_interface", "eth0", "NIC connected to the robot (192.168.123.x)"),
        *_COMMON_ARGS,
        _source_arg("cmg"),  # on hardware, switching sources is an explicit act
        _UNITREE_API_ARG,
    )
    nodes = (
        NodeSpec(
            name="pd_bridge",
            package="twist_controller",
            executable="pd_bridge",
            param_files=("pd_bridge.yaml",),
            parameters={
                "robot": "real",
                "dds_domain": 0,
                "network_interface": Arg("network_interface"),
                "auto_stand": False,
                "auto_policy": False,
            },
        ),
        *_control_nodes(),
        *_ui_nodes(),
        _loco_api_node("real", 0, Arg("network_interface")),
    )
    return Graph("real", "the real G1; enable it with the SetMode service", args, nodes, (CONTROL_CONTAINER,))


GRAPHS = {"sim": sim_graph, "real": real_graph}
