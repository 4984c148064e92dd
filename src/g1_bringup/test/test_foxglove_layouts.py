"""The shipped Foxglove layouts: up to date with their generator, and every panel path resolves on the
messages the bridge publishes (ROS types by field introspection, /g1/tracking on a real summary)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from g1_bringup.dashboards import foxglove_layouts as fx
from g1_bringup.dashboards import foxglove_logic as fl

FOLDER = Path(__file__).resolve().parents[1] / "foxglove"
DERIVED = ("/g1/scene", "/g1/tf", "/g1/dashboard", "/g1/tracking", "/g1/health")
KNOWN_TOPICS = (*fl.DEFAULT_TOPICS, *DERIVED)


@pytest.mark.parametrize("name", sorted(fx.LAYOUTS))
def test_shipped_layout_matches_generator(name):
    shipped = json.loads((FOLDER / f"{name}.json").read_text())
    assert shipped == fx.LAYOUTS[name](), f"run: python -m g1_bringup.dashboards.foxglove_layouts {FOLDER}"


def _panel_ids(tree) -> set[str]:
    if isinstance(tree, str):
        return {tree}
    return _panel_ids(tree["first"]) | _panel_ids(tree["second"])


@pytest.mark.parametrize("name", sorted(fx.LAYOUTS))
def test_layout_tree_and_panels(name):
    lay = fx.LAYOUTS[name]()
    assert _panel_ids(lay["layout"]) == set(lay["configById"])
    kinds = {pid.split("!")[0] for pid in lay["configById"]}
    required = {"drive": {"3D", "Teleop", "Plot", "Indicator"}, "tuning": {"Plot"}, "health": {"Plot"}}[name]
    assert required <= kinds


@pytest.mark.parametrize("name", sorted(fx.LAYOUTS))
def test_every_path_resolves(name):
    pytest.importorskip("rclpy")
    from g1_bringup.dashboards.foxglove_schemas import import_message_type

    names = [f"j{i}" for i in range(29)]
    samples = {
        "/g1/tracking": fl.tracking_summary(names, np.zeros(29), np.ones(29), np.zeros(29), np.ones(29)),
    }
    for topic, type_name in fl.DEFAULT_TOPICS.items():
        samples[topic] = import_message_type(type_name)()
    checked = 0
    for path in fx.layout_message_paths(fx.LAYOUTS[name]()):
        topic, rest = fx.split_message_path(path, KNOWN_TOPICS)
        if topic in samples:
            v = fx.resolve(samples[topic], rest)
            if rest:
                assert isinstance(v, int | float), (path, v)
            checked += 1
        else:
            assert topic in DERIVED, path
    assert checked > 0


def test_teleop_publishes_allowed_topic():
    teleop = fx.drive_layout()["configById"]["Teleop!g1teleop"]
    assert teleop["topic"] == "/cmd_vel"
    assert fl.TopicFilter(["/cmd_vel"]).allows(teleop["topic"])


def test_split_and_resolve():
    assert fx.split_message_path("/g1/tracking.actual[3]", KNOWN_TOPICS) == ("/g1/tracking", ".actual[3]")
    assert fx.resolve({"a": [1, {"b": 2}]}, ".a[1].b") == 2
    with pytest.raises(KeyError):
        fx.split_message_path("/nope.x", KNOWN_TOPICS)
