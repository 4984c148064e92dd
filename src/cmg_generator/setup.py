from glob import glob

from setuptools import find_packages, setup

PACKAGE = "cmg_generator"

setup(
    name=PACKAGE,
    version="0.1.0",
    packages=find_packages(exclude=["test"]),
    data_files=[
        ("share/ament_index/resource_index/packages", [f"resource/{PACKAGE}"]),
        (f"share/{PACKAGE}", ["package.xml"]),
        (f"share/{PACKAGE}/config", glob("config/*.yaml")),
        (f"share/{PACKAGE}/models", glob("models/*")),
    ],
    install_requires=["setuptools"],
    zip_safe=True,
    maintainer="g1_twist maintainers",
    maintainer_email="maintainers@g1-twist.dev",
    description="Command-conditioned motion generator (MoE MLP) for the G1.",
    license="Apache-2.0",
    entry_points={"console_scripts": ["cmg_node = cmg_generator.cmg_node:main"]},
)
