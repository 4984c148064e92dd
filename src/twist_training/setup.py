from glob import glob

from setuptools import find_packages, setup

PACKAGE = "twist_training"

setup(
    name=PACKAGE,
    version="0.1.0",
    packages=find_packages(exclude=["test"]),
    data_files=[
        ("share/ament_index/resource_index/packages", [f"resource/{PACKAGE}"]),
        (f"share/{PACKAGE}", ["package.xml"]),
        (f"share/{PACKAGE}/config", glob("config/*.yaml")),
    ],
    install_requires=["setuptools"],
    zip_safe=True,
    maintainer="g1_twist maintainers",
    maintainer_email="maintainers@g1-twist.dev",
    description="Training without ROS: motion data, CMG, TWIST teacher/student RL, export.",
    license="Apache-2.0",
    entry_points={
        "console_scripts": [
            "train_teacher = twist_training.cli:train_teacher",
            "train_student = twist_training.cli:train_student",
            "distill_student = twist_training.distill.cli:main",
            "train_cmg = twist_training.cmg.cli:train_main",
            "eval_cmg = twist_training.cmg.cli:eval_main",
            "make_dataset = twist_training.data.cli:main",
            "export_policy = twist_training.cli:export_policy",
            "play = twist_training.cli:play",
        ],
    },
)
