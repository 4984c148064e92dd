"""The graph description, the generated launch files and the runner agree.

``launch``/``launch_ros`` cannot be installed here, so the launch files are executed against small
recording stand-ins of those modules: that proves they import the right names, declare every
argument and build one Node per graph node with the right package/executable/parameters.
"""

import sys
import types
from pathlib import Path

import pytest

from g1_bringup import launch_gen, stack
from g1_bringup.composition import container
from g1_bringup.graph import GRAPHS, Arg

REPO = Path(__file__).resolve().parents[3]


def test_generated_launch_files_are_up_to_date():
    for path, text in launch_gen.outputs(REPO).items():
        assert path.is_file(), f"{path} missing: run python -m g1_bringup.launch_gen"
        assert path.read_text() == text, f"{path} is stale: run python -m g1_bringup.launch_gen"


class _Rec:
    """Records constructor arguments; stands in for every launch/launch_ros class."""

    def __init__(self, *args, **kwargs):
        self.args, self.kwargs = args, kwargs


@pytest.fixture
def fake_launch(monkeypatch):
    names = {
        "launch": ["LaunchDescription"],
        "launch.actions": ["DeclareLaunchArgument", "IncludeLaunchDescription"],
        "launch.conditions": ["IfCondition", "UnlessCondition"],
        "launch.substitutions": ["LaunchConfiguration", "PathJoinSubstitution"],
        "launch.launch_description_sources": ["PythonLaunchDescriptionSource"],
        "launch_ros.actions": ["Node"],
        "launch_ros.substitutions": ["FindPackageShare"],
    }
    for mod, classes in names.items():
        m = types.ModuleType(mod)
        for c in classes:
            setattr(m, c, type(c, (_Rec,), {}))
        monkeypatch.setitem(sys.modules, mod, m)
    monkeypatch.setitem(sys.modules, "launch_ros", types.ModuleType("launch_ros"))


@pytest.mark.parametrize("graph_name", sorted(GRAPHS))
def test_launch_file_builds_the_graph(fake_launch, graph_name):
    graph = GRAPHS[graph_name]()
    path = REPO / "src" / "g1_bringup" / "launch" / f"{graph_name}.launch.py"
    namespace: dict = {}
    exec(compile(path.read_text(), str(path), "exec"), namespace)
    desc = namespace["generate_launch_description"]()
    entities = desc.args[0]
    declared = [e.args[0] for e in entities if type(e).__name__ == "DeclareLaunchArgument"]
    assert declared == [a.name for a in graph.arguments]
    nodes = [e.kwargs for e in entities if type(e).__name__ == "Node"]
    assert [(n["package"], n["executable"], n["name"]) for n in nodes] == [
        (s.package, s.executable, s.name) for s in graph.nodes
    ] + [(c.package, c.executable, c.name) for c in graph.containers]
    for kw, spec in zip(nodes, graph.nodes, strict=False):
        box = graph.container_of(spec.name)
        if box is not None:  # alone only with compose off; in its container otherwise
            assert spec.enabled_by is None
            assert type(kw["condition"]).__name__ == "UnlessCondition"
            assert kw["condition"].args[0].args == (box.enabled_by,)
        else:
            assert ("condition" in kw) == (spec.enabled_by is not None)
        overrides = [p for p in kw.get("parameters", []) if isinstance(p, dict)]
        if spec.parameters:
            assert set(overrides[0]) == set(spec.parameters)
    for kw, c in zip(nodes[len(graph.nodes) :], graph.containers, strict=True):
        assert type(kw["condition"]).__name__ == "IfCondition"
        # with the launch arguments at their defaults, the container reads the same nodes, topics
        # and per-node arguments from both command lines (stack.container_command's and the launch
        # file's, where an empty launch argument is an empty -p key:= that the container drops)
        args = graph.argument_defaults()
        args["compose"] = "true"
        prefix = Path("/opt/ws")
        launched = [_resolve(a, args, prefix) for a in kw["arguments"]]
        _, commands = stack.plan_processes(graph, list(graph.nodes), args, prefix)
        runner = commands[c.name][1:]
        assert runner[-3:] == ["--ros-args", "-r", f"__node:={c.name}"]  # ros2 launch appends its own
        assert container.parse(launched) == container.parse(runner[:-3])
        assert [b.executable for b in container.parse(launched).nodes] == list(c.members)


def _resolve(sub, args: dict[str, str], prefix: Path) -> str:
    """The value a recorded launch substitution takes with launch arguments ``args`` and packages
    installed under ``prefix``."""
    if isinstance(sub, str):
        return sub
    if isinstance(sub, list):
        return "".join(_resolve(s, args, prefix) for s in sub)
    kind = type(sub).__name__
    if kind == "LaunchConfiguration":
        return args[sub.args[0]]
    if kind == "FindPackageShare":
        return str(prefix / "share" / sub.args[0])
    if kind == "PathJoinSubstitution":
        return str(Path(*[_resolve(s, args, prefix) for s in sub.args[0]]))
    raise AssertionError(f"unexpected substitution {kind}")


def test_system_launch_files_include_the_package_ones(fake_launch):
    for name in GRAPHS:
        path = REPO / "launch" / f"g1_{name}.launch.py"
        namespace: dict = {}
        exec(compile(path.read_text(), str(path), "exec"), namespace)
        desc = namespace["generate_launch_description"]()
        include = desc.args[0][0]
        joined = include.args[0].args[0].args[0]
        assert joined[-1] == f"{name}.launch.py"


def test_runner_commands_match_the_graph(tmp_path):
    graph = GRAPHS["sim"]()
    args = graph.argument_defaults()
    args["policy_path"] = "/tmp/p.pt"
    node = graph.node("policy_node")
    cmd = stack.node_command(node, args, tmp_path)
    assert cmd[0] == str(tmp_path / "lib" / "twist_controller" / "policy_node")
    assert "__node:=policy_node" in cmd
    assert str(tmp_path / "share/twist_controller/config/policy_node.yaml") in cmd
    assert "policy_path:=/tmp/p.pt" in cmd
    assert not any(c.startswith("policy_compat:=") for c in cmd)  # empty argument -> node default
    joy = graph.node("joy_teleop")
    assert isinstance(joy.param_files[0], Arg)
    assert not stack.is_enabled(joy, args)


def test_runner_refuses_unknown_arguments(capsys):
    assert stack.main(["--dry-run", "nope:=1"]) == 2
    assert "unknown launch argument" in capsys.readouterr().err


def test_runner_reports_missing_parts_instead_of_starting(tmp_path):
    graph = GRAPHS["sim"]()
    problems = stack.missing_pieces(graph, graph.argument_defaults(), tmp_path)
    assert any("mujoco_sim" in p for p in problems)
    assert not any("joy_teleop" in p for p in problems)  # disabled by default
