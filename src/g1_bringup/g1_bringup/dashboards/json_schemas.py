"""JSON Schemas (draft 2020-12) of the bridge's JSON channels and recording services.

Foxglove panels and MCAP readers learn a JSON channel's fields only from its schema; a bare
``{"type": "object"}`` tells them nothing. These schemas describe exactly what
``foxglove_bridge`` logs: ``additionalProperties: false`` at each level we own, so a field added to
the bridge without a schema entry fails the conformance test (tests/test_foxglove_bridge.py, which
validates recorded messages with the independent ``jsonschema`` package) instead of going unseen.
"""

from __future__ import annotations

import json

DRAFT = "https://json-schema.org/draft/2020-12/schema"


def _num(description: str) -> dict:
    return {"type": "number", "description": description}


def _obj(properties: dict, required: tuple[str, ...] = (), description: str = "") -> dict:
    out: dict = {"type": "object", "properties": properties, "additionalProperties": False}
    if required:
        out["required"] = list(required)
    if description:
        out["description"] = description
    return out


def _velocity(description: str) -> dict:
    return _obj(
        {"vx": _num("m/s, forward"), "vy": _num("m/s, left"), "wz": _num("rad/s, yaw rate")},
        ("vx", "vy", "wz"),
        description,
    )


def _joint_array(description: str) -> dict:
    return {"type": "array", "items": {"type": "number"}, "description": description}


def _map_of(value: dict, description: str) -> dict:
    return {"type": "object", "additionalProperties": value, "description": description}


CLIENT_COUNTS = _obj(
    {
        "accepted": {"type": "integer", "minimum": 0},
        "rejected": {"type": "integer", "minimum": 0},
        "last_error": {"type": "string"},
    },
    ("accepted", "rejected", "last_error"),
    "client /cmd_vel messages accepted and rejected by the bridge",
)

RECORDING_STATUS = _obj(
    {
        "recording": {"type": "boolean"},
        "path": {"type": "string", "description": "file being written ('' = not recording)"},
        "seconds": _num("s since this recording started"),
        "files": {"type": "array", "items": {"type": "string"}, "description": "files written this run"},
    },
    ("recording", "path", "seconds", "files"),
)

RECORDING_REQUEST = {
    "type": "object",
    "properties": {"path": {"type": "string", "description": "file or folder; 'auto'/empty: timestamped"}},
}

DASHBOARD = _obj(
    {
        "t": _num("wall time, s since the epoch"),
        "cmd": _velocity("last /cmd_vel"),
        "ref_cmd": _velocity("command the reference motion was generated from (CMG: clamped, rate-limited)"),
        "measured": _velocity("/odom body-frame velocity"),
        "position": _obj({"x": _num("m"), "y": _num("m"), "z": _num("m")}, ("x", "y", "z")),
        "mode": {"type": "integer", "description": "twist_msgs/ControllerState mode"},
        "mode_name": {"type": "string"},
        "faults": {"type": "array", "items": {"type": "string"}},
        "recording": {"type": "boolean"},
        "client_cmd": CLIENT_COUNTS,
    },
    ("t", "recording", "client_cmd"),
    "mode, faults and commanded vs measured velocity",
)

TRACKING = _obj(
    {
        "names": {"type": "array", "items": {"type": "string"}, "description": "G1 joints, motor order"},
        "reference": _joint_array("rad, reference joint positions"),
        "actual": _joint_array("rad, measured joint positions"),
        "target": _joint_array("rad, policy joint targets"),
        "effort": _joint_array("N m, measured joint torques"),
        "error": _joint_array("rad, reference - actual"),
        "rms_error": _map_of(_num("rad"), "RMS tracking error per joint group (legs, waist, arms, all)"),
    },
    ("names",),
    "per-joint reference vs actual",
)

_TOPIC_STATS = _obj(
    {
        "hz": _num("receive rate over the last window"),
        "count": {"type": "integer", "minimum": 0},
        "gaps": {"type": "integer", "minimum": 0},
        "max_gap_ms": _num("ms"),
        "since_last_ms": _num("ms since the last message (-1 = none yet)"),
        "age_ms_p50": _num("ms from header stamp to receipt, median (-1 = no stamps)"),
    },
    ("hz", "count", "gaps", "max_gap_ms", "since_last_ms", "age_ms_p50"),
)

_COST = _obj(
    {
        "n": {"type": "integer", "minimum": 0},
        "p50_us": _num("µs"),
        "p99_us": _num("µs"),
        "mean_us": _num("µs"),
    },
    ("n", "p50_us", "p99_us", "mean_us"),
)

HEALTH = _obj(
    {
        "t": _num("wall time, s since the epoch"),
        "topics": _map_of(_TOPIC_STATS, "per forwarded topic"),
        "forward_cost": _COST,
        "callback_cost": _COST,
        "skipped_topics": _map_of({"type": "string"}, "topic -> why it is not forwarded"),
        "recording": RECORDING_STATUS,
        "client_cmd": CLIENT_COUNTS,
        "subscriptions": {"type": "integer", "minimum": 0},
        "controller": _obj(
            {
                "mode_name": {"type": "string"},
                "loop_period_ms": _num("ms"),
                "target_age_ms": _num("ms"),
                "state_age_ms": _num("ms"),
                "lowcmd_count": {"type": "integer"},
                "bad_crc_count": {"type": "integer"},
            }
        ),
        "hz": _map_of(_num("Hz"), "flat copy per path-safe topic key, for Plot panels"),
        "gaps": _map_of({"type": "integer"}, "flat copy per path-safe topic key"),
        "max_gap_ms": _map_of(_num("ms"), "flat copy per path-safe topic key"),
        "age_ms_p50": _map_of(_num("ms"), "flat copy per path-safe topic key"),
    },
    ("t", "topics", "forward_cost", "callback_cost", "recording", "client_cmd", "subscriptions"),
    "per-topic rates, gaps, ages and the bridge's own costs",
)

CHANNEL_SCHEMAS: dict[str, tuple[str, dict]] = {
    "/g1/dashboard": ("g1.Dashboard", DASHBOARD),
    "/g1/tracking": ("g1.Tracking", TRACKING),
    "/g1/health": ("g1.Health", HEALTH),
}


def encoded(schema: dict, title: str) -> bytes:
    """The schema as the bytes a Foxglove ``jsonschema`` Schema record carries."""
    return json.dumps({"$schema": DRAFT, "title": title, **schema}, separators=(",", ":")).encode()
