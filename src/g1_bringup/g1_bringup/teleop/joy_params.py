"""What joy_teleop understands in a parameter file, and how it reads upstream teleop_twist_joy files.

An unmodified upstream config (``xbox.config.yaml``, ``ps3.config.yaml``, ...) is keyed by the
upstream node name ``teleop_twist_joy_node``, and upstream's launch file passes the same file to the
``joy`` node. rcl applies a file only to the node it names (or ``/**``), so without help our node
(``joy_teleop``) would silently ignore such a file. This module finds the ``--params-file``
arguments of the process, takes the sections keyed by the upstream names (teleop_twist_joy's and
joy's) and turns them into *defaults*: anything given for this node by its own name, by ``/**`` or
by ``-p`` still wins, exactly as rcl orders its own sources. Every key it does not understand, in
any section that applies to this node, becomes a warning: a silently ignored key is the bug this
module exists to fix.

Pure Python (PyYAML only), so it is unit-tested without ROS.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import yaml

# Section keys whose values are teleop_twist_joy parameters (upstream node name and executable).
TELEOP_KEYS = ("teleop_twist_joy_node", "teleop_node")
# Section keys of the ROS 2 joy drivers: we read the pad ourselves, so their device keys are ours too.
JOY_KEYS = ("joy_node", "game_controller_node")

# teleop_twist_joy's parameters with its code defaults (ros2/teleop_twist_joy, src/teleop_twist_joy.cpp).
# Note the code says enable_button 5 while its README says 0: the code is what runs.
TELEOP_DEFAULTS: dict[str, object] = {
    "require_enable_button": True,
    "enable_button": 5,
    "enable_turbo_button": -1,
    "axis_linear.x": 5,
    "axis_linear.y": -1,
    "axis_linear.z": -1,
    "scale_linear.x": 0.5,
    "scale_linear.y": 0.0,
    "scale_linear.z": 0.0,
    "scale_linear_turbo.x": 1.0,
    "scale_linear_turbo.y": 0.0,
    "scale_linear_turbo.z": 0.0,
    "axis_angular.yaw": 2,
    "axis_angular.pitch": -1,
    "axis_angular.roll": -1,
    "scale_angular.yaw": 0.5,
    "scale_angular.pitch": 0.0,
    "scale_angular.roll": 0.0,
    "scale_angular_turbo.yaw": 1.0,
    "scale_angular_turbo.pitch": 0.0,
    "scale_angular_turbo.roll": 0.0,
    "inverted_reverse": False,
    "publish_stamped_twist": False,
    "frame": "teleop_twist_joy",
}

# The joy drivers' parameters we honour (ros-drivers/joystick_drivers, joy/README.md defaults).
JOY_DEFAULTS: dict[str, object] = {
    "device_id": 0,
    "device_name": "",
    "deadzone": 0.05,
    "autorepeat_rate": 20.0,
}

# Ours: which numbering the pad's buttons and axes get (see g1_bringup.teleop.gamepad).
OWN_DEFAULTS: dict[str, object] = {
    "device_mapping": "game_controller",
}

# Keys a params file may hold for any node, or that upstream files carry for the joy side but that
# have no meaning when SDL is read directly; accepted without a warning.
ACCEPTED_SILENTLY = frozenset({"use_sim_time", "start_type_description_service"})
JOY_KEYS_WITHOUT_EFFECT = frozenset({"sticky_buttons", "autocenter", "coalesce_interval_ms", "dev", "dev_ff"})

ALL_DEFAULTS: dict[str, object] = {**TELEOP_DEFAULTS, **JOY_DEFAULTS, **OWN_DEFAULTS}


def flatten(params: Mapping, prefix: str = "") -> dict[str, object]:
    """``{"axis_linear": {"x": 1}}`` -> ``{"axis_linear.x": 1}`` (rcl's nested-dict convention)."""
    out: dict[str, object] = {}
    for key, value in params.items():
        name = f"{prefix}{key}"
        if isinstance(value, Mapping):
            out.update(flatten(value, f"{name}."))
        else:
            out[name] = value
    return out


def params_files_from_argv(argv: Sequence[str]) -> list[Path]:
    """The ``--params-file`` paths in a ROS command line, in order (only inside ``--ros-args``)."""
    files: list[Path] = []
    in_ros = False
    it = iter(argv)
    for arg in it:
        if arg == "--ros-args":
            in_ros = True
        elif arg == "--":
            in_ros = False
        elif in_ros and arg == "--params-file":
            path = next(it, None)
            if path is not None:
                files.append(Path(path))
    return files


def _section_matches(key: str, names: Iterable[str]) -> bool:
    bare = key.lstrip("/")
    return key == "/**" or bare in names or any(bare.endswith(f"/{n}") for n in names)


@dataclass
class FileReading:
    """What one pass over the params files found."""

    defaults: dict[str, object] = field(default_factory=dict)  # from upstream-keyed sections
    unknown: list[str] = field(default_factory=list)  # "file: section: key" lines to warn about
    ineffective: list[str] = field(default_factory=list)  # joy keys that mean nothing here
    errors: list[str] = field(default_factory=list)  # files that could not be read
    sections: list[str] = field(default_factory=list)  # "file: section" of every section applied


def read_params_files(files: Sequence[Path], node_name: str) -> FileReading:
    """Collect upstream-keyed values as defaults and check every key of every section that applies
    to this node (its own name, ``/**``, teleop_twist_joy's and joy's node names)."""
    reading = FileReading()
    own = (node_name,)
    for path in files:
        try:
            data = yaml.safe_load(Path(path).read_text()) or {}
        except (OSError, yaml.YAMLError) as exc:
            reading.errors.append(f"{path}: {exc}")
            continue
        if not isinstance(data, Mapping):
            reading.errors.append(f"{path}: not a mapping of node names")
            continue
        for key, body in data.items():
            key = str(key)
            upstream_teleop = _section_matches(key, TELEOP_KEYS)
            upstream_joy = _section_matches(key, JOY_KEYS)
            if not (upstream_teleop or upstream_joy or _section_matches(key, own)):
                continue  # another node's section: not ours to judge
            params = body.get("ros__parameters") if isinstance(body, Mapping) else None
            if not isinstance(params, Mapping):
                reading.errors.append(f"{path}: section {key!r} has no ros__parameters mapping")
                continue
            reading.sections.append(f"{path}: {key}")
            for name, value in flatten(params).items():
                if name in ACCEPTED_SILENTLY:
                    continue
                if name in JOY_KEYS_WITHOUT_EFFECT:
                    reading.ineffective.append(f"{path}: {key}: {name}")
                    continue
                if name not in ALL_DEFAULTS:
                    # /** sections legitimately carry other nodes' keys; only warn for our own sections
                    if key != "/**":
                        reading.unknown.append(f"{path}: {key}: {name}")
                    continue
                if key == "/**" or _section_matches(key, own):
                    continue  # rcl applies these itself, with their proper precedence
                if upstream_joy and name not in JOY_DEFAULTS:
                    continue  # a joy section's teleop-looking key is joy's business, not ours
                reading.defaults[name] = value
    return reading


def coerce(name: str, value: object) -> object:
    """A value of the type the default has (YAML ``1`` for a double scale is fine in rcl only when
    the parameter is declared dynamically typed; here we convert, and reject what cannot be)."""
    default = ALL_DEFAULTS[name]
    if isinstance(default, bool):
        if isinstance(value, bool):
            return value
        raise ValueError(f"{name} must be true or false, got {value!r}")
    if isinstance(default, int):
        if isinstance(value, int) and not isinstance(value, bool):
            return value
        raise ValueError(f"{name} must be an integer, got {value!r}")
    if isinstance(default, float):
        if isinstance(value, int | float) and not isinstance(value, bool):
            return float(value)
        raise ValueError(f"{name} must be a number, got {value!r}")
    return str(value)
