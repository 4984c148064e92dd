"""The shipped Foxglove layouts ("drive", "tuning", "health"), generated from one description so the panels
only reference topics and fields the bridge really publishes (a test checks every message path).

    python -m g1_bringup.dashboards.foxglove_layouts src/g1_bringup/foxglove   # rewrite the JSON files

Import a file in Foxglove with Layouts -> Import from file.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

from twist_controller.robot import G1_JOINT_NAMES

JOINT_GROUPS = {
    "left leg": range(0, 6),
    "right leg": range(6, 12),
    "waist": range(12, 15),
    "left arm": range(15, 22),
    "right arm": range(22, 29),
}
MODE_RULES = [  # twist_msgs/ControllerState MODE_*
    (0, "#9e9e9e", "ZERO_TORQUE"),
    (1, "#f5a623", "DAMPING"),
    (2, "#4a90e2", "STAND_UP"),
    (3, "#3fbf3f", "POLICY"),
    (4, "#e0312b", "ESTOP"),
]
PALETTE = ["#4e98e2", "#f5774d", "#f7df71", "#5cd6a9", "#dc7ee6", "#a6e22e", "#d6d6d6"]


def _path(value: str, label: str = "", color: str | None = None) -> dict:
    p = {"value": value, "enabled": True, "timestampMethod": "receiveTime", "label": label or value}
    if color:
        p["color"] = color
    return p


def plot(title: str, paths: list[dict], window_s: float = 20.0, y_min=None, y_max=None) -> dict:
    cfg = {
        "title": title,
        "paths": paths,
        "showXAxisLabels": True,
        "showYAxisLabels": True,
        "showLegend": True,
        "legendDisplay": "floating",
        "showPlotValuesInLegend": True,
        "isSynced": True,
        "xAxisVal": "timestamp",
        "followingViewWidth": window_s,
        "sidebarDimension": 240,
    }
    if y_min is not None:
        cfg["minYValue"] = y_min
    if y_max is not None:
        cfg["maxYValue"] = y_max
    return cfg


def mode_indicator() -> dict:
    return {
        "path": "/controller_state.mode",
        "style": "background",
        "fallbackColor": "#555555",
        "fallbackLabel": "no /controller_state",
        "rules": [{"operator": "=", "rawValue": str(v), "color": c, "label": n} for v, c, n in MODE_RULES],
    }


def three_d() -> dict:
    return {
        "cameraState": {
            "distance": 4.5,
            "perspective": True,
            "phi": 65.0,
            "thetaOffset": 35.0,
            "targetOffset": [0, 0.5, 0],
            "target": [0, 0, 0],
            "targetOrientation": [0, 0, 0, 1],
            "fovy": 45,
            "near": 0.01,
            "far": 5000,
        },
        "followMode": "follow-position",
        "followTf": "pelvis",
        "scene": {"enableStats": False, "transforms": {"showLabel": False, "axisScale": 0.3}},
        "transforms": {},
        "topics": {"/g1/scene": {"visible": True}, "/g1/tf": {"visible": True}},
        "layers": {
            "grid": {
                "visible": True,
                "frameLocked": True,
                "label": "Grid",
                "instanceId": "grid",
                "layerId": "foxglove.Grid",
                "frameId": "world",
                "size": 20,
                "divisions": 20,
                "lineWidth": 1,
                "color": "#248eff80",
                "position": [0, 0, 0],
                "rotation": [0, 0, 0],
            }
        },
        "publish": {"type": "point", "poseTopic": "/move_base_simple/goal", "pointTopic": "/clicked_point"},
        "imageMode": {},
        "followFrame": "world",
    }


def teleop() -> dict:
    return {
        "topic": "/cmd_vel",
        "publishRate": 10,
        "upButton": {"field": "linear-x", "value": 0.5},
        "downButton": {"field": "linear-x", "value": -0.3},
        "leftButton": {"field": "angular-z", "value": 0.5},
        "rightButton": {"field": "angular-z", "value": -0.5},
    }


def split(first, second, direction: str = "row", pct: float = 50.0) -> dict:
    return {"first": first, "second": second, "direction": direction, "splitPercentage": pct}


def _layout(config_by_id: dict, tree) -> dict:
    return {
        "configById": config_by_id,
        "globalVariables": {},
        "userNodes": {},
        "playbackConfig": {"speed": 1},
        "layout": tree,
    }


def drive_layout() -> dict:
    cfg = {
        "3D!g1drive": three_d(),
        "Indicator!g1mode": mode_indicator(),
        "Teleop!g1teleop": teleop(),
        "Plot!g1vx": plot(
            "forward velocity (m/s)",
            [
                _path("/cmd_vel.linear.x", "commanded /cmd_vel", PALETTE[1]),
                _path("/reference_motion.command.linear.x", "reference (CMG, clamped)", PALETTE[3]),
                _path("/odom.twist.twist.linear.x", "measured /odom", PALETTE[0]),
            ],
        ),
        "Plot!g1wz": plot(
            "yaw rate (rad/s)",
            [
                _path("/cmd_vel.angular.z", "commanded /cmd_vel", PALETTE[1]),
                _path("/reference_motion.command.angular.z", "reference (CMG, clamped)", PALETTE[3]),
                _path("/odom.twist.twist.angular.z", "measured /odom", PALETTE[0]),
            ],
        ),
        "RawMessages!g1faults": {
            "topicPath": "/controller_state",
            "diffEnabled": False,
            "diffMethod": "custom",
            "diffTopicPath": "",
            "showFullMessageForDiff": False,
            "expansion": "all",
        },
    }
    right = split(
        split("Indicator!g1mode", "Teleop!g1teleop", "column", 25),
        split(split("Plot!g1vx", "Plot!g1wz", "column", 50), "RawMessages!g1faults", "column", 70),
        "column",
        38,
    )
    return _layout(cfg, split("3D!g1drive", right, "row", 62))


def tuning_layout() -> dict:
    cfg: dict = {}
    ids = []
    for gi, (group, idx) in enumerate(JOINT_GROUPS.items()):
        paths = []
        for k, j in enumerate(idx):
            short = G1_JOINT_NAMES[j].removesuffix("_joint")
            color = PALETTE[k % len(PALETTE)]
            paths.append(_path(f"/g1/tracking.reference[{j}]", f"{short} ref", color))
            paths.append(_path(f"/g1/tracking.actual[{j}]", f"{short} actual", color))
        pid = f"Plot!g1tune{gi}"
        cfg[pid] = plot(f"{group}: reference vs actual (rad)", paths, window_s=10.0)
        ids.append(pid)
    cfg["Plot!g1torque"] = plot(
        "leg torques (N·m)",
        [
            _path(f"/g1/tracking.effort[{j}]", G1_JOINT_NAMES[j].removesuffix("_joint"), PALETTE[j % 7])
            for j in range(12)
        ],
        window_s=10.0,
    )
    cfg["Plot!g1err"] = plot(
        "tracking error, RMS per group (rad)",
        [
            _path("/g1/tracking.rms_error.legs", "legs", PALETTE[0]),
            _path("/g1/tracking.rms_error.waist", "waist", PALETTE[1]),
            _path("/g1/tracking.rms_error.arms", "arms", PALETTE[2]),
            _path("/g1/tracking.rms_error.all", "all", PALETTE[3]),
        ],
        window_s=10.0,
    )
    cfg["Indicator!g1mode"] = mode_indicator()
    left = split(split(ids[0], ids[1], "column"), split(ids[2], "Plot!g1err", "column"), "column")
    bottom = split("Plot!g1torque", "Indicator!g1mode", "column", 85)
    right = split(split(ids[3], ids[4], "column"), bottom, "column")
    return _layout(cfg, split(left, right, "row"))


def health_layout() -> dict:
    main_topics = ["joint_states", "imu", "odom", "reference_motion", "joint_targets", "controller_state"]
    cfg = {
        "Plot!g1rates": plot(
            "topic rates (Hz)",
            [_path(f"/g1/health.hz.{t}", t, PALETTE[i]) for i, t in enumerate(main_topics)],
            window_s=60.0,
        ),
        "Plot!g1gaps": plot(
            "message drops: gaps > 2.5 periods (count) and bad CRC",
            [_path(f"/g1/health.gaps.{t}", t, PALETTE[i]) for i, t in enumerate(main_topics[:5])]
            + [_path("/controller_state.bad_crc_count", "LowState bad CRC", PALETTE[6])],
            window_s=60.0,
        ),
        "Plot!g1lat": plot(
            "latencies (s): controller loop, target and state age",
            [
                _path("/controller_state.loop_period", "pd loop period", PALETTE[0]),
                _path("/controller_state.target_age", "joint target age", PALETTE[1]),
                _path("/controller_state.state_age", "LowState age", PALETTE[2]),
            ],
            window_s=60.0,
        ),
        "Plot!g1age": plot(
            "message age at the bridge, p50 (ms)",
            [_path(f"/g1/health.age_ms_p50.{t}", t, PALETTE[i]) for i, t in enumerate(main_topics[:5])],
            window_s=60.0,
        ),
        "Plot!g1cost": plot(
            "bridge forwarding cost per message (µs)",
            [
                _path("/g1/health.forward_cost.p50_us", "log() p50", PALETTE[0]),
                _path("/g1/health.forward_cost.p99_us", "log() p99", PALETTE[1]),
                _path("/g1/health.callback_cost.p50_us", "callback p50", PALETTE[2]),
            ],
            window_s=60.0,
        ),
        "Indicator!g1mode": mode_indicator(),
        "RawMessages!g1health": {
            "topicPath": "/g1/health",
            "diffEnabled": False,
            "diffMethod": "custom",
            "diffTopicPath": "",
            "showFullMessageForDiff": False,
            "expansion": "all",
        },
        "RosOut!g1log": {"searchTerms": [], "minLogLevel": 2},
    }
    left = split(
        split("Plot!g1rates", "Plot!g1gaps", "column"),
        split("Plot!g1lat", split("Plot!g1age", "Plot!g1cost", "row"), "column"),
        "column",
    )
    top = split("Indicator!g1mode", "RawMessages!g1health", "column", 12)
    right = split(top, "RosOut!g1log", "column", 65)
    return _layout(cfg, split(left, right, "row", 62))


LAYOUTS = {"drive": drive_layout, "tuning": tuning_layout, "health": health_layout}


def write_layouts(folder: str | Path) -> list[Path]:
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    out = []
    for name, fn in LAYOUTS.items():
        p = folder / f"{name}.json"
        p.write_text(json.dumps(fn(), indent=2) + "\n")
        out.append(p)
    return out


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    folder = argv[0] if argv else "src/g1_bringup/foxglove"
    for p in write_layouts(folder):
        print(f"wrote {p}")
    return 0


if __name__ == "__main__":
    sys.exit(main())


# ------------------------------------------------------------------ message paths used by the layouts
def layout_message_paths(layout: dict) -> list[str]:
    """Every message path (Plot series, Indicator, RawMessages) and topic (Teleop, 3D) in a layout."""
    out: list[str] = []
    for cfg in layout["configById"].values():
        out += [p["value"] for p in cfg.get("paths", [])]
        for key in ("path", "topicPath", "topic"):
            if isinstance(cfg.get(key), str):
                out.append(cfg[key])
        out += list(cfg.get("topics", {}))
    return out


def split_message_path(path: str, topics) -> tuple[str, str]:
    """("/odom.twist.twist.linear.x", topics) -> ("/odom", ".twist.twist.linear.x"): longest topic prefix."""
    best = ""
    for t in topics:
        if (path == t or path.startswith(t + ".") or path.startswith(t + "[")) and len(t) > len(best):
            best = t
    if not best:
        raise KeyError(f"no known topic in message path {path!r}")
    return best, path[len(best) :]


def resolve(obj, rest: str):
    """Follow ``.field`` / ``[index]`` steps through dicts, lists and ROS message objects."""
    import re

    for name, index in re.findall(r"\.([A-Za-z_]\w*)|\[(\d+)\]", rest):
        if name:
            obj = obj[name] if isinstance(obj, dict) else getattr(obj, name)
        else:
            obj = obj[int(index)]
    return obj
