"""What an MCAP file needs beyond the spec's minimum for rosbag2 to treat it as a bag.

rosbag2's MCAP storage plugin (``rosbag2_storage_mcap``) reads per-channel metadata:

* ``offered_qos_profiles``: a YAML list of the publishers' QoS. ``ros2 bag play`` offers these QoS
  again; without them it falls back to defaults, so a best-effort or transient-local topic replays
  with the wrong QoS. The integer-enum form written here is the one rosbag2 Humble writes; later
  rosbag2 reads it too, because a ``rosbag2`` metadata record without ``serialized_metadata`` makes
  it assume a pre-v9 bag (mcap_storage.cpp, ``read_metadata``), and it is what Humble can read.
* ``topic_type_hash`` (rosbag2 Jazzy and later): the RIHS01 type hash, when rclpy reports one.

The header profile is ``ros2`` (MCAP spec, "Well-known profiles"). Pure functions plus a small
adapter for rclpy's ``TopicEndpointInfo``.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

PROFILE = "ros2"
METADATA_NAME = "rosbag2"


@dataclass(frozen=True)
class QosRecord:
    """One publisher's QoS as rmw enum integers and durations in ns (rmw/types.h numbering)."""

    history: int = 1  # RMW_QOS_POLICY_HISTORY_KEEP_LAST
    depth: int = 10
    reliability: int = 1  # RELIABLE
    durability: int = 2  # VOLATILE
    deadline_ns: int = 0
    lifespan_ns: int = 0
    liveliness: int = 1  # AUTOMATIC
    liveliness_lease_duration_ns: int = 0
    avoid_ros_namespace_conventions: bool = False


def _duration(ns: int) -> str:
    ns = max(0, int(ns))
    return f"{{sec: {ns // 1_000_000_000}, nsec: {ns % 1_000_000_000}}}"


def offered_qos_yaml(profiles: Sequence[QosRecord]) -> str:
    """rosbag2's ``offered_qos_profiles`` text (a YAML list, one entry per publisher)."""
    if not profiles:
        return "[]"
    lines = []
    for q in profiles:
        lines += [
            f"- history: {int(q.history)}",
            f"  depth: {int(q.depth)}",
            f"  reliability: {int(q.reliability)}",
            f"  durability: {int(q.durability)}",
            f"  deadline: {_duration(q.deadline_ns)}",
            f"  lifespan: {_duration(q.lifespan_ns)}",
            f"  liveliness: {int(q.liveliness)}",
            f"  liveliness_lease_duration: {_duration(q.liveliness_lease_duration_ns)}",
            f"  avoid_ros_namespace_conventions: {'true' if q.avoid_ros_namespace_conventions else 'false'}",
        ]
    return "\n".join(lines)


def qos_from_endpoint(info) -> QosRecord:
    """rclpy ``TopicEndpointInfo`` -> QosRecord (rclpy's policy enums carry the rmw integers)."""
    q = info.qos_profile
    return QosRecord(
        history=int(q.history),
        depth=int(q.depth),
        reliability=int(q.reliability),
        durability=int(q.durability),
        deadline_ns=int(q.deadline.nanoseconds),
        lifespan_ns=int(q.lifespan.nanoseconds),
        liveliness=int(q.liveliness),
        liveliness_lease_duration_ns=int(q.liveliness_lease_duration.nanoseconds),
        avoid_ros_namespace_conventions=bool(q.avoid_ros_namespace_conventions),
    )


def type_hash_text(infos: Iterable) -> str:
    """The ``RIHS01_<hex>`` text of the first publisher that reports one, else ''."""
    for info in infos:
        h = getattr(info, "topic_type_hash", None)
        text = str(h) if h is not None else ""
        if text.startswith("RIHS01_") and text[len("RIHS01_") :].strip("0"):  # all zeros = unknown
            return text
    return ""


def channel_metadata(infos: Sequence) -> dict[str, str]:
    """Channel metadata for a ROS topic from the publishers rclpy knows about."""
    meta = {"offered_qos_profiles": offered_qos_yaml([qos_from_endpoint(i) for i in infos])}
    digest = type_hash_text(infos)
    if digest:
        meta["topic_type_hash"] = digest
    return meta


def bag_metadata() -> dict[str, str]:
    """The ``rosbag2`` metadata record's contents (what rosbag2 Humble's MCAP writer stores)."""
    return {"ROS_DISTRO": os.environ.get("ROS_DISTRO", "kilted")}
