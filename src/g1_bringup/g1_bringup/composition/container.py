"""node_container: run several of the stack's Python nodes in one process, on one executor.

    node_container [--intra-process TOPIC]... \\
        --node cmg_node --ros-args -r __node:=cmg_node --params-file ... -p key:=value -- \\
        --node reference_mux --ros-args ... -- \\
        --node policy_node --ros-args ... -- [--ros-args <process-wide ROS arguments>]

Each ``--node EXECUTABLE`` block is that node's own command line as it would run alone (the graph's
``stack --dry-run`` shows the same arguments), ended by ROS's ``--``; the node gets exactly those
arguments (``cli_args``, no global ones), so parameters and remappings stay per node. What is left
(e.g. the ``--ros-args -r __node:=...`` that ``ros2 launch`` appends) goes to ``rclpy.init``. An
empty ``-p key:=`` is dropped (an empty launch argument means "use the node's default", as in the
runner). ``--intra-process TOPIC``: messages on TOPIC go from the publishing node to the
subscribing ones by a direct call (``twist_controller.intra_process``), not through DDS.

Why: on a 2-core machine the control chain (cmg_node -> reference_mux -> policy_node) was CPU-bound,
and per control tick two DDS hops, their message conversions and three processes' executor wakes
were most of its cost (docs/sim_time.md has the A/B). ``compose:=false`` runs them apart again.
"""

from __future__ import annotations

import argparse
import importlib
import sys
from dataclasses import dataclass

# executable name -> the node class it runs (the nodes that can share a container)
COMPOSABLE = {
    "cmg_node": "cmg_generator.cmg_node:CMGNode",
    "reference_mux": "g1_bringup.reference_mux:ReferenceMux",
    "policy_node": "twist_controller.policy_node:PolicyNode",
}


@dataclass
class NodeBlock:
    executable: str
    ros_args: list[str]  # this node's --ros-args ... -- (as given, empty overrides dropped)


@dataclass
class ContainerArgs:
    intra_process: list[str]
    nodes: list[NodeBlock]
    process_args: list[str]  # for rclpy.init


class UsageError(ValueError):
    pass


def _drop_empty_overrides(args: list[str]) -> list[str]:
    out: list[str] = []
    i = 0
    while i < len(args):
        if args[i] == "-p" and i + 1 < len(args) and args[i + 1].endswith(":="):
            i += 2
            continue
        out.append(args[i])
        i += 1
    return out


def parse(argv: list[str]) -> ContainerArgs:
    """Split the command line into in-process topics, node blocks and process-wide arguments."""
    topics: list[str] = []
    nodes: list[NodeBlock] = []
    rest: list[str] = []
    i = 0
    while i < len(argv):
        a = argv[i]
        if a == "--intra-process":
            if i + 1 >= len(argv):
                raise UsageError("--intra-process needs a topic")
            topics.append(argv[i + 1])
            i += 2
        elif a == "--node":
            if i + 1 >= len(argv):
                raise UsageError("--node needs an executable name")
            exe = argv[i + 1]
            if exe not in COMPOSABLE:
                raise UsageError(f"--node {exe!r}: not composable (known: {', '.join(COMPOSABLE)})")
            i += 2
            block: list[str] = []
            if i < len(argv) and argv[i] == "--ros-args":
                while i < len(argv) and argv[i] != "--":
                    block.append(argv[i])
                    i += 1
                if i >= len(argv):
                    raise UsageError(f"--node {exe}: its --ros-args must end with '--'")
                block.append("--")
                i += 1
            nodes.append(NodeBlock(exe, _drop_empty_overrides(block)))
        else:
            rest.append(a)
            i += 1
    if not nodes:
        raise UsageError("no --node given")
    names = [n.executable for n in nodes]
    if len(set(names)) != len(names):
        raise UsageError(f"a node is given twice: {names}")
    return ContainerArgs(topics, nodes, rest)


def node_class(executable: str):
    module, _, cls = COMPOSABLE[executable].partition(":")
    return getattr(importlib.import_module(module), cls)


def build_nodes(spec: ContainerArgs) -> list:
    """Construct the nodes in order, the in-process topics handed over among them."""
    from rclpy.logging import get_logger

    from twist_controller.intra_process import IntraProcessBus, composing

    bus = IntraProcessBus(spec.intra_process)
    nodes = []
    with composing(bus):
        for block in spec.nodes:
            nodes.append(node_class(block.executable)(cli_args=block.ros_args, use_global_arguments=False))
    log = get_logger("node_container")
    log.info(
        f"{len(nodes)} nodes in one process ({', '.join(n.get_name() for n in nodes)}); in-process: "
        + (", ".join(sorted(bus.topics)) or "none")
    )
    for t in sorted(bus.topics):
        if bus.subscribers(t) == 0:
            log.warning(f"in-process topic {t}: no node of this container subscribes it")
    return nodes


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv and argv[0] in ("-h", "--help"):
        print(__doc__)
        return 0
    try:
        spec = parse(argv)
    except UsageError as exc:
        argparse.ArgumentParser(prog="node_container").error(str(exc))  # exits 2 with usage
    from twist_controller.node_main import run_node

    return run_node(lambda: build_nodes(spec), [sys.argv[0], *spec.process_args])


if __name__ == "__main__":
    sys.exit(main())
