"""ROS 2 message definitions as Foxglove ``ros2msg`` schemas (no rclpy needed to build them).

Foxglove decodes CDR payloads from the ``.msg`` text of the type plus every nested type, joined in
the layout rosbag2 writes into MCAP files: the top-level definition, then for each dependency a line
of 80 ``=``, a line ``MSG: pkg/Name`` and that type's definition. The ``.msg`` files are found in the
``share/<pkg>/msg`` folders of the ament prefixes (the ROS wheels in the venv and our install space).
"""

from __future__ import annotations

import importlib
import os
import re
from functools import cache
from pathlib import Path

PRIMITIVES = frozenset(
    "bool byte char float32 float64 int8 uint8 int16 uint16 int32 uint32 int64 uint64 string wstring".split()
)
SEPARATOR = "=" * 80


class SchemaNotFound(LookupError):
    """A message type whose ``.msg`` definition cannot be found."""


def split_type_name(type_name: str) -> tuple[str, str]:
    """``"sensor_msgs/msg/JointState"`` or ``"sensor_msgs/JointState"`` -> ("sensor_msgs", "JointState")."""
    parts = type_name.strip().split("/")
    if len(parts) == 3 and parts[1] == "msg":
        return parts[0], parts[2]
    if len(parts) == 2:
        return parts[0], parts[1]
    raise ValueError(f"not a ROS message type name: {type_name!r} (expected pkg/msg/Name)")


def full_type_name(type_name: str) -> str:
    pkg, name = split_type_name(type_name)
    return f"{pkg}/msg/{name}"


def _prefixes() -> list[Path]:
    out: list[Path] = []
    for var in ("AMENT_PREFIX_PATH", "COLCON_PREFIX_PATH"):
        for p in os.environ.get(var, "").split(os.pathsep):
            if p and Path(p) not in out:
                out.append(Path(p))
    venv = os.environ.get("VIRTUAL_ENV")
    if venv and Path(venv) not in out:
        out.append(Path(venv))
    return out


@cache
def find_msg_file(pkg: str, name: str) -> Path:
    for prefix in _prefixes():
        f = prefix / "share" / pkg / "msg" / f"{name}.msg"
        if f.is_file():
            return f
    # Fall back to the location of the generated Python package (pkg/msg/_name.py -> share/pkg/msg).
    try:
        mod = importlib.import_module(f"{pkg}.msg")
        here = Path(mod.__file__).resolve()
        for parent in here.parents:
            f = parent / "share" / pkg / "msg" / f"{name}.msg"
            if f.is_file():
                return f
    except ImportError:
        pass
    raise SchemaNotFound(f"{pkg}/msg/{name}.msg not found in the ament prefixes ({_prefixes()})")


_FIELD_RE = re.compile(r"^\s*([A-Za-z_][\w/]*)(?:<=\d+)?(\[[^\]]*\])?\s+([A-Za-z_]\w*)")


def field_types(definition: str) -> list[str]:
    """Non-primitive types referenced by a ``.msg`` text (constants and comments skipped)."""
    out: list[str] = []
    for raw in definition.splitlines():
        line = raw.split("#", 1)[0].strip()
        if not line:
            continue
        m = _FIELD_RE.match(line)
        if not m:
            continue
        base, _array, fname = m.groups()
        rest = line[m.end() :].lstrip()
        if rest.startswith("=") or (fname.isupper() and "=" in line):
            continue  # constant
        if base in PRIMITIVES:
            continue
        out.append(base)
    return out


def _resolve(base: str, owner_pkg: str) -> tuple[str, str]:
    if base == "Header":
        return "std_msgs", "Header"
    if "/" in base:
        return split_type_name(base)
    return owner_pkg, base


def ros2msg_definition(type_name: str) -> str:
    """The full ``ros2msg`` schema text of ``type_name`` (top definition + nested ``MSG:`` blocks)."""
    pkg, name = split_type_name(type_name)
    top = find_msg_file(pkg, name).read_text()
    seen: set[tuple[str, str]] = {(pkg, name)}
    blocks: list[str] = []

    def visit(text: str, owner: str) -> None:
        for base in field_types(text):
            dep = _resolve(base, owner)
            if dep in seen:
                continue
            seen.add(dep)
            dtext = find_msg_file(*dep).read_text()
            blocks.append(f"{SEPARATOR}\nMSG: {dep[0]}/{dep[1]}\n{dtext.rstrip()}\n")
            visit(dtext, dep[0])

    visit(top, pkg)
    return top.rstrip() + "\n" + "".join(blocks)


def import_message_type(type_name: str):
    """The rclpy message class of ``pkg/msg/Name``."""
    pkg, name = split_type_name(type_name)
    mod = importlib.import_module(f"{pkg}.msg")
    try:
        return getattr(mod, name)
    except AttributeError as exc:
        raise SchemaNotFound(f"{pkg}.msg has no {name}") from exc
