"""Workspace layout: ROS package conventions, installed executables, pure cores without rclpy."""

import os
import subprocess
import sys
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
PY_PACKAGES = ("twist_controller", "cmg_generator", "twist_training", "g1_bringup")
INSTALL = REPO / "install"


@pytest.mark.parametrize("pkg", (*PY_PACKAGES, "twist_msgs"))
def test_package_xml_format3(pkg):
    root = ET.parse(REPO / "src" / pkg / "package.xml").getroot()
    assert root.get("format") == "3"
    assert root.findtext("name") == pkg
    build_type = root.find("export/build_type").text
    assert build_type == ("ament_cmake" if pkg == "twist_msgs" else "ament_python")


@pytest.mark.parametrize("pkg", PY_PACKAGES)
def test_ament_python_layout(pkg):
    base = REPO / "src" / pkg
    assert (base / "resource" / pkg).is_file()
    cfg = (base / "setup.cfg").read_text()
    assert f"script_dir=$base/lib/{pkg}" in cfg and f"install_scripts=$base/lib/{pkg}" in cfg


@pytest.mark.parametrize("pkg", PY_PACKAGES)
def test_installed_into_ament_index(pkg):
    if not INSTALL.is_dir():
        pytest.skip("workspace not built")
    assert (INSTALL / "share" / "ament_index" / "resource_index" / "packages" / pkg).is_file()
    assert (INSTALL / "share" / pkg / "package.xml").is_file()


def test_train_teacher_is_installed_executable():
    exe = INSTALL / "lib" / "twist_training" / "train_teacher"
    assert exe.is_file() and os.access(exe, os.X_OK)
    out = subprocess.run([str(exe), "--help"], capture_output=True, text=True, timeout=60)
    assert out.returncode == 0 and "train_teacher" in out.stdout


BLOCK_RCLPY = """
import importlib.abc, sys
class Block(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path=None, target=None):
        if name == "rclpy" or name.startswith("rclpy."):
            raise ImportError("rclpy is blocked: pure core modules must not need it")
sys.meta_path.insert(0, Block())
import importlib
for mod in sys.argv[1:]:
    importlib.import_module(mod)
print("ok")
"""

PURE_MODULES = (
    "twist_training",
    "twist_training.cli",
    "twist_training.config_flags",
    "twist_controller.robot",
    "twist_controller.g1_model",
    "twist_controller.observations",
    "twist_controller.policy",
    "twist_controller.rotations",
    "cmg_generator",
    "twist_controller.policy_runtime",
    "g1_bringup.graph",
    "twist_controller.reference",
    "g1_bringup.mux_core",
    "cmg_generator.runtime",
    "g1_bringup.teleop_core",
    "g1_bringup.launch_gen",
)


def test_pure_cores_import_without_rclpy():
    out = subprocess.run(
        [sys.executable, "-c", BLOCK_RCLPY, *PURE_MODULES], capture_output=True, text=True, timeout=120
    )
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "ok"
