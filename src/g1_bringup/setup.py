from glob import glob

from setuptools import find_packages, setup

PACKAGE = "g1_bringup"

setup(
    name=PACKAGE,
    version="0.1.0",
    packages=find_packages(exclude=["test"]),
    data_files=[
        ("share/ament_index/resource_index/packages", [f"resource/{PACKAGE}"]),
        (f"share/{PACKAGE}", ["package.xml"]),
        (f"share/{PACKAGE}/config", glob("config/*.yaml")),
        (f"share/{PACKAGE}/launch", glob("launch/*.launch.py")),
        (f"share/{PACKAGE}/foxglove", glob("foxglove/*")),
        (f"share/{PACKAGE}/web", glob("web/*")),
    ],
    install_requires=["setuptools"],
    zip_safe=True,
    maintainer="g1_twist maintainers",
    maintainer_email="maintainers@g1-twist.dev",
    description="Launch, configs, MuJoCo G1 simulator, Foxglove bridge and teleop for the G1 stack.",
    license="Apache-2.0",
    entry_points={
        "console_scripts": [
            "stack = g1_bringup.stack:main",
            "mujoco_sim = g1_bringup.simulator.mujoco_sim:main",
            "loco_api = g1_bringup.robot_api.loco_node:main",
            "motion_switcher = g1_bringup.robot_api.switcher_tool:main",
            "joy_teleop = g1_bringup.teleop.joy_teleop:main",
            "key_teleop = g1_bringup.key_teleop:main",
            "scripted_teleop = g1_bringup.scripted_teleop:main",
            "motion_player = g1_bringup.motion_player:main",
            "reference_mux = g1_bringup.reference_mux:main",
            "node_container = g1_bringup.composition.container:main",
            "redis_bridge = g1_bringup.redis_bridge:main",
            "foxglove_bridge = g1_bringup.dashboards.foxglove_bridge:main",
            "mcap_summary = g1_bringup.dashboards.mcap_tools:main",
        ],
    },
)
