"""Workspace-wide pytest configuration.

* ``slow`` tests run only with ``--run-slow`` (or ``-m slow``); the default run stays short.
* ``ros_env`` gives each test its own ROS_DOMAIN_ID (and localhost-only discovery), so concurrent
  test runs and other jobs on the machine never talk to each other.
"""

from __future__ import annotations

import itertools
import os
import sys
from pathlib import Path

import pytest

_domain_counter = itertools.count()

# Tests share the process-running helpers of scripts/ (stack_harness) with the benchmarks.
sys.path.insert(0, str(Path(__file__).resolve().parent / "scripts"))


def pytest_addoption(parser):
    parser.addoption("--run-slow", action="store_true", default=False, help="also run tests marked slow")


def pytest_collection_modifyitems(config, items):
    if config.getoption("--run-slow") or "slow" in (config.getoption("-m") or ""):
        return
    skip_slow = pytest.mark.skip(reason="slow test: run with --run-slow")
    for item in items:
        if "slow" in item.keywords:
            item.add_marker(skip_slow)


def unique_domain_id() -> int:
    """A ROS/DDS domain id unlikely to collide with other runs (ids 100..199; Fast DDS allows 0..232)."""
    return 100 + (os.getpid() * 7 + next(_domain_counter)) % 100


@pytest.fixture
def ros_env(monkeypatch) -> dict[str, str]:
    """Environment for child processes and this process: a fresh domain, loopback discovery."""
    domain = unique_domain_id()
    monkeypatch.setenv("ROS_DOMAIN_ID", str(domain))
    monkeypatch.setenv("ROS_AUTOMATIC_DISCOVERY_RANGE", "LOCALHOST")
    return dict(os.environ)
