from glob import glob

from setuptools import find_packages, setup

PACKAGE = "twist_controller"

setup(
    name=PACKAGE,
    version="0.1.0",
    packages=find_packages(exclude=["test"]),
    data_files=[
        ("share/ament_index/resource_index/packages", [f"resource/{PACKAGE}"]),
        (f"share/{PACKAGE}", ["package.xml"]),
        (f"share/{PACKAGE}/config", glob("config/*.yaml")),
        (f"share/{PACKAGE}/policies", glob("policies/*")),
    ],
    install_requires=["setuptools"],
    zip_safe=True,
    maintainer="g1_twist maintainers",
    maintainer_email="maintainers@g1-twist.dev",
    description="G1 robot spec, observations, policy runtime, policy node and PD bridge.",
    license="Apache-2.0",
    entry_points={
        "console_scripts": [
            "policy_node = twist_controller.policy_node:main",
            "pd_bridge = twist_controller.pd_bridge:main",
        ],
    },
)
